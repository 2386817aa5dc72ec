#include "qemu/firmware.h"

#include <stdlib.h>
#include <unistd.h>

#include "util/util.h"

struct candidate {
  enum vm_arch arch;
  enum firmware_kind kind;
  const char *dir;
  const char *file;
};

/* Preference order: the 4 MiB OVMF build is what Debian 12 and newer use
 * by default; the 2 MiB names are for older distributions. */
static const struct candidate candidates[] = {
    {VM_ARCH_AMD64, FIRMWARE_CODE, "/usr/share/OVMF", "OVMF_CODE_4M.fd"},
    {VM_ARCH_AMD64, FIRMWARE_VARS, "/usr/share/OVMF", "OVMF_VARS_4M.fd"},
    {VM_ARCH_AMD64, FIRMWARE_CODE, "/usr/share/OVMF", "OVMF_CODE.fd"},
    {VM_ARCH_AMD64, FIRMWARE_VARS, "/usr/share/OVMF", "OVMF_VARS.fd"},
    {VM_ARCH_AMD64, FIRMWARE_CODE, "/usr/share/edk2/ovmf", "OVMF_CODE.fd"},
    {VM_ARCH_AMD64, FIRMWARE_VARS, "/usr/share/edk2/ovmf", "OVMF_VARS.fd"},
    {VM_ARCH_ARM64, FIRMWARE_CODE, "/usr/share/AAVMF", "AAVMF_CODE.fd"},
    {VM_ARCH_ARM64, FIRMWARE_VARS, "/usr/share/AAVMF", "AAVMF_VARS.fd"},
    {VM_ARCH_ARM64, FIRMWARE_CODE, "/usr/share/edk2/aarch64", "QEMU_EFI-pflash.raw"},
    {VM_ARCH_ARM64, FIRMWARE_VARS, "/usr/share/edk2/aarch64", "vars-template-pflash.raw"},
};

int firmware_find(enum vm_arch arch, enum firmware_kind kind, char **path, tart_error_t *err)
{
  const char *override = getenv("TART_FIRMWARE_DIR");
  for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
    const struct candidate *c = &candidates[i];
    if (c->arch != arch || c->kind != kind)
      continue;
    char *p = xasprintf("%s/%s", override && *override ? override : c->dir, c->file);
    if (access(p, R_OK) == 0) {
      *path = p;
      return 0;
    }
    free(p);
  }
  return tart_error_make(err, 0, "UEFI firmware %s for %s not found: install the Debian package %s",
                         kind == FIRMWARE_VARS ? "variable store" : "code", vm_arch_name(arch),
                         arch == VM_ARCH_AMD64 ? "ovmf" : "qemu-efi-aarch64");
}
