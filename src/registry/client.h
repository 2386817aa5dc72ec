/* A client for one repository of an OCI distribution registry (the v2 API),
 * on libcurl.
 *
 * A `struct registry` holds what all connections to the repository share:
 * host, namespace, scheme, credentials and the cached Authorization value
 * (one token per repository for the command's run, refreshed on expiry).
 * A `struct registry_conn` is one connection handle (keep-alive, HTTP/2
 * where offered); use one per thread.
 *
 * Errors carry an errnum that tells the caller what to do:
 *   EAGAIN  transient (connection failure, timeout, 5xx, 429): retry
 *   EACCES  authentication or authorization failed
 *   ENOENT  no such manifest/blob (404)
 *   other   permanent
 * Authorization values never appear in messages or logs. */
#ifndef TART_REGISTRY_CLIENT_H
#define TART_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

struct registry;
struct registry_conn;

/* host is "ghcr.io" or "127.0.0.1:5000"; ns is "org/image".  insecure
 * means plain HTTP.  push asks for push rights when authenticating.
 * tart_home locates auth.json for credentials. */
int registry_open(const char *host, const char *ns, bool insecure, bool push, const char *tart_home,
                  struct registry **out, tart_error_t *err);
void registry_close(struct registry *r);
const char *registry_host(const struct registry *r);
const char *registry_namespace(const struct registry *r);

struct registry_conn *registry_conn_new(struct registry *r);
void registry_conn_free(struct registry_conn *c);

/* GET /v2/ with authentication; 0 when the registry accepts us. */
int registry_ping(struct registry_conn *c, tart_error_t *err);

/* GET a manifest (by tag or digest) accepting OCI/Docker manifests and
 * indexes.  *body is NUL-terminated (bounded by OCI_MANIFEST_MAX),
 * *media_type is the Content-Type (may be NULL). */
int registry_manifest_get(struct registry_conn *c, const char *reference, char **body, size_t *len,
                          char **media_type, tart_error_t *err);

/* PUT a manifest under reference (tag or digest); expects 201. */
int registry_manifest_put(struct registry_conn *c, const char *reference, const char *media_type,
                          const char *body, size_t len, tart_error_t *err);

/* HEAD a blob: *exists set on 200, cleared on 404; anything else fails. */
int registry_blob_exists(struct registry_conn *c, const char *digest, bool *exists, tart_error_t *err);

/* Receives blob bytes in order. */
typedef int (*registry_sink_fn)(void *opaque, const uint8_t *data, size_t len, tart_error_t *err);

/* GET a blob from byte `offset` (Range when > 0, expecting 206), streaming
 * into sink.  Redirects (object storage) are followed, never sending the
 * Authorization header to another host.  *received counts the bytes handed
 * to sink (so a broken transfer can resume at offset + *received). */
int registry_blob_get(struct registry_conn *c, const char *digest, uint64_t offset, registry_sink_fn sink,
                      void *opaque, uint64_t *received, tart_error_t *err);

/* Supplies upload bytes: fill buf with up to len bytes starting at offset
 * of the blob; return the count (0 only at the end), or -1 with *err. */
typedef ssize_t (*registry_source_fn)(void *opaque, uint64_t offset, uint8_t *buf, size_t len,
                                      tart_error_t *err);

/* Upload a blob of `size` bytes with the given digest.  chunk_size 0:
 * monolithic (POST, then one PUT ?digest=); otherwise PATCH chunks of
 * chunk_size bytes and a final PUT. */
int registry_blob_upload(struct registry_conn *c, const char *digest, uint64_t size,
                         registry_source_fn source, void *opaque, uint64_t chunk_size, tart_error_t *err);

/* Cross-repository mount from namespace `from` of the same registry:
 * *mounted is set when the registry linked the blob (201); otherwise the
 * caller uploads it. */
int registry_blob_mount(struct registry_conn *c, const char *digest, const char *from, bool *mounted,
                        tart_error_t *err);

/* Seconds a 429 asked us to wait (Retry-After) on the last request, or 0. */
unsigned registry_conn_retry_after(const struct registry_conn *c);

#endif
