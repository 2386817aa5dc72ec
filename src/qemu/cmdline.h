/* The QEMU command line of a VM, built from its config.json and the choices
 * of `tart run` (display, serial, network, extra disks, shares).
 *
 * Pure: nothing here touches the file system, the environment (except
 * $HOME for "~" in the --disk/--dir parsers), the network or a process.
 * The caller decides everything that needs I/O (is /dev/kvm usable, is the
 * serial path a tty, which firmware file exists, which tap fd to pass) and
 * describes it in struct qemu_opts.
 *
 * Guest-visible device model (docs/design.md, "Running a VM", docs/upstream.md, "Running a VM").  It depends
 * only on the config, the extra disks, the shares and whether there is a NIC -- never on the display, the
 * serial backend or the network backend -- so that a VM suspended in one mode (`--vnc`) can be restored in
 * another
 * (`--no-graphics`): QEMU's migration stream needs the same devices.
 *
 *   both      -name guest=tart-<name>  -no-user-config
 *             -smp <cpuCount>  -m <ceil(memorySize / MiB)>M
 *             root disk: -drive file=<vm_dir>/disk.img,format=raw,if=none,id=root,
 *                          discard=unmap,detect-zeroes=unmap,cache=writeback
 *                        -device virtio-blk-pci,drive=root,bootindex=0
 *             extra disks: -drive ...,id=diskN[,readonly=on] -device virtio-blk-pci,drive=diskN
 *             NIC: -device virtio-net-pci,netdev=net0,mac=<config MAC>,romfile=
 *                  (romfile= drops the iPXE option ROM: nothing boots from the network,
 *                  and OVMF/SeaBIOS start faster without it)
 *             -device virtio-rng-pci
 *             panic notifier: -device pvpanic (amd64, ISA port 0x505) | pvpanic-pci (arm64)
 *             guest agent: -device virtio-serial-pci
 *                          -chardev socket,id=qga0,path=<qga>,server=on,wait=off
 *                          -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
 *             QMP: -chardev socket,id=qmp0,path=<qmp>,server=on,wait=off
 *                  -mon chardev=qmp0,mode=control
 *                  (what `-qmp unix:<qmp>,server=on,wait=off` expands to, but with an explicit
 *                  path= key: `-qmp unix:` reads its path as an implied key, so a path holding
 *                  '=' would be misparsed)
 *             serial: the machine's first UART (ttyS0 / ttyAMA0), backend chardev "serial0"
 *   amd64     -machine q35  -accel kvm -cpu host | -accel tcg -cpu max
 *             QEMU's default std VGA (QMP screendump works headless),
 *             PS/2 keyboard and mouse, plus -device qemu-xhci,id=xhci
 *             -device usb-tablet,bus=xhci.0 (absolute pointer for a window or VNC)
 *             firmware log (firmware_log set): -chardev file,id=fwlog0,path=<firmware_log>
 *                          -device isa-debugcon,iobase=0x402,chardev=fwlog0
 *   arm64     -machine virt,gic-version=max (GICv2 would cap the VM at 8 vCPUs)
 *             -accel kvm -cpu host | -accel tcg -cpu max,pauth-impdef=on
 *             (pauth-impdef: QEMU's fast pointer-authentication algorithm; the
 *             architected QARMA one dominates TCG run time)
 *             -device virtio-gpu-pci,xres=<width>,yres=<height> (virt has no default display)
 *             -device qemu-xhci,id=xhci -device usb-kbd,bus=xhci.0 -device usb-tablet,bus=xhci.0
 *   firmware  efi: -drive if=pflash,format=raw,unit=0,readonly=on,file=<firmware_code>
 *                  -drive if=pflash,format=raw,unit=1,file=<vm_dir>/nvram.bin
 *             bios: nothing (SeaBIOS, QEMU's default; amd64 only)
 *
 * Not used on purpose: -nodefaults (it would drop the default VGA that
 * screendump uses), -no-reboot (a guest reboot must reboot), -no-shutdown
 * (QEMU must exit when the guest powers off).
 *
 * Option values: every file name is passed with each ',' doubled (QEMU's
 * escape in option lists), and a relative -drive file name that QEMU would
 * take for a "protocol:" prefix gets "./" in front. */
