#include "net/arp.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "net/fields.h"

/* IP address, HW type, Flags, HW address, Mask, Device. */
enum { ARP_FIELDS = 6 };

enum {
  ARP_HWTYPE_ETHER = 0x1,  /* ARPHRD_ETHER */
  ARP_FLAG_COMPLETE = 0x2, /* ATF_COM */
};

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

/* "0x" and one to eight hex digits, as the kernel prints HW type and flags
 * ("0x%x"); eight digits cannot overflow. */
static bool parse_hex_field(const char *s, size_t n, uint32_t *out)
{
  if (n < 3 || n > 10 || s[0] != '0' || s[1] != 'x')
    return false;
  uint32_t v = 0;
  for (size_t i = 2; i < n; i++) {
    int d = hex_value(s[i]);
    if (d < 0)
      return false;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return true;
}

int arp_lookup(const char *text, size_t len, const struct mac_addr *mac, const char *device,
               struct in_addr *ip)
{
  size_t device_len = device != NULL ? strlen(device) : 0;

  if (text == NULL || len == 0)
    return 0;
  const char *end = text + len;
  for (const char *line = text, *next; line < end; line = next) {
    const char *lend = fields_line_end(line, end, &next);
    const char *f[ARP_FIELDS];
    size_t flen[ARP_FIELDS];
    uint32_t hwtype, flags;
    struct mac_addr m;
    struct in_addr addr;

    /* The kernel writes text; a NUL means the line is damaged. */
    if (memchr(line, '\0', (size_t)(lend - line)) != NULL)
      continue;
    /* The header fails here (it has more fields) or on its first field. */
    if (fields_split(line, lend, f, flen, ARP_FIELDS) != ARP_FIELDS)
      continue;
    if (!parse_hex_field(f[1], flen[1], &hwtype) || hwtype != ARP_HWTYPE_ETHER)
      continue;
    /* Incomplete entries (flags 0x0) show a zero MAC; proxy entries (0xc)
     * show a zero MAC too and are not neighbours at all. */
    if (!parse_hex_field(f[2], flen[2], &flags) || (flags & ARP_FLAG_COMPLETE) == 0)
      continue;
    if (!fields_mac(f[3], flen[3], &m) || !mac_equal(&m, mac))
      continue;
    if (device != NULL && (flen[5] != device_len || memcmp(f[5], device, device_len) != 0))
      continue;
    if (!fields_ipv4(f[0], flen[0], &addr))
      continue;
    *ip = addr;
    return 1;
  }
  return 0;
}
