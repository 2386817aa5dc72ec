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
#include "util/report.h"
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
  OPT_ROOT_DISK_OPTS,
  OPT_NO_AUDIO,
  OPT_NO_CLIPBOARD,
  OPT_NO_KEYBOARD,
  OPT_NO_POINTER,
  OPT_NO_TRACKPAD,
  OPT_CAPTURE_KEYS,
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
    {OPT_ROOT_DISK_OPTS, 0, "root-disk-opts", "<options>",
     "Root disk options, comma-separated: ro; sync=full (the\n"
     "default: guest flushes reach the host disk), sync=fsync\n"
     "(the same here), sync=none (flushes are dropped: fast,\n"
     "and a host crash can lose what the guest wrote);\n"
     "caching=automatic|cached (the host page cache) or\n"
     "uncached (O_DIRECT)"},
    {OPT_NO_AUDIO, 0, "no-audio", NULL, "No audio device (tart adds none on Linux hosts)"},
    {OPT_NO_CLIPBOARD, 0, "no-clipboard", NULL, "No clipboard sharing (tart shares none on Linux hosts)"},
    {OPT_NO_KEYBOARD, 0, "no-keyboard", NULL,
     "No USB keyboard (arm64); an amd64 VM keeps the PS/2\n"
     "keyboard the q35 machine always has"},
    {OPT_NO_POINTER, 0, "no-pointer", NULL, "No USB tablet (pointer)"},
    {OPT_RECOVERY, 0, "recovery", NULL, "macOS-only; a clear error for Linux guests"},
    {OPT_ROSETTA, 0, "rosetta", "<tag>", "macOS-only; accepted with a notice, no effect"},
    {OPT_NO_TRACKPAD, 0, "no-trackpad", NULL, "macOS-only; accepted with a notice, no effect"},
    {OPT_CAPTURE_KEYS, 0, "capture-system-keys", NULL, "macOS-only; accepted with a notice, no effect"},
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

/* What the flags of one `tart run` say, as they are parsed. */
struct run_args {
  struct run_opts o;
  char *serial_path, *user_data, *device_args;
  bool no_graphics, vnc, graphics, detach, net_user, softnet, net_host;
  const char *cloud_init;
  const char *bridged[NET_MAX_NICS + 1];
  size_t nb;
  struct fw_cidr *allow, *block;
  struct fw_expose *expose;
  size_t n_allow, n_block, n_expose;
  struct qemu_disk disks[VM_MAX_DISKS];
  struct qemu_share shares[VM_MAX_SHARES];
  struct qemu_forward forwards[32];
  size_t nd, ns, nf;
  /* The device options as typed, kept with a suspended state. */
  const char *dev_words[2 * (VM_MAX_DISKS + VM_MAX_SHARES + NET_MAX_NICS + 2) + 1];
  size_t ndw;
};

static void run_args_clear(struct run_args *a)
{
  for (size_t i = 0; i < a->nd; i++)
    qemu_disk_clear(&a->disks[i]);
  for (size_t i = 0; i < a->ns; i++)
    qemu_share_clear(&a->shares[i]);
  free(a->allow);
  free(a->block);
  free(a->expose);
  free(a->device_args);
  free(a->user_data);
  free(a->serial_path);
}

