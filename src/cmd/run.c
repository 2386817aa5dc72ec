/* tart run: boot a VM under QEMU and supervise it in the foreground. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "net/firewall.h"
#include "net/link.h"
#include "util/fs.h"
#include "util/util.h"
#include "vm/run.h"

enum {
  OPT_NO_GRAPHICS = CMD_OPT_LONG,
  OPT_SERIAL_PATH,
  OPT_DISK,
  OPT_DIR,
  OPT_NESTED,
  OPT_NET_USER,
  OPT_FORWARD,
  OPT_RECOVERY,
  OPT_ROSETTA,
  OPT_SUSPENDABLE,
  OPT_VNC,
  OPT_SERIAL,
  OPT_DETACH,
  OPT_GRAPHICS,
  OPT_BRIDGED,
  OPT_SOFTNET,
  OPT_SOFTNET_ALLOW,
  OPT_SOFTNET_BLOCK,
  OPT_SOFTNET_EXPOSE,
  OPT_NET_HOST,
  OPT_CLOUD_INIT,
};

static const struct cmd_option run_options[] = {
    {OPT_NO_GRAPHICS, 0, "no-graphics", NULL, "Don't open a window (the default when there is no display)"},
    {OPT_VNC, 0, "vnc", NULL,
     "Serve the display over VNC on 127.0.0.1 with a random port\n"
     "and password, and print its vnc:// URL (--vnc-experimental\n"
     "is the same); no window unless --graphics"},
    /* Upstream's older spelling, an alias (docs/upstream.md, "Command line and
     * flags"); --vnc's help names it. */
    {OPT_VNC, 0, "vnc-experimental", NULL, NULL},
    {OPT_GRAPHICS, 0, "graphics", NULL, "Open a window (the default when there is a display)"},
    {OPT_SERIAL, 0, "serial", NULL,
     "Connect the guest's serial console to a new pty and print\n"
     "its path"},
    {OPT_SERIAL_PATH, 0, "serial-path", "<path>", "Connect the guest's serial console to this file or tty"},
    {OPT_DETACH, 0, "detach", NULL,
     "Return once the VM runs; the run goes on in the background\n"
     "and writes its messages to <vm>/logs/run.log"},
    {OPT_DISK, 0, "disk", "<path[:opts]>",
     "Attach an extra disk (raw file, block device or nbd:// URL);\n"
     "opts: ro, sync=none|fsync|full, caching=automatic|cached|uncached"},
    {OPT_DIR, 0, "dir", "<spec>",
     "Share a host directory with the guest; the default tag is\n"
     "com.apple.virtio-fs.automount.  As root with virtiofsd:\n"
     "virtio-fs (mount -t virtiofs <tag> /mnt; named shares are\n"
     "subdirectories); otherwise, or with --suspendable, 9p:\n"
     "mount -t 9p -o trans=virtio,version=9p2000.L <tag> /mnt\n"
     "(TART_DIR_SHARING=9p|virtiofs picks one).  The path may be\n"
     "an http(s):// URL of a .tar.gz: downloaded (cached under\n"
     "$TART_HOME/cache/URLs), unpacked and shared for this run"},
    {OPT_SUSPENDABLE, 0, "suspendable", NULL,
     "Share --dir directories over 9p, whose state can be saved\n"
     "by tart suspend (virtio-fs cannot be); any VM can suspend"},
    {OPT_NESTED, 0, "nested", NULL, "Enable nested virtualization (needs KVM)"},
    {OPT_CLOUD_INIT, 0, "cloud-init", "<file>",
     "Give the guest this cloud-init user-data (a NoCloud seed\n"
     "disk labelled cidata, attached read-only)"},
    {OPT_BRIDGED, 0, "net-bridged", "<iface>",
     "Put the VM on an existing bridge (a tap) or a physical NIC\n"
     "(macvtap); repeatable, one NIC each; \"list\" lists them"},
    {OPT_SOFTNET, 0, "net-softnet", NULL,
     "NAT network, isolated: no other VMs, no host services, no\n"
     "private ranges; only globally routable addresses"},
    {OPT_SOFTNET_ALLOW, 0, "net-softnet-allow", "<cidrs>", "Also allow these (longest prefix wins)"},
    {OPT_SOFTNET_BLOCK, 0, "net-softnet-block", "<cidrs>", "Also block these (block wins a tie)"},
    {OPT_SOFTNET_EXPOSE, 0, "net-softnet-expose", "<host:guest,...>", "Forward host TCP ports to the guest"},
    {OPT_NET_HOST, 0, "net-host", NULL, "Host-only: the guest reaches the host, nothing beyond"},
    {OPT_NET_USER, 0, "net-user", NULL,
     "User-mode networking (QEMU's own stack; no privileges,\n"
     "but the host cannot reach the guest's address)"},
    {OPT_FORWARD, 0, "net-user-forward", "<f>",
     "With --net-user: forward a host port, e.g. 2222:22\n"
     "The default is the NAT network (tart network --help); as\n"
     "root it is brought up when needed"},
    {OPT_RECOVERY, 0, "recovery", NULL, "macOS-only; a clear error for Linux guests"},
    {OPT_ROSETTA, 0, "rosetta", "<tag>", "macOS-only; a clear error for Linux guests"},
    {0},
};

