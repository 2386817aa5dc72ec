/* Tests of src/net/firewall.c: the text of the generated nft scripts, the
 * order of the softnet decision list against fw_decide, the flag parsers,
 * and, in a private network namespace, that nft loads and removes the rules
 * as intended. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/firewall.h"
#include "util/util.h"

static struct in_addr in4(const char *s)
{
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1)
    fail_msg("bad address in test: %s", s);
  return a;
}

/* Fail unless the needles occur in s in this order (NULL-terminated). */
static void assert_in_order_(const char *s, const char *const needles[])
{
  const char *p = s;
  for (size_t i = 0; needles[i] != NULL; i++) {
    const char *q = strstr(p, needles[i]);
    if (q == NULL) {
      if (strstr(s, needles[i]) != NULL)
        fail_msg("\"%s\" out of order in:\n%s", needles[i], s);
      fail_msg("\"%s\" missing in:\n%s", needles[i], s);
    }
    p = q + strlen(needles[i]);
  }
}
#define assert_in_order(s, ...) assert_in_order_((s), (const char *const[]){__VA_ARGS__, NULL})

static size_t count_of(const char *s, const char *needle)
{
  size_t n = 0;
  for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* The rules of one chain of one table of a script: the text between
 * "chain <chain> {" and its closing brace.  NULL if absent. */
static char *chain_body(const char *script, const char *table, const char *chain)
{
  _cleanup_free_ char *thead = xasprintf("%s {\n", table);
  const char *t = strstr(script, thead);
  if (t == NULL)
    return NULL;
  const char *tend = strstr(t, "\n}\n");
  _cleanup_free_ char *chead = xasprintf("  chain %s {\n", chain);
  const char *c = strstr(t, chead);
  if (c == NULL || (tend != NULL && c > tend))
    return NULL;
  c += strlen(chead);
  const char *end = strstr(c, "  }\n");
  assert_non_null(end);
  return strndup(c, (size_t)(end - c));
}

struct rule {
  uint32_t net; /* host byte order */
  unsigned prefix;
  bool accept;
};

/* The "ip daddr <net>/<prefix> accept|drop" rules of a chain body, in order. */
static size_t parse_decisions(const char *body, struct rule *r, size_t max)
{
  size_t n = 0;
  for (const char *line = body; *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
    char addr[16], verdict[8];
    unsigned prefix;
    if (sscanf(line, " ip daddr %15[0-9.]/%u %7s", addr, &prefix, verdict) != 3)
      continue;
    assert_true(n < max);
    r[n].net = ntohl(in4(addr).s_addr);
    r[n].prefix = prefix;
    assert_true(strcmp(verdict, "accept") == 0 || strcmp(verdict, "drop") == 0);
    r[n].accept = strcmp(verdict, "accept") == 0;
    n++;
  }
  return n;
}

static uint32_t mask_of(unsigned prefix)
{
  return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* What nftables does with the rules: the first match decides; no match
 * falls through to the chain's final drop. */
static bool first_match(const struct rule *r, size_t n, uint32_t a)
{
  for (size_t i = 0; i < n; i++)
    if ((a & mask_of(r[i].prefix)) == r[i].net)
      return r[i].accept;
  return false;
}

static struct fw_vm base_vm(void)
{
  struct fw_vm v = {
      .tap = "tart12",
      .bridge = "tart0",
      .mac = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}},
      .gateway = in4("192.168.64.1"),
      .prefix = 24,
      .have_ip = true,
      .ip = in4("192.168.64.5"),
      .mode = FW_SOFTNET,
  };
  return v;
}

/* ---- names ------------------------------------------------------------ */

static void test_ifname_valid(void **state)
{
  (void)state;
  assert_true(fw_ifname_valid("tart0"));
  assert_true(fw_ifname_valid("br-lan_1.2"));
  assert_true(fw_ifname_valid("abcdefghijklmno")); /* 15 */
  assert_false(fw_ifname_valid("abcdefghijklmnop"));
  assert_false(fw_ifname_valid(""));
  assert_false(fw_ifname_valid(NULL));
  assert_false(fw_ifname_valid("a\"b"));
  assert_false(fw_ifname_valid("a b"));
  assert_false(fw_ifname_valid("a;b"));
  assert_false(fw_ifname_valid("a\nb"));
  assert_false(fw_ifname_valid("a/b"));
}

/* ---- NAT table -------------------------------------------------------- */

