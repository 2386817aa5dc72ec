/* Running helper programs (qemu-img today; QEMU, dnsmasq later). */
#ifndef TART_UTIL_PROCESS_H
#define TART_UTIL_PROCESS_H

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Run argv[0] (looked up in PATH) with argv, stdin from /dev/null, and wait.
 * stdout is captured into *out (may be NULL to discard, max 1 MiB kept),
 * stderr is captured and its first non-empty line is used in the error when
 * the program fails.  Returns 0 on exit status 0; otherwise -1 with
 * "<argv[0]> failed: <first stderr line>" (or the exit status / signal). */
int process_run(const char *const argv[], char **out, tart_error_t *err);

/* The same with input_len bytes of input (NULL: /dev/null) on the child's
 * stdin.  Error messages name the program by its base name. */
int process_run_input(const char *const argv[], const char *input, size_t input_len, char **out,
                      tart_error_t *err);

/* In a child between fork and exec of a helper the caller supervises
 * (QEMU, virtiofsd): die with the parent (PR_SET_PDEATHSIG; _exit(127) if
 * it is already gone), a process group of its own so that the terminal's
 * signals reach only the parent, no blocked signals, stdin from /dev/null,
 * stdout and stderr to log_fd.  Async-signal-safe. */
void process_child_supervised(pid_t parent, int log_fd);

/* Spawn attributes for a child that starts clean: no signal blocked and
 * the run-control signals at their default action, whatever the parent
 * holds (`tart run` blocks them for its signalfd, vm/run.h), so that a
 * helper such as dnsmasq still stops on SIGTERM.  Destroy with
 * posix_spawnattr_destroy. */
void process_spawnattr_clean(posix_spawnattr_t *attr);

#endif
