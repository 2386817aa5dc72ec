/* registry/url.h: which URLs a registry may send us where, and how its
 * Location headers resolve. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/url.h"
#include "unit.h"
#include "util/util.h"

static void test_is_http(void **state)
{
  (void)state;
  assert_true(registry_url_is_http("http://registry:5000/v2/"));
  assert_true(registry_url_is_http("https://ghcr.io"));
  assert_true(registry_url_is_http("HTTPS://auth.docker.io/token?service=x"));
  assert_false(registry_url_is_http(NULL));
  assert_false(registry_url_is_http(""));
  assert_false(registry_url_is_http("file:///etc/shadow"));
  assert_false(registry_url_is_http("ftp://host/x"));
  assert_false(registry_url_is_http("gopher://127.0.0.1:6379/_FLUSHALL"));
  assert_false(registry_url_is_http("https:///path-without-host"));
  assert_false(registry_url_is_http("https://?q"));
  assert_false(registry_url_is_http("https://host/a b"));
  assert_false(registry_url_is_http("https://host/a\r\nX-Injected: 1"));
  assert_false(registry_url_is_http("https://host/\x7f"));
  assert_false(registry_url_is_http("/v2/relative"));
}

static void test_origin(void **state)
{
  (void)state;
  char *o = registry_url_origin("https://r.io:5000/v2/x/blobs/sha256:1?a=b");
  assert_string_equal(o, "https://r.io:5000");
  free(o);
  o = registry_url_origin("http://h?x");
  assert_string_equal(o, "http://h");
  free(o);
  o = registry_url_origin("no-scheme");
  assert_string_equal(o, "");
  free(o);
}

static void expect(const char *base, const char *loc, const char *want)
{
  char *out = NULL;
  tart_error_t err = NULL;
  assert_int_equal(registry_resolve_location("https", "r.io", base, loc, &out, &err), 0);
  assert_null(err);
  assert_string_equal(out, want);
  free(out);
}

static void expect_refused(const char *loc)
{
  char *out = (char *)"untouched";
  tart_error_t err = NULL;
  assert_int_equal(
      registry_resolve_location("https", "r.io", "https://r.io/v2/a/blobs/uploads/", loc, &out, &err), -1);
  assert_null(out);
  assert_non_null(err);
  assert_int_equal(err->errnum, EPROTO);
  assert_non_null(strstr(err->msg, "not an http(s) URL"));
  tart_error_release(&err);
}

static void test_resolve(void **state)
{
  (void)state;
  const char *base = "https://r.io:5000/v2/a/blobs/uploads/";
  /* Absolute: as it is (another host is the caller's to judge). */
  expect(base, "https://s3.example/bucket/x?sig=1", "https://s3.example/bucket/x?sig=1");
  /* Absolute path: on the base URL's origin, port kept. */
  expect(base, "/v2/a/blobs/uploads/123?_state=s", "https://r.io:5000/v2/a/blobs/uploads/123?_state=s");
  /* Scheme-relative: another host, on the base's scheme. */
  expect("http://r.io/v2/", "//cdn.example/x", "http://cdn.example/x");
  /* A "://" in the query does not make it absolute. */
  expect(base, "/v2/a/blobs/uploads/1?redirect=https://x",
         "https://r.io:5000/v2/a/blobs/uploads/1?redirect=https://x");
  /* IPv6 literals keep their brackets and port. */
  expect("http://[::1]:5000/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/9",
         "http://[::1]:5000/v2/a/blobs/uploads/9");
  /* Relative: under /v2/ of the registry, as upstream resolves it. */
  expect(base, "a/blobs/uploads/123", "https://r.io/v2/a/blobs/uploads/123");
}

static void test_resolve_refuses_other_schemes(void **state)
{
  (void)state;
  expect_refused("file:///etc/passwd");
  expect_refused("ftp://mirror/x");
  expect_refused("https://host/with space");
  expect_refused("https://host/x\nSet-Cookie: a");
  expect_refused("javascript://x");
  expect_refused("file:/etc/passwd");
  expect_refused("data:text/plain,x");
}

static void test_token_ok(void **state)
{
  (void)state;
  assert_true(registry_token_ok("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0In0.c2ln-_~+/="));
  assert_false(registry_token_ok(NULL));
  assert_false(registry_token_ok(""));
  assert_false(registry_token_ok("abc\r\nX-Injected: 1"));
  assert_false(registry_token_ok("abc\n"));
  assert_false(registry_token_ok("a b"));
  assert_false(registry_token_ok("a\tb"));
  assert_false(registry_token_ok("caf\xc3\xa9"));
  assert_false(registry_token_ok("a\x7f"));
  char *big = xmalloc(REGISTRY_TOKEN_MAX + 2);
  memset(big, 'a', REGISTRY_TOKEN_MAX);
  big[REGISTRY_TOKEN_MAX] = '\0';
  assert_true(registry_token_ok(big));
  big[REGISTRY_TOKEN_MAX] = 'a';
  big[REGISTRY_TOKEN_MAX + 1] = '\0';
  assert_false(registry_token_ok(big));
  free(big);
}

static void test_rfc3339(void **state)
{
  (void)state;
  assert_int_equal(registry_parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  assert_int_equal(registry_parse_rfc3339("2024-01-02T03:04:05Z"), 1704164645);
  assert_int_equal(registry_parse_rfc3339("2024-01-02T03:04:05.123456789+00:00"), 1704164645);
  assert_int_equal(registry_parse_rfc3339("2024-01-02"), 0);
  assert_int_equal(registry_parse_rfc3339("yesterday"), 0);
  assert_int_equal(registry_parse_rfc3339(""), 0);
  assert_int_equal(registry_parse_rfc3339(NULL), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_is_http), cmocka_unit_test(test_origin),
      cmocka_unit_test(test_resolve), cmocka_unit_test(test_resolve_refuses_other_schemes),
      cmocka_unit_test(test_rfc3339), cmocka_unit_test(test_token_ok),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