static void test_nat_script(void **state)
{
  (void)state;
  _cleanup_free_ char *s = fw_nat_script("tart0", in4("192.168.64.1"), 24);
  assert_non_null(s);
  /* Replace: create-if-missing, delete, define, in one batch. */
  assert_in_order(s, "table ip tart {}\n", "delete table ip tart\n", "table ip tart {\n",
                  "chain postrouting {", "type nat hook postrouting priority srcnat;",
                  "ip saddr 192.168.64.0/24 ip daddr != 192.168.64.0/24 masquerade", "chain forward {",
                  "type filter hook forward priority filter; policy accept;", "iifname \"tart0\" accept",
                  "oifname \"tart0\" ct state established,related accept",
                  "oifname \"tart0\" ct status dnat accept", "oifname \"tart0\" drop");
  assert_int_equal(count_of(s, "masquerade"), 1);
  assert_true(strncmp(s, "table ip tart {}\n", 17) == 0);

  /* The subnet is the gateway's, host bits cleared. */
  _cleanup_free_ char *s8 = fw_nat_script("br1", in4("10.1.2.3"), 8);
  assert_non_null(s8);
  assert_non_null(strstr(s8, "ip saddr 10.0.0.0/8 ip daddr != 10.0.0.0/8 masquerade"));
  assert_non_null(strstr(s8, "iifname \"br1\" accept"));
  _cleanup_free_ char *s30 = fw_nat_script("tart0", in4("172.16.5.6"), 30);
  assert_non_null(strstr(s30, "ip saddr 172.16.5.4/30 "));
  _cleanup_free_ char *s0 = fw_nat_script("tart0", in4("172.16.5.6"), 0);
  assert_non_null(strstr(s0, "ip saddr 0.0.0.0/0 "));
  _cleanup_free_ char *s32 = fw_nat_script("tart0", in4("172.16.5.6"), 32);
  assert_non_null(strstr(s32, "ip saddr 172.16.5.6/32 "));

  assert_null(fw_nat_script("tart0", in4("192.168.64.1"), 33));
  assert_null(fw_nat_script("bad\"name", in4("192.168.64.1"), 24));
  assert_null(fw_nat_script(NULL, in4("192.168.64.1"), 24));

  _cleanup_free_ char *d = fw_nat_delete_script();
  assert_string_equal(d, "delete table ip tart\n");
}

/* ---- per-VM tables ---------------------------------------------------- */

static void test_vm_script_without_ip(void **state)
{
  (void)state;
  struct fw_vm v = base_vm();
  v.have_ip = false;
  const struct fw_expose ex[] = {{8080, 80}};
  v.expose = ex;
  v.n_expose = 1;
  _cleanup_free_ char *s = fw_vm_script(&v);
  assert_non_null(s);

  /* Every family is replaced, even the ones not defined now, so that the
   * tables of a previous state disappear. */
  assert_in_order(s, "table bridge tart_tart12 {}\ndelete table bridge tart_tart12\n",
                  "table inet tart_tart12 {}\ndelete table inet tart_tart12\n",
                  "table ip tart_tart12 {}\ndelete table ip tart_tart12\n", "table bridge tart_tart12 {\n");
  assert_null(strstr(s, "table inet tart_tart12 {\n"));
  assert_null(strstr(s, "table ip tart_tart12 {\n"));

  _cleanup_free_ char *fwd = chain_body(s, "table bridge tart_tart12", "forward");
  assert_non_null(fwd);
  assert_in_order(fwd, "hook forward", "iifname \"tart12\" drop", "oifname \"tart12\" drop");

  _cleanup_free_ char *in = chain_body(s, "table bridge tart_tart12", "input");
  assert_in_order(in, "type filter hook input", "iifname \"tart12\" jump from_vm");

  _cleanup_free_ char *vm = chain_body(s, "table bridge tart_tart12", "from_vm");
  assert_non_null(vm);
  assert_in_order(
      vm, "ether saddr != 52:54:00:12:34:56 drop\n",
      "arp saddr ether 52:54:00:12:34:56 arp saddr ip 0.0.0.0 accept\n", "ether type arp drop\n",
      "ip daddr { 255.255.255.255, 192.168.64.1 } ip protocol udp udp dport 67 @ih,224,48 0x525400123456 "
      "accept\n",
      "ether type ip drop\n", "ether type ip6 drop\n", "    drop\n");
  /* Before the lease ARP may name no address but 0.0.0.0. */
  assert_null(strstr(vm, "arp saddr ip 192."));
  assert_null(strstr(vm, "ip saddr"));
  assert_null(strstr(s, "dnat"));
}

