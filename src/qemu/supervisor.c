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

#include "qemu/accel.h"
#include "qemu/firmware.h"
#include "qemu/qmp.h"
#include "qemu/runstate.h"
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
  str_scrub_controls(out);
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

/* The output of one boot that is read for the firmware's words. */
struct log_scan {
  char *path; /* NULL: not read */
  int64_t start, pos;
};

struct supervisor {
  const char *name;
  const char *dir;
  const char *logs;
  const struct run_opts *o;
  const char *disk_path; /* the root disk, for BLOCK_IO_ERROR "root" */
  char *devices_json;    /* state.devices.json for this run (devices, options) */
  pid_t qemu;
  struct qmp *qmp;
  bool stopping;
  bool suspended;
  bool pausing;        /* suspend paused the guest: its STOP is ours */
  bool stop_requested; /* SIGINT/SIGTERM: no start again under TCG */
  /* This QEMU: its accelerator, when it started, where its qemu.log lines
   * begin. */
  bool kvm, fallback;
  int64_t started_ms, qemu_log_from;
  char *host_key, *verdict_path; /* the per-boot KVM verdict (qemu/accel.h) */
  const char *kvm_wanted_by;     /* without fallback: what asked for KVM, for the message */
  bool kvm_pvm;
  /* Why the run must end: the message, or a start again under TCG. */
  char *end_msg;
  bool retry_tcg;
  char *fallback_reason;
  bool panicked;
  struct reset_window resets;
  char io_device[64], io_op[16], io_reason[128];
  bool io_nospace;
  struct log_scan scans[2]; /* the firmware log (amd64), the console when it is a file */
  int64_t next_scan_ms;
};

