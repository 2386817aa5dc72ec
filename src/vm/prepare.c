/* A run's first step (vm/session.h): everything that stays the same when
 * QEMU is started again under another accelerator.  The VM is locked, its
 * MAC made unique among running VMs, its config read, firmware and NVRAM
 * checked, --dir shares fetched and exported, the network attached, extra
 * disks locked, and the QEMU options filled in. */
#include "vm/session.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloudinit/nocloud.h"
#include "qemu/firmware.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/remote_dir.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

/* Upstream's rule at start (docs/upstream.md, "Clone and MAC addresses"): another
 * running VM with our MAC makes us take a new one, under the global lock. */
static int resolve_mac_collision(struct tart_home *h, const char *name, const char *dir, tart_error_t *err)
{
  int r = local_vm_unique_mac(h, dir, name, MAC_IF_RUNNING_HAS_IT, err);
  if (r == 1) {
    report(REPORT_STATUS, "There is already a running VM with the same MAC address!");
    report(REPORT_STATUS, "Resetting VM to assign a new MAC address...");
  }
  return r < 0 ? -1 : 0;
}

/* An nvram.bin QEMU's firmware cannot use (e.g. Virtualization.framework's
 * store from an upstream image) is replaced by a fresh one: the size of a
 * flash device must match the firmware's. */
static int check_nvram(const char *dir, enum vm_arch arch, tart_error_t *err)
{
  _cleanup_free_ char *tmpl = NULL;
  if (firmware_find(arch, FIRMWARE_VARS, &tmpl, err) < 0)
    return -1;
  _cleanup_free_ char *nvram = vm_dir_file(dir, VM_FILE_NVRAM);
  if (file_apparent_bytes(nvram) == file_apparent_bytes(tmpl))
    return 0;
  report(REPORT_STATUS,
         "nvram.bin is not a UEFI variable store this firmware can use: replacing it with a fresh one");
  _cleanup_free_ char *fresh = xasprintf("%s.new", nvram);
  unlink(fresh);
  if (copy_file_sparse(tmpl, fresh, 0644, NULL, err) < 0)
    return -1;
  if (rename(fresh, nvram) < 0) {
    int e = errno;
    unlink(fresh);
    return tart_error_make(err, e, "cannot replace %s", nvram);
  }
  return 0;
}

void session_remove_sockets(const char *dir)
{
  static const char *const names[] = {VM_QMP_SOCKET, VM_QGA_SOCKET, VM_MONITOR_SOCKET};
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    _cleanup_free_ char *p = vm_dir_file(dir, names[i]);
    unlink(p);
  }
}

static int write_net_state(const char *dir, const struct net_attachment *a, tart_error_t *err)
{
  json_t *o = json_pack("{s:s}", "mode", net_mode_name(a->mode));
  if (a->net_dir)
    json_object_set_new(o, "networkDir", json_string(a->net_dir));
  json_t *ifs = json_array();
  for (size_t i = 0; i < a->n; i++)
    json_array_append_new(ifs, json_string(a->ifnames[i]));
  json_object_set_new(o, "interfaces", ifs);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  _cleanup_free_ char *path = vm_dir_file(dir, VM_NET_STATE);
  int r = write_file_atomic(path, text, strlen(text), 0644, err);
  free(text);
  return r;
}

int vm_net_state(const char *vm_dir, enum net_mode *mode, char **net_dir)
{
  _cleanup_free_ char *path = vm_dir_file(vm_dir, VM_NET_STATE);
  json_t *o = json_load_file(path, 0, NULL);
  if (o == NULL)
    return -1;
  const char *m = json_string_value(json_object_get(o, "mode"));
  const char *d = json_string_value(json_object_get(o, "networkDir"));
  int r = m && net_mode_parse(m, mode) == 0 ? 0 : -1;
  if (net_dir)
    *net_dir = r == 0 && d ? xstrdup(d) : NULL;
  json_decref(o);
  return r;
}