static void test_vm_script_softnet(void **state)
{
  (void)state;
  struct fw_vm v = base_vm();
  const struct fw_cidr allow[] = {{in4("192.168.1.0"), 24}};
  const struct fw_cidr block[] = {{in4("8.8.8.0"), 24}};
  const struct fw_expose ex[] = {{8080, 80}, {2222, 22}};
  v.allow = allow;
  v.n_allow = 1;
  v.block = block;
  v.n_block = 1;
  v.expose = ex;
  v.n_expose = 2;
  _cleanup_free_ char *s = fw_vm_script(&v);
  assert_non_null(s);

  _cleanup_free_ char *vm = chain_body(s, "table bridge tart_tart12", "from_vm");
  assert_in_order(vm, "ether saddr != 52:54:00:12:34:56 drop\n",
                  "arp saddr ether 52:54:00:12:34:56 arp saddr ip 192.168.64.5 accept\n",
                  "ether type arp drop\n", "udp dport 67 @ih,224,48 0x525400123456 accept\n",
                  "ip saddr != 192.168.64.5 drop\n", "ether type ip accept\n", "ether type ip6 drop\n",
                  "    drop\n");

  _cleanup_free_ char *in = chain_body(s, "table inet tart_tart12", "input");
  assert_in_order(in, "type filter hook input priority filter;",
                  "iifname \"tart0\" ip saddr 192.168.64.5 jump from_vm_in");
  _cleanup_free_ char *vin = chain_body(s, "table inet tart_tart12", "from_vm_in");
  assert_in_order(vin, "ct state established,related accept",
                  "ip daddr { 255.255.255.255, 192.168.64.1 } udp dport 67 accept",
                  "ip daddr 192.168.64.1 udp dport 53 accept", "ip daddr 192.168.64.1 tcp dport 53 accept",
                  "ip daddr 8.8.8.0/24 drop", "ip daddr 192.168.1.0/24 accept", "    drop\n");
  /* The host is reached only where the user allowed it: no defaults here,
   * the host's globally routable addresses included. */
  assert_null(strstr(vin, "0.0.0.0/0"));
  assert_null(strstr(vin, "192.168.0.0/16"));

  _cleanup_free_ char *fwd = chain_body(s, "table inet tart_tart12", "forward");
  assert_in_order(fwd, "type filter hook forward priority filter - 1;",
                  "iifname \"tart0\" ip saddr 192.168.64.5 jump from_vm_fwd");
  _cleanup_free_ char *vfwd = chain_body(s, "table inet tart_tart12", "from_vm_fwd");
  /* No way out through the host's own DNAT rules. */
  assert_null(strstr(vfwd, "dnat"));
  assert_in_order(vfwd, "ct state established,related accept", "ip daddr 8.8.8.0/24 drop",
                  "ip daddr 192.168.1.0/24 accept", "ip daddr 0.0.0.0/0 accept", "    drop\n");
  /* The forward chain does not open DNS/DHCP to the world. */
  assert_null(strstr(vfwd, "dport"));

  /* Forward uses the whole decision list, input only the user's part. */
  struct rule r1[64], r2[64];
  size_t n1 = parse_decisions(vin, r1, 64), n2 = parse_decisions(vfwd, r2, 64);
  assert_int_equal(n1, 2);  /* one allow, one block */
  assert_int_equal(n2, 12); /* 9 default blocks, 0/0, one allow, one block */

  _cleanup_free_ char *pre = chain_body(s, "table ip tart_tart12", "prerouting");
  assert_in_order(pre, "type nat hook prerouting priority dstnat;",
                  "iifname != \"tart0\" fib daddr type local tcp dport 8080 dnat to 192.168.64.5:80",
                  "iifname != \"tart0\" fib daddr type local tcp dport 2222 dnat to 192.168.64.5:22");
  _cleanup_free_ char *out = chain_body(s, "table ip tart_tart12", "output");
  assert_in_order(out, "type nat hook output priority -100;",
                  "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat to 192.168.64.5:80",
                  "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 2222 dnat to 192.168.64.5:22");

  /* Without exposed ports there is no ip table (but it is still replaced). */
  v.n_expose = 0;
  _cleanup_free_ char *s2 = fw_vm_script(&v);
  assert_null(strstr(s2, "table ip tart_tart12 {\n"));
  assert_non_null(strstr(s2, "delete table ip tart_tart12\n"));
  assert_null(strstr(s2, "dnat to"));
}

static void test_vm_script_host(void **state)
{
  (void)state;
  struct fw_vm v = base_vm();
  v.mode = FW_HOST;
  const struct fw_cidr allow[] = {{in4("192.168.1.0"), 24}};
  const struct fw_expose ex[] = {{8080, 80}};
  v.allow = allow;
  v.n_allow = 1;
  v.expose = ex;
  v.n_expose = 1;
  _cleanup_free_ char *s = fw_vm_script(&v);
  assert_non_null(s);
  assert_non_null(strstr(s, "table bridge tart_tart12 {\n"));
  assert_null(strstr(s, "dnat to"));
  assert_null(strstr(s, "ip daddr 192.168.1.0/24"));

  _cleanup_free_ char *vin = chain_body(s, "table inet tart_tart12", "from_vm_in");
  assert_in_order(vin, "ct state established,related accept", "udp dport 67 accept", "udp dport 53 accept",
                  "tcp dport 53 accept", "    accept\n");
  assert_null(strstr(vin, "drop"));
  _cleanup_free_ char *vfwd = chain_body(s, "table inet tart_tart12", "from_vm_fwd");
  /* No way out through the host's own DNAT rules. */
  assert_null(strstr(vfwd, "dnat"));
  assert_in_order(vfwd, "ct state established,related accept", "    drop\n");
  assert_null(strstr(vfwd, "ip daddr"));

  assert_true(fw_decide(&v, in4("192.168.64.1")));
  assert_false(fw_decide(&v, in4("192.168.64.2")));
  assert_false(fw_decide(&v, in4("1.1.1.1")));
  assert_false(fw_decide(&v, in4("192.168.1.1")));
}

static void test_vm_script_invalid(void **state)
{
  (void)state;
  struct fw_vm v = base_vm();
  v.tap = "bad tap";
  assert_null(fw_vm_script(&v));
  v = base_vm();
  v.bridge = "";
  assert_null(fw_vm_script(&v));
  v = base_vm();
  v.prefix = 33;
  assert_null(fw_vm_script(&v));
  assert_null(fw_vm_script(NULL));
  assert_null(fw_vm_delete_script("x}y"));
}

static void test_vm_delete_script(void **state)
{
  (void)state;
  _cleanup_free_ char *s = fw_vm_delete_script("tart12");
  assert_string_equal(s, "table bridge tart_tart12 {}\ndelete table bridge tart_tart12\n"
                         "table inet tart_tart12 {}\ndelete table inet tart_tart12\n"
                         "table ip tart_tart12 {}\ndelete table ip tart_tart12\n");
}

