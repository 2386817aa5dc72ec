#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/leases.h"
#include "unit.h"
#include "util/util.h"

#define GUEST_MAC "52:54:00:aa:bb:03"
#define FAR       "1795774615" /* 2026-11-27, the example's expiry */
#define NOW       1700000000   /* 2023-11-14, before FAR */

/* Look `mac` up in the first len bytes of text, given to the parser in a
 * buffer of exactly len bytes with no NUL after it, so that AddressSanitizer
 * or valgrind catch any read past the end.  Returns the address as a string
 * in out, or "" when not found. */
static int lookup_n(const char *text, size_t len, const char *mac, int64_t now, char out[INET_ADDRSTRLEN])
{
  struct mac_addr m;
  assert_int_equal(mac_parse(mac, &m), 0);
  char *buf = xmalloc(len ? len : 1);
  memcpy(buf, text, len);
  struct in_addr ip = {htonl(0x7f000001)};
  int rc = leases_lookup(buf, len, &m, now, &ip);
  free(buf);
  assert_true(rc == 0 || rc == 1);
  out[0] = '\0';
  if (rc == 1)
    assert_non_null(inet_ntop(AF_INET, &ip, out, INET_ADDRSTRLEN));
  else
    assert_int_equal(ip.s_addr, htonl(0x7f000001)); /* untouched */
  return rc;
}

/* The address leased to mac at `now`, "" if none. */
static const char *lookup(const char *text, const char *mac, int64_t now)
{
  static char out[INET_ADDRSTRLEN];
  lookup_n(text, strlen(text), mac, now, out);
  return out;
}

/* Number of leases leases_parse finds in text (of length len). */
static size_t count_n(const char *text, size_t len)
{
  struct dhcp_lease *v;
  size_t n;
  char *buf = xmalloc(len ? len : 1);
  memcpy(buf, text, len);
  assert_int_equal(leases_parse(buf, len, &v, &n), 0);
  free(buf);
  if (n == 0)
    assert_null(v);
  free(v);
  return n;
}

static size_t count(const char *text)
{
  return count_n(text, strlen(text));
}

static void test_basic(void **state)
{
  const char *text = FAR " " GUEST_MAC " 192.168.64.24 tartguest 01:" GUEST_MAC "\n";
  assert_string_equal(lookup(text, GUEST_MAC, NOW), "192.168.64.24");
  assert_string_equal(lookup(text, "52:54:00:aa:bb:04", NOW), "");
  assert_int_equal(count(text), 1);
}

static void test_expired(void **state)
{
  const char *text = "1000 " GUEST_MAC " 192.168.64.10 * *\n"
                     "2000 " GUEST_MAC " 192.168.64.20 * *\n";
  assert_string_equal(lookup(text, GUEST_MAC, 0), "192.168.64.20");
  assert_string_equal(lookup(text, GUEST_MAC, 1500), "192.168.64.20");
  assert_string_equal(lookup(text, GUEST_MAC, 1999), "192.168.64.20");
  /* dnsmasq drops a lease once now >= expiry. */
  assert_string_equal(lookup(text, GUEST_MAC, 2000), "");
  assert_string_equal(lookup(text, GUEST_MAC, NOW), "");
  /* A stale lease whose MAC now holds nothing must not shadow a live one. */
  const char *text2 = "1000 " GUEST_MAC " 192.168.64.10 * *\n" FAR " " GUEST_MAC " 192.168.64.11 * *\n"
                      "1001 " GUEST_MAC " 192.168.64.12 * *\n";
  assert_string_equal(lookup(text2, GUEST_MAC, NOW), "192.168.64.11");
  /* Expired leases are still well-formed ones. */
  assert_int_equal(count(text2), 3);
}