/* One option (c, with optarg): 0, or -1 with a usage error in *err. */
static int run_option(struct run_args *a, int c, char **argv, tart_error_t *err)
{
  if ((c == OPT_DISK || c == OPT_DIR || c == OPT_CLOUD_INIT || c == OPT_BRIDGED) &&
      a->ndw + 2 < ARRAY_SIZE(a->dev_words)) {
    a->dev_words[a->ndw++] = c == OPT_DISK         ? "--disk"
                             : c == OPT_DIR        ? "--dir"
                             : c == OPT_CLOUD_INIT ? "--cloud-init"
                                                   : "--net-bridged";
    a->dev_words[a->ndw++] = optarg;
  }
  switch (c) {
  case OPT_NO_GRAPHICS:
    a->no_graphics = true;
    break;
  case OPT_VNC:
    a->vnc = true;
    break;
  case OPT_GRAPHICS:
    a->graphics = true;
    break;
  case OPT_SERIAL:
    a->o.serial = QEMU_SERIAL_PTY;
    a->o.serial_path = NULL;
    break;
  case OPT_DETACH:
    a->detach = true;
    break;
  case OPT_CLOUD_INIT:
    a->cloud_init = optarg;
    break;
  case OPT_SERIAL_PATH: {
    struct stat st;
    /* QEMU opens it from the VM directory: relative paths are the caller's. */
    free(a->serial_path);
    a->serial_path = xstrdup(optarg);
    make_absolute(&a->serial_path);
    a->o.serial_path = a->serial_path;
    a->o.serial = stat(optarg, &st) == 0 && S_ISCHR(st.st_mode) ? QEMU_SERIAL_TTY : QEMU_SERIAL_PATH;
    break;
  }
  case OPT_DISK:
    if (a->nd == ARRAY_SIZE(a->disks))
      return args_usage_error(argv, err, "too many --disk options (at most %zu)", ARRAY_SIZE(a->disks));
    if (qemu_parse_disk_arg(optarg, &a->disks[a->nd], err) < 0)
      return -1;
    a->nd++;
    break;
  case OPT_DIR:
    if (a->ns == ARRAY_SIZE(a->shares))
      return args_usage_error(argv, err, "too many --dir options (at most %zu)", ARRAY_SIZE(a->shares));
    if (qemu_parse_dir_arg(optarg, &a->shares[a->ns], err) < 0)
      return -1;
    a->ns++;
    break;
  case OPT_NESTED:
    a->o.nested = true;
    break;
  case OPT_NET_USER:
    a->net_user = true;
    break;
  case OPT_BRIDGED:
    if (a->nb == ARRAY_SIZE(a->bridged))
      return args_usage_error(argv, err, "too many --net-bridged options (at most %d)", NET_MAX_NICS);
    a->bridged[a->nb++] = optarg;
    break;
  case OPT_SOFTNET:
    a->softnet = true;
    break;
  case OPT_SOFTNET_ALLOW:
  case OPT_SOFTNET_BLOCK:
    a->softnet = true;
    return fw_parse_cidrs(optarg, c == OPT_SOFTNET_ALLOW ? &a->allow : &a->block,
                          c == OPT_SOFTNET_ALLOW ? &a->n_allow : &a->n_block, err);
  case OPT_SOFTNET_EXPOSE:
    a->softnet = true;
    return fw_parse_expose(optarg, &a->expose, &a->n_expose, err);
  case OPT_NET_HOST:
    a->net_host = true;
    break;
  case OPT_FORWARD:
    if (a->nf == ARRAY_SIZE(a->forwards))
      return args_usage_error(argv, err, "too many --net-user-forward options");
    if (qemu_parse_forward_arg(optarg, &a->forwards[a->nf], err) < 0)
      return -1;
    a->nf++;
    break;
  case OPT_RECOVERY:
    return tart_error_make(err, 0, "--recovery boots macOS recovery, which Linux guests do not have");
  case OPT_ROSETTA:
  case OPT_NO_TRACKPAD:
  case OPT_CAPTURE_KEYS:
    /* Accepted, so that scripts written for macOS hosts run here too. */
    report(REPORT_NOTICE, "%s has no effect on Linux hosts",
           c == OPT_ROSETTA       ? "--rosetta (x86_64 binaries run natively or with binfmt)"
           : c == OPT_NO_TRACKPAD ? "--no-trackpad"
                                  : "--capture-system-keys");
    break;
  case OPT_NO_AUDIO:
  case OPT_NO_CLIPBOARD:
    break; /* what they turn off, tart never turns on here */
  case OPT_NO_KEYBOARD:
    a->o.no_keyboard = true;
    break;
  case OPT_NO_POINTER:
    a->o.no_pointer = true;
    break;
  case OPT_ROOT_DISK_OPTS:
    return qemu_parse_disk_opts(optarg, "--root-disk-opts", &a->o.root_disk, err);
  case OPT_SUSPENDABLE:
    /* Every Linux guest can be suspended here; this picks 9p for --dir. */
    a->o.suspendable = true;
    break;
  }
  return 0;
}

/* The flags together, once all are parsed: a->o is complete, or -1. */
static bool have_display(void)
{
  const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
  return (x && *x) || (w && *w);
}

