/* libFuzzer target for the dnsmasq lease file parser: no crash or read past
 * the input on any bytes, leases_parse returns plausible leases, and
 * leases_lookup agrees with a straightforward selection over leases_parse's
 * output. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/leases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rule of leases_lookup, written differently: rank infinite above every
 * finite expiry, keep the last of the highest rank. */
static int reference(const struct dhcp_lease *v, size_t n, const struct mac_addr *mac, int64_t now,
                     struct in_addr *ip)
{
  int found = 0;
  uint64_t best = 0;
  for (size_t i = 0; i < n; i++) {
    if (!mac_equal(&v[i].mac, mac) || (v[i].expiry != 0 && v[i].expiry <= now))
      continue;
    uint64_t rank = v[i].expiry == 0 ? UINT64_MAX : (uint64_t)v[i].expiry;
    if (!found || rank >= best) {
      found = 1;
      best = rank;
      *ip = v[i].ip;
    }
  }
  return found;
}

static void check(const char *text, size_t size, const struct dhcp_lease *v, size_t n,
                  const struct mac_addr *mac, int64_t now)
{
  struct in_addr got = {0x5a5a5a5a}, want = {0x5a5a5a5a};
  int rc = leases_lookup(text, size, mac, now, &got);
  if (rc != reference(v, n, mac, now, &want) || got.s_addr != want.s_addr)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  struct dhcp_lease *v = NULL;
  size_t n = 0;

  if (leases_parse(text, size, &v, &n) != 0 || (n == 0) != (v == NULL))
    abort();
  /* The shortest lease line, "0 0:0:0:0:0:0 0.0.0.0 * *", is 25 bytes, and
   * all but the last need a newline. */
  if (n > 0 && (n - 1) * 26 + 25 > size)
    abort();
  for (size_t i = 0; i < n; i++)
    if (v[i].expiry < 0)
      abort();

  /* A few MACs from the file, and one that is probably not in it, at times
   * around their expiries; each lookup is one pass over the input. */
  static const struct mac_addr fixed = {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x03}};
  const struct mac_addr *macs[] = {&fixed, n > 0 ? &v[0].mac : &fixed, n > 1 ? &v[n / 2].mac : &fixed,
                                   n > 2 ? &v[n - 1].mac : &fixed};
  for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
    int64_t exp = n > 0 ? v[i * (n - 1) / 3].expiry : 1;
    const int64_t nows[] = {INT64_MIN, 0, exp - 1, exp, INT64_MAX};
    for (size_t j = 0; j < sizeof(nows) / sizeof(nows[0]); j++)
      check(text, size, v, n, macs[i], nows[j]);
  }
  free(v);
  return 0;
}
