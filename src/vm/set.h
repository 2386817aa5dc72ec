/* `tart set`: change a stopped local VM's configuration, its disk, or both
 * (docs/upstream.md, "Command line and flags").  Everything is checked
 * before anything changes: a running VM, too little CPU or memory, a disk
 * that would shrink ("new disk size of <a> should be larger than the
 * current disk size of <b>") leave the VM as it was.  A new disk (disk) is
 * copied sparse through a locked tmp/set-disk-<UUID> file and renamed over
 * disk.img; disk_size_gb then grows it (never shrinks). */
#ifndef TART_VM_SET_H
#define TART_VM_SET_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"
#include "vmconfig/config.h"

struct vm_set_opts {
  uint64_t cpu;        /* 0: unchanged */
  uint64_t memory_mib; /* 0: unchanged */
  bool display;        /* set the display to display_width x display_height (0: that part unchanged) */
  int64_t display_width, display_height;
  enum vm_display_unit display_unit;
  enum vm_refit refit; /* VM_REFIT_UNSET: unchanged */
  bool random_mac;
  const char *disk;      /* a raw file to become disk.img, or NULL */
  uint64_t disk_size_gb; /* 0: unchanged */
};

int vm_set(struct tart_home *h, const char *name, const struct vm_set_opts *o, tart_error_t *err);

#endif
