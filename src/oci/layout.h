/* VM archives (.tvm): a tar of an OCI image layout (oci-layout, index.json,
 * blobs/sha256/<hex>) holding exactly the blobs `push` would upload, so
 * `skopeo copy oci-archive:vm.tvm docker://...` works on them and a pull
 * of that copy gives the same VM.  Upstream's Apple Archive format has no
 * Linux reader; this one is readable by every OCI tool. */
#ifndef TART_OCI_LAYOUT_H
#define TART_OCI_LAYOUT_H

#include "storage/home.h"
#include "util/error.h"

/* Export VM `name` (local or cached) to path, written atomically. */
int oci_export(struct tart_home *h, const char *name, const char *path, tart_error_t *err);

/* Import the archive at path as local VM `name`.  Every entry's path is
 * checked (no absolute paths, no "..", no links or devices, only the layout's
 * own files), every blob's digest and every disk chunk's uncompressed
 * digest verified; the VM appears only when complete.  Its MAC is
 * regenerated if a local VM already uses it. */
int oci_import(struct tart_home *h, const char *path, const char *name, tart_error_t *err);

/* Pure check of one archive entry path: 0 if it is "oci-layout",
 * "index.json", "blobs", "blobs/sha256" or "blobs/sha256/<64 hex>" (a
 * leading "./" and trailing "/" on directories allowed), or the top
 * directory "." or "./"; otherwise -1 with the reason. */
int oci_layout_check_entry(const char *path, int is_dir, tart_error_t *err);

#endif
