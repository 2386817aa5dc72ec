/* WWW-Authenticate challenges (RFC 7235 as registries use them):
 *   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
 *   Basic realm="Registry Realm"
 * Pure function. */
#ifndef TART_REGISTRY_CHALLENGE_H
#define TART_REGISTRY_CHALLENGE_H

#include <stddef.h>

#include "util/error.h"

struct auth_param {
  char *key; /* lower-cased */
  char *value;
};

struct auth_challenge {
  char *scheme; /* as sent, e.g. "Bearer"; compare case-insensitively */
  struct auth_param *params;
  size_t n_params;
};

/* Parse the first challenge of a header value.  Parameters are k=v or
 * k="v" (backslash escapes inside quotes; commas inside quotes kept),
 * separated by commas with optional spaces.  A missing scheme, an
 * unterminated quote, or a parameter without '=' is an error
 * ("malformed WWW-Authenticate header: ..."). */
int auth_challenge_parse(const char *header, struct auth_challenge *out, tart_error_t *err);

/* Value of parameter key (case-insensitive), or NULL. */
const char *auth_challenge_param(const struct auth_challenge *c, const char *key);

void auth_challenge_clear(struct auth_challenge *c);

#endif
