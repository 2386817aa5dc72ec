/* Run control: what other commands ask of a running VM, and how its run
 * process answers.  Both halves live in vm/control.c.
 *
 * The request is a signal to the process that holds the VM's run lock
 * (vm_dir_running_pid), as upstream Tart does, so that scripts which
 * signal `tart run` themselves keep working:
 *   SIGINT, SIGTERM  stop now (QMP quit)
 *   SIGUSR2          ask the guest to power off (ACPI power button)
 *   SIGUSR1          suspend: pause, save the state to state.qemusave, quit
 * The answer is the run lock going away (the VM stopped or is suspended)
 * or, for a suspend that failed, logs/suspend.error holding why (the VM
 * goes on running). */
#ifndef TART_VM_CONTROL_H
#define TART_VM_CONTROL_H

#include <stdint.h>

#include "util/error.h"

/* `tart stop`: the guest is asked to power off and given timeout_s
 * seconds (0: no asking), then QEMU is stopped hard, then the run process
 * is killed.  A suspended VM's state is discarded instead.  Not running
 * (nor suspended): exit 2. */
int vm_stop(const char *dir, const char *name, uint64_t timeout_s, tart_error_t *err);

/* `tart suspend`: the state is saved and the run ends; waits up to ten
 * minutes (saving memory under TCG is slow).  Errors: not running (exit
 * 2), the run's own reason it could not suspend. */
int vm_suspend(const char *dir, const char *name, tart_error_t *err);

#endif
