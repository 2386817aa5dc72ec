/* tart: create, run, and ship virtual machines through OCI registries.
 *
 * The command table below is the whole dispatch: each row gives the function
 * in src/cmd/<verb>.c that runs a verb, what main must prepare first (git's
 * RUN_SETUP idea, so no verb repeats the set-up), and the verb's spec
 * (cmd/options.h): its name, help, options and completion. */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/completion.h"
#include "cmd/options.h"
#include "tart-commit.h"
#include "tart-version.h"
#include "util/log.h"
#include "util/personality.h"
#include "util/report.h"
#include "util/util.h"

enum {
  CMD_NEED_HOME = 1 << 0, /* open $TART_HOME (creating it) */
  CMD_GC_TMP = 1 << 1,    /* collect abandoned tmp/ entries first */
  CMD_HIDDEN = 1 << 2,    /* not listed in --help */
  /* The verb parses its own --help: words after the VM name belong to the
   * guest command (exec) and must not be scanned for --help. */
  CMD_OWN_HELP_SCAN = 1 << 3,
  /* The run-control signals (vm/control.h) are requests from the start:
   * blocked before anything else, so that one sent in the first moments is
   * queued for the run (vm_run reads it from its signalfd), never the
   * default action that would kill us. */
  CMD_HOLD_SIGNALS = 1 << 4,
};

struct tart_command {
  tart_cmd_fn fn;
  unsigned flags;
  const struct cmd_spec *spec; /* cmd/options.h: its name, options, help and completion */
};

/* Upstream's registration order (docs/upstream.md, "Command line and flags"); pull and clone skip the tmp GC
 * so an interrupted pull can resume from its tmp entry. */
static const struct tart_command commands[] = {
    {cmd_create, CMD_NEED_HOME | CMD_GC_TMP, &cmd_create_spec},
    {cmd_clone, CMD_NEED_HOME, &cmd_clone_spec},
    {cmd_run, CMD_NEED_HOME | CMD_GC_TMP | CMD_OWN_HELP_SCAN | CMD_HOLD_SIGNALS, &cmd_run_spec},
    {cmd_set, CMD_NEED_HOME | CMD_GC_TMP, &cmd_set_spec},
    {cmd_get, CMD_NEED_HOME | CMD_GC_TMP, &cmd_get_spec},
    {cmd_list, CMD_NEED_HOME | CMD_GC_TMP, &cmd_list_spec},
    {cmd_login, CMD_NEED_HOME | CMD_GC_TMP, &cmd_login_spec},
    {cmd_logout, CMD_NEED_HOME | CMD_GC_TMP, &cmd_logout_spec},
    {cmd_ip, CMD_NEED_HOME | CMD_GC_TMP, &cmd_ip_spec},
    {cmd_exec, CMD_NEED_HOME | CMD_GC_TMP | CMD_OWN_HELP_SCAN, &cmd_exec_spec},
    {cmd_pull, CMD_NEED_HOME, &cmd_pull_spec},
    {cmd_push, CMD_NEED_HOME | CMD_GC_TMP, &cmd_push_spec},
    {cmd_import, CMD_NEED_HOME | CMD_GC_TMP, &cmd_import_spec},
    {cmd_export, CMD_NEED_HOME | CMD_GC_TMP, &cmd_export_spec},
    {cmd_prune, CMD_NEED_HOME | CMD_GC_TMP, &cmd_prune_spec},
    {cmd_rename, CMD_NEED_HOME | CMD_GC_TMP, &cmd_rename_spec},
    {cmd_stop, CMD_NEED_HOME | CMD_GC_TMP, &cmd_stop_spec},
    {cmd_delete, CMD_NEED_HOME | CMD_GC_TMP, &cmd_delete_spec},
    {cmd_suspend, CMD_NEED_HOME | CMD_GC_TMP, &cmd_suspend_spec},
    {cmd_network, 0, &cmd_network_spec},
    {cmd_fqn, CMD_NEED_HOME | CMD_GC_TMP | CMD_HIDDEN, &cmd_fqn_spec},
};

static void print_help(FILE *f)
{
  fprintf(f,
          "OVERVIEW: Run and manage virtual machines with QEMU, shipped through OCI registries\n\n"
          "USAGE: %s [--debug] <subcommand>\n\n"
          "OPTIONS:\n"
          "  --debug                 Print debug logs to stderr (same as TART_LOG=debug)\n"
          "  --version               Show the version.\n"
          "  --generate-completion-script <shell>\n"
          "                          Print a completion script for bash, zsh or fish\n"
          "  -h, --help              Show help information.\n\n"
          "SUBCOMMANDS:\n",
          personality()->name);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (!(commands[i].flags & CMD_HIDDEN))
      fprintf(f, "  %-22s  %s\n", commands[i].spec->name, commands[i].spec->abstract);
  fprintf(f, "\n  See '%s help <subcommand>' for detailed help.\n", personality()->name);
}

