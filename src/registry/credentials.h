/* Where registry credentials come from (docs/upstream.md, "Auth flows", docs/design.md, "Registry client and
 * auth"), first match wins:
 *   1. TART_REGISTRY_USERNAME + TART_REGISTRY_PASSWORD (both needed), only
 *      for TART_REGISTRY_HOSTNAME when that is set;
 *   2. $TART_HOME/auth.json (docker config format, written by `tart login`);
 *   3. the docker config: $TART_DOCKER_CONFIG when set (a missing file is an
 *      error: "Registry authentication failed. Could not find docker
 *      configuration at '<path>'."), else ~/.docker/config.json:
 *      auths[host].auth (base64 "user:password"), credHelpers[host] (or a
 *      key that as a regex fully matches host), credsStore; helpers run as
 *      `docker-credential-<name> get` with the host on stdin;
 *   4. anonymous.
 * Credentials never go to logs or process arguments. */
#ifndef TART_REGISTRY_CREDENTIALS_H
#define TART_REGISTRY_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

struct credentials {
  char *username;
  char *password;
};

/* Look up credentials for host ("ghcr.io", "127.0.0.1:5000").  Returns 1
 * when found, 0 when anonymous, -1 on an error that must stop the command
 * (the TART_DOCKER_CONFIG case).  A failing provider is reported with
 * log_warn("Failed to retrieve credentials using <provider>, authentication
 * may fail: ...") and the next one is tried. */
int credentials_lookup(const char *tart_home, const char *host, struct credentials *out, tart_error_t *err);

/* Pure parts, for tests and fuzzing: find host in a docker-config-format
 * JSON text.  Returns 1 found, 0 not found (helper names are returned in
 * *helper, malloc'ed, when the config delegates to one), -1 malformed. */
int credentials_from_docker_config(const char *json_text, size_t len, const char *host,
                                   struct credentials *out, char **helper, tart_error_t *err);

/* Parse a credential helper's `get` output {"Username":..,"Secret":..}. */
int credentials_from_helper_output(const char *json_text, size_t len, struct credentials *out,
                                   tart_error_t *err);

/* auth.json maintenance for login/logout: set or remove auths[host] in
 * $TART_HOME/auth.json, written atomically with mode 0600; other keys of
 * the file are kept. */
int credentials_store(const char *tart_home, const char *host, const struct credentials *c,
                      tart_error_t *err);
int credentials_remove(const char *tart_home, const char *host, tart_error_t *err);

/* Free and wipe (explicit_bzero) the strings. */
void credentials_clear(struct credentials *c);

#endif
