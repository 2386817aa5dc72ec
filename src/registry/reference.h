/* OCI image references, parsed with upstream Tart's grammar (docs/upstream.md, "References and names"):
 *
 *   root      := host (':' port)? '/' namespace reference? EOF
 *   host      := hostcomp ('.' hostcomp)*     hostcomp := name ('-' name)*
 *   port      := DIGIT+
 *   namespace := nscomp ('/' nscomp)*         nscomp := (name separator?)+
 *   reference := ':' tag | '@' name ':' name  tag := name (separator name)*
 *   separator := '.' | '-' | '_'              name := [A-Za-z0-9]+
 *
 * A string that parses is a remote name; anything else is a local VM name
 * ("debian:latest" is local, "localhost/x" is remote).  The default
 * reference is the tag "latest".  A digest must be "sha256:" followed by 64
 * lower-case hex digits.
 *
 * Pure functions: no I/O, no globals. */
#ifndef TART_REGISTRY_REFERENCE_H
#define TART_REGISTRY_REFERENCE_H

#include <stdbool.h>

#include "util/error.h"

struct oci_reference {
  char *host;      /* "ghcr.io", "127.0.0.1:5000" (the port is part of host) */
  char *namespace; /* "cirruslabs/macos-sonoma-base" */
  char *tag;       /* "latest" by default; NULL when digest is set */
  char *digest;    /* "sha256:<64 hex>" or NULL */
};

/* Parse s into *out (zeroed first).  On failure returns -1 with the message
 * "failed to parse remote name: <why> (character N)" where N is the 1-based
 * position of the offending character; *out is left empty. */
int oci_reference_parse(const char *s, struct oci_reference *out, tart_error_t *err);

/* True if s parses as a remote name. */
bool oci_reference_is_remote(const char *s);

/* Display form: "host/namespace:tag" or "host/namespace@sha256:...".
 * Returns a malloc'ed string. */
char *oci_reference_format(const struct oci_reference *r);

/* Free the strings of r and zero it.  Safe on a zeroed struct. */
void oci_reference_clear(struct oci_reference *r);

#endif
