/* libFuzzer target for src/registry/reference.c.
 *
 * Checks, for every input:
 *   - a parsed reference formats to a string that parses to the same fields;
 *   - formatting gives back the input itself (plus ":latest" when the input
 *     had no tag or digest), so no character is dropped or invented;
 *   - the parser accepts exactly what an independent transcription of the
 *     grammar into a POSIX regex accepts, since the point of the hand-written
 *     parser is to agree with upstream's grammar;
 *   - nothing leaks and *out is empty after a failure (ASan, explicit checks).
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The grammar of reference.h, with the digest rule tightened to what
 * oci_reference_parse accepts ('@' sha256 ':' 64 lower-case hex). */
#define N        "[A-Za-z0-9]+"
#define HOSTCOMP N "(-" N ")*"
#define NSCOMP   "(" N "[._-]?)+"
#define ORACLE_RE                                                                                            \
  "^" HOSTCOMP "(\\." HOSTCOMP ")*"                                                                          \
  "(:[0-9]+)?"                                                                                               \
  "/" NSCOMP "(/" NSCOMP ")*"                                                                                \
  "(:" N "([._-]" N ")*|@sha256:[0-9a-f]{64})?$"

static bool oracle_accepts(const char *s)
{
  static regex_t re;
  static bool compiled;
  if (!compiled) {
    if (regcomp(&re, ORACLE_RE, REG_EXTENDED | REG_NOSUB) != 0)
      abort();
    compiled = true;
  }
  return regexec(&re, s, 0, NULL, 0) == 0;
}

static bool str_eq(const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* glibc's regex is slow on long inputs with nested repetition; references
   * longer than this say nothing new. */
  if (size > 512)
    return 0;

  char *s = xmalloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';

  struct oci_reference r;
  tart_error_t err = NULL;
  int rc = oci_reference_parse(s, &r, &err);

  if ((rc == 0) != oracle_accepts(s))
    abort();
  if ((rc == 0) != oci_reference_is_remote(s))
    abort();

  if (rc == 0) {
    if (err != NULL || r.host == NULL || r.namespace == NULL || (r.tag == NULL) == (r.digest == NULL))
      abort();

    char *f = oci_reference_format(&r);
    size_t len = strlen(s);
    if (strncmp(f, s, len) != 0 || (f[len] != '\0' && strcmp(f + len, ":latest") != 0))
      abort();

    struct oci_reference r2;
    tart_error_t err2 = NULL;
    if (oci_reference_parse(f, &r2, &err2) != 0)
      abort();
    if (!str_eq(r.host, r2.host) || !str_eq(r.namespace, r2.namespace) || !str_eq(r.tag, r2.tag) ||
        !str_eq(r.digest, r2.digest))
      abort();
    oci_reference_clear(&r2);
    free(f);
  } else {
    if (err == NULL || err->msg == NULL || strstr(err->msg, "(character ") == NULL)
      abort();
    if (r.host != NULL || r.namespace != NULL || r.tag != NULL || r.digest != NULL)
      abort();
  }

  oci_reference_clear(&r);
  tart_error_release(&err);
  free(s);
  return 0;
}