/* --generate-completion-script SHELL: verbs and their flags from this table. */
static int completion(const char *shell)
{
  struct completion_verb verbs[ARRAY_SIZE(commands)];
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    verbs[i] = (struct completion_verb){commands[i].spec, (commands[i].flags & CMD_HIDDEN) != 0};
  _cleanup_error_ tart_error_t err = NULL;
  if (completion_script(stdout, shell, verbs, ARRAY_SIZE(verbs), &err) < 0)
    return tart_error_print(err);
  return 0;
}

static const struct tart_command *find_command(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (!strcmp(commands[i].spec->name, name))
      return &commands[i];
  return NULL;
}

/* --generate-manpage [VERB]: tart(1), or tart-VERB(1), in roff, from the
 * same tables as --help (meson builds and installs them). */
static int man_page(const char *verb)
{
  if (verb != NULL) {
    const struct tart_command *c = find_command(verb);
    if (c == NULL) {
      _cleanup_error_ tart_error_t err = NULL;
      tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown subcommand '%s' (see '%s --help')", verb,
                      personality()->name);
      return tart_error_print(err);
    }
    _cleanup_free_ char *page = cmd_man_page(c->spec, "tart", TART_VERSION);
    fputs(page, stdout);
    return 0;
  }
  printf(".TH TART 1 \"\" \"tart %s\" \"User Commands\"\n"
         ".SH NAME\ntart \\- run and manage virtual machines with QEMU, shipped through OCI registries\n"
         ".SH SYNOPSIS\n.B tart\n[\\-\\-debug] \\fIsubcommand\\fR [\\fIoptions\\fR]\n"
         ".SH DESCRIPTION\nThe Linux counterpart of Cirrus Labs' Tart: the same command line, the same\n"
         "\\fI~/.tart\\fR layout and the same registry format, with QEMU (KVM or TCG) running the VMs.\n"
         "Called as \\fBvetu\\fR, it keeps its VMs in \\fI$VETU_HOME\\fR (default \\fI~/.vetu\\fR).\n"
         ".SH OPTIONS\n.TP\n.B \\-\\-debug\nPrint debug logs to stderr (same as TART_LOG=debug).\n"
         ".TP\n.B \\-\\-version\nShow the version and the commit it was built from.\n"
         ".TP\n.BI \\-\\-generate\\-completion\\-script \" shell\"\n"
         "Print a completion script for bash, zsh or fish.\n"
         ".TP\n.B \\-h, \\-\\-help\nShow help information.\n.SH SUBCOMMANDS\n",
         TART_VERSION);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
    if (commands[i].flags & CMD_HIDDEN)
      continue;
    printf(".TP\n.BR tart\\-%s (1)\n%s\n", commands[i].spec->name, commands[i].spec->abstract);
  }
  printf(".SH FILES\n.TP\n.I ~/.tart\nVMs (vms/), cached images (cache/OCIs/), work in progress (tmp/); "
         "$TART_HOME moves it.\n.SH SEE ALSO\n"
         "The FAQ, the security notes and the comparison with upstream: "
         "/usr/share/doc/tart/ (faq.md, security.md, upstream.md).\n");
  return 0;
}

static int run_command(const struct tart_command *cmd, int argc, char **argv, tart_error_t *err)
{
  struct tart_ctx ctx = {.home = {.lock_fd = -1}};
  int ret = 0;
  if (cmd->flags & CMD_HOLD_SIGNALS) {
    sigset_t hold;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGUSR1);
    sigaddset(&hold, SIGUSR2);
    sigprocmask(SIG_BLOCK, &hold, NULL);
    /* A shell starts background jobs with SIGINT ignored, and an ignored
     * signal is dropped, not queued: take the default back (blocked, it
     * cannot act) so that `kill -INT` of a `tart run &` is a stop. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }

  /* Help needs no $TART_HOME: answer it before touching the disk. */
  for (int i = 1; !(cmd->flags & CMD_OWN_HELP_SCAN) && i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return cmd_print_help(cmd->spec);

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

static int tart_main(int argc, char **argv)
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
      /* The version first, as upstream prints it; then the commit. */
      printf("%s (commit %s)\n", TART_VERSION, TART_COMMIT);
      return 0;
    } else if (!strcmp(a, "--generate-manpage")) {
      return man_page(i + 1 < argc ? argv[i + 1] : NULL);
    } else if (!strcmp(a, "--generate-completion-script")) {
      return completion(i + 1 < argc ? argv[i + 1] : NULL);
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      print_help(stdout);
      return 0;
    } else {
      tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown option '%s' (see '%s --help')", a,
                      personality()->name);
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
      tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown subcommand '%s' (see '%s --help')", argv[i + 1],
                      personality()->name);
      return tart_error_print(err);
    }
    return cmd_print_help(c->spec);
  }

  const struct tart_command *cmd = find_command(verb);
  if (cmd == NULL) {
    tart_error_exit(&err, TART_EXIT_USAGE, 0, "unknown subcommand '%s' (see '%s --help')", verb,
                    personality()->name);
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

int main(int argc, char **argv)
{
  /* Called as vetu (a link), this is Orchard's Linux runtime: Vetu's home
   * and exit codes (docs/upstream.md, "vetu"). */
  personality_select(argc > 0 ? argv[0] : NULL);
  int code = tart_main(argc, argv);
  return code != 0 && personality()->failures_exit_1 ? 1 : code;
}