static int suspend_vm(struct supervisor *s, tart_error_t *err)
{
  printf("pausing VM to take a snapshot...\n");
  fflush(stdout);
  s->pausing = true;
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
    s->stop_requested = true;
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
      s->pausing = false;
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

/* The devices a suspended state was saved with (malloc'ed), or NULL. */
static char *saved_devices(const char *dir)
{
  _cleanup_free_ char *path = vm_dir_file(dir, VM_FILE_STATE_DEVICES);
  json_t *j = json_load_file(path, 0, NULL);
  const char *d = json_string_value(json_object_get(j, "devices"));
  char *r = d ? xstrdup(d) : NULL;
  json_decref(j);
  return r;
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
    r = tart_error_make(
        err, 0,
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
    snprintf(out, len, "virtiofsd for the --dir shares failed%s%s (see %s/%s/%s)", line[0] ? ": " : "", line,
             dir, VM_LOGS_DIR, VIRTIOFSD_LOG);
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

/* ---- watching the guest ---------------------------------------------------
 *
 * A guest that stops running without being asked ends the run with one line
 * (qemu/runstate.h): a run state from STOP/query-status, a panic, a reset
 * loop, or the firmware's "nothing to boot" in its output.  Each boot's
 * first SCAN_WINDOW bytes of the firmware log and the console are read once
 * a second: later output is the guest's own. */

#define SCAN_INTERVAL_MS 1000
#define SCAN_WINDOW      (256 * 1024)

static int64_t file_size(const char *path)
{
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
}

/* This boot's output begins here (at start and after each reset). */
static void scan_restart(struct log_scan *l)
{
  if (l->path)
    l->start = l->pos = file_size(l->path);
}

/* The firmware's "nothing to boot" in what was written since the last
 * look, or NULL.  The last bytes already read are read again, so a marker
 * cut in two by a write is still found. */
static const char *scan_step(struct log_scan *l)
{
  if (l->path == NULL)
    return NULL;
  int64_t end = file_size(l->path);
  if (end < l->start) /* truncated: QEMU started again */
    l->start = l->pos = 0;
  if (end > l->start + SCAN_WINDOW)
    end = l->start + SCAN_WINDOW;
  if (end <= l->pos)
    return NULL;
  int64_t from = l->pos - 64 > l->start ? l->pos - 64 : l->start;
  /* Regular files only: reading a FIFO would take the bytes from its reader. */
  _cleanup_close_ int fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return NULL;
  size_t n = (size_t)(end - from);
  _cleanup_free_ char *buf = xmalloc(n);
  ssize_t r = pread(fd, buf, n, from);
  if (r <= 0)
    return NULL;
  l->pos = from + r;
  return firmware_noboot_marker(buf, (size_t)r);
}

/* The first line that this QEMU wrote to qemu.log (the file is appended
 * to by every run) holding one of needles (NULL-terminated), scrubbed of
 * control characters; "" when none. */
static void qemu_log_line(const struct supervisor *s, const char *const *needles, char *out, size_t n)
{
  out[0] = '\0';
  _cleanup_free_ char *path = xasprintf("%s/qemu.log", s->logs);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  enum { MAX = 1 << 20 };
  _cleanup_free_ char *buf = xmalloc(MAX + 1);
  ssize_t r = pread(fd, buf, MAX, s->qemu_log_from);
  if (r <= 0)
    return;
  buf[r] = '\0';
  for (size_t i = 0; needles[i]; i++) {
    char *hit = memmem(buf, (size_t)r, needles[i], strlen(needles[i]));
    if (hit == NULL)
      continue;
    char *bol = hit;
    while (bol > buf && bol[-1] != '\n')
      bol--;
    char *eol = memchr(bol, '\n', (size_t)(buf + r - bol));
    if (eol)
      *eol = '\0';
    snprintf(out, n, "%s", bol);
    str_scrub_controls(out);
    return;
  }
}

static const char *const kvm_internal_needles[] = {"KVM internal error", NULL};
/* QEMU's words when KVM will not make or run a VM at all. */
static const char *const kvm_start_needles[] = {"failed to initialize kvm", "Could not access KVM",
                                                "KVM_CREATE_VM", "kvm_init_vcpu",
                                                /* an assertion in QEMU's KVM code: under
                                                 * kvm_pvm, "kvm_buf_set_msrs: Assertion" */
                                                "/kvm/", "kvm_", NULL};

/* Why a QEMU started under KVM died before it ran the guest, if KVM is to
 * blame: a line of this QEMU's log naming KVM (it would not make the VM or
 * set a CPU register), or a crash with nothing said.  NULL when its failure
 * is its own (a bad disk, a bad option).  Malloc'ed. */
static char *kvm_start_failure(const struct supervisor *s, int status)
{
  char line[512];
  qemu_log_line(s, kvm_start_needles, line, sizeof(line));
  if (!line[0] && !WIFSIGNALED(status))
    return NULL;
  if (!line[0])
    snprintf(line, sizeof(line), "killed by signal %d", WTERMSIG(status));
  char q[200];
  str_quote(line, 150, q, sizeof(q));
  return xasprintf("QEMU could not start under it (%s)%s", q,
                   s->kvm_pvm ? "; the kvm_pvm module's paravirtual KVM runs only guests built for it" : "");
}

/* QEMU under KVM died early (status from waitpid): when KVM is to blame and
 * the fallback may leave it, the reason is kept (and remembered for this
 * boot, see kvm_internal_error) and true returned: start again under TCG. */
static bool kvm_died_early(struct supervisor *s, int status)
{
  if (!s->kvm || !s->fallback || qmp_now_ms() - s->started_ms >= ACCEL_EARLY_MS)
    return false;
  char *reason = kvm_start_failure(s, status);
  if (reason == NULL)
    return false;
  if (s->verdict_path)
    accel_verdict_store(s->verdict_path, s->host_key, reason, NULL);
  free(s->fallback_reason);
  s->fallback_reason = reason;
  return true;
}

/* QEMU under a KVM that had to be (no fallback) died early because of
 * KVM: *err names what asked for KVM and why it cannot be; true then. */
static bool kvm_forced_failure(const struct supervisor *s, int status, tart_error_t *err)
{
  if (!s->kvm || s->fallback || qmp_now_ms() - s->started_ms >= ACCEL_EARLY_MS)
    return false;
  _cleanup_free_ char *why = kvm_start_failure(s, status);
  if (why == NULL)
    return false;
  tart_error_make(err, 0, "%s, but KVM cannot run this guest: %s (see %s/qemu.log)",
                  s->kvm_wanted_by ? s->kvm_wanted_by : "TART_ACCEL=kvm", why, s->logs);
  return true;
}

/* End the run with message (taken): QEMU is told to quit. */
static void end_run(struct supervisor *s, char *message)
{
  if (s->end_msg == NULL && !s->retry_tcg)
    s->end_msg = message;
  else
    free(message);
  hard_stop(s);
}

static void end_with(struct supervisor *s, const struct run_end *e)
{
  end_run(s, run_end_message(e));
}

/* KVM stopped the guest with an internal error. */
static void kvm_internal_error(struct supervisor *s)
{
  char line[256];
  qemu_log_line(s, kvm_internal_needles, line, sizeof(line));
  bool early = qmp_now_ms() - s->started_ms < ACCEL_EARLY_MS;
  if (!s->kvm || !early) {
    _cleanup_free_ char *log = xasprintf("%s/qemu.log", s->logs);
    struct run_end e = {.kind = RUN_END_INTERNAL_ERROR, .detail = line, .log = log};
    end_with(s, &e);
    return;
  }
  /* This KVM cannot run the guest.  Remembered for this boot of the host
   * only from an auto run: a forced one may have failed for its own
   * reasons (--nested, a state saved elsewhere), and must not send every
   * other VM to TCG. */
  char *reason = accel_kvm_failure_reason(line, s->kvm_pvm);
  if (s->fallback) {
    if (s->verdict_path)
      accel_verdict_store(s->verdict_path, s->host_key, reason, NULL);
    free(s->fallback_reason);
    s->fallback_reason = reason;
    s->retry_tcg = true;
    hard_stop(s);
    return;
  }
  end_run(s, xasprintf("%s, but KVM cannot run this guest: %s (see %s/qemu.log)",
                       s->kvm_wanted_by ? s->kvm_wanted_by : "TART_ACCEL=kvm", reason, s->logs));
  free(reason);
}

/* The host file behind a BLOCK_IO_ERROR's device ("root", "disk<N>"). */
static const char *io_device_path(const struct supervisor *s, const char *device)
{
  if (device == NULL)
    return NULL;
  if (!strcmp(device, "root"))
    return s->disk_path;
  if (!strncmp(device, "disk", 4) && device[4] >= '0' && device[4] <= '9') {
    unsigned long i = strtoul(device + 4, NULL, 10);
    if (i < s->o->n_disks)
      return s->o->disks[i].path;
  }
  return device;
}

static void check_run_state(struct supervisor *s)
{
  json_t *ret = NULL;
  tart_error_t e = NULL;
  if (qmp_execute(s->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, &e) < 0) {
    tart_error_release(&e);
    return;
  }
  char status[48];
  snprintf(status, sizeof(status), "%s", json_string_value(json_object_get(ret, "status")) ?: "");
  json_decref(ret);
  enum run_end_kind k = runstate_classify(status);
  _cleanup_free_ char *qemu_log = xasprintf("%s/qemu.log", s->logs);
  switch (k) {
  case RUN_END_NONE:
    return;
  case RUN_END_INTERNAL_ERROR:
    kvm_internal_error(s);
    return;
  case RUN_END_IO_ERROR: {
    struct run_end r = {.kind = k,
                        .io_path = io_device_path(s, s->io_device[0] ? s->io_device : NULL),
                        .io_operation = s->io_op,
                        .io_reason = s->io_reason,
                        .io_nospace = s->io_nospace,
                        .log = qemu_log};
    end_with(s, &r);
    return;
  }
  case RUN_END_PANIC: {
    struct run_end r = {.kind = k, .log = s->scans[1].path ? s->scans[1].path : qemu_log};
    end_with(s, &r);
    return;
  }
  default: {
    struct run_end r = {.kind = RUN_END_OTHER_STATE, .status = status, .log = qemu_log};
    end_with(s, &r);
    return;
  }
  }
}

static void handle_event(struct supervisor *s, json_t *ev)
{
  const char *what = json_string_value(json_object_get(ev, "event"));
  json_t *data = json_object_get(ev, "data");
  const char *why = json_string_value(json_object_get(data, "reason"));
  if (what == NULL)
    return;
  if (!strcmp(what, "SHUTDOWN")) {
    if (why && !strcmp(why, "guest-panic"))
      s->panicked = true;
    else if (!s->stopping && why && !strcmp(why, "guest-shutdown"))
      printf("guest has stopped the virtual machine\n");
  } else if (!strcmp(what, "GUEST_PANICKED")) {
    s->panicked = true;
  } else if (!strcmp(what, "BLOCK_IO_ERROR")) {
    snprintf(s->io_device, sizeof(s->io_device), "%s",
             json_string_value(json_object_get(data, "device")) ?: "");
    snprintf(s->io_op, sizeof(s->io_op), "%s", json_string_value(json_object_get(data, "operation")) ?: "");
    snprintf(s->io_reason, sizeof(s->io_reason), "%s", why ?: "");
    s->io_nospace = json_is_true(json_object_get(data, "nospace"));
  } else if (!strcmp(what, "STOP")) {
    if (!s->pausing && !s->stopping)
      check_run_state(s);
  } else if (!strcmp(what, "RESET")) {
    for (size_t i = 0; i < ARRAY_SIZE(s->scans); i++)
      scan_restart(&s->scans[i]);
    if (json_is_true(json_object_get(data, "guest")) && reset_window_note(&s->resets, qmp_now_ms())) {
      _cleanup_free_ char *qemu_log = xasprintf("%s/qemu.log", s->logs);
      struct run_end r = {.kind = RUN_END_RESET_LOOP,
                          .resets = RESET_LOOP_COUNT,
                          .reset_seconds = RESET_LOOP_MS / 1000,
                          .log = s->scans[1].path ? s->scans[1].path : qemu_log};
      end_with(s, &r);
    }
  }
  if (s->panicked && !s->stopping) {
    struct run_end r = {.kind = RUN_END_PANIC, .log = s->scans[1].path};
    end_with(s, &r);
  }
}

static void scan_logs(struct supervisor *s)
{
  int64_t now = qmp_now_ms();
  if (now < s->next_scan_ms || s->stopping)
    return;
  s->next_scan_ms = now + SCAN_INTERVAL_MS;
  for (size_t i = 0; i < ARRAY_SIZE(s->scans); i++) {
    const char *m = scan_step(&s->scans[i]);
    if (m) {
      struct run_end r = {.kind = RUN_END_NO_BOOT, .detail = m, .log = s->scans[i].path};
      end_with(s, &r);
      return;
    }
  }
}

/* ---- one run ------------------------------------------------------------ */

/* Everything a run holds, released by session_teardown on every path. */
struct session {
  struct tart_home *h;
  const char *name;
  const struct run_opts *o;
  char *dir, *logs, *state, *qmp_path, *cfg_path, *root_disk;
  int lock_fd;
  struct vm_config cfg;
  char *fw_code;
  bool restore, restore_attempt;
  int disk_fds[16];
  struct net_attachment na;
  bool attached;
  struct qemu_share shares[VM_MAX_SHARES]; /* http(s) ones replaced by their unpacked copies */
  struct tmp_entry vols[VM_MAX_SHARES];
  size_t n_vols;
  enum qemu_fs share_fs;
  char *virtiofsd;
  struct qemu_export *exports;
  size_t n_exports;
  struct virtiofsd vfs[16];
  const char *vfs_sockets[16];
  size_t n_vfs;
  struct qemu_opts qo;
  char **argv;
  char *devices;
  int sfd;
  sigset_t old_mask;
  int ready_fd;
  char *notice; /* printed once, just before the first QEMU starts */
  sigset_t mask;
  struct supervisor s;
};

/* Lock the VM, read its config, check firmware and shares, attach the
 * network and lock the extra disks: everything that stays the same when
 * QEMU is started again under another accelerator. */
static int session_prepare(struct session *x, tart_error_t *err)
{
  if (local_vm_open(x->h, x->name, &x->dir, err) < 0)
    return -1;
  /* Under the global lock (U§9.1): the MAC check (which may rewrite
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
  remove_sockets(x->dir);
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
  /* A writable extra disk must not be in use elsewhere (U§2.4.5): hold an
   * flock on it for as long as the VM runs. */
  for (size_t i = 0; i < o->n_disks && i < ARRAY_SIZE(x->disk_fds); i++) {
    struct stat st;
    if (o->disks[i].readonly || stat(o->disks[i].path, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    x->disk_fds[i] = open(o->disks[i].path, O_RDONLY | O_CLOEXEC);
    if (x->disk_fds[i] < 0)
      return tart_error_make(err, errno, "cannot open --disk %s", o->disks[i].path);
    if (lock_flock(x->disk_fds[i], true, false, err) != 0)
      return tart_error_make(err, 0, "disk %s seems to be already in use, stop what uses it first",
                             o->disks[i].path);
  }
  struct qemu_opts qo = {
      .cfg = &x->cfg,
      .vm_dir = ".",
      .name = x->name,
      .firmware_code = x->fw_code,
      .nested = o->nested,
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
      .extra_disks = o->disks,
      .n_extra_disks = o->n_disks,
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

/* Can this KVM run an ordinary guest?  OVMF with no disk, for PROBE_RUN_MS
 * after QMP is up: a KVM like kvm_pvm stops it with an internal error
 * within milliseconds; a KVM that works keeps it running.  0 and *reason:
 * it cannot; 1: it can; -1: no answer (no firmware, QEMU did not start). */
#define PROBE_RUN_MS 500
#define PROBE_SOCKET "probe.sock"
static int probe_kvm(struct session *x, char **reason)
{
  *reason = NULL;
  _cleanup_free_ char *code = NULL;
  if (x->cfg.arch != VM_ARCH_AMD64 || firmware_find(x->cfg.arch, FIRMWARE_CODE, &code, NULL) < 0)
    return -1;
  _cleanup_free_ char *ecode = qemu_opt_escape(code);
  _cleanup_free_ char *drive = xasprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", ecode);
  char *argv[] = {(char *)qemu_binary_for(x->cfg.arch),
                  "-accel",
                  "kvm",
                  "-cpu",
                  "host",
                  "-machine",
                  "q35",
                  "-m",
                  "64",
                  "-nodefaults",
                  "-no-user-config",
                  "-display",
                  "none",
                  "-drive",
                  drive,
                  "-chardev",
                  "socket,id=probe0,path=" PROBE_SOCKET ",server=on,wait=off",
                  "-mon",
                  "chardev=probe0,mode=control",
                  NULL};
  _cleanup_free_ char *sock = vm_dir_file(x->dir, PROBE_SOCKET);
  unlink(sock);
  struct supervisor *s = &x->s;
  _cleanup_free_ char *qemu_log = xasprintf("%s/qemu.log", x->logs);
  s->qemu_log_from = file_size(qemu_log);
  tart_error_t e = NULL;
  pid_t pid = spawn_qemu(x->dir, argv, NULL, 0, &e);
  if (pid < 0) {
    tart_error_release(&e);
    return -1;
  }
  int r = -1, status;
  struct qmp *q = NULL;
  int64_t deadline = qmp_deadline(5000);
  s->started_ms = qmp_now_ms();
  while (qmp_connect(sock, 200, &q, &e) < 0) {
    tart_error_release(&e);
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      /* QEMU's KVM code gave up on this host (an assertion, KVM_CREATE_VM). */
      *reason = kvm_start_failure(s, status);
      if (*reason)
        r = 0;
      break;
    }
    if (qmp_now_ms() > deadline)
      break;
    usleep(10 * 1000);
  }
  if (q) {
    json_t *ev = NULL, *ret = NULL;
    if (qmp_wait_event(q, "STOP", PROBE_RUN_MS, &ev, &e) >= 0 &&
        qmp_execute(q, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, &ret, &e) == 0) {
      const char *st = json_string_value(json_object_get(ret, "status"));
      r = st && !strcmp(st, "internal-error") ? 0 : 1;
    }
    json_decref(ev);
    json_decref(ret);
    tart_error_release(&e);
    qmp_close(q);
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  unlink(sock);
  if (r == 0 && *reason == NULL) {
    char line[256];
    qemu_log_line(s, kvm_internal_needles, line, sizeof(line));
    *reason = accel_kvm_failure_reason(line, s->kvm_pvm);
  }
  log_debug("KVM probe: %s", r == 1 ? "runs guests" : r == 0 ? "cannot run guests" : "no answer");
  return r;
}

/* The accelerator (qemu/accel.h): facts of the host and the VM, then the
 * decision.  A restore keeps the accelerator its state was saved with. */
static int session_pick_accel(struct session *x, struct accel_choice *c, tart_error_t *err)
{
  enum accel_mode mode;
  if (accel_mode_parse(getenv("TART_ACCEL"), &mode, err) < 0)
    return -1;
  struct supervisor *s = &x->s;
  struct accel_facts f = {
      .foreign_arch = x->cfg.arch != vm_arch_host(),
      .guest_arch = vm_arch_name(x->cfg.arch),
      .host_arch = vm_arch_name(vm_arch_host()),
      .nested = x->o->nested,
  };
  accel_probe_device(&f);
  s->host_key = accel_host_key(&s->kvm_pvm);
  s->verdict_path = xasprintf("%s/cache/%s", x->h->root, ACCEL_VERDICT_FILE);
  _cleanup_free_ char *cannot = NULL;
  int verdict = f.kvm == KVM_AVAILABLE ? accel_verdict_load(s->verdict_path, s->host_key, &cannot) : 0;
  f.cannot_run = cannot;
  if (x->restore && mode == ACCEL_AUTO) {
    /* The record says "..., TCG" or "..., KVM" last (qemu_device_summary). */
    _cleanup_free_ char *rec = saved_devices(x->dir);
    if (rec && strstr(rec, ", TCG") && !f.foreign_arch)
      mode = ACCEL_TCG;
  }
  if (accel_choose(mode, &f, c, err) < 0)
    return -1;
  /* Why KVM it must be, when it fails (no fallback). */
  s->kvm_wanted_by = mode == ACCEL_KVM ? "TART_ACCEL=kvm" : x->o->nested ? "--nested needs KVM" : NULL;
  if (x->restore && c->kvm) {
    c->fallback = false; /* a state saved under KVM restores only under KVM */
    if (s->kvm_wanted_by == NULL)
      s->kvm_wanted_by = "the suspended state was saved under KVM";
  }
  /* A restart under TCG would change what this run hands out (a VNC
   * password, a pty path, --detach's "it runs"): with nothing known about
   * this boot, ask KVM first. */
  const struct run_opts *o = x->o;
  bool announces = o->ready_fd >= 0 || o->serial == QEMU_SERIAL_PTY || o->display == QEMU_DISPLAY_VNC ||
                   o->display == QEMU_DISPLAY_WINDOW_VNC;
  if (c->kvm && c->fallback && verdict == ACCEL_VERDICT_NONE && announces) {
    char *why = NULL;
    int r = probe_kvm(x, &why);
    if (r >= 0)
      accel_verdict_store(s->verdict_path, s->host_key, r == 0 ? why : NULL, NULL);
    if (r == 0) {
      c->kvm = c->fallback = false;
      free(c->notice);
      c->notice = xasprintf("tart: notice: /dev/kvm cannot run this guest: %s: running under TCG emulation, "
                            "which is slow (remembered until the host reboots)",
                            why);
    }
    free(why);
  }
  return 0;
}

/* Start virtiofsd and QEMU, connect QMP.  Returns 0, 1 when QEMU could not
 * start under a KVM that the fallback may leave, or -1. */
static int session_launch(struct session *x, bool first, tart_error_t *err)
{
  struct supervisor *s = &x->s;
  if (x->share_fs == QEMU_FS_VIRTIOFS) {
    for (; x->n_vfs < x->n_exports; x->n_vfs++) {
      if (virtiofsd_start(x->virtiofsd, x->dir, x->n_vfs, &x->exports[x->n_vfs], x->shares, &x->vfs[x->n_vfs],
                          err) < 0)
        return -1;
      x->vfs_sockets[x->n_vfs] = x->vfs[x->n_vfs].socket;
    }
  }
  x->qo.kvm = s->kvm;
  qemu_cmdline_free(x->argv);
  x->argv = NULL;
  if (qemu_cmdline_build(&x->qo, &x->argv, err) < 0)
    return -1;
  free(x->devices);
  x->devices = qemu_device_summary(&x->qo);
  if (first && x->restore && check_restore_devices(x->dir, x->name, x->devices, err) < 0)
    return -1;
  free(s->devices_json);
  s->devices_json = devices_record(x->devices, x->o->device_args);
  if (log_debug_enabled()) {
    _cleanup_free_ char *line = qemu_cmdline_string(x->argv);
    log_debug("qemu: %s", line);
  }
  _cleanup_free_ char *qemu_log = xasprintf("%s/qemu.log", x->logs);
  s->qemu_log_from = file_size(qemu_log);
  /* A fresh firmware log each start: it is only this boot's. */
  _cleanup_free_ char *fw_log = xasprintf("%s/%s", x->logs, VM_FIRMWARE_LOG);
  unlink(fw_log);
  /* Notices only once every check has passed: a failure stays one line. */
  if (first && x->notice) {
    fprintf(stderr, "%s\n", x->notice);
    fflush(stderr);
  }
  s->started_ms = qmp_now_ms();
  s->qemu = spawn_qemu(x->dir, x->argv, x->na.fds, x->na.n, err);
  if (s->qemu < 0)
    return -1;
  int64_t deadline = qmp_deadline(QMP_START_TIMEOUT_MS);
  for (;;) {
    tart_error_t e = NULL;
    if (qmp_connect(x->qmp_path, 200, &s->qmp, &e) == 0)
      break;
    tart_error_release(&e);
    int status;
    if (waitpid(s->qemu, &status, WNOHANG) == s->qemu) {
      s->qemu = -1;
      char line[512];
      if (virtiofsd_failure(x->vfs, x->n_vfs, x->dir, line, sizeof(line)))
        return tart_error_make(err, 0, "QEMU failed to start: %s", line);
      /* A KVM that will not make or start a VM at all. */
      if (kvm_died_early(s, status))
        return 1;
      if (kvm_forced_failure(s, status, err))
        return -1;
      last_log_line(x->dir, "qemu.log", line, sizeof(line));
      return tart_error_make(err, 0, "QEMU failed to start%s%s (see %s/qemu.log)", line[0] ? ": " : "", line,
                             x->logs);
    }
    if (qmp_now_ms() > deadline)
      return tart_error_make(err, ETIMEDOUT, "QEMU did not open its QMP socket within %d s",
                             QMP_START_TIMEOUT_MS / 1000);
    usleep(20 * 1000);
  }
  /* Output written from now on is this boot's. */
  for (size_t i = 0; i < ARRAY_SIZE(s->scans); i++)
    s->scans[i].start = s->scans[i].pos = 0;
  s->next_scan_ms = 0;
  memset(&s->resets, 0, sizeof(s->resets));
  if (x->restore && finish_restore(s, err) < 0)
    return -1;
  const struct run_opts *o = x->o;
  if ((o->display == QEMU_DISPLAY_VNC || o->display == QEMU_DISPLAY_WINDOW_VNC) && announce_vnc(s, err) < 0)
    return -1;
  if (o->serial == QEMU_SERIAL_PTY && announce_pty(s, err) < 0)
    return -1;
  fflush(stdout);
  if (x->ready_fd >= 0) {
    int fd = x->ready_fd;
    x->ready_fd = -1;
    if (detach_output(x->dir, fd, err) < 0)
      return -1;
  }
  /* A guest that stopped before we listened (the STOP event is gone). */
  check_run_state(s);
  return 0;
}

/* Stop this QEMU and its virtiofsds, to start again. */
static void session_kill_qemu(struct session *x)
{
  struct supervisor *s = &x->s;
  if (s->qemu > 0) {
    kill(s->qemu, SIGKILL);
    waitpid(s->qemu, NULL, 0);
    s->qemu = -1;
  }
  qmp_close(s->qmp);
  s->qmp = NULL;
  remove_sockets(x->dir);
  stop_virtiofsds(x->vfs, x->n_vfs, x->dir);
  x->n_vfs = 0;
  s->stopping = s->retry_tcg = s->panicked = false;
  free(s->end_msg);
  s->end_msg = NULL;
  s->io_device[0] = '\0';
}

/* Until QEMU exits: 0 (a guest power-off, a stop or suspend request), 1
 * (start again under TCG), -1 (the guest stopped on its own: the reason). */
static int session_supervise(struct session *x, tart_error_t *err)
{
  struct supervisor *s = &x->s;
  for (;;) {
    struct pollfd p[2] = {{.fd = x->sfd, .events = POLLIN},
                          {.fd = s->qmp ? qmp_fd(s->qmp) : -1, .events = POLLIN}};
    /* Without QMP (QEMU exiting) wake up now and then to reap it; an
     * isolated VM's rules wait for its lease, looked for every second; the
     * logs are read for the firmware's words once a second. */
    int net_ms = net_attach_poll(&x->na);
    int timeout = !s->qmp ? 50 : net_ms < 0 || net_ms > SCAN_INTERVAL_MS ? SCAN_INTERVAL_MS : net_ms;
    if (poll(p, 2, timeout) < 0) {
      if (errno == EINTR)
        continue;
      return tart_error_make(err, errno, "poll");
    }
    /* Drain what QEMU sent, whatever poll says: a command run since (by a
     * signal, by the launch) may have left events queued or read but not
     * parsed, which poll never reports.  A SHUTDOWN event comes before
     * QEMU exits. */
    if (s->qmp) {
      for (;;) {
        json_t *ev = NULL;
        tart_error_t e = NULL;
        int w = qmp_next_event(s->qmp, &ev);
        if (w == 0)
          w = qmp_wait_event(s->qmp, NULL, 0, &ev, &e);
        if (w == 1) {
          handle_event(s, ev);
          json_decref(ev);
          if (s->qmp)
            continue;
        }
        if (w < 0) {
          /* QMP closed: QEMU is going away; SIGCHLD will tell. */
          qmp_close(s->qmp);
          s->qmp = NULL;
        }
        tart_error_release(&e);
        break;
      }
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(x->sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
          continue;
        if (s->qmp == NULL) {
          kill(s->qemu, SIGKILL);
          continue;
        }
        handle_signal(s, (int)si.ssi_signo, err);
      }
    }
    if (s->qmp)
      scan_logs(s);
    int status;
    pid_t w = waitpid(s->qemu, &status, WNOHANG);
    if (w != s->qemu)
      continue;
    s->qemu = -1;
    if (s->retry_tcg && !s->stop_requested)
      return 1;
    if (s->retry_tcg)
      return 0;
    if (s->panicked && s->end_msg == NULL) {
      struct run_end r = {.kind = RUN_END_PANIC, .log = s->scans[1].path};
      s->end_msg = run_end_message(&r);
    }
    if (s->end_msg)
      return tart_error_make(err, 0, "VM \"%s\" stopped: %s", x->name, s->end_msg);
    if (!s->stopping && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      if (kvm_died_early(s, status))
        return 1;
      if (kvm_forced_failure(s, status, err))
        return -1;
      char line[512];
      last_log_line(x->dir, "qemu.log", line, sizeof(line));
      return tart_error_make(err, 0, "QEMU stopped unexpectedly%s%s (see %s/qemu.log)", line[0] ? ": " : "",
                             line, x->logs);
    }
    return 0;
  }
}

static void session_teardown(struct session *x, int ret, tart_error_t *err)
{
  struct supervisor *s = &x->s;
  if (s->qemu > 0) {
    kill(s->qemu, SIGKILL);
    waitpid(s->qemu, NULL, 0);
  }
  if (s->qmp)
    qmp_close(s->qmp);
  if (x->logs && x->lock_fd >= 0) {
    remove_sockets(x->dir);
    /* Why this run ended, for `tart ip`, `tart exec` and `--detach`
     * callers that are waiting on it (vm_run_error). */
    if (ret < 0 && err && *err) {
      _cleanup_free_ char *path = xasprintf("%s/%s", x->logs, VM_RUN_ERROR);
      write_file_atomic(path, (*err)->msg, strlen((*err)->msg), 0600, NULL);
    }
  }
  stop_virtiofsds(x->vfs, x->n_vfs, x->dir);
  free(s->devices_json);
  free(s->end_msg);
  free(s->fallback_reason);
  free(s->host_key);
  free(s->verdict_path);
  for (size_t i = 0; i < x->n_vols; i++)
    tmp_entry_discard(&x->vols[i]);
  if (x->share_fs == QEMU_FS_VIRTIOFS)
    virtiofsd_cleanup_dir(x->dir);
  qemu_exports_free(x->exports, x->n_exports);
  if (x->attached) {
    /* A VM still suspended (saved now, or a restore that failed) keeps its
     * lease: the guest has the address in its saved memory. */
    net_detach(&x->na, s->suspended || (x->restore_attempt && access(x->state, F_OK) == 0));
    _cleanup_free_ char *ns = vm_dir_file(x->dir, VM_NET_STATE);
    unlink(ns);
  }
  for (size_t i = 0; i < ARRAY_SIZE(x->disk_fds); i++)
    if (x->disk_fds[i] >= 0)
      close(x->disk_fds[i]);
  qemu_cmdline_free(x->argv);
  free(x->devices);
  free(s->scans[0].path);
  free(s->scans[1].path);
  free(x->virtiofsd);
  free(x->fw_code);
  vm_config_clear(&x->cfg);
  if (x->lock_fd >= 0)
    close(x->lock_fd);
  free(x->cfg_path);
  free(x->root_disk);
  free(x->qmp_path);
  free(x->state);
  free(x->logs);
  free(x->dir);
  free(x->notice);
  /* Last: a Ctrl-C or `tart stop` that came during the clean-up is
   * consumed here, not delivered with its default action half-way. */
  if (x->sfd >= 0) {
    close(x->sfd);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&x->mask, NULL, &zero) > 0)
      ;
    sigprocmask(SIG_SETMASK, &x->old_mask, NULL);
  }
}

int vm_run(struct tart_home *h, const char *name, const struct run_opts *o, tart_error_t *err)
{
  struct session x = {.h = h, .name = name, .o = o, .lock_fd = -1, .sfd = -1, .ready_fd = o->ready_fd};
  for (size_t i = 0; i < ARRAY_SIZE(x.disk_fds); i++)
    x.disk_fds[i] = -1;
  struct supervisor *s = &x.s;
  *s = (struct supervisor){.name = name, .qemu = -1, .o = o};
  struct accel_choice ac = {0};
  int ret = -1;
  if (session_prepare(&x, err) < 0)
    goto out;
  s->dir = x.dir;
  s->logs = x.logs;
  if (session_pick_accel(&x, &ac, err) < 0)
    goto out;
  s->kvm = ac.kvm;
  s->fallback = ac.fallback;
  s->scans[0].path = x.cfg.arch == VM_ARCH_AMD64 ? xasprintf("%s/%s", x.logs, VM_FIRMWARE_LOG) : NULL;
  s->scans[1].path = o->serial == QEMU_SERIAL_FILE   ? xasprintf("%s/%s", x.logs, VM_CONSOLE_LOG)
                     : o->serial == QEMU_SERIAL_PATH ? xstrdup(o->serial_path)
                                                     : NULL;
  x.root_disk = vm_dir_file(x.dir, VM_FILE_DISK);
  s->disk_path = x.root_disk;

  /* Signals become events on a signalfd, handled between QMP messages. */
  sigemptyset(&x.mask);
  sigaddset(&x.mask, SIGINT);
  sigaddset(&x.mask, SIGTERM);
  sigaddset(&x.mask, SIGUSR1);
  sigaddset(&x.mask, SIGUSR2);
  sigaddset(&x.mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &x.mask, &x.old_mask);
  x.sfd = signalfd(-1, &x.mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (x.sfd < 0) {
    sigprocmask(SIG_SETMASK, &x.old_mask, NULL);
    tart_error_make(err, errno, "cannot watch signals");
    goto out;
  }

  if (x.cfg.arch != vm_arch_host())
    x.notice = xasprintf("tart: warning: this is an %s VM on an %s host: it runs under TCG emulation, slowly",
                         vm_arch_name(x.cfg.arch), vm_arch_name(vm_arch_host()));
  else if (ac.notice)
    x.notice = xstrdup(ac.notice);
  for (bool first = true;; first = false) {
    int r = session_launch(&x, first, err);
    if (r == 0)
      r = session_supervise(&x, err);
    if (r < 0)
      goto out;
    if (r == 0)
      break;
    /* KVM cannot run this guest: the same VM again, under TCG. */
    _cleanup_free_ char *notice = accel_fallback_notice(s->fallback_reason);
    fprintf(stderr, "%s\n", notice);
    fflush(stderr);
    session_kill_qemu(&x);
    s->kvm = s->fallback = false;
  }
  ret = 0;
out:
  session_teardown(&x, ret, err);
  accel_choice_clear(&ac);
  return ret;
}

int vm_run_error(const char *vm_dir, time_t since, char *out, size_t n)
{
  _cleanup_free_ char *path = xasprintf("%s/%s/%s", vm_dir, VM_LOGS_DIR, VM_RUN_ERROR);
  struct stat st;
  if (stat(path, &st) < 0 || st.st_mtime < since)
    return 0;
  char *text = NULL;
  size_t len = 0;
  if (read_file(path, 4096, &text, &len, NULL) < 0)
    return 0;
  snprintf(out, n, "%.*s", (int)len, text);
  str_scrub_controls(out);
  free(text);
  return len > 0;
}
