#include "net/firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"
#include "util/process.h"
#include "util/util.h"

/* ---- helpers ---------------------------------------------------------- */

bool fw_ifname_valid(const char *name)
{
  if (name == NULL)
    return false;
  size_t n = strlen(name);
  if (n == 0 || n > 15)
    return false;
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  }
  return true;
}

static uint32_t prefix_mask(unsigned prefix)
{
  /* A shift by 32 is undefined, hence the special case. */
  return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static void ip_str(uint32_t host_order, char out[INET_ADDRSTRLEN])
{
  struct in_addr a = {.s_addr = htonl(host_order)};
  inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

/* open_memstream fails only without memory; treat it like xmalloc does. */
static FILE *script_open(char **buf, size_t *len)
{
  FILE *f = open_memstream(buf, len);
  if (f == NULL)
    abort();
  return f;
}

/* The buffer is only complete (and *buf only set) after fclose. */
static char *script_close(FILE *f, char **buf)
{
  if (fclose(f) != 0)
    abort();
  return *buf;
}

/* Creating the table first makes the delete succeed when it is missing, so
 * the whole replace is one atomic batch whatever was there before. */
static void emit_replace(FILE *f, const char *family, const char *prefix, const char *name)
{
  fprintf(f, "table %s %s%s {}\ndelete table %s %s%s\n", family, prefix, name, family, prefix, name);
}

/* ---- NAT table -------------------------------------------------------- */

char *fw_nat_script(const char *bridge, struct in_addr gateway, unsigned prefix)
{
  if (!fw_ifname_valid(bridge) || prefix > 32)
    return NULL;
  char net[INET_ADDRSTRLEN];
  ip_str(ntohl(gateway.s_addr) & prefix_mask(prefix), net);

  char *buf = NULL;
  size_t len = 0;
  FILE *f = script_open(&buf, &len);
  emit_replace(f, "ip", "", "tart");
  fprintf(f,
          "table ip tart {\n"
          "  chain postrouting {\n"
          "    type nat hook postrouting priority srcnat; policy accept;\n"
          "    ip saddr %s/%u ip daddr != %s/%u masquerade\n"
          "  }\n"
          "  chain forward {\n"
          "    type filter hook forward priority filter; policy accept;\n"
          "    iifname \"%s\" accept\n"
          "    oifname \"%s\" ct state established,related accept\n"
          /* Exposed ports: the per-VM ip table DNATs them to the VM. */
          "    oifname \"%s\" ct status dnat accept\n"
          "    oifname \"%s\" drop\n"
          "  }\n"
          "}\n",
          net, prefix, net, prefix, bridge, bridge, bridge, bridge);
  return script_close(f, &buf);
}

char *fw_nat_delete_script(void)
{
  return xstrdup("delete table ip tart\n");
}

/* ---- the softnet decision list ---------------------------------------- */

struct decision {
  uint32_t net; /* host byte order, masked */
  unsigned prefix;
  bool block;
  bool user; /* from --net-softnet-allow/-block, not a default */
};

/* Not globally routable (RFC 1918, CGNAT, link-local, loopback, "this
 * network", multicast, reserved). */
static const struct {
  uint32_t net;
  unsigned prefix;
} default_block[] = {
    {0x0a000000, 8}, {0xac100000, 12}, {0xc0a80000, 16}, {0x64400000, 10}, {0xa9fe0000, 16},
    {0x7f000000, 8}, {0x00000000, 8},  {0xe0000000, 4},  {0xf0000000, 4},
};

static size_t decisions_fill(const struct fw_vm *v, struct decision *d)
{
  size_t n = 0;
  for (size_t i = 0; i < ARRAY_SIZE(default_block); i++)
    d[n++] = (struct decision){default_block[i].net, default_block[i].prefix, true, false};
  d[n++] = (struct decision){0, 0, false, false};
  for (size_t i = 0; i < v->n_allow; i++) {
    unsigned p = v->allow[i].prefix > 32 ? 32 : v->allow[i].prefix;
    d[n++] = (struct decision){ntohl(v->allow[i].net.s_addr) & prefix_mask(p), p, false, true};
  }
  for (size_t i = 0; i < v->n_block; i++) {
    unsigned p = v->block[i].prefix > 32 ? 32 : v->block[i].prefix;
    d[n++] = (struct decision){ntohl(v->block[i].net.s_addr) & prefix_mask(p), p, true, true};
  }
  return n;
}

static int decision_cmp(const void *pa, const void *pb)
{
  const struct decision *a = pa, *b = pb;
  if (a->prefix != b->prefix)
    return a->prefix > b->prefix ? -1 : 1;
  if (a->block != b->block)
    return a->block ? -1 : 1;
  if (a->net != b->net)
    return a->net < b->net ? -1 : 1;
  return 0;
}

/* The decisions in rule order: nftables stops at the first match, so longest
 * prefix first (block first on a tie) makes the first match the longest
 * prefix match.  A network listed twice is emitted once, by its first (so
 * winning) entry. */
static struct decision *decisions_sorted(const struct fw_vm *v, size_t *n)
{
  struct decision *d = xmalloc((ARRAY_SIZE(default_block) + 1 + v->n_allow + v->n_block) * sizeof(*d));
  size_t total = decisions_fill(v, d);
  qsort(d, total, sizeof(*d), decision_cmp);
  size_t out = 0;
  for (size_t i = 0; i < total; i++) {
    if (out > 0 && d[out - 1].net == d[i].net && d[out - 1].prefix == d[i].prefix)
      continue;
    d[out++] = d[i];
  }
  *n = out;
  return d;
}

/* Written independently of the sorted list so that the tests can check one
 * against the other. */
bool fw_decide(const struct fw_vm *v, struct in_addr dst)
{
  if (v->mode == FW_HOST)
    return dst.s_addr == v->gateway.s_addr;

  uint32_t a = ntohl(dst.s_addr);
  struct decision *d = xmalloc((ARRAY_SIZE(default_block) + 1 + v->n_allow + v->n_block) * sizeof(*d));
  size_t n = decisions_fill(v, d);
  int best_prefix = -1;
  bool best_block = true;
  for (size_t i = 0; i < n; i++) {
    if ((a & prefix_mask(d[i].prefix)) != d[i].net)
      continue;
    int p = (int)d[i].prefix;
    if (p > best_prefix || (p == best_prefix && d[i].block)) {
      best_prefix = p;
      best_block = d[i].block;
    }
  }
  free(d);
  return !best_block;
}

static void emit_decisions(FILE *f, const struct decision *d, size_t n, bool only_user)
{
  for (size_t i = 0; i < n; i++) {
    if (only_user && !d[i].user)
      continue;
    char s[INET_ADDRSTRLEN];
    ip_str(d[i].net, s);
    fprintf(f, "    ip daddr %s/%u %s\n", s, d[i].prefix, d[i].block ? "drop" : "accept");
  }
}

/* ---- per-VM tables ---------------------------------------------------- */

#define VM_TABLE "tart_"

static void emit_bridge_table(FILE *f, const struct fw_vm *v, const char *gw, const char *ip)
{
  char mac[18];
  mac_format(&v->mac, mac);
  fprintf(f,
          "table bridge " VM_TABLE "%s {\n"
          /* No layer-2 path between this VM and any other bridge port. */
          "  chain forward {\n"
          "    type filter hook forward priority filter; policy accept;\n"
          "    iifname \"%s\" drop\n"
          "    oifname \"%s\" drop\n"
          "  }\n"
          "  chain input {\n"
          "    type filter hook input priority filter; policy accept;\n"
          "    iifname \"%s\" jump from_vm\n"
          "  }\n"
          "  chain from_vm {\n"
          "    ether saddr != %s drop\n",
          v->tap, v->tap, v->tap, v->tap, mac);
  /* ARP must name our MAC and, until the lease is known, no address at all
   * (probes, 0.0.0.0): a guest that never asks for a lease must not be able
   * to claim another VM's address in the host's neighbour table. */
  if (v->have_ip)
    fprintf(f, "    arp saddr ether %s arp saddr ip %s accept\n", mac, ip);
  else
    fprintf(f, "    arp saddr ether %s arp saddr ip 0.0.0.0 accept\n", mac);
  fprintf(f, "    ether type arp drop\n");
  /* DHCP before the source check: a client in INIT sends from 0.0.0.0 and
   * one renewing a lease from a previous run may use an old address.  The
   * destination is limited to what a DHCP client talks to, so that the rule
   * does not let spoofed UDP out, and the client hardware address in the
   * BOOTP header (chaddr, 28 bytes into the payload) must be our MAC, so the
   * guest cannot release or take leases in another VM's name (dnsmasq runs
   * with --dhcp-ignore-clid: it knows clients by that address only). */
  char chaddr[13];
  for (int i = 0; i < 6; i++)
    snprintf(chaddr + 2 * i, 3, "%02x", v->mac.b[i]);
  fprintf(f, "    ip daddr { 255.255.255.255, %s } ip protocol udp udp dport 67 @ih,224,48 0x%s accept\n", gw,
          chaddr);
  if (v->have_ip)
    fprintf(f,
            "    ip saddr != %s drop\n"
            "    ether type ip accept\n",
            ip);
  else
    fprintf(f, "    ether type ip drop\n");
  fprintf(f, "    ether type ip6 drop\n"
             "    drop\n"
             "  }\n"
             "}\n");
}

static void emit_inet_table(FILE *f, const struct fw_vm *v, const char *gw, const char *ip,
                            const struct decision *d, size_t nd)
{
  /* The bridge table guarantees that packets with this source address coming
   * in on the bridge are this VM's. */
  fprintf(f,
          "table inet " VM_TABLE "%s {\n"
          "  chain input {\n"
          "    type filter hook input priority filter; policy accept;\n"
          "    iifname \"%s\" ip saddr %s jump from_vm_in\n"
          "  }\n"
          "  chain from_vm_in {\n"
          "    ct state established,related accept\n"
          "    ip daddr { 255.255.255.255, %s } udp dport 67 accept\n"
          "    ip daddr %s udp dport 53 accept\n"
          "    ip daddr %s tcp dport 53 accept\n",
          v->tap, v->bridge, ip, gw, gw, gw);
  /* The host itself, on any of its addresses (globally routable ones
   * included), is off limits to a softnet guest unless the user allowed
   * that address: only the user's entries apply here. */
  if (v->mode == FW_HOST) {
    fprintf(f, "    accept\n");
  } else {
    emit_decisions(f, d, nd, true);
    fprintf(f, "    drop\n");
  }
  /* Priority filter - 1: before the NAT table's forward chain, which accepts
   * everything from the bridge. */
  fprintf(f,
          "  }\n"
          "  chain forward {\n"
          "    type filter hook forward priority filter - 1; policy accept;\n"
          "    iifname \"%s\" ip saddr %s jump from_vm_fwd\n"
          "  }\n"
          "  chain from_vm_fwd {\n"
          /* No "ct status dnat accept": that would let the guest through
           * any DNAT rule of the host (docker -p ports, say) to what it
           * may not reach directly.  Replies for exposed ports are
           * established connections. */
          "    ct state established,related accept\n",
          v->bridge, ip);
  if (v->mode == FW_SOFTNET)
    emit_decisions(f, d, nd, false);
  fprintf(f, "    drop\n"
             "  }\n"
             "}\n");
}

static void emit_expose_table(FILE *f, const struct fw_vm *v, const char *ip)
{
  fprintf(f,
          "table ip " VM_TABLE "%s {\n"
          "  chain prerouting {\n"
          "    type nat hook prerouting priority dstnat; policy accept;\n",
          v->tap);
  /* Only connections to the host itself: a router host must not DNAT
   * traffic that merely passes through it. */
  for (size_t i = 0; i < v->n_expose; i++)
    fprintf(f, "    iifname != \"%s\" fib daddr type local tcp dport %u dnat to %s:%u\n", v->bridge,
            v->expose[i].host_port, ip, v->expose[i].guest_port);
  /* nft 1.0.6 knows "dstnat" only for prerouting; -100 is its value.
   * Loopback destinations are left alone: with a 127.0.0.0/8 source the
   * DNAT'ed packet could not be routed to the bridge. */
  fprintf(f, "  }\n"
             "  chain output {\n"
             "    type nat hook output priority -100; policy accept;\n");
  for (size_t i = 0; i < v->n_expose; i++)
    fprintf(f, "    ip daddr != 127.0.0.0/8 fib daddr type local tcp dport %u dnat to %s:%u\n",
            v->expose[i].host_port, ip, v->expose[i].guest_port);
  fprintf(f, "  }\n"
             "}\n");
}

char *fw_vm_script(const struct fw_vm *v)
{
  if (v == NULL || !fw_ifname_valid(v->tap) || !fw_ifname_valid(v->bridge) || v->prefix > 32)
    return NULL;
  char gw[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
  ip_str(ntohl(v->gateway.s_addr), gw);
  ip_str(ntohl(v->ip.s_addr), ip);

  size_t nd = 0;
  struct decision *d = decisions_sorted(v, &nd);

  char *buf = NULL;
  size_t len = 0;
  FILE *f = script_open(&buf, &len);
  emit_replace(f, "bridge", VM_TABLE, v->tap);
  emit_replace(f, "inet", VM_TABLE, v->tap);
  emit_replace(f, "ip", VM_TABLE, v->tap);
  emit_bridge_table(f, v, gw, ip);
  if (v->have_ip)
    emit_inet_table(f, v, gw, ip, d, nd);
  if (v->have_ip && v->mode == FW_SOFTNET && v->n_expose > 0)
    emit_expose_table(f, v, ip);
  free(d);
  return script_close(f, &buf);
}

char *fw_vm_delete_script(const char *tap)
{
  if (!fw_ifname_valid(tap))
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = script_open(&buf, &len);
  emit_replace(f, "bridge", VM_TABLE, tap);
  emit_replace(f, "inet", VM_TABLE, tap);
  emit_replace(f, "ip", VM_TABLE, tap);
  return script_close(f, &buf);
}

/* ---- flag parsers ----------------------------------------------------- */

static bool is_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* The next comma-separated item of *s without surrounding blanks, as
 * [*start, *start + *len); advances *s past the comma and sets *more if one
 * was there. */
static void next_item(const char **s, const char **start, size_t *len, bool *more)
{
  const char *p = *s;
  const char *end = p + strcspn(p, ",");
  *more = *end == ',';
  *s = *more ? end + 1 : end;
  while (p < end && is_blank(*p))
    p++;
  while (end > p && is_blank(end[-1]))
    end--;
  *start = p;
  *len = (size_t)(end - p);
}

static void quote_item(const char *p, size_t len, char *out, size_t n)
{
  char item[128];
  snprintf(item, sizeof(item), "%.*s", (int)(len > 120 ? 120 : len), p);
  str_quote(item, 60, out, n);
}

/* Up to max_digits decimal digits, the whole of [p, p + len). */
static bool parse_dec(const char *p, size_t len, size_t max_digits, unsigned long *out)
{
  if (len == 0 || len > max_digits)
    return false;
  unsigned long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    v = v * 10 + (unsigned long)(p[i] - '0');
  }
  *out = v;
  return true;
}

static bool parse_cidr(const char *p, size_t len, struct fw_cidr *out)
{
  char addr[INET_ADDRSTRLEN];
  const char *slash = memchr(p, '/', len);
  size_t alen = slash ? (size_t)(slash - p) : len;
  if (alen == 0 || alen >= sizeof(addr))
    return false;
  memcpy(addr, p, alen);
  addr[alen] = '\0';
  struct in_addr a;
  /* inet_pton, unlike inet_aton, takes only the dotted quad (no "10.1",
   * hex or octal). */
  if (inet_pton(AF_INET, addr, &a) != 1)
    return false;
  unsigned long prefix = 32;
  if (slash != NULL && (!parse_dec(slash + 1, len - alen - 1, 2, &prefix) || prefix > 32))
    return false;
  out->prefix = (unsigned)prefix;
  out->net.s_addr = htonl(ntohl(a.s_addr) & prefix_mask(out->prefix));
  return true;
}

int fw_parse_cidrs(const char *s, struct fw_cidr **out, size_t *n, tart_error_t *err)
{
  if (s == NULL)
    s = "";
  struct fw_cidr *items = NULL;
  size_t count = 0;
  const char *cur = s;
  bool more = true;
  while (more) {
    const char *p;
    size_t len;
    next_item(&cur, &p, &len, &more);
    char q[160];
    if (len == 0) {
      free(items);
      str_quote(s, 60, q, sizeof(q));
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "empty item in network list %s", q);
    }
    struct fw_cidr c;
    if (!parse_cidr(p, len, &c)) {
      free(items);
      quote_item(p, len, q, sizeof(q));
      return tart_error_exit(err, TART_EXIT_USAGE, 0,
                             "invalid network %s: expected an IPv4 address or address/prefix (0-32)", q);
    }
    items = xrealloc(items, (count + 1) * sizeof(*items));
    items[count++] = c;
  }
  *out = xrealloc(*out, (*n + count) * sizeof(**out));
  memcpy(*out + *n, items, count * sizeof(*items));
  *n += count;
  free(items);
  return 0;
}

static bool parse_port(const char *p, size_t len, uint16_t *out)
{
  unsigned long v;
  if (!parse_dec(p, len, 5, &v) || v < 1 || v > 65535)
    return false;
  *out = (uint16_t)v;
  return true;
}

int fw_parse_expose(const char *s, struct fw_expose **out, size_t *n, tart_error_t *err)
{
  if (s == NULL)
    s = "";
  struct fw_expose *items = NULL;
  size_t count = 0;
  const char *cur = s;
  bool more = true;
  while (more) {
    const char *p;
    size_t len;
    next_item(&cur, &p, &len, &more);
    char q[160];
    if (len == 0) {
      free(items);
      str_quote(s, 60, q, sizeof(q));
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "empty item in port list %s", q);
    }
    const char *colon = memchr(p, ':', len);
    struct fw_expose e;
    if (colon == NULL || !parse_port(p, (size_t)(colon - p), &e.host_port) ||
        !parse_port(colon + 1, len - (size_t)(colon - p) - 1, &e.guest_port)) {
      free(items);
      quote_item(p, len, q, sizeof(q));
      return tart_error_exit(err, TART_EXIT_USAGE, 0,
                             "invalid port forwarding %s: expected host_port:guest_port (1-65535)", q);
    }
    bool dup = false;
    for (size_t i = 0; i < *n && !dup; i++)
      dup = (*out)[i].host_port == e.host_port;
    for (size_t i = 0; i < count && !dup; i++)
      dup = items[i].host_port == e.host_port;
    if (dup) {
      free(items);
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "host port %u is forwarded more than once",
                             e.host_port);
    }
    items = xrealloc(items, (count + 1) * sizeof(*items));
    items[count++] = e;
  }
  *out = xrealloc(*out, (*n + count) * sizeof(**out));
  memcpy(*out + *n, items, count * sizeof(*items));
  *n += count;
  free(items);
  return 0;
}