int vm_pick_share_fs(bool suspendable, bool restore, enum qemu_fs *fs, char **virtiofsd, tart_error_t *err)
{
  *fs = QEMU_FS_9P;
  *virtiofsd = NULL;
  const char *force = getenv("TART_DIR_SHARING");
  if (force && *force && strcmp(force, "9p") && strcmp(force, "virtiofs"))
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "TART_DIR_SHARING must be 9p or virtiofs, not \"%s\"",
                           force);
  if (force && !strcmp(force, "9p"))
    return 0;
  bool want = force && !strcmp(force, "virtiofs");
  const char *why = NULL;
  if (restore)
    why = "a suspended VM is restored with the 9p shares it was saved with";
  else if (suspendable && !want)
    return 0;
  else if (geteuid() != 0)
    why = "virtiofsd needs root";
  else if ((*virtiofsd = virtiofsd_find()) == NULL) {
    const char *env = getenv("TART_VIRTIOFSD");
    if (env && *env)
      return tart_error_make(err, 0, "TART_VIRTIOFSD=%s is not an executable file", env);
    why = "no virtiofsd found (Debian: qemu-system-common; or set TART_VIRTIOFSD)";
  }
  if (why == NULL) {
    *fs = QEMU_FS_VIRTIOFS;
    return 0;
  }
  if (want)
    return tart_error_make(err, 0, "cannot share directories over virtio-fs: %s", why);
  return 0;
}

/* --dir http(s)://...tar.gz (docs/upstream.md, "Directory shares"): each such share becomes a
 * fresh tmp/ entry holding the unpacked archive (removed when the run
 * ends); the others are copied as they are. */
static int fetch_remote_shares(struct tart_home *h, const struct run_opts *o, struct qemu_share *shares,
                               struct tmp_entry *vols, size_t *n_vols, tart_error_t *err)
{
  if (o->n_shares > VM_MAX_SHARES)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "too many --dir options (at most %d)", VM_MAX_SHARES);
  for (size_t i = 0; i < o->n_shares; i++) {
    shares[i] = o->shares[i];
    if (!remote_dir_is_url(shares[i].path))
      continue;
    _cleanup_free_ char *archive = NULL;
    if (remote_dir_fetch(h, shares[i].path, &archive, err) < 0)
      return -1;
    if (tmp_entry_create(h, &vols[*n_vols], err) < 0)
      return -1;
    struct tmp_entry *v = &vols[(*n_vols)++];
    if (remote_dir_extract(archive, v->path, err) < 0)
      return tart_error_wrap(err, "--dir %s", shares[i].path);
    log_debug("--dir %s: unpacked into %s", shares[i].path, v->path);
    shares[i].path = v->path;
  }
  return 0;
}

/* --cloud-init: a NoCloud seed of the user-data in the VM directory,
 * attached read-only after the --disk ones.  The instance-id follows the
 * user-data's digest and the VM's MAC, so cloud-init applies a changed file
 * as a new instance and leaves an unchanged one alone on later boots, and
 * a clone (a new MAC) is a new instance: cloud-init makes it new SSH host
 * keys (docs/faq.md, "Linux guests").  Made under
 * the run lock: a running VM's seed is never rewritten.  Its path is
 * absolute: QEMU runs in the VM directory, and $TART_HOME may be
 * relative. */
static int make_cloud_init_seed(struct session *x, tart_error_t *err)
{
  const struct run_opts *o = x->o;
  char digest[DIGEST_STR_LEN], mac[18];
  mac_format(&x->cfg.mac, mac);
  size_t n = o->cloud_init_len + sizeof(mac) + 1;
  _cleanup_free_ char *keyed = xmalloc(n);
  memcpy(keyed, o->cloud_init, o->cloud_init_len);
  keyed[o->cloud_init_len] = '\n';
  memcpy(keyed + o->cloud_init_len + 1, mac, sizeof(mac));
  sha256_of(keyed, n, digest);
  const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
  _cleanup_free_ char *id = xasprintf("tart-%.16s", hex);
  _cleanup_free_ char *meta = nocloud_meta_data(id, x->name);
  struct nocloud_seed seed = {.user_data = o->cloud_init,
                              .user_data_len = o->cloud_init_len,
                              .meta_data = meta,
                              .meta_data_len = strlen(meta)};
  _cleanup_free_ char *dir = realpath(x->dir, NULL);
  if (dir == NULL)
    return tart_error_make(err, errno, "cannot resolve %s", x->dir);
  x->seed = vm_dir_file(dir, VM_CLOUD_INIT_SEED);
  if (nocloud_seed_write(x->seed, &seed, err) < 0)
    return -1;
  x->disks[x->n_disks++] = (struct qemu_disk){.path = x->seed, .readonly = true};
  return 0;
}

