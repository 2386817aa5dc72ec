/* Network interfaces: the kernel-facing layer of tart's networking.
 *
 * Everything here talks to the kernel directly, through ioctls on a datagram
 * socket and a small rtnetlink (NETLINK_ROUTE) client; nothing spawns `ip` or
 * `brctl` and nothing reads /sys, whose net class shows the network namespace
 * sysfs was mounted in, not necessarily the caller's.  All calls act on the
 * calling thread's network namespace and need CAP_NET_ADMIN, except the
 * getters, link_exists, link_is_bridge and link_list.
 *
 * Interface names must be 1 to IFNAMSIZ - 1 bytes without '/', ':', spaces
 * or control characters (the kernel refuses the first three in new names, the
 * last would reach the terminal through error messages); other names fail
 * with EINVAL, or read as missing in the boolean queries.
 *
 * Fallible functions take `tart_error_t *err` last and return -1 on failure
 * with a message that names the interface.  errnum is the kernel's errno
 * (ENODEV for a missing interface) unless a function says otherwise; when the
 * kernel explains a netlink failure (extended ACK), its text ends the
 * message.  No function leaves a descriptor open on any path, except the
 * device descriptors that link_tap_open and link_macvtap_open hand out.
 */
#ifndef TART_NET_LINK_H
#define TART_NET_LINK_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmconfig/mac.h"

/* ---- Queries ------------------------------------------------------------ */

/* True if an interface of that name exists (if_nametoindex). */
bool link_exists(const char *ifname);

/* The driver name ethtool reports (ETHTOOL_GDRVINFO): "bridge", "tun" (TAP
 * devices too), "veth", "macvlan" (macvtap too), "virtio_net", ...
 * Truncated to n - 1 bytes.  Fails with EOPNOTSUPP for devices without
 * ethtool driver information, such as "lo". */
int link_driver(const char *ifname, char *out, size_t n, tart_error_t *err);

/* True if ifname exists and is a Linux bridge; false on any error. */
bool link_is_bridge(const char *ifname);

/* The hardware address; fails with EAFNOSUPPORT if the interface is not
 * Ethernet-like (lo, tun in IFF_TUN mode). */
int link_get_mac(const char *ifname, struct mac_addr *mac, tart_error_t *err);

/* The primary IPv4 address and its netmask (SIOCGIFADDR, SIOCGIFNETMASK).
 * Without an address: -1 with errnum ENOENT.  Either pointer may be NULL. */
int link_get_ipv4(const char *ifname, struct in_addr *addr, struct in_addr *mask, tart_error_t *err);

/* What rtnetlink (RTM_GETLINK) says about one interface. */
struct link_info {
  unsigned ifindex;
  unsigned master;       /* ifindex of the bridge (or bond...) it is a port of, 0 if none */
  char kind[16];         /* rtnetlink kind: "bridge", "tun", "veth", "macvtap"; "" if none */
  int isolated;          /* bridge ports: 0 or 1 (IFLA_BRPORT_ISOLATED); -1 otherwise */
  int64_t forward_delay; /* bridges: IFLA_BR_FORWARD_DELAY, in 1/100 s; -1 otherwise */
};
int link_query(const char *ifname, struct link_info *info, tart_error_t *err);

/* Whether the bridge port ifname is isolated; fails with EINVAL if ifname is
 * not a bridge port. */
int link_get_isolated(const char *ifname, bool *on, tart_error_t *err);

/* All interface names except "lo", sorted by strcmp.  *names is a malloc'ed
 * array of *n malloc'ed strings (never NULL on success, even when empty);
 * release it with link_list_free. */
int link_list(char ***names, size_t *n, tart_error_t *err);
void link_list_free(char **names, size_t n);

/* ---- Changes ------------------------------------------------------------ */

/* Bring the interface up or down (IFF_UP).  No change is not an error. */
/* Administratively up (IFF_UP).  False for a missing interface. */
bool link_is_up(const char *ifname);

int link_set_up(const char *ifname, bool up, tart_error_t *err);

