/* libFuzzer target for src/registry/url.c.
 *
 * The input is split at its first NUL into a base URL and a Location.
 * Checks, for every input:
 *   - a resolved Location always passes registry_url_is_http (we never
 *     follow a scheme other than http(s), nor a URL with blanks or control
 *     bytes), and a refused one leaves *out NULL with an error;
 *   - an absolute http(s) Location that passes the check resolves to itself;
 *   - the origin of any string is a prefix of it;
 *   - registry_parse_rfc3339 never crashes (its value is not checked);
 *   - a token registry_token_ok accepts has no CR, LF, space or tab.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry/url.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 4096)
    return 0;
  char *buf = xmalloc(size + 2);
  memcpy(buf, data, size);
  buf[size] = buf[size + 1] = '\0';
  const char *base = buf;
  const char *loc = buf + strlen(buf) + 1;
  if (loc > buf + size)
    loc = buf + size;

  char *out = NULL;
  tart_error_t err = NULL;
  int r = registry_resolve_location("https", "registry.example", base, loc, &out, &err);
  if (r == 0) {
    if (out == NULL || err != NULL || !registry_url_is_http(out))
      abort();
    bool absolute_http = !strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8);
    if (absolute_http && strcmp(out, loc) != 0)
      abort();
  } else if (out != NULL || err == NULL) {
    abort();
  }
  free(out);
  tart_error_release(&err);

  char *o = registry_url_origin(base);
  if (strncmp(o, base, strlen(o)) != 0)
    abort();
  free(o);
  (void)registry_parse_rfc3339(loc);
  /* An accepted token holds no byte that could end a header line. */
  if (registry_token_ok(loc) && strpbrk(loc, "\r\n \t") != NULL)
    abort();
  free(buf);
  return 0;
}