/* The run's extra disks: the --disk ones, then the cloud-init seed; a
 * writable one must not be in use elsewhere (docs/upstream.md, "Locks and
 * running state"): an flock on it is held for as long as the VM runs. */
static int attach_disks(struct session *x, tart_error_t *err)
{
  const struct run_opts *o = x->o;
  if (o->n_disks + (o->cloud_init ? 1 : 0) > ARRAY_SIZE(x->disks))
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "too many --disk options (at most %zu)",
                           ARRAY_SIZE(x->disks));
  for (size_t i = 0; i < o->n_disks; i++)
    x->disks[x->n_disks++] = o->disks[i];
  if (o->cloud_init && make_cloud_init_seed(x, err) < 0)
    return -1;
  for (size_t i = 0; i < x->n_disks; i++) {
    struct stat st;
    if (x->disks[i].readonly || stat(x->disks[i].path, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    x->disk_fds[i] = open(x->disks[i].path, O_RDONLY | O_CLOEXEC);
    if (x->disk_fds[i] < 0)
      return tart_error_make(err, errno, "cannot open --disk %s", x->disks[i].path);
    if (lock_flock(x->disk_fds[i], true, false, err) != 0)
      return tart_error_make(err, 0, "disk %s seems to be already in use, stop what uses it first",
                             x->disks[i].path);
  }
  return 0;
}

/* Lock the VM, read its config, check firmware and shares, attach the
 * network and lock the extra disks: everything that stays the same when
 * QEMU is started again under another accelerator. */
int session_prepare(struct session *x, tart_error_t *err)
{
  if (local_vm_open(x->h, x->name, &x->dir, err) < 0)
    return -1;
  /* Under the global lock (docs/upstream.md, "Running a VM"): the MAC check (which may rewrite
   * config.json), reading the config, and only then the run lock.  The
   * order matters: closing any descriptor of config.json drops this
   * process's fcntl locks on it, and an atomic rewrite would leave the lock
   * on a dead inode; after the lock, config.json is never opened again. */
  if (tart_home_lock(x->h, err) < 0)
    return -1;
  x->cfg_path = vm_dir_file(x->dir, VM_FILE_CONFIG);
  bool already = vm_dir_running_pid(x->dir) != 0;
  int r = already ? tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is already running!", x->name)
                  : resolve_mac_collision(x->h, x->name, x->dir, err);
  if (r == 0)
    r = vm_config_load(x->cfg_path, &x->cfg, err);
  if (r == 0 && vm_dir_lock_running(x->dir, x->name, &x->lock_fd, err) < 0)
    r = -1;
  tart_home_unlock(x->h);
  if (r < 0)
    return -1;
  x->logs = xasprintf("%s/%s", x->dir, VM_LOGS_DIR);
  x->state = vm_dir_file(x->dir, VM_FILE_STATE);
  x->qmp_path = vm_dir_file(x->dir, VM_QMP_SOCKET);
  const struct run_opts *o = x->o;

  if (x->cfg.os != VM_OS_LINUX)
    return tart_error_make(err, 0, "macOS VMs cannot run on Linux hosts: only Linux guests are supported");
  if (x->cfg.firmware == VM_FIRMWARE_EFI &&
      (firmware_find(x->cfg.arch, FIRMWARE_CODE, &x->fw_code, err) < 0 ||
       check_nvram(x->dir, x->cfg.arch, err) < 0))
    return -1;
  if (mkdir_p(x->logs, 0700, err) < 0)
    return -1;
  /* A new run: the last one's end no longer speaks for the VM. */
  _cleanup_free_ char *run_error = xasprintf("%s/%s", x->logs, VM_RUN_ERROR);
  unlink(run_error);
  session_remove_sockets(x->dir);
  virtiofsd_cleanup_dir(x->dir);
  x->restore = x->restore_attempt = access(x->state, F_OK) == 0;
  if (fetch_remote_shares(x->h, o, x->shares, x->vols, &x->n_vols, err) < 0)
    return -1;
  if (o->n_shares > 0 &&
      (vm_pick_share_fs(o->suspendable, x->restore, &x->share_fs, &x->virtiofsd, err) < 0 ||
       qemu_share_exports(x->shares, o->n_shares, x->share_fs, &x->exports, &x->n_exports, err) < 0))
    return -1;
  if (x->share_fs == QEMU_FS_VIRTIOFS && x->n_exports > ARRAY_SIZE(x->vfs))
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "too many --dir mount tags (at most %zu)",
                           ARRAY_SIZE(x->vfs));
  /* 9p: QEMU would fail on a missing directory with a long message. */
  for (size_t i = 0; x->share_fs == QEMU_FS_9P && i < o->n_shares; i++) {
    struct stat st;
    int en = stat(x->shares[i].path, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (en != 0)
      return tart_error_exit(err, TART_EXIT_USAGE, en, "--dir %s", x->shares[i].path);
  }
  if (o->n_forwards > 0 && o->net.mode != NET_MODE_USER)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "--net-user-forward needs --net-user");
  struct net_request nr = o->net;
  nr.restoring = x->restore;
  if (net_attach(&nr, &x->cfg.mac, &x->na, err) < 0)
    return -1;
  x->attached = true;
  if (write_net_state(x->dir, &x->na, err) < 0)
    return -1;
  if (attach_disks(x, err) < 0)
    return -1;
  struct qemu_opts qo = {
      .cfg = &x->cfg,
      .vm_dir = ".",
      .name = x->name,
      .firmware_code = x->fw_code,
      .nested = o->nested,
      .nodefaults = !x->restore || control_state_has_nodefaults(x->dir),
      .root = o->root_disk,
      .no_keyboard = o->no_keyboard,
      .no_pointer = o->no_pointer,
      .qmp_socket = VM_QMP_SOCKET,
      .qga_socket = VM_QGA_SOCKET,
      .monitor_socket = VM_MONITOR_SOCKET,
      .display = o->display,
      .serial = o->serial,
      .serial_path = o->serial == QEMU_SERIAL_FILE ? VM_LOGS_DIR "/" VM_CONSOLE_LOG : o->serial_path,
      .net = x->na.mode == NET_MODE_USER ? QEMU_NET_USER
             : x->na.helper_bridge       ? QEMU_NET_BRIDGE
                                         : QEMU_NET_TAP_FD,
      .tap_fd = x->na.n > 0 ? x->na.fds[0] : -1,
      .more_tap_fds = x->na.n > 1 ? x->na.fds + 1 : NULL,
      .n_more_tap_fds = x->na.n > 1 ? x->na.n - 1 : 0,
      .bridge = x->na.helper_bridge,
      .bridge_helper = x->na.helper,
      .forwards = o->forwards,
      .n_forwards = o->n_forwards,
      .extra_disks = x->disks,
      .n_extra_disks = x->n_disks,
      .shares = x->shares,
      .n_shares = o->n_shares,
      .share_fs = x->share_fs,
      .virtiofs_sockets = x->vfs_sockets,
      .n_virtiofs_sockets = x->share_fs == QEMU_FS_VIRTIOFS ? x->n_exports : 0,
      .incoming = x->restore ? "exec:cat " VM_FILE_STATE : NULL,
      .firmware_log = VM_LOGS_DIR "/" VM_FIRMWARE_LOG,
  };
  x->qo = qo;
  return 0;
}
