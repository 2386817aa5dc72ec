/* tart export: a VM as an OCI image-layout tar (.tvm). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "oci/layout.h"
#include "util/util.h"

const struct cmd_spec cmd_export_spec = {
    .name = "export",
    .abstract = "Export VM to a compressed .tvm file",
    .discussion = "Writes a tar of an OCI image layout holding the blobs `tart push` would upload\n"
                  "(disk chunks compressed as Tart does), readable by OCI tools such as skopeo\n"
                  "(oci-archive:<path>).\n",
    .usage = "tart export <name> [<path>]",
    .arguments = "<name>\tSource VM name (local or a cached remote name).\n"
                 "<path>\tPath to the destination file (default: ./<name>.tvm).\n",
    .vm_arg = CMD_VM_LOCAL,
};

int cmd_export(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int c;
  while ((c = cmd_next(argc, argv, &cmd_export_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_export_spec);
  }
  if (args_positional(argc, argv, 1, 2, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *path = NULL;
  if (optind + 1 < argc) {
    path = xstrdup(argv[optind + 1]);
  } else {
    /* A remote name's last component makes the default file name. */
    const char *base = strrchr(name, '/');
    path = xasprintf("%s.tvm", base ? base + 1 : name);
    for (char *p = path; *p; p++)
      if (*p == ':' || *p == '@')
        *p = '-';
    if (access(path, F_OK) == 0) {
      printf("file %s already exists, are you sure you want to overwrite it? (yes, [no])? ", path);
      fflush(stdout);
      char answer[16] = "";
      if (fgets(answer, sizeof(answer), stdin) == NULL || strcmp(answer, "yes\n") != 0)
        return tart_error_make(err, 0, "not overwriting %s", path);
    }
  }
  return oci_export(&ctx->home, name, path, err);
}
