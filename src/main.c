/* tart: create, run, and ship virtual machines through OCI registries.
 *
 * The command table below is the whole dispatch: each row names a verb, the
 * function in src/cmd/<verb>.c that runs it, and what main must prepare
 * first (git's RUN_SETUP idea), so no verb repeats the set-up. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/completion.h"
#include "cmd/options.h"
#include "tart-version.h"
#include "util/log.h"
#include "util/report.h"
#include "util/util.h"

enum {
  CMD_NEED_HOME = 1 << 0, /* open $TART_HOME (creating it) */
  CMD_GC_TMP = 1 << 1,    /* collect abandoned tmp/ entries first */
  CMD_HIDDEN = 1 << 2,    /* not listed in --help */
  /* The verb parses its own --help: words after the VM name belong to the
   * guest command (exec) and must not be scanned for --help. */
  CMD_OWN_HELP_SCAN = 1 << 3,
};

struct tart_command {
  const char *name;
  tart_cmd_fn fn;
  unsigned flags;
  const char *summary;
  const char *help;
  const struct cmd_spec *spec; /* cmd/options.h: when set, summary and help come from it */
};

static const char *command_summary(const struct tart_command *c)
{
  return c->spec ? c->spec->abstract : c->summary;
}

static int command_help(const struct tart_command *c)
{
  return c->spec ? cmd_print_help(c->spec) : args_help(c->help);
}

/* Upstream's registration order (docs/upstream.md, "Command line and flags"); pull and clone skip the tmp GC
 * so an interrupted pull can resume from its tmp entry. */
static const struct tart_command commands[] = {
    {"create", cmd_create, CMD_NEED_HOME | CMD_GC_TMP, "Create a VM", cmd_create_help, NULL},
    {"clone", cmd_clone, CMD_NEED_HOME, "Clone a VM", cmd_clone_help, NULL},
    {"run", cmd_run, CMD_NEED_HOME | CMD_GC_TMP | CMD_OWN_HELP_SCAN, "Run a VM", cmd_run_help, NULL},
    {"set", cmd_set, CMD_NEED_HOME | CMD_GC_TMP, "Modify VM's configuration", cmd_set_help, NULL},
    {"get", cmd_get, CMD_NEED_HOME | CMD_GC_TMP, "Get a VM's configuration", cmd_get_help, NULL},
    {"list", cmd_list, CMD_NEED_HOME | CMD_GC_TMP, "List created VMs", cmd_list_help, NULL},
    {"login", cmd_login, CMD_NEED_HOME | CMD_GC_TMP, "Login to a registry", cmd_login_help, NULL},
    {"logout", cmd_logout, CMD_NEED_HOME | CMD_GC_TMP, "Logout from a registry", cmd_logout_help, NULL},
    {"ip", cmd_ip, CMD_NEED_HOME | CMD_GC_TMP, "Get VM's IP address", cmd_ip_help, NULL},
    {"exec", cmd_exec, CMD_NEED_HOME | CMD_GC_TMP | CMD_OWN_HELP_SCAN, "Execute a command in a running VM",
     cmd_exec_help, NULL},
    {"pull", cmd_pull, CMD_NEED_HOME, "Pull a VM from a registry", cmd_pull_help, NULL},
    {"push", cmd_push, CMD_NEED_HOME | CMD_GC_TMP, "Push a VM to a registry", cmd_push_help, NULL},
    {"import", cmd_import, CMD_NEED_HOME | CMD_GC_TMP, "Import VM from a compressed .tvm file",
     cmd_import_help, NULL},
    {"export", cmd_export, CMD_NEED_HOME | CMD_GC_TMP, "Export VM to a compressed .tvm file", cmd_export_help,
     NULL},
    {"prune", cmd_prune, CMD_NEED_HOME | CMD_GC_TMP, "Prune OCI caches or local VMs", cmd_prune_help, NULL},
    {"rename", cmd_rename, CMD_NEED_HOME | CMD_GC_TMP, "Rename a local VM", cmd_rename_help, NULL},
    {"stop", cmd_stop, CMD_NEED_HOME | CMD_GC_TMP, NULL, NULL, &cmd_stop_spec},
    {"delete", cmd_delete, CMD_NEED_HOME | CMD_GC_TMP, "Delete a VM", cmd_delete_help, NULL},
    {"suspend", cmd_suspend, CMD_NEED_HOME | CMD_GC_TMP, "Suspend a VM", cmd_suspend_help, NULL},
    {"network", cmd_network, 0, "Manage the NAT network", cmd_network_help, NULL},
    {"fqn", cmd_fqn, CMD_NEED_HOME | CMD_GC_TMP | CMD_HIDDEN, "Get a fully-qualified VM name", cmd_fqn_help,
     NULL},
};

