/* libFuzzer: the NAT network's settings.json parser, and validation and the
 * DHCP pool of whatever it accepts. */
#include <stdint.h>
#include <stdlib.h>

#include "net/network.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct net_settings s;
  net_settings_default(&s);
  tart_error_t err = NULL;
  if (net_settings_parse((const char *)data, size, &s, &err) == 0) {
    if (net_settings_validate(&s, &err) == 0) {
      struct in_addr lo, hi;
      net_dhcp_range(&s, &lo, &hi);
      if (ntohl(lo.s_addr) > ntohl(hi.s_addr))
        abort();
    }
    char *text = net_settings_format(&s);
    free(text);
  }
  tart_error_release(&err);
  return 0;
}
