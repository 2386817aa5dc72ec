/* URLs a registry hands us (Location headers, token realms), checked and
 * resolved before we follow them, and the time stamps of its token
 * answers.  Pure functions: no I/O.
 *
 * Whatever a registry sends is hostile until checked (docs/design.md,
 * "Registry client and auth"): we follow only http and https URLs with a
 * host and no blanks or control characters, and a Location that names
 * another scheme is an error, not a request. */
#ifndef TART_REGISTRY_URL_H
#define TART_REGISTRY_URL_H

#include <stdbool.h>
#include <time.h>

#include "registry/limits.h" /* REGISTRY_TOKEN_MAX */
#include "util/error.h"

/* url is "http://" or "https://" (any case) followed by a non-empty host,
 * and holds no byte <= 0x20 and no 0x7f. */
bool registry_url_is_http(const char *url);

/* "scheme://host[:port]" of url (malloc'ed); "" when it has no "://".
 * Used to tell whether a redirect stays on the registry's host. */
char *registry_url_origin(const char *url);

/* The absolute URL a Location header value loc names, received in answer
 * to a request for base_url: an absolute URL (one with a scheme; a "://"
 * in a query does not make one) as it is; "//host/path" on base_url's
 * scheme; "/path" on base_url's origin; anything else relative to
 * <scheme>://<host>/v2/ as upstream Tart resolves it.  The result must
 * pass registry_url_is_http, else an EPROTO error "the registry sent a
 * Location that is not an http(s) URL: ...".  *out is malloc'ed. */
int registry_resolve_location(const char *scheme, const char *host, const char *base_url, const char *loc,
                              char **out, tart_error_t *err);

/* A token from a token server may go into "Authorization: Bearer <token>"
 * only when it is 1 to REGISTRY_TOKEN_MAX bytes of visible ASCII (0x21 to
 * 0x7e): a CR or LF would end the header and start one of the server's
 * choosing in every later request. */
bool registry_token_ok(const char *token);

/* RFC 3339 "2024-01-02T03:04:05Z" as UTC seconds (fractions and offsets
 * after the seconds are ignored, as a token's issued_at needs no more); 0
 * when s does not start with such a time. */
time_t registry_parse_rfc3339(const char *s);

#endif
