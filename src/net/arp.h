/* The kernel's IPv4 neighbour table as shown in /proc/net/arp, for
 * `tart ip --resolver arp`:
 *
 *   IP address       HW type     Flags       HW address            Mask     Device
 *   192.168.64.22    0x1         0x2         52:54:00:aa:bb:01     *        br0
 *
 * An entry counts only if it is complete (ATF_COM, 0x2, set in Flags: an
 * incomplete one has flags 0x0 and a zero HW address) and its HW type is
 * 0x1 (Ethernet).  The header, proxy entries and malformed lines (a field
 * missing or left over, a bad number, address or MAC, a NUL byte) are
 * skipped.
 *
 * Pure: the caller reads the file.  The text is (text, len) and need not be
 * NUL-terminated; nothing past len is read.  Time is linear in len. */
#ifndef TART_NET_ARP_H
#define TART_NET_ARP_H

#include <netinet/in.h>
#include <stddef.h>

#include "vmconfig/mac.h"

/* The IPv4 address of the first complete Ethernet entry whose HW address
 * equals `mac` (byte-wise, so case and leading zeros do not matter) and,
 * when device is not NULL, whose Device is exactly `device`.  Returns 1 and
 * fills *ip if found, 0 (leaving *ip alone) if not. */
int arp_lookup(const char *text, size_t len, const struct mac_addr *mac, const char *device,
               struct in_addr *ip);

#endif
