/* tart stop: ask the guest to power off, then force it (SPEC §2). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/util.h"

const char cmd_stop_help[] =
    "OVERVIEW: Stop a VM\n"
    "\n"
    "Asks the guest to power off (ACPI power button), waits up to --timeout seconds,\n"
    "then stops it hard. A suspended VM's saved state is discarded.\n"
    "\n"
    "USAGE: tart stop <name> [--timeout <seconds>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name\n"
    "\n"
    "OPTIONS:\n"
    "  -t, --timeout <seconds> Seconds to wait for the guest to power off; 0 stops it at\n"
    "                          once (default: 30)\n"
    "  -h, --help              Show help information.\n";

int cmd_stop(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  static const struct option longopts[] = {
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t timeout = 30;
  int c;
  while ((c = args_next(argc, argv, "ht:", longopts, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return args_help(cmd_stop_help);
    if (c == 't' && args_u64("--timeout", optarg, 0, 86400, &timeout, err) < 0)
      return -1;
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;

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
  if (timeout > 0 && kill(pid, SIGUSR2) == 0 && vm_dir_wait_stopped(dir, (long)timeout * 1000))
    return 0;
  if (kill(pid, SIGINT) == 0 && vm_dir_wait_stopped(dir, 5000))
    return 0;
  if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
    return tart_error_make(err, errno, "failed to forcefully terminate the VM");
  if (!vm_dir_wait_stopped(dir, 5000))
    return tart_error_make(err, 0, "failed to forcefully terminate the VM");
  return 0;
}
