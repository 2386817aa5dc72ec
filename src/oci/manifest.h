/* OCI manifests, indexes and image configs as Tart uses them (docs/upstream.md, "OCI media types and LZ4
 * framing"). Pure functions over JSON text; no I/O. */
#ifndef TART_OCI_MANIFEST_H
#define TART_OCI_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/media.h"
#include "util/error.h"

#define OCI_MEDIA_IMAGE_CONFIG "application/vnd.oci.image.config.v1+json"
#define TART_MEDIA_CONFIG      "application/vnd.cirruslabs.tart.config.v1"
#define TART_MEDIA_DISK_V1     "application/vnd.cirruslabs.tart.disk.v1"
#define TART_MEDIA_DISK_V2     "application/vnd.cirruslabs.tart.disk.v2"
#define TART_MEDIA_NVRAM       "application/vnd.cirruslabs.tart.nvram.v1"

#define TART_ANN_UNCOMPRESSED_SIZE      "org.cirruslabs.tart.uncompressed-size"
#define TART_ANN_UNCOMPRESSED_DIGEST    "org.cirruslabs.tart.uncompressed-content-digest"
#define TART_ANN_UNCOMPRESSED_DISK_SIZE "org.cirruslabs.tart.uncompressed-disk-size"
#define TART_ANN_UPLOAD_TIME            "org.cirruslabs.tart.upload-time"
#define TART_LABEL_DISK_FORMAT          "org.cirruslabs.tart.disk.format"

struct oci_descriptor {
  char *media_type;
  char *digest; /* "sha256:<64 hex>" (validated) */
  uint64_t size;
  json_t *annotations; /* object or NULL; owned */
  char *platform_os;   /* index entries only, else NULL */
  char *platform_arch;
};

struct oci_manifest {
  char *media_type; /* may be NULL (optional in OCI) */
  struct oci_descriptor config;
  struct oci_descriptor *layers;
  size_t n_layers;
  json_t *annotations; /* object or NULL; owned */
};

struct oci_index {
  struct oci_descriptor *manifests;
  size_t n;
};

/* What the top-level mediaType (or, when absent, the shape: "manifests" vs
 * "layers") says a document is. */
enum oci_doc_kind { OCI_DOC_UNKNOWN = 0, OCI_DOC_MANIFEST, OCI_DOC_INDEX };
enum oci_doc_kind oci_doc_kind(const char *buf, size_t len);

/* Parse an image manifest (OCI or Docker schema 2).  schemaVersion must be
 * 2; every descriptor needs mediaType, a valid sha256 digest and a size.
 * On failure *m is left empty; messages start "invalid manifest: ". */
int oci_manifest_parse(const char *buf, size_t len, struct oci_manifest *m, tart_error_t *err);
void oci_manifest_clear(struct oci_manifest *m);

/* Parse an image index / Docker manifest list. */
int oci_index_parse(const char *buf, size_t len, struct oci_index *idx, tart_error_t *err);
void oci_index_clear(struct oci_index *idx);

/* The entry of idx for os/arch ("linux"/"amd64"); NULL if none. */
const struct oci_descriptor *oci_index_find(const struct oci_index *idx, const char *os, const char *arch);

/* Serialize m as upstream does: compact JSON, keys sorted, schemaVersion 2,
 * mediaType, config, layers (each with "annotations", {} when empty), and
 * the manifest annotations when present.  malloc'ed, no trailing newline. */
char *oci_manifest_dump(const struct oci_manifest *m);

/* The image config blob: {"architecture":..,"config":{"Labels":{..}},"os":..}
 * compact with sorted keys; labels may be NULL (an empty object is written).
 * malloc'ed. */
char *oci_image_config_dump(const char *os, const char *arch, json_t *labels);

/* The Tart view of a manifest: exactly one config.v1 layer, one or more
 * disk.v2 layers (each with uncompressed-size and uncompressed-content-digest
 * annotations), exactly one nvram.v1 layer.  Index i of disks is the i-th
 * disk layer in manifest order.  A disk.v1 layer gives upstream's message
 * "Pulling OCI images with legacy disk media type ... is no longer supported,
 * please re-push the image using a current Tart version". */
struct tart_disk_layer {
  const struct oci_descriptor *desc;
  uint64_t uncompressed_size;
  char uncompressed_digest[72]; /* "sha256:<hex>" */
  uint64_t offset;              /* sum of the sizes of the layers before it */
};
struct tart_layers {
  const struct oci_descriptor *config;
  const struct oci_descriptor *nvram;
  struct tart_disk_layer *disks; /* malloc'ed */
  size_t n_disks;
  uint64_t disk_size; /* sum of uncompressed sizes */
};
int tart_layers_from_manifest(const struct oci_manifest *m, struct tart_layers *out, tart_error_t *err);
void tart_layers_clear(struct tart_layers *l);

/* True for "sha256:" followed by 64 lower-case hex digits. */
bool oci_digest_valid(const char *d);

#endif
