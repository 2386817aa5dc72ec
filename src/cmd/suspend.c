/* tart suspend: save a running VM's state to state.qemusave and stop it;
 * the next `tart run` restores it.  Works for Linux guests (upstream can
 * only suspend macOS guests). */
#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "qemu/supervisor.h"
#include "util/fs.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/util.h"

const char cmd_suspend_help[] = "OVERVIEW: Suspend a VM\n"
                                "\n"
                                "USAGE: tart suspend <name>\n"
                                "\n"
                                "ARGUMENTS:\n"
                                "  <name>                  VM name\n"
                                "\n"
                                "OPTIONS:\n"
                                "  -h, --help              Show help information.\n";

int cmd_suspend(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_suspend_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
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
    return tart_error_make(err, 0, "Failed to suspend the VM: see %s/logs/qemu.log", dir);
  return 0;
}
