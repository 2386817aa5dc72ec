/* tart export: a VM as an OCI image-layout tar (.tvm). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "oci/layout.h"
#include "util/util.h"

const char cmd_export_help[] =
    "OVERVIEW: Export VM to a compressed .tvm file\n"
    "\n"
    "Writes a tar of an OCI image layout holding the blobs `tart push` would upload\n"
    "(disk chunks compressed as Tart does), readable by OCI tools such as skopeo\n"
    "(oci-archive:<path>).\n"
    "\n"
    "USAGE: tart export <name> [<path>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  Source VM name (local or a cached remote name).\n"
    "  <path>                  Path to the destination file (default: ./<name>.tvm).\n"
    "\n"
    "OPTIONS:\n"
    "  -h, --help              Show help information.\n";

int cmd_export(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  int help = args_no_options(argc, argv, cmd_export_help, err);
  if (help != 0)
    return help < 0 ? -1 : 0;
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
