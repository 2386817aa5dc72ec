/* dnsmasq's DHCP lease file, for `tart ip --resolver dhcp`.
 *
 * dnsmasq rewrites the whole file on every change, one lease per line:
 *   "<expiry> <mac> <ip> <hostname|*> <client-id|*>"
 * for example
 *   "1795774615 52:54:00:aa:bb:03 192.168.64.24 tartguest 01:52:54:00:aa:bb:03"
 * where expiry is seconds since the epoch and 0 means an infinite lease.
 * With DHCPv6 enabled a "duid <server-duid>" line follows the IPv4 leases,
 * then IPv6 leases (an IAID in place of the MAC, an IPv6 address).
 *
 * Only IPv4 leases of Ethernet addresses are read: anything mac_parse()
 * rejects (other hardware types are written as "06-..." or as longer hex
 * strings), IPv6 and duid lines, and malformed lines (a field missing or
 * left over, a bad number or address, trailing garbage in a field, a NUL
 * byte anywhere in the line) are skipped, never fatal.  Lines end in "\n" or
 * "\r\n"; the last one may lack its newline.
 *
 * Pure functions: the caller reads the file.  The text is (text, len) and
 * need not be NUL-terminated; nothing past len is read.  Time and memory are
 * linear in len. */
#ifndef TART_NET_LEASES_H
#define TART_NET_LEASES_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "vmconfig/mac.h"

struct dhcp_lease {
  int64_t expiry; /* seconds since the epoch; 0 = infinite */
  struct mac_addr mac;
  struct in_addr ip; /* network byte order */
  /* The client identifier as dnsmasq writes it ("01:52:54:00:aa:bb:03"),
   * "" for "*" or one longer than the buffer; dhcp_release needs it to
   * release a lease taken with one. */
  char client_id[200];
};

/* The address leased to `mac` (compared byte-wise, so "ee:a7:85:9:92:39"
 * and "EE:A7:85:09:92:39" are the same MAC).  Only unexpired leases count:
 * expiry == 0 or expiry > now.  Among them the one with the latest expiry
 * wins, an infinite lease beating any finite one; on equal expiry the later
 * line wins, as dnsmasq appends the newest lease.  Returns 1 and fills *ip if
 * found, 0 (leaving *ip alone) if not. */
int leases_lookup(const char *text, size_t len, const struct mac_addr *mac, int64_t now, struct in_addr *ip);

/* Every well-formed IPv4 lease, expired ones included, in file order: *out
 * is a malloc'ed array of *n entries for the caller to free() (NULL when
 * *n is 0).  Returns 0; allocation failure aborts (xmalloc). */
int leases_parse(const char *text, size_t len, struct dhcp_lease **out, size_t *n);

#endif