/* ---- the decision list ------------------------------------------------ */

static void check_decide_matches_script(const struct fw_vm *v, uint32_t *addrs, size_t n_addrs)
{
  _cleanup_free_ char *s = fw_vm_script(v);
  assert_non_null(s);
  _cleanup_free_ char *body = chain_body(s, "table inet tart_tart12", "from_vm_fwd");
  assert_non_null(body);
  size_t max = 16 + v->n_allow + v->n_block;
  struct rule *r = xmalloc(max * sizeof(*r));
  size_t n = parse_decisions(body, r, max);
  /* Sorted by prefix descending, and no network twice. */
  for (size_t i = 1; i < n; i++) {
    assert_true(r[i - 1].prefix >= r[i].prefix);
    if (r[i - 1].prefix == r[i].prefix)
      assert_true(r[i - 1].net != r[i].net);
  }
  for (size_t i = 0; i < n_addrs; i++) {
    struct in_addr a = {.s_addr = htonl(addrs[i])};
    if (first_match(r, n, addrs[i]) != fw_decide(v, a)) {
      char t[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a, t, sizeof(t));
      fail_msg("%s: rules say %d, fw_decide %d\n%s", t, first_match(r, n, addrs[i]), fw_decide(v, a), body);
    }
  }
  free(r);
}

static void test_lpm_order(void **state)
{
  (void)state;
  struct fw_vm v = base_vm();

  /* Defaults. */
  assert_true(fw_decide(&v, in4("1.1.1.1")));
  assert_true(fw_decide(&v, in4("8.8.8.8")));
  static const char *const blocked[] = {"10.1.2.3",    "172.16.0.1",  "172.31.255.255", "192.168.1.1",
                                        "100.64.0.1",  "169.254.1.1", "127.0.0.1",      "0.1.2.3",
                                        "224.0.0.251", "239.1.1.1",   "240.0.0.1",      "255.255.255.255",
                                        "192.168.64.1"};
  for (size_t i = 0; i < ARRAY_SIZE(blocked); i++)
    if (fw_decide(&v, in4(blocked[i])))
      fail_msg("%s allowed by default", blocked[i]);
  assert_true(fw_decide(&v, in4("172.32.0.1")));
  assert_true(fw_decide(&v, in4("100.128.0.1")));
  assert_true(fw_decide(&v, in4("11.0.0.1")));

  /* A user allow of a longer prefix beats the default block. */
  const struct fw_cidr allow[] = {{in4("192.168.1.0"), 24}};
  v.allow = allow;
  v.n_allow = 1;
  assert_true(fw_decide(&v, in4("192.168.1.77")));
  assert_false(fw_decide(&v, in4("192.168.2.77")));
  _cleanup_free_ char *s1 = fw_vm_script(&v);
  assert_in_order(s1, "ip daddr 192.168.1.0/24 accept", "ip daddr 192.168.0.0/16 drop");

  /* A user block beats the default allow of everything. */
  const struct fw_cidr block[] = {{in4("8.8.8.0"), 24}};
  v.block = block;
  v.n_block = 1;
  assert_false(fw_decide(&v, in4("8.8.8.8")));
  assert_true(fw_decide(&v, in4("8.8.4.4")));
  _cleanup_free_ char *s2 = fw_vm_script(&v);
  assert_in_order(s2, "ip daddr 8.8.8.0/24 drop", "ip daddr 0.0.0.0/0 accept");

  /* Equal prefix: block wins, and the network is emitted once. */
  const struct fw_cidr both[] = {{in4("1.2.3.0"), 24}};
  v.allow = both;
  v.n_allow = 1;
  v.block = both;
  v.n_block = 1;
  assert_false(fw_decide(&v, in4("1.2.3.4")));
  _cleanup_free_ char *s3 = fw_vm_script(&v);
  assert_non_null(strstr(s3, "ip daddr 1.2.3.0/24 drop"));
  assert_null(strstr(s3, "ip daddr 1.2.3.0/24 accept"));

  /* Allowing a default-blocked network with the same prefix does nothing. */
  const struct fw_cidr ten[] = {{in4("10.0.0.0"), 8}};
  v.allow = ten;
  v.block = NULL;
  v.n_block = 0;
  assert_false(fw_decide(&v, in4("10.0.0.1")));
  /* Blocking everything: 0/0 block beats 0/0 allow, longer allows still win. */
  const struct fw_cidr all[] = {{in4("0.0.0.0"), 0}};
  const struct fw_cidr one[] = {{in4("1.1.1.1"), 32}};
  v.block = all;
  v.n_block = 1;
  v.allow = one;
  v.n_allow = 1;
  assert_false(fw_decide(&v, in4("8.8.8.8")));
  assert_true(fw_decide(&v, in4("1.1.1.1")));
  assert_false(fw_decide(&v, in4("1.1.1.2")));
  _cleanup_free_ char *s4 = fw_vm_script(&v);
  assert_in_order(s4, "ip daddr 1.1.1.1/32 accept", "ip daddr 0.0.0.0/0 drop");
  assert_null(strstr(s4, "ip daddr 0.0.0.0/0 accept"));
  uint32_t probe[] = {0x08080808, 0x01010101, 0x01010102, 0, 0xffffffff};
  check_decide_matches_script(&v, probe, ARRAY_SIZE(probe));

  /* Unmasked input networks are masked, as the parser would. */
  const struct fw_cidr unmasked[] = {{in4("192.168.7.9"), 24}};
  v.allow = unmasked;
  v.block = NULL;
  v.n_block = 0;
  assert_true(fw_decide(&v, in4("192.168.7.1")));
  _cleanup_free_ char *s5 = fw_vm_script(&v);
  assert_non_null(strstr(s5, "ip daddr 192.168.7.0/24 accept"));
}

