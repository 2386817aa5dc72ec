/* Running-state detection: the run lock held by another process is seen
 * with its PID; a suspended VM is recognised by its state file. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/vmdir.h"
#include "unit.h"
#include "util/fs.h"
#include "util/util.h"

static char dir[64];

static int setup(void **state)
{
  snprintf(dir, sizeof(dir), "/tmp/tart-locks-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  const char *files[] = {VM_FILE_CONFIG, VM_FILE_DISK, VM_FILE_NVRAM};
  for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
    char *p = vm_dir_file(dir, files[i]);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    free(p);
    if (fd < 0)
      return -1;
    close(fd);
  }
  return 0;
}

static int teardown(void **state)
{
  return rm_rf(dir, NULL);
}

/* Fork a child that takes the lock and waits; returns its PID once locked. */
static pid_t spawn_holder(int *release_fd)
{
  int ready[2], release[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(release), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(release[1]);
    int fd;
    tart_error_t err = NULL;
    char c = vm_dir_lock_running(dir, "vm", &fd, &err) == 0 ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1)
      _exit(2);
    if (read(release[0], &c, 1) < 0)
      _exit(3);
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char c = 0;
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  assert_int_equal(c, 'y');
  *release_fd = release[1];
  return pid;
}

static void test_stopped(void **state)
{
  assert_int_equal(vm_dir_running_pid(dir), 0);
  assert_int_equal(vm_dir_state(dir), VM_STATE_STOPPED);
  assert_string_equal(vm_state_name(vm_dir_state(dir)), "stopped");
}

static void test_running_detected_with_pid(void **state)
{
  int release;
  pid_t pid = spawn_holder(&release);
  assert_int_equal(vm_dir_running_pid(dir), pid);
  assert_int_equal(vm_dir_state(dir), VM_STATE_RUNNING);

  /* A second run of the same VM must be refused with exit code 2. */
  int fd = -1;
  tart_error_t err = NULL;
  assert_int_equal(vm_dir_lock_running(dir, "vm", &fd, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_VM_STATE);
  assert_string_equal(err->msg, "VM \"vm\" is already running!");
  tart_error_release(&err);

  close(release);
  int status;
  waitpid(pid, &status, 0);
  assert_int_equal(vm_dir_running_pid(dir), 0);
}

static void test_lock_released_when_holder_dies(void **state)
{
  int release;
  pid_t pid = spawn_holder(&release);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  close(release);
  assert_int_equal(vm_dir_state(dir), VM_STATE_STOPPED);
}

static void test_suspended(void **state)
{
  char *p = vm_dir_file(dir, VM_FILE_STATE);
  int fd = open(p, O_WRONLY | O_CREAT, 0644);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(vm_dir_state(dir), VM_STATE_SUSPENDED);
  /* Running wins over suspended (a restore in progress). */
  int release;
  pid_t pid = spawn_holder(&release);
  assert_int_equal(vm_dir_state(dir), VM_STATE_RUNNING);
  close(release);
  int status;
  waitpid(pid, &status, 0);
  unlink(p);
  free(p);
}

static void test_missing_config_is_not_running(void **state)
{
  assert_int_equal(vm_dir_running_pid("/nonexistent/vm"), 0);
  int fd = -1;
  tart_error_t err = NULL;
  assert_int_equal(vm_dir_lock_running("/nonexistent/vm", "gone", &fd, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_VM_STATE);
  tart_error_release(&err);
}

static void test_flock_trylock(void **state)
{
  int a = open(dir, O_RDONLY | O_DIRECTORY);
  int b = open(dir, O_RDONLY | O_DIRECTORY);
  assert_int_equal(lock_flock(a, true, false, NULL), 0);
  /* flock is per open file description: a second one conflicts. */
  assert_int_equal(lock_flock(b, true, false, NULL), 1);
  close(a);
  assert_int_equal(lock_flock(b, true, false, NULL), 0);
  close(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stopped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_running_detected_with_pid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_released_when_holder_dies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_suspended, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_config_is_not_running, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flock_trylock, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
