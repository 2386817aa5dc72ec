/* libFuzzer target for oci_layout_check_entry (src/oci/layout.c).
 *
 * The first byte says file or directory, the rest is the entry path.
 * Checks, for every input: an accepted path is never absolute and never
 * holds "..", and, with its "./" and a directory's trailing "/" removed, is
 * exactly one of the layout's names (or "", the top "./"); a refused one
 * has an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/layout.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool hex64(const char *s)
{
  size_t n = strspn(s, "0123456789abcdef");
  return n == 64 && s[64] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > 1024)
    return 0;
  int is_dir = data[0] & 1;
  char *path = xmalloc(size);
  memcpy(path, data + 1, size - 1);
  path[size - 1] = '\0';
  tart_error_t err = NULL;
  int r = oci_layout_check_entry(path, is_dir, &err);
  if (r == 0) {
    if (err != NULL || path[0] == '/' || strstr(path, "..") != NULL)
      abort();
    const char *p = strncmp(path, "./", 2) == 0 ? path + 2 : path;
    char *q = xstrdup(p);
    size_t n = strlen(q);
    if (is_dir && n > 0 && q[n - 1] == '/')
      q[n - 1] = '\0';
    bool known = is_dir ? (!strcmp(q, ".") || !strcmp(q, "blobs") || !strcmp(q, "blobs/sha256") ||
                           (q[0] == '\0' && p != path))
                        : (!strcmp(q, "oci-layout") || !strcmp(q, "index.json") ||
                           (!strncmp(q, "blobs/sha256/", 13) && hex64(q + 13)));
    if (!known)
      abort();
    free(q);
  } else if (err == NULL) {
    abort();
  }
  tart_error_release(&err);
  free(path);
  return 0;
}
