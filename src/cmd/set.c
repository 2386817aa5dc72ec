/* tart set: change CPU, memory, display, MAC, disk contents or disk size.
 * Order as upstream: save the config, then replace the disk, then grow it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"
#include "vmconfig/config.h"

const char cmd_set_help[] =
    "OVERVIEW: Modify VM's configuration\n"
    "\n"
    "USAGE: tart set <name> [--cpu <cpu>] [--memory <memory>] [--display <display>]\n"
    "                [--display-refit] [--no-display-refit] [--random-mac] [--random-serial]\n"
    "                [--disk <path>] [--disk-size <disk-size>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name\n"
    "\n"
    "OPTIONS:\n"
    "  --cpu <cpu>             Number of VM CPUs\n"
    "  --memory <memory>       VM memory size in megabytes\n"
    "  --display <display>     VM display resolution in a format of WIDTHxHEIGHT[pt|px].\n"
    "                          For example, 1200x800, 1200x800pt or 1920x1080px.\n"
    "  --display-refit/--no-display-refit\n"
    "                          Whether to automatically reconfigure the VM's display to\n"
    "                          fit the window\n"
    "  --random-mac            Generate a new random MAC address for the VM.\n"
    "  --random-serial         Generate a new random serial number (macOS VMs only; no\n"
    "                          effect for Linux VMs)\n"
    "  --disk <path>           Replace the VM's disk contents with the disk contents at\n"
    "                          path (a raw image).\n"
    "  --disk-size <disk-size> Resize the VMs disk to the specified size in GB (note that\n"
    "                          the disk size can only be increased to avoid losing data).\n"
    "                          Then grow the partition in the guest (growpart and\n"
    "                          resize2fs, or cloud-init growroot).\n"
    "  -h, --help              Show help information.\n";

#define GB  1000000000ULL
#define MIB (1024ULL * 1024ULL)
/* Virtualization.framework's floor, kept so configs stay portable. */
#define MIN_MEMORY (128ULL * MIB)

static void human_bytes(unsigned long long b, char *out, size_t n)
{
  if (b % GB == 0)
    snprintf(out, n, "%llu GB", b / GB);
  else
    snprintf(out, n, "%.2f GB", (double)b / (double)GB);
}

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

static int replace_disk(struct tart_home *h, const char *vm, const char *from, tart_error_t *err)
{
  char uuid[37];
  uuid_random(uuid);
  /* A plain file in tmp/ (as upstream's set-disk-<UUID>) locked while we
   * work, so tmp GC leaves it alone and reaps it after a crash. */
  _cleanup_free_ char *tmp = xasprintf("%s/set-disk-%s", h->tmp, uuid);
  _cleanup_free_ char *disk = vm_dir_file(vm, VM_FILE_DISK);
  struct stat st;
  if (stat(from, &st) < 0)
    return tart_error_make(err, errno, "cannot read --disk %s", from);
  if (!S_ISREG(st.st_mode))
    return tart_error_make(err, 0, "--disk %s is not a regular file", from);

  _cleanup_close_ int src = open(from, O_RDONLY | O_CLOEXEC);
  if (src < 0)
    return tart_error_make(err, errno, "cannot open %s", from);
  _cleanup_close_ int dst = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (dst < 0)
    return tart_error_make(err, errno, "cannot create %s", tmp);
  if (lock_flock(dst, true, false, err) != 0 || copy_fd_sparse(src, dst, NULL, err) < 0 ||
      rename(tmp, disk) < 0) {
    int e = errno;
    unlink(tmp);
    if (err && *err)
      return tart_error_wrap(err, "cannot replace the disk");
    return tart_error_make(err, e, "cannot replace %s", disk);
  }
  return fsync_parent(disk, err);
}

static int check_shrink(unsigned long long cur, uint64_t size_gb, tart_error_t *err)
{
  unsigned long long want = size_gb * GB;
  if (want >= cur)
    return 0;
  char a[32], b[32];
  human_bytes(want, a, sizeof(a));
  human_bytes(cur, b, sizeof(b));
  return tart_error_make(err, 0, "new disk size of %s should be larger than the current disk size of %s", a,
                         b);
}

