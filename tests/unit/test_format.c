#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util/format.h"
#include "util/util.h"

static void rel(time_t then, time_t now, const char *want)
{
  char buf[64];
  format_relative_time(then, now, buf, sizeof(buf));
  assert_string_equal(buf, want);
}

static void test_relative(void **state)
{
  time_t now = 1700000000;
  rel(now, now, "0 seconds ago");
  rel(now - 1, now, "1 second ago");
  rel(now - 59, now, "59 seconds ago");
  rel(now - 60, now, "1 minute ago");
  rel(now - 3 * 60 - 5, now, "3 minutes ago");
  rel(now - 3600, now, "1 hour ago");
  rel(now - 2 * 86400, now, "2 days ago");
  rel(now - 14 * 86400, now, "2 weeks ago");
  rel(now - 60 * 86400, now, "2 months ago");
  rel(now - 800 * 86400, now, "2 years ago");
  rel(now + 120, now, "in 2 minutes");
}

static void test_iso8601(void **state)
{
  char buf[32];
  format_iso8601(0, buf, sizeof(buf));
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
  format_iso8601(1700000000, buf, sizeof(buf));
  assert_string_equal(buf, "2023-11-14T22:13:20Z");
}

static void test_table(void **state)
{
  static const char *headers[] = {"Name", "Age", "City"};
  static const bool right[] = {false, true, false};
  struct table t;
  table_init(&t, 3, headers, right);
  const char *r1[] = {"Alice", "42", "Paris"};
  const char *r2[] = {"Bob", "142", ""};
  table_add_row(&t, r1);
  table_add_row(&t, r2);

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  table_print(&t, f);
  fclose(f);
  assert_string_equal(buf, "Name   Age  City\n"
                           "Alice   42  Paris\n"
                           "Bob    142\n");
  free(buf);
  table_clear(&t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relative),
      cmocka_unit_test(test_iso8601),
      cmocka_unit_test(test_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