static int run_args_finish(struct run_args *a, char **argv, tart_error_t *err)
{
  struct run_opts *o = &a->o;
  if (net_mode_pick(a->net_user, a->nb, a->softnet, a->net_host, &o->net.mode, err) < 0)
    return -1;
  if (a->cloud_init && a->nd == ARRAY_SIZE(a->disks))
    return args_usage_error(argv, err, "too many --disk options (at most %zu with --cloud-init)",
                            ARRAY_SIZE(a->disks) - 1);
  /* Read now, before anything starts: it may be a pipe (/dev/stdin). */
  if (a->cloud_init && read_file(a->cloud_init, 16u << 20, &a->user_data, &o->cloud_init_len, err) < 0)
    return tart_error_wrap(err, "--cloud-init");
  o->cloud_init = a->user_data;
  for (size_t i = 0; i < a->nb; i++)
    if (!fw_ifname_valid(a->bridged[i]))
      return args_usage_error(argv, err, "invalid --net-bridged interface name \"%s\"", a->bridged[i]);
  o->net.bridged = a->bridged;
  o->net.n_bridged = a->nb;
  o->net.allow = a->allow;
  o->net.n_allow = a->n_allow;
  o->net.block = a->block;
  o->net.n_block = a->n_block;
  o->net.expose = a->expose;
  o->net.n_expose = a->n_expose;
  if (a->graphics && a->no_graphics)
    return args_usage_error(argv, err, "--graphics and --no-graphics are mutually exclusive");
  /* As upstream: VNC replaces the window unless --graphics asks for both. */
  if (a->vnc && a->graphics)
    o->display = QEMU_DISPLAY_WINDOW_VNC;
  else if (a->vnc)
    o->display = QEMU_DISPLAY_VNC;
  else if (a->no_graphics || a->detach)
    o->display = QEMU_DISPLAY_NONE;
  else if (a->graphics)
    o->display = QEMU_DISPLAY_WINDOW;
  /* A window needs an X or Wayland display.  Without one, --graphics
   * (Packer's default for a build it does not run headless) gets the
   * screen over VNC instead of QEMU failing on "gtk is not available". */
  if ((o->display == QEMU_DISPLAY_WINDOW || o->display == QEMU_DISPLAY_WINDOW_VNC) && !have_display()) {
    report(REPORT_NOTICE, "no display to open a window on ($DISPLAY and $WAYLAND_DISPLAY are unset): %s",
           o->display == QEMU_DISPLAY_WINDOW ? "serving the screen over VNC instead" : "VNC only");
    o->display = QEMU_DISPLAY_VNC;
  }
  /* QEMU runs in the VM directory and virtiofsd elsewhere: relative paths
   * are the caller's, as upstream reads them. */
  for (size_t i = 0; i < a->nd; i++)
    make_absolute(&a->disks[i].path);
  for (size_t i = 0; i < a->ns; i++)
    make_absolute(&a->shares[i].path);
  o->disks = a->disks;
  o->n_disks = a->nd;
  o->shares = a->shares;
  o->n_shares = a->ns;
  o->forwards = a->nf ? a->forwards : NULL;
  o->n_forwards = a->nf;
  a->dev_words[a->ndw] = NULL;
  a->device_args = a->ndw ? qemu_cmdline_string((char *const *)a->dev_words) : NULL;
  o->device_args = a->device_args;
  return 0;
}

int cmd_run(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  struct run_args *a = xcalloc(1, sizeof(*a));
  a->o = (struct run_opts){.display = have_display() ? QEMU_DISPLAY_WINDOW : QEMU_DISPLAY_NONE,
                           .serial = QEMU_SERIAL_FILE,
                           .ready_fd = -1};
  int ret = -1, c;
  while ((c = cmd_next(argc, argv, &cmd_run_spec, err)) != -1) {
    if (c == -2)
      goto out;
    if (c == 'h') {
      ret = cmd_print_help(&cmd_run_spec);
      goto out;
    }
    /* `--net-bridged list` lists, and runs nothing. */
    if (c == OPT_BRIDGED && !strcmp(optarg, "list")) {
      ret = list_interfaces(err);
      goto out;
    }
    if (run_option(a, c, argv, err) < 0)
      goto out;
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0 || run_args_finish(a, argv, err) < 0)
    goto out;
  if (a->detach)
    ret = vm_run_detached(&ctx->home, argv[optind], &a->o, &ctx->exit_code, err);
  else
    ret = vm_run(&ctx->home, argv[optind], &a->o, err);
out:
  run_args_clear(a);
  free(a);
  return ret;
}