static uint64_t rng_state = 0x1234567887654321ull;

static uint32_t rnd(void)
{
  /* splitmix64: deterministic, so that a failure can be reproduced. */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Networks near the defaults make the interesting ties and overlaps. */
static struct fw_cidr random_cidr(void)
{
  static const uint32_t bases[] = {0x0a000000, 0xac100000, 0xc0a80000, 0x64400000, 0xa9fe0000,
                                   0x7f000000, 0x00000000, 0xe0000000, 0xf0000000, 0x08080800};
  uint32_t a = (rnd() % 2) ? rnd() : bases[rnd() % ARRAY_SIZE(bases)] | (rnd() & 0x00ffffff);
  unsigned p = rnd() % 33;
  struct fw_cidr c = {.net = {.s_addr = htonl(a & mask_of(p))}, .prefix = p};
  return c;
}

static void test_decide_cross_check(void **state)
{
  (void)state;
  enum { CONFIGS = 200, ADDRS = 2000 };
  uint32_t *addrs = xmalloc((ADDRS + 4 * 64) * sizeof(*addrs));
  for (int c = 0; c < CONFIGS; c++) {
    struct fw_vm v = base_vm();
    size_t na = rnd() % 12, nb = rnd() % 12;
    struct fw_cidr *allow = xmalloc((na + 1) * sizeof(*allow));
    struct fw_cidr *block = xmalloc((nb + 1) * sizeof(*block));
    for (size_t i = 0; i < na; i++)
      allow[i] = random_cidr();
    for (size_t i = 0; i < nb; i++)
      block[i] = (rnd() % 4 == 0 && na > 0) ? allow[rnd() % na] : random_cidr();
    v.allow = allow;
    v.n_allow = na;
    v.block = block;
    v.n_block = nb;

    size_t n = 0;
    /* The edges of every user network and their neighbours, then random
     * addresses, half of them inside the default blocks. */
    for (size_t i = 0; i < na + nb; i++) {
      const struct fw_cidr *x = i < na ? &allow[i] : &block[i - na];
      uint32_t lo = ntohl(x->net.s_addr), hi = lo | ~mask_of(x->prefix);
      addrs[n++] = lo;
      addrs[n++] = hi;
      addrs[n++] = lo - 1;
      addrs[n++] = hi + 1;
    }
    for (int i = 0; i < ADDRS; i++)
      addrs[n++] = (i % 2) ? rnd() : (rnd() & 0xff00ffff) | ((uint32_t)(rnd() % 3) << 16);
    check_decide_matches_script(&v, addrs, n);
    free(allow);
    free(block);
  }
  free(addrs);
}

/* ---- flag parsers ----------------------------------------------------- */

static void assert_cidr(const struct fw_cidr *c, const char *net, unsigned prefix)
{
  char s[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &c->net, s, sizeof(s));
  assert_string_equal(s, net);
  assert_int_equal(c->prefix, prefix);
}

static void test_parse_cidrs(void **state)
{
  (void)state;
  struct fw_cidr *c = NULL;
  size_t n = 0;
  tart_error_t err = NULL;

  assert_int_equal(fw_parse_cidrs("10.0.0.0/8,1.2.3.4", &c, &n, &err), 0);
  assert_null(err);
  assert_int_equal(n, 2);
  assert_cidr(&c[0], "10.0.0.0", 8);
  assert_cidr(&c[1], "1.2.3.4", 32);

  /* Appends; blanks around items; host bits masked off without error. */
  assert_int_equal(fw_parse_cidrs(" 192.168.1.77/24 ,\t0.0.0.0/0,8.8.8.8/32 , 1.2.3.4/0", &c, &n, &err), 0);
  assert_int_equal(n, 6);
  assert_cidr(&c[0], "10.0.0.0", 8);
  assert_cidr(&c[2], "192.168.1.0", 24);
  assert_cidr(&c[3], "0.0.0.0", 0);
  assert_cidr(&c[4], "8.8.8.8", 32);
  assert_cidr(&c[5], "0.0.0.0", 0);
  assert_int_equal(fw_parse_cidrs("172.31.255.255/12", &c, &n, &err), 0);
  assert_cidr(&c[6], "172.16.0.0", 12);
  assert_int_equal(fw_parse_cidrs("255.255.255.255/31", &c, &n, &err), 0);
  assert_cidr(&c[7], "255.255.255.254", 31);
  assert_int_equal(n, 8);

  static const char *const bad[] = {
      "",           "   ",          ",",           "10.0.0.0/8,",  ",10.0.0.0/8",  "10.0.0.0/8,,1.2.3.4",
      "10.0.0.0/",  "10.0.0.0/33",  "10.0.0.0/-1", "10.0.0.0/+8",  "10.0.0.0/8x",  "10.0.0/8",
      "10.0.0.256", "10.1",         "0x0a000000",  "10.0.0.0 /8",  "10.0.0.0/ 8",  "a.b.c.d",
      "/8",         "10.0.0.0/8/8", "::1",         "10.0.0.0/100", "10.0.0.0/008", "1.2.3.4;5.6.7.8",
      "010.0.0.1",  "1.2.3.4\n",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct fw_cidr *before = c;
    if (fw_parse_cidrs(bad[i], &c, &n, &err) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_null(strchr(err->msg, '\n'));
    /* Nothing appended, nothing moved. */
    assert_int_equal(n, 8);
    assert_ptr_equal(c, before);
    tart_error_release(&err);
  }

  /* The message names the bad item. */
  assert_int_equal(fw_parse_cidrs("10.0.0.0/8, 1.2.3.999 ,8.8.8.8", &c, &n, &err), -1);
  assert_non_null(strstr(err->msg, "\"1.2.3.999\""));
  tart_error_release(&err);
  assert_int_equal(fw_parse_cidrs("10.0.0.0/8,,8.8.8.8", &c, &n, &err), -1);
  assert_non_null(strstr(err->msg, "empty"));
  assert_non_null(strstr(err->msg, "10.0.0.0/8,,8.8.8.8"));
  tart_error_release(&err);
  assert_int_equal(fw_parse_cidrs("1.2.3.4/33", &c, &n, &err), -1);
  assert_non_null(strstr(err->msg, "\"1.2.3.4/33\""));
  tart_error_release(&err);
  free(c);

  /* Starting from nothing. */
  c = NULL;
  n = 0;
  assert_int_equal(fw_parse_cidrs("1.2.3.4", &c, &n, &err), 0);
  assert_int_equal(n, 1);
  free(c);
  c = NULL;
  n = 0;
  assert_int_equal(fw_parse_cidrs("nope", &c, &n, &err), -1);
  assert_null(c);
  assert_int_equal(n, 0);
  tart_error_release(&err);
}

static void test_parse_expose(void **state)
{
  (void)state;
  struct fw_expose *e = NULL;
  size_t n = 0;
  tart_error_t err = NULL;

  assert_int_equal(fw_parse_expose("8080:80,2222:22", &e, &n, &err), 0);
  assert_null(err);
  assert_int_equal(n, 2);
  assert_int_equal(e[0].host_port, 8080);
  assert_int_equal(e[0].guest_port, 80);
  assert_int_equal(e[1].host_port, 2222);
  assert_int_equal(e[1].guest_port, 22);
  assert_int_equal(fw_parse_expose(" 1:65535 ,\t65535:1", &e, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_int_equal(e[2].host_port, 1);
  assert_int_equal(e[2].guest_port, 65535);
  assert_int_equal(e[3].host_port, 65535);
  assert_int_equal(e[3].guest_port, 1);
  /* The same guest port twice is fine. */
  assert_int_equal(fw_parse_expose("8081:80", &e, &n, &err), 0);
  assert_int_equal(n, 5);

  static const char *const bad[] = {
      "",
      "8080",
      "8080:",
      ":80",
      "0:80",
      "80:0",
      "65536:80",
      "80:65536",
      "8080:80,",
      ",8080:80",
      "a:b",
      "80:80:80",
      "-1:80",
      "+80:80",
      "80 :80",
      "80: 80",
      "100000:1",
      "9090:90,,9091:91",
      "1:2;3:4",
      /* Duplicate host port, within one value and across calls. */
      "9000:1,9000:2",
      "8080:8080",
      "2222:22",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct fw_expose *before = e;
    if (fw_parse_expose(bad[i], &e, &n, &err) != -1)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_USAGE);
    assert_int_equal(n, 5);
    assert_ptr_equal(e, before);
    tart_error_release(&err);
  }
  assert_int_equal(fw_parse_expose("9000:1,9000:2", &e, &n, &err), -1);
  assert_non_null(strstr(err->msg, "9000"));
  tart_error_release(&err);
  assert_int_equal(fw_parse_expose("9000:1,x:2", &e, &n, &err), -1);
  assert_non_null(strstr(err->msg, "\"x:2\""));
  tart_error_release(&err);
  free(e);
}

/* ---- nft in a private network namespace ------------------------------- */

static int tap_fd = -1;

/* Everything below changes the rule set; only ever in a namespace of our
 * own, never the host's. */
static bool enter_netns(void)
{
  static int state; /* 0: not tried, 1: inside, -1: impossible */
  if (state == 0) {
    state = -1;
    if (unshare(CLONE_NEWNET) == 0) {
      state = 1;
      /* The interfaces the rules name; nft does not need them for iifname,
       * but the rules are then loaded as they will be in practice. */
      int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      assert_true(s >= 0);
      if (ioctl(s, SIOCBRADDBR, "tart0") < 0)
        fail_msg("SIOCBRADDBR: %s", strerror(errno));
      tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
      if (tap_fd >= 0) {
        struct ifreq ifr = {0};
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tart12");
        if (ioctl(tap_fd, TUNSETIFF, &ifr) < 0)
          fail_msg("TUNSETIFF: %s", strerror(errno));
        struct ifreq br = {0};
        snprintf(br.ifr_name, sizeof(br.ifr_name), "tart0");
        br.ifr_ifindex = (int)if_nametoindex("tart12");
        if (ioctl(s, SIOCBRADDIF, &br) < 0)
          fail_msg("SIOCBRADDIF: %s", strerror(errno));
      }
      close(s);
    }
  }
  return state == 1;
}

static bool have_nft(void)
{
  return access("/usr/sbin/nft", X_OK) == 0 || system("command -v nft >/dev/null 2>&1") == 0;
}

static char *ruleset(void)
{
  FILE *p = popen("nft list ruleset 2>&1", "r");
  assert_non_null(p);
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0)
    fwrite(chunk, 1, got, m);
  fclose(m);
  assert_int_equal(pclose(p), 0);
  return buf;
}

static void apply_ok(const char *script, bool ignore_missing)
{
  tart_error_t err = NULL;
  assert_non_null(script);
  if (fw_apply(script, ignore_missing, &err) != 0)
    fail_msg("fw_apply: %s\n%s", err->msg, script);
  assert_null(err);
}

static bool taps_have(char **taps, size_t n, const char *tap)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(taps[i], tap) == 0)
      return true;
  return false;
}

