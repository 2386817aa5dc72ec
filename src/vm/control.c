/* Run control (vm/control.h), both halves: the commands that ask (stop,
 * suspend) and the run process that answers (a hard stop, the ACPI power
 * button, a suspend to state.qemusave), with the restore that follows a
 * suspend and the device record that guards it. */
#include "vm/control.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/qga.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/session.h"

/* ---- the answering half (the run process) ------------------------------ */

static int suspend_vm(struct supervisor *s, tart_error_t *err)
{
  report(REPORT_STATUS, "pausing VM to take a snapshot...");
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
  report(REPORT_STATUS, "snapshot created successfully! shutting down the VM...");
  s->suspended = true;
  s->stopping = true;
  return qmp_execute(s->qmp, "quit", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, err);
}

void control_hard_stop(struct supervisor *s)
{
  s->stopping = true;
  tart_error_t e = NULL;
  if (s->qmp == NULL || qmp_execute(s->qmp, "quit", NULL, 3000, NULL, &e) < 0) {
    tart_error_release(&e);
    kill(s->qemu, SIGKILL);
  }
}

int control_handle_signal(struct supervisor *s, int sig, tart_error_t *err)
{
  switch (sig) {
  case SIGINT:
  case SIGTERM:
    s->stop_requested = true;
    report(REPORT_STATUS, "Stopping VM...");
    control_hard_stop(s);
    return 0;
  case SIGUSR2: {
    report(REPORT_STATUS, "Requesting guest OS to stop...");
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
      report(REPORT_ERROR, "%s", (*err)->msg);
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
/* A restored guest's clock stands where it was when it was saved, behind
 * by the time it was suspended.  Set it through the agent, as libvirt's
 * `domtime --sync` does (docs/faq.md, "Linux guests").  A guest without an
 * agent keeps its clock (and costs this run SYNC_CLOCK_TIMEOUT_MS once). */
#define SYNC_CLOCK_TIMEOUT_MS 2000
static void sync_guest_clock(struct supervisor *s)
{
  _cleanup_free_ char *sock = vm_dir_file(s->dir, VM_QGA_SOCKET);
  struct qga *g = NULL;
  tart_error_t e = NULL;
  if (qga_connect(sock, SYNC_CLOCK_TIMEOUT_MS, &g, &e) == 0) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    json_int_t ns = (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec;
    /* qemu-ga sets the system clock, then runs hwclock -w, whose failure
     * (no hwclock in the guest) it reports after the clock is set. */
    if (qga_execute(g, "guest-set-time", json_pack("{s:I}", "time", ns), SYNC_CLOCK_TIMEOUT_MS, NULL, &e) ==
        0)
      log_debug("set the restored guest's clock");
    qga_close(g);
  }
  if (e != NULL)
    log_info("could not set the restored guest's clock: %s", e->msg);
  tart_error_release(&e);
}

int control_finish_restore(struct supervisor *s, tart_error_t *err)
{
  report(REPORT_STATUS, "restoring VM state from a snapshot...");
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
  sync_guest_clock(s);
  _cleanup_free_ char *state = vm_dir_file(s->dir, VM_FILE_STATE);
  _cleanup_free_ char *devices = vm_dir_file(s->dir, VM_FILE_STATE_DEVICES);
  unlink(state);
  unlink(devices);
  return 0;
}

/* The text of state.devices.json, made before a suspend starts so that
 * nothing can fail half-way.  Bytes that are not UTF-8 (legal in paths)
 * become U+FFFD: the record is for showing, never for reopening. */
char *control_devices_record(const char *devices, const char *options, bool nodefaults)
{
  _cleanup_free_ char *d = utf8_sanitize(devices ? devices : "");
  _cleanup_free_ char *o = utf8_sanitize(options ? options : "");
  /* "nodefaults": saved from a QEMU without its default devices (a state
   * without it is restored with them, as it was made). */
  json_t *j = json_pack("{s:s, s:s, s:b}", "devices", d, "options", o, "nodefaults", nodefaults);
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
char *control_saved_devices(const char *dir)
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
bool control_state_has_nodefaults(const char *dir)
{
  _cleanup_free_ char *path = vm_dir_file(dir, VM_FILE_STATE_DEVICES);
  json_t *j = json_load_file(path, 0, NULL);
  bool r = j != NULL && json_is_true(json_object_get(j, "nodefaults"));
  json_decref(j);
  return r;
}

int control_check_restore(const char *dir, const char *name, const char *devices, tart_error_t *err)
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

/* ---- the asking half ---------------------------------------------------- */

/* A guest early in its boot (firmware, a kernel without its ACPI button
 * driver yet, systemd before logind) drops a power-button press: press
 * again every STOP_REPRESS_MS, and once the guest agent answers, ask it to
 * power off as well. */
#define STOP_REPRESS_MS       3000
#define STOP_AGENT_TIMEOUT_MS 1000

/* guest-shutdown through the agent; true when the agent took the request
 * (it sends no answer to a powerdown that works). */
static bool agent_powerdown(const char *dir)
{
  _cleanup_free_ char *sock = vm_dir_file(dir, VM_QGA_SOCKET);
  struct qga *g = NULL;
  tart_error_t e = NULL;
  bool asked = false;
  if (qga_connect(sock, STOP_AGENT_TIMEOUT_MS, &g, &e) == 0) {
    asked = true;
    qga_execute(g, "guest-shutdown", json_pack("{s:s}", "mode", "powerdown"), STOP_AGENT_TIMEOUT_MS, NULL,
                &e);
    qga_close(g);
  }
  tart_error_release(&e);
  return asked;
}

static bool graceful_wait(const char *dir, pid_t pid, uint64_t timeout_s)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  long long now = (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  long long deadline = now + (long long)timeout_s * 1000, next = now + STOP_REPRESS_MS;
  bool agent_asked = false;
  while (now < deadline) {
    long long until = next < deadline ? next : deadline;
    if (vm_dir_wait_stopped(dir, (long)(until - now)))
      return true;
    clock_gettime(CLOCK_MONOTONIC, &t);
    now = (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    if (now >= next && now < deadline) {
      if (kill(pid, SIGUSR2) < 0)
        return vm_dir_wait_stopped(dir, 0);
      if (!agent_asked)
        agent_asked = agent_powerdown(dir);
      next = now + STOP_REPRESS_MS;
    }
  }
  return vm_dir_wait_stopped(dir, 0);
}

int vm_stop(const char *dir, const char *name, uint64_t timeout_s, tart_error_t *err)
{
  pid_t pid = vm_dir_running_pid(dir);
  if (pid == 0) {
    _cleanup_free_ char *state = vm_dir_file(dir, VM_FILE_STATE);
    _cleanup_free_ char *devices = vm_dir_file(dir, VM_FILE_STATE_DEVICES);
    if (unlink(state) == 0) {
      unlink(devices);
      return 0; /* suspended: discard the snapshot */
    }
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is not running", name);
  }
  /* Graceful first (the run process presses the power button), then a hard
   * stop, then the run process itself. */
  if (timeout_s > 0 && kill(pid, SIGUSR2) == 0 && graceful_wait(dir, pid, timeout_s))
    return 0;
  if (timeout_s > 0)
    report(REPORT_NOTICE, "VM \"%s\" did not power off within %llu s: stopping it hard (as pulling the plug)",
           name, (unsigned long long)timeout_s);
  if (kill(pid, SIGINT) == 0 && vm_dir_wait_stopped(dir, 5000))
    return 0;
  if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
    return tart_error_make(err, errno, "failed to forcefully terminate the VM");
  if (!vm_dir_wait_stopped(dir, 5000))
    return tart_error_make(err, 0, "failed to forcefully terminate the VM");
  return 0;
}

int vm_suspend(const char *dir, const char *name, tart_error_t *err)
{
  pid_t pid = vm_dir_running_pid(dir);
  if (pid == 0)
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is not running", name);
  _cleanup_free_ char *answer = xasprintf("%s/%s/%s", dir, VM_LOGS_DIR, VM_SUSPEND_ERROR);
  unlink(answer);
  if (kill(pid, SIGUSR1) < 0)
    return tart_error_make(err, 0, "cannot signal the run process of VM \"%s\"", name);
  /* Saving memory takes a while under TCG: wait up to 10 minutes for the
   * run to stop, or for it to say why it could not suspend. */
  for (int i = 0; i < 6000; i++) {
    if (vm_dir_wait_stopped(dir, 100))
      break;
    _cleanup_free_ char *why = NULL;
    size_t len = 0;
    if (read_file(answer, 4096, &why, &len, NULL) == 0) {
      unlink(answer);
      return tart_error_make(err, 0, "%s", why);
    }
  }
  if (vm_dir_state(dir) != VM_STATE_SUSPENDED)
    return tart_error_make(err, 0, "Failed to suspend the VM: see %s/%s/%s", dir, VM_LOGS_DIR, VM_QEMU_LOG);
  return 0;
}