const struct cmd_spec cmd_run_spec = {
    .name = "run",
    .abstract = "Run a VM",
    .discussion = "Boots the VM under QEMU and stays in the foreground until the guest powers\n"
                  "off. SIGINT/SIGTERM stop it at once, SIGUSR2 asks the guest to shut down,\n"
                  "SIGUSR1 suspends it (tart stop/suspend). Without a console the guest's serial\n"
                  "output goes to <vm>/logs/console.log and QEMU's messages to <vm>/logs/qemu.log.\n"
                  "\n"
                  "The accelerator is KVM when it can run the guest, TCG (emulation) otherwise,\n"
                  "with a notice saying why: /dev/kvm missing, not accessible, or present but\n"
                  "unable to run this guest (QEMU stops it at once: the run starts again under\n"
                  "TCG and this is remembered until the host reboots). TART_ACCEL=kvm|tcg|auto\n"
                  "chooses (default auto; kvm fails in one line where KVM cannot be used).\n"
                  "\n"
                  "A guest that stops on its own (kernel panic, nothing to boot, host disk full,\n"
                  "reset loop, accelerator error) ends the run with exit 1 and one line naming\n"
                  "what happened and the log to read; the VM is left stopped.\n",
    .usage = "tart run <name> [--no-graphics] [--vnc] [--serial] [--serial-path <path>]\n"
             "                [--detach] [--disk <path[:ro]> ...]\n"
             "                [--dir <[name:]path[:ro][:tag=T]> ...] [--suspendable] [--nested]\n"
             "                [--net-bridged <iface> ... | --net-softnet | --net-host | --net-user]\n"
             "                [--net-user-forward <[addr:]host:guest[/tcp|/udp]> ...]",
    .arguments = "<name>\tVM name\n",
    .options = run_options,
    .vm_arg = CMD_VM_LOCAL,
};