static void test_latest_expiry_wins(void **state)
{
  /* Whatever the order of the lines. */
  const char *a = "1795774600 " GUEST_MAC " 192.168.64.30 old *\n"
                  "1795774700 " GUEST_MAC " 192.168.64.31 new *\n"
                  "1795774650 " GUEST_MAC " 192.168.64.32 mid *\n";
  assert_string_equal(lookup(a, GUEST_MAC, NOW), "192.168.64.31");
  const char *b = "1795774700 " GUEST_MAC " 192.168.64.31 new *\n"
                  "1795774600 " GUEST_MAC " 192.168.64.30 old *\n";
  assert_string_equal(lookup(b, GUEST_MAC, NOW), "192.168.64.31");
  /* Once the best one has expired, the next best that has not wins. */
  assert_string_equal(lookup(a, GUEST_MAC, 1795774660), "192.168.64.31");
  assert_string_equal(lookup(a, GUEST_MAC, 1795774700), "");
  assert_string_equal(lookup(a, GUEST_MAC, 1795774640), "192.168.64.31");
  /* Equal expiry: the later line, the newer lease, wins. */
  const char *c = FAR " " GUEST_MAC " 192.168.64.40 a *\n" FAR " " GUEST_MAC " 192.168.64.41 b *\n";
  assert_string_equal(lookup(c, GUEST_MAC, NOW), "192.168.64.41");
  /* Other MACs' leases do not interfere. */
  const char *d =
      "1795774800 52:54:00:aa:bb:04 192.168.64.50 other *\n" FAR " " GUEST_MAC " 192.168.64.51 guest *\n"
      "1795774900 52:54:00:aa:bb:04 192.168.64.52 other *\n";
  assert_string_equal(lookup(d, GUEST_MAC, NOW), "192.168.64.51");
  assert_string_equal(lookup(d, "52:54:00:aa:bb:04", NOW), "192.168.64.52");
}

