/* `tart create`: a new local Linux VM (docs/design.md, "Storage layout").
 *
 *  - config.json: upstream's Linux defaults (vmconfig/config.h) for arch
 *    and firmware;
 *  - nvram.bin: the firmware's empty variable store for efi
 *    (qemu/firmware.h), an empty file for bios (SeaBIOS keeps none);
 *  - disk.img: sparse raw of disk_size_gb GB, or the --from-image file (raw
 *    copied sparse, qcow2 and vmdk converted by qemu-img), grown to
 *    disk_size_gb when that is given and larger.
 * The VM appears only when complete; an existing name is EEXIST ("cannot
 * create VM ...: it already exists (delete it first)"). */
#ifndef TART_VM_CREATE_H
#define TART_VM_CREATE_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"
#include "vmconfig/config.h"

struct vm_create_opts {
  enum vm_arch arch;
  enum vm_firmware firmware;
  const char *from_image; /* NULL: an empty disk */
  uint64_t disk_size_gb;
  bool size_given; /* with from_image: grow to disk_size_gb */
};

int vm_create(struct tart_home *h, const char *name, const struct vm_create_opts *o, tart_error_t *err);

#endif