#ifndef TART_QEMU_CMDLINE_H
#define TART_QEMU_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmconfig/config.h"

/* The tag macOS guests automount (upstream's default for --dir). */
#define QEMU_SHARE_DEFAULT_TAG "com.apple.virtio-fs.automount"
/* 9p (virtio-9p) mount tags are at most 31 bytes; virtio-fs tags 36
 * (struct virtio_fs_config). */
#define QEMU_9P_TAG_MAX       31
#define QEMU_VIRTIOFS_TAG_MAX 36
/* Id of the shared-memory RAM backend that virtio-fs needs. */
#define QEMU_RAM_ID "ram0"
/* Chardev ids, for QMP (query-chardev gives the pty path of "serial0"). */
#define QEMU_SERIAL_CHARDEV "serial0"
#define QEMU_QGA_CHARDEV    "qga0"
#define QEMU_QMP_CHARDEV    "qmp0"
#define QEMU_MON_CHARDEV    "mon0"
#define QEMU_FWLOG_CHARDEV  "fwlog0"
/* Name of the guest-agent port (the guest's /dev/virtio-ports/<name>). */
#define QEMU_QGA_PORT_NAME "org.qemu.guest_agent.0"

enum qemu_proto { QEMU_PROTO_TCP = 0, QEMU_PROTO_UDP };

/* A user-mode network port forward: host addr:port -> guest port. */
struct qemu_forward {
  enum qemu_proto proto;
  char host_addr[16];  /* dotted IPv4; "" means 127.0.0.1 */
  uint16_t host_port;  /* 1..65535 */
  uint16_t guest_port; /* 1..65535 */
};

/* --disk options (docs/upstream.md, "Running a VM").  QEMU mapping of the pair:
 *   cached/automatic + full/fsync -> cache=writeback
 *   uncached         + full/fsync -> cache=none      (O_DIRECT)
 *   cached/automatic + none       -> cache=unsafe    (guest flushes ignored)
 *   uncached         + none       -> cache.direct=on,cache.no-flush=on */
enum qemu_disk_sync { QEMU_SYNC_FULL = 0, QEMU_SYNC_FSYNC, QEMU_SYNC_NONE };
enum qemu_disk_caching { QEMU_CACHING_AUTOMATIC = 0, QEMU_CACHING_CACHED, QEMU_CACHING_UNCACHED };

/* An extra disk: a raw image file, a block device, or an nbd:// / nbd+unix://
 * URL.  Always attached with format=raw: probing would let a raw image whose
 * contents look like qcow2 make QEMU open host files it names. */
struct qemu_disk {
  char *path; /* owned when filled by qemu_parse_disk_arg */
  bool readonly;
  enum qemu_disk_sync sync;
  enum qemu_disk_caching caching;
};

/* A directory share (--dir).  name NULL: unnamed; tag NULL: the default tag. */
struct qemu_share {
  char *name; /* owned when filled by qemu_parse_dir_arg */
  char *path;
  char *tag;
  bool readonly;
};

/* How --dir shares reach the guest. */
enum qemu_fs {
  QEMU_FS_9P = 0,   /* -virtfs: QEMU serves each directory itself; any user; a VM can be
                     * suspended while the guest has the shares unmounted */
  QEMU_FS_VIRTIOFS, /* vhost-user-fs-pci, one virtiofsd per tag (the caller runs them);
                     * upstream's semantics (named shares are subdirectories of the tag);
                     * needs shared-memory RAM and blocks QEMU's migration (no suspend) */
};

