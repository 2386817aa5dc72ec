/* oci/layout.h: which archive entries an import accepts (docs/design.md,
 * "OCI wire format"): the OCI layout's own files and nothing else. */
#include <errno.h>
#include <string.h>

#include "oci/layout.h"
#include "unit.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void ok(const char *path, int is_dir)
{
  tart_error_t err = NULL;
  assert_int_equal(oci_layout_check_entry(path, is_dir, &err), 0);
  assert_null(err);
}

static void refused(const char *path, int is_dir, const char *why)
{
  tart_error_t err = NULL;
  assert_int_equal(oci_layout_check_entry(path, is_dir, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->errnum, EINVAL);
  assert_non_null(strstr(err->msg, why));
  tart_error_release(&err);
}

static void test_layout_files(void **state)
{
  (void)state;
  ok("oci-layout", 0);
  ok("index.json", 0);
  ok("./index.json", 0);
  ok("blobs/sha256/" HEX64, 0);
  ok("./blobs/sha256/" HEX64, 0);
  ok(".", 1);
  ok("./", 1);
  ok("blobs", 1);
  ok("blobs/", 1);
  ok("./blobs/sha256/", 1);
}

static void test_escapes_refused(void **state)
{
  (void)state;
  refused("/etc/passwd", 0, "points outside the archive");
  refused("../x", 0, "points outside the archive");
  refused("blobs/../../x", 0, "points outside the archive");
  refused("blobs/sha256/..", 1, "points outside the archive");
}

static void test_strangers_refused(void **state)
{
  (void)state;
  refused("", 0, "is not part of a VM image");
  refused("README", 0, "is not part of a VM image");
  refused("index.json", 1, "is not part of a VM image"); /* a directory by that name */
  refused("blobs", 0, "is not part of a VM image");      /* a file where a directory goes */
  refused("blobs/sha256/" HEX64, 1, "is not part of a VM image");
  refused("blobs/sha256/" HEX64 "0", 0, "is not part of a VM image"); /* 65 digits */
  refused("blobs/sha256/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0,
          "is not part of a VM image"); /* upper case is not a digest */
  refused("blobs/sha512/" HEX64, 0, "is not part of a VM image");
  refused("blobs/sha256/" HEX64 "/x", 0, "is not part of a VM image");
  char longname[400];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  refused(longname, 0, "is not part of a VM image");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_files),
      cmocka_unit_test(test_escapes_refused),
      cmocka_unit_test(test_strangers_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
