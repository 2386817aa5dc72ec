/* The OCI cache: images pulled from registries (docs/upstream.md, "Storage layout", docs/upstream.md, "Pull",
 * docs/upstream.md, "OCI cache").
 *
 *   cache/OCIs/<host>/<ns...>/sha256:<hex>/   a VM directory (+ manifest.json)
 *   cache/OCIs/<host>/<ns...>/<tag>           symlink to the digest directory
 *
 * <host> has ':' percent-encoded ("127.0.0.1%3A5000"); namespace components
 * are nested directories.  Digest directories with no tag pointing at them
 * and no `.explicitly-pulled` marker are garbage. */
#ifndef TART_STORAGE_OCI_CACHE_H
#define TART_STORAGE_OCI_CACHE_H

#include "registry/reference.h"
#include "storage/home.h"
#include "storage/local.h"
#include "util/error.h"

#define OCI_CACHE_EXPLICITLY_PULLED ".explicitly-pulled"
#define OCI_CACHE_MANIFEST          "manifest.json"

/* Path of the cache entry for ref (tag symlink or digest directory),
 * whether or not it exists.  malloc'ed. */
char *oci_cache_entry_path(struct tart_home *h, const struct oci_reference *ref);

/* Pure.  A registry host as its directory name, as upstream spells it:
 * the port's ':' becomes "%3A" ("127.0.0.1:5000" -> "127.0.0.1%3A5000");
 * decode takes "%3A" or "%3a" back to ':' and leaves anything else as it
 * is.  Malloc'ed. */
char *oci_cache_host_encode(const char *host);
char *oci_cache_host_decode(const char *enc);

/* cache/OCIs/<encoded host> and cache/OCIs/<encoded host>/<ns>. */
char *oci_cache_host_dir(struct tart_home *h, const char *host);
char *oci_cache_ns_dir(struct tart_home *h, const char *host, const char *ns);

/* Point the tag symlink ns_dir/tag at target (absolute, as upstream writes
 * it) atomically: a reader sees the old or the new image, never none. */
int oci_cache_link_tag(const char *ns_dir, const char *tag, const char *target, tart_error_t *err);

/* Every cached image (with only_initialized: whose VM directory is complete): tags as
 * "host/ns:tag", digests as "host/ns@sha256:...", sorted by name.  path is
 * the entry itself (a symlink for tags). */
int oci_cache_list(struct tart_home *h, bool only_initialized, struct vm_list *out, tart_error_t *err);

/* Resolved VM directory of a cached image; bumps its access time.
 * Not cached: "the specified VM \"<name>\" does not exist" (exit 2). */
int oci_cache_open(struct tart_home *h, const struct oci_reference *ref, const char *name, char **path,
                   tart_error_t *err);

/* "sha256:<hex>" the cached ref points to. */
int oci_cache_digest(struct tart_home *h, const struct oci_reference *ref, const char *name, char **digest,
                     tart_error_t *err);

/* Remove the entry (a tag symlink or a digest directory), then GC. */
int oci_cache_delete(struct tart_home *h, const struct oci_reference *ref, const char *name,
                     tart_error_t *err);

/* Drop dangling tag symlinks, then digest directories that no tag points to
 * and that were not pulled by digest. */
int oci_cache_gc(struct tart_home *h, tart_error_t *err);

#endif
