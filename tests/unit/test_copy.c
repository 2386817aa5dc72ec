#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/copy.h"
#include "util/fs.h"
#include "util/util.h"

#define MIB (1024LL * 1024)
/* Sectors a copy may use beyond its source: room for one extent-tree block. */
#define BLOCK_SLACK 16

static char *tmpdir;

static int setup_group(void **state __attribute__((unused)))
{
  const char *base = getenv("TMPDIR");
  tmpdir = xasprintf("%s/tart-test-copy-XXXXXX", base && *base ? base : "/tmp");
  umask(022);
  return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_group(void **state __attribute__((unused)))
{
  _cleanup_error_ tart_error_t err = NULL;
  int r = rm_rf(tmpdir, &err);
  free(tmpdir);
  return r;
}

static char *path_in(const char *name)
{
  return xasprintf("%s/%s", tmpdir, name);
}

static int create_file(const char *path, off_t size)
{
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, size), 0);
  return fd;
}

/* Write n random bytes at off; random data is never mistaken for a hole. */
static void put_random(int fd, off_t off, size_t n)
{
  _cleanup_free_ char *buf = xmalloc(n);
  random_bytes(buf, n);
  buf[0] = buf[n - 1] = 0x5a; /* the exact ends must be data */
  assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
}

static void assert_same_files(const char *a, const char *b)
{
  _cleanup_close_ int fa = open(a, O_RDONLY | O_CLOEXEC);
  _cleanup_close_ int fb = open(b, O_RDONLY | O_CLOEXEC);
  assert_true(fa >= 0 && fb >= 0);
  struct stat sa, sb;
  assert_int_equal(fstat(fa, &sa), 0);
  assert_int_equal(fstat(fb, &sb), 0);
  assert_int_equal(sa.st_size, sb.st_size);
  /* Holes preserved: the copy allocates no more than the source. */
  assert_true(sb.st_blocks <= sa.st_blocks + BLOCK_SLACK);

  _cleanup_free_ char *ba = xmalloc(MIB);
  _cleanup_free_ char *bb = xmalloc(MIB);
  for (;;) {
    ssize_t na = read(fa, ba, MIB);
    ssize_t nb = read(fb, bb, MIB);
    assert_true(na >= 0);
    assert_int_equal(na, nb);
    if (na == 0)
      break;
    assert_memory_equal(ba, bb, (size_t)na);
  }
}

static void copy_ok(const char *src, const char *dst, struct copy_stats *stats)
{
  tart_error_t err = NULL;
  int r = copy_file_sparse(src, dst, 0600, stats, &err);
  if (r < 0)
    fail_msg("%s", err->msg);
  assert_null(err);
}

static void test_method_name(void **state __attribute__((unused)))
{
  assert_string_equal(copy_method_name(COPY_METHOD_REFLINK), "reflink");
  assert_string_equal(copy_method_name(COPY_METHOD_RANGE), "copy_file_range");
  assert_string_equal(copy_method_name(COPY_METHOD_READ_WRITE), "read/write");
  assert_string_equal(copy_method_name(COPY_METHOD_NONE), "none");
}

static void test_empty(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("empty.src");
  _cleanup_free_ char *dst = path_in("empty.dst");
  close(create_file(src, 0));

  struct copy_stats stats = {.bytes_copied = 99};
  copy_ok(src, dst, &stats);
  assert_same_files(src, dst);
  assert_int_equal(stats.bytes_copied, 0);
  assert_int_equal(file_apparent_bytes(dst), 0);
  unlink(src);
  unlink(dst);
}