static int list_interfaces(tart_error_t *err)
{
  char **names = NULL;
  size_t n = 0;
  if (link_list(&names, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    printf("%s%s\n", names[i], link_is_bridge(names[i]) ? " (bridge)" : "");
  link_list_free(names, n);
  return 0;
}

/* A relative file name becomes absolute against our working directory;
 * absolute names and URLs ("scheme://...") stay. */
static void make_absolute(char **path)
{
  const char *p = *path;
  if (p == NULL || *p == '/' || strstr(p, "://") != NULL)
    return;
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == NULL)
    return; /* QEMU will say what it cannot open */
  char *abs = xasprintf("%s/%s", strcmp(cwd, "/") ? cwd : "", p);
  free(*path);
  *path = abs;
}

int cmd_run(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  _cleanup_free_ char *serial_path = NULL;
  const char *display = getenv("DISPLAY");
  struct run_opts o = {.display = (display && *display) ? QEMU_DISPLAY_WINDOW : QEMU_DISPLAY_NONE,
                       .serial = QEMU_SERIAL_FILE,
                       .ready_fd = -1};
  bool no_graphics = false, vnc = false, graphics = false, detach = false;
  bool net_user = false, softnet = false, net_host = false;
  const char *cloud_init = NULL;
  const char *bridged[NET_MAX_NICS + 1];
  size_t nb = 0;
  struct fw_cidr *allow = NULL, *block = NULL;
  struct fw_expose *expose = NULL;
  size_t n_allow = 0, n_block = 0, n_expose = 0;
  struct qemu_disk disks[VM_MAX_DISKS];
  struct qemu_share shares[VM_MAX_SHARES];
  struct qemu_forward forwards[32];
  size_t nd = 0, ns = 0, nf = 0;
  /* The device options as typed, kept with a suspended state. */
  const char *dev_words[2 * (ARRAY_SIZE(disks) + ARRAY_SIZE(shares) + NET_MAX_NICS + 2) + 1];
  size_t ndw = 0;
  char *device_args = NULL, *user_data = NULL;
  int ret = -1, c;
  while ((c = cmd_next(argc, argv, &cmd_run_spec, err)) != -1) {
    if ((c == OPT_DISK || c == OPT_DIR || c == OPT_CLOUD_INIT || c == OPT_BRIDGED) &&
        ndw + 2 < ARRAY_SIZE(dev_words)) {
      dev_words[ndw++] = c == OPT_DISK         ? "--disk"
                         : c == OPT_DIR        ? "--dir"
                         : c == OPT_CLOUD_INIT ? "--cloud-init"
                                               : "--net-bridged";
      dev_words[ndw++] = optarg;
    }
    switch (c) {
    case -2:
      goto out;
    case 'h':
      ret = cmd_print_help(&cmd_run_spec);
      goto out;
    case OPT_NO_GRAPHICS:
      no_graphics = true;
      break;
    case OPT_VNC:
      vnc = true;
      break;
    case OPT_GRAPHICS:
      graphics = true;
      break;
    case OPT_SERIAL:
      o.serial = QEMU_SERIAL_PTY;
      o.serial_path = NULL;
      break;
    case OPT_DETACH:
      detach = true;
      break;
    case OPT_CLOUD_INIT:
      cloud_init = optarg;
      break;
    case OPT_SERIAL_PATH: {
      struct stat st;
      /* QEMU opens it from the VM directory: relative paths are the caller's. */
      free(serial_path);
      serial_path = xstrdup(optarg);
      make_absolute(&serial_path);
      o.serial_path = serial_path;
      o.serial = stat(optarg, &st) == 0 && S_ISCHR(st.st_mode) ? QEMU_SERIAL_TTY : QEMU_SERIAL_PATH;
      break;
    }
    case OPT_DISK:
      if (nd == ARRAY_SIZE(disks)) {
        args_usage_error(argv, err, "too many --disk options (at most %zu)", ARRAY_SIZE(disks));
        goto out;
      }
      if (qemu_parse_disk_arg(optarg, &disks[nd], err) < 0)
        goto out;
      nd++;
      break;
    case OPT_DIR:
      if (ns == ARRAY_SIZE(shares)) {
        args_usage_error(argv, err, "too many --dir options (at most %zu)", ARRAY_SIZE(shares));
        goto out;
      }
      if (qemu_parse_dir_arg(optarg, &shares[ns], err) < 0)
        goto out;
      ns++;
      break;
    case OPT_NESTED:
      o.nested = true;
      break;
    case OPT_NET_USER:
      net_user = true;
      break;
    case OPT_BRIDGED:
      if (!strcmp(optarg, "list")) {
        ret = list_interfaces(err);
        goto out;
      }
      if (nb == ARRAY_SIZE(bridged)) {
        args_usage_error(argv, err, "too many --net-bridged options (at most %d)", NET_MAX_NICS);
        goto out;
      }
      bridged[nb++] = optarg;
      break;
    case OPT_SOFTNET:
      softnet = true;
      break;
    case OPT_SOFTNET_ALLOW:
    case OPT_SOFTNET_BLOCK:
      softnet = true;
      if (fw_parse_cidrs(optarg, c == OPT_SOFTNET_ALLOW ? &allow : &block,
                         c == OPT_SOFTNET_ALLOW ? &n_allow : &n_block, err) < 0)
        goto out;
      break;
    case OPT_SOFTNET_EXPOSE:
      softnet = true;
      if (fw_parse_expose(optarg, &expose, &n_expose, err) < 0)
        goto out;
      break;
    case OPT_NET_HOST:
      net_host = true;
      break;
    case OPT_FORWARD:
      if (nf == ARRAY_SIZE(forwards)) {
        args_usage_error(argv, err, "too many --net-user-forward options");
        goto out;
      }
      if (qemu_parse_forward_arg(optarg, &forwards[nf], err) < 0)
        goto out;
      nf++;
      break;
    case OPT_RECOVERY:
      tart_error_make(err, 0, "--recovery boots macOS recovery, which Linux guests do not have");
      goto out;
    case OPT_ROSETTA:
      tart_error_make(err, 0,
                      "--rosetta is macOS-only; Linux hosts run x86_64 binaries natively or with binfmt");
      goto out;
    case OPT_SUSPENDABLE:
      /* Every Linux guest can be suspended here; this picks 9p for --dir. */
      o.suspendable = true;
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    goto out;
  if (net_mode_pick(net_user, nb, softnet, net_host, &o.net.mode, err) < 0)
    goto out;
  if (cloud_init && nd == ARRAY_SIZE(disks)) {
    args_usage_error(argv, err, "too many --disk options (at most %zu with --cloud-init)",
                     ARRAY_SIZE(disks) - 1);
    goto out;
  }
  /* Read now, before anything starts: it may be a pipe (/dev/stdin). */
  if (cloud_init && read_file(cloud_init, 16u << 20, &user_data, &o.cloud_init_len, err) < 0) {
    tart_error_wrap(err, "--cloud-init");
    goto out;
  }
  o.cloud_init = user_data;
  for (size_t i = 0; i < nb; i++)
    if (!fw_ifname_valid(bridged[i])) {
      args_usage_error(argv, err, "invalid --net-bridged interface name \"%s\"", bridged[i]);
      goto out;
    }
  o.net.bridged = bridged;
  o.net.n_bridged = nb;
  o.net.allow = allow;
  o.net.n_allow = n_allow;
  o.net.block = block;
  o.net.n_block = n_block;
  o.net.expose = expose;
  o.net.n_expose = n_expose;
  if (graphics && no_graphics) {
    args_usage_error(argv, err, "--graphics and --no-graphics are mutually exclusive");
    goto out;
  }
  /* As upstream: VNC replaces the window unless --graphics asks for both. */
  if (vnc && graphics)
    o.display = QEMU_DISPLAY_WINDOW_VNC;
  else if (vnc)
    o.display = QEMU_DISPLAY_VNC;
  else if (no_graphics || detach)
    o.display = QEMU_DISPLAY_NONE;
  else if (graphics)
    o.display = QEMU_DISPLAY_WINDOW;
  /* QEMU runs in the VM directory and virtiofsd elsewhere: relative paths
   * are the caller's, as upstream reads them. */
  for (size_t i = 0; i < nd; i++)
    make_absolute(&disks[i].path);
  for (size_t i = 0; i < ns; i++)
    make_absolute(&shares[i].path);
  o.disks = disks;
  o.n_disks = nd;
  o.shares = shares;
  o.n_shares = ns;
  o.forwards = nf ? forwards : NULL;
  o.n_forwards = nf;
  dev_words[ndw] = NULL;
  device_args = ndw ? qemu_cmdline_string((char *const *)dev_words) : NULL;
  o.device_args = device_args;
  if (detach)
    ret = vm_run_detached(&ctx->home, argv[optind], &o, &ctx->exit_code, err);
  else
    ret = vm_run(&ctx->home, argv[optind], &o, err);
out:
  for (size_t i = 0; i < nd; i++)
    qemu_disk_clear(&disks[i]);
  for (size_t i = 0; i < ns; i++)
    qemu_share_clear(&shares[i]);
  free(allow);
  free(block);
  free(expose);
  free(device_args);
  free(user_data);
  return ret;
}
