/* $TART_HOME resolution and creation, tmp entries and their collection,
 * atomic writes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/home.h"
#include "unit.h"
#include "util/fs.h"
#include "util/personality.h"
#include "util/util.h"

static char base[64];

static int setup(void **state)
{
  snprintf(base, sizeof(base), "/tmp/tart-home-XXXXXX");
  return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
  unsetenv("TART_HOME");
  return rm_rf(base, NULL);
}

static void test_creates_nested_home(void **state)
{
  char *home = xasprintf("%s/a/b/c", base);
  setenv("TART_HOME", home, 1);
  struct tart_home h;
  assert_int_equal(tart_home_open(&h, NULL), 0);
  assert_string_equal(h.root, home);
  assert_true(is_directory(h.vms));
  assert_true(is_directory(h.cache_oci));
  assert_true(is_directory(h.tmp));
  tart_home_close(&h);
  free(home);
}

static void test_default_is_dot_tart(void **state)
{
  unsetenv("TART_HOME");
  char *old = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
  setenv("HOME", base, 1);
  struct tart_home h;
  assert_int_equal(tart_home_open(&h, NULL), 0);
  char *want = xasprintf("%s/.tart", base);
  assert_string_equal(h.root, want);
  free(want);
  tart_home_close(&h);
  if (old) {
    setenv("HOME", old, 1);
    free(old);
  }
}

/* Called as vetu: VETU_HOME, else ~/.vetu; TART_HOME is not read. */
static void test_vetu_home(void **state)
{
  personality_select("/usr/local/bin/vetu");
  assert_string_equal(personality()->name, "vetu");
  assert_true(personality()->failures_exit_1);
  char *tart_home = xasprintf("%s/tart", base), *vetu_home = xasprintf("%s/v", base);
  setenv("TART_HOME", tart_home, 1);
  char *old = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
  setenv("HOME", base, 1);
  struct tart_home h;
  assert_int_equal(tart_home_open(&h, NULL), 0);
  char *want = xasprintf("%s/.vetu", base);
  assert_string_equal(h.root, want);
  tart_home_close(&h);
  setenv("VETU_HOME", vetu_home, 1);
  assert_int_equal(tart_home_open(&h, NULL), 0);
  assert_string_equal(h.root, vetu_home);
  tart_home_close(&h);
  assert_false(is_directory(tart_home));
  /* Only the last component counts: a directory named vetu is not vetu. */
  personality_select("/opt/vetu/tart");
  assert_string_equal(personality()->name, "tart");
  assert_false(personality()->clone_new_mac);
  personality_select("vetu");
  assert_true(personality()->clone_new_mac);
  personality_select(NULL);
  assert_string_equal(personality()->home_env, "TART_HOME");
  unsetenv("VETU_HOME");
  if (old) {
    setenv("HOME", old, 1);
    free(old);
  }
  free(want);
  free(tart_home);
  free(vetu_home);
}

static void test_home_is_a_file(void **state)
{
  char *file = xasprintf("%s/file", base);
  assert_int_equal(write_file_atomic(file, "x", 1, 0644, NULL), 0);
  setenv("TART_HOME", file, 1);
  struct tart_home h;
  tart_error_t err = NULL;
  assert_int_equal(tart_home_open(&h, &err), -1);
  assert_non_null(strstr(err->msg, "TART_HOME is invalid"));
  tart_error_release(&err);

  /* A file in the middle of the path too. */
  char *below = xasprintf("%s/sub/home", file);
  setenv("TART_HOME", below, 1);
  assert_int_equal(tart_home_open(&h, &err), -1);
  assert_non_null(strstr(err->msg, "TART_HOME is invalid"));
  assert_non_null(strstr(err->msg, "we can't create it"));
  tart_error_release(&err);
  free(below);
  free(file);
}

static void test_tmp_gc_spares_locked_entries(void **state)
{
  char *home = xasprintf("%s/home", base);
  setenv("TART_HOME", home, 1);
  struct tart_home h;
  assert_int_equal(tart_home_open(&h, NULL), 0);

  struct tmp_entry live;
  assert_int_equal(tmp_entry_create(&h, &live, NULL), 0);
  char *stale = xasprintf("%s/stale-entry", h.tmp);
  assert_int_equal(mkdir_p(stale, 0755, NULL), 0);
  char *stale_file = xasprintf("%s/set-disk-x", h.tmp);
  assert_int_equal(write_file_atomic(stale_file, "abc", 3, 0644, NULL), 0);

  assert_int_equal(tart_home_gc_tmp(&h, NULL), 0);
  assert_true(is_directory(live.path));
  assert_false(path_exists(stale));
  assert_false(path_exists(stale_file));

  char *live_path = xstrdup(live.path);
  tmp_entry_release(&live); /* owner gone: the next GC collects it */
  assert_int_equal(tart_home_gc_tmp(&h, NULL), 0);
  assert_false(path_exists(live_path));

  /* A named entry is reused (resumable work) and discarded on request. */
  struct tmp_entry named;
  assert_int_equal(tmp_entry_open_named(&h, "abc123", &named, NULL), 0);
  char *marker = xasprintf("%s/keep", named.path);
  assert_int_equal(write_file_atomic(marker, "1", 1, 0644, NULL), 0);
  tmp_entry_release(&named);
  assert_int_equal(tmp_entry_open_named(&h, "abc123", &named, NULL), 0);
  assert_true(path_exists(marker));
  tmp_entry_discard(&named);
  assert_false(path_exists(marker));

  free(marker);
  free(live_path);
  free(stale);
  free(stale_file);
  tart_home_close(&h);
  free(home);
}

static void test_atomic_write_replaces(void **state)
{
  char *p = xasprintf("%s/cfg.json", base);
  assert_int_equal(write_file_atomic(p, "old", 3, 0600, NULL), 0);
  assert_int_equal(write_file_atomic(p, "new content", 11, 0644, NULL), 0);
  char *buf = NULL;
  size_t len = 0;
  assert_int_equal(read_file(p, 1024, &buf, &len, NULL), 0);
  assert_int_equal(len, 11);
  assert_string_equal(buf, "new content");
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  free(buf);

  /* No temporary files are left beside it. */
  char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", base);
  assert_int_equal(system(cmd), 0);
  free(cmd);

  /* read_file bounds its input. */
  tart_error_t err = NULL;
  assert_int_equal(read_file(p, 4, &buf, &len, &err), -1);
  tart_error_release(&err);
  free(p);
}

static void test_rename_noreplace(void **state)
{
  char *a = xasprintf("%s/a", base), *b = xasprintf("%s/b", base);
  assert_int_equal(mkdir_p(a, 0755, NULL), 0);
  assert_int_equal(mkdir_p(b, 0755, NULL), 0);
  tart_error_t err = NULL;
  assert_int_equal(rename_noreplace(a, b, &err), -1);
  tart_error_release(&err);
  assert_true(is_directory(a));
  assert_int_equal(rm_rf(b, NULL), 0);
  assert_int_equal(rename_noreplace(a, b, NULL), 0);
  assert_false(path_exists(a));
  assert_true(is_directory(b));
  free(a);
  free(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_creates_nested_home, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_is_dot_tart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vetu_home, setup, teardown),
      cmocka_unit_test_setup_teardown(test_home_is_a_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tmp_gc_spares_locked_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rename_noreplace, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
