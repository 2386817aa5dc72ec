/* Test helper: hold a VM's run lock the way `tart run` does, so command-line
 * tests can check running-state detection before `run` exists.
 *
 *   hold-run-lock <vm-dir>   takes the lock, prints "locked <pid>", then
 *                            holds it until stdin reaches EOF or a signal. */
#include <stdio.h>
#include <unistd.h>

#include "storage/vmdir.h"
#include "util/util.h"

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: hold-run-lock <vm-dir>\n");
    return 64;
  }
  _cleanup_error_ tart_error_t err = NULL;
  int fd = -1;
  if (vm_dir_lock_running(argv[1], argv[1], &fd, &err) < 0)
    return tart_error_print(err);
  printf("locked %d\n", (int)getpid());
  fflush(stdout);
  char buf[256];
  while (read(0, buf, sizeof(buf)) > 0)
    ;
  close(fd);
  return 0;
}
