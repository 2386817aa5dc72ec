#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/cmdline.h"
#include "util/util.h"

/* ---- helpers ----------------------------------------------------------- */

struct fixture {
  struct vm_config cfg;
  struct qemu_opts o;
};

static void fixture_init(struct fixture *f, enum vm_arch arch, enum vm_firmware fw)
{
  memset(f, 0, sizeof(*f));
  vm_config_init_linux(&f->cfg, arch, fw);
  struct mac_addr mac;
  assert_int_equal(mac_parse("52:54:00:12:34:56", &mac), 0);
  vm_config_set_mac(&f->cfg, &mac);
  f->o.cfg = &f->cfg;
  f->o.vm_dir = "/home/u/.tart/vms/myvm";
  f->o.firmware_code = fw == VM_FIRMWARE_EFI ? "/usr/share/OVMF/OVMF_CODE_4M.fd" : NULL;
  f->o.qmp_socket = "qmp.sock";
  f->o.qga_socket = "qga.sock";
  f->o.display = QEMU_DISPLAY_NONE;
  f->o.serial = QEMU_SERIAL_FILE;
  f->o.serial_path = "logs/console.log";
  f->o.net = QEMU_NET_USER;
  f->o.tap_fd = -1;
}

static void fixture_clear(struct fixture *f)
{
  vm_config_clear(&f->cfg);
}

static char *dump(char **argv)
{
  return qemu_cmdline_string(argv);
}

static bool has_pair(char **argv, const char *opt, const char *val)
{
  for (size_t i = 0; argv[i] && argv[i + 1]; i++)
    if (strcmp(argv[i], opt) == 0 && strcmp(argv[i + 1], val) == 0)
      return true;
  return false;
}

static bool has_word(char **argv, const char *w)
{
  for (size_t i = 0; argv[i]; i++)
    if (strcmp(argv[i], w) == 0)
      return true;
  return false;
}

static size_t count_opt(char **argv, const char *opt)
{
  size_t n = 0;
  for (size_t i = 0; argv[i]; i++)
    n += strcmp(argv[i], opt) == 0;
  return n;
}

/* The value following the first `opt` whose value starts with prefix. */
static const char *value_with_prefix(char **argv, const char *opt, const char *prefix)
{
  for (size_t i = 0; argv[i] && argv[i + 1]; i++)
    if (strcmp(argv[i], opt) == 0 && strncmp(argv[i + 1], prefix, strlen(prefix)) == 0)
      return argv[i + 1];
  return NULL;
}

#define assert_pair(argv, opt, val)                                                                          \
  do {                                                                                                       \
    if (!has_pair((argv), (opt), (val))) {                                                                   \
      char *_d = dump(argv);                                                                                 \
      print_error("missing \"%s %s\" in: %s\n", (opt), (val), _d);                                           \
      free(_d);                                                                                              \
      fail();                                                                                                \
    }                                                                                                        \
  } while (0)

#define assert_no_pair(argv, opt, val)                                                                       \
  do {                                                                                                       \
    if (has_pair((argv), (opt), (val))) {                                                                    \
      char *_d = dump(argv);                                                                                 \
      print_error("unexpected \"%s %s\" in: %s\n", (opt), (val), _d);                                        \
      free(_d);                                                                                              \
      fail();                                                                                                \
    }                                                                                                        \
  } while (0)

#define assert_no_word(argv, w)                                                                              \
  do {                                                                                                       \
    if (has_word((argv), (w))) {                                                                             \
      char *_d = dump(argv);                                                                                 \
      print_error("unexpected \"%s\" in: %s\n", (w), _d);                                                    \
      free(_d);                                                                                              \
      fail();                                                                                                \
    }                                                                                                        \
  } while (0)

static char **build_ok(const struct qemu_opts *o)
{
  tart_error_t err = NULL;
  char **argv = NULL;
  int r = qemu_cmdline_build(o, &argv, &err);
  if (r != 0)
    fail_msg("build failed: %s", err ? err->msg : "(no message)");
  assert_null(err);
  assert_non_null(argv);
  return argv;
}

/* Build must fail with exit_code, message containing needle; argv untouched. */
static void build_fails(const struct qemu_opts *o, int exit_code, const char *needle)
{
  tart_error_t err = NULL;
  char **argv = (char **)0x1;
  assert_int_equal(qemu_cmdline_build(o, &argv, &err), -1);
  assert_ptr_equal(argv, (char **)0x1);
  assert_non_null(err);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
  assert_int_equal(err->exit_code, exit_code);
  tart_error_release(&err);
}

/* ---- machine, accelerator, CPU, memory ----------------------------------- */

static void test_binary_for(void **state)
{
  (void)state;
  assert_string_equal(qemu_binary_for(VM_ARCH_AMD64), "qemu-system-x86_64");
  assert_string_equal(qemu_binary_for(VM_ARCH_ARM64), "qemu-system-aarch64");
}

