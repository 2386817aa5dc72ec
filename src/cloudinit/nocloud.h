/* cloud-init NoCloud seeds for `tart run --cloud-init FILE` (docs/design.md, "Running a VM").
 *
 * cloud-init's NoCloud data source reads user-data and meta-data (and
 * optionally network-config) from a filesystem labelled "cidata".  The seed
 * is an ISO 9660 image with Joliet and Rock Ridge names (so the files keep
 * their lower-case, hyphenated names in every reader), written with
 * libarchive's ISO 9660 writer: no genisoimage or cloud-localds needed.
 * tart attaches it to the VM as a read-only virtio disk. */
#ifndef TART_CLOUDINIT_NOCLOUD_H
#define TART_CLOUDINIT_NOCLOUD_H

#include <stddef.h>

#include "util/error.h"

#define NOCLOUD_LABEL "cidata"

/* Pure.  The meta-data document: instance-id (a new one makes cloud-init
 * treat the boot as a first boot and apply the user-data again) and the
 * local hostname.  Malloc'ed.  The hostname is reduced to the characters a
 * hostname may hold ([A-Za-z0-9-], at most 63, never empty). */
char *nocloud_meta_data(const char *instance_id, const char *hostname);

struct nocloud_seed {
  const char *user_data; /* required: the --cloud-init file's contents */
  size_t user_data_len;
  const char *meta_data; /* required */
  size_t meta_data_len;
  const char *network_config; /* optional (NULL): network-config v1/v2 */
  size_t network_config_len;
};

/* Write the seed image to path, atomically (a temporary file renamed over
 * it).  user-data must start with one of the formats cloud-init reads
 * ("#cloud-config", "#!", "#include", "## template: jinja", a MIME
 * "Content-Type:" header, or gzip data); otherwise a usage error says so,
 * since cloud-init would silently ignore it. */
int nocloud_seed_write(const char *path, const struct nocloud_seed *s, tart_error_t *err);

/* Pure.  Whether cloud-init recognises data as user-data (see above). */
int nocloud_user_data_known(const char *data, size_t len);

#endif
