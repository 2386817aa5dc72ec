/* The nftables rule sets of tart's networking.
 *
 * The NAT network is a bridge (default "tart0") holding the gateway address
 * (default 192.168.64.1/24); dnsmasq serves DHCP (udp 67) and DNS (udp/tcp
 * 53) on it and every VM attaches a tap device to the bridge.  This module
 * writes, as nft scripts, the rules that make it work:
 *
 *   - one "ip tart" table per host: masquerading of the subnet and a forward
 *     chain that lets VMs out but lets nobody in except through DNAT;
 *   - per VM, for --net-softnet and --net-host, tables named tart_<tap> in the
 *     bridge, inet and ip families that pin the VM to its MAC and IP address,
 *     cut it off from the other VMs and restrict where it may connect to.
 *     Removing a VM's rules is deleting its tables.
 *
 * The generators are pure functions returning a malloc'ed script; every
 * script replaces what it describes atomically and may be applied again
 * (`table X {}` creates a missing table so that the following
 * `delete table X` never fails).  fw_apply() loads a script with `nft -f -`.
 *
 * Interface names given to the generators must satisfy fw_ifname_valid();
 * the generators return NULL otherwise (and for a prefix above 32), so a
 * name from the command line must be checked when it is parsed. */
#ifndef TART_NET_FIREWALL_H
#define TART_NET_FIREWALL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmconfig/mac.h"

/* An IPv4 network: net has no bits set beyond prefix (0..32). */
struct fw_cidr {
  struct in_addr net;
  unsigned prefix;
};

/* --net-softnet-expose host_port:guest_port (TCP). */
struct fw_expose {
  uint16_t host_port, guest_port;
};

enum fw_mode {
  FW_SOFTNET, /* --net-softnet: globally routable destinations only, plus the allow/block lists */
  FW_HOST,    /* --net-host: the host only, no forwarding */
};

/* One isolated VM.  Addresses are in network byte order. */
struct fw_vm {
  const char *tap;    /* the VM's tap device, e.g. "tart12"; names its tables */
  const char *bridge; /* the bridge the tap is attached to */
  struct mac_addr mac;
  struct in_addr gateway; /* the bridge's address (DHCP and DNS server) */
  unsigned prefix;        /* of the bridge's subnet */
  bool have_ip;           /* the VM's DHCP lease is known; ip is valid */
  struct in_addr ip;
  enum fw_mode mode;
  const struct fw_cidr *allow; /* --net-softnet-allow (softnet only) */
  size_t n_allow;
  const struct fw_cidr *block; /* --net-softnet-block (softnet only) */
  size_t n_block;
  const struct fw_expose *expose; /* --net-softnet-expose (softnet only) */
  size_t n_expose;
};

/* True if name can be used as a bridge or tap name in the scripts: 1 to 15
 * characters (IFNAMSIZ - 1) out of [A-Za-z0-9_.-].  Linux accepts more, but
 * these are the characters that need no quoting anywhere (nft identifiers
 * for the table names, strings for iifname). */
bool fw_ifname_valid(const char *name);

/* The NAT table "ip tart" of the network on bridge with address
 * gateway/prefix: masquerade of the subnet towards everything outside it,
 * and a forward chain accepting everything coming from the bridge and, going
 * to the bridge, only established/related and DNAT'ed connections.  The
 * script replaces an existing table.  NULL on an invalid bridge name or
 * prefix. */
char *fw_nat_script(const char *bridge, struct in_addr gateway, unsigned prefix);

/* "delete table ip tart": apply with ignore_missing, as the table may be
 * gone already. */
char *fw_nat_delete_script(void);

/* All tables of one VM (bridge, inet, ip families, named tart_<tap>),
 * replacing whatever tables of that tap exist:
 *
 *   bridge: no frame from or to the tap crosses the bridge to another port.
 *     Frames from the tap to the host must come from the VM's MAC; ARP must
 *     carry that MAC (and, once the IP is known, that IP); IPv4 is limited to
 *     DHCP (udp 67 to the gateway or broadcast) until the IP is known, then to
 *     that source address (DHCP still allowed); IPv6 and other types are
 *     dropped.
 *   inet (only with have_ip; keyed on the VM's address coming in on the
 *     bridge, which the bridge table has made unforgeable): established and
 *     related traffic, DHCP and DNS to the gateway are accepted.  Softnet:
 *     forwarded traffic goes through the decision list (see fw_decide);
 *     traffic to the host itself (any of its addresses) only through the
 *     user's allow/block entries, then is dropped.  Host: everything to the host is accepted,
 *     nothing is forwarded.
 *   ip (softnet with have_ip and n_expose > 0): DNAT of each host_port, both
 *     for connections arriving from outside the bridge and for connections
 *     made on the host to one of its non-loopback addresses (a DNAT'ed
 *     127.0.0.1 could not be routed to the bridge without route_localnet,
 *     which would open the host's loopback services to the VMs).
 *
 * NULL on an invalid tap or bridge name or prefix. */
char *fw_vm_script(const struct fw_vm *v);

/* Removes every table of tap; succeeds whether they exist or not.  NULL on
 * an invalid tap name. */
char *fw_vm_delete_script(const char *tap);

/* The softnet decision for a destination, as the emitted rules make it:
 * among the default block list (10/8, 172.16/12, 192.168/16, 100.64/10,
 * 169.254/16, 127/8, 0/8, 224/4, 240/4), the default allow 0.0.0.0/0 and the
 * user's allow and block lists, the longest prefix containing dst wins, block
 * on a tie.  True means allowed.  Ports aside: DHCP and DNS to the gateway
 * are allowed in addition by their own rules.  In host mode, true only for
 * the gateway (the host's other addresses are not known here). */
bool fw_decide(const struct fw_vm *v, struct in_addr dst);

/* Parse a comma-separated list of IPv4 addresses and networks ("10.0.0.0/8,
 * 1.2.3.4"); a bare address is a /32, blanks around items are ignored, host
 * bits beyond the prefix are cleared without complaint.  The items are
 * appended to *out and *n (NULL and 0 to start), so a repeated flag accumulates.
 * Returns 0, or -1 with a usage error naming the bad item, leaving *out and
 * *n unchanged. */
int fw_parse_cidrs(const char *s, struct fw_cidr **out, size_t *n, tart_error_t *err);

/* Parse "host_port:guest_port[,...]" (ports 1..65535, blanks around items
 * ignored) and append to *out and *n.  A host port given twice, in s or already
 * in *out, is an error.  Returns 0, or -1 with a usage error, leaving *out
 * and *n unchanged. */
int fw_parse_expose(const char *s, struct fw_expose **out, size_t *n, tart_error_t *err);

/* Load script with `nft -f -` (nft looked up in PATH, then /usr/sbin/nft).
 * Failure: "nft failed: <first line of nft's stderr>".  With ignore_missing,
 * a failure whose stderr says "No such file or directory" (deleting what is
 * not there) counts as success. */
int fw_apply(const char *script, bool ignore_missing, tart_error_t *err);

/* The taps that have tables (tart_<tap>, any family) in the current rule
 * set, each once, from `nft list tables`; so that tables of taps that no
 * longer exist can be deleted.  *taps is malloc'ed (free with
 * fw_taps_free); 0 or -1 with an error. */
int fw_list_vm_tables(char ***taps, size_t *n, tart_error_t *err);

void fw_taps_free(char **taps, size_t n);

#endif