static void test_infinite(void **state)
{
  const char *text = "0 " GUEST_MAC " 192.168.64.60 * *\n";
  assert_string_equal(lookup(text, GUEST_MAC, NOW), "192.168.64.60");
  assert_string_equal(lookup(text, GUEST_MAC, INT64_MAX), "192.168.64.60");
  /* Infinite beats any finite lease, before or after it. */
  const char *a = "0 " GUEST_MAC " 192.168.64.60 * *\n"
                  "9223372036854775807 " GUEST_MAC " 192.168.64.61 * *\n";
  assert_string_equal(lookup(a, GUEST_MAC, NOW), "192.168.64.60");
  const char *b = "9223372036854775807 " GUEST_MAC " 192.168.64.61 * *\n"
                  "0 " GUEST_MAC " 192.168.64.60 * *\n";
  assert_string_equal(lookup(b, GUEST_MAC, NOW), "192.168.64.60");
  /* Two infinite leases: the later line wins. */
  const char *c = "0 " GUEST_MAC " 192.168.64.60 * *\n0 " GUEST_MAC " 192.168.64.62 * *\n";
  assert_string_equal(lookup(c, GUEST_MAC, NOW), "192.168.64.62");

  struct dhcp_lease *v;
  size_t n;
  assert_int_equal(leases_parse(a, strlen(a), &v, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(v[0].expiry, 0);
  assert_int_equal(v[1].expiry, INT64_MAX);
  assert_string_equal(v[0].client_id, "");
  free(v);

  /* The client id is kept for dhcp_release; "*" and overlong ones are empty. */
  char longid[400];
  memset(longid, 'a', sizeof(longid) - 1);
  longid[sizeof(longid) - 1] = '\0';
  char *d = NULL;
  assert_true(asprintf(&d,
                       "0 " GUEST_MAC " 192.168.64.60 h 01:52:54:00:aa:bb:03\n0 " GUEST_MAC
                       " 192.168.64.61 h %s\n",
                       longid) > 0);
  assert_int_equal(leases_parse(d, strlen(d), &v, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0].client_id, "01:52:54:00:aa:bb:03");
  assert_string_equal(v[1].client_id, "");
  free(v);
  free(d);
}

static void test_mac_forms(void **state)
{
  /* bootpd-style missing leading zeros and upper case in the file... */
  const char *text = FAR " ee:a7:85:9:92:39 192.168.64.70 * *\n" FAR
                         " 52:54:00:AA:BB:0C 192.168.64.71 * *\n" FAR " 2:0:0:0:0:1 192.168.64.72 * *\n";
  assert_string_equal(lookup(text, "ee:a7:85:09:92:39", NOW), "192.168.64.70");
  assert_string_equal(lookup(text, "52:54:00:aa:bb:0c", NOW), "192.168.64.71");
  assert_string_equal(lookup(text, "02:00:00:00:00:01", NOW), "192.168.64.72");
  /* ... and in the address asked for: bytes are compared, not strings. */
  assert_string_equal(lookup(text, "EE:A7:85:09:92:39", NOW), "192.168.64.70");
  assert_string_equal(lookup(text, "52:54:0:aa:bb:c", NOW), "192.168.64.71");
  assert_string_equal(lookup(text, "ee:a7:85:90:92:39", NOW), "");
}

static void test_malformed(void **state)
{
  /* Each line names the guest's MAC yet must not count; a good line for
   * another MAC follows it, which must still be read. */
  static const char *const bad[] = {
      /* Fields missing or left over. */
      "",
      " ",
      FAR,
      FAR " " GUEST_MAC,
      FAR " " GUEST_MAC " 192.168.64.80",
      FAR " " GUEST_MAC " 192.168.64.80 host",
      FAR " " GUEST_MAC " 192.168.64.80 host * extra",
      FAR " " GUEST_MAC " 192.168.64.80 host * *",
      "duid 00:01:00:01:2c:5e:6a:3b:52:54:00:aa:bb:03",
      "# " FAR " " GUEST_MAC " 192.168.64.80 * *",
      /* Bad expiry: sign, garbage, hex, overflow, fraction. */
      "-1 " GUEST_MAC " 192.168.64.80 * *",
      "+1795774615 " GUEST_MAC " 192.168.64.80 * *",
      "1795774615x " GUEST_MAC " 192.168.64.80 * *",
      "0x10 " GUEST_MAC " 192.168.64.80 * *",
      "9223372036854775808 " GUEST_MAC " 192.168.64.80 * *",
      "99999999999999999999999 " GUEST_MAC " 192.168.64.80 * *",
      "17957.74615 " GUEST_MAC " 192.168.64.80 * *",
      /* Bad MAC: five or seven parts, garbage, three digits, other
       * separators, other hardware types (a type prefix, InfiniBand). */
      FAR " 52:54:00:aa:bb 192.168.64.80 * *",
      FAR " " GUEST_MAC ":00 192.168.64.80 * *",
      FAR " " GUEST_MAC "x 192.168.64.80 * *",
      FAR " 52:54:00:aa:bb:003 192.168.64.80 * *",
      FAR " 52-54-00-aa-bb-03 192.168.64.80 * *",
      FAR " 06-52:54:00:aa:bb:03 192.168.64.80 * *",
      FAR " 52:54:00:aa:bb:03:00:00:00:00:00:00:00:00:00:00:00:00:00:00 192.168.64.80 * *",
      /* Bad IPv4: three or five parts, out of range, garbage, leading zero,
       * too long, hex, IPv6. */
      FAR " " GUEST_MAC " 192.168.64 * *",
      FAR " " GUEST_MAC " 192.168.64.80.1 * *",
      FAR " " GUEST_MAC " 192.168.64.256 * *",
      FAR " " GUEST_MAC " 192.168.64.80x * *",
      FAR " " GUEST_MAC " 192.168.064.80 * *",
      FAR " " GUEST_MAC " 192.168.64.800000000000 * *",
      FAR " " GUEST_MAC " 0xc0.168.64.80 * *",
      FAR " " GUEST_MAC " fd00::80 * *",
      FAR " " GUEST_MAC " ::ffff:192.168.64.80 * *",
      /* CR and VT are no field separators. */
      FAR "\r" GUEST_MAC " 192.168.64.80 * *",
      FAR " " GUEST_MAC "\v192.168.64.80 * *",
      FAR " " GUEST_MAC " 192.168.64.80\r* *",
  };
  const char *good = FAR " 52:54:00:aa:bb:04 192.168.64.81 other *\n";
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char *text = xasprintf("%s\n%s", bad[i], good);
    if (strcmp(lookup(text, GUEST_MAC, NOW), "") != 0)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_string_equal(lookup(text, "52:54:00:aa:bb:04", NOW), "192.168.64.81");
    assert_int_equal(count(text), 1);
    free(text);
  }

  /* All of them at once, the good lease among them. */
  char *all = xstrdup("");
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char *t = xasprintf("%s%s\n%s", all, bad[i], i == ARRAY_SIZE(bad) / 2 ? good : "");
    free(all);
    all = t;
  }
  assert_string_equal(lookup(all, GUEST_MAC, NOW), "");
  assert_string_equal(lookup(all, "52:54:00:aa:bb:04", NOW), "192.168.64.81");
  assert_int_equal(count(all), 1);
  free(all);
}

static void test_blanks(void **state)
{
  /* fscanf-style reading in dnsmasq tolerates any run of blanks. */
  const char *text = "  " FAR "\t" GUEST_MAC "  \t192.168.64.90 \t host\t*\t \n";
  assert_string_equal(lookup(text, GUEST_MAC, NOW), "192.168.64.90");
}

