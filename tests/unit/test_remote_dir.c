/* --dir URL: the tar extraction that must stay inside its directory, and
 * the URL cache's size limit.  Archives are written with libarchive's
 * writer, entry by entry, so hostile names can be made at will. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "storage/remote_dir.h"
#include "unit.h"
#include "util/fs.h"
#include "util/util.h"

static char *tmpdir;

static int setup(void **state)
{
  (void)state;
  const char *base = getenv("TMPDIR");
  tmpdir = xasprintf("%s/tart-test-remote-XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  int r = rm_rf(tmpdir, &err);
  tart_error_release(&err);
  free(tmpdir);
  return r;
}

struct ent {
  const char *name;
  mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFIFO, AE_IFCHR */
  mode_t perm;
  const char *data; /* file contents, or symlink target */
  const char *hardlink;
};

/* A .tar.gz (pax) of the entries at tmpdir/<name>; returns its path. */
static char *make_archive(const char *name, const struct ent *e, size_t n)
{
  char *path = xasprintf("%s/%s", tmpdir, name);
  struct archive *a = archive_write_new();
  assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *x = archive_entry_new();
    archive_entry_set_pathname(x, e[i].name);
    archive_entry_set_perm(x, e[i].perm ? e[i].perm : 0644);
    if (e[i].hardlink) {
      archive_entry_set_hardlink(x, e[i].hardlink);
      archive_entry_set_filetype(x, AE_IFREG);
    } else {
      archive_entry_set_filetype(x, e[i].type);
    }
    size_t len = 0;
    if (e[i].type == AE_IFLNK)
      archive_entry_set_symlink(x, e[i].data);
    else if (e[i].type == AE_IFREG && e[i].data && !e[i].hardlink)
      len = strlen(e[i].data);
    archive_entry_set_size(x, (la_int64_t)len);
    assert_int_equal(archive_write_header(a, x), ARCHIVE_OK);
    if (len)
      assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
    archive_entry_free(x);
  }
  assert_int_equal(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return path;
}

static char *fresh_dir(const char *name)
{
  char *d = xasprintf("%s/%s", tmpdir, name);
  assert_int_equal(mkdir(d, 0755), 0);
  return d;
}

static char *slurp(const char *dir, const char *name)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  char *text = NULL;
  size_t len = 0;
  tart_error_t err = NULL;
  if (read_file(p, 1 << 20, &text, &len, &err) < 0) {
    tart_error_release(&err);
    return NULL;
  }
  return text;
}

static void test_is_url(void **state)
{
  (void)state;
  assert_true(remote_dir_is_url("http://h/x.tar.gz"));
  assert_true(remote_dir_is_url("HTTPS://h/x.tar.gz"));
  assert_false(remote_dir_is_url("/srv/http://x"));
  assert_false(remote_dir_is_url("ftp://h/x"));
  assert_false(remote_dir_is_url("http:/x"));
  assert_false(remote_dir_is_url(NULL));
}

