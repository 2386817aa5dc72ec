/* The flags completion offers come from each verb's help text. */
#include <stdlib.h>
#include <string.h>

#include "cmd/completion.h"
#include "unit.h"

static void test_flags_from_help(void **state)
{
  (void)state;
  const char *help = "OVERVIEW: x --not-this\n"
                     "\n"
                     "USAGE: tart x [--also-not] <name>\n"
                     "OPTIONS:\n"
                     "  --wait <seconds>        Wait; see --not-either\n"
                     "                          continued --nor-this\n"
                     "  -q, --quiet             Quiet\n"
                     "  --net-softnet-allow <cidrs>   Allow\n"
                     "  --recovery, --rosetta   macOS-only\n"
                     "  --wait <again>          duplicate\n"
                     "  -h, --help              Show help information.\n"
                     "  --                      not a flag\n"
                     "  --x";
  char *f = completion_flags(help);
  assert_string_equal(f, "--wait --quiet --net-softnet-allow --recovery --help --x");
  free(f);
  f = completion_flags("");
  assert_string_equal(f, "");
  free(f);
  /* A prefix of an earlier flag is not a duplicate of it. */
  f = completion_flags("  --net-user-forward <f>\n  --net-user\n");
  assert_string_equal(f, "--net-user-forward --net-user");
  free(f);
}

static void test_unknown_shell(void **state)
{
  (void)state;
  struct completion_verb v[] = {{"list", "  --quiet\n"}};
  tart_error_t err = NULL;
  assert_int_equal(completion_script(stdout, "tcsh", v, 1, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  tart_error_release(&err);
  assert_int_equal(completion_script(stdout, NULL, v, 1, &err), -1);
  tart_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags_from_help),
      cmocka_unit_test(test_unknown_shell),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
