#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/arp.h"
#include "unit.h"
#include "util/util.h"

#define HEADER    "IP address       HW type     Flags       HW address            Mask     Device\n"
#define GUEST_MAC "52:54:00:aa:bb:01"

/* Look `mac` up in the first len bytes of text, given to the parser in a
 * buffer of exactly len bytes with no NUL after it, so that AddressSanitizer
 * or valgrind catch any read past the end.  Returns the address as a string
 * in out, or "" when not found. */
static int lookup_n(const char *text, size_t len, const char *mac, const char *device,
                    char out[INET_ADDRSTRLEN])
{
  struct mac_addr m;
  assert_int_equal(mac_parse(mac, &m), 0);
  char *buf = xmalloc(len ? len : 1);
  memcpy(buf, text, len);
  struct in_addr ip = {htonl(0x7f000001)};
  int rc = arp_lookup(buf, len, &m, device, &ip);
  free(buf);
  assert_true(rc == 0 || rc == 1);
  out[0] = '\0';
  if (rc == 1)
    assert_non_null(inet_ntop(AF_INET, &ip, out, INET_ADDRSTRLEN));
  else
    assert_int_equal(ip.s_addr, htonl(0x7f000001)); /* untouched */
  return rc;
}

static const char *lookup(const char *text, const char *mac, const char *device)
{
  static char out[INET_ADDRSTRLEN];
  lookup_n(text, strlen(text), mac, device, out);
  return out;
}

static void test_basic(void **state)
{
  /* As the kernel prints it. */
  const char *text = HEADER "192.168.64.22    0x1         0x2         52:54:00:aa:bb:01     *        br0\n"
                            "10.0.2.2         0x1         0x2         52:55:0a:00:02:02     *        eth0\n"
                            "192.168.64.1     0x1         0x6         52:54:00:aa:bb:ff     *        br0\n";
  assert_string_equal(lookup(text, GUEST_MAC, NULL), "192.168.64.22");
  assert_string_equal(lookup(text, "52:55:0a:00:02:02", NULL), "10.0.2.2");
  /* 0x6: a permanent (static) entry, complete too. */
  assert_string_equal(lookup(text, "52:54:00:aa:bb:ff", NULL), "192.168.64.1");
  assert_string_equal(lookup(text, "52:54:00:aa:bb:02", NULL), "");
  /* Bytes are compared, not strings. */
  assert_string_equal(lookup(text, "52:54:0:AA:BB:1", NULL), "192.168.64.22");
  const char *upper = "192.168.64.23 0x1 0x2 52:54:0:AA:BB:2 * br0\n";
  assert_string_equal(lookup(upper, "52:54:00:aa:bb:02", NULL), "192.168.64.23");
}

static void test_incomplete(void **state)
{
  /* An entry being resolved, or that failed, shows flags 0x0 and a zero
   * MAC; one that matches the MAC but lost ATF_COM must not count either. */
  const char *text = HEADER "192.168.64.30    0x1         0x0         00:00:00:00:00:00     *        br0\n"
                            "192.168.64.31    0x1         0x0         52:54:00:aa:bb:01     *        br0\n"
                            "192.168.64.32    0x1         0x4         52:54:00:aa:bb:01     *        br0\n"
                            "192.168.64.33    0x1         0xc         00:00:00:00:00:00     *        br0\n"
                            "192.168.64.34    0x1         0x2         52:54:00:aa:bb:01     *        br0\n";
  assert_string_equal(lookup(text, GUEST_MAC, NULL), "192.168.64.34");
  assert_string_equal(lookup(text, "00:00:00:00:00:00", NULL), "");
  assert_string_equal(lookup(text, "00:00:00:00:00:00", "br0"), "");
}

static void test_hw_type(void **state)
{
  const char *text =
      HEADER "192.168.64.40    0x20        0x2         52:54:00:aa:bb:01     *        ib0\n"
             "192.168.64.41    0x304       0x2         52:54:00:aa:bb:01     *        ip6tnl0\n"
             "192.168.64.42    0x01        0x2         52:54:00:aa:bb:01     *        br0\n";
  assert_string_equal(lookup(text, GUEST_MAC, NULL), "192.168.64.42");
}

