/* vm_run (vm/run.h): a session taken through its steps, with the TCG
 * restart loop, and its teardown on every path. */
#include "vm/session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/util.h"

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
    session_remove_sockets(x->dir);
    /* Why this run ended, for `tart ip`, `tart exec` and `--detach`
     * callers that are waiting on it (vm_run_error). */
    if (ret < 0 && err && *err) {
      _cleanup_free_ char *path = xasprintf("%s/%s", x->logs, VM_RUN_ERROR);
      write_file_atomic(path, (*err)->msg, strlen((*err)->msg), 0600, NULL);
    }
  }
  session_stop_virtiofsds(x->vfs, x->n_vfs, x->dir);
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
  free(x->seed);
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

/* Requests that came before QEMU started (vm/control.h): a stop or a
 * power-off ends the run before it starts anything (true); a suspend is
 * answered that there is nothing to save yet. */
static bool early_requests(struct session *x)
{
  bool stop = false;
  struct signalfd_siginfo si;
  while (read(x->sfd, &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGUSR2) {
      stop = true;
    } else if (si.ssi_signo == SIGUSR1) {
      static const char why[] = "Failed to suspend the VM: it has not started yet";
      _cleanup_free_ char *path = xasprintf("%s/%s", x->logs, VM_SUSPEND_ERROR);
      write_file_atomic(path, why, strlen(why), 0600, NULL);
    }
  }
  if (stop)
    report(REPORT_STATUS, "Stopping VM...");
  return stop;
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
  /* Signals become events on a signalfd, handled between QMP messages.
   * Blocked before the run lock is taken: from the moment `tart stop` can
   * see this run, its signal is a request, never a kill. */
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
    return tart_error_make(err, errno, "cannot watch signals");
  }
  if (session_prepare(&x, err) < 0)
    goto out;
  s->dir = x.dir;
  s->logs = x.logs;
  s->disks = x.disks;
  s->n_disks = x.n_disks;
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

  if (x.cfg.arch != vm_arch_host()) {
    x.notice = xasprintf("this is an %s VM on an %s host: it runs under TCG emulation, slowly",
                         vm_arch_name(x.cfg.arch), vm_arch_name(vm_arch_host()));
    x.notice_kind = REPORT_WARNING;
  } else if (ac.notice) {
    x.notice = xstrdup(ac.notice);
    x.notice_kind = REPORT_NOTICE;
  }
  if (early_requests(&x)) {
    ret = 0;
    goto out;
  }
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
    report(REPORT_NOTICE, "%s", notice);
    session_kill_qemu(&x);
    s->kvm = s->fallback = false;
  }
  ret = 0;
out:
  session_teardown(&x, ret, err);
  accel_choice_clear(&ac);
  return ret;
}

/* The child becomes its own session and runs the VM; we wait
 * until it says the VM runs (then exit 0) or until it exits (then exit as
 * it did: it has printed its own error on our stderr). */
int vm_run_detached(struct tart_home *h, const char *name, const struct run_opts *o, int *exit_code,
                    tart_error_t *err)
{
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return tart_error_make(err, errno, "cannot create a pipe");
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return tart_error_make(err, e, "cannot start the background run");
  }
  if (pid == 0) {
    close(p[0]);
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      close(devnull);
    }
    struct run_opts child = *o;
    child.ready_fd = p[1];
    return vm_run(h, name, &child, err);
  }
  close(p[1]);
  char c;
  ssize_t n;
  do
    n = read(p[0], &c, 1);
  while (n < 0 && errno == EINTR);
  close(p[0]);
  *exit_code = 0;
  if (n == 1)
    return 0;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : TART_EXIT_FAILURE;
  return 0;
}
