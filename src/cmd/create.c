/* tart create: a new Linux VM with an empty sparse disk, or one converted
 * from an existing raw/qcow2/vmdk image. */
#include <strings.h>

#include "cmd/cmd.h"
#include "storage/name.h"
#include "vm/create.h"

enum {
  OPT_LINUX = CMD_OPT_LONG,
  OPT_IPSW,
  OPT_DISK_SIZE,
  OPT_FROM_IMAGE,
  OPT_ARCH,
  OPT_FIRMWARE,
  OPT_DISK_FORMAT
};

static const struct cmd_option create_options[] = {
    {OPT_LINUX, 0, "linux", NULL, "Create a Linux VM"},
    {OPT_IPSW, 0, "from-ipsw", "<path>", "Create a macOS VM (not possible on Linux hosts)"},
    {OPT_DISK_SIZE, 0, "disk-size", "<GB>",
     "Disk size in GB (1000^3 bytes) (default: 50); with\n"
     "--from-image the image is grown to this size if it is\n"
     "smaller, never shrunk"},
    {OPT_FROM_IMAGE, 0, "from-image", "<path>", "Initialize the disk from a raw, qcow2 or vmdk image"},
    {OPT_ARCH, 0, "arch", "<arch>", "Guest architecture: amd64 or arm64 (default: the host's)"},
    {OPT_FIRMWARE, 0, "firmware", "<firmware>", "efi or bios (bios: amd64 only) (default: efi)"},
    {OPT_DISK_FORMAT, 0, "disk-format", "<format>",
     "Disk image format: raw (default: raw); asif, Apple's,\n"
     "is refused on Linux"},
    {0},
};

const struct cmd_spec cmd_create_spec = {
    .name = "create",
    .abstract = "Create a VM",
    .discussion = "Creates a Linux VM with an empty sparse disk of --disk-size GB, or with the\n"
                  "contents of an existing disk image (--from-image: raw, qcow2 or vmdk,\n"
                  "converted to a sparse raw disk.img).\n",
    .usage = "tart create <name> --linux [--disk-size <GB>] [--from-image <path>]\n"
             "                   [--arch <arch>] [--firmware <firmware>] [--disk-format <format>]",
    .arguments = "<name>\tVM name\n",
    .options = create_options,
};

int cmd_create(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  bool linux_vm = false, size_given = false;
  const char *ipsw = NULL, *from_image = NULL;
  uint64_t disk_size = 50;
  enum vm_arch arch = vm_arch_host();
  enum vm_firmware fw = VM_FIRMWARE_EFI;

  int c;
  while ((c = cmd_next(argc, argv, &cmd_create_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_create_spec);
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
      /* ASIF is Apple's own sparse image format: only macOS 26 reads it,
       * and QEMU cannot.  A raw disk.img is sparse here already, which is
       * what ASIF gives on a Mac (docs/upstream.md, "Command line"). */
      if (strcasecmp(optarg, "asif") == 0)
        return args_usage_error(argv, err,
                                "Disk format 'asif' is not supported on this system: ASIF is Apple's disk "
                                "image format, which only macOS reads; on Linux disk.img is raw and already "
                                "sparse (leave out --disk-format, or use raw)");
      if (strcasecmp(optarg, "raw") != 0)
        return args_usage_error(argv, err, "invalid value for --disk-format: \"%s\" (use raw or asif)",
                                optarg);
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

  struct vm_create_opts co = {.arch = arch,
                              .firmware = fw,
                              .from_image = from_image,
                              .disk_size_gb = disk_size,
                              .size_given = size_given};
  return vm_create(&ctx->home, name, &co, err);
}
