/* Shell completion scripts: `tart --generate-completion-script bash|zsh|fish`
 * (upstream's spelling, from swift-argument-parser).
 *
 * The scripts complete verbs, each verb's long options (taken from its help
 * text, so they never drift from what the verb accepts), VM names where a
 * verb takes one (local and cached OCI names from `tart list --quiet`; only
 * local ones for verbs that act on a local VM), and `tart network`'s
 * subcommands.  Anything else falls back to file names. */
#ifndef TART_CMD_COMPLETION_H
#define TART_CMD_COMPLETION_H

#include <stddef.h>
#include <stdio.h>

#include "util/error.h"

struct completion_verb {
  const char *name;
  const char *help; /* the verb's --help text */
};

/* Pure.  The long options a help text lists: every "--word" that starts an
 * option line (after blanks, or after "-x, "), in order, without
 * duplicates, "--help" included; space-separated, malloc'ed. */
char *completion_flags(const char *help);

/* Write the script for shell ("bash", "zsh" or "fish") to f.  An unknown
 * shell is a usage error. */
int completion_script(FILE *f, const char *shell, const struct completion_verb *verbs, size_t n,
                      tart_error_t *err);

#endif
