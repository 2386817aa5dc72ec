#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "registry/challenge.h"
#include "util/util.h"

static void test_basic(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Basic realm=\"Registry Realm\"", &c, NULL), 0);
  assert_string_equal(c.scheme, "Basic");
  assert_int_equal(c.n_params, 1);
  assert_string_equal(auth_challenge_param(&c, "realm"), "Registry Realm");
  assert_string_equal(auth_challenge_param(&c, "REALM"), "Registry Realm");
  assert_null(auth_challenge_param(&c, "service"));
  auth_challenge_clear(&c);
  assert_null(c.scheme);
  assert_int_equal(c.n_params, 0);
}

static void test_bearer_full(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Bearer realm=\"https://a/token\",service=\"s\","
                                        "scope=\"repository:a/b:pull,push\"",
                                        &c, NULL),
                   0);
  assert_string_equal(c.scheme, "Bearer");
  assert_int_equal(c.n_params, 3);
  assert_string_equal(auth_challenge_param(&c, "realm"), "https://a/token");
  assert_string_equal(auth_challenge_param(&c, "service"), "s");
  /* The comma inside the quotes belongs to the value. */
  assert_string_equal(auth_challenge_param(&c, "scope"), "repository:a/b:pull,push");
  auth_challenge_clear(&c);
}

static void test_bearer_token_form(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Bearer realm=x", &c, NULL), 0);
  assert_string_equal(auth_challenge_param(&c, "realm"), "x");
  auth_challenge_clear(&c);

  /* Unquoted URLs hold characters outside the RFC token set. */
  assert_int_equal(auth_challenge_parse("bearer realm=https://auth.example/token?x=1,service=reg", &c, NULL),
                   0);
  assert_string_equal(c.scheme, "bearer");
  assert_string_equal(auth_challenge_param(&c, "realm"), "https://auth.example/token?x=1");
  assert_string_equal(auth_challenge_param(&c, "service"), "reg");
  auth_challenge_clear(&c);
}

static void test_scheme_alone(void **state)
{
  (void)state;
  struct auth_challenge c;
  /* The client decides that Bearer needs a realm. */
  assert_int_equal(auth_challenge_parse("Bearer", &c, NULL), 0);
  assert_string_equal(c.scheme, "Bearer");
  assert_int_equal(c.n_params, 0);
  assert_null(auth_challenge_param(&c, "realm"));
  auth_challenge_clear(&c);

  assert_int_equal(auth_challenge_parse("  Basic  \r\n", &c, NULL), 0);
  assert_string_equal(c.scheme, "Basic");
  assert_int_equal(c.n_params, 0);
  auth_challenge_clear(&c);

  /* The raw header line, terminator included. */
  assert_int_equal(auth_challenge_parse("Bearer realm=\"r\", service=s \r\n", &c, NULL), 0);
  assert_string_equal(auth_challenge_param(&c, "realm"), "r");
  assert_string_equal(auth_challenge_param(&c, "service"), "s");
  auth_challenge_clear(&c);
}

static void test_spaces_and_case(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(
      auth_challenge_parse("  Bearer   REALM = \"r\" ,  Service=s , scope = \"a b\"  ", &c, NULL), 0);
  assert_int_equal(c.n_params, 3);
  assert_string_equal(c.params[0].key, "realm");
  assert_string_equal(c.params[0].value, "r");
  assert_string_equal(c.params[1].key, "service");
  assert_string_equal(c.params[1].value, "s");
  assert_string_equal(c.params[2].key, "scope");
  assert_string_equal(c.params[2].value, "a b");
  auth_challenge_clear(&c);

  /* Empty list elements are allowed (RFC 7230 #rule). */
  assert_int_equal(auth_challenge_parse("Bearer ,realm=a,,service=b,", &c, NULL), 0);
  assert_int_equal(c.n_params, 2);
  assert_string_equal(auth_challenge_param(&c, "realm"), "a");
  assert_string_equal(auth_challenge_param(&c, "service"), "b");
  auth_challenge_clear(&c);

  /* Empty values. */
  assert_int_equal(auth_challenge_parse("Bearer realm=\"\",service=", &c, NULL), 0);
  assert_string_equal(auth_challenge_param(&c, "realm"), "");
  assert_string_equal(auth_challenge_param(&c, "service"), "");
  auth_challenge_clear(&c);
}

