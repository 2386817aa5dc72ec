/* cloud-init NoCloud seeds: meta-data, user-data formats, and an ISO image
 * that libarchive's reader (an independent parser) sees as cloud-init does. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudinit/nocloud.h"
#include "unit.h"
#include "util/fs.h"

static void test_meta_data(void **state)
{
  (void)state;
  char *m = nocloud_meta_data("tart-0123", "my-vm");
  assert_string_equal(m, "instance-id: \"tart-0123\"\nlocal-hostname: my-vm\n");
  free(m);
  /* Not hostname characters become '-', no leading/trailing '-', 63 at most. */
  m = nocloud_meta_data("a\"b\\c", "-web_1.example-");
  assert_string_equal(m, "instance-id: \"a\\\"b\\\\c\"\nlocal-hostname: web-1-example\n");
  free(m);
  m = nocloud_meta_data("x", "___");
  assert_string_equal(m, "instance-id: \"x\"\nlocal-hostname: tart-vm\n");
  free(m);
  char longname[200];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  m = nocloud_meta_data("x", longname);
  assert_int_equal(strlen(strstr(m, "local-hostname: ") + 16), 63 + 1);
  free(m);
}

static void test_user_data_formats(void **state)
{
  (void)state;
  const char *good[] = {"#cloud-config\nhostname: a\n",
                        "#!/bin/sh\necho hi\n",
                        "#include\nhttp://x\n",
                        "Content-Type: multipart/mixed; boundary=x\n",
                        "## template: jinja\n#cloud-config\n",
                        "\x1f\x8b\x08"};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
    assert_true(nocloud_user_data_known(good[i], strlen(good[i])));
  const char *bad[] = {"", "hostname: a\n", " #cloud-config\n", "#cloud", "{\"a\":1}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    assert_false(nocloud_user_data_known(bad[i], strlen(bad[i])));
}

static void test_seed_image(void **state)
{
  (void)state;
  char dir[] = "/tmp/tart-nocloud-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof(path), "%s/seed.iso", dir);
  const char ud[] = "#cloud-config\nhostname: seeded\n";
  const char md[] = "instance-id: \"i-1\"\nlocal-hostname: vm\n";
  const char nc[] = "version: 2\n";
  struct nocloud_seed s = {ud, strlen(ud), md, strlen(md), nc, strlen(nc)};
  tart_error_t err = NULL;
  assert_int_equal(nocloud_seed_write(path, &s, &err), 0);
  /* Written again over the old one: atomic replace, no leftovers. */
  assert_int_equal(nocloud_seed_write(path, &s, &err), 0);
  char partial[300];
  snprintf(partial, sizeof(partial), "%s.partial", path);
  assert_int_not_equal(access(partial, F_OK), 0);

  /* The volume label cloud-init looks for, in the Joliet descriptor
   * (sector 17, the first supplementary one: UCS-2 "cidata"). */
  char *img = NULL;
  size_t len = 0;
  assert_int_equal(read_file(path, 1 << 22, &img, &len, &err), 0);
  assert_true(len >= 18 * 2048);
  assert_memory_equal(img + 16 * 2048 + 1, "CD001", 5);
  assert_int_equal((unsigned char)img[17 * 2048], 2); /* supplementary */
  assert_memory_equal(img + 17 * 2048 + 40, "\0c\0i\0d\0a\0t\0a", 12);
  free(img);

  /* Names and contents as a reader sees them. */
  struct archive *a = archive_read_new();
  archive_read_support_format_iso9660(a);
  assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
  struct archive_entry *e;
  int seen = 0;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    const char *want = !strcmp(name, "user-data")        ? ud
                       : !strcmp(name, "meta-data")      ? md
                       : !strcmp(name, "network-config") ? nc
                                                         : NULL;
    if (want == NULL)
      continue;
    char buf[256] = "";
    la_ssize_t n = archive_read_data(a, buf, sizeof(buf) - 1);
    assert_int_equal(n, (la_ssize_t)strlen(want));
    assert_string_equal(buf, want);
    seen++;
  }
  assert_int_equal(seen, 3);
  archive_read_free(a);

  /* Unknown user-data: a usage error, nothing written. */
  unlink(path);
  struct nocloud_seed bad = {"hostname: x\n", 12, md, strlen(md), NULL, 0};
  assert_int_equal(nocloud_seed_write(path, &bad, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  tart_error_release(&err);
  assert_int_not_equal(access(path, F_OK), 0);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meta_data),
      cmocka_unit_test(test_user_data_formats),
      cmocka_unit_test(test_seed_image),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