static void test_nft(void **state)
{
  (void)state;
  if (!enter_netns())
    skip();
  if (!have_nft())
    skip();
  tart_error_t err = NULL;

  /* The namespace starts empty. */
  _cleanup_free_ char *empty = ruleset();
  assert_null(strstr(empty, "table"));
  char **taps = NULL;
  size_t ntaps = 99;
  assert_int_equal(fw_list_vm_tables(&taps, &ntaps, &err), 0);
  assert_int_equal(ntaps, 0);
  fw_taps_free(taps, ntaps);

  /* NAT, twice: the second replaces the first. */
  _cleanup_free_ char *nat = fw_nat_script("tart0", in4("192.168.64.1"), 24);
  apply_ok(nat, false);
  apply_ok(nat, false);
  _cleanup_free_ char *r1 = ruleset();
  assert_int_equal(count_of(r1, "table ip tart {"), 1);
  assert_int_equal(count_of(r1, "masquerade"), 1);
  assert_int_equal(count_of(r1, "oifname \"tart0\" drop"), 1);
  assert_in_order(r1, "ip saddr 192.168.64.0/24 ip daddr != 192.168.64.0/24 masquerade",
                  "iifname \"tart0\" accept", "oifname \"tart0\" ct state established,related accept",
                  "oifname \"tart0\" ct status dnat accept", "oifname \"tart0\" drop");

  /* A softnet VM before its lease is known: the bridge table only. */
  struct fw_vm v = base_vm();
  v.have_ip = false;
  _cleanup_free_ char *before = fw_vm_script(&v);
  apply_ok(before, false);
  _cleanup_free_ char *r2 = ruleset();
  assert_non_null(strstr(r2, "table bridge tart_tart12 {"));
  assert_null(strstr(r2, "table inet tart_tart12"));
  assert_null(strstr(r2, "table ip tart_tart12"));
  assert_non_null(strstr(r2, "ether saddr != 52:54:00:12:34:56 drop"));
  assert_non_null(strstr(r2, "ether type ip drop"));

  /* With the lease, allow/block lists and exposed ports; applied twice. */
  const struct fw_cidr allow[] = {{in4("192.168.1.0"), 24}};
  const struct fw_cidr block[] = {{in4("8.8.8.0"), 24}, {in4("9.9.9.9"), 32}};
  const struct fw_expose ex[] = {{8080, 80}, {2222, 22}};
  v.have_ip = true;
  v.allow = allow;
  v.n_allow = 1;
  v.block = block;
  v.n_block = 2;
  v.expose = ex;
  v.n_expose = 2;
  _cleanup_free_ char *after = fw_vm_script(&v);
  apply_ok(after, false);
  apply_ok(after, false);
  _cleanup_free_ char *r3 = ruleset();
  assert_int_equal(count_of(r3, "table bridge tart_tart12 {"), 1);
  assert_int_equal(count_of(r3, "table inet tart_tart12 {"), 1);
  assert_int_equal(count_of(r3, "table ip tart_tart12 {"), 1);
  assert_int_equal(count_of(r3, "jump from_vm_in"), 1);
  assert_int_equal(count_of(r3, "dnat to 192.168.64.5:80"), 2);
  assert_null(strstr(r3, "ether type ip drop"));
  assert_non_null(strstr(r3, "arp saddr ether 52:54:00:12:34:56 arp saddr ip 192.168.64.5 accept"));
  assert_non_null(strstr(r3, "ip saddr != 192.168.64.5 drop"));
  assert_in_order(r3, "chain from_vm_fwd {", "ct state established,related accept", "ip daddr 9.9.9.9 drop",
                  "ip daddr 8.8.8.0/24 drop", "ip daddr 192.168.1.0/24 accept",
                  "ip daddr 192.168.0.0/16 drop", "ip daddr 0.0.0.0/0 accept");
  assert_in_order(r3, "table ip tart_tart12 {", "chain prerouting {",
                  "iifname != \"tart0\" fib daddr type local tcp dport 8080 dnat to 192.168.64.5:80",
                  "chain output {", "tcp dport 2222 dnat to 192.168.64.5:22");
  /* The NAT table is untouched by the VM's. */
  assert_int_equal(count_of(r3, "masquerade"), 1);

  /* A second VM, host mode, on a tap that does not exist (yet). */
  struct fw_vm h = base_vm();
  h.tap = "tart13";
  h.mode = FW_HOST;
  h.ip = in4("192.168.64.6");
  h.mac.b[5] = 0x57;
  _cleanup_free_ char *hs = fw_vm_script(&h);
  apply_ok(hs, false);

  assert_int_equal(fw_list_vm_tables(&taps, &ntaps, &err), 0);
  assert_int_equal(ntaps, 2);
  assert_true(taps_have(taps, ntaps, "tart12"));
  assert_true(taps_have(taps, ntaps, "tart13"));
  fw_taps_free(taps, ntaps);

  /* Dropping the exposed ports removes the ip table. */
  v.n_expose = 0;
  _cleanup_free_ char *noexp = fw_vm_script(&v);
  apply_ok(noexp, false);
  _cleanup_free_ char *r4 = ruleset();
  assert_null(strstr(r4, "table ip tart_tart12"));
  assert_null(strstr(r4, "dnat to"));
  assert_non_null(strstr(r4, "table inet tart_tart12 {"));

  /* Deleting a VM's tables, twice (idempotent), leaves the other VM. */
  _cleanup_free_ char *del = fw_vm_delete_script("tart12");
  apply_ok(del, false);
  apply_ok(del, false);
  _cleanup_free_ char *r5 = ruleset();
  assert_null(strstr(r5, "tart_tart12"));
  assert_non_null(strstr(r5, "table inet tart_tart13 {"));
  assert_int_equal(fw_list_vm_tables(&taps, &ntaps, &err), 0);
  assert_int_equal(ntaps, 1);
  assert_string_equal(taps[0], "tart13");
  fw_taps_free(taps, ntaps);
  _cleanup_free_ char *del13 = fw_vm_delete_script("tart13");
  apply_ok(del13, false);

  /* The NAT delete: fails on a missing table unless told to ignore it. */
  _cleanup_free_ char *natdel = fw_nat_delete_script();
  apply_ok(natdel, false);
  _cleanup_free_ char *r6 = ruleset();
  assert_null(strstr(r6, "table"));
  apply_ok(natdel, true);
  assert_int_equal(fw_apply(natdel, false, &err), -1);
  assert_non_null(err);
  assert_true(strncmp(err->msg, "nft failed: ", 12) == 0);
  assert_non_null(strstr(err->msg, "No such file or directory"));
  assert_null(strchr(err->msg, '\n'));
  tart_error_release(&err);

  /* Any other failure is reported even with ignore_missing. */
  assert_int_equal(fw_apply("table ip tart { chain c { nonsense } }\n", true, &err), -1);
  assert_true(strncmp(err->msg, "nft failed: ", 12) == 0);
  assert_non_null(strstr(err->msg, "syntax error"));
  tart_error_release(&err);
  assert_int_equal(fw_apply(NULL, false, &err), -1);
  assert_non_null(err);
  tart_error_release(&err);
  _cleanup_free_ char *r7 = ruleset();
  assert_null(strstr(r7, "table"));
}

