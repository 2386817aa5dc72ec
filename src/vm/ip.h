/* `tart ip`: a running VM's IPv4 address, found by one of the resolvers
 * (docs/upstream.md, "IP resolution").  A new resolver is a value here and
 * a function in vm/ip.c.
 *
 *   dhcp   the NAT network's dnsmasq leases (net/network.h)
 *   arp    the host's ARP table (/proc/net/arp; bridged networks)
 *   agent  the QEMU guest agent (any network, including --net-user)
 *
 * Only a running VM has an address: leases and ARP entries outlive it. */
#ifndef TART_VM_IP_H
#define TART_VM_IP_H

#include <stdbool.h>

#include "util/error.h"

enum vm_ip_resolver {
  VM_IP_DEFAULT = 0, /* by the run's network: agent for --net-user, arp for bridged, else dhcp */
  VM_IP_DHCP,
  VM_IP_ARP,
  VM_IP_AGENT,
};

/* Pure.  "dhcp", "arp" or "agent"; -1 for anything else. */
int vm_ip_resolver_parse(const char *s, enum vm_ip_resolver *out);

struct vm_ip {
  char addr[16];
  bool user_net; /* --net-user: an address inside QEMU's network, not reachable from the host */
};

/* Try once a second for up to wait_s seconds.  Errors, each one line:
 * the run ended on its own (its reason, from vm_run_error; at once, not
 * after the wait), the VM is not running, or no address with the hint of
 * the resolver used. */
int vm_ip_find(const char *dir, enum vm_ip_resolver resolver, unsigned wait_s, struct vm_ip *out,
               tart_error_t *err);

#endif
