/* oci/push.h, the pure parts: targets grouped by repository, and the line
 * upstream prints for each group. */
#include <stdlib.h>
#include <string.h>

#include "oci/push.h"
#include "unit.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_grouping(void **state)
{
  (void)state;
  char *names[] = {"r.io:5000/org/vm:v1", "ghcr.io/a/b", "r.io:5000/org/vm:latest", "r.io:5000/org/other:v1",
                   "r.io:5000/org/vm@" DIGEST};
  struct oci_push_target *t = NULL;
  size_t n = 0;
  assert_int_equal(oci_push_group_targets(names, 5, &t, &n, NULL), 0);
  assert_int_equal(n, 3);
  assert_string_equal(t[0].host, "r.io:5000");
  assert_string_equal(t[0].ns, "org/vm");
  assert_int_equal(t[0].n_tags, 3);
  assert_string_equal(t[0].tags[0], "v1");
  assert_string_equal(t[0].tags[1], "latest");
  assert_string_equal(t[0].tags[2], DIGEST);
  assert_string_equal(t[1].host, "ghcr.io");
  assert_string_equal(t[1].ns, "a/b");
  assert_string_equal(t[1].tags[0], "latest"); /* the default tag */
  assert_string_equal(t[2].ns, "org/other");

  char *line = oci_push_status_line("vm", &t[0]);
  assert_string_equal(line, "pushing vm to r.io:5000/org/vm{:v1,:latest,@" DIGEST "}...");
  free(line);
  line = oci_push_status_line("vm", &t[1]);
  assert_string_equal(line, "pushing vm to ghcr.io/a/b:latest...");
  free(line);
  oci_push_targets_free(t, n);
}

static void test_bad_target(void **state)
{
  (void)state;
  char *names[] = {"r.io/org/vm:v1", "not a reference"};
  struct oci_push_target *t = (struct oci_push_target *)1;
  size_t n = 7;
  tart_error_t err = NULL;
  assert_int_equal(oci_push_group_targets(names, 2, &t, &n, &err), -1);
  assert_null(t);
  assert_int_equal(n, 0);
  assert_non_null(err);
  assert_non_null(strstr(err->msg, "failed to parse remote name"));
  tart_error_release(&err);
  oci_push_targets_free(NULL, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grouping),
      cmocka_unit_test(test_bad_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
