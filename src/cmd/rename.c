/* tart rename: an atomic rename of vms/<name>; never replaces a VM. */
#include <errno.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "storage/name.h"
#include "util/fs.h"
#include "util/util.h"

const struct cmd_spec cmd_rename_spec = {
    .name = "rename",
    .abstract = "Rename a local VM",
    .usage = "tart rename <name> <new-name>",
    .arguments = "<name>\tVM name\n"
                 "<new-name>\tnew VM name\n",
    .vm_arg = CMD_VM_LOCAL,
};

int cmd_rename(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_rename_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_rename_spec);
  }
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
