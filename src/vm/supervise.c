/* Watching a running QEMU (vm/session.h): QMP events and run states,
 * signals (vm/control.c acts on them), the firmware's and the console's
 * words, until QEMU exits; each way a guest can stop on its own ends the
 * run with one line (qemu/runstate.h). */
#include "vm/session.h"

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

#include "util/util.h"

/* This boot's output begins here (at start and after each reset). */
static void scan_restart(struct log_scan *l)
{
  if (l->path)
    l->start = l->pos = vm_log_size(l->path);
}

/* The firmware's "nothing to boot" in what was written since the last
 * look, or NULL.  The last bytes already read are read again, so a marker
 * cut in two by a write is still found. */
static const char *scan_step(struct log_scan *l)
{
  if (l->path == NULL)
    return NULL;
  int64_t end = vm_log_size(l->path);
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

/* End the run with message (taken): QEMU is told to quit. */
void supervise_end(struct supervisor *s, char *message)
{
  if (s->end_msg == NULL && !s->retry_tcg)
    s->end_msg = message;
  else
    free(message);
  control_hard_stop(s);
}

void supervise_end_with(struct supervisor *s, const struct run_end *e)
{
  supervise_end(s, run_end_message(e));
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
    if (i < s->n_disks)
      return s->disks[i].path;
  }
  return device;
}

void supervise_check_state(struct supervisor *s)
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
  _cleanup_free_ char *qemu_log = xasprintf("%s/" VM_QEMU_LOG, s->logs);
  switch (k) {
  case RUN_END_NONE:
    return;
  case RUN_END_INTERNAL_ERROR:
    session_kvm_internal_error(s);
    return;
  case RUN_END_IO_ERROR: {
    struct run_end r = {.kind = k,
                        .io_path = io_device_path(s, s->io_device[0] ? s->io_device : NULL),
                        .io_operation = s->io_op,
                        .io_reason = s->io_reason,
                        .io_nospace = s->io_nospace,
                        .log = qemu_log};
    supervise_end_with(s, &r);
    return;
  }
  case RUN_END_PANIC: {
    struct run_end r = {.kind = k, .log = s->scans[1].path ? s->scans[1].path : qemu_log};
    supervise_end_with(s, &r);
    return;
  }
  default: {
    struct run_end r = {.kind = RUN_END_OTHER_STATE, .status = status, .log = qemu_log};
    supervise_end_with(s, &r);
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
      report(REPORT_STATUS, "guest has stopped the virtual machine");
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
      supervise_check_state(s);
  } else if (!strcmp(what, "RESET")) {
    for (size_t i = 0; i < ARRAY_SIZE(s->scans); i++)
      scan_restart(&s->scans[i]);
    if (json_is_true(json_object_get(data, "guest")) && reset_window_note(&s->resets, qmp_now_ms())) {
      _cleanup_free_ char *qemu_log = xasprintf("%s/" VM_QEMU_LOG, s->logs);
      struct run_end r = {.kind = RUN_END_RESET_LOOP,
                          .resets = RESET_LOOP_COUNT,
                          .reset_seconds = RESET_LOOP_MS / 1000,
                          .log = s->scans[1].path ? s->scans[1].path : qemu_log};
      supervise_end_with(s, &r);
    }
  }
  if (s->panicked && !s->stopping) {
    struct run_end r = {.kind = RUN_END_PANIC, .log = s->scans[1].path};
    supervise_end_with(s, &r);
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
      supervise_end_with(s, &r);
      return;
    }
  }
}

/* Until QEMU exits: 0 (a guest power-off, a stop or suspend request), 1
 * (start again under TCG), -1 (the guest stopped on its own: the reason). */
int session_supervise(struct session *x, tart_error_t *err)
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
        control_handle_signal(s, (int)si.ssi_signo, err);
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
      if (session_kvm_died_early(s, status))
        return 1;
      if (session_kvm_forced_failure(s, status, err))
        return -1;
      char line[512];
      vm_log_last_line(x->dir, VM_QEMU_LOG, line, sizeof(line));
      return tart_error_make(err, 0, "QEMU stopped unexpectedly%s%s (see %s/" VM_QEMU_LOG ")",
                             line[0] ? ": " : "", line, x->logs);
    }
    return 0;
  }
}
