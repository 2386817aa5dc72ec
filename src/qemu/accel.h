/* Which accelerator QEMU runs a VM with: KVM when it can run the guest, TCG
 * (software emulation) otherwise (docs/faq.md, "Which accelerator does tart
 * run use?").
 *
 * A host can have a /dev/kvm that opens and answers like KVM but cannot run
 * ordinary guests: the kvm_pvm module of nested sandboxes runs only guests
 * built for it, and QEMU stops any other at its first firmware instructions
 * with "KVM internal error. Suberror: 1".  No cheap probe tells such a KVM
 * from a good one before a guest runs, so:
 *
 *   - a run in auto mode starts under KVM; a KVM internal error within the
 *     first seconds (ACCEL_EARLY_MS) makes the supervisor restart the same VM
 *     under TCG, and the verdict is remembered for this boot of the host
 *     (a small file keyed by the kernel's boot id and the loaded KVM
 *     modules), so later runs go straight to TCG;
 *   - a KVM host that works pays nothing: no probe, no extra file written;
 *   - except for a run that announces what a restart would change (--vnc,
 *     --serial, --detach): with no verdict for this boot it probes first
 *     (OVMF under KVM for half a second, vm/accel.c) and remembers
 *     the answer either way.
 *
 * $TART_ACCEL=kvm|tcg|auto (default auto) forces a choice; kvm where KVM
 * cannot run the guest is an error naming the reason.
 *
 * The decision (accel_choose) and the verdict record's parser are pure; the
 * host facts are gathered by accel_host_facts. */
#ifndef TART_QEMU_ACCEL_H
#define TART_QEMU_ACCEL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* How long after QEMU starts a KVM internal error counts as "this KVM
 * cannot run the guest" (kvm_pvm stops SeaBIOS after about 2 s, OVMF after
 * 0.1 s).  Later ones are the guest's own failure. */
#define ACCEL_EARLY_MS 15000

/* The file, under $TART_HOME/cache, remembering that KVM cannot run guests
 * on this boot of the host. */
#define ACCEL_VERDICT_FILE "kvm-verdict.json"

enum accel_mode { ACCEL_AUTO = 0, ACCEL_KVM, ACCEL_TCG };

/* What /dev/kvm is. */
enum kvm_avail {
  KVM_AVAILABLE = 0, /* opens read-write and answers KVM_GET_API_VERSION 12 */
  KVM_MISSING,       /* no /dev/kvm (or not a character device) */
  KVM_NO_ACCESS,     /* exists but cannot be opened (kvm_errno) */
  KVM_BROKEN,        /* opens but does not answer as KVM (kvm_errno, or 0) */
};

struct accel_facts {
  enum kvm_avail kvm;
  int kvm_errno;
  /* The guest's architecture is not the host's: only TCG can run it. */
  bool foreign_arch;
  const char *guest_arch, *host_arch; /* for messages, e.g. "arm64" */
  /* Remembered this boot: why KVM cannot run guests here; NULL: nothing
   * known against it. */
  const char *cannot_run;
  bool nested; /* --nested: needs KVM */
};

struct accel_choice {
  bool kvm;
  /* auto mode on KVM: an early KVM internal error restarts under TCG. */
  bool fallback;
  /* One line reported as a notice before QEMU starts (the terminal shows
   * "tart: notice: <it>"), or NULL: nothing to say. */
  char *notice;
};

/* $TART_ACCEL: NULL or "" is auto; otherwise "auto", "kvm" or "tcg" (exit
 * 64 for anything else). */
int accel_mode_parse(const char *value, enum accel_mode *mode, tart_error_t *err);

/* The decision.  Errors (exit 1): TART_ACCEL=kvm where KVM cannot be used
 * (the reason named), --nested without a usable KVM. */
int accel_choose(enum accel_mode mode, const struct accel_facts *f, struct accel_choice *c,
                 tart_error_t *err);
void accel_choice_clear(struct accel_choice *c);

/* Why KVM could not run the guest, from the line QEMU logged ("KVM
 * internal error. Suberror: 1"; NULL or "" when none), with a word on
 * kvm_pvm when that module is loaded.  Malloc'ed, one line. */
char *accel_kvm_failure_reason(const char *qemu_line, bool kvm_pvm);

/* The notice reported when a run falls back (without "tart: notice: "). */
char *accel_fallback_notice(const char *reason);

/* ---- The per-boot verdict ------------------------------------------------
 *
 * {"host": "<key>", "kvm": "cannot-run", "reason": "<one line>"}
 * {"host": "<key>", "kvm": "works"}
 *
 * "works" is written only by the probe that a run makes before it
 * announces something a restart would change (a --vnc URL, a --serial pty,
 * --detach's return): see vm_run.
 * The key names this boot of the host and its KVM modules
 * ("boot=<boot_id> modules=kvm,kvm_pvm"): a reboot or another KVM module
 * makes an old record not apply. */

/* Parse a record for key: ACCEL_VERDICT_CANNOT_RUN and *reason (malloc'ed,
 * sanitised to one printable line of at most 300 bytes), or
 * ACCEL_VERDICT_WORKS; ACCEL_VERDICT_NONE when it is well-formed but for
 * another key; -1 when it is not a record (any bytes: it is read from
 * disk). */
enum { ACCEL_VERDICT_NONE = 0, ACCEL_VERDICT_CANNOT_RUN = 1, ACCEL_VERDICT_WORKS = 2 };
int accel_verdict_parse(const char *text, size_t len, const char *key, char **reason);

/* The record's text (malloc'ed); reason NULL: "works". */
char *accel_verdict_format(const char *key, const char *reason);

/* ---- Host facts (I/O) ------------------------------------------------------ */

/* This boot's key (malloc'ed); *kvm_pvm tells whether kvm_pvm is loaded. */
char *accel_host_key(bool *kvm_pvm);

/* Fill f->kvm and f->kvm_errno from /dev/kvm. */
void accel_probe_device(struct accel_facts *f);

/* The verdict in verdict_path for key, as accel_verdict_parse; a missing
 * or bad file is ACCEL_VERDICT_NONE. */
int accel_verdict_load(const char *verdict_path, const char *key, char **reason);

/* Remember this boot's verdict (atomic replace): KVM cannot run guests
 * (reason), or works (reason NULL). */
int accel_verdict_store(const char *verdict_path, const char *key, const char *reason, tart_error_t *err);

#endif