/* Set the primary IPv4 address and netmask (SIOCSIFADDR, then
 * SIOCSIFNETMASK; the broadcast address follows).  A non-contiguous mask
 * fails with EINVAL. */
int link_set_ipv4(const char *ifname, struct in_addr addr, struct in_addr mask, tart_error_t *err);

/* Create a bridge (SIOCBRADDBR).  Returns 1 if created, 0 if a bridge of
 * that name already existed; fails with EEXIST if the name is taken by an
 * interface that is not a bridge.  A new bridge is down, with STP off. */
int link_bridge_create(const char *name, tart_error_t *err);

/* Bring a bridge down and delete it (SIOCBRDELBR); its ports are released,
 * not deleted.  A missing bridge is not an error; an interface of that name
 * that is not a bridge fails with EPERM. */
int link_bridge_delete(const char *name, tart_error_t *err);

/* Set a bridge's forward delay to 0 (RTM_NEWLINK, IFLA_BR_FORWARD_DELAY), so
 * that a new port forwards at once instead of listening and learning for 15
 * seconds, which would eat the guest's first DHCP requests.  Valid because
 * STP is off; fails with EOPNOTSUPP if bridge is not a bridge. */
int link_bridge_set_forward_delay0(const char *bridge, tart_error_t *err);

/* Make ifname a port of bridge (SIOCBRADDIF).  Already being a port of that
 * bridge is not an error; being a port of another one fails with EBUSY. */
int link_set_master(const char *ifname, const char *bridge, tart_error_t *err);

/* Isolate a bridge port or undo it ("bridge link set dev X isolated on"):
 * isolated ports forward only to non-isolated ones, so VMs on one bridge
 * reach the host's side but not each other.  Fails with EOPNOTSUPP if
 * ifname is not a bridge port. */
int link_set_isolated(const char *ifname, bool on, tart_error_t *err);

/* Create an interface of a kind that needs no parameters ("dummy", "bridge";
 * "veth" gets a peer named by the kernel, deleted with it) with RTM_NEWLINK.
 * An existing name fails with EEXIST; a kind the kernel lacks with
 * EOPNOTSUPP. */
int link_create(const char *name, const char *kind, tart_error_t *err);

/* Delete an interface of any kind (RTM_DELLINK).  Missing is not an error. */
int link_delete(const char *ifname, tart_error_t *err);

/* ---- Devices for QEMU --------------------------------------------------- */

/* Create a TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) on /dev/net/tun
 * and return its descriptor (O_CLOEXEC) in *fd.  name_template is an exact
 * name or contains one "%d" the kernel replaces with the first free number
 * ("tart%d"); NULL or "" means "tap%d".  The name made is written to
 * name_out.  An existing exact name fails with EEXIST, rather than attaching
 * to that device.  The device is not persistent: it disappears when the last
 * descriptor to it is closed, so a killed tart (even by SIGKILL) leaves
 * nothing behind.  It is created down. */
int link_tap_open(const char *name_template, char name_out[IFNAMSIZ], int *fd, tart_error_t *err);

/* Create a macvtap interface `name` in bridge mode on top of the Ethernet
 * interface parent (RTM_NEWLINK kind "macvtap"), with the address *mac, or a
 * random one if mac is NULL, so that a VM shares parent's network as a peer
 * of the host.  It is created down.  Unlike a TAP device, a macvtap
 * interface outlives its descriptors: the caller deletes it (link_delete),
 * and one a killed tart left behind must be deleted by the next run. */
int link_macvtap_create(const char *name, const char *parent, const struct mac_addr *mac, tart_error_t *err);

/* Open the character device of macvtap interface ifname, /dev/tap<ifindex>,
 * read-write with O_CLOEXEC, for QEMU's "-netdev tap,fd=".  The node is made
 * by devtmpfs (in every network namespace, named by the ifindex in the
 * interface's namespace); without devtmpfs on /dev it is missing (ENOENT).
 * Since ifindexes of different namespaces collide, the device behind the node
 * is checked to be ifname (TUNGETIFF) and otherwise fails with EXDEV. */
int link_macvtap_open(const char *ifname, int *fd, tart_error_t *err);

#endif
