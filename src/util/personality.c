#include "util/personality.h"

#include <string.h>

static const struct personality tart = {.name = "tart",
                                        .home_env = "TART_HOME",
                                        .home_dir = ".tart",
                                        .failures_exit_1 = false,
                                        .clone_new_mac = false};
static const struct personality vetu = {.name = "vetu",
                                        .home_env = "VETU_HOME",
                                        .home_dir = ".vetu",
                                        .failures_exit_1 = true,
                                        .clone_new_mac = true};

static const struct personality *current = &tart;

void personality_select(const char *argv0)
{
  const char *base = argv0 ? strrchr(argv0, '/') : NULL;
  base = base ? base + 1 : argv0;
  current = (base && strcmp(base, "vetu") == 0) ? &vetu : &tart;
}

const struct personality *personality(void)
{
  return current;
}