static void test_extract_tree(void **state)
{
  (void)state;
  const struct ent e[] = {
      {"./", AE_IFDIR, 0755, NULL, NULL},
      {"bin/", AE_IFDIR, 0750, NULL, NULL},
      {"bin/tool", AE_IFREG, 04755, "#!/bin/sh\n", NULL}, /* setuid is dropped */
      {"README", AE_IFREG, 0644, "hello\n", NULL},
      {"link", AE_IFLNK, 0777, "README", NULL},
      {"again", AE_IFREG, 0644, NULL, "README"},
      {"deep/er/file", AE_IFREG, 0600, "x", NULL}, /* parents made as needed */
  };
  _cleanup_free_ char *ar = make_archive("tree.tar.gz", e, ARRAY_SIZE(e));
  _cleanup_free_ char *dest = fresh_dir("tree");
  tart_error_t err = NULL;
  assert_int_equal(remote_dir_extract(ar, dest, &err), (long)ARRAY_SIZE(e) - 1);
  assert_null(err);

  char *t = slurp(dest, "README");
  assert_string_equal(t, "hello\n");
  free(t);
  t = slurp(dest, "again");
  assert_string_equal(t, "hello\n");
  free(t);
  t = slurp(dest, "link"); /* through the symlink */
  assert_string_equal(t, "hello\n");
  free(t);
  t = slurp(dest, "deep/er/file");
  assert_string_equal(t, "x");
  free(t);

  struct stat st;
  _cleanup_free_ char *tool = xasprintf("%s/bin/tool", dest);
  assert_int_equal(stat(tool, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0755);
  _cleanup_free_ char *bin = xasprintf("%s/bin", dest);
  assert_int_equal(stat(bin, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0750);
  _cleanup_free_ char *link = xasprintf("%s/link", dest);
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
}

static void test_extract_modes(void **state)
{
  (void)state;
  /* "./." naming the destination must not change its mode; a read-only
   * directory stays removable (u+rwx); a hard link to a symlink is fine. */
  const struct ent e[] = {
      {"./.", AE_IFDIR, 0777, NULL, NULL},
      {".//", AE_IFDIR, 0000, NULL, NULL},
      {"ro/", AE_IFDIR, 0555, NULL, NULL},
      {"ro/f", AE_IFREG, 0444, "r", NULL},
  };
  _cleanup_free_ char *ar = make_archive("modes.tar.gz", e, ARRAY_SIZE(e));
  _cleanup_free_ char *dest = fresh_dir("modes");
  assert_int_equal(chmod(dest, 0750), 0);
  tart_error_t err = NULL;
  assert_int_equal(remote_dir_extract(ar, dest, &err), 2);
  struct stat st;
  assert_int_equal(stat(dest, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0750);
  _cleanup_free_ char *ro = xasprintf("%s/ro", dest);
  assert_int_equal(stat(ro, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0755);
}

static void expect_refused(const char *label, const struct ent *e, size_t n, const char *needle)
{
  _cleanup_free_ char *arname = xasprintf("%s.tar.gz", label);
  _cleanup_free_ char *ar = make_archive(arname, e, n);
  _cleanup_free_ char *dest = fresh_dir(label);
  tart_error_t err = NULL;
  assert_int_equal(remote_dir_extract(ar, dest, &err), -1);
  assert_non_null(err);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("%s: \"%s\" lacks \"%s\"", label, err->msg, needle);
  tart_error_release(&err);
}

static void test_extract_stays_inside(void **state)
{
  (void)state;
  /* A file next to the destination that the archives aim at. */
  _cleanup_free_ char *victim = xasprintf("%s/victim", tmpdir);
  assert_int_equal(write_file_atomic(victim, "safe", 4, 0644, NULL), 0);

  const struct ent dotdot[] = {{"../victim", AE_IFREG, 0644, "owned", NULL}};
  expect_refused("dotdot", dotdot, 1, "points outside");
  const struct ent inner[] = {{"a/../../victim", AE_IFREG, 0644, "owned", NULL}};
  expect_refused("inner", inner, 1, "points outside");
  _cleanup_free_ char *abs_name = xasprintf("%s/victim", tmpdir);
  const struct ent absolute[] = {{abs_name, AE_IFREG, 0644, "owned", NULL}};
  expect_refused("absolute", absolute, 1, "points outside");
  /* A symlink to the outside, then a file written through it. */
  const struct ent through[] = {{"out", AE_IFLNK, 0777, "..", NULL},
                                {"out/victim", AE_IFREG, 0644, "owned", NULL}};
  expect_refused("through", through, 2, "cannot unpack");
  /* A hard link to a file outside. */
  const struct ent hard[] = {{"h", AE_IFREG, 0644, NULL, "../victim"}};
  expect_refused("hard", hard, 1, "points outside");
  /* Device nodes and FIFOs. */
  const struct ent fifo[] = {{"p", AE_IFIFO, 0644, NULL, NULL}};
  expect_refused("fifo", fifo, 1, "device, FIFO or socket");
  const struct ent chr[] = {{"c", AE_IFCHR, 0644, NULL, NULL}};
  expect_refused("chr", chr, 1, "device, FIFO or socket");

  char *t = slurp(tmpdir, "victim");
  assert_string_equal(t, "safe");
  free(t);
}

static void test_extract_bad_input(void **state)
{
  (void)state;
  _cleanup_free_ char *junk = xasprintf("%s/junk.tar.gz", tmpdir);
  assert_int_equal(write_file_atomic(junk, "\x1f\x8b not really gzip", 19, 0644, NULL), 0);
  _cleanup_free_ char *dest = fresh_dir("junk");
  tart_error_t err = NULL;
  assert_int_equal(remote_dir_extract(junk, dest, &err), -1);
  assert_non_null(strstr(err->msg, "junk.tar.gz"));
  tart_error_release(&err);
  _cleanup_free_ char *missing = xasprintf("%s/none.tar.gz", tmpdir);
  assert_int_equal(remote_dir_extract(missing, dest, &err), -1);
  assert_non_null(strstr(err->msg, "cannot read"));
  tart_error_release(&err);
  /* An empty archive is an empty directory. */
  _cleanup_free_ char *empty = make_archive("empty.tar.gz", NULL, 0);
  assert_int_equal(remote_dir_extract(empty, dest, &err), 0);
}

static void put(const char *dir, const char *name, size_t bytes, time_t mtime)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  char *buf = xcalloc(1, bytes + 1);
  memset(buf, 'x', bytes);
  assert_int_equal(write(fd, buf, bytes), (ssize_t)bytes);
  free(buf);
  close(fd);
  struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
  assert_int_equal(utimes(p, tv), 0);
}

static void test_cache_trim(void **state)
{
  (void)state;
  _cleanup_free_ char *dir = fresh_dir("cache");
  put(dir, "old.tar.gz", 64 * 1024, 1000);
  put(dir, "old.json", 10, 1000);
  put(dir, "mid.tar.gz", 64 * 1024, 2000);
  put(dir, "mid.json", 10, 2000);
  put(dir, "new.tar.gz", 64 * 1024, 3000);
  put(dir, "unrelated.txt", 64 * 1024, 1);
  _cleanup_free_ char *old = xasprintf("%s/old.tar.gz", dir);
  _cleanup_free_ char *mid = xasprintf("%s/mid.tar.gz", dir);
  _cleanup_free_ char *new = xasprintf("%s/new.tar.gz", dir);

  /* Room for all three: nothing goes. */
  remote_dir_cache_trim(dir, 1024 * 1024, NULL);
  assert_true(path_exists(old) && path_exists(mid) && path_exists(new));
  /* Room for two (allocation may round up: leave slack): the oldest goes,
   * with its record; files that are not archives stay. */
  remote_dir_cache_trim(dir, 2 * 64 * 1024 + 32 * 1024, NULL);
  assert_false(path_exists(old));
  _cleanup_free_ char *old_json = xasprintf("%s/old.json", dir);
  assert_false(path_exists(old_json));
  assert_true(path_exists(mid) && path_exists(new));
  _cleanup_free_ char *unrelated = xasprintf("%s/unrelated.txt", dir);
  assert_true(path_exists(unrelated));
  /* Partial downloads of a process that is gone go; ours stay. */
  put(dir, "abc.tar.gz.999999999.partial", 10, 3000);
  _cleanup_free_ char *mine_name = xasprintf("abc.tar.gz.%d.partial", (int)getpid());
  put(dir, mine_name, 10, 3000);
  remote_dir_cache_trim(dir, 1024 * 1024, NULL);
  _cleanup_free_ char *gone = xasprintf("%s/abc.tar.gz.999999999.partial", dir);
  _cleanup_free_ char *mine = xasprintf("%s/%s", dir, mine_name);
  assert_false(path_exists(gone));
  assert_true(path_exists(mine));
  /* Room for none: all go but the one kept. */
  remote_dir_cache_trim(dir, 0, mid);
  assert_true(path_exists(mid));
  assert_false(path_exists(new));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_is_url),
      cmocka_unit_test(test_extract_tree),
      cmocka_unit_test(test_extract_modes),
      cmocka_unit_test(test_extract_stays_inside),
      cmocka_unit_test(test_extract_bad_input),
      cmocka_unit_test(test_cache_trim),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
