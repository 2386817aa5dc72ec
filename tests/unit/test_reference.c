/* Unit tests for OCI reference parsing (src/registry/reference.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"
#include "util/util.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Parse s, which must succeed, and check every field (NULL = must be NULL). */
static void expect_ok(const char *s, const char *host, const char *ns, const char *tag, const char *digest)
{
  struct oci_reference r;
  tart_error_t err = NULL;
  int rc = oci_reference_parse(s, &r, &err);
  if (rc != 0)
    fail_msg("%s: %s", s, err->msg);
  assert_null(err);
  assert_string_equal(r.host, host);
  assert_string_equal(r.namespace, ns);
  if (tag != NULL)
    assert_string_equal(r.tag, tag);
  else
    assert_null(r.tag);
  if (digest != NULL)
    assert_string_equal(r.digest, digest);
  else
    assert_null(r.digest);
  assert_true(oci_reference_is_remote(s));
  oci_reference_clear(&r);
  assert_null(r.host);
}

/* Parse s, which must fail; out must be left empty.  If position is not zero,
 * the message must name that 1-based character. */
static void expect_fail(const char *s, size_t position)
{
  struct oci_reference r;
  memset(&r, 0xa5, sizeof(r)); /* the parser must zero it even on failure */
  tart_error_t err = NULL;
  assert_int_equal(oci_reference_parse(s, &r, &err), -1);
  assert_non_null(err);
  assert_null(r.host);
  assert_null(r.namespace);
  assert_null(r.tag);
  assert_null(r.digest);
  assert_non_null(strstr(err->msg, "failed to parse remote name: "));
  if (position != 0) {
    char want[48];
    snprintf(want, sizeof(want), "(character %zu)", position);
    if (strstr(err->msg, want) == NULL)
      fail_msg("%s: want %s in \"%s\"", s, want, err->msg);
  }
  tart_error_release(&err);
  assert_false(oci_reference_is_remote(s));
}

static void test_ghcr_with_tag(void **state)
{
  (void)state;
  expect_ok("ghcr.io/cirruslabs/macos-sonoma-base:latest", "ghcr.io", "cirruslabs/macos-sonoma-base",
            "latest", NULL);
}

static void test_default_tag(void **state)
{
  (void)state;
  expect_ok("ghcr.io/org/img", "ghcr.io", "org/img", "latest", NULL);
}

static void test_host_with_port(void **state)
{
  (void)state;
  expect_ok("127.0.0.1:5000/tart/debian-vm:v1", "127.0.0.1:5000", "tart/debian-vm", "v1", NULL);
  expect_ok("registry.example.com:443/a", "registry.example.com:443", "a", "latest", NULL);
}

static void test_localhost(void **state)
{
  (void)state;
  expect_ok("localhost/x", "localhost", "x", "latest", NULL);
  expect_ok("localhost:8080/x:y", "localhost:8080", "x", "y", NULL);
}

static void test_dashed_host(void **state)
{
  (void)state;
  expect_ok("my-registry.corp-1.example/a", "my-registry.corp-1.example", "a", "latest", NULL);
}

static void test_nested_namespace(void **state)
{
  (void)state;
  expect_ok("host/a/b/c/d/e:t", "host", "a/b/c/d/e", "t", NULL);
}

static void test_namespace_separators(void **state)
{
  (void)state;
  expect_ok("h/a.b-c_d/e", "h", "a.b-c_d/e", "latest", NULL);
  /* nscomp := (name separator?)+ lets a component end with a separator. */
  expect_ok("h/a-/b", "h", "a-/b", "latest", NULL);
  expect_ok("h/a_", "h", "a_", "latest", NULL);
  expect_ok("h/a.:v1", "h", "a.", "v1", NULL);
}

static void test_tag_separators(void **state)
{
  (void)state;
  expect_ok("h/a:v1.2-rc_3", "h", "a", "v1.2-rc_3", NULL);
  expect_ok("h/a:UPPER9", "h", "a", "UPPER9", NULL);
}

static void test_digest(void **state)
{
  (void)state;
  expect_ok("host/a/b/c@sha256:" HEX64, "host", "a/b/c", NULL, "sha256:" HEX64);
  expect_ok("127.0.0.1:5000/x@sha256:" HEX64, "127.0.0.1:5000", "x", NULL, "sha256:" HEX64);
}