/* One guest device that shares reach the guest through (qemu_share_exports). */
struct qemu_export {
  const char *tag;  /* mount tag: points into the shares, or QEMU_SHARE_DEFAULT_TAG */
  size_t *members;  /* indices into the shares, in command-line order */
  size_t n_members; /* 9p: always 1 */
  bool subdirs;     /* virtio-fs: the members are subdirectories named after them (named
                     * shares); false: the only member's directory is the export's root */
};

enum qemu_display {
  QEMU_DISPLAY_NONE = 0,   /* -display none (screendump over QMP still works) */
  QEMU_DISPLAY_WINDOW,     /* -display <window_ui> (gtk by default); the caller checks $DISPLAY */
  QEMU_DISPLAY_VNC,        /* -vnc 127.0.0.1:0,to=99,password=on -display none:
                            * QEMU takes the first free port from 5900 (query-vnc tells which);
                            * nobody can connect until the caller sets a password over QMP
                            * (change-vnc-password) */
  QEMU_DISPLAY_WINDOW_VNC, /* both: the window (window_ui) and the VNC server above; VNC is a
                            * display listener of its own in QEMU (upstream's --vnc --graphics) */
};

enum qemu_serial {
  QEMU_SERIAL_FILE = 0, /* the console log (logs/console.log): chardev file, truncated at start */
  QEMU_SERIAL_PTY,      /* --serial: chardev pty; its path is in QMP query-chardev ("serial0") */
  QEMU_SERIAL_PATH,     /* --serial-path naming a regular file or FIFO: chardev file (output only) */
  QEMU_SERIAL_TTY,      /* --serial-path naming a character device: chardev serial (read/write) */
  QEMU_SERIAL_NONE,     /* -serial none */
};

enum qemu_net {
  QEMU_NET_USER = 0, /* -netdev user (slirp), with hostfwd= for each forward */
  QEMU_NET_TAP_FD,   /* -netdev tap,fd=N: the caller opened the tap and keeps N open (no CLOEXEC) */
  QEMU_NET_BRIDGE,   /* -netdev bridge,br=<bridge>: qemu-bridge-helper makes the tap (unprivileged users) */
  QEMU_NET_NONE,     /* -nic none: no NIC at all */
};

struct qemu_opts {
  const struct vm_config *cfg; /* required; os linux, disk format raw */
  const char *vm_dir;          /* required; disk.img and nvram.bin live here (may be relative) */
  const char *name;            /* VM name for -name guest=tart-<name>; NULL: basename of vm_dir */
  const char *firmware_code;   /* OVMF/AAVMF code, read-only; required for efi, ignored for bios */
  bool kvm;                    /* -accel kvm -cpu host, else TCG (chosen by qemu/accel.h) */
  bool nested;                 /* nested virtualization; requires kvm (see below) */
  /* -nodefaults: only the devices asked for (no empty CD-ROM, parallel
   * port or default NIC), with the VGA of amd64 added back.  False only to
   * restore a state saved by a version that ran with QEMU's defaults. */
  bool nodefaults;
  /* The root disk's ro, sync and caching (path unused; zero: read-write,
   * sync=full, caching=automatic). */
  struct qemu_disk root;
  bool no_keyboard, no_pointer; /* leave out the USB keyboard (arm64) / the USB tablet */
  const char *qmp_socket;       /* QMP socket path; NULL: no QMP (tests only: tart needs it) */
  const char *qga_socket;       /* guest-agent socket path; NULL: no agent channel */
  const char *monitor_socket;   /* a second QMP monitor for other programs (the run process
                                 * holds the first one for its whole life); NULL: none */

  enum qemu_display display;
  const char *window_ui; /* QEMU_DISPLAY_WINDOW: "gtk" (NULL) or "sdl" */

  enum qemu_serial serial;
  const char *serial_path; /* FILE, PATH, TTY: required */

