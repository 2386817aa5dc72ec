/* The verbs of tart: one file each in src/cmd/, dispatched from the table in
 * src/main.c.  A verb gets its own argv (argv[0] is the verb) and the context
 * its table flags asked main to prepare. */
#ifndef TART_CMD_CMD_H
#define TART_CMD_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmd/options.h"
#include "storage/home.h"
#include "util/error.h"

struct tart_ctx {
  struct tart_home home; /* opened when the verb has CMD_NEED_HOME */
  int exit_code;         /* process exit code when the verb succeeds (exec: the guest's) */
};

typedef int (*tart_cmd_fn)(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err);

/* A verb: its function and its option table (cmd/options.h). */
#define DECLARE_CMD(name)                                                                                    \
  int cmd_##name(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err);                            \
  extern const struct cmd_spec cmd_##name##_spec

DECLARE_CMD(create);
DECLARE_CMD(clone);
DECLARE_CMD(set);
DECLARE_CMD(get);
DECLARE_CMD(list);
DECLARE_CMD(rename);
DECLARE_CMD(delete);
DECLARE_CMD(fqn);
DECLARE_CMD(login);
DECLARE_CMD(logout);
DECLARE_CMD(pull);
DECLARE_CMD(push);
DECLARE_CMD(prune);
DECLARE_CMD(import);
DECLARE_CMD(export);
DECLARE_CMD(run);
DECLARE_CMD(stop);
DECLARE_CMD(suspend);
DECLARE_CMD(exec);
DECLARE_CMD(ip);
DECLARE_CMD(network);

/* --- argument helpers (src/cmd/args.c) --- */

/* getopt_long for a verb: never prints; unknown options and missing values
 * become usage errors (exit 64) naming the option and the verb's --help.
 * Returns the option value, -1 at the end of options, or -2 on error.
 * Verbs call it through cmd_next (cmd/options.h), which builds the
 * arguments from their option table. */
int args_next(int argc, char **argv, const char *shortopts, const struct option *longopts, tart_error_t *err);

/* Check the number of positional arguments left (argc - optind) is within
 * [min, max]; otherwise a usage error.  `names` describes them for the
 * message, e.g. "<name>" or "<source> <new-name>". */
int args_positional(int argc, char **argv, int min, int max, const char *names, tart_error_t *err);

/* Usage error (exit 64) with " (see 'tart <verb> --help')" appended. */
int args_usage_error(char **argv, tart_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse a flag's numeric value with parse_u64, naming the flag on error. */
int args_u64(const char *flag, const char *value, uint64_t min, uint64_t max, uint64_t *out,
             tart_error_t *err);

#endif
