/* Pushing a VM to one or more registry tags (docs/upstream.md, "Push", docs/design.md, "OCI wire format").
 *
 * Blobs the registry already has are skipped (HEAD); blobs known to exist
 * in another repository of the same registry (from the local cache) are
 * mounted instead of uploaded; disk chunks are uploaded as soon as each is
 * compressed.  A cached remote image is pushed "lightweight": its manifest
 * is re-tagged when the target already has (or can mount) every blob. */
#ifndef TART_OCI_PUSH_H
#define TART_OCI_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"

struct push_opts {
  bool insecure;
  unsigned concurrency;
  uint64_t chunk_size; /* bytes per PATCH; 0: monolithic */
  json_t *labels;      /* may be NULL */
  bool populate_cache;
};

/* The targets of one push grouped by repository (host and namespace), in
 * the order first named: each group shares a registry client and one
 * upload, and gets the manifest under each of its tags or digests. */
struct oci_push_target {
  char *host, *ns;
  char **tags; /* tags or "sha256:..." digests */
  size_t n_tags;
};

/* Pure.  Parse and group names (remote references); a name that does not
 * parse is the reference parser's error.  Free with oci_push_targets_free. */
int oci_push_group_targets(char *const *names, size_t n, struct oci_push_target **out, size_t *n_out,
                           tart_error_t *err);
void oci_push_targets_free(struct oci_push_target *t, size_t n);
void oci_push_target_clear(struct oci_push_target *t);

/* Pure.  Upstream's line for a group: "pushing <source> to host/ns:tag..."
 * or, for several, "pushing <source> to host/ns{:a,:b,@sha256:...}...".
 * Malloc'ed. */
char *oci_push_status_line(const char *source, const struct oci_push_target *t);

int oci_push(struct tart_home *h, const char *source, char *const *targets, size_t n_targets,
             const struct push_opts *o, tart_error_t *err);

#endif