static int grow_disk(const char *vm, uint64_t size_gb, tart_error_t *err)
{
  _cleanup_free_ char *disk = vm_dir_file(vm, VM_FILE_DISK);
  _cleanup_close_ int fd = open(disk, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", disk);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tart_error_make(err, errno, "cannot stat %s", disk);
  unsigned long long cur = (unsigned long long)st.st_size, want = size_gb * GB;
  if (check_shrink(cur, size_gb, err) < 0)
    return -1;
  if (want > cur && (ftruncate(fd, (off_t)want) < 0 || fsync(fd) < 0))
    return tart_error_make(err, errno, "cannot resize %s", disk);
  return 0;
}

int cmd_set(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum {
    OPT_CPU = 256,
    OPT_MEMORY,
    OPT_DISPLAY,
    OPT_REFIT,
    OPT_NO_REFIT,
    OPT_MAC,
    OPT_SERIAL,
    OPT_DISK,
    OPT_DISK_SIZE
  };
  static const struct option longopts[] = {
      {"cpu", required_argument, NULL, OPT_CPU},
      {"memory", required_argument, NULL, OPT_MEMORY},
      {"display", required_argument, NULL, OPT_DISPLAY},
      {"display-refit", no_argument, NULL, OPT_REFIT},
      {"no-display-refit", no_argument, NULL, OPT_NO_REFIT},
      {"random-mac", no_argument, NULL, OPT_MAC},
      {"random-serial", no_argument, NULL, OPT_SERIAL},
      {"disk", required_argument, NULL, OPT_DISK},
      {"disk-size", required_argument, NULL, OPT_DISK_SIZE},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t cpu = 0, memory = 0, disk_size = 0;
  bool has_cpu = false, has_memory = false, has_display = false, random_mac = false;
  int64_t dw = 0, dh = 0;
  enum vm_display_unit du = VM_DISPLAY_UNIT_NONE;
  enum vm_refit refit = VM_REFIT_UNSET;
  const char *disk = NULL;

  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return args_help(cmd_set_help);
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

  struct tart_home *h = &ctx->home;
  _cleanup_free_ char *vm = NULL;
  if (local_vm_open(h, name, &vm, err) < 0)
    return -1;
  /* The run lock lives on config.json's inode, and every change here
   * replaces that file atomically: a running VM would look stopped
   * afterwards.  Its settings only matter at the next start anyway. */
  _cleanup_close_ int lock_fd = -1;
  if (vm_dir_lock_running(vm, name, &lock_fd, err) < 0) {
    if (vm_dir_running_pid(vm) != 0)
      return tart_error_make(err, 0, "VM \"%s\" is running: stop it before changing its configuration", name);
    return -1;
  }

  /* Refuse a shrink before changing anything, so a failed `set` leaves the
   * VM exactly as it was. */
  if (disk_size != 0) {
    _cleanup_free_ char *cur_disk = disk ? xstrdup(disk) : vm_dir_file(vm, VM_FILE_DISK);
    if (check_shrink(file_apparent_bytes(cur_disk), disk_size, err) < 0)
      return -1;
  }

  _cleanup_free_ char *cfg_path = vm_dir_file(vm, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_config_load(cfg_path, &cfg, err) < 0)
    return -1;
  int r = 0;
  if (has_cpu && cfg.os == VM_OS_DARWIN && (int64_t)cpu < cfg.cpu_count_min)
    r = tart_error_make(err, 0, "VM should have %lld CPU cores at minimum (requested %llu)",
                        (long long)cfg.cpu_count_min, (unsigned long long)cpu);
  uint64_t mem_bytes = memory * MIB;
  if (r == 0 && has_memory && cfg.os == VM_OS_DARWIN && mem_bytes < cfg.memory_size_min)
    r = tart_error_make(err, 0, "VM should have %llu bytes of memory at minimum (requested %llu)",
                        (unsigned long long)cfg.memory_size_min, (unsigned long long)mem_bytes);
  if (r == 0 && has_memory && mem_bytes < MIN_MEMORY)
    r = tart_error_make(err, 0, "VM should have %llu bytes of memory at minimum (requested %llu)",
                        (unsigned long long)MIN_MEMORY, (unsigned long long)mem_bytes);
  if (r == 0) {
    if (has_cpu)
      vm_config_set_cpu(&cfg, (int64_t)cpu);
    if (has_memory)
      vm_config_set_memory(&cfg, mem_bytes);
    if (has_display)
      vm_config_set_display(&cfg, dw, dh, du);
    /* Unlike upstream, leave displayRefit alone unless asked: resetting it
     * on every `set` is a known upstream quirk nobody relies on. */
    if (refit != VM_REFIT_UNSET)
      vm_config_set_display_refit(&cfg, refit);
    if (random_mac) {
      struct mac_addr mac;
      mac_random(&mac);
      vm_config_set_mac(&cfg, &mac);
    }
    r = vm_config_save(&cfg, cfg_path, err);
  }
  vm_config_clear(&cfg);
  if (r < 0)
    return -1;

  if (disk != NULL && replace_disk(h, vm, disk, err) < 0)
    return -1;
  if (disk_size != 0 && grow_disk(vm, disk_size, err) < 0)
    return -1;
  return 0;
}
