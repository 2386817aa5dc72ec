#include "qemu/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu/firmware.h"
#include "qemu/qmp.h"
#include "qemu/virtiofsd.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/remote_dir.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/process.h"
#include "util/util.h"
#include "vmconfig/config.h"

#define QMP_START_TIMEOUT_MS   30000
#define QMP_COMMAND_TIMEOUT_MS 10000

static bool kvm_usable(void)
{
  return access("/dev/kvm", R_OK | W_OK) == 0;
}

/* Upstream's rule at start (U§8): another running VM with our MAC makes us
 * take a new one, under the global lock. */
static int resolve_mac_collision(struct tart_home *h, const char *name, const char *dir, tart_error_t *err)
{
  _cleanup_free_ char *cfg_path = vm_dir_file(dir, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_config_load(cfg_path, &cfg, err) < 0)
    return -1;
  struct vm_list l;
  int ret = 0;
  if (local_vm_list(h, true, &l, NULL) == 0) {
    for (size_t i = 0; i < l.n; i++) {
      if (!strcmp(l.items[i].name, name) || vm_dir_running_pid(l.items[i].path) == 0)
        continue;
      struct vm_config other;
      _cleanup_free_ char *p = vm_dir_file(l.items[i].path, VM_FILE_CONFIG);
      if (vm_config_load(p, &other, NULL) < 0)
        continue;
      bool same = mac_equal(&other.mac, &cfg.mac);
      vm_config_clear(&other);
      if (same) {
        printf("There is already a running VM with the same MAC address!\n");
        printf("Resetting VM to assign a new MAC address...\n");
        struct mac_addr mac;
        mac_random(&mac);
        vm_config_set_mac(&cfg, &mac);
        ret = vm_config_save(&cfg, cfg_path, err);
        break;
      }
    }
    vm_list_clear(&l);
  }
  vm_config_clear(&cfg);
  return ret;
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
  printf("nvram.bin is not a UEFI variable store this firmware can use: replacing it with a fresh one\n");
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

/* The last non-empty line of logs/<log> (qemu.log, virtiofsd.log), for a
 * one-line error. */
static void last_log_line(const char *dir, const char *log, char *out, size_t n)
{
  out[0] = '\0';
  _cleanup_free_ char *path = xasprintf("%s/%s/%s", dir, VM_LOGS_DIR, log);
  char *text = NULL;
  size_t len = 0;
  if (read_file(path, 1u << 20, &text, &len, NULL) < 0)
    return;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
    text[--len] = '\0';
  char *nl = strrchr(text, '\n');
  snprintf(out, n, "%s", nl ? nl + 1 : text);
  free(text);
}

static pid_t spawn_qemu(const char *dir, char **argv, const int *keep_fds, size_t n_keep, tart_error_t *err)
{
  _cleanup_free_ char *log_path = xasprintf("%s/%s/qemu.log", dir, VM_LOGS_DIR);
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return tart_error_make(err, errno, "cannot open %s", log_path);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    return tart_error_make(err, e, "cannot start QEMU");
  }
  if (pid == 0) {
    /* QEMU dies with us, ignores the terminal's signals (we handle them),
     * and resolves the sockets and disk relative to the VM directory. */
    process_child_supervised(parent, log_fd);
    /* The tap devices QEMU is told about by number (-netdev tap,fd=N). */
    for (size_t i = 0; i < n_keep; i++)
      if (keep_fds[i] >= 0)
        fcntl(keep_fds[i], F_SETFD, 0);
    if (chdir(dir) < 0)
      _exit(127);
    execvp(argv[0], argv);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(log_fd);
  return pid;
}

struct supervisor {
  const char *name;
  const char *dir;
  char *devices_json; /* state.devices.json for this run (devices, options) */
  pid_t qemu;
  struct qmp *qmp;
  bool stopping;
  bool suspended;
};

static int suspend_vm(struct supervisor *s, tart_error_t *err)
{
  printf("pausing VM to take a snapshot...\n");
  fflush(stdout);
  if (qmp_execute(s->qmp, "stop", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, err) < 0)
    return -1;
  /* QEMU 7.2 has no file: migration URI; a shell in the VM directory (its
   * cwd) writes the stream.  Written to a temporary name so that a crash
   * half-way never leaves a state file that looks complete. */
  json_t *args = json_pack("{s:s}", "uri", "exec:cat > " VM_FILE_STATE ".partial");
  if (qmp_execute(s->qmp, "migrate", args, QMP_COMMAND_TIMEOUT_MS, NULL, err) < 0) {
    /* QEMU's 9p device cannot save its state while the guest has it
     * mounted: say what to do about it. */
    if (strstr((*err)->msg, "vhost-user-fs"))
      return tart_error_make(err, 0,
                             "Failed to suspend the VM: its --dir shares use virtio-fs, which QEMU cannot "
                             "save; run it with --suspendable to share them over 9p instead");
    if (strstr((*err)->msg, "VirtFS"))
      return tart_error_make(
          err, 0,
          "Failed to suspend the VM: a --dir share is mounted in the guest, and QEMU cannot save "
          "a VM with a mounted 9p share; unmount it in the guest first");
    return tart_error_wrap(err, "Failed to suspend the VM");
  }
  _cleanup_free_ char *partial = xasprintf("%s/%s.partial", s->dir, VM_FILE_STATE);
  for (;;) {
    json_t *ret = NULL;
    if (qmp_execute(s->qmp, "query-migrate", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, err) < 0) {
      unlink(partial);
      return -1;
    }
    const char *status = json_string_value(json_object_get(ret, "status"));
    bool done = status && !strcmp(status, "completed");
    bool failed = status && (!strcmp(status, "failed") || !strcmp(status, "cancelled"));
    json_decref(ret);
    if (done)
      break;
    if (failed) {
      unlink(partial);
      return tart_error_make(err, 0, "Failed to suspend the VM: QEMU could not save its state");
    }
    usleep(50 * 1000);
  }
  _cleanup_free_ char *state = vm_dir_file(s->dir, VM_FILE_STATE);
  /* The devices first: a state file never exists without them.  0600:
   * the options may hold URLs with tokens. */
  _cleanup_free_ char *devices_path = vm_dir_file(s->dir, VM_FILE_STATE_DEVICES);
  const char *record = s->devices_json ? s->devices_json : "{}";
  if (write_file_atomic(devices_path, record, strlen(record), 0600, err) < 0 ||
      fsync_path(partial, err) < 0 || rename(partial, state) < 0 || fsync_parent(state, err) < 0) {
    if (err && *err == NULL)
      tart_error_make(err, errno, "cannot store %s", state);
    unlink(partial); /* as large as the guest's RAM */
    return tart_error_wrap(err, "Failed to suspend the VM");
  }
  printf("snapshot created successfully! shutting down the VM...\n");
  fflush(stdout);
  s->suspended = true;
  s->stopping = true;
  return qmp_execute(s->qmp, "quit", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, err);
}

static void hard_stop(struct supervisor *s)
{
  s->stopping = true;
  tart_error_t e = NULL;
  if (s->qmp == NULL || qmp_execute(s->qmp, "quit", NULL, 3000, NULL, &e) < 0) {
    tart_error_release(&e);
    kill(s->qemu, SIGKILL);
  }
}

static int handle_signal(struct supervisor *s, int sig, tart_error_t *err)
{
  switch (sig) {
  case SIGINT:
  case SIGTERM:
    printf("Stopping VM...\n");
    fflush(stdout);
    hard_stop(s);
    return 0;
  case SIGUSR2: {
    printf("Requesting guest OS to stop...\n");
    fflush(stdout);
    tart_error_t e = NULL;
    if (qmp_execute(s->qmp, "system_powerdown", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, &e) < 0) {
      log_warn("cannot request a guest stop: %s", e->msg);
      tart_error_release(&e);
    }
    return 0;
  }
  case SIGUSR1:
    if (suspend_vm(s, err) < 0) {
      /* The VM is paused mid-way; let it go on rather than lose it. */
      tart_error_t e = NULL;
      qmp_execute(s->qmp, "cont", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, &e);
      tart_error_release(&e);
      fprintf(stderr, "tart: error: %s\n", (*err)->msg);
      /* `tart suspend` waits for this answer (or for us to stop). */
      _cleanup_free_ char *path = xasprintf("%s/%s/%s", s->dir, VM_LOGS_DIR, VM_SUSPEND_ERROR);
      write_file_atomic(path, (*err)->msg, strlen((*err)->msg), 0600, NULL);
      tart_error_release(err);
    }
    return 0;
  }
  return 0;
}

/* Restore a suspended VM: QEMU started with -incoming waits paused once
 * the state is read; resume it and drop the state file. */
static int finish_restore(struct supervisor *s, tart_error_t *err)
{
  printf("restoring VM state from a snapshot...\n");
  for (int i = 0;; i++) {
    json_t *ret = NULL;
    if (qmp_execute(s->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, err) < 0)
      return -1;
    const char *st = json_string_value(json_object_get(ret, "status"));
    bool ready = st && (!strcmp(st, "paused") || !strcmp(st, "postmigrate") || !strcmp(st, "running"));
    bool failed = st && (!strcmp(st, "internal-error") || !strcmp(st, "shutdown"));
    json_decref(ret);
    if (ready)
      break;
    if (failed || i > 1200)
      return tart_error_make(err, 0, "cannot restore the VM from %s", VM_FILE_STATE);
    usleep(50 * 1000);
  }
  if (qmp_execute(s->qmp, "cont", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, err) < 0)
    return -1;
  _cleanup_free_ char *state = vm_dir_file(s->dir, VM_FILE_STATE);
  _cleanup_free_ char *devices = vm_dir_file(s->dir, VM_FILE_STATE_DEVICES);
  unlink(state);
  unlink(devices);
  return 0;
}

/* The text of state.devices.json, made before a suspend starts so that
 * nothing can fail half-way.  Bytes that are not UTF-8 (legal in paths)
 * become U+FFFD: the record is for showing, never for reopening. */
static char *devices_record(const char *devices, const char *options)
{
  _cleanup_free_ char *d = utf8_sanitize(devices ? devices : "");
  _cleanup_free_ char *o = utf8_sanitize(options ? options : "");
  json_t *j = json_pack("{s:s, s:s}", "devices", d, "options", o);
  char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
  json_decref(j);
  return text ? text : xstrdup("{}");
}

/* "2 CPUs, 512 MiB, " -- the part of a summary that `tart set` changes. */
static size_t cpu_mem_len(const char *summary)
{
  const char *p = strstr(summary, " MiB");
  return p ? (size_t)(p - summary) : 0;
}

/* A restore onto other devices than the state was saved with fails deep in
 * QEMU ("Unknown ramblock", "Missing section footer"); say it up front,
 * with what to pass.  No record (an older tart): let QEMU try. */
static int check_restore_devices(const char *dir, const char *name, const char *devices, tart_error_t *err)
{
  _cleanup_free_ char *path = vm_dir_file(dir, VM_FILE_STATE_DEVICES);
  json_t *j = json_load_file(path, 0, NULL);
  if (j == NULL || devices == NULL) {
    json_decref(j);
    return 0;
  }
  /* Compared as recorded: sanitised the same way. */
  _cleanup_free_ char *now = utf8_sanitize(devices);
  const char *then = json_string_value(json_object_get(j, "devices"));
  const char *opts = json_string_value(json_object_get(j, "options"));
  int r = 0;
  if (then && *then && strcmp(then, now) != 0) {
    size_t lt = cpu_mem_len(then), ln = cpu_mem_len(now);
    bool set_differs = lt != ln || strncmp(then, now, lt) != 0;
    r = tart_error_make(err, 0,
                        "VM \"%s\" was suspended with %s, but this run gives it %s: QEMU restores a VM only onto "
                        "the devices it was saved with; %srun it with %s, or discard the suspended state with "
                        "\"tart stop %s\"",
                        name, then, now, set_differs ? "set the CPU count and memory back with \"tart set\" and " : "",
                        opts && *opts ? opts : "no --disk, --dir, --cloud-init or --net-bridged options", name);
  }
  json_decref(j);
  return r;
}

static void remove_sockets(const char *dir)
{
  static const char *const names[] = {VM_QMP_SOCKET, VM_QGA_SOCKET, VM_MONITOR_SOCKET};
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    _cleanup_free_ char *p = vm_dir_file(dir, names[i]);
    unlink(p);
  }
}

