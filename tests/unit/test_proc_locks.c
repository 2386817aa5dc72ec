#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/proc_locks.h"
#include "unit.h"
#include "util/fs.h"

static void parse(const char *text, struct lock_index *idx)
{
  lock_index_parse(text, strlen(text), idx);
}

static void test_parse_kinds(void **state)
{
  struct lock_index idx;
  parse("1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF\n"
        "2: OFDLCK ADVISORY  READ  -1 00:1b:42 0 EOF\n"
        "3: -> POSIX  ADVISORY  WRITE 99 fd:01:777 0 EOF\n"
        "4: FLOCK  ADVISORY  WRITE 55 fd:01:888 0 EOF\n"
        "5: POSIX  ADVISORY  READ 1 08:10:12 0 9\n",
        &idx);
  assert_true(idx.valid);
  assert_int_equal(idx.n, 2);
  assert_true(lock_index_maybe_locked(&idx, 12));
  assert_true(lock_index_maybe_locked(&idx, 5678));
  assert_false(lock_index_maybe_locked(&idx, 42));  /* OFD */
  assert_false(lock_index_maybe_locked(&idx, 777)); /* waiter */
  assert_false(lock_index_maybe_locked(&idx, 888)); /* flock */
  lock_index_clear(&idx);
}

static void test_parse_malformed(void **state)
{
  struct lock_index idx;
  parse("", &idx);
  assert_true(idx.valid);
  assert_int_equal(idx.n, 0);
  lock_index_clear(&idx);
  parse("garbage\n1: POSIX\n2: POSIX ADVISORY WRITE 1 fd:01\n3: POSIX ADVISORY WRITE 1 fd:01:x12 0 EOF\n"
        "4: POSIX ADVISORY WRITE 1 fd:01:99999999999999999999999 0 EOF\n5: POSIX ADVISORY WRITE 1 a:b:7",
        &idx);
  assert_int_equal(idx.n, 1);
  assert_true(lock_index_maybe_locked(&idx, 7));
  lock_index_clear(&idx);
}

static void test_invalid_index_checks_everything(void **state)
{
  struct lock_index idx = {0};
  assert_true(lock_index_maybe_locked(&idx, 1));
}

static void test_live_lock_appears(void **state)
{
  char path[] = "/tmp/tart-proclocks-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  struct stat st;
  fstat(fd, &st);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {
    int cfd = open(path, O_RDWR);
    lock_record_try_write(cfd, NULL);
    if (write(ready[1], "x", 1) != 1)
      _exit(1);
    pause();
    _exit(0);
  }
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  struct lock_index idx;
  lock_index_load(&idx);
  if (idx.valid) /* /proc may be missing in odd sandboxes */
    assert_true(lock_index_maybe_locked(&idx, (uint64_t)st.st_ino));
  lock_index_clear(&idx);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(fd);
  close(ready[0]);
  close(ready[1]);
  unlink(path);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_kinds),
      cmocka_unit_test(test_parse_malformed),
      cmocka_unit_test(test_invalid_index_checks_everything),
      cmocka_unit_test(test_live_lock_appears),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
