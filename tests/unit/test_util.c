#include <string.h>

#include "unit.h"
#include "util/util.h"

static void test_parse_u64_valid(void **state)
{
  uint64_t v = 0;
  assert_int_equal(parse_u64("0", 0, 10, &v, "n", NULL), 0);
  assert_int_equal(v, 0);
  assert_int_equal(parse_u64("65535", 1, 65535, &v, "n", NULL), 0);
  assert_int_equal(v, 65535);
  assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v, "n", NULL), 0);
  assert_true(v == UINT64_MAX);
}

static void test_parse_u64_invalid(void **state)
{
  static const char *bad[] = {
      "", "-1", "+1", " 1", "1 ", "1k", "0x10", "1.5", "18446744073709551616", "99999999999999999999999"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    tart_error_t err = NULL;
    uint64_t v = 42;
    assert_int_equal(parse_u64(bad[i], 0, UINT64_MAX, &v, "--n", &err), -1);
    assert_int_equal(v, 42);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_non_null(strstr(err->msg, "--n"));
    tart_error_release(&err);
  }
  tart_error_t err = NULL;
  uint64_t v;
  assert_int_equal(parse_u64("0", 1, 10, &v, "--cpu", &err), -1);
  assert_string_equal(err->msg, "--cpu: 0 is out of range (1 to 10)");
  tart_error_release(&err);
  assert_int_equal(parse_u64("-3", 0, 10, &v, "--x", &err), -1);
  assert_string_equal(err->msg, "--x: must not be negative, got \"-3\"");
  tart_error_release(&err);
}

static void test_uuid(void **state)
{
  char a[37], b[37];
  uuid_random(a);
  uuid_random(b);
  assert_int_equal(strlen(a), 36);
  assert_string_not_equal(a, b);
  assert_int_equal(a[8], '-');
  assert_int_equal(a[14], '4'); /* version 4 */
  assert_true(strchr("89AB", a[19]) != NULL);
}

static void test_control_chars(void **state)
{
  assert_false(str_has_control_chars("plain-name_1.2"));
  assert_false(str_has_control_chars("naïve"));
  assert_true(str_has_control_chars("a\tb"));
  char scrub[] = "a\tb\x1b[2Jc\x7f\xc2\x9b"
                 "1m\xc3\xa9\xc2\xa0";
  assert_string_equal(str_scrub_controls(scrub), "a b [2Jc   1m\xc3\xa9\xc2\xa0");
  assert_false(str_has_control_chars(scrub));
  assert_true(str_has_control_chars("a\x7f"));
  assert_true(str_has_control_chars("\n"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_u64_valid),
      cmocka_unit_test(test_parse_u64_invalid),
      cmocka_unit_test(test_uuid),
      cmocka_unit_test(test_control_chars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
