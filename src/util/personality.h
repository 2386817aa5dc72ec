/* Which program this binary is: tart, or vetu, the name Orchard's Linux
 * worker runs (docs/upstream.md, "vetu").  main chooses it once, from the
 * name it was called by, before anything reads it. */
#ifndef TART_UTIL_PERSONALITY_H
#define TART_UTIL_PERSONALITY_H

#include <stdbool.h>

struct personality {
  const char *name;     /* "tart" or "vetu": the program's name in messages */
  const char *home_env; /* the variable naming the home: TART_HOME or VETU_HOME */
  const char *home_dir; /* the home's name under $HOME when that is unset: .tart or .vetu */
  /* vetu: every failure exits 1 (Vetu's own exit codes); tart: SPEC's codes */
  bool failures_exit_1;
  /* vetu: clone always gives the new VM a new MAC, as Vetu's clone does */
  bool clone_new_mac;
};

/* Select the personality by argv0's last path component: "vetu" is vetu,
 * anything else tart. */
void personality_select(const char *argv0);

/* The selected personality (tart until personality_select says otherwise). */
const struct personality *personality(void);

#endif