  enum qemu_net net;
  int tap_fd;                          /* QEMU_NET_TAP_FD: >= 0 */
  const int *more_tap_fds;             /* QEMU_NET_TAP_FD: further NICs (repeated --net-bridged), */
  size_t n_more_tap_fds;               /* net1..: MAC = config MAC with the last byte + i */
  const char *bridge;                  /* QEMU_NET_BRIDGE: required */
  const char *bridge_helper;           /* QEMU_NET_BRIDGE: NULL: QEMU's default helper */
  const struct qemu_forward *forwards; /* QEMU_NET_USER only */
  size_t n_forwards;

  const struct qemu_disk *extra_disks;
  size_t n_extra_disks;

  const struct qemu_share *shares;
  size_t n_shares;
  enum qemu_fs share_fs;
  /* QEMU_FS_VIRTIOFS: the vhost-user socket of each export's virtiofsd, in
   * qemu_share_exports order (count must match).  With shares, guest RAM
   * becomes -object memory-backend-memfd,id=ram0,size=<M>M,share=on and
   * -machine gets memory-backend=ram0. */
  const char *const *virtiofs_sockets;
  size_t n_virtiofs_sockets;

  const char *incoming; /* "-incoming <value>" to restore a suspended VM, or NULL */
  /* amd64: the firmware's debug port (0x402, where SeaBIOS writes) goes to
   * this file; NULL: not captured. */
  const char *firmware_log;
};

/* Build the argv (NULL-terminated; the array and every string malloc'ed;
 * argv[0] is qemu_binary_for(cfg->arch)).  Free it with
 * qemu_cmdline_free().
 *
 * Errors (argv untouched):
 *   - a missing cfg / vm_dir, a macOS guest, a disk format other than raw,
 *     cpuCount < 1, memorySize 0;
 *   - arm64 with bios firmware ("needs UEFI"), efi without firmware_code;
 *   - nested without kvm: "nested virtualization needs KVM (/dev/kvm)";
 *     with kvm, amd64 passes the host CPU (-cpu host), which carries vmx/svm
 *     when the kvm_intel/kvm_amd module has nested=1; arm64 adds
 *     virtualization=on to -machine (needs kvm-arm.mode=nested and a QEMU
 *     that supports it with KVM);
 *   - a serial mode that needs serial_path without one, TAP_FD with a
 *     negative fd, an empty extra disk path, an unsupported disk URL scheme;
 *   - usage errors (exit 64): forwards without user-mode networking, the
 *     same host address:port forwarded twice;
 *   - shares: the errors of qemu_share_exports.  9p: each export is
 *     -virtfs local,path=P,mount_tag=T,security_model=none,multidevs=remap,
 *     id=fsN[,readonly=on].  virtio-fs: each is -chardev socket,id=vfsN,
 *     path=<socket> -device vhost-user-fs-pci,chardev=vfsN,tag=T (read-only
 *     and the subdirectories are the caller's virtiofsd's business). */
int qemu_cmdline_build(const struct qemu_opts *o, char ***argv, tart_error_t *err);

/* Group --dir shares into guest devices, upstream's rules (docs/upstream.md, "Directory shares"): shares are
 * grouped by tag (default QEMU_SHARE_DEFAULT_TAG); a tag with several
 * shares needs every one named ("invalid --dir syntax: for multiple
 * directory shares each one of them should be named", upstream's text).
 *   virtio-fs: one export per tag.  A single unnamed share is its root;
 *     otherwise the shares are subdirectories under their names (unique per
 *     tag, valid directory names).
 *   9p: an export is one directory, so one export per share: a tag with one
 *     share exports it under the tag (its name, if any, is not used); shares
 *     of a multi-share tag are exported under their NAMEs as tags, where
 *     virtio-fs would show <tag>/<name>.
 * Every tag must be unique, printable ASCII without spaces, at most
 * QEMU_9P_TAG_MAX / QEMU_VIRTIOFS_TAG_MAX bytes; paths non-empty.  Errors
 * exit 64.  *out (free with qemu_exports_free) is NULL when n is 0. */