static void test_amd64_tcg_basics(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_string_equal(argv[0], "qemu-system-x86_64");
  assert_pair(argv, "-machine", "q35");
  assert_pair(argv, "-accel", "tcg");
  assert_pair(argv, "-cpu", "max");
  assert_no_pair(argv, "-accel", "kvm");
  assert_pair(argv, "-smp", "4");
  assert_pair(argv, "-m", "4096M");
  assert_pair(argv, "-name", "guest=tart-myvm");
  assert_true(has_word(argv, "-no-user-config"));
  assert_int_equal(count_opt(argv, "-machine"), 1);
  assert_int_equal(count_opt(argv, "-accel"), 1);
  /* x86 keeps QEMU's default VGA: no display device of our own. */
  assert_null(value_with_prefix(argv, "-device", "virtio-gpu"));
  assert_null(value_with_prefix(argv, "-device", "usb-kbd"));
  assert_pair(argv, "-device", "qemu-xhci,id=xhci");
  assert_pair(argv, "-device", "usb-tablet,bus=xhci.0");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_amd64_kvm(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.kvm = true;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-accel", "kvm");
  assert_pair(argv, "-cpu", "host");
  assert_no_pair(argv, "-accel", "tcg");
  assert_no_pair(argv, "-cpu", "max");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_arm64_tcg(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.firmware_code = "/usr/share/AAVMF/AAVMF_CODE.fd";
  vm_config_set_display(&f.cfg, 1920, 1080, VM_DISPLAY_UNIT_NONE);
  char **argv = build_ok(&f.o);
  assert_string_equal(argv[0], "qemu-system-aarch64");
  assert_pair(argv, "-machine", "virt,gic-version=max");
  assert_pair(argv, "-accel", "tcg");
  assert_pair(argv, "-cpu", "max,pauth-impdef=on");
  assert_pair(argv, "-device", "virtio-gpu-pci,xres=1920,yres=1080");
  assert_pair(argv, "-device", "usb-kbd,bus=xhci.0");
  assert_pair(argv, "-device", "usb-tablet,bus=xhci.0");
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd");
  assert_no_pair(argv, "-machine", "q35");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_arm64_kvm(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.kvm = true;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-accel", "kvm");
  assert_pair(argv, "-cpu", "host");
  assert_pair(argv, "-machine", "virt,gic-version=max");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_cpu_and_memory_values(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  vm_config_set_cpu(&f.cfg, 8);
  vm_config_set_memory(&f.cfg, 512ULL * 1024 * 1024);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-smp", "8");
  assert_pair(argv, "-m", "512M");
  qemu_cmdline_free(argv);

  /* A size that is not a whole number of MiB is rounded up, never down. */
  vm_config_set_cpu(&f.cfg, 1);
  vm_config_set_memory(&f.cfg, 2048ULL * 1024 * 1024 + 1);
  argv = build_ok(&f.o);
  assert_pair(argv, "-smp", "1");
  assert_pair(argv, "-m", "2049M");
  qemu_cmdline_free(argv);

  vm_config_set_memory(&f.cfg, 1);
  argv = build_ok(&f.o);
  assert_pair(argv, "-m", "1M");
  qemu_cmdline_free(argv);

  vm_config_set_memory(&f.cfg, 64ULL * 1024 * 1024 * 1024);
  argv = build_ok(&f.o);
  assert_pair(argv, "-m", "65536M");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_invalid_config_values(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  f.cfg.cpu_count = 0;
  build_fails(&f.o, TART_EXIT_FAILURE, "CPU count");
  f.cfg.cpu_count = 2;
  f.cfg.memory_size = 0;
  build_fails(&f.o, TART_EXIT_FAILURE, "memory size");
  f.cfg.memory_size = 1ULL << 30;
  f.cfg.os = VM_OS_DARWIN;
  build_fails(&f.o, TART_EXIT_FAILURE, "macOS");
  f.cfg.os = VM_OS_LINUX;
  snprintf(f.cfg.disk_format, sizeof(f.cfg.disk_format), "asif");
  build_fails(&f.o, TART_EXIT_FAILURE, "asif");
  snprintf(f.cfg.disk_format, sizeof(f.cfg.disk_format), "raw");
  f.o.vm_dir = NULL;
  build_fails(&f.o, TART_EXIT_FAILURE, "VM directory");
  f.o.vm_dir = "/x";
  f.o.cfg = NULL;
  build_fails(&f.o, TART_EXIT_FAILURE, "configuration");
  fixture_clear(&f);
}

/* ---- firmware ------------------------------------------------------------ */

static void test_efi_pflash(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd");
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=1,file=/home/u/.tart/vms/myvm/nvram.bin");
  qemu_cmdline_free(argv);

  /* A trailing slash on vm_dir does not double. */
  f.o.vm_dir = "/vms/a/";
  argv = build_ok(&f.o);
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=1,file=/vms/a/nvram.bin");
  assert_pair(argv, "-name", "guest=tart-a");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_bios_has_no_pflash(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  f.o.firmware_code = "/ignored/for/bios.fd";
  char **argv = build_ok(&f.o);
  assert_null(value_with_prefix(argv, "-drive", "if=pflash"));
  assert_no_word(argv, "-bios");
  for (size_t i = 0; argv[i]; i++)
    assert_null(strstr(argv[i], "nvram.bin"));
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_arm64_bios_is_an_error(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_BIOS);
  build_fails(&f.o, TART_EXIT_FAILURE, "arm64 VMs need UEFI");
  fixture_clear(&f);
}

static void test_efi_without_firmware_is_an_error(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.firmware_code = NULL;
  build_fails(&f.o, TART_EXIT_FAILURE, "UEFI firmware");
  f.o.firmware_code = "";
  build_fails(&f.o, TART_EXIT_FAILURE, "UEFI firmware");
  fixture_clear(&f);
}

/* ---- nested ------------------------------------------------------------- */

static void test_nested_needs_kvm(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.nested = true;
  build_fails(&f.o, TART_EXIT_FAILURE, "nested virtualization needs KVM (/dev/kvm)");
  fixture_clear(&f);
}

static void test_nested_with_kvm(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.nested = f.o.kvm = true;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-cpu", "host");
  assert_pair(argv, "-machine", "q35");
  qemu_cmdline_free(argv);
  fixture_clear(&f);

  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.nested = f.o.kvm = true;
  argv = build_ok(&f.o);
  assert_pair(argv, "-machine", "virt,gic-version=max,virtualization=on");
  assert_pair(argv, "-cpu", "host");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* -nodefaults: no device the guest was not given (an empty CD-ROM, a
 * parallel port); amd64 keeps its VGA.  Off (a legacy restore): as before. */
static void test_nodefaults(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_false(has_word(argv, "-nodefaults"));
  assert_false(has_word(argv, "-vga"));
  qemu_cmdline_free(argv);
  f.o.nodefaults = true;
  argv = build_ok(&f.o);
  assert_true(has_word(argv, "-nodefaults"));
  assert_pair(argv, "-vga", "std");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.nodefaults = true;
  argv = build_ok(&f.o);
  assert_true(has_word(argv, "-nodefaults"));
  assert_false(has_word(argv, "-vga"));
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* ---- disks -------------------------------------------------------------- */

static void test_root_disk(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-drive",
              "file=/home/u/.tart/vms/myvm/disk.img,format=raw,if=none,id=root,discard=unmap,"
              "detect-zeroes=unmap,cache=writeback");
  assert_pair(argv, "-device", "virtio-blk-pci,drive=root,bootindex=0");
  assert_int_equal(count_opt(argv, "-drive"), 3); /* 2 pflash + root */
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_extra_disks(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  const struct qemu_disk disks[] = {
      {.path = "/data/rw.img"},
      {.path = "/data/debian.iso", .readonly = true},
      {.path = "/dev/sdb", .caching = QEMU_CACHING_UNCACHED},
      {.path = "/data/scratch.img", .sync = QEMU_SYNC_NONE},
      {.path = "/data/both.img", .sync = QEMU_SYNC_NONE, .caching = QEMU_CACHING_UNCACHED},
      {.path = "/data/fsync.img", .sync = QEMU_SYNC_FSYNC, .caching = QEMU_CACHING_CACHED},
  };
  f.o.extra_disks = disks;
  f.o.n_extra_disks = ARRAY_SIZE(disks);
  char **argv = build_ok(&f.o);
  assert_pair(
      argv, "-drive",
      "file=/data/rw.img,format=raw,if=none,id=disk0,discard=unmap,detect-zeroes=unmap,cache=writeback");
  assert_pair(argv, "-device", "virtio-blk-pci,drive=disk0,bootindex=1");
  assert_pair(argv, "-drive",
              "file=/data/debian.iso,format=raw,if=none,id=disk1,readonly=on,cache=writeback");
  assert_pair(argv, "-device", "virtio-blk-pci,drive=disk1,bootindex=2");
  assert_pair(argv, "-drive",
              "file=/dev/sdb,format=raw,if=none,id=disk2,discard=unmap,detect-zeroes=unmap,cache=none");
  assert_pair(
      argv, "-drive",
      "file=/data/scratch.img,format=raw,if=none,id=disk3,discard=unmap,detect-zeroes=unmap,cache=unsafe");
  assert_pair(argv, "-drive",
              "file=/data/both.img,format=raw,if=none,id=disk4,discard=unmap,detect-zeroes=unmap,"
              "cache.direct=on,cache.no-flush=on");
  assert_pair(
      argv, "-drive",
      "file=/data/fsync.img,format=raw,if=none,id=disk5,discard=unmap,detect-zeroes=unmap,cache=writeback");
  assert_pair(argv, "-device", "virtio-blk-pci,drive=disk5,bootindex=6");
  /* The boot order: the root disk, then each disk as given, so that an
   * empty root disk falls through to an installer (docs/upstream.md,
   * "Running a VM"). */
  assert_int_equal(count_opt(argv, "-drive"), 7);
  assert_pair(argv, "-device", "virtio-blk-pci,drive=root,bootindex=0");
  size_t disks_seen = 0;
  for (size_t i = 0; argv[i]; i++) {
    if (strncmp(argv[i], "virtio-blk-pci,", 15) != 0)
      continue;
    char want[64];
    if (strstr(argv[i], "drive=root"))
      snprintf(want, sizeof(want), "virtio-blk-pci,drive=root,bootindex=0");
    else
      snprintf(want, sizeof(want), "virtio-blk-pci,drive=disk%zu,bootindex=%zu", disks_seen - 1, disks_seen);
    assert_string_equal(argv[i], want);
    disks_seen++;
  }
  assert_int_equal(disks_seen, 7);
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_disk_urls(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  const struct qemu_disk ok[] = {
      {.path = "nbd://localhost:10809/export", .readonly = true},
      {.path = "nbd+unix:///export?socket=/run/nbd.sock"},
  };
  f.o.extra_disks = ok;
  f.o.n_extra_disks = ARRAY_SIZE(ok);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-drive",
              "file=nbd://localhost:10809/export,format=raw,if=none,id=disk0,readonly=on,cache=writeback");
  assert_non_null(
      value_with_prefix(argv, "-drive", "file=nbd+unix:///export?socket=/run/nbd.sock,format=raw"));
  qemu_cmdline_free(argv);

  const struct qemu_disk bad[] = {{.path = "https://example.com/disk.img"}};
  f.o.extra_disks = bad;
  f.o.n_extra_disks = 1;
  build_fails(&f.o, TART_EXIT_USAGE, "unsupported URL scheme");
  const struct qemu_disk empty[] = {{.path = ""}};
  f.o.extra_disks = empty;
  build_fails(&f.o, TART_EXIT_USAGE, "empty path");
  fixture_clear(&f);
}

static void test_commas_in_paths_are_escaped(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.vm_dir = "/vms/a,b";
  f.o.firmware_code = "/fw/code,1.fd";
  f.o.qmp_socket = "q,mp.sock";
  f.o.qga_socket = "q,ga.sock";
  f.o.monitor_socket = "mo,n.sock";
  f.o.serial_path = "logs/con,sole.log";
  const struct qemu_disk disks[] = {{.path = "/d/x,format=qcow2.img", .readonly = true}};
  f.o.extra_disks = disks;
  f.o.n_extra_disks = 1;
  const struct qemu_share shares[] = {{.path = "/src/a,b"}};
  f.o.shares = shares;
  f.o.n_shares = 1;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-name", "guest=tart-a,,b");
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/code,,1.fd");
  assert_pair(argv, "-drive", "if=pflash,format=raw,unit=1,file=/vms/a,,b/nvram.bin");
  assert_pair(
      argv, "-drive",
      "file=/vms/a,,b/disk.img,format=raw,if=none,id=root,discard=unmap,detect-zeroes=unmap,cache=writeback");
  /* The injected "format=qcow2" stays part of the file name. */
  assert_pair(argv, "-drive",
              "file=/d/x,,format=qcow2.img,format=raw,if=none,id=disk0,readonly=on,cache=writeback");
  assert_pair(argv, "-chardev", "socket,id=qmp0,path=q,,mp.sock,server=on,wait=off");
  assert_pair(argv, "-chardev", "socket,id=qga0,path=q,,ga.sock,server=on,wait=off");
  assert_pair(argv, "-chardev", "socket,id=mon0,path=mo,,n.sock,server=on,wait=off");
  assert_pair(argv, "-mon", "chardev=mon0,mode=control");
  assert_pair(argv, "-chardev", "file,id=serial0,path=logs/con,,sole.log");
  assert_pair(argv, "-virtfs",
              "local,path=/src/a,,b,mount_tag=com.apple.virtio-fs.automount,security_model=none,"
              "multidevs=remap,id=fs0");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_relative_paths_that_look_like_protocols(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  f.o.vm_dir = "my:vm";
  const struct qemu_disk disks[] = {{.path = "json:{}.img"}, {.path = "dir/a:b.img"}, {.path = "plain.img"}};
  f.o.extra_disks = disks;
  f.o.n_extra_disks = ARRAY_SIZE(disks);
  char **argv = build_ok(&f.o);
  assert_non_null(value_with_prefix(argv, "-drive", "file=./my:vm/disk.img,"));
  assert_non_null(value_with_prefix(argv, "-drive", "file=./json:{}.img,"));
  /* A '/' before the ':' already makes it a plain file for QEMU. */
  assert_non_null(value_with_prefix(argv, "-drive", "file=dir/a:b.img,"));
  assert_non_null(value_with_prefix(argv, "-drive", "file=plain.img,"));
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* ---- network ------------------------------------------------------------- */

static void test_user_network_and_mac(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-netdev", "user,id=net0");
  assert_pair(argv, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=");
  assert_no_word(argv, "-nic");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_forwards(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  const struct qemu_forward fw[] = {
      {.proto = QEMU_PROTO_TCP, .host_port = 2222, .guest_port = 22},
      {.proto = QEMU_PROTO_UDP, .host_port = 5353, .guest_port = 53},
      {.proto = QEMU_PROTO_TCP, .host_addr = "0.0.0.0", .host_port = 8080, .guest_port = 80},
      /* Same port, other protocol: allowed. */
      {.proto = QEMU_PROTO_UDP, .host_port = 2222, .guest_port = 22},
  };
  f.o.forwards = fw;
  f.o.n_forwards = ARRAY_SIZE(fw);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-netdev",
              "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:127.0.0.1:5353-:53,"
              "hostfwd=tcp:0.0.0.0:8080-:80,hostfwd=udp:127.0.0.1:2222-:22");
  qemu_cmdline_free(argv);

  const struct qemu_forward dup[] = {
      {.host_port = 2222, .guest_port = 22},
      {.host_addr = "127.0.0.1", .host_port = 2222, .guest_port = 23},
  };
  f.o.forwards = dup;
  f.o.n_forwards = ARRAY_SIZE(dup);
  build_fails(&f.o, TART_EXIT_USAGE, "forwarded twice");

  const struct qemu_forward zero[] = {{.host_port = 0, .guest_port = 22}};
  f.o.forwards = zero;
  f.o.n_forwards = 1;
  build_fails(&f.o, TART_EXIT_USAGE, "1 to 65535");

  f.o.forwards = fw;
  f.o.n_forwards = 1;
  f.o.net = QEMU_NET_NONE;
  build_fails(&f.o, TART_EXIT_USAGE, "user-mode networking");
  f.o.net = QEMU_NET_TAP_FD;
  f.o.tap_fd = 5;
  build_fails(&f.o, TART_EXIT_USAGE, "user-mode networking");
  fixture_clear(&f);
}

static void test_tap_fd_network(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.net = QEMU_NET_TAP_FD;
  f.o.tap_fd = 7;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-netdev", "tap,id=net0,fd=7");
  assert_pair(argv, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=");
  assert_null(value_with_prefix(argv, "-netdev", "user"));
  qemu_cmdline_free(argv);

  /* Repeated --net-bridged: one NIC per tap, MACs following the config's. */
  const int more[] = {8, 9};
  f.o.more_tap_fds = more;
  f.o.n_more_tap_fds = 2;
  argv = build_ok(&f.o);
  assert_pair(argv, "-netdev", "tap,id=net1,fd=8");
  assert_pair(argv, "-device", "virtio-net-pci,netdev=net1,mac=52:54:00:12:34:57,romfile=");
  assert_pair(argv, "-netdev", "tap,id=net2,fd=9");
  assert_pair(argv, "-device", "virtio-net-pci,netdev=net2,mac=52:54:00:12:34:58,romfile=");
  qemu_cmdline_free(argv);
  f.o.n_more_tap_fds = 0;

  f.o.tap_fd = -1;
  build_fails(&f.o, TART_EXIT_FAILURE, "tap file descriptor");
  fixture_clear(&f);
}

static void test_bridge_helper_network(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  f.o.net = QEMU_NET_BRIDGE;
  f.o.bridge = "tart0";
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-netdev", "bridge,id=net0,br=tart0");
  assert_pair(argv, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=");
  qemu_cmdline_free(argv);
  f.o.bridge_helper = "/usr/lib/qemu/qemu-bridge-helper";
  argv = build_ok(&f.o);
  assert_pair(argv, "-netdev", "bridge,id=net0,br=tart0,helper=/usr/lib/qemu/qemu-bridge-helper");
  qemu_cmdline_free(argv);
  f.o.bridge = NULL;
  build_fails(&f.o, TART_EXIT_FAILURE, "bridge name");
  fixture_clear(&f);
}

static void test_no_network(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.net = QEMU_NET_NONE;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-nic", "none");
  assert_no_word(argv, "-netdev");
  assert_null(value_with_prefix(argv, "-device", "virtio-net-pci"));
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* ---- devices, control channels ------------------------------------------ */

static void test_rng_agent_qmp(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-device", "virtio-rng-pci");
  assert_pair(argv, "-device", "virtio-serial-pci");
  assert_pair(argv, "-chardev", "socket,id=qga0,path=qga.sock,server=on,wait=off");
  assert_pair(argv, "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0");
  assert_pair(argv, "-chardev", "socket,id=qmp0,path=qmp.sock,server=on,wait=off");
  assert_pair(argv, "-mon", "chardev=qmp0,mode=control");
  qemu_cmdline_free(argv);

  f.o.qga_socket = NULL;
  f.o.qmp_socket = NULL;
  argv = build_ok(&f.o);
  assert_no_word(argv, "-mon");
  assert_null(value_with_prefix(argv, "-chardev", "socket"));
  assert_null(value_with_prefix(argv, "-device", "virtserialport"));
  assert_pair(argv, "-device", "virtio-rng-pci");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_unwanted_flags_absent(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **argv = build_ok(&f.o);
  assert_no_word(argv, "-no-reboot");
  assert_no_word(argv, "-no-shutdown");
  assert_no_word(argv, "-nodefaults");
  assert_no_word(argv, "-nographic");
  assert_no_word(argv, "-daemonize");
  assert_no_word(argv, "-incoming");
  assert_no_word(argv, "-S");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_incoming(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.incoming = "exec:cat state.qemusave";
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-incoming", "exec:cat state.qemusave");
  assert_int_equal(count_opt(argv, "-incoming"), 1);
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_name(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  f.o.vm_dir = "/vms/ubuntu-22.04//";
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-name", "guest=tart-ubuntu-22.04");
  qemu_cmdline_free(argv);
  /* Explicit name wins (the caller may have chdir'ed: vm_dir ".") */
  f.o.vm_dir = ".";
  f.o.name = "a=b";
  argv = build_ok(&f.o);
  assert_pair(argv, "-name", "guest=tart-a=b");
  assert_pair(argv, "-drive",
              "file=./disk.img,format=raw,if=none,id=root,discard=unmap,detect-zeroes=unmap,cache=writeback");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* ---- display -------------------------------------------------------------- */

static void test_display_modes(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);

  f.o.display = QEMU_DISPLAY_NONE;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-display", "none");
  assert_no_word(argv, "-vnc");
  assert_no_word(argv, "-vga");
  qemu_cmdline_free(argv);

  f.o.display = QEMU_DISPLAY_VNC;
  argv = build_ok(&f.o);
  assert_pair(argv, "-vnc", "127.0.0.1:0,to=99,password=on");
  assert_pair(argv, "-display", "none");
  assert_int_equal(count_opt(argv, "-display"), 1);
  qemu_cmdline_free(argv);

  f.o.display = QEMU_DISPLAY_WINDOW;
  argv = build_ok(&f.o);
  assert_pair(argv, "-display", "gtk");
  assert_no_word(argv, "-vnc");
  qemu_cmdline_free(argv);

  f.o.window_ui = "sdl";
  argv = build_ok(&f.o);
  assert_pair(argv, "-display", "sdl");
  qemu_cmdline_free(argv);

  /* --vnc --graphics: the window and the VNC server together. */
  f.o.display = QEMU_DISPLAY_WINDOW_VNC;
  argv = build_ok(&f.o);
  assert_pair(argv, "-vnc", "127.0.0.1:0,to=99,password=on");
  assert_pair(argv, "-display", "sdl");
  assert_int_equal(count_opt(argv, "-display"), 1);
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

/* The guest-visible devices must not depend on display or serial choices:
 * a VM suspended with one must restore with the other. */
static void collect_devices(char **argv, char *out, size_t n)
{
  out[0] = '\0';
  for (size_t i = 0; argv[i] && argv[i + 1]; i++) {
    if (strcmp(argv[i], "-device") == 0 || strcmp(argv[i], "-machine") == 0 || strcmp(argv[i], "-cpu") == 0 ||
        strcmp(argv[i], "-virtfs") == 0 || strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "-smp") == 0) {
      strncat(out, argv[i + 1], n - strlen(out) - 2);
      strncat(out, "|", n - strlen(out) - 1);
    }
  }
}

static void test_device_model_independent_of_ui(void **state)
{
  (void)state;
  for (int a = 0; a < 2; a++) {
    struct fixture f;
    fixture_init(&f, a ? VM_ARCH_ARM64 : VM_ARCH_AMD64, VM_FIRMWARE_EFI);
    char ref[4096], cur[4096];
    char **argv = build_ok(&f.o);
    collect_devices(argv, ref, sizeof(ref));
    qemu_cmdline_free(argv);
    const enum qemu_display displays[] = {QEMU_DISPLAY_VNC, QEMU_DISPLAY_WINDOW};
    const enum qemu_serial serials[] = {QEMU_SERIAL_PTY, QEMU_SERIAL_TTY, QEMU_SERIAL_NONE};
    for (size_t d = 0; d < ARRAY_SIZE(displays); d++) {
      for (size_t s = 0; s < ARRAY_SIZE(serials); s++) {
        f.o.display = displays[d];
        f.o.serial = serials[s];
        f.o.serial_path = "/dev/ttyUSB0";
        argv = build_ok(&f.o);
        collect_devices(argv, cur, sizeof(cur));
        assert_string_equal(ref, cur);
        qemu_cmdline_free(argv);
      }
    }
    fixture_clear(&f);
  }
}

/* ---- serial -------------------------------------------------------------- */

static void test_serial_modes(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);

  char **argv = build_ok(&f.o);
  assert_pair(argv, "-chardev", "file,id=serial0,path=logs/console.log");
  assert_pair(argv, "-serial", "chardev:serial0");
  assert_int_equal(count_opt(argv, "-serial"), 1);
  qemu_cmdline_free(argv);

  f.o.serial = QEMU_SERIAL_PTY;
  f.o.serial_path = NULL;
  argv = build_ok(&f.o);
  assert_pair(argv, "-chardev", "pty,id=serial0");
  assert_pair(argv, "-serial", "chardev:serial0");
  qemu_cmdline_free(argv);

  f.o.serial = QEMU_SERIAL_PATH;
  f.o.serial_path = "/tmp/serial.out";
  argv = build_ok(&f.o);
  assert_pair(argv, "-chardev", "file,id=serial0,path=/tmp/serial.out");
  assert_pair(argv, "-serial", "chardev:serial0");
  qemu_cmdline_free(argv);

  f.o.serial = QEMU_SERIAL_TTY;
  f.o.serial_path = "/dev/pts/7";
  argv = build_ok(&f.o);
  assert_pair(argv, "-chardev", "serial,id=serial0,path=/dev/pts/7");
  assert_pair(argv, "-serial", "chardev:serial0");
  qemu_cmdline_free(argv);

  f.o.serial = QEMU_SERIAL_NONE;
  argv = build_ok(&f.o);
  assert_pair(argv, "-serial", "none");
  assert_null(value_with_prefix(argv, "-chardev", "file"));
  qemu_cmdline_free(argv);

  f.o.serial_path = NULL;
  f.o.serial = QEMU_SERIAL_FILE;
  build_fails(&f.o, TART_EXIT_FAILURE, "needs a path");
  f.o.serial = QEMU_SERIAL_TTY;
  f.o.serial_path = "";
  build_fails(&f.o, TART_EXIT_FAILURE, "needs a path");
  fixture_clear(&f);
}

/* ---- shares --------------------------------------------------------------- */

static void test_share_default_tag(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  const struct qemu_share sh[] = {{.path = "/home/u/src", .readonly = true}};
  f.o.shares = sh;
  f.o.n_shares = 1;
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-virtfs",
              "local,path=/home/u/src,mount_tag=com.apple.virtio-fs.automount,security_model=none,"
              "multidevs=remap,id=fs0,readonly=on");
  assert_int_equal(count_opt(argv, "-virtfs"), 1);
  qemu_cmdline_free(argv);

  /* A single named share still uses the tag. */
  const struct qemu_share named[] = {{.name = "src", .path = "/home/u/src"}};
  f.o.shares = named;
  argv = build_ok(&f.o);
  assert_pair(argv, "-virtfs",
              "local,path=/home/u/src,mount_tag=com.apple.virtio-fs.automount,security_model=none,"
              "multidevs=remap,id=fs0");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_shares_grouped_by_tag(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  const struct qemu_share sh[] = {
      {.name = "build", .path = "/b"},
      {.name = "sources", .path = "/s", .readonly = true},
      {.path = "/cache", .tag = "cache"},
  };
  f.o.shares = sh;
  f.o.n_shares = ARRAY_SIZE(sh);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-virtfs", "local,path=/b,mount_tag=build,security_model=none,multidevs=remap,id=fs0");
  assert_pair(argv, "-virtfs",
              "local,path=/s,mount_tag=sources,security_model=none,multidevs=remap,id=fs1,readonly=on");
  assert_pair(argv, "-virtfs",
              "local,path=/cache,mount_tag=cache,security_model=none,multidevs=remap,id=fs2");
  assert_int_equal(count_opt(argv, "-virtfs"), 3);
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_share_errors(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);

  const struct qemu_share unnamed[] = {{.name = "a", .path = "/a"}, {.path = "/b"}};
  f.o.shares = unnamed;
  f.o.n_shares = 2;
  build_fails(&f.o, TART_EXIT_USAGE,
              "invalid --dir syntax: for multiple directory shares each one of them should be named");

  /* Two unnamed shares under different tags are fine... */
  const struct qemu_share tagged[] = {{.path = "/a", .tag = "one"}, {.path = "/b", .tag = "two"}};
  f.o.shares = tagged;
  char **argv = build_ok(&f.o);
  assert_non_null(value_with_prefix(argv, "-virtfs", "local,path=/a,mount_tag=one,"));
  assert_non_null(value_with_prefix(argv, "-virtfs", "local,path=/b,mount_tag=two,"));
  qemu_cmdline_free(argv);

  /* ...but under one explicit tag they must be named. */
  const struct qemu_share same[] = {{.path = "/a", .tag = "t"}, {.path = "/b", .tag = "t"}};
  f.o.shares = same;
  build_fails(&f.o, TART_EXIT_USAGE, "should be named");

  /* A name-derived tag colliding with another group's tag. */
  const struct qemu_share clash[] = {
      {.name = "x", .path = "/a"}, {.name = "y", .path = "/b"}, {.path = "/c", .tag = "x"}};
  f.o.shares = clash;
  f.o.n_shares = 3;
  build_fails(&f.o, TART_EXIT_USAGE, "used twice");

  /* Duplicate names under one tag. */
  const struct qemu_share dupname[] = {{.name = "x", .path = "/a"}, {.name = "x", .path = "/b"}};
  f.o.shares = dupname;
  f.o.n_shares = 2;
  build_fails(&f.o, TART_EXIT_USAGE, "used twice");

  /* 9p tag length and characters. */
  const struct qemu_share longtag[] = {{.path = "/a", .tag = "abcdefghijklmnopqrstuvwxyz012345"}}; /* 32 */
  f.o.shares = longtag;
  f.o.n_shares = 1;
  build_fails(&f.o, TART_EXIT_USAGE, "9p allows 31");
  const struct qemu_share maxtag[] = {{.path = "/a", .tag = "abcdefghijklmnopqrstuvwxyz01234"}}; /* 31 */
  f.o.shares = maxtag;
  argv = build_ok(&f.o);
  qemu_cmdline_free(argv);
  const struct qemu_share spacetag[] = {{.path = "/a", .tag = "my tag"}};
  f.o.shares = spacetag;
  build_fails(&f.o, TART_EXIT_USAGE, "printable ASCII");
  const struct qemu_share emptypath[] = {{.path = ""}};
  f.o.shares = emptypath;
  build_fails(&f.o, TART_EXIT_USAGE, "empty path");
  fixture_clear(&f);
}

static void test_virtiofs_devices_and_shared_ram(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  const struct qemu_share sh[] = {
      {.name = "build", .path = "/b"},
      {.name = "sources", .path = "/s", .readonly = true},
      {.path = "/cache", .tag = "cache,x"},
  };
  const char *const socks[] = {"vfs0.sock", "dir,1/vfs1.sock"};
  f.o.shares = sh;
  f.o.n_shares = ARRAY_SIZE(sh);
  f.o.share_fs = QEMU_FS_VIRTIOFS;
  f.o.virtiofs_sockets = socks;
  f.o.n_virtiofs_sockets = 2;
  char **argv = build_ok(&f.o);
  /* One device per tag, in the order of each tag's first share. */
  assert_pair(argv, "-chardev", "socket,id=vfs0,path=vfs0.sock");
  assert_pair(argv, "-device", "vhost-user-fs-pci,chardev=vfs0,tag=com.apple.virtio-fs.automount");
  assert_pair(argv, "-chardev", "socket,id=vfs1,path=dir,,1/vfs1.sock");
  assert_pair(argv, "-device", "vhost-user-fs-pci,chardev=vfs1,tag=cache,,x");
  assert_int_equal(count_opt(argv, "-virtfs"), 0);
  /* Guest RAM is shared memory that virtiofsd can map; same size as -m. */
  assert_pair(argv, "-machine", "q35,memory-backend=ram0");
  assert_pair(argv, "-object", "memory-backend-memfd,id=ram0,size=4096M,share=on");
  assert_pair(argv, "-m", "4096M");
  qemu_cmdline_free(argv);

  /* A socket count that does not match the exports is a caller bug. */
  f.o.n_virtiofs_sockets = 1;
  build_fails(&f.o, TART_EXIT_FAILURE, "2 virtio-fs exports but 1 sockets");

  /* No shares: no shared RAM either (nothing maps it). */
  f.o.n_shares = 0;
  f.o.n_virtiofs_sockets = 0;
  argv = build_ok(&f.o);
  assert_pair(argv, "-machine", "q35");
  assert_int_equal(count_opt(argv, "-object"), 0);
  qemu_cmdline_free(argv);
  fixture_clear(&f);

  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.firmware_code = "/usr/share/AAVMF/AAVMF_CODE.fd";
  const struct qemu_share one[] = {{.path = "/x"}};
  f.o.shares = one;
  f.o.n_shares = 1;
  f.o.share_fs = QEMU_FS_VIRTIOFS;
  f.o.virtiofs_sockets = socks;
  f.o.n_virtiofs_sockets = 1;
  argv = build_ok(&f.o);
  assert_pair(argv, "-machine", "virt,gic-version=max,memory-backend=ram0");
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_share_exports(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  struct qemu_export *ex = NULL;
  size_t n = 0;

  /* Upstream's grouping: names become subdirectories of the tag. */
  const struct qemu_share sh[] = {
      {.name = "a", .path = "/a"},
      {.path = "/t", .tag = "t"},
      {.name = "b", .path = "/b"},
      {.name = "solo", .path = "/solo", .tag = "named"},
  };
  assert_int_equal(qemu_share_exports(sh, ARRAY_SIZE(sh), QEMU_FS_VIRTIOFS, &ex, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_string_equal(ex[0].tag, QEMU_SHARE_DEFAULT_TAG);
  assert_true(ex[0].subdirs);
  assert_int_equal(ex[0].n_members, 2);
  assert_int_equal(ex[0].members[0], 0);
  assert_int_equal(ex[0].members[1], 2);
  assert_string_equal(ex[1].tag, "t");
  assert_false(ex[1].subdirs);
  assert_int_equal(ex[1].n_members, 1);
  assert_int_equal(ex[1].members[0], 1);
  /* A single named share is a subdirectory too, as upstream. */
  assert_string_equal(ex[2].tag, "named");
  assert_true(ex[2].subdirs);
  qemu_exports_free(ex, n);

  /* The same shares over 9p: one export each, multi-share tags by name. */
  assert_int_equal(qemu_share_exports(sh, ARRAY_SIZE(sh), QEMU_FS_9P, &ex, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(ex[0].tag, "a");
  assert_string_equal(ex[1].tag, "t");
  assert_string_equal(ex[2].tag, "b");
  assert_string_equal(ex[3].tag, "named");
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(ex[i].n_members, 1);
    assert_int_equal(ex[i].members[0], i);
    assert_false(ex[i].subdirs);
  }
  qemu_exports_free(ex, n);

  assert_int_equal(qemu_share_exports(NULL, 0, QEMU_FS_VIRTIOFS, &ex, &n, &err), 0);
  assert_null(ex);
  assert_int_equal(n, 0);

  /* virtio-fs only: names must be directory names, unique per tag; tags up
   * to 36 bytes (9p: 31). */
  static const struct {
    struct qemu_share sh[2];
    size_t n;
    const char *needle;
  } bad[] = {
      {{{.name = "..", .path = "/a"}}, 1, "cannot be a directory name"},
      {{{.name = "a/b", .path = "/a"}}, 1, "cannot be a directory name"},
      {{{.name = "x", .path = "/a"}, {.name = "x", .path = "/b"}}, 2, "used twice under one tag"},
      {{{.path = "/a"}, {.name = "x", .path = "/b"}}, 2, "should be named"},
      {{{.path = "/a", .tag = "abcdefghijklmnopqrstuvwxyz0123456789x"}}, 1, "virtio-fs allows 36"},
      {{{.path = "", .tag = "t"}}, 1, "empty path"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    assert_int_equal(qemu_share_exports(bad[i].sh, bad[i].n, QEMU_FS_VIRTIOFS, &ex, &n, &err), -1);
    assert_non_null(strstr(err->msg, bad[i].needle));
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_null(ex);
    tart_error_release(&err);
  }
  const struct qemu_share tag36[] = {{.path = "/a", .tag = "abcdefghijklmnopqrstuvwxyz0123456789"}};
  assert_int_equal(qemu_share_exports(tag36, 1, QEMU_FS_VIRTIOFS, &ex, &n, &err), 0);
  qemu_exports_free(ex, n);
  assert_int_equal(qemu_share_exports(tag36, 1, QEMU_FS_9P, &ex, &n, &err), -1);
  assert_non_null(strstr(err->msg, "9p allows 31"));
  tart_error_release(&err);
}

static void test_device_summary(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char *s = qemu_device_summary(&f.o);
  assert_string_equal(s, "4 CPUs, 4096 MiB, 1 NIC, TCG");
  free(s);

  const struct qemu_disk disks[] = {{.path = "/a"}, {.path = "/b", .readonly = true}};
  const struct qemu_share sh[] = {{.name = "src", .path = "/s", .readonly = true, .tag = "w"},
                                  {.name = "out", .path = "/o", .tag = "w"},
                                  {.path = "/x"}};
  f.o.extra_disks = disks;
  f.o.n_extra_disks = 2;
  f.o.shares = sh;
  f.o.n_shares = 3;
  vm_config_set_cpu(&f.cfg, 1);
  s = qemu_device_summary(&f.o);
  assert_string_equal(s, "1 CPU, 4096 MiB, 1 NIC, extra disks [rw, ro], 9p shares [src ro, out, "
                         "com.apple.virtio-fs.automount], TCG");
  free(s);

  /* Paths, display, serial and the network backend do not count; NICs do. */
  const struct qemu_disk other[] = {{.path = "/elsewhere"}, {.path = "/b2", .readonly = true}};
  f.o.extra_disks = other;
  f.o.display = QEMU_DISPLAY_VNC;
  f.o.serial = QEMU_SERIAL_PTY;
  int fds[] = {5, 6};
  f.o.net = QEMU_NET_TAP_FD;
  f.o.tap_fd = 4;
  f.o.more_tap_fds = fds;
  f.o.n_more_tap_fds = 2;
  f.o.share_fs = QEMU_FS_VIRTIOFS;
  f.o.kvm = true;
  f.o.nested = true;
  s = qemu_device_summary(&f.o);
  assert_string_equal(s, "1 CPU, 4096 MiB, 3 NICs, extra disks [rw, ro], virtio-fs shares [w, "
                         "com.apple.virtio-fs.automount], KVM nested");
  free(s);
  f.o.net = QEMU_NET_NONE;
  f.o.n_shares = 0;
  f.o.n_extra_disks = 0;
  f.o.kvm = false;
  f.o.nested = false;
  s = qemu_device_summary(&f.o);
  assert_string_equal(s, "1 CPU, 4096 MiB, 0 NICs, TCG");
  free(s);

  /* Shares that cannot be grouped: no summary (the build reports why). */
  const struct qemu_share bad[] = {{.path = "/a"}, {.name = "n", .path = "/b"}};
  f.o.shares = bad;
  f.o.n_shares = 2;
  assert_null(qemu_device_summary(&f.o));
  fixture_clear(&f);
}

/* ---- parsers -------------------------------------------------------------- */

static void test_parse_disk_valid(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  struct qemu_disk d;

  assert_int_equal(qemu_parse_disk_arg("disk.bin", &d, &err), 0);
  assert_string_equal(d.path, "disk.bin");
  assert_false(d.readonly);
  assert_int_equal(d.sync, QEMU_SYNC_FULL);
  assert_int_equal(d.caching, QEMU_CACHING_AUTOMATIC);
  qemu_disk_clear(&d);

  assert_int_equal(qemu_parse_disk_arg("ubuntu.iso:ro", &d, &err), 0);
  assert_string_equal(d.path, "ubuntu.iso");
  assert_true(d.readonly);
  qemu_disk_clear(&d);

  assert_int_equal(qemu_parse_disk_arg("/a:b/c.img:sync=none,caching=uncached", &d, &err), 0);
  assert_string_equal(d.path, "/a:b/c.img");
  assert_false(d.readonly);
  assert_int_equal(d.sync, QEMU_SYNC_NONE);
  assert_int_equal(d.caching, QEMU_CACHING_UNCACHED);
  qemu_disk_clear(&d);

  assert_int_equal(qemu_parse_disk_arg("x.img:caching=cached,sync=fsync,ro", &d, &err), 0);
  assert_true(d.readonly);
  assert_int_equal(d.sync, QEMU_SYNC_FSYNC);
  assert_int_equal(d.caching, QEMU_CACHING_CACHED);
  qemu_disk_clear(&d);

  /* host:port is not mistaken for options. */
  assert_int_equal(qemu_parse_disk_arg("nbd://localhost:10809", &d, &err), 0);
  assert_string_equal(d.path, "nbd://localhost:10809");
  qemu_disk_clear(&d);
  assert_int_equal(qemu_parse_disk_arg("nbd://localhost:10809/myDisk:ro", &d, &err), 0);
  assert_string_equal(d.path, "nbd://localhost:10809/myDisk");
  assert_true(d.readonly);
  qemu_disk_clear(&d);

  assert_int_equal(qemu_parse_disk_arg("/dev/sdb", &d, &err), 0);
  assert_string_equal(d.path, "/dev/sdb");
  qemu_disk_clear(&d);

  setenv("HOME", "/home/tester", 1);
  assert_int_equal(qemu_parse_disk_arg("~/vm/extra.img:ro", &d, &err), 0);
  assert_string_equal(d.path, "/home/tester/vm/extra.img");
  qemu_disk_clear(&d);
  assert_int_equal(qemu_parse_disk_arg("~other/x.img", &d, &err), 0);
  assert_string_equal(d.path, "~other/x.img");
  qemu_disk_clear(&d);
  assert_null(err);
  qemu_disk_clear(&d); /* twice is fine */
}

static void test_parse_disk_invalid(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "", ":ro", "x.img:ro,bogus", "x.img:sync=maybe", "x.img:caching=", "x.img:ro,", "x.img:sync=none,rw",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    tart_error_t err = NULL;
    struct qemu_disk d = {.path = (char *)"sentinel"};
    if (qemu_parse_disk_arg(bad[i], &d, &err) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_null(d.path);
    tart_error_release(&err);
  }
  tart_error_t err = NULL;
  struct qemu_disk d;
  assert_int_equal(qemu_parse_disk_arg(NULL, &d, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  tart_error_release(&err);
  assert_int_equal(qemu_parse_disk_arg("x.img:ro,bogus", &d, &err), -1);
  assert_non_null(strstr(err->msg, "unknown option \"bogus\""));
  tart_error_release(&err);
}

static void test_parse_dir_valid(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  struct qemu_share s;
  setenv("HOME", "/home/tester", 1);

  assert_int_equal(qemu_parse_dir_arg("/src/build", &s, &err), 0);
  assert_null(s.name);
  assert_string_equal(s.path, "/src/build");
  assert_null(s.tag);
  assert_false(s.readonly);
  qemu_share_clear(&s);

  assert_int_equal(qemu_parse_dir_arg("~/src/sources:ro", &s, &err), 0);
  assert_null(s.name);
  assert_string_equal(s.path, "/home/tester/src/sources");
  assert_true(s.readonly);
  qemu_share_clear(&s);

  assert_int_equal(qemu_parse_dir_arg("build:~/src/build", &s, &err), 0);
  assert_string_equal(s.name, "build");
  assert_string_equal(s.path, "/home/tester/src/build");
  qemu_share_clear(&s);

  /* Upstream's comma form and the colon form. */
  assert_int_equal(qemu_parse_dir_arg("~/src/build:ro,tag=build", &s, &err), 0);
  assert_string_equal(s.path, "/home/tester/src/build");
  assert_string_equal(s.tag, "build");
  assert_true(s.readonly);
  qemu_share_clear(&s);
  assert_int_equal(qemu_parse_dir_arg("src:/x/y:ro:tag=T", &s, &err), 0);
  assert_string_equal(s.name, "src");
  assert_string_equal(s.path, "/x/y");
  assert_string_equal(s.tag, "T");
  assert_true(s.readonly);
  qemu_share_clear(&s);

  /* A colon inside a path whose first part has a '/'. */
  assert_int_equal(qemu_parse_dir_arg("/data/a:b", &s, &err), 0);
  assert_null(s.name);
  assert_string_equal(s.path, "/data/a:b");
  qemu_share_clear(&s);

  /* URLs keep their colons. */
  assert_int_equal(qemu_parse_dir_arg("https://example.com/a.tar.gz:ro", &s, &err), 0);
  assert_null(s.name);
  assert_string_equal(s.path, "https://example.com/a.tar.gz");
  assert_true(s.readonly);
  qemu_share_clear(&s);
  assert_int_equal(qemu_parse_dir_arg("n:http://example.com:8080/a.tar.gz", &s, &err), 0);
  assert_string_equal(s.name, "n");
  assert_string_equal(s.path, "http://example.com:8080/a.tar.gz");
  qemu_share_clear(&s);
  /* Schemes are case-insensitive (RFC 3986). */
  assert_int_equal(qemu_parse_dir_arg("HTTPS://example.com/a.tar.gz", &s, &err), 0);
  assert_null(s.name);
  assert_string_equal(s.path, "HTTPS://example.com/a.tar.gz");
  qemu_share_clear(&s);
  assert_null(err);
}

static void test_parse_dir_invalid(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "", ":/x", "name:", "/x:ro,bogus", "/x:tag=", ":ro", "/x:tag=a,rw", "/x:tag=a:tag=b", "/x:tag=a,tag=b",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    tart_error_t err = NULL;
    struct qemu_share s;
    if (qemu_parse_dir_arg(bad[i], &s, &err) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_null(s.path);
    assert_null(s.name);
    assert_null(s.tag);
    tart_error_release(&err);
  }
}

static void test_parse_forward_valid(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  struct qemu_forward f;
  assert_int_equal(qemu_parse_forward_arg("2222:22", &f, &err), 0);
  assert_int_equal(f.proto, QEMU_PROTO_TCP);
  assert_string_equal(f.host_addr, "");
  assert_int_equal(f.host_port, 2222);
  assert_int_equal(f.guest_port, 22);

  assert_int_equal(qemu_parse_forward_arg("5353:53/udp", &f, &err), 0);
  assert_int_equal(f.proto, QEMU_PROTO_UDP);
  assert_int_equal(f.host_port, 5353);
  assert_int_equal(f.guest_port, 53);

  assert_int_equal(qemu_parse_forward_arg("0.0.0.0:8080:80/tcp", &f, &err), 0);
  assert_int_equal(f.proto, QEMU_PROTO_TCP);
  assert_string_equal(f.host_addr, "0.0.0.0");
  assert_int_equal(f.host_port, 8080);
  assert_int_equal(f.guest_port, 80);

  assert_int_equal(qemu_parse_forward_arg("65535:1", &f, &err), 0);
  assert_int_equal(f.host_port, 65535);
  assert_int_equal(f.guest_port, 1);
  assert_null(err);

  /* A parsed forward builds as expected. */
  struct fixture fx;
  fixture_init(&fx, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  struct qemu_forward fw[2];
  assert_int_equal(qemu_parse_forward_arg("192.168.1.5:2222:22", &fw[0], &err), 0);
  assert_int_equal(qemu_parse_forward_arg("6000:6000/udp", &fw[1], &err), 0);
  fx.o.forwards = fw;
  fx.o.n_forwards = 2;
  char **argv = build_ok(&fx.o);
  assert_pair(argv, "-netdev",
              "user,id=net0,hostfwd=tcp:192.168.1.5:2222-:22,hostfwd=udp:127.0.0.1:6000-:6000");
  qemu_cmdline_free(argv);
  fixture_clear(&fx);
}

static void test_parse_forward_invalid(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "",          "2222",     "2222:",    ":22",       "0:22",         "2222:0",
      "65536:22",  "2222:22x", "-1:22",    "+22:22",    "2222:22/sctp", "2222:22/",
      "a:b",       "1:2:3:4",  "x:22:22",  "1.2.3:1:2", "::1:2222:22",  "2222:22/tcp/udp",
      "999999:22", " 22:22",   "2222: 22",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    tart_error_t err = NULL;
    struct qemu_forward f = {.host_port = 7};
    if (qemu_parse_forward_arg(bad[i], &f, &err) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_int_equal(f.host_port, 0);
    tart_error_release(&err);
  }
}

/* ---- misc ----------------------------------------------------------------- */

static void test_opt_escape_and_string(void **state)
{
  (void)state;
  char *e = qemu_opt_escape("a,b,,c");
  assert_string_equal(e, "a,,b,,,,c");
  free(e);
  e = qemu_opt_escape("");
  assert_string_equal(e, "");
  free(e);

  char *const words[] = {"qemu", "-incoming", "exec:cat state.qemusave", "it's", "", NULL};
  char *s = qemu_cmdline_string(words);
  assert_string_equal(s, "qemu -incoming 'exec:cat state.qemusave' 'it'\\''s' ''");
  free(s);
  qemu_cmdline_free(NULL);
}

/* A kernel panic reaches QEMU (pvpanic); SeaBIOS's messages reach a file
 * only when one is asked for, and only on amd64 (an ISA port). */
static void test_panic_device_and_firmware_log(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  char **argv = build_ok(&f.o);
  assert_pair(argv, "-device", "pvpanic");
  assert_null(value_with_prefix(argv, "-device", "isa-debugcon"));
  qemu_cmdline_free(argv);
  f.o.firmware_log = "logs/fw,1.log";
  argv = build_ok(&f.o);
  assert_pair(argv, "-chardev", "file,id=fwlog0,path=logs/fw,,1.log");
  assert_pair(argv, "-device", "isa-debugcon,iobase=0x402,chardev=fwlog0");
  qemu_cmdline_free(argv);
  fixture_clear(&f);

  fixture_init(&f, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  f.o.firmware_code = "/usr/share/AAVMF/AAVMF_CODE.fd";
  f.o.firmware_log = "logs/firmware.log";
  argv = build_ok(&f.o);
  assert_pair(argv, "-device", "pvpanic-pci");
  assert_no_pair(argv, "-device", "pvpanic");
  assert_null(value_with_prefix(argv, "-device", "isa-debugcon"));
  assert_null(value_with_prefix(argv, "-chardev", "file,id=fwlog0"));
  qemu_cmdline_free(argv);
  fixture_clear(&f);
}

static void test_full_order_is_stable(void **state)
{
  (void)state;
  struct fixture f;
  fixture_init(&f, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  char **a = build_ok(&f.o);
  char **b = build_ok(&f.o);
  char *sa = qemu_cmdline_string(a), *sb = qemu_cmdline_string(b);
  assert_string_equal(sa, sb);
  assert_string_equal(
      sa, "qemu-system-x86_64 -name guest=tart-myvm -no-user-config -machine q35 -accel tcg -cpu max "
          "-smp 4 -m 4096M "
          "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd "
          "-drive if=pflash,format=raw,unit=1,file=/home/u/.tart/vms/myvm/nvram.bin "
          "-drive file=/home/u/.tart/vms/myvm/disk.img,format=raw,if=none,id=root,discard=unmap,"
          "detect-zeroes=unmap,cache=writeback -device virtio-blk-pci,drive=root,bootindex=0 "
          "-netdev user,id=net0 -device virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile= "
          "-device virtio-rng-pci -device qemu-xhci,id=xhci -device usb-tablet,bus=xhci.0 "
          "-device pvpanic "
          "-device virtio-serial-pci -chardev socket,id=qga0,path=qga.sock,server=on,wait=off "
          "-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 "
          "-chardev socket,id=qmp0,path=qmp.sock,server=on,wait=off -mon chardev=qmp0,mode=control "
          "-chardev file,id=serial0,path=logs/console.log -serial chardev:serial0 -display none");
  free(sa);
  free(sb);
  qemu_cmdline_free(a);
  qemu_cmdline_free(b);
  fixture_clear(&f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary_for),
      cmocka_unit_test(test_panic_device_and_firmware_log),
      cmocka_unit_test(test_amd64_tcg_basics),
      cmocka_unit_test(test_amd64_kvm),
      cmocka_unit_test(test_arm64_tcg),
      cmocka_unit_test(test_arm64_kvm),
      cmocka_unit_test(test_cpu_and_memory_values),
      cmocka_unit_test(test_invalid_config_values),
      cmocka_unit_test(test_efi_pflash),
      cmocka_unit_test(test_bios_has_no_pflash),
      cmocka_unit_test(test_arm64_bios_is_an_error),
      cmocka_unit_test(test_efi_without_firmware_is_an_error),
      cmocka_unit_test(test_nested_needs_kvm),
      cmocka_unit_test(test_nested_with_kvm),
      cmocka_unit_test(test_nodefaults),
      cmocka_unit_test(test_root_disk),
      cmocka_unit_test(test_extra_disks),
      cmocka_unit_test(test_disk_urls),
      cmocka_unit_test(test_commas_in_paths_are_escaped),
      cmocka_unit_test(test_relative_paths_that_look_like_protocols),
      cmocka_unit_test(test_user_network_and_mac),
      cmocka_unit_test(test_forwards),
      cmocka_unit_test(test_tap_fd_network),
      cmocka_unit_test(test_bridge_helper_network),
      cmocka_unit_test(test_no_network),
      cmocka_unit_test(test_rng_agent_qmp),
      cmocka_unit_test(test_unwanted_flags_absent),
      cmocka_unit_test(test_incoming),
      cmocka_unit_test(test_name),
      cmocka_unit_test(test_display_modes),
      cmocka_unit_test(test_device_model_independent_of_ui),
      cmocka_unit_test(test_serial_modes),
      cmocka_unit_test(test_share_default_tag),
      cmocka_unit_test(test_shares_grouped_by_tag),
      cmocka_unit_test(test_share_errors),
      cmocka_unit_test(test_virtiofs_devices_and_shared_ram),
      cmocka_unit_test(test_share_exports),
      cmocka_unit_test(test_device_summary),
      cmocka_unit_test(test_parse_disk_valid),
      cmocka_unit_test(test_parse_disk_invalid),
      cmocka_unit_test(test_parse_dir_valid),
      cmocka_unit_test(test_parse_dir_invalid),
      cmocka_unit_test(test_parse_forward_valid),
      cmocka_unit_test(test_parse_forward_invalid),
      cmocka_unit_test(test_opt_escape_and_string),
      cmocka_unit_test(test_full_order_is_stable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
