/* vm_create (vm/create.h): config.json, nvram.bin and disk.img made in a
 * tmp/ entry, then moved into place in one rename. */
#include "vm/create.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu/firmware.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/util.h"

#define GB 1000000000ULL

/* The image format as qemu-img sees it; only formats we promise to read are
 * accepted, and the format is then passed explicitly so that a raw image
 * whose first bytes look like a qcow2 header cannot redirect qemu-img. */
static int image_format(const char *path, char *fmt, size_t n, tart_error_t *err)
{
  const char *argv[] = {"qemu-img", "info", "--output=json", path, NULL};
  _cleanup_free_ char *out = NULL;
  if (process_run(argv, &out, err) < 0)
    return -1;
  json_error_t jerr;
  json_t *info = json_loads(out, 0, &jerr);
  const char *f = info ? json_string_value(json_object_get(info, "format")) : NULL;
  if (f == NULL) {
    json_decref(info);
    return tart_error_make(err, 0, "cannot determine the format of %s", path);
  }
  snprintf(fmt, n, "%s", f);
  json_decref(info);
  if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2") && strcmp(fmt, "vmdk"))
    return tart_error_make(err, 0, "%s is a %s image: --from-image takes raw, qcow2 or vmdk", path, fmt);
  return 0;
}

static int make_disk(const char *disk, const char *from_image, uint64_t size_gb, bool size_given,
                     tart_error_t *err)
{
  if (from_image != NULL) {
    struct stat st;
    if (stat(from_image, &st) < 0)
      return tart_error_make(err, errno, "cannot read --from-image %s", from_image);
    /* qemu-img would block forever on a FIFO and read a device whole. */
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
      return tart_error_make(err, 0, "--from-image %s is not a regular file or block device", from_image);
    char fmt[32];
    if (image_format(from_image, fmt, sizeof(fmt), err) < 0)
      return -1;
    if (!strcmp(fmt, "raw")) {
      /* A sparse copy is faster than qemu-img and keeps holes the same way. */
      if (copy_file_sparse(from_image, disk, 0644, NULL, err) < 0)
        return -1;
    } else {
      const char *argv[] = {"qemu-img", "convert", "-q", "-f", fmt, "-O", "raw", from_image, disk, NULL};
      if (process_run(argv, NULL, err) < 0)
        return tart_error_wrap(err, "cannot convert %s", from_image);
    }
    if (!size_given)
      return 0;
    uint64_t want = size_gb * GB;
    if (stat(disk, &st) < 0)
      return tart_error_make(err, errno, "cannot stat %s", disk);
    if ((uint64_t)st.st_size >= want)
      return 0;
    if (truncate(disk, (off_t)want) < 0)
      return tart_error_make(err, errno, "cannot grow %s", disk);
    return 0;
  }

  _cleanup_close_ int fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create %s", disk);
  if (ftruncate(fd, (off_t)(size_gb * GB)) < 0)
    return tart_error_make(err, errno, "cannot size %s", disk);
  if (fsync(fd) < 0)
    return tart_error_make(err, errno, "cannot sync %s", disk);
  return 0;
}

static int make_nvram(const char *nvram, enum vm_arch arch, enum vm_firmware fw, tart_error_t *err)
{
  if (fw == VM_FIRMWARE_BIOS) {
    /* SeaBIOS keeps no variables; the file exists so the VM is complete. */
    _cleanup_close_ int fd = open(nvram, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      return tart_error_make(err, errno, "cannot create %s", nvram);
    return 0;
  }
  _cleanup_free_ char *tmpl = NULL;
  if (firmware_find(arch, FIRMWARE_VARS, &tmpl, err) < 0)
    return -1;
  return copy_file_sparse(tmpl, nvram, 0644, NULL, err);
}

int vm_create(struct tart_home *h, const char *name, const struct vm_create_opts *o, tart_error_t *err)
{
  _cleanup_free_ char *dest = local_vm_path(h, name);
  if (path_exists(dest))
    return tart_error_kind(err, EEXIST, "cannot create VM \"%s\": it already exists (delete it first)", name);

  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  _cleanup_free_ char *cfg_path = vm_dir_file(t.path, VM_FILE_CONFIG);
  _cleanup_free_ char *disk = vm_dir_file(t.path, VM_FILE_DISK);
  _cleanup_free_ char *nvram = vm_dir_file(t.path, VM_FILE_NVRAM);

  struct vm_config cfg;
  vm_config_init_linux(&cfg, o->arch, o->firmware);
  int r = vm_config_save(&cfg, cfg_path, err);
  vm_config_clear(&cfg);
  if (r < 0 || make_nvram(nvram, o->arch, o->firmware, err) < 0 ||
      make_disk(disk, o->from_image, o->disk_size_gb, o->size_given, err) < 0 ||
      fsync_path(t.path, err) < 0 || rename_noreplace(t.path, dest, err) < 0) {
    if (*err && (*err)->errnum == EEXIST)
      tart_error_kind(err, EEXIST, "cannot create VM \"%s\": it already exists (delete it first)", name);
    tmp_entry_discard(&t);
    return -1;
  }
  tmp_entry_release(&t);
  return 0;
}