static void print_help(FILE *f)
{
  fprintf(f, "OVERVIEW: Run and manage virtual machines with QEMU, shipped through OCI registries\n\n"
             "USAGE: tart [--debug] <subcommand>\n\n"
             "OPTIONS:\n"
             "  --debug                 Print debug logs to stderr (same as TART_LOG=debug)\n"
             "  --version               Show the version.\n"
             "  --generate-completion-script <shell>\n"
             "                          Print a completion script for bash, zsh or fish\n"
             "  -h, --help              Show help information.\n\n"
             "SUBCOMMANDS:\n");
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (!(commands[i].flags & CMD_HIDDEN))
      fprintf(f, "  %-22s  %s\n", commands[i].name, command_summary(&commands[i]));
  fprintf(f, "\n  See 'tart help <subcommand>' for detailed help.\n");
}

/* --generate-completion-script SHELL: verbs and their flags from this table. */
static int completion(const char *shell)
{
  struct completion_verb verbs[ARRAY_SIZE(commands)];
  char *made[ARRAY_SIZE(commands)];
  size_t n = 0;
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
    if (commands[i].flags & CMD_HIDDEN)
      continue;
    made[n] = commands[i].spec ? cmd_help_text(commands[i].spec) : NULL;
    verbs[n] = (struct completion_verb){commands[i].name, made[n] ? made[n] : commands[i].help};
    n++;
  }
  _cleanup_error_ tart_error_t err = NULL;
  int r = completion_script(stdout, shell, verbs, n, &err);
  for (size_t i = 0; i < n; i++)
    free(made[i]);
  return r < 0 ? tart_error_print(err) : 0;
}

static const struct tart_command *find_command(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (!strcmp(commands[i].name, name))
      return &commands[i];
  return NULL;
}

static int run_command(const struct tart_command *cmd, int argc, char **argv, tart_error_t *err)
{
  struct tart_ctx ctx = {.home = {.lock_fd = -1}};
  int ret = 0;

  /* Help needs no $TART_HOME: answer it before touching the disk. */
  for (int i = 1; !(cmd->flags & CMD_OWN_HELP_SCAN) && i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return command_help(cmd);

  if (cmd->flags & CMD_NEED_HOME) {
    if (tart_home_open(&ctx.home, err) < 0)
      return -1;
    if (cmd->flags & CMD_GC_TMP) {
      tart_error_t gc_err = NULL;
      if (tart_home_gc_tmp(&ctx.home, &gc_err) < 0)
        fprintf(stderr, "Failed to perform garbage collection: %s\n", gc_err->msg);
      tart_error_release(&gc_err);
    }
  }
  optind = 1;
  ret = cmd->fn(argc, argv, &ctx, err);
  tart_home_close(&ctx.home);
  return ret < 0 ? -1 : ctx.exit_code;
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* The library reports through util/report.h; this is where it shows. */
  report_set_handler(report_print, NULL);
  _cleanup_error_ tart_error_t err = NULL;
  if (tart_log_init_from_env() < 0)
    fprintf(stderr,
            "tart: warning: ignoring unknown TART_LOG value \"%s\" (use debug, info, warn or error)\n",
            getenv("TART_LOG"));

  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--debug")) {
      tart_log_set_level(TART_LOG_DEBUG);
    } else if (!strcmp(a, "--version")) {
      printf("%s\n", TART_VERSION);
      return 0;
    } else if (!strcmp(a, "--generate-completion-script")) {
      return completion(i + 1 < argc ? argv[i + 1] : NULL);
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      print_help(stdout);
      return 0;
    } else {
      tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown option '%s' (see 'tart --help')", a);
      return tart_error_print(err);
    }
  }
  if (i >= argc) {
    print_help(stderr);
    return TART_EXIT_USAGE;
  }

  const char *verb = argv[i];
  if (!strcmp(verb, "help")) {
    if (i + 1 >= argc) {
      print_help(stdout);
      return 0;
    }
    const struct tart_command *c = find_command(argv[i + 1]);
    if (c == NULL) {
      tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown subcommand '%s' (see 'tart --help')", argv[i + 1]);
      return tart_error_print(err);
    }
    return command_help(c);
  }

  const struct tart_command *cmd = find_command(verb);
  if (cmd == NULL) {
    tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown subcommand '%s' (see 'tart --help')", verb);
    return tart_error_print(err);
  }
  log_debug("running %s", verb);
  int code = run_command(cmd, argc - i, argv + i, &err);
  if (code < 0)
    return tart_error_print(err);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    tart_error_make(&err, 0, "cannot write the output");
    return tart_error_print(err);
  }
  return code;
}
