/* tart rename: an atomic rename of vms/<name>; never replaces a VM. */
#include <errno.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "storage/name.h"
#include "util/fs.h"
#include "util/util.h"

const char cmd_rename_help[] = "OVERVIEW: Rename a local VM\n"
                               "\n"
                               "USAGE: tart rename <name> <new-name>\n"
                               "\n"
                               "ARGUMENTS:\n"
                               "  <name>                  VM name\n"
                               "  <new-name>              new VM name\n"
                               "\n"
                               "OPTIONS:\n"
                               "  -h, --help              Show help information.\n";

int cmd_rename(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_rename_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
  if (args_positional(argc, argv, 2, 2, "<name> <new-name>", err) < 0)
    return -1;
  const char *name = argv[optind], *new_name = argv[optind + 1];
  if (strchr(new_name, '/') != NULL)
    return args_usage_error(argv, err, "<new-name> should be a local name");
  if (vm_name_validate_local(new_name, err) < 0)
    return -1;

  struct tart_home *h = &ctx->home;
  if (strchr(name, '/') != NULL || !local_vm_exists(h, name)) {
    _cleanup_free_ char *q = vm_name_quote(name);
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "failed to rename a non-existent local VM: %s", q);
  }
  _cleanup_free_ char *from = local_vm_path(h, name);
  _cleanup_free_ char *to = local_vm_path(h, new_name);
  if (path_exists(to) || rename_noreplace(from, to, err) < 0) {
    if (err && *err && (*err)->errnum != EEXIST)
      return -1;
    return tart_error_make(err, 0, "failed to rename VM %s, target VM %s already exists, delete it first!",
                           name, new_name);
  }
  return 0;
}
