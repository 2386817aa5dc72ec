/* Pushing a VM to one or more registry tags (docs/upstream.md, "Push", docs/design.md, "OCI wire format").
 *
 * Blobs the registry already has are skipped (HEAD); blobs known to exist
 * in another repository of the same registry (from the local cache) are
 * mounted instead of uploaded; disk chunks are uploaded as soon as each is
 * compressed.  A cached remote image is pushed "lightweight": its manifest
 * is re-tagged when the target already has (or can mount) every blob. */
#ifndef TART_OCI_PUSH_H
#define TART_OCI_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"

struct push_opts {
  bool insecure;
  unsigned concurrency;
  uint64_t chunk_size; /* bytes per PATCH; 0: monolithic */
  json_t *labels;      /* may be NULL */
  bool populate_cache;
};

int oci_push(struct tart_home *h, const char *source, char *const *targets, size_t n_targets,
             const struct push_opts *o, tart_error_t *err);

#endif
