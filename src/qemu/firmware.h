/* QEMU firmware files: the UEFI code and variable-store templates shipped by
 * Debian's ovmf (x86_64) and qemu-efi-aarch64 (arm64) packages.
 *
 * TART_FIRMWARE_DIR, when set, is the only directory searched (tests use it
 * to simulate a machine without firmware). */
#ifndef TART_QEMU_FIRMWARE_H
#define TART_QEMU_FIRMWARE_H

#include "util/error.h"
#include "vmconfig/config.h"

enum firmware_kind { FIRMWARE_CODE, FIRMWARE_VARS };

/* Path of the firmware file of `kind` for arch; a clear error naming the
 * Debian package to install when none is found. */
int firmware_find(enum vm_arch arch, enum firmware_kind kind, char **path, tart_error_t *err);

#endif
