#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "vmconfig/mac.h"

static void test_parse_accepts(void **state)
{
  (void)state;
  struct mac_addr m;
  const struct mac_addr want = {{0xee, 0xa7, 0x85, 0x09, 0x92, 0x39}};

  /* bootpd drops leading zeros, so one-digit components must be read. */
  assert_int_equal(mac_parse("ee:a7:85:9:92:39", &m), 0);
  assert_true(mac_equal(&m, &want));
  assert_int_equal(mac_parse("EE:A7:85:09:92:39", &m), 0);
  assert_true(mac_equal(&m, &want));
  assert_int_equal(mac_parse("Ee:a7:85:09:92:39", &m), 0);
  assert_true(mac_equal(&m, &want));

  const struct mac_addr zero = {{0}};
  assert_int_equal(mac_parse("0:0:0:0:0:0", &m), 0);
  assert_true(mac_equal(&m, &zero));
  const struct mac_addr ones = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  assert_int_equal(mac_parse("ff:ff:ff:ff:ff:ff", &m), 0);
  assert_true(mac_equal(&m, &ones));
  const struct mac_addr ex = {{0x7e, 0x1c, 0xf2, 0x4a, 0x78, 0x30}};
  assert_int_equal(mac_parse("7e:1c:f2:4a:78:30", &m), 0);
  assert_true(mac_equal(&m, &ex));
}

static void test_parse_rejects(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "ee:a7:85:9:92",       /* five components */
      "ee:a7:85:9:92:39:00", /* seven */
      "ee:a7:85:999:92:39",  /* three digits */
      "",                    /* empty */
      "ee::85:9:92:39",      /* empty component */
      "gg:a7:85:9:92:39",    /* not hex */
      "ee:a7:85:9:92:gg",    /* not hex at the end */
      "ee:a7:85:9:92:39:",   /* trailing separator */
      ":ee:a7:85:9:92:39",   /* leading separator */
      "ee:a7:85:9:92:39 ",   /* trailing space */
      " ee:a7:85:9:92:39",   /* leading space */
      "ee-a7-85-09-92-39",   /* other separator */
      "eea7.8509.9239",      /* Cisco notation */
      "0xee:a7:85:9:92:39",  /* prefix */
      "+e:a7:85:9:92:39",    /* sign */
      "ee:a7:85:9:92:",      /* empty last component */
      "ee:a7:85:9:92:39\n",  /* newline */
      ":::::",               /* separators only */
  };
  struct mac_addr m;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (mac_parse(bad[i], &m) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
  }
  assert_int_equal(mac_parse(NULL, &m), -1);
}

static void test_parse_failure_leaves_output(void **state)
{
  (void)state;
  struct mac_addr m = {{1, 2, 3, 4, 5, 6}};
  const struct mac_addr orig = m;
  assert_int_equal(mac_parse("ee:a7:85:9:92:zz", &m), -1);
  assert_true(mac_equal(&m, &orig));
}

static void test_format(void **state)
{
  (void)state;
  struct mac_addr m;
  char s[18];
  assert_int_equal(mac_parse("EE:A7:85:9:92:39", &m), 0);
  mac_format(&m, s);
  assert_string_equal(s, "ee:a7:85:09:92:39");

  const struct mac_addr z = {{0, 1, 2, 0xa, 0xb0, 0xff}};
  mac_format(&z, s);
  assert_string_equal(s, "00:01:02:0a:b0:ff");

  /* Format then parse gives the same address. */
  struct mac_addr back;
  assert_int_equal(mac_parse(s, &back), 0);
  assert_true(mac_equal(&z, &back));
}

static void test_equal(void **state)
{
  (void)state;
  const struct mac_addr a = {{1, 2, 3, 4, 5, 6}};
  const struct mac_addr b = {{1, 2, 3, 4, 5, 6}};
  const struct mac_addr c = {{1, 2, 3, 4, 5, 7}};
  assert_true(mac_equal(&a, &b));
  assert_false(mac_equal(&a, &c));
}

static void test_random(void **state)
{
  (void)state;
  struct mac_addr first, m;
  bool differs = false;
  mac_random(&first);
  for (int i = 0; i < 1000; i++) {
    mac_random(&m);
    assert_true(mac_is_locally_administered_unicast(&m));
    assert_int_equal(m.b[0] & 0x01, 0);
    assert_int_equal(m.b[0] & 0x02, 0x02);
    if (!mac_equal(&m, &first))
      differs = true;
  }
  assert_true(mac_is_locally_administered_unicast(&first));
  /* 1000 equal draws out of 2^46 would mean the generator is broken. */
  assert_true(differs);
}

static void test_locally_administered(void **state)
{
  (void)state;
  struct mac_addr m;
  assert_int_equal(mac_parse("7e:1c:f2:4a:78:30", &m), 0);
  assert_true(mac_is_locally_administered_unicast(&m));
  assert_int_equal(mac_parse("00:1c:42:00:00:01", &m), 0); /* vendor OUI */
  assert_false(mac_is_locally_administered_unicast(&m));
  assert_int_equal(mac_parse("03:00:00:00:00:01", &m), 0); /* local multicast */
  assert_false(mac_is_locally_administered_unicast(&m));
  assert_int_equal(mac_parse("01:00:5e:00:00:01", &m), 0); /* multicast */
  assert_false(mac_is_locally_administered_unicast(&m));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_accepts),
      cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_parse_failure_leaves_output),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_equal),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_locally_administered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
