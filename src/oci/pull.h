/* Pulling a VM image from a registry into the OCI cache (docs/upstream.md, "Pull", docs/design.md, "OCI wire
 * format").
 *
 * Better than upstream in three ways: every blob's digest and every disk
 * chunk's uncompressed digest is verified (a corrupt blob is never cached),
 * a broken transfer resumes with Range instead of starting over, and the
 * image becomes visible in the cache only once complete.  An interrupted
 * pull resumes from its deterministic tmp entry, keeping the chunks that
 * are already on disk with the right digest.  Disk layers are streamed:
 * download -> digest -> decompress -> digest -> write at offset, all-zero
 * blocks never written. */
#ifndef TART_OCI_PULL_H
#define TART_OCI_PULL_H

#include <stdbool.h>

#include "registry/reference.h"
#include "storage/home.h"
#include "util/error.h"

struct pull_opts {
  bool insecure;
  unsigned concurrency; /* layers in flight, >= 1 */
};

/* Pull ref (whose user-facing name is `name`) unless it is already cached
 * and linked.  *dir (may be NULL) receives the digest directory. */
int oci_pull(struct tart_home *h, const struct oci_reference *ref, const char *name,
             const struct pull_opts *o, char **dir, tart_error_t *err);

struct tart_layers;
/* Write vm_dir/disk.img from the disk layers stored in an OCI layout
 * (blobs/sha256/<hex>), verifying every digest as pull does (import). */
int oci_assemble_disk(const char *layout_dir, const struct tart_layers *layers, const char *vm_dir,
                      unsigned concurrency, tart_error_t *err);

#endif