int qemu_share_exports(const struct qemu_share *shares, size_t n, enum qemu_fs fs, struct qemu_export **out,
                       size_t *n_out, tart_error_t *err);
void qemu_exports_free(struct qemu_export *e, size_t n);

/* The guest-visible device model of o in words, for checking that a
 * suspended VM is restored onto the devices it was saved with (QEMU's
 * migration stream needs the same ones), e.g.
 *   "2 CPUs, 512 MiB, 1 NIC, extra disks [rw, ro], 9p shares [src ro], TCG"
 * (the accelerator, as the CPU model follows it; " nested" with --nested).
 * The display, serial, network backend and file paths are not part of it:
 * they may change between suspend and restore.  Malloc'ed; NULL when the
 * shares cannot be grouped (qemu_cmdline_build reports that). */
char *qemu_device_summary(const struct qemu_opts *o);

/* Free an argv from qemu_cmdline_build.  Safe on NULL. */
void qemu_cmdline_free(char **argv);

/* One line for logs (TART_LOG=debug): the words joined by spaces, each
 * word that is not made only of safe characters single-quoted for a POSIX
 * shell.  Malloc'ed. */
char *qemu_cmdline_string(char *const *argv);

/* "qemu-system-x86_64" / "qemu-system-aarch64". */
const char *qemu_binary_for(enum vm_arch arch);

/* s with every ',' doubled, for a value inside a QEMU option list.  Malloc'ed. */
char *qemu_opt_escape(const char *s);

/* Parsers for `tart run` flags.  Usage errors exit 64 (tart_error_exit with
 * TART_EXIT_USAGE).  On failure *out is left zeroed (nothing to free).
 * A leading "~" or "~/" in a path is replaced by $HOME, as upstream does
 * (the shell does not expand it after "--dir=").
 *
 * --disk "path[:opts]": opts is a comma-separated list of ro,
 *   sync=none|fsync|full, caching=automatic|cached|uncached.  The last
 *   ':'-segment is taken as opts only if it holds one of those options (so
 *   "nbd://host:10809" stays whole); once taken, an unknown option in it is
 *   an error. */
int qemu_parse_disk_arg(const char *s, struct qemu_disk *out, tart_error_t *err);

/* Pure.  A disk's options alone, as upstream's --root-disk-opts takes
 * them: "ro", "sync=none|fsync|full", "caching=automatic|cached|uncached",
 * comma-separated, into out's readonly, sync and caching (out->path is
 * left alone).  An unknown option is a usage error naming flag. */
int qemu_parse_disk_opts(const char *opts, const char *flag, struct qemu_disk *out, tart_error_t *err);

/* --dir "[name:]path[:opts]": opts are ro and tag=T, comma-separated
 * ("p:ro,tag=T", upstream's form) or as separate ':'-segments ("p:ro:tag=T").
 * Trailing segments are taken as options while they hold one (an unknown
 * option next to a known one is an error); then the first ':' splits name
 * from path, unless the part before it holds a '/' (a name never does:
 * "/data/a:b" is one path).  An http:// or https:// path keeps its colons
 * and has no name unless one is given ("n:https://..."); the caller
 * downloads and unpacks it.  Names and tags are checked by
 * qemu_cmdline_build, which knows how they are used. */
int qemu_parse_dir_arg(const char *s, struct qemu_share *out, tart_error_t *err);

/* --net-user-forward "[ADDR:]HOST:GUEST[/tcp|/udp]": ports 1..65535, ADDR a
 * dotted IPv4 address to listen on (127.0.0.1 when absent), tcp by default. */
int qemu_parse_forward_arg(const char *s, struct qemu_forward *out, tart_error_t *err);

/* Free the strings of a parsed disk/share and zero it.  Safe on zeroed structs. */
void qemu_disk_clear(struct qemu_disk *d);
void qemu_share_clear(struct qemu_share *s);

#endif
