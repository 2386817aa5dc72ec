/* libFuzzer target for src/oci/manifest.c.
 *
 * Checks, for every input:
 *   - a manifest that parses dumps, the dump parses, and dumping that gives
 *     the same bytes: the digest of a manifest is the sha256 of its dump,
 *     so the dump must be a fixed point of parse+dump;
 *   - a manifest with a mediaType is also classified as a manifest by
 *     oci_doc_kind (and likewise for an index);
 *   - tart_layers_from_manifest either fails cleanly or gives offsets that
 *     are the running sum of the uncompressed sizes, with descriptors that
 *     point into the manifest;
 *   - a failed parse leaves the output empty with a one-line message, and
 *     nothing leaks (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0)
      return false;
  return true;
}

static void check_error(tart_error_t err, bool prefixed)
{
  if (err == NULL || err->msg == NULL || strchr(err->msg, '\n') != NULL || strchr(err->msg, '\r') != NULL)
    abort();
  if (prefixed && strncmp(err->msg, "invalid manifest: ", 18) != 0)
    abort();
}

static void check_layers(const struct oci_manifest *m)
{
  struct tart_layers l;
  tart_error_t err = NULL;
  if (tart_layers_from_manifest(m, &l, &err) < 0) {
    check_error(err, false);
    if (!all_zero(&l, sizeof(l)))
      abort();
    tart_error_release(&err);
    return;
  }
  if (err != NULL || l.config == NULL || l.nvram == NULL || l.n_disks == 0)
    abort();
  const struct oci_descriptor *end = m->layers + m->n_layers;
  if (l.config < m->layers || l.config >= end || l.nvram < m->layers || l.nvram >= end)
    abort();
  uint64_t off = 0;
  for (size_t i = 0; i < l.n_disks; i++) {
    const struct tart_disk_layer *d = &l.disks[i];
    if (d->desc < m->layers || d->desc >= end || (i > 0 && d->desc <= l.disks[i - 1].desc))
      abort();
    if (d->offset != off || !oci_digest_valid(d->uncompressed_digest))
      abort();
    off += d->uncompressed_size;
  }
  if (off != l.disk_size || l.disk_size > INT64_MAX)
    abort();
  tart_layers_clear(&l);
}

static void check_manifest(const char *buf, size_t len)
{
  struct oci_manifest m;
  tart_error_t err = NULL;
  if (oci_manifest_parse(buf, len, &m, &err) < 0) {
    check_error(err, true);
    if (!all_zero(&m, sizeof(m)))
      abort();
    tart_error_release(&err);
    return;
  }
  if (err != NULL)
    abort();
  if (m.media_type != NULL && oci_doc_kind(buf, len) != OCI_DOC_MANIFEST)
    abort();

  char *d1 = oci_manifest_dump(&m);
  if (d1 == NULL)
    abort();
  size_t n1 = strlen(d1);
  /* Adding "annotations":{} to every layer can push a dump of an input near
   * the limit over it; libFuzzer inputs never get there. */
  if (n1 <= OCI_MANIFEST_MAX) {
    struct oci_manifest m2;
    if (oci_manifest_parse(d1, n1, &m2, &err) < 0)
      abort();
    char *d2 = oci_manifest_dump(&m2);
    if (d2 == NULL || strcmp(d1, d2) != 0)
      abort();
    free(d2);
    oci_manifest_clear(&m2);
  }
  free(d1);

  check_layers(&m);
  oci_manifest_clear(&m);
  if (!all_zero(&m, sizeof(m)))
    abort();
}

static void check_index(const char *buf, size_t len)
{
  struct oci_index idx;
  tart_error_t err = NULL;
  if (oci_index_parse(buf, len, &idx, &err) < 0) {
    check_error(err, true);
    if (!all_zero(&idx, sizeof(idx)))
      abort();
    tart_error_release(&err);
    return;
  }
  if (err != NULL)
    abort();
  if (oci_doc_kind(buf, len) == OCI_DOC_MANIFEST)
    abort(); /* a valid index has "manifests" or an index media type */
  const struct oci_descriptor *d = oci_index_find(&idx, "linux", "amd64");
  if (d != NULL && (strcmp(d->platform_os, "linux") != 0 || strcmp(d->platform_arch, "amd64") != 0 ||
                    !oci_digest_valid(d->digest)))
    abort();
  oci_index_clear(&idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *buf = (const char *)data;
  check_manifest(buf, size);
  check_index(buf, size);
  (void)oci_doc_kind(buf, size);
  return 0;
}
