/* The NAT network's settings: parsing, validation, the DHCP pool. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "net/network.h"
#include "unit.h"

static struct in_addr ip(const char *s)
{
  struct in_addr a;
  assert_int_equal(inet_pton(AF_INET, s, &a), 1);
  return a;
}

static int parse(const char *text, struct net_settings *s)
{
  tart_error_t err = NULL;
  net_settings_default(s);
  int r = net_settings_parse(text, strlen(text), s, &err);
  tart_error_release(&err);
  return r;
}

static void test_defaults_and_parse(void **state)
{
  (void)state;
  struct net_settings s;
  assert_int_equal(parse("{}", &s), 0);
  assert_int_equal(s.address.s_addr, ip("192.168.64.1").s_addr);
  assert_int_equal(s.mask.s_addr, ip("255.255.255.0").s_addr);
  assert_int_equal(s.lease_time, 600);
  assert_int_equal(parse("{\"address\": \"192.168.77.1\", \"leaseTime\": 3600}", &s), 0);
  assert_int_equal(s.address.s_addr, ip("192.168.77.1").s_addr);
  assert_int_equal(s.mask.s_addr, ip("255.255.255.0").s_addr);
  assert_int_equal(s.lease_time, 3600);
  assert_int_equal(parse("{\"mask\": \"255.255.0.0\", \"other\": 1}", &s), 0);
  assert_int_equal(net_prefix(s.mask), 16);

  /* Round trip through the file format. */
  s.address = ip("10.9.8.7");
  s.lease_time = 120;
  char *text = net_settings_format(&s);
  struct net_settings t;
  assert_int_equal(parse(text, &t), 0);
  assert_memory_equal(&s, &t, sizeof(s));
  free(text);
}

static void test_parse_errors_leave_settings(void **state)
{
  (void)state;
  const char *bad[] = {"",
                       "[]",
                       "{\"address\": 5}",
                       "{\"address\": \"1.2.3\"}",
                       "{\"mask\": \"x\"}",
                       "{\"leaseTime\": -1}",
                       "{\"leaseTime\": \"600\"}",
                       "{\"leaseTime\": 99999999999}",
                       "{\"address\": \"1.2.3.4\", \"address\": \"1.2.3.5\"}",
                       "{"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    struct net_settings s;
    net_settings_default(&s);
    s.lease_time = 777;
    tart_error_t err = NULL;
    assert_int_equal(net_settings_parse(bad[i], strlen(bad[i]), &s, &err), -1);
    assert_non_null(err);
    tart_error_release(&err);
    assert_int_equal(s.lease_time, 777);
  }
}

static int validate(const char *a, const char *m, uint32_t lease)
{
  struct net_settings s = {.address = ip(a), .mask = ip(m), .lease_time = lease};
  tart_error_t err = NULL;
  int r = net_settings_validate(&s, &err);
  if (r < 0)
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  tart_error_release(&err);
  return r;
}

static void test_validate(void **state)
{
  (void)state;
  assert_int_equal(validate("192.168.64.1", "255.255.255.0", 600), 0);
  assert_int_equal(validate("10.0.0.1", "255.0.0.0", 600), 0);
  assert_int_equal(validate("192.168.64.1", "255.255.255.252", 120), 0);
  assert_int_equal(validate("192.168.64.1", "255.255.0.255", 600), -1);   /* not contiguous */
  assert_int_equal(validate("192.168.64.1", "255.255.255.254", 600), -1); /* /31 */
  assert_int_equal(validate("10.0.0.1", "254.0.0.0", 600), -1);           /* /7 */
  assert_int_equal(validate("192.168.64.0", "255.255.255.0", 600), -1);   /* network address */
  assert_int_equal(validate("192.168.64.255", "255.255.255.0", 600), -1); /* broadcast */
  assert_int_equal(validate("127.0.0.1", "255.255.255.0", 600), -1);
  assert_int_equal(validate("224.0.0.1", "255.255.255.0", 600), -1);
  assert_int_equal(validate("192.168.64.1", "255.255.255.0", 119), -1);
  assert_int_equal(validate("192.168.64.1", "255.255.255.0", 31536001), -1);
}

static void range(const char *a, const char *m, const char *lo, const char *hi)
{
  struct net_settings s = {.address = ip(a), .mask = ip(m), .lease_time = 600};
  struct in_addr start, end;
  net_dhcp_range(&s, &start, &end);
  char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &start, b1, sizeof(b1));
  inet_ntop(AF_INET, &end, b2, sizeof(b2));
  assert_string_equal(b1, lo);
  assert_string_equal(b2, hi);
}

static void test_dhcp_range(void **state)
{
  (void)state;
  range("192.168.64.1", "255.255.255.0", "192.168.64.2", "192.168.64.254");
  range("192.168.77.1", "255.255.255.0", "192.168.77.2", "192.168.77.254");
  range("192.168.64.254", "255.255.255.0", "192.168.64.1", "192.168.64.253");
  range("192.168.64.100", "255.255.255.0", "192.168.64.1", "192.168.64.254");
  range("10.1.2.3", "255.255.0.0", "10.1.0.1", "10.1.255.254");
  range("192.168.64.1", "255.255.255.252", "192.168.64.2", "192.168.64.2");
}

static void test_net_dir(void **state)
{
  (void)state;
  unsetenv("TART_NETWORK_DIR");
  char *d = net_dir();
  assert_string_equal(d, NET_DEFAULT_DIR);
  free(d);
  setenv("TART_NETWORK_DIR", "/tmp/x", 1);
  d = net_dir();
  assert_string_equal(d, "/tmp/x");
  free(d);
  unsetenv("TART_NETWORK_DIR");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_parse),
      cmocka_unit_test(test_parse_errors_leave_settings),
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_dhcp_range),
      cmocka_unit_test(test_net_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
