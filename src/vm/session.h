/* The session of one `tart run` (vm/run.h), shared by the files that take
 * it through its steps.  Internal to src/vm/.
 *
 * struct session holds everything the run owns, released by
 * session_teardown on every path; struct supervisor is the part about the
 * QEMU of the moment (a run may start a second one under TCG, qemu/accel.h),
 * which the QMP event and signal handlers work on. */
#ifndef TART_VM_SESSION_H
#define TART_VM_SESSION_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/attach.h"
#include "qemu/accel.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"
#include "qemu/runstate.h"
#include "qemu/virtiofsd.h"
#include "storage/home.h"
#include "util/error.h"
#include "util/report.h"
#include "vm/run.h"
#include "vmconfig/config.h"

#define QMP_START_TIMEOUT_MS   30000
#define QMP_COMMAND_TIMEOUT_MS 10000

/* The output of one boot that is read for the firmware's words. */
struct log_scan {
  char *path; /* NULL: not read */
  int64_t start, pos;
};

/* The QEMU of the moment, and why the run must end. */
struct supervisor {
  const char *name;
  const char *dir;
  const char *logs;
  const struct run_opts *o;
  const char *disk_path;         /* the root disk, for BLOCK_IO_ERROR "root" */
  const struct qemu_disk *disks; /* the extra disks, for BLOCK_IO_ERROR "disk<N>" */
  size_t n_disks;
  char *devices_json; /* state.devices.json for this run (devices, options) */
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

/* A guest that stops running without being asked ends the run with one
 * line (qemu/runstate.h): a run state from STOP/query-status, a panic, a
 * reset loop, or the firmware's "nothing to boot" in its output.  Each
 * boot's first SCAN_WINDOW bytes of the firmware log and the console are
 * read once a second: later output is the guest's own. */
#define SCAN_INTERVAL_MS 1000
#define SCAN_WINDOW      (256 * 1024)

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
  struct qemu_disk disks[VM_MAX_DISKS]; /* the run's --disk ones (borrowed), then the cloud-init seed */
  size_t n_disks;
  char *seed; /* the cloud-init seed's path (owned) */
  int disk_fds[VM_MAX_DISKS];
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
  char *notice; /* reported once, just before the first QEMU starts */
  enum report_kind notice_kind;
  sigset_t mask;
  struct supervisor s;
};

/* ---- vm/prepare.c ---- */

/* Remove the run's sockets from the VM directory (a killed run's too). */
void session_remove_sockets(const char *dir);

/* Lock the VM, read its config, check firmware and shares, attach the
 * network and lock the extra disks: everything that stays the same when
 * QEMU is started again under another accelerator. */
int session_prepare(struct session *x, tart_error_t *err);

/* ---- vm/control.c ---- */

/* Stop QEMU now: QMP quit, else SIGKILL. */
void control_hard_stop(struct supervisor *s);

/* The run process's half of vm/control.h: act on request signal sig.  A
 * suspend that fails is answered in logs/suspend.error, and the VM goes
 * on; *err is for failures of the run itself. */
int control_handle_signal(struct supervisor *s, int sig, tart_error_t *err);

/* Restore a suspended VM: QEMU started with -incoming waits paused once
 * the state is read; resume it and drop the state file. */
int control_finish_restore(struct supervisor *s, tart_error_t *err);

/* The text of state.devices.json, made before a suspend starts so that
 * nothing can fail half-way.  Bytes that are not UTF-8 (legal in paths)
 * become U+FFFD: the record is for showing, never for reopening. */
char *control_devices_record(const char *devices, const char *options, bool nodefaults);

/* The devices a suspended state was saved with (malloc'ed), or NULL. */
char *control_saved_devices(const char *dir);

/* A restore onto other devices than the state was saved with fails deep in
 * QEMU ("Unknown ramblock", "Missing section footer"); say it up front,
 * with what to pass.  No record (an older tart): let QEMU try. */
int control_check_restore(const char *dir, const char *name, const char *devices, tart_error_t *err);

/* Whether the saved state of the VM in dir was made under -nodefaults (its
 * state.devices.json says so); a state from before that is restored with
 * QEMU's default devices, as it was saved. */
bool control_state_has_nodefaults(const char *dir);

/* ---- vm/logs.c ---- */

/* The last non-empty line of logs/<log> (qemu.log, virtiofsd.log), for a
 * one-line error. */
void vm_log_last_line(const char *dir, const char *log, char *out, size_t n);

/* Size of a file, 0 when missing: where a log's new output starts. */
int64_t vm_log_size(const char *path);

/* The first line that this QEMU wrote to qemu.log (the file is appended
 * to by every run) holding one of needles (NULL-terminated), scrubbed of
 * control characters; "" when none. */
void vm_log_qemu_line(const struct supervisor *s, const char *const *needles, char *out, size_t n);

/* ---- vm/launch.c ---- */

/* QEMU (argv) started in dir, its output appended to logs/qemu.log,
 * keep_fds left open for it; its PID. */
pid_t session_spawn_qemu(const char *dir, char **argv, const int *keep_fds, size_t n_keep, tart_error_t *err);

void session_stop_virtiofsds(struct virtiofsd *v, size_t n, const char *dir);

/* Start virtiofsd and QEMU, connect QMP.  Returns 0, 1 when QEMU could not
 * start under a KVM that the fallback may leave, or -1. */
int session_launch(struct session *x, bool first, tart_error_t *err);

/* Stop this QEMU and its virtiofsds, to start again. */
void session_kill_qemu(struct session *x);

/* ---- vm/supervise.c ---- */

/* End the run with message (taken): QEMU is told to quit. */
void supervise_end(struct supervisor *s, char *message);

/* The same, with run_end's message (qemu/runstate.h). */
void supervise_end_with(struct supervisor *s, const struct run_end *e);

/* query-status: a guest that is not running, and not by our doing, ends
 * the run (or restarts it under TCG). */
void supervise_check_state(struct supervisor *s);

/* Until QEMU exits: 0 (a guest power-off, a stop or suspend request), 1
 * (start again under TCG), -1 (the guest stopped on its own: the reason). */
int session_supervise(struct session *x, tart_error_t *err);

/* ---- vm/accel.c ---- */

/* QEMU under KVM died early (status from waitpid): when KVM is to blame and
 * the fallback may leave it, the reason is kept (and remembered for this
 * boot, see session_kvm_internal_error) and true returned: start again under TCG. */
bool session_kvm_died_early(struct supervisor *s, int status);

/* QEMU under a KVM that had to be (no fallback) died early because of
 * KVM: *err names what asked for KVM and why it cannot be; true then. */
bool session_kvm_forced_failure(const struct supervisor *s, int status, tart_error_t *err);

/* KVM stopped the guest with an internal error. */
void session_kvm_internal_error(struct supervisor *s);

/* The accelerator (qemu/accel.h): facts of the host and the VM, then the
 * decision.  A restore keeps the accelerator its state was saved with. */
int session_pick_accel(struct session *x, struct accel_choice *c, tart_error_t *err);

#endif
