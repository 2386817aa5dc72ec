/* Shell completion scripts: `tart --generate-completion-script bash|zsh|fish`
 * (upstream's spelling, from swift-argument-parser).
 *
 * The scripts complete verbs, each verb's long options (from its option
 * table, so they never drift from what the verb accepts), VM names where a
 * verb takes one (spec->vm_arg: local and cached OCI names from `tart list
 * --quiet`, or only local ones for verbs that act on a local VM), and a
 * verb's subcommands (spec->subcommands: `tart network`'s).  Anything else
 * falls back to file names. */
#ifndef TART_CMD_COMPLETION_H
#define TART_CMD_COMPLETION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cmd/options.h"
#include "util/error.h"

struct completion_verb {
  const struct cmd_spec *spec;
  /* Not offered as a verb, nor its flags (fqn); its first argument still
   * completes, for whoever types the verb. */
  bool hidden;
};

/* Write the script for shell ("bash", "zsh" or "fish") to f.  An unknown
 * shell is a usage error. */
int completion_script(FILE *f, const char *shell, const struct completion_verb *verbs, size_t n,
                      tart_error_t *err);

#endif