static void test_digest_bad_algorithm(void **state)
{
  (void)state;
  expect_fail("h/a@sha512:" HEX64, 5);
  expect_fail("h/a@SHA256:" HEX64, 5);
}

static void test_digest_bad_hex(void **state)
{
  (void)state;
  /* Upper-case hex is the 13th character. */
  expect_fail("h/a@sha256:0A23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 13);
  expect_fail("h/a@sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 12);
}

static void test_digest_bad_length(void **state)
{
  (void)state;
  expect_fail("h/a@sha256:abc", 15);
  expect_fail("h/a@sha256:" HEX64 "0", 12 + 64);
  expect_fail("h/a@sha256:", 12);
  expect_fail("h/a@sha256", 11);
  expect_fail("h/a@", 5);
}

static void test_digest_trailing(void **state)
{
  (void)state;
  expect_fail("h/a@sha256:" HEX64 ":x", 12 + 64);
  expect_fail("h/a:tag@sha256:" HEX64, 8);
}

static void test_local_names(void **state)
{
  (void)state;
  expect_fail("debian", 7);
  expect_fail("debian:latest", 8);
  expect_fail("my-vm", 6);
  expect_fail("my_vm", 3);
  expect_fail("", 1);
  assert_false(oci_reference_is_remote(NULL));
}

static void test_dotdot(void **state)
{
  (void)state;
  expect_fail("..", 1);
  expect_fail("a/../b", 3);
  expect_fail("a/b/..", 5);
  expect_fail("a..b/c", 3);
  expect_fail("h/a..b", 5);
}

static void test_empty_port(void **state)
{
  (void)state;
  expect_fail("host:/a", 6);
}

static void test_bad_port(void **state)
{
  (void)state;
  expect_fail("host:80a/x", 8);
  expect_fail("host:-1/x", 6);
  expect_fail("host:5000", 10);
}

static void test_bad_host(void **state)
{
  (void)state;
  expect_fail("/a", 1);
  expect_fail("-h/a", 1);
  expect_fail("h-/a", 3);
  expect_fail("h--x/a", 3);
  expect_fail("h./a", 3);
  expect_fail(".h/a", 1);
}

static void test_bad_namespace(void **state)
{
  (void)state;
  expect_fail("h/", 3);
  expect_fail("h/-a", 3);
  expect_fail("h/a--b", 5);
  expect_fail("h/a-_b", 5);
  expect_fail("h/a//b", 5);
  expect_fail("h/a/", 5);
  expect_fail("h/a b", 4);
}

static void test_bad_tag(void **state)
{
  (void)state;
  expect_fail("h/a:", 5);
  expect_fail("h/a:v1.", 8);
  expect_fail("h/a:v1--x", 8);
  expect_fail("h/a:.v1", 5);
  expect_fail("h/a:v1:v2", 7);
  expect_fail("h/a:v1/b", 7);
}

static void test_non_ascii(void **state)
{
  (void)state;
  expect_fail("h\xc3\xa9/a", 2);
  expect_fail("h/caf\xc3\xa9", 6);
  expect_fail("h/a:t\xc3\xa9", 6);

  tart_error_t err = NULL;
  struct oci_reference r;
  assert_int_equal(oci_reference_parse("h/caf\xc3\xa9", &r, &err), -1);
  assert_non_null(strstr(err->msg, "non-ASCII"));
  tart_error_release(&err);
}

static void test_control_and_space(void **state)
{
  (void)state;
  expect_fail("h/a\n", 4);
  expect_fail(" h/a", 1);
  expect_fail("h/a ", 4);
  expect_fail("h/a\t:t", 4);
}

static void test_error_message_exact(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  struct oci_reference r;
  assert_int_equal(oci_reference_parse("host:/a", &r, &err), -1);
  assert_string_equal(
      err->msg, "failed to parse remote name: expected a port number after ':', found '/' (character 6)");
  assert_int_equal(err->errnum, 0);
  tart_error_release(&err);

  assert_int_equal(oci_reference_parse("a/../b", &r, &err), -1);
  assert_non_null(strstr(err->msg, "'..'"));
  assert_non_null(strstr(err->msg, "(character 3)"));
  tart_error_release(&err);
}

static void test_error_replaces_previous(void **state)
{
  (void)state;
  /* A caller may reuse an error variable; the old message must not leak. */
  tart_error_t err = NULL;
  struct oci_reference r;
  assert_int_equal(oci_reference_parse("x", &r, &err), -1);
  assert_int_equal(oci_reference_parse("y:", &r, &err), -1);
  assert_non_null(strstr(err->msg, "(character 3)"));
  tart_error_release(&err);
}

static void round_trip(const char *s, const char *want)
{
  struct oci_reference r, r2;
  tart_error_t err = NULL;
  assert_int_equal(oci_reference_parse(s, &r, &err), 0);
  _cleanup_free_ char *f = oci_reference_format(&r);
  assert_string_equal(f, want);
  assert_int_equal(oci_reference_parse(f, &r2, &err), 0);
  assert_string_equal(r.host, r2.host);
  assert_string_equal(r.namespace, r2.namespace);
  if (r.tag != NULL)
    assert_string_equal(r.tag, r2.tag);
  else
    assert_null(r2.tag);
  if (r.digest != NULL)
    assert_string_equal(r.digest, r2.digest);
  else
    assert_null(r2.digest);
  oci_reference_clear(&r);
  oci_reference_clear(&r2);
}

static void test_format_round_trip(void **state)
{
  (void)state;
  round_trip("ghcr.io/org/img", "ghcr.io/org/img:latest");
  round_trip("ghcr.io/cirruslabs/macos-sonoma-base:latest", "ghcr.io/cirruslabs/macos-sonoma-base:latest");
  round_trip("127.0.0.1:5000/tart/debian-vm:v1", "127.0.0.1:5000/tart/debian-vm:v1");
  round_trip("host/a/b/c@sha256:" HEX64, "host/a/b/c@sha256:" HEX64);
  round_trip("h/a-", "h/a-:latest");
}

static void test_format_no_tag(void **state)
{
  (void)state;
  /* A hand-built reference with neither tag nor digest means "latest". */
  struct oci_reference r = {.host = "h", .namespace = "n"};
  _cleanup_free_ char *f = oci_reference_format(&r);
  assert_string_equal(f, "h/n:latest");
}

static void test_clear_zeroed(void **state)
{
  (void)state;
  struct oci_reference r = {0};
  oci_reference_clear(&r);
  oci_reference_clear(&r);
  assert_null(r.host);
}

static void test_is_remote(void **state)
{
  (void)state;
  assert_true(oci_reference_is_remote("localhost/x"));
  assert_true(oci_reference_is_remote("ghcr.io/org/img:1.0"));
  assert_true(oci_reference_is_remote("h/a@sha256:" HEX64));
  assert_false(oci_reference_is_remote("debian:latest"));
  assert_false(oci_reference_is_remote("debian"));
  assert_false(oci_reference_is_remote("h/a@sha256:abc"));
  assert_false(oci_reference_is_remote("host:/a"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ghcr_with_tag),
      cmocka_unit_test(test_default_tag),
      cmocka_unit_test(test_host_with_port),
      cmocka_unit_test(test_localhost),
      cmocka_unit_test(test_dashed_host),
      cmocka_unit_test(test_nested_namespace),
      cmocka_unit_test(test_namespace_separators),
      cmocka_unit_test(test_tag_separators),
      cmocka_unit_test(test_digest),
      cmocka_unit_test(test_digest_bad_algorithm),
      cmocka_unit_test(test_digest_bad_hex),
      cmocka_unit_test(test_digest_bad_length),
      cmocka_unit_test(test_digest_trailing),
      cmocka_unit_test(test_local_names),
      cmocka_unit_test(test_dotdot),
      cmocka_unit_test(test_empty_port),
      cmocka_unit_test(test_bad_port),
      cmocka_unit_test(test_bad_host),
      cmocka_unit_test(test_bad_namespace),
      cmocka_unit_test(test_bad_tag),
      cmocka_unit_test(test_non_ascii),
      cmocka_unit_test(test_control_and_space),
      cmocka_unit_test(test_error_message_exact),
      cmocka_unit_test(test_error_replaces_previous),
      cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_format_no_tag),
      cmocka_unit_test(test_clear_zeroed),
      cmocka_unit_test(test_is_remote),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