static void test_small(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("small.src");
  _cleanup_free_ char *dst = path_in("small.dst");
  int fd = create_file(src, 0);
  put_random(fd, 0, 1000);
  close(fd);

  struct copy_stats stats;
  copy_ok(src, dst, &stats);
  assert_same_files(src, dst);
  assert_int_not_equal(stats.method, COPY_METHOD_NONE);
  if (stats.method != COPY_METHOD_REFLINK)
    assert_true(stats.bytes_copied >= 1000);
  struct stat st;
  assert_int_equal(stat(dst, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);

  /* stats is optional */
  unlink(dst);
  tart_error_t err = NULL;
  assert_int_equal(copy_file_sparse(src, dst, 0644, NULL, &err), 0);
  assert_same_files(src, dst);
  unlink(src);
  unlink(dst);
}

static void test_sparse(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("sparse.src");
  _cleanup_free_ char *dst = path_in("sparse.dst");
  int fd = create_file(src, 64 * MIB);
  put_random(fd, 0, 5000);
  put_random(fd, MIB + 3, 5000);
  put_random(fd, 40 * MIB, 70000);
  put_random(fd, 64 * MIB - 1, 1);
  close(fd);

  struct copy_stats stats;
  copy_ok(src, dst, &stats);
  assert_same_files(src, dst);
  assert_int_equal(file_apparent_bytes(dst), 64 * MIB);
  if (stats.method != COPY_METHOD_REFLINK) {
    assert_true(stats.bytes_copied >= 5000 + 5000 + 70000 + 1);
    assert_true(stats.bytes_copied <= file_allocated_bytes(src));
  }
  unlink(src);
  unlink(dst);
}

static void test_tail_hole(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("tail.src");
  _cleanup_free_ char *dst = path_in("tail.dst");
  int fd = create_file(src, 10 * MIB + 123);
  put_random(fd, 0, 10000);
  close(fd);

  copy_ok(src, dst, NULL);
  assert_same_files(src, dst);
  assert_int_equal(file_apparent_bytes(dst), 10 * MIB + 123);
  unlink(src);
  unlink(dst);
}

static void test_dst_exists(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("exists.src");
  _cleanup_free_ char *dst = path_in("exists.dst");
  int fd = create_file(src, 0);
  put_random(fd, 0, 4096);
  close(fd);
  tart_error_t err = NULL;
  assert_int_equal(write_file_atomic(dst, "keep me", 7, 0644, &err), 0);

  assert_int_equal(copy_file_sparse(src, dst, 0600, NULL, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->errnum, EEXIST);
  assert_non_null(strstr(err->msg, dst));
  tart_error_release(&err);

  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  assert_int_equal(read_file(dst, 100, &data, &len, &err), 0);
  assert_int_equal(len, 7);
  assert_string_equal(data, "keep me");
  unlink(src);
  unlink(dst);
}

static void test_src_missing(void **state __attribute__((unused)))
{
  _cleanup_free_ char *src = path_in("missing.src");
  _cleanup_free_ char *dst = path_in("missing.dst");
  _cleanup_error_ tart_error_t err = NULL;

  assert_int_equal(copy_file_sparse(src, dst, 0600, NULL, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  assert_non_null(strstr(err->msg, src));
  assert_false(path_exists(dst));
}

static void test_src_not_regular(void **state __attribute__((unused)))
{
  _cleanup_free_ char *dir = path_in("dir.src");
  _cleanup_free_ char *fifo = path_in("fifo.src");
  _cleanup_free_ char *dst = path_in("notreg.dst");
  _cleanup_error_ tart_error_t err = NULL;
  assert_int_equal(mkdir(dir, 0755), 0);
  assert_int_equal(mkfifo(fifo, 0644), 0);

  assert_int_equal(copy_file_sparse(dir, dst, 0600, NULL, &err), -1);
  assert_int_equal(err->errnum, EISDIR);
  assert_false(path_exists(dst));

  /* Must fail at once, not wait for a writer. */
  assert_int_equal(copy_file_sparse(fifo, dst, 0600, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "not a regular file"));
  assert_false(path_exists(dst));
  rmdir(dir);
  unlink(fifo);
}

/* Into a different file system (tmpfs in /dev/shm) copy_file_range is refused
 * with EXDEV, which exercises the read/write path: blocks of zeros written in
 * the source must become holes, data blocks must survive.  Returns false when
 * this kernel copied across file systems by itself. */
static bool copy_across_file_systems(void)
{
  _cleanup_free_ char *src = path_in("rw.src");
  char dst[] = "/dev/shm/tart-test-copy-XXXXXX";
  int fd = create_file(src, 32 * MIB);
  put_random(fd, 3 * MIB, 100);
  _cleanup_free_ char *zeros = xcalloc(1, 4 * MIB);
  assert_int_equal(pwrite(fd, zeros, 4 * MIB, 8 * MIB), 4 * MIB); /* allocated, but zero */
  put_random(fd, 8 * MIB + 2 * MIB + 17, 9000);
  put_random(fd, 32 * MIB - 10, 10);
  close(fd);

  _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
  _cleanup_close_ int out = mkostemp(dst, O_CLOEXEC);
  assert_true(in >= 0 && out >= 0);
  struct copy_stats stats;
  tart_error_t err = NULL;
  if (copy_fd_sparse(in, out, &stats, &err) < 0)
    fail_msg("%s", err->msg);
  bool read_write = stats.method == COPY_METHOD_READ_WRITE;
  if (read_write) {
    assert_same_files(src, dst);
    /* 100 + 9000 + 10 bytes of data touch at most 5 blocks of 4 KiB. */
    assert_true(stats.bytes_copied <= 5 * 4096);
    assert_true(file_allocated_bytes(dst) <= 5 * 4096);
  }
  unlink(dst);
  unlink(src);
  return read_write;
}

/* skip() long-jumps past cleanup handlers, so the work is done in helpers. */
static void test_read_write_fallback(void **state __attribute__((unused)))
{
  struct stat shm, tmp;
  if (stat("/dev/shm", &shm) < 0 || stat(tmpdir, &tmp) < 0 || shm.st_dev == tmp.st_dev ||
      access("/dev/shm", W_OK) < 0 || !copy_across_file_systems())
    skip();
}

/* Runs in a child with its own mount namespace; the exit code tells the
 * parent what happened (77: the sandbox cannot be set up). */
static int enospc_child(const char *src, const char *mnt)
{
  /* The type is ignored for MS_PRIVATE; a string rather than NULL keeps
   * valgrind from flagging the call. */
  if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
      mount("tmpfs", mnt, "tmpfs", 0, "size=4m") < 0)
    return 77;
  _cleanup_free_ char *dst = xasprintf("%s/disk.img", mnt);
  _cleanup_error_ tart_error_t err = NULL;
  if (copy_file_sparse(src, dst, 0600, NULL, &err) == 0)
    return 1;
  if (strstr(err->msg, "No space left on device") == NULL || err->errnum != ENOSPC) {
    print_error("unexpected error: %s\n", err->msg);
    return 2;
  }
  return path_exists(dst) ? 3 : 0;
}

static int run_enospc_child(void)
{
  _cleanup_free_ char *src = path_in("enospc.src");
  _cleanup_free_ char *mnt = path_in("small-fs");
  int fd = create_file(src, 0);
  put_random(fd, 0, 16 * MIB);
  close(fd);
  assert_int_equal(mkdir(mnt, 0755), 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(enospc_child(src, mnt));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  unlink(src);
  rmdir(mnt);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void test_enospc(void **state __attribute__((unused)))
{
  if (geteuid() != 0)
    skip();
  int code = run_enospc_child();
  if (code == 77)
    skip();
  assert_int_equal(code, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_method_name),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_small),
      cmocka_unit_test(test_sparse),
      cmocka_unit_test(test_tail_hole),
      cmocka_unit_test(test_dst_exists),
      cmocka_unit_test(test_src_missing),
      cmocka_unit_test(test_src_not_regular),
      cmocka_unit_test(test_read_write_fallback),
      cmocka_unit_test(test_enospc),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