static void test_ipv6_and_duid(void **state)
{
  /* A dual-stack dnsmasq's file: IPv4 leases, the server DUID, IPv6 leases
   * (IAID, address, hostname, client DUID). */
  const char *text =
      FAR " " GUEST_MAC " 192.168.64.24 tartguest 01:" GUEST_MAC "\n"
          "duid 00:01:00:01:2c:5e:6a:3b:52:54:00:12:34:56\n" FAR
          " 1437354498 fd00:64::1c tartguest 00:04:5d:2c:a3:b1:44:c8:b2:5f:16:d6:bc:90:27:89:3e\n" FAR
          " T1437354498 fd00:64::1d * 00:04:5d:2c:a3:b1:44:c8:b2:5f:16:d6:bc:90:27:89:3e\n"
          /* Not something dnsmasq writes, but the address alone
           * must rule it out. */
          "1795774999 " GUEST_MAC " fd00:64::1e tartguest *\n";
  assert_string_equal(lookup(text, GUEST_MAC, NOW), "192.168.64.24");
  assert_int_equal(count(text), 1);

  const char *only_v6 =
      "duid 00:01:00:01:2c:5e:6a:3b:52:54:00:12:34:56\n" FAR " 1437354498 fd00:64::1c * *\n";
  assert_string_equal(lookup(only_v6, GUEST_MAC, NOW), "");
  assert_int_equal(count(only_v6), 0);
}

static void test_crlf_and_last_line(void **state)
{
  const char *crlf =
      FAR " 52:54:00:aa:bb:04 192.168.64.100 * *\r\n" FAR " " GUEST_MAC " 192.168.64.101 * *\r\n";
  assert_string_equal(lookup(crlf, GUEST_MAC, NOW), "192.168.64.101");
  assert_string_equal(lookup(crlf, "52:54:00:aa:bb:04", NOW), "192.168.64.100");
  assert_int_equal(count(crlf), 2);

  /* No newline at the end, with and without a CR. */
  const char *last = FAR " 52:54:00:aa:bb:04 192.168.64.100 * *\n" FAR " " GUEST_MAC " 192.168.64.102 * *";
  assert_string_equal(lookup(last, GUEST_MAC, NOW), "192.168.64.102");
  assert_int_equal(count(last), 2);
  const char *last_cr = FAR " " GUEST_MAC " 192.168.64.103 * *\r";
  assert_string_equal(lookup(last_cr, GUEST_MAC, NOW), "192.168.64.103");
}

static void test_nul(void **state)
{
  char out[INET_ADDRSTRLEN];
  /* A NUL spoils its line only: a string-based parser would stop at it. */
  static const char a[] = FAR " 52:54:00:aa:bb:04 192.168.64.110 * *\n"
                              "garbage\0garbage\n" FAR " " GUEST_MAC " 192.168.64.111 * *\n";
  assert_int_equal(lookup_n(a, sizeof(a) - 1, GUEST_MAC, NOW, out), 1);
  assert_string_equal(out, "192.168.64.111");
  assert_int_equal(count_n(a, sizeof(a) - 1), 2);

  /* NUL right after an address, which would otherwise end it early. */
  static const char b[] =
      FAR " " GUEST_MAC " 192.168.64.1\0"
          "2 * *\n" FAR " " GUEST_MAC "\0 192.168.64.113 * *\n" FAR " " GUEST_MAC " 192.168.64.114 * *\0\n";
  assert_int_equal(lookup_n(b, sizeof(b) - 1, GUEST_MAC, NOW, out), 0);
  assert_int_equal(count_n(b, sizeof(b) - 1), 0);

  /* A run of zeros, as a crash may leave in a file. */
  char c[200] = FAR " " GUEST_MAC " 192.168.64.115 * *\n";
  assert_int_equal(lookup_n(c, sizeof(c), GUEST_MAC, NOW, out), 1);
  assert_string_equal(out, "192.168.64.115");
  assert_int_equal(count_n(c, sizeof(c)), 1);
}

static void test_empty(void **state)
{
  char out[INET_ADDRSTRLEN];
  struct mac_addr m;
  struct in_addr ip;
  struct dhcp_lease *v = (struct dhcp_lease *)&ip;
  size_t n = 99;

  assert_int_equal(mac_parse(GUEST_MAC, &m), 0);
  assert_int_equal(leases_lookup(NULL, 0, &m, NOW, &ip), 0);
  assert_int_equal(leases_parse(NULL, 0, &v, &n), 0);
  assert_null(v);
  assert_int_equal(n, 0);
  assert_int_equal(lookup_n("", 0, GUEST_MAC, NOW, out), 0);
  assert_int_equal(count_n("", 0), 0);
  assert_string_equal(lookup("\n\n\r\n", GUEST_MAC, NOW), "");
  assert_string_equal(lookup(" \t \n", GUEST_MAC, NOW), "");
  assert_int_equal(count("\n"), 0);
}

