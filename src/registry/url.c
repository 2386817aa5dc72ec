#include "registry/url.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

bool registry_url_is_http(const char *url)
{
  if (url == NULL)
    return false;
  size_t skip = !strncasecmp(url, "http://", 7) ? 7 : !strncasecmp(url, "https://", 8) ? 8 : 0;
  if (skip == 0)
    return false;
  /* A host: something before the path, query or fragment. */
  if (strcspn(url + skip, "/?#") == 0)
    return false;
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= 0x20 || *p == 0x7f)
      return false;
  return true;
}

char *registry_url_origin(const char *url)
{
  const char *p = strstr(url, "://");
  if (p == NULL)
    return xstrdup("");
  p += 3;
  size_t n = strcspn(p, "/?#");
  return xasprintf("%.*s", (int)((size_t)(p - url) + n), url);
}

/* loc starts with a URI scheme (RFC 3986: ALPHA *(ALPHA / DIGIT / "+" /
 * "-" / ".") ":"), so it is absolute: "https://x", also "file:/x"; a "://"
 * later on, in a query, does not count. */
static bool has_scheme(const char *loc)
{
  if (!isalpha((unsigned char)loc[0]))
    return false;
  size_t n = 1;
  while (isalnum((unsigned char)loc[n]) || loc[n] == '+' || loc[n] == '-' || loc[n] == '.')
    n++;
  return loc[n] == ':';
}

int registry_resolve_location(const char *scheme, const char *host, const char *base_url, const char *loc,
                              char **out, tart_error_t *err)
{
  *out = NULL;
  char *url;
  if (has_scheme(loc)) {
    url = xstrdup(loc);
  } else if (loc[0] == '/' && loc[1] != '/') {
    _cleanup_free_ char *origin = registry_url_origin(base_url);
    url = xasprintf("%s%s", origin, loc);
  } else if (loc[0] == '/') {
    /* "//host/path": scheme-relative, another host on base_url's scheme. */
    const char *colon = strstr(base_url, "://");
    url = xasprintf("%.*s:%s", colon ? (int)(colon - base_url) : 0, base_url, loc);
  } else {
    /* Relative to /v2/ as upstream does. */
    url = xasprintf("%s://%s/v2/%s", scheme, host, loc);
  }
  if (!registry_url_is_http(url)) {
    free(url);
    char q[120];
    str_quote(loc, 80, q, sizeof(q));
    return tart_error_kind(err, EPROTO, "the registry sent a Location that is not an http(s) URL: %s", q);
  }
  *out = url;
  return 0;
}

bool registry_token_ok(const char *token)
{
  if (token == NULL || *token == '\0')
    return false;
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)token; *p; p++, n++)
    if (*p < 0x21 || *p > 0x7e || n >= REGISTRY_TOKEN_MAX)
      return false;
  return true;
}

time_t registry_parse_rfc3339(const char *s)
{
  struct tm tm = {0};
  if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
    return 0;
  return timegm(&tm);
}
