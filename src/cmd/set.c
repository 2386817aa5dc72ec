/* tart set: change CPU, memory, display, MAC, disk contents or disk size.
 * Order as upstream: save the config, then replace the disk, then grow it. */
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"
#include "vm/set.h"

enum {
  OPT_CPU = CMD_OPT_LONG,
  OPT_MEMORY,
  OPT_DISPLAY,
  OPT_REFIT,
  OPT_NO_REFIT,
  OPT_MAC,
  OPT_SERIAL,
  OPT_DISK,
  OPT_DISK_SIZE
};

static const struct cmd_option set_options[] = {
    {OPT_CPU, 0, "cpu", "<cpu>", "Number of VM CPUs"},
    {OPT_MEMORY, 0, "memory", "<memory>", "VM memory size in megabytes"},
    {OPT_DISPLAY, 0, "display", "<display>",
     "VM display resolution in a format of WIDTHxHEIGHT[pt|px].\n"
     "For example, 1200x800, 1200x800pt or 1920x1080px."},
    {OPT_REFIT, 0, "display-refit", NULL,
     "Whether to automatically reconfigure the VM's display to\n"
     "fit the window"},
    {OPT_NO_REFIT, 0, "no-display-refit", NULL, "Don't reconfigure the VM's display to fit the window"},
    {OPT_MAC, 0, "random-mac", NULL, "Generate a new random MAC address for the VM."},
    {OPT_SERIAL, 0, "random-serial", NULL,
     "Generate a new random serial number (macOS VMs only; no\n"
     "effect for Linux VMs)"},
    {OPT_DISK, 0, "disk", "<path>",
     "Replace the VM's disk contents with the disk contents at\n"
     "path (a raw image)."},
    {OPT_DISK_SIZE, 0, "disk-size", "<disk-size>",
     "Resize the VMs disk to the specified size in GB (note that\n"
     "the disk size can only be increased to avoid losing data).\n"
     "Then grow the partition in the guest (growpart and\n"
     "resize2fs, or cloud-init growroot)."},
    {0},
};

const struct cmd_spec cmd_set_spec = {
    .name = "set",
    .abstract = "Modify VM's configuration",
    .usage = "tart set <name> [--cpu <cpu>] [--memory <memory>] [--display <display>]\n"
             "                [--display-refit] [--no-display-refit] [--random-mac] [--random-serial]\n"
             "                [--disk <path>] [--disk-size <disk-size>]",
    .arguments = "<name>\tVM name\n",
    .options = set_options,
    .vm_arg = CMD_VM_LOCAL,
};

#define MIB (1024ULL * 1024ULL)

/* "WxH", "WxHpt", "WxHpx"; a missing or zero part keeps the old value. */
static int parse_display(const char *s, int64_t *w, int64_t *hgt, enum vm_display_unit *unit)
{
  size_t len = strlen(s);
  *unit = VM_DISPLAY_UNIT_NONE;
  if (len >= 2 && !strcmp(s + len - 2, "px")) {
    *unit = VM_DISPLAY_UNIT_PX;
    len -= 2;
  } else if (len >= 2 && !strcmp(s + len - 2, "pt")) {
    *unit = VM_DISPLAY_UNIT_PT;
    len -= 2;
  }
  _cleanup_free_ char *body = strndup(s, len);
  if (body == NULL)
    abort();
  char *x = strchr(body, 'x');
  if (x != NULL)
    *x = '\0';
  const char *parts[2] = {body, x ? x + 1 : ""};
  int64_t vals[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    if (*parts[i] == '\0')
      continue;
    uint64_t v;
    if (parse_u64(parts[i], 0, 65535, &v, "display", NULL) < 0)
      return -1;
    vals[i] = (int64_t)v;
  }
  *w = vals[0];
  *hgt = vals[1];
  return 0;
}

int cmd_set(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  uint64_t cpu = 0, memory = 0, disk_size = 0;
  bool has_cpu = false, has_memory = false, has_display = false, random_mac = false;
  int64_t dw = 0, dh = 0;
  enum vm_display_unit du = VM_DISPLAY_UNIT_NONE;
  enum vm_refit refit = VM_REFIT_UNSET;
  const char *disk = NULL;

  int c;
  while ((c = cmd_next(argc, argv, &cmd_set_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_set_spec);
    case OPT_CPU:
      if (args_u64("--cpu", optarg, 1, 65535, &cpu, err) < 0)
        return -1;
      has_cpu = true;
      break;
    case OPT_MEMORY:
      /* config.json holds bytes as a signed 64-bit JSON integer. */
      if (args_u64("--memory", optarg, 1, (uint64_t)INT64_MAX / MIB, &memory, err) < 0)
        return -1;
      has_memory = true;
      break;
    case OPT_DISPLAY:
      if (parse_display(optarg, &dw, &dh, &du) < 0)
        return args_usage_error(argv, err, "invalid value for --display: \"%s\" (use WIDTHxHEIGHT[pt|px])",
                                optarg);
      has_display = true;
      break;
    case OPT_REFIT:
      refit = VM_REFIT_ON;
      break;
    case OPT_NO_REFIT:
      refit = VM_REFIT_OFF;
      break;
    case OPT_MAC:
      random_mac = true;
      break;
    case OPT_SERIAL:
      break;
    case OPT_DISK:
      disk = optarg;
      break;
    case OPT_DISK_SIZE:
      if (args_u64("--disk-size", optarg, 1, 65535, &disk_size, err) < 0)
        return -1;
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];

  struct vm_set_opts so = {
      .cpu = has_cpu ? cpu : 0,
      .memory_mib = has_memory ? memory : 0,
      .display = has_display,
      .display_width = dw,
      .display_height = dh,
      .display_unit = du,
      .refit = refit,
      .random_mac = random_mac,
      .disk = disk,
      .disk_size_gb = disk_size,
  };
  return vm_set(&ctx->home, name, &so, err);
}
