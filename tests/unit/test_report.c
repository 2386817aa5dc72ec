/* util/report.h: the library's reports reach the installed handler, one
 * call per report, or nobody; the terminal printer's formats. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util/log.h"
#include "util/report.h"

struct seen {
  int n;
  enum report_kind kind[8];
  char text[8][128];
};

static void collect(void *data, enum report_kind kind, const char *text)
{
  struct seen *s = data;
  if (s->n < 8) {
    s->kind[s->n] = kind;
    snprintf(s->text[s->n], sizeof(s->text[0]), "%s", text);
  }
  s->n++;
}

static void test_handler_gets_each_report(void **state)
{
  (void)state;
  struct seen s = {0};
  report_set_handler(collect, &s);
  report(REPORT_STATUS, "pulling %s...", "manifest");
  report(REPORT_NOTICE, "%s", "running under TCG");
  report(REPORT_PROGRESS, "%s", "");
  report_set_handler(NULL, NULL);
  assert_int_equal(s.n, 3);
  assert_int_equal(s.kind[0], REPORT_STATUS);
  assert_string_equal(s.text[0], "pulling manifest...");
  assert_int_equal(s.kind[1], REPORT_NOTICE);
  assert_string_equal(s.text[1], "running under TCG");
  assert_int_equal(s.kind[2], REPORT_PROGRESS);
  assert_string_equal(s.text[2], "");
}

static void test_no_handler_drops(void **state)
{
  (void)state;
  struct seen s = {0};
  report_set_handler(NULL, NULL);
  report(REPORT_WARNING, "nobody hears this");
  assert_int_equal(s.n, 0);
}

/* Diagnostics go through the reporter, filtered by level first. */
static void test_log_levels_are_kinds(void **state)
{
  (void)state;
  struct seen s = {0};
  report_set_handler(collect, &s);
  tart_log_set_level(TART_LOG_INFO);
  log_debug("hidden %d", 1);
  log_info("shown %d", 2);
  log_warn("warned");
  log_error("failed");
  tart_log_set_level(TART_LOG_WARN);
  report_set_handler(NULL, NULL);
  assert_int_equal(s.n, 3);
  assert_int_equal(s.kind[0], REPORT_INFO);
  assert_string_equal(s.text[0], "shown 2");
  assert_int_equal(s.kind[1], REPORT_WARNING);
  assert_int_equal(s.kind[2], REPORT_ERROR);
}

/* What report_print writes, with stdout and stderr both sent to one file. */
static char *print_all(void)
{
  char path[] = "/tmp/test_report.XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  fflush(stdout);
  fflush(stderr);
  int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  report_set_handler(report_print, NULL);
  report(REPORT_STATUS, "pulling disk (%s compressed)...", "1.0 GB");
  report(REPORT_PROGRESS, "disk %3u%%", 40u);
  report(REPORT_PROGRESS, "disk %3u%%", 100u);
  report(REPORT_PROGRESS, "%s", "");
  report(REPORT_NOTICE, "/dev/kvm is missing");
  report(REPORT_WARNING, "careful");
  report(REPORT_ERROR, "Failed to suspend the VM");
  report(REPORT_DEBUG, "qemu: x");
  report_set_handler(NULL, NULL);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  close(out);
  close(err);
  off_t len = lseek(fd, 0, SEEK_END);
  char *text = calloc(1, (size_t)len + 1);
  assert_int_equal(pread(fd, text, (size_t)len, 0), len);
  close(fd);
  return text;
}

static void test_terminal_printer(void **state)
{
  (void)state;
  char *text = print_all();
  assert_string_equal(text, "pulling disk (1.0 GB compressed)...\n"
                            "\r\033[Kdisk  40%"
                            "\r\033[Kdisk 100%"
                            "\n"
                            "tart: notice: /dev/kvm is missing\n"
                            "tart: warning: careful\n"
                            "tart: error: Failed to suspend the VM\n"
                            "tart: debug: qemu: x\n");
  free(text);
}

static void *reporter_thread(void *arg)
{
  (void)arg;
  for (int i = 0; i < 1000; i++)
    report(REPORT_STATUS, "line %d", i);
  return NULL;
}

static void count(void *data, enum report_kind kind, const char *text)
{
  (void)kind;
  (void)text;
  ++*(int *)data; /* under report's lock: no race */
}

static void test_threads_serialised(void **state)
{
  (void)state;
  int n = 0;
  report_set_handler(count, &n);
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, reporter_thread, NULL), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  report_set_handler(NULL, NULL);
  assert_int_equal(n, 4000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handler_gets_each_report), cmocka_unit_test(test_no_handler_drops),
      cmocka_unit_test(test_log_levels_are_kinds),     cmocka_unit_test(test_terminal_printer),
      cmocka_unit_test(test_threads_serialised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
