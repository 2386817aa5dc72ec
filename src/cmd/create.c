/* tart create: a new Linux VM with an empty sparse disk, or one converted
 * from an existing raw/qcow2/vmdk image. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "qemu/firmware.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/name.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/util.h"
#include "vmconfig/config.h"

const char cmd_create_help[] =
    "OVERVIEW: Create a VM\n"
    "\n"
    "Creates a Linux VM with an empty sparse disk of --disk-size GB, or with the\n"
    "contents of an existing disk image (--from-image: raw, qcow2 or vmdk,\n"
    "converted to a sparse raw disk.img).\n"
    "\n"
    "USAGE: tart create <name> --linux [--disk-size <GB>] [--from-image <path>]\n"
    "                   [--arch <arch>] [--firmware <firmware>] [--disk-format <format>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name\n"
    "\n"
    "OPTIONS:\n"
    "  --linux                 Create a Linux VM\n"
    "  --from-ipsw <path>      Create a macOS VM (not possible on Linux hosts)\n"
    "  --disk-size <GB>        Disk size in GB (1000^3 bytes) (default: 50); with\n"
    "                          --from-image the image is grown to this size if it is\n"
    "                          smaller, never shrunk\n"
    "  --from-image <path>     Initialize the disk from a raw, qcow2 or vmdk image\n"
    "  --arch <arch>           Guest architecture: amd64 or arm64 (default: the host's)\n"
    "  --firmware <firmware>   efi or bios (bios: amd64 only) (default: efi)\n"
    "  --disk-format <format>  Disk image format: raw (default: raw)\n"
    "  -h, --help              Show help information.\n";

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

int cmd_create(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum { OPT_LINUX = 256, OPT_IPSW, OPT_DISK_SIZE, OPT_FROM_IMAGE, OPT_ARCH, OPT_FIRMWARE, OPT_DISK_FORMAT };
  static const struct option longopts[] = {
      {"linux", no_argument, NULL, OPT_LINUX},
      {"from-ipsw", required_argument, NULL, OPT_IPSW},
      {"disk-size", required_argument, NULL, OPT_DISK_SIZE},
      {"from-image", required_argument, NULL, OPT_FROM_IMAGE},
      {"arch", required_argument, NULL, OPT_ARCH},
      {"firmware", required_argument, NULL, OPT_FIRMWARE},
      {"disk-format", required_argument, NULL, OPT_DISK_FORMAT},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  bool linux_vm = false, size_given = false;
  const char *ipsw = NULL, *from_image = NULL;
  uint64_t disk_size = 50;
  enum vm_arch arch = vm_arch_host();
  enum vm_firmware fw = VM_FIRMWARE_EFI;

  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return args_help(cmd_create_help);
    case OPT_LINUX:
      linux_vm = true;
      break;
    case OPT_IPSW:
      ipsw = optarg;
      break;
    case OPT_DISK_SIZE:
      /* Upstream stores the size as UInt16 GB. */
      if (args_u64("--disk-size", optarg, 1, 65535, &disk_size, err) < 0)
        return -1;
      size_given = true;
      break;
    case OPT_FROM_IMAGE:
      from_image = optarg;
      break;
    case OPT_ARCH:
      if (vm_arch_parse(optarg, &arch) < 0)
        return args_usage_error(argv, err, "invalid value for --arch: \"%s\" (use amd64 or arm64)", optarg);
      break;
    case OPT_FIRMWARE:
      if (vm_firmware_parse(optarg, &fw) < 0)
        return args_usage_error(argv, err, "invalid value for --firmware: \"%s\" (use efi or bios)", optarg);
      break;
    case OPT_DISK_FORMAT:
      if (strcasecmp(optarg, "raw") != 0)
        return args_usage_error(
            argv, err, "invalid value for --disk-format: \"%s\" (only raw is supported on Linux)", optarg);
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];

  if (ipsw != NULL)
    return tart_error_make(err, 0,
                           "macOS VMs cannot be created on Linux: --from-ipsw needs Apple hardware "
                           "(use --linux to create a Linux VM)");
  if (!linux_vm)
    return args_usage_error(argv, err, "Please specify either a --from-ipsw or --linux option!");
  if (fw == VM_FIRMWARE_BIOS && arch != VM_ARCH_AMD64)
    return args_usage_error(argv, err, "--firmware bios is only available for amd64 VMs");
  if (vm_name_validate_local(name, err) < 0)
    return -1;

  struct tart_home *h = &ctx->home;
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
  vm_config_init_linux(&cfg, arch, fw);
  int r = vm_config_save(&cfg, cfg_path, err);
  vm_config_clear(&cfg);
  if (r < 0 || make_nvram(nvram, arch, fw, err) < 0 ||
      make_disk(disk, from_image, disk_size, size_given, err) < 0 || fsync_path(t.path, err) < 0 ||
      rename_noreplace(t.path, dest, err) < 0) {
    if (*err && (*err)->errnum == EEXIST)
      tart_error_kind(err, EEXIST, "cannot create VM \"%s\": it already exists (delete it first)", name);
    tmp_entry_discard(&t);
    return -1;
  }
  tmp_entry_release(&t);
  return 0;
}
