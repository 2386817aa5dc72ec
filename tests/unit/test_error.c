#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util/error.h"

static void test_make_appends_strerror(void **state)
{
  tart_error_t err = NULL;
  assert_int_equal(tart_error_make(&err, ENOENT, "cannot open %s", "x"), -1);
  assert_non_null(err);
  assert_string_equal(err->msg, "cannot open x: No such file or directory");
  assert_int_equal(err->errnum, ENOENT);
  assert_int_equal(err->exit_code, TART_EXIT_FAILURE);
  tart_error_release(&err);
  assert_null(err);
}

static void test_exit_code_and_wrap(void **state)
{
  tart_error_t err = NULL;
  tart_error_exit(&err, TART_EXIT_VM_STATE, 0, "the specified VM \"%s\" does not exist", "a");
  tart_error_wrap(&err, "cannot clone %s", "a");
  assert_string_equal(err->msg, "cannot clone a: the specified VM \"a\" does not exist");
  assert_int_equal(err->exit_code, TART_EXIT_VM_STATE);
  tart_error_release(&err);
}

static void test_make_replaces_previous(void **state)
{
  tart_error_t err = NULL;
  tart_error_make(&err, 0, "first");
  tart_error_make(&err, 0, "second");
  assert_string_equal(err->msg, "second");
  tart_error_release(&err);
  /* NULL err pointers are allowed: callers that only want the status. */
  assert_int_equal(tart_error_make(NULL, 0, "ignored"), -1);
  assert_int_equal(tart_error_wrap(NULL, "ignored"), -1);
}

static void test_print_one_line(void **state)
{
  tart_error_t err = NULL;
  tart_error_exit(&err, TART_EXIT_USAGE, 0, "line one\nline two\r\n");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  int code = tart_error_print(err);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  char buf[256] = {0};
  ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  assert_true(n > 0);
  assert_int_equal(code, TART_EXIT_USAGE);
  assert_string_equal(buf, "tart: error: line one line two  \n");
  tart_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_make_appends_strerror),
      cmocka_unit_test(test_exit_code_and_wrap),
      cmocka_unit_test(test_make_replaces_previous),
      cmocka_unit_test(test_print_one_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
