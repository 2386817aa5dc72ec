#include "net/leases.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "net/fields.h"
#include "util/util.h"

/* expiry, MAC, IP, hostname, client id. */
enum { LEASE_FIELDS = 5 };

/* Digits only (no sign, no spaces), no overflow. */
static bool parse_expiry(const char *s, size_t n, int64_t *out)
{
  int64_t v = 0;
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* One line (without its newline) as an IPv4 lease. */
static bool parse_line(const char *line, const char *end, struct dhcp_lease *out)
{
  const char *f[LEASE_FIELDS];
  size_t flen[LEASE_FIELDS];

  /* dnsmasq writes text; a NUL means the line is damaged. */
  if (memchr(line, '\0', (size_t)(end - line)) != NULL)
    return false;
  /* The "duid <hex>" line has two fields and fails here. */
  if (fields_split(line, end, f, flen, LEASE_FIELDS) != LEASE_FIELDS)
    return false;
  /* IPv6 leases carry an IAID where the MAC is and an IPv6 address; the
   * address alone tells them apart (inet_pton would reject it anyway). */
  if (memchr(f[2], ':', flen[2]) != NULL)
    return false;
  struct dhcp_lease l;
  if (!parse_expiry(f[0], flen[0], &l.expiry) || !fields_mac(f[1], flen[1], &l.mac) ||
      !fields_ipv4(f[2], flen[2], &l.ip))
    return false;
  /* The hostname is not used; "*" stands for none. */
  l.client_id[0] = '\0';
  if (flen[4] < sizeof(l.client_id) && !(flen[4] == 1 && f[4][0] == '*')) {
    memcpy(l.client_id, f[4], flen[4]);
    l.client_id[flen[4]] = '\0';
  }
  *out = l;
  return true;
}

/* True if a lease expiring at a lasts at least as long as one expiring at
 * b, 0 being forever. */
static bool lasts_as_long(int64_t a, int64_t b)
{
  if (a == 0)
    return true;
  if (b == 0)
    return false;
  return a >= b;
}

int leases_lookup(const char *text, size_t len, const struct mac_addr *mac, int64_t now, struct in_addr *ip)
{
  bool found = false;
  int64_t best_expiry = 0;
  struct in_addr best_ip = {0};

  if (text == NULL || len == 0)
    return 0;
  const char *end = text + len;
  for (const char *line = text, *next; line < end; line = next) {
    const char *lend = fields_line_end(line, end, &next);
    struct dhcp_lease l;
    if (!parse_line(line, lend, &l) || !mac_equal(&l.mac, mac))
      continue;
    if (l.expiry != 0 && l.expiry <= now)
      continue;
    /* ">=" so that of two equal leases the later line, the newer one, wins. */
    if (!found || lasts_as_long(l.expiry, best_expiry)) {
      found = true;
      best_expiry = l.expiry;
      best_ip = l.ip;
    }
  }
  if (!found)
    return 0;
  *ip = best_ip;
  return 1;
}

int leases_parse(const char *text, size_t len, struct dhcp_lease **out, size_t *n)
{
  struct dhcp_lease *v = NULL;
  size_t count = 0, cap = 0;

  if (text != NULL && len > 0) {
    const char *end = text + len;
    for (const char *line = text, *next; line < end; line = next) {
      const char *lend = fields_line_end(line, end, &next);
      struct dhcp_lease l;
      if (!parse_line(line, lend, &l))
        continue;
      if (count == cap) {
        cap = cap != 0 ? cap * 2 : 16;
        v = xrealloc(v, cap * sizeof(*v));
      }
      v[count++] = l;
    }
  }
  *out = v;
  *n = count;
  return 0;
}