static void test_escapes(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Basic realm=\"say \\\"hi\\\" \\\\ \\x\"", &c, NULL), 0);
  assert_string_equal(auth_challenge_param(&c, "realm"), "say \"hi\" \\ x");
  auth_challenge_clear(&c);

  /* An escaped quote does not end the string, an escaped comma is kept. */
  assert_int_equal(auth_challenge_parse("Bearer realm=\"a\\\",b\",service=c", &c, NULL), 0);
  assert_string_equal(auth_challenge_param(&c, "realm"), "a\",b");
  assert_string_equal(auth_challenge_param(&c, "service"), "c");
  auth_challenge_clear(&c);
}

static void test_duplicate_last_wins(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Bearer realm=a,Realm=b", &c, NULL), 0);
  assert_int_equal(c.n_params, 1);
  assert_string_equal(auth_challenge_param(&c, "realm"), "b");
  auth_challenge_clear(&c);
}

static void test_first_challenge_only(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Bearer realm=\"x\", service=y, Basic realm=\"z\"", &c, NULL), 0);
  assert_string_equal(c.scheme, "Bearer");
  assert_int_equal(c.n_params, 2);
  assert_string_equal(auth_challenge_param(&c, "realm"), "x");
  assert_string_equal(auth_challenge_param(&c, "service"), "y");
  auth_challenge_clear(&c);
}

static void expect_malformed(const char *header, const char *why)
{
  struct auth_challenge c;
  tart_error_t err = NULL;
  assert_int_equal(auth_challenge_parse(header, &c, &err), -1);
  assert_non_null(err);
  char *want = xasprintf("malformed WWW-Authenticate header: %s", why);
  assert_string_equal(err->msg, want);
  free(want);
  /* Nothing is left to free on failure. */
  assert_null(c.scheme);
  assert_null(c.params);
  assert_int_equal(c.n_params, 0);
  tart_error_release(&err);
}

static void test_malformed(void **state)
{
  (void)state;
  expect_malformed("", "empty header");
  expect_malformed("   ", "empty header");
  expect_malformed(NULL, "missing header");
  expect_malformed("=x", "missing scheme");
  expect_malformed("\"Bearer\"", "missing scheme");
  expect_malformed("Bearer realm=\"https://a/token", "unterminated quoted string");
  expect_malformed("Bearer realm=\"abc\\", "unterminated quoted string");
  expect_malformed("Bearer realm=\"a\",service=\"b", "unterminated quoted string");
  expect_malformed("Bearer realm", "missing '=' after a parameter name");
  expect_malformed("Bearer realm=\"a\",service", "missing '=' after a parameter name");
  expect_malformed("Bearer realm \"a\"", "missing '=' after a parameter name");
  expect_malformed("Bearer =a", "missing parameter name");
  expect_malformed("Bearer realm=\"a\"x", "unexpected character after a value");
  expect_malformed("Bearer realm=\"a\" service=b", "unexpected character after a value");
  expect_malformed("Bearer realm=a\"b\"", "unexpected quote in unquoted value");
  expect_malformed("Bearer,realm=a", "invalid character after the scheme");
  expect_malformed("Bearer realm=\"a\x01\"", "control character in quoted string");
  expect_malformed("Bearer realm=a\x1b[0m", "control character in value");
  expect_malformed("Bearer (realm)=a", "invalid character in parameter name");
  /* CR and LF are only tolerated as the line terminator. */
  expect_malformed("Bearer realm=a\r\nb", "control character in value");
  expect_malformed("Bearer realm=\"a\r\nb\"", "control character in quoted string");
  expect_malformed("Bearer\r\nrealm=a", "invalid character after the scheme");
}

static void test_clear_is_idempotent(void **state)
{
  (void)state;
  struct auth_challenge c;
  assert_int_equal(auth_challenge_parse("Basic realm=x", &c, NULL), 0);
  auth_challenge_clear(&c);
  auth_challenge_clear(&c);
  auth_challenge_clear(NULL);
  assert_null(auth_challenge_param(NULL, "realm"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_bearer_full),
      cmocka_unit_test(test_bearer_token_form),
      cmocka_unit_test(test_scheme_alone),
      cmocka_unit_test(test_spaces_and_case),
      cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_duplicate_last_wins),
      cmocka_unit_test(test_first_challenge_only),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_clear_is_idempotent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