/* --vnc: QEMU listens with password auth but no password, so nobody gets in
 * until we set one.  VNC authentication uses at most 8 characters. */
static int announce_vnc(struct supervisor *s, tart_error_t *err)
{
  static const char alphabet[] = "abcdefghijkmnopqrstuvwxyz23456789";
  unsigned char rnd[8];
  char pw[sizeof(rnd) + 1];
  random_bytes(rnd, sizeof(rnd));
  for (size_t i = 0; i < sizeof(rnd); i++)
    pw[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
  pw[sizeof(rnd)] = '\0';
  if (qmp_execute(s->qmp, "change-vnc-password", json_pack("{s:s}", "password", pw), QMP_COMMAND_TIMEOUT_MS,
                  NULL, err) < 0)
    return tart_error_wrap(err, "cannot set the VNC password");
  json_t *ret = NULL;
  if (qmp_execute(s->qmp, "query-vnc", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, err) < 0)
    return tart_error_wrap(err, "cannot query the VNC server");
  const char *host = json_string_value(json_object_get(ret, "host"));
  const char *port = json_string_value(json_object_get(ret, "service"));
  int r = 0;
  if (host && port)
    printf("VNC server is running at vnc://:%s@%s:%s\n", pw, host, port);
  else
    r = tart_error_make(err, 0, "QEMU's VNC server is not listening");
  json_decref(ret);
  return r;
}

/* --serial: QEMU made the pty; its name is in query-chardev. */
static int announce_pty(struct supervisor *s, tart_error_t *err)
{
  json_t *ret = NULL;
  if (qmp_execute(s->qmp, "query-chardev", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, err) < 0)
    return tart_error_wrap(err, "cannot query the serial console");
  int r = tart_error_make(err, 0, "QEMU did not report the serial console's pty");
  size_t i;
  json_t *c;
  json_array_foreach(ret, i, c)
  {
    const char *label = json_string_value(json_object_get(c, "label"));
    const char *file = json_string_value(json_object_get(c, "filename"));
    if (label && file && !strcmp(label, QEMU_SERIAL_CHARDEV) && !strncmp(file, "pty:", 4)) {
      tart_error_release(err);
      printf("Successfully open pty %s\n", file + 4);
      r = 0;
      break;
    }
  }
  json_decref(ret);
  return r;
}

/* --detach: tell the waiting parent the VM runs, then log to a file. */
static int detach_output(const char *dir, int ready_fd, tart_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/%s/%s", dir, VM_LOGS_DIR, VM_RUN_LOG);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", path);
  fflush(stdout);
  fflush(stderr);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
  ssize_t w;
  do
    w = write(ready_fd, "R", 1);
  while (w < 0 && errno == EINTR);
  close(ready_fd);
  return 0;
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

static void stop_virtiofsds(struct virtiofsd *v, size_t n, const char *dir)
{
  for (size_t i = 0; i < n; i++)
    virtiofsd_stop(&v[i], dir, 2000);
}

/* Why QEMU could not connect: a virtiofsd that died says so in its log. */
static bool virtiofsd_failure(struct virtiofsd *v, size_t n, const char *dir, char *out, size_t len)
{
  for (size_t i = 0; i < n; i++) {
    if (!virtiofsd_failed(&v[i]))
      continue;
    char line[400];
    last_log_line(dir, VIRTIOFSD_LOG, line, sizeof(line));
    snprintf(out, len, "virtiofsd for the --dir shares failed%s%s (see %s/%s/%s)", line[0] ? ": " : "", line, dir,
             VM_LOGS_DIR, VIRTIOFSD_LOG);
    return true;
  }
  return false;
}

/* --dir http(s)://...tar.gz (upstream §9.5): each such share becomes a
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

int vm_run(struct tart_home *h, const char *name, const struct run_opts *o, tart_error_t *err)
{
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(h, name, &dir, err) < 0)
    return -1;

  /* Under the global lock (U§9.1): the MAC check (which may rewrite
   * config.json), reading the config, and only then the run lock.  The
   * order matters: closing any descriptor of config.json drops this
   * process's fcntl locks on it, and an atomic rewrite would leave the lock
   * on a dead inode; after the lock, config.json is never opened again. */
  if (tart_home_lock(h, err) < 0)
    return -1;
  _cleanup_close_ int lock_fd = -1;
  _cleanup_free_ char *cfg_path = vm_dir_file(dir, VM_FILE_CONFIG);
  struct vm_config cfg = {0};
  bool already = vm_dir_running_pid(dir) != 0;
  int r = already ? tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is already running!", name)
                  : resolve_mac_collision(h, name, dir, err);
  if (r == 0)
    r = vm_config_load(cfg_path, &cfg, err);
  if (r == 0 && vm_dir_lock_running(dir, name, &lock_fd, err) < 0) {
    vm_config_clear(&cfg);
    r = -1;
  }
  tart_home_unlock(h);
  if (r < 0)
    return -1;
  int ret = -1;
  char **argv = NULL;
  _cleanup_free_ char *fw_code = NULL;
  _cleanup_free_ char *logs = xasprintf("%s/%s", dir, VM_LOGS_DIR);
  _cleanup_free_ char *state = vm_dir_file(dir, VM_FILE_STATE);
  _cleanup_free_ char *qmp_path = vm_dir_file(dir, VM_QMP_SOCKET);
  int disk_fds[16];
  for (size_t i = 0; i < ARRAY_SIZE(disk_fds); i++)
    disk_fds[i] = -1;
  struct supervisor s = {.name = name, .dir = dir, .qemu = -1};
  struct net_attachment na = {.n = 0};
  bool attached = false;
  _cleanup_free_ char *devices = NULL;
  /* The shares, with http(s) ones replaced by their unpacked copies. */
  struct qemu_share shares[VM_MAX_SHARES];
  struct tmp_entry vols[VM_MAX_SHARES];
  size_t n_vols = 0;
  enum qemu_fs share_fs = QEMU_FS_9P;
  bool restore_attempt = false;
  _cleanup_free_ char *virtiofsd = NULL;
  struct qemu_export *exports = NULL;
  size_t n_exports = 0;
  struct virtiofsd vfs[16];
  const char *vfs_sockets[ARRAY_SIZE(vfs)];
  size_t n_vfs = 0;
  int sfd = -1;
  sigset_t mask, old_mask;
  sigemptyset(&mask);

  if (cfg.os != VM_OS_LINUX) {
    tart_error_make(err, 0, "macOS VMs cannot run on Linux hosts: only Linux guests are supported");
    goto out;
  }
  bool kvm = kvm_usable() && cfg.arch == vm_arch_host();
  if (cfg.firmware == VM_FIRMWARE_EFI &&
      (firmware_find(cfg.arch, FIRMWARE_CODE, &fw_code, err) < 0 || check_nvram(dir, cfg.arch, err) < 0))
    goto out;

  if (mkdir_p(logs, 0700, err) < 0)
    goto out;
  remove_sockets(dir);
  virtiofsd_cleanup_dir(dir);
  bool restore = access(state, F_OK) == 0;
  restore_attempt = restore;
  if (fetch_remote_shares(h, o, shares, vols, &n_vols, err) < 0)
    goto out;
  if (o->n_shares > 0 &&
      (vm_pick_share_fs(o->suspendable, restore, &share_fs, &virtiofsd, err) < 0 ||
       qemu_share_exports(shares, o->n_shares, share_fs, &exports, &n_exports, err) < 0))
    goto out;
  if (share_fs == QEMU_FS_VIRTIOFS && n_exports > ARRAY_SIZE(vfs)) {
    tart_error_exit(err, TART_EXIT_USAGE, 0, "too many --dir mount tags (at most %zu)", ARRAY_SIZE(vfs));
    goto out;
  }
  /* 9p: QEMU would fail on a missing directory with a long message. */
  for (size_t i = 0; share_fs == QEMU_FS_9P && i < o->n_shares; i++) {
    struct stat st;
    int en = stat(shares[i].path, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (en != 0) {
      tart_error_exit(err, TART_EXIT_USAGE, en, "--dir %s", shares[i].path);
      goto out;
    }
  }

  if (o->n_forwards > 0 && o->net.mode != NET_MODE_USER) {
    tart_error_exit(err, TART_EXIT_USAGE, 0, "--net-user-forward needs --net-user");
    goto out;
  }
  struct net_request nr = o->net;
  nr.restoring = restore;
  if (net_attach(&nr, &cfg.mac, &na, err) < 0)
    goto out;
  attached = true;
  if (write_net_state(dir, &na, err) < 0)
    goto out;
  struct qemu_opts qo = {
      .cfg = &cfg,
      .vm_dir = ".",
      .name = name,
      .firmware_code = fw_code,
      .kvm = kvm,
      .nested = o->nested,
      .qmp_socket = VM_QMP_SOCKET,
      .qga_socket = VM_QGA_SOCKET,
      .monitor_socket = VM_MONITOR_SOCKET,
      .display = o->display,
      .serial = o->serial,
      .serial_path = o->serial == QEMU_SERIAL_FILE ? VM_LOGS_DIR "/console.log" : o->serial_path,
      .net = na.mode == NET_MODE_USER ? QEMU_NET_USER
             : na.helper_bridge       ? QEMU_NET_BRIDGE
                                      : QEMU_NET_TAP_FD,
      .tap_fd = na.n > 0 ? na.fds[0] : -1,
      .more_tap_fds = na.n > 1 ? na.fds + 1 : NULL,
      .n_more_tap_fds = na.n > 1 ? na.n - 1 : 0,
      .bridge = na.helper_bridge,
      .bridge_helper = na.helper,
      .forwards = o->forwards,
      .n_forwards = o->n_forwards,
      .extra_disks = o->disks,
      .n_extra_disks = o->n_disks,
      .shares = shares,
      .n_shares = o->n_shares,
      .share_fs = share_fs,
      .virtiofs_sockets = vfs_sockets,
      .n_virtiofs_sockets = share_fs == QEMU_FS_VIRTIOFS ? n_exports : 0,
      .incoming = restore ? "exec:cat " VM_FILE_STATE : NULL,
  };
  /* A writable extra disk must not be in use elsewhere (U§2.4.5): hold an
   * flock on it for as long as the VM runs. */
  for (size_t i = 0; i < o->n_disks && i < ARRAY_SIZE(disk_fds); i++) {
    struct stat st;
    if (o->disks[i].readonly || stat(o->disks[i].path, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    disk_fds[i] = open(o->disks[i].path, O_RDONLY | O_CLOEXEC);
    if (disk_fds[i] < 0) {
      tart_error_make(err, errno, "cannot open --disk %s", o->disks[i].path);
      goto out;
    }
    if (lock_flock(disk_fds[i], true, false, err) != 0) {
      tart_error_make(err, 0, "disk %s seems to be already in use, stop what uses it first",
                      o->disks[i].path);
      goto out;
    }
  }
  if (share_fs == QEMU_FS_VIRTIOFS) {
    for (; n_vfs < n_exports; n_vfs++) {
      if (virtiofsd_start(virtiofsd, dir, n_vfs, &exports[n_vfs], shares, &vfs[n_vfs], err) < 0)
        goto out;
      vfs_sockets[n_vfs] = vfs[n_vfs].socket;
    }
  }
  if (qemu_cmdline_build(&qo, &argv, err) < 0)
    goto out;
  devices = qemu_device_summary(&qo);
  if (restore && check_restore_devices(dir, name, devices, err) < 0)
    goto out;
  s.devices_json = devices_record(devices, o->device_args);
  if (log_debug_enabled()) {
    _cleanup_free_ char *line = qemu_cmdline_string(argv);
    log_debug("qemu: %s", line);
  }

  /* Signals become events on a signalfd, handled between QMP messages. */
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGUSR2);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    tart_error_make(err, errno, "cannot watch signals");
    goto out;
  }

  /* Notices only once every check has passed: a failure stays one line. */
  if (cfg.arch != vm_arch_host())
    fprintf(stderr, "tart: warning: this is an %s VM on an %s host: it runs under TCG emulation, slowly\n",
            vm_arch_name(cfg.arch), vm_arch_name(vm_arch_host()));
  else if (!kvm)
    fprintf(stderr, "tart: notice: /dev/kvm is not usable: running under TCG emulation, which is slow\n");
  s.qemu = spawn_qemu(dir, argv, na.fds, na.n, err);
  if (s.qemu < 0)
    goto out;
  int64_t deadline = qmp_deadline(QMP_START_TIMEOUT_MS);
  for (;;) {
    tart_error_t e = NULL;
    if (qmp_connect(qmp_path, 200, &s.qmp, &e) == 0)
      break;
    tart_error_release(&e);
    int status;
    if (waitpid(s.qemu, &status, WNOHANG) == s.qemu) {
      s.qemu = -1;
      char line[512];
      if (virtiofsd_failure(vfs, n_vfs, dir, line, sizeof(line))) {
        tart_error_make(err, 0, "QEMU failed to start: %s", line);
        goto out;
      }
      last_log_line(dir, "qemu.log", line, sizeof(line));
      tart_error_make(err, 0, "QEMU failed to start%s%s (see %s/qemu.log)", line[0] ? ": " : "", line, logs);
      goto out;
    }
    if (qmp_now_ms() > deadline) {
      tart_error_make(err, ETIMEDOUT, "QEMU did not open its QMP socket within %d s",
                      QMP_START_TIMEOUT_MS / 1000);
      goto out;
    }
    usleep(20 * 1000);
  }
  if (restore && finish_restore(&s, err) < 0)
    goto out;
  if ((o->display == QEMU_DISPLAY_VNC || o->display == QEMU_DISPLAY_WINDOW_VNC) && announce_vnc(&s, err) < 0)
    goto out;
  if (o->serial == QEMU_SERIAL_PTY && announce_pty(&s, err) < 0)
    goto out;
  fflush(stdout);
  if (o->ready_fd >= 0 && detach_output(dir, o->ready_fd, err) < 0)
    goto out;

  /* Supervise: until QEMU exits. */
  for (;;) {
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
                          {.fd = s.qmp ? qmp_fd(s.qmp) : -1, .events = POLLIN}};
    /* Without QMP (QEMU exiting) wake up now and then to reap it; an
     * isolated VM's rules wait for its lease, looked for every second. */
    int net_ms = net_attach_poll(&na);
    if (poll(p, 2, !s.qmp ? 50 : net_ms) < 0) {
      if (errno == EINTR)
        continue;
      tart_error_make(err, errno, "poll");
      goto out;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      /* Drain what QEMU sent; a SHUTDOWN event comes before it exits. */
      for (;;) {
        json_t *ev = NULL;
        tart_error_t e = NULL;
        int w = qmp_wait_event(s.qmp, NULL, 0, &ev, &e);
        if (w == 1) {
          const char *what = json_string_value(json_object_get(ev, "event"));
          const char *why = json_string_value(json_object_get(json_object_get(ev, "data"), "reason"));
          if (what && !strcmp(what, "SHUTDOWN") && !s.stopping && why && !strcmp(why, "guest-shutdown"))
            printf("guest has stopped the virtual machine\n");
          json_decref(ev);
          continue;
        }
        if (w < 0) {
          /* QMP closed: QEMU is going away; SIGCHLD will tell. */
          qmp_close(s.qmp);
          s.qmp = NULL;
        }
        tart_error_release(&e);
        break;
      }
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
          continue;
        if (s.qmp == NULL && si.ssi_signo != SIGCHLD) {
          kill(s.qemu, SIGKILL);
          continue;
        }
        handle_signal(&s, (int)si.ssi_signo, err);
      }
    }
    int status;
    pid_t w = waitpid(s.qemu, &status, WNOHANG);
    if (w == s.qemu) {
      s.qemu = -1;
      if (!s.stopping && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char line[512];
        last_log_line(dir, "qemu.log", line, sizeof(line));
        tart_error_make(err, 0, "QEMU stopped unexpectedly%s%s (see %s/qemu.log)", line[0] ? ": " : "", line,
                        logs);
        goto out;
      }
      break;
    }
  }
  ret = 0;

out:
  if (s.qemu > 0) {
    kill(s.qemu, SIGKILL);
    waitpid(s.qemu, NULL, 0);
  }
  if (s.qmp)
    qmp_close(s.qmp);
  if (sfd >= 0) {
    close(sfd);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
  }
  remove_sockets(dir);
  stop_virtiofsds(vfs, n_vfs, dir);
  free(s.devices_json);
  for (size_t i = 0; i < n_vols; i++)
    tmp_entry_discard(&vols[i]);
  if (share_fs == QEMU_FS_VIRTIOFS)
    virtiofsd_cleanup_dir(dir);
  qemu_exports_free(exports, n_exports);
  if (attached) {
    /* A VM still suspended (saved now, or a restore that failed) keeps its
     * lease: the guest has the address in its saved memory. */
    net_detach(&na, s.suspended || (restore_attempt && access(state, F_OK) == 0));
    _cleanup_free_ char *ns = vm_dir_file(dir, VM_NET_STATE);
    unlink(ns);
  }
  for (size_t i = 0; i < ARRAY_SIZE(disk_fds); i++)
    if (disk_fds[i] >= 0)
      close(disk_fds[i]);
  qemu_cmdline_free(argv);
  vm_config_clear(&cfg);
  return ret;
}
