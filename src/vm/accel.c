/* The accelerator of a run (qemu/accel.h decides from the facts; this
 * file gathers them and acts): the per-boot verdict, a probe for runs that
 * must not restart, and the fallback to TCG when KVM stops the guest or
 * QEMU gives up under it. */
#include "vm/session.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu/firmware.h"
#include "util/log.h"
#include "util/util.h"

static const char *const kvm_internal_needles[] = {"KVM internal error", NULL};

/* QEMU's words when KVM will not make or run a VM at all: its own messages
 * and assertions in its KVM code (kvm_pvm: "error: failed to set MSR
 * 0x10a", then "target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion").
 * Narrow on purpose: a user's file named kvm_x.img must not read as KVM's
 * failure, which would send every VM of this boot to TCG. */
static const char *const kvm_start_needles[] = {
    "failed to initialize kvm", "Could not access KVM", "KVM_CREATE_VM", "kvm_init_vcpu",
    "failed to set MSR",        "/kvm/kvm.c:",          "kvm-all.c:",    NULL};

/* QEMU echoes a bad option first ("qemu-system-x86_64: -drive file=...:
 * Could not open ..."): such a line is about the option, not about KVM. */
static bool option_echo(const char *line)
{
  const char *colon = strstr(line, ": ");
  return !strncmp(line, "qemu-system-", 12) && colon && colon[2] == '-';
}

/* Why a QEMU started under KVM died before it ran the guest, if KVM is to
 * blame: a line of this QEMU's log in KVM's words.  NULL when its failure
 * is its own (a bad disk, a bad option, a crash that says nothing: an OOM
 * kill is not KVM's).  Malloc'ed. */
static char *kvm_start_failure(const struct supervisor *s, int status)
{
  (void)status;
  char line[512];
  vm_log_qemu_line(s, kvm_start_needles, line, sizeof(line));
  if (!line[0] || option_echo(line))
    return NULL;
  char q[200];
  str_quote(line, 150, q, sizeof(q));
  return xasprintf("QEMU could not start under it (%s)%s", q,
                   s->kvm_pvm ? "; the kvm_pvm module's paravirtual KVM runs only guests built for it" : "");
}

/* QEMU under KVM died early (status from waitpid): when KVM is to blame and
 * the fallback may leave it, the reason is kept (and remembered for this
 * boot, see session_kvm_internal_error) and true returned: start again under TCG. */
bool session_kvm_died_early(struct supervisor *s, int status)
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
bool session_kvm_forced_failure(const struct supervisor *s, int status, tart_error_t *err)
{
  if (!s->kvm || s->fallback || qmp_now_ms() - s->started_ms >= ACCEL_EARLY_MS)
    return false;
  _cleanup_free_ char *why = kvm_start_failure(s, status);
  if (why == NULL)
    return false;
  tart_error_make(err, 0, "%s, but KVM cannot run this guest: %s (see %s/" VM_QEMU_LOG ")",
                  s->kvm_wanted_by ? s->kvm_wanted_by : "TART_ACCEL=kvm", why, s->logs);
  return true;
}

/* KVM stopped the guest with an internal error. */
void session_kvm_internal_error(struct supervisor *s)
{
  char line[256];
  vm_log_qemu_line(s, kvm_internal_needles, line, sizeof(line));
  bool early = qmp_now_ms() - s->started_ms < ACCEL_EARLY_MS;
  if (!s->kvm || !early) {
    _cleanup_free_ char *log = xasprintf("%s/" VM_QEMU_LOG, s->logs);
    struct run_end e = {.kind = RUN_END_INTERNAL_ERROR, .detail = line, .log = log};
    supervise_end_with(s, &e);
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
    control_hard_stop(s);
    return;
  }
  supervise_end(s, xasprintf("%s, but KVM cannot run this guest: %s (see %s/" VM_QEMU_LOG ")",
                             s->kvm_wanted_by ? s->kvm_wanted_by : "TART_ACCEL=kvm", reason, s->logs));
  free(reason);
}

/* Can this KVM run an ordinary guest?  OVMF with no disk, for PROBE_RUN_MS
 * after QMP is up: a KVM like kvm_pvm stops it with an internal error
 * within milliseconds; a KVM that works keeps it running.  0 and *reason:
 * it cannot; 1: it can; -1: no answer (no firmware, QEMU did not start). */
#define PROBE_RUN_MS 500

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
                  "socket,id=probe0,path=" VM_PROBE_SOCKET ",server=on,wait=off",
                  "-mon",
                  "chardev=probe0,mode=control",
                  NULL};
  _cleanup_free_ char *sock = vm_dir_file(x->dir, VM_PROBE_SOCKET);
  unlink(sock);
  struct supervisor *s = &x->s;
  _cleanup_free_ char *qemu_log = xasprintf("%s/" VM_QEMU_LOG, x->logs);
  s->qemu_log_from = vm_log_size(qemu_log);
  tart_error_t e = NULL;
  pid_t pid = session_spawn_qemu(x->dir, argv, NULL, 0, &e);
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
    vm_log_qemu_line(s, kvm_internal_needles, line, sizeof(line));
    *reason = accel_kvm_failure_reason(line, s->kvm_pvm);
  }
  log_debug("KVM probe: %s", r == 1 ? "runs guests" : r == 0 ? "cannot run guests" : "no answer");
  return r;
}

/* The accelerator (qemu/accel.h): facts of the host and the VM, then the
 * decision.  A restore keeps the accelerator its state was saved with. */
int session_pick_accel(struct session *x, struct accel_choice *c, tart_error_t *err)
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
    _cleanup_free_ char *rec = control_saved_devices(x->dir);
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
      c->notice = xasprintf("/dev/kvm cannot run this guest: %s: running under TCG emulation, "
                            "which is slow (remembered until the host reboots)",
                            why);
    }
    free(why);
  }
  return 0;
}