static void test_parse_fields(void **state)
{
  const char *text = FAR " 52:54:00:aa:bb:04 192.168.64.120 a *\n"
                         "bad line\n"
                         "1000 EE:A7:85:9:92:39 10.0.0.1 b 01:ee:a7:85:09:92:39\n"
                         "0 " GUEST_MAC " 255.255.255.255 c *";
  struct dhcp_lease *v;
  size_t n;
  assert_int_equal(leases_parse(text, strlen(text), &v, &n), 0);
  assert_int_equal(n, 3);

  const struct mac_addr m0 = {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x04}};
  const struct mac_addr m1 = {{0xee, 0xa7, 0x85, 0x09, 0x92, 0x39}};
  const struct mac_addr m2 = {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x03}};
  assert_int_equal(v[0].expiry, 1795774615);
  assert_true(mac_equal(&v[0].mac, &m0));
  assert_int_equal(v[0].ip.s_addr, htonl(0xc0a84078));
  assert_int_equal(v[1].expiry, 1000);
  assert_true(mac_equal(&v[1].mac, &m1));
  assert_int_equal(v[1].ip.s_addr, htonl(0x0a000001));
  assert_int_equal(v[2].expiry, 0);
  assert_true(mac_equal(&v[2].mac, &m2));
  assert_int_equal(v[2].ip.s_addr, htonl(0xffffffff));
  free(v);
}

/* Cutting the file anywhere (a reader racing dnsmasq's rewrite) never
 * yields a wrong address: the address is the third of five fields, so a
 * line cut inside it has too few fields. */
static void test_truncated(void **state)
{
  const char *text = FAR " 52:54:00:aa:bb:04 192.168.64.130 other 01:52:54:00:aa:bb:04\n" FAR " " GUEST_MAC
                         " 192.168.64.131 tartguest 01:" GUEST_MAC "\n";
  size_t len = strlen(text);
  char out[INET_ADDRSTRLEN];
  for (size_t i = 0; i <= len; i++) {
    if (lookup_n(text, i, GUEST_MAC, NOW, out) == 1)
      assert_string_equal(out, "192.168.64.131");
    if (lookup_n(text, i, "52:54:00:aa:bb:04", NOW, out) == 1)
      assert_string_equal(out, "192.168.64.130");
    assert_true(count_n(text, i) <= 2);
  }
}

static void test_huge(void **state)
{
  /* 200000 leases of other guests, the wanted one last: about 12 MB. */
  enum { LINES = 200000 };
  size_t cap = (size_t)LINES * 80, len = 0;
  char *text = xmalloc(cap);
  for (unsigned i = 0; i < LINES; i++)
    len += (size_t)snprintf(text + len, cap - len, "%u 02:00:%02x:%02x:%02x:00 10.%u.%u.%u host%u *\n",
                            1795774615u + i, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, (i >> 16) & 0xff,
                            (i >> 8) & 0xff, i & 0xff, i);
  len += (size_t)snprintf(text + len, cap - len, "1795774615 " GUEST_MAC " 192.168.64.140 tartguest *");
  assert_true(len < cap);

  char out[INET_ADDRSTRLEN];
  assert_int_equal(lookup_n(text, len, GUEST_MAC, NOW, out), 1);
  assert_string_equal(out, "192.168.64.140");
  assert_int_equal(lookup_n(text, len, "02:00:01:86:9f:00", NOW, out), 1); /* i = 99999 */
  assert_string_equal(out, "10.1.134.159");
  assert_int_equal(lookup_n(text, len, "52:54:00:aa:bb:04", NOW, out), 0);
  assert_int_equal(count_n(text, len), LINES + 1);
  free(text);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_latest_expiry_wins),
      cmocka_unit_test(test_infinite),
      cmocka_unit_test(test_mac_forms),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_blanks),
      cmocka_unit_test(test_ipv6_and_duid),
      cmocka_unit_test(test_crlf_and_last_line),
      cmocka_unit_test(test_nul),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_parse_fields),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_huge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
