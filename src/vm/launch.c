/* Starting QEMU for a session (vm/session.h): its virtio-fs daemons, the
 * command line, the process, QMP, and what the run hands out once QEMU is
 * up (a VNC URL and password, a pty, --detach's "it runs"). */
#include "vm/session.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/process.h"
#include "util/util.h"

pid_t session_spawn_qemu(const char *dir, char **argv, const int *keep_fds, size_t n_keep, tart_error_t *err)
{
  _cleanup_free_ char *log_path = xasprintf("%s/%s/" VM_QEMU_LOG, dir, VM_LOGS_DIR);
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
    report(REPORT_STATUS, "VNC server is running at vnc://:%s@%s:%s", pw, host, port);
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
      report(REPORT_STATUS, "Successfully open pty %s", file + 4);
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

void session_stop_virtiofsds(struct virtiofsd *v, size_t n, const char *dir)
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
    vm_log_last_line(dir, VM_VIRTIOFSD_LOG, line, sizeof(line));
    snprintf(out, len, "virtiofsd for the --dir shares failed%s%s (see %s/%s/%s)", line[0] ? ": " : "", line,
             dir, VM_LOGS_DIR, VM_VIRTIOFSD_LOG);
    return true;
  }
  return false;
}

/* Start virtiofsd and QEMU, connect QMP.  Returns 0, 1 when QEMU could not
 * start under a KVM that the fallback may leave, or -1. */
int session_launch(struct session *x, bool first, tart_error_t *err)
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
  if (first && x->restore && control_check_restore(x->dir, x->name, x->devices, err) < 0)
    return -1;
  free(s->devices_json);
  s->devices_json = control_devices_record(x->devices, x->o->device_args, x->qo.nodefaults);
  if (log_debug_enabled()) {
    _cleanup_free_ char *line = qemu_cmdline_string(x->argv);
    log_debug("qemu: %s", line);
  }
  _cleanup_free_ char *qemu_log = xasprintf("%s/" VM_QEMU_LOG, x->logs);
  s->qemu_log_from = vm_log_size(qemu_log);
  /* A fresh firmware log each start: it is only this boot's. */
  _cleanup_free_ char *fw_log = xasprintf("%s/%s", x->logs, VM_FIRMWARE_LOG);
  unlink(fw_log);
  /* Notices only once every check has passed: a failure stays one line. */
  if (first && x->notice)
    report(x->notice_kind, "%s", x->notice);
  s->started_ms = qmp_now_ms();
  s->qemu = session_spawn_qemu(x->dir, x->argv, x->na.fds, x->na.n, err);
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
      if (session_kvm_died_early(s, status))
        return 1;
      if (session_kvm_forced_failure(s, status, err))
        return -1;
      vm_log_last_line(x->dir, VM_QEMU_LOG, line, sizeof(line));
      return tart_error_make(err, 0, "QEMU failed to start%s%s (see %s/" VM_QEMU_LOG ")", line[0] ? ": " : "",
                             line, x->logs);
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
  if (x->restore && control_finish_restore(s, err) < 0)
    return -1;
  const struct run_opts *o = x->o;
  if ((o->display == QEMU_DISPLAY_VNC || o->display == QEMU_DISPLAY_WINDOW_VNC) && announce_vnc(s, err) < 0)
    return -1;
  if (o->serial == QEMU_SERIAL_PTY && announce_pty(s, err) < 0)
    return -1;
  if (x->ready_fd >= 0) {
    int fd = x->ready_fd;
    x->ready_fd = -1;
    if (detach_output(x->dir, fd, err) < 0)
      return -1;
  }
  /* A guest that stopped before we listened (the STOP event is gone). */
  supervise_check_state(s);
  return 0;
}

/* Stop this QEMU and its virtiofsds, to start again. */
void session_kill_qemu(struct session *x)
{
  struct supervisor *s = &x->s;
  if (s->qemu > 0) {
    kill(s->qemu, SIGKILL);
    waitpid(s->qemu, NULL, 0);
    s->qemu = -1;
  }
  qmp_close(s->qmp);
  s->qmp = NULL;
  session_remove_sockets(x->dir);
  session_stop_virtiofsds(x->vfs, x->n_vfs, x->dir);
  x->n_vfs = 0;
  s->stopping = s->retry_tcg = s->panicked = false;
  free(s->end_msg);
  s->end_msg = NULL;
  s->io_device[0] = '\0';
}