/* ---- running nft ------------------------------------------------------ */

/* PATH first, as process_run does; /usr/sbin is not in the PATH of ordinary
 * users on Debian, where nft lives. */
static char *nft_path(void)
{
  const char *path = getenv("PATH");
  if (path != NULL) {
    const char *p = path;
    for (;;) {
      size_t l = strcspn(p, ":");
      if (l > 0) {
        char *cand = xasprintf("%.*s/nft", (int)l, p);
        if (access(cand, X_OK) == 0)
          return cand;
        free(cand);
      }
      if (p[l] == '\0')
        break;
      p += l + 1;
    }
  }
  if (access("/usr/sbin/nft", X_OK) == 0)
    return xstrdup("/usr/sbin/nft");
  return NULL;
}

/* Run nft with args (after argv[0]) and input on its stdin (NULL: none);
 * stdout in *out (may be NULL).  Failures: "nft failed: <first stderr line>". */
static int nft_run(const char *const args[], const char *input, char **out, tart_error_t *err)
{
  _cleanup_free_ char *nft = nft_path();
  if (nft == NULL)
    return tart_error_make(err, ENOENT, "cannot run nft: not found in PATH or /usr/sbin");
  const char *argv[8];
  size_t argc = 0;
  argv[argc++] = nft;
  for (size_t i = 0; args[i] != NULL && argc < ARRAY_SIZE(argv) - 1; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  return process_run_input(argv, input, input ? strlen(input) : 0, out, err);
}

int fw_apply(const char *script, bool ignore_missing, tart_error_t *err)
{
  if (script == NULL)
    return tart_error_make(err, EINVAL, "no firewall rules to apply (invalid interface name or prefix)");
  static const char *const args[] = {"-f", "-", NULL};
  tart_error_t e = NULL;
  if (nft_run(args, script, NULL, &e) == 0)
    return 0;
  /* Deleting what is not there: nft's first line says so. */
  if (ignore_missing && strstr(e->msg, "No such file or directory") != NULL) {
    tart_error_release(&e);
    return 0;
  }
  tart_error_release(err);
  *err = e;
  return -1;
}

void fw_taps_free(char **taps, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(taps[i]);
  free(taps);
}

int fw_list_vm_tables(char ***taps, size_t *n, tart_error_t *err)
{
  static const char *const args[] = {"list", "tables", NULL};
  _cleanup_free_ char *out = NULL;
  if (nft_run(args, NULL, &out, err) < 0)
    return -1;

  char **list = NULL;
  size_t count = 0;
  char *save = NULL;
  /* Lines are "table <family> <name>". */
  for (char *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    char family[32], name[256];
    if (sscanf(line, "table %31s %255s", family, name) != 2)
      continue;
    const char *tap = name + strlen(VM_TABLE);
    if (strncmp(name, VM_TABLE, strlen(VM_TABLE)) != 0 || !fw_ifname_valid(tap))
      continue;
    bool seen = false;
    for (size_t i = 0; i < count && !seen; i++)
      seen = strcmp(list[i], tap) == 0;
    if (seen)
      continue;
    list = xrealloc(list, (count + 1) * sizeof(*list));
    list[count++] = xstrdup(tap);
  }
  *taps = list;
  *n = count;
  return 0;
}