static void test_device_filter(void **state)
{
  const char *text = HEADER "192.168.64.50    0x1         0x2         52:54:00:aa:bb:01     *        br0\n"
                            "192.168.65.50    0x1         0x2         52:54:00:aa:bb:01     *        br1\n"
                            "192.168.66.50    0x1         0x2         52:54:00:aa:bb:01     *        br1\n";
  /* The first entry wins, on any device or the one asked for. */
  assert_string_equal(lookup(text, GUEST_MAC, NULL), "192.168.64.50");
  assert_string_equal(lookup(text, GUEST_MAC, "br0"), "192.168.64.50");
  assert_string_equal(lookup(text, GUEST_MAC, "br1"), "192.168.65.50");
  /* Exact names: no prefix, no extension, no case folding. */
  assert_string_equal(lookup(text, GUEST_MAC, "br"), "");
  assert_string_equal(lookup(text, GUEST_MAC, "br00"), "");
  assert_string_equal(lookup(text, GUEST_MAC, "BR0"), "");
  assert_string_equal(lookup(text, GUEST_MAC, ""), "");
  assert_string_equal(lookup(text, GUEST_MAC, "*"), "");
}

static void test_header_only_and_empty(void **state)
{
  char out[INET_ADDRSTRLEN];
  struct mac_addr m;
  struct in_addr ip;

  assert_string_equal(lookup(HEADER, GUEST_MAC, NULL), "");
  assert_string_equal(lookup(HEADER, GUEST_MAC, "br0"), "");
  assert_int_equal(lookup_n("", 0, GUEST_MAC, NULL, out), 0);
  assert_int_equal(mac_parse(GUEST_MAC, &m), 0);
  assert_int_equal(arp_lookup(NULL, 0, &m, NULL, &ip), 0);
  assert_string_equal(lookup("\n\n", GUEST_MAC, NULL), "");
}

static void test_malformed(void **state)
{
  /* Each line carries the guest's MAC yet must not count; a good line for
   * the same MAC follows, which must be the one found. */
  static const char *const bad[] = {
      /* Fields missing or left over. */
      "192.168.64.60",
      "192.168.64.60 0x1 0x2 52:54:00:aa:bb:01",
      "192.168.64.60 0x1 0x2 52:54:00:aa:bb:01 *",
      "192.168.64.60 0x1 0x2 52:54:00:aa:bb:01 * br0 extra",
      "0x1 0x2 52:54:00:aa:bb:01 * br0",
      /* Bad HW type or flags: no "0x", not hex, empty, too long, sign. */
      "192.168.64.60 1 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 0x 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 0xg2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 0x2g 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 0X2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 0x1000000002 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1 -0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x1x 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60 0x100000001 0x2 52:54:00:aa:bb:01 * br0",
      /* Bad MAC. */
      "192.168.64.60 0x1 0x2 52:54:00:aa:bb:01x * br0",
      "192.168.64.60 0x1 0x2 52:54:00:aa:bb:01:00 * br0",
      "192.168.64.60 0x1 0x2 52-54-00-aa-bb-01 * br0",
      /* Bad IPv4. */
      "192.168.64 0x1 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.256 0x1 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.60x 0x1 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.060 0x1 0x2 52:54:00:aa:bb:01 * br0",
      "192.168.64.600000000000 0x1 0x2 52:54:00:aa:bb:01 * br0",
      "fe80::1 0x1 0x2 52:54:00:aa:bb:01 * br0",
      /* CR is no field separator. */
      "192.168.64.60\r0x1 0x2 52:54:00:aa:bb:01 * br0",
  };
  const char *good = "192.168.64.61    0x1         0x2         52:54:00:aa:bb:01     *        br0\n";
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char *text = xasprintf(HEADER "%s\n%s", bad[i], good);
    if (strcmp(lookup(text, GUEST_MAC, NULL), "192.168.64.61") != 0)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_string_equal(lookup(text, GUEST_MAC, "br0"), "192.168.64.61");
    free(text);
  }
}

