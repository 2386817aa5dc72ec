/* One declarative table per verb: its options, what its arguments are and
 * its help, from which the parsing (getopt_long), `--help` and the shell
 * completion scripts are all made, so that the three cannot drift.
 *
 * A verb file defines
 *
 *   static const struct cmd_option stop_options[] = {
 *       {'t', 't', "timeout", "<seconds>", "Seconds to wait for the guest to power off; 0 stops it at\n"
 *                                          "once (default: 30)"},
 *       {0},
 *   };
 *   const struct cmd_spec cmd_stop_spec = {
 *       .name = "stop", .abstract = "Stop a VM", .usage = "tart stop <name> [--timeout <seconds>]",
 *       .arguments = "<name>\tVM name\n", .options = stop_options, .vm_arg = CMD_VM_LOCAL,
 *   };
 *
 * and parses with
 *
 *   while ((c = cmd_next(argc, argv, &cmd_stop_spec, err)) != -1)
 *     switch (c) { case -2: return -1; case 't': ...; }
 *
 * -h/--help is every verb's (the table need not list it): main answers it
 * before the verb runs, except for verbs whose arguments may hold a -h of
 * their own (CMD_OWN_HELP_SCAN in main.c), where cmd_next returns 'h'. */
#ifndef TART_CMD_OPTIONS_H
#define TART_CMD_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

/* What cmd_next returns for a long-only option: any value from here up. */
#define CMD_OPT_LONG 256

struct cmd_option {
  int id;            /* returned by cmd_next: the short letter, or CMD_OPT_LONG + n */
  char short_name;   /* 'q' for -q; 0: long only */
  const char *name;  /* the long name without "--" */
  const char *value; /* NULL: takes no value; else its placeholder in --help, e.g. "<seconds>" */
  /* Its help, one or more lines separated by '\n' (each at most about 60
   * columns: they are indented to column 26).  NULL: accepted, but neither
   * in --help nor completed (a deprecated spelling another option's help
   * mentions). */
  const char *help;
};

/* Which VM names a verb's first argument completes to. */
enum cmd_vm_arg {
  CMD_VM_NONE = 0,
  CMD_VM_LOCAL, /* a local VM (run, stop, ...) */
  CMD_VM_ANY,   /* a local VM or a cached OCI name (clone, get, ...) */
};

struct cmd_spec {
  const char *name;
  const char *abstract;   /* one line: OVERVIEW and `tart --help`'s list */
  const char *discussion; /* paragraphs after the OVERVIEW line, or NULL */
  const char *usage;      /* after "USAGE: "; continuation lines carry their own indentation */
  /* ARGUMENTS, one per line as "<name>\tdescription" (a description of
   * several lines continues on lines that start with '\t'), or NULL.  With
   * .subcommands, the section is titled SUBCOMMANDS and lists them. */
  const char *arguments;
  const struct cmd_option *options; /* ends with {0}; NULL: none but --help */
  enum cmd_vm_arg vm_arg;
  bool stop_at_positional; /* options end at the first argument (exec: the guest command's own) */
  /* Completion words for the first argument instead of VM names (network:
   * "up down status set"), or NULL. */
  const char *subcommands;
};

/* getopt_long over the spec's options (and -h/--help, returned as 'h').
 * Never prints.  Returns an option's id (optarg holds its value), -1 at
 * the end of the options (optind is at the first argument), or -2 on a
 * usage error in *err (exit 64, naming the option and `tart <verb>
 * --help`).  Start each parse with optind = 1 (main does). */
int cmd_next(int argc, char **argv, const struct cmd_spec *spec, tart_error_t *err);

/* Pure.  The verb's --help text (malloc'ed): OVERVIEW, the discussion,
 * USAGE, ARGUMENTS (SUBCOMMANDS with .subcommands) and OPTIONS, options in
 * table order and -h/--help last, each as "  -x, --name <value>" padded to
 * column 26 (or alone on its line when longer) followed by its help
 * lines. */
char *cmd_help_text(const struct cmd_spec *spec);

/* Pure.  The verb's man page, tart-<verb>(1) (malloc'ed roff): NAME from
 * the abstract, SYNOPSIS from the usage, DESCRIPTION from the discussion
 * (paragraphs split at blank lines), ARGUMENTS (or SUBCOMMANDS) and
 * OPTIONS from the same tables as --help, so the two cannot drift.
 * program: "tart"; version goes in the footer. */
char *cmd_man_page(const struct cmd_spec *spec, const char *program, const char *version);

/* Print the help to stdout; returns 0. */
int cmd_print_help(const struct cmd_spec *spec);

/* Pure.  The long options completion offers: "--name" of each listed
 * option in table order, then "--help"; space-separated, malloc'ed. */
char *cmd_completion_flags(const struct cmd_spec *spec);

#endif
