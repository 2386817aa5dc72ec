/* Building the OCI image of a VM exactly as upstream Tart pushes it
 * (docs/upstream.md, "OCI media types and LZ4 framing"): config.v1 layer, disk.v2 layers of 512 MiB
 * uncompressed chunks each compressed on its own with the Apple LZ4 framing, nvram.v1 layer, an image config
 * with os/arch/labels, and a compact manifest with sorted keys.
 *
 * Blobs are written to <dir>/blobs/sha256/<hex> (an OCI image layout), so
 * memory stays bounded whatever the disk size; push uploads from there and
 * export archives the directory. */
#ifndef TART_OCI_IMAGE_H
#define TART_OCI_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/manifest.h"
#include "util/digest.h"
#include "util/error.h"

#define TART_CHUNK_SIZE (512ULL << 20)

struct image_blob {
  char digest[DIGEST_STR_LEN];
  uint64_t size;
  const char *media_type; /* static string */
};

struct built_image {
  char *dir;
  char *manifest; /* exact bytes to PUT; its sha256 is the image digest */
  size_t manifest_len;
  char manifest_digest[DIGEST_STR_LEN];
  struct image_blob *blobs; /* image config, config layer, disk layers..., nvram */
  size_t n_blobs;
  uint64_t disk_size;
};

/* Called from a worker thread once the blob of disk chunk `index` is
 * complete in the layout; returning -1 (with *err) stops the build. */
typedef int (*image_blob_ready_fn)(void *opaque, size_t index, const struct image_blob *blob,
                                   const char *path, tart_error_t *err);

struct progress;

/* Build the image of the VM directory vm_dir into dir (which must exist).
 * labels (may be NULL) are added to the image config's Labels; the
 * org.cirruslabs.tart.disk.format label is always set.  Up to concurrency
 * chunks are compressed at once.  progress (may be NULL) counts
 * uncompressed disk bytes. */
int image_build(const char *vm_dir, const char *dir, unsigned concurrency, json_t *labels,
                image_blob_ready_fn on_ready, void *opaque, struct progress *progress,
                struct built_image *out, tart_error_t *err);
void built_image_clear(struct built_image *img);

/* <dir>/blobs/sha256/<hex of digest>, malloc'ed. */
char *image_blob_path(const char *dir, const char *digest);

#endif
