/* libFuzzer target for the /proc/net/arp parser: no crash or read past the
 * input on any bytes, and what arp_lookup returns is consistent: filtering
 * by device can only lose matches, and an address found is spelled in the
 * input exactly as inet_ntop spells it (the parser takes no other form). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/arp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(const char *text, size_t size, const struct mac_addr *mac, const char *device,
                  struct in_addr *ip)
{
  struct in_addr sentinel = {0x5a5a5a5a};
  *ip = sentinel;
  int rc = arp_lookup(text, size, mac, device, ip);
  if (rc != 0 && rc != 1)
    abort();
  if (rc == 0 && ip->s_addr != sentinel.s_addr)
    abort();
  if (rc == 1) {
    char s[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, ip, s, sizeof(s)) == NULL || memmem(text, size, s, strlen(s)) == NULL)
      abort();
  }
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  static const struct mac_addr macs[] = {
      {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01}},
      {{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02}},
      {{0, 0, 0, 0, 0, 0}},
  };
  static const char *const devices[] = {"br0", "br1", "*", ""};

  for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
    struct in_addr any, on_dev;
    int found = lookup(text, size, &macs[i], NULL, &any);
    for (size_t j = 0; j < sizeof(devices) / sizeof(devices[0]); j++)
      if (lookup(text, size, &macs[i], devices[j], &on_dev) && !found)
        abort();
  }
  return 0;
}
