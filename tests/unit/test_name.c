#include <stdlib.h>
#include <string.h>

#include "storage/name.h"
#include "unit.h"
#include "util/util.h"

static void valid(const char *n)
{
  tart_error_t err = NULL;
  if (vm_name_validate_local(n, &err) != 0)
    fail_msg("%s rejected: %s", n, err->msg);
}

static void invalid(const char *n, const char *why)
{
  tart_error_t err = NULL;
  assert_int_equal(vm_name_validate_local(n, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  if (strstr(err->msg, why) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", err->msg, why);
  /* The message must stay one line whatever the name holds. */
  assert_null(strchr(err->msg, '\n'));
  tart_error_release(&err);
}

static void test_valid_names(void **state)
{
  valid("vm");
  valid("debian:latest"); /* no '/', so local per upstream's grammar */
  valid("my_vm.2-x");
  valid(".hidden");
  char n[256];
  memset(n, 'a', 255);
  n[255] = '\0';
  valid(n);
}

static void test_invalid_names(void **state)
{
  invalid("", "empty");
  invalid("..", "\"..\"");
  invalid(".", "\"..\"");
  invalid("a..b", "\"..\"");
  invalid("a/b", "'/'");
  invalid("ghcr.io/org/img:latest", "'/'");
  invalid("a\tb", "control");
  invalid("a\nb", "control");
  char n[257];
  memset(n, 'a', 256);
  n[256] = '\0';
  invalid(n, "255");
}

static void test_quote(void **state)
{
  char *q = vm_name_quote("a\x01z");
  assert_string_equal(q, "a\\x01z");
  free(q);
  char n[200];
  memset(n, 'b', 199);
  n[199] = '\0';
  q = vm_name_quote(n);
  assert_int_equal(strlen(q), 83);
  assert_string_equal(q + 80, "...");
  free(q);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_names),
      cmocka_unit_test(test_invalid_names),
      cmocka_unit_test(test_quote),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