/* nft is looked up in PATH first, then in /usr/sbin. */
static void test_nft_path(void **state)
{
  (void)state;
  if (!enter_netns())
    skip();
  if (access("/usr/sbin/nft", X_OK) != 0)
    skip();
  tart_error_t err = NULL;
  const char *old = getenv("PATH");
  _cleanup_free_ char *saved = old ? xstrdup(old) : NULL;

  setenv("PATH", "/nonexistent", 1);
  char **taps = NULL;
  size_t n = 0;
  assert_int_equal(fw_list_vm_tables(&taps, &n, &err), 0);
  fw_taps_free(taps, n);

  /* A PATH entry wins over /usr/sbin: a fake nft that always fails. */
  char dir[] = "/tmp/test_firewall.XXXXXX";
  assert_non_null(mkdtemp(dir));
  _cleanup_free_ char *fake = xasprintf("%s/nft", dir);
  FILE *f = fopen(fake, "w");
  assert_non_null(f);
  fputs("#!/bin/sh\necho 'fake nft: first line' >&2\necho second >&2\nexit 3\n", f);
  fclose(f);
  assert_int_equal(chmod(fake, 0755), 0);
  _cleanup_free_ char *path = xasprintf("/nonexistent::%s", dir);
  setenv("PATH", path, 1);
  assert_int_equal(fw_apply("flush ruleset\n", false, &err), -1);
  assert_string_equal(err->msg, "nft failed: fake nft: first line");
  tart_error_release(&err);

  unlink(fake);
  rmdir(dir);
  if (saved)
    setenv("PATH", saved, 1);
  else
    unsetenv("PATH");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ifname_valid),
      cmocka_unit_test(test_nat_script),
      cmocka_unit_test(test_vm_script_without_ip),
      cmocka_unit_test(test_vm_script_softnet),
      cmocka_unit_test(test_vm_script_host),
      cmocka_unit_test(test_vm_script_invalid),
      cmocka_unit_test(test_vm_delete_script),
      cmocka_unit_test(test_lpm_order),
      cmocka_unit_test(test_decide_cross_check),
      cmocka_unit_test(test_parse_cidrs),
      cmocka_unit_test(test_parse_expose),
      cmocka_unit_test(test_nft),
      cmocka_unit_test(test_nft_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
