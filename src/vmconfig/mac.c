#include "vmconfig/mac.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int mac_parse(const char *s, struct mac_addr *out)
{
  struct mac_addr m;

  if (s == NULL)
    return -1;
  /* Hand-written rather than sscanf("%x:..."): sscanf would accept signs,
   * spaces, "0x" prefixes and trailing garbage. */
  for (size_t i = 0; i < 6; i++) {
    int hi = hex_value(*s);
    if (hi < 0)
      return -1;
    s++;
    int lo = hex_value(*s);
    unsigned v = (unsigned)hi;
    if (lo >= 0) {
      v = v * 16 + (unsigned)lo;
      s++;
    }
    m.b[i] = (uint8_t)v;
    if (i < 5) {
      if (*s != ':')
        return -1;
      s++;
    }
  }
  if (*s != '\0')
    return -1;
  if (out != NULL)
    *out = m;
  return 0;
}

void mac_format(const struct mac_addr *m, char out[18])
{
  snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1], m->b[2], m->b[3], m->b[4], m->b[5]);
}

bool mac_equal(const struct mac_addr *a, const struct mac_addr *b)
{
  return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

void mac_random(struct mac_addr *out)
{
  random_bytes(out->b, sizeof(out->b));
  /* Clear the group bit (unicast) and set the local bit, so the address can
   * never collide with a vendor-assigned one. */
  out->b[0] = (uint8_t)((out->b[0] & 0xfe) | 0x02);
}

bool mac_is_locally_administered_unicast(const struct mac_addr *m)
{
  return (m->b[0] & 0x03) == 0x02;
}