static void test_line_ends_and_nul(void **state)
{
  char out[INET_ADDRSTRLEN];
  const char *crlf = "IP address HW type Flags HW address Mask Device\r\n"
                     "192.168.64.70 0x1 0x2 52:54:00:aa:bb:02 * br0\r\n"
                     "192.168.64.71 0x1 0x2 52:54:00:aa:bb:01 * br0\r\n";
  assert_string_equal(lookup(crlf, GUEST_MAC, "br0"), "192.168.64.71");
  /* The device is the last field: its CR must not stick to it. */
  assert_string_equal(lookup(crlf, "52:54:00:aa:bb:02", "br0"), "192.168.64.70");

  const char *last = HEADER "192.168.64.72 0x1 0x2 52:54:00:aa:bb:01 * br0";
  assert_string_equal(lookup(last, GUEST_MAC, "br0"), "192.168.64.72");

  /* A NUL spoils its line only, wherever it is. */
  static const char nul[] = HEADER "192.168.64.73 0x1 0x2 52:54:00:aa:bb:01 * br0\0\n"
                                   "192.168.64.7\0"
                                   "4 0x1 0x2 52:54:00:aa:bb:01 * br0\n"
                                   "\0\0\0\n"
                                   "192.168.64.75 0x1 0x2 52:54:00:aa:bb:01 * br0\n";
  assert_int_equal(lookup_n(nul, sizeof(nul) - 1, GUEST_MAC, "br0", out), 1);
  assert_string_equal(out, "192.168.64.75");
  /* A device name may not be matched by a prefix that a NUL would end. */
  static const char nul_dev[] = "192.168.64.76 0x1 0x2 52:54:00:aa:bb:01 * br0\0x\n";
  assert_int_equal(lookup_n(nul_dev, sizeof(nul_dev) - 1, GUEST_MAC, "br0", out), 0);
}

/* Cutting the table anywhere (a read racing a change) never yields a wrong
 * address: the address is the first field, and a line cut inside it has
 * too few fields. */
static void test_truncated(void **state)
{
  const char *text = HEADER "192.168.64.80    0x1         0x2         52:54:00:aa:bb:02     *        br0\n"
                            "192.168.64.81    0x1         0x2         52:54:00:aa:bb:01     *        br0\n";
  size_t len = strlen(text);
  char out[INET_ADDRSTRLEN];
  for (size_t i = 0; i <= len; i++) {
    if (lookup_n(text, i, GUEST_MAC, "br0", out) == 1)
      assert_string_equal(out, "192.168.64.81");
    if (lookup_n(text, i, "52:54:00:aa:bb:02", NULL, out) == 1)
      assert_string_equal(out, "192.168.64.80");
  }
}

static void test_huge(void **state)
{
  /* 200000 neighbours, the wanted one last: about 16 MB. */
  enum { LINES = 200000 };
  size_t cap = (size_t)LINES * 90, len = 0;
  char *text = xmalloc(cap);
  len += (size_t)snprintf(text + len, cap - len, HEADER);
  for (unsigned i = 0; i < LINES; i++) {
    char ip[INET_ADDRSTRLEN];
    snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    /* Every third one incomplete. */
    len += (size_t)snprintf(text + len, cap - len,
                            "%-16s 0x%-10x0x%-10x02:00:%02x:%02x:%02x:00     *        br0\n", ip, 1,
                            i % 3 == 0 ? 0 : 2, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
  }
  len += (size_t)snprintf(text + len, cap - len,
                          "192.168.64.90    0x1         0x2         52:54:00:aa:bb:01     *        br0");
  assert_true(len < cap);

  char out[INET_ADDRSTRLEN];
  assert_int_equal(lookup_n(text, len, GUEST_MAC, "br0", out), 1);
  assert_string_equal(out, "192.168.64.90");
  assert_int_equal(lookup_n(text, len, "02:00:01:86:a0:00", NULL, out), 1); /* i = 100000 */
  assert_string_equal(out, "10.1.134.160");
  assert_int_equal(lookup_n(text, len, "02:00:01:86:9f:00", NULL, out), 0); /* i = 99999, incomplete */
  assert_int_equal(lookup_n(text, len, "52:54:00:aa:bb:02", NULL, out), 0);
  free(text);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_incomplete),
      cmocka_unit_test(test_hw_type),
      cmocka_unit_test(test_device_filter),
      cmocka_unit_test(test_header_only_and_empty),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_line_ends_and_nul),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_huge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
