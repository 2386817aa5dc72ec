/* The NAT network (docs/design.md, "Networking model"): the default network of `tart run` as root.
 *
 * A bridge (NET_BRIDGE, "tart0") holds the gateway address (default
 * 192.168.64.1/24); dnsmasq serves DHCP and DNS on it; an nftables table of
 * our own ("ip tart") masquerades the subnet; ip_forward is on.  Each VM
 * attaches a tap device to the bridge.
 *
 * Everything the network keeps lives in its state directory, default
 * /var/lib/tart/network, or $TART_NETWORK_DIR (tests point it into their own
 * network namespace):
 *   settings.json   address, mask and lease time (`tart network set`)
 *   created.json    what `up` created, so that `down` removes only that
 *   dnsmasq.leases  dnsmasq's lease file (`tart ip --resolver dhcp`)
 *   dnsmasq.pid, dnsmasq.log
 *   lock            flock serialising up/down/set and `tart run`'s bring-up
 */
#ifndef TART_NET_NETWORK_H
#define TART_NET_NETWORK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "vmconfig/mac.h"

#define NET_BRIDGE             "tart0"
#define NET_DEFAULT_ADDRESS    "192.168.64.1"
#define NET_DEFAULT_MASK       "255.255.255.0"
#define NET_DEFAULT_LEASE_TIME 600 /* seconds: a /24 never runs out (FAQ) */
#define NET_DEFAULT_DIR        "/var/lib/tart/network"
#define NET_BRIDGE_HELPER      "/usr/lib/qemu/qemu-bridge-helper"
#define NET_BRIDGE_CONF        "/etc/qemu/bridge.conf"
#define NET_MACVTAP_PREFIX     "tmv" /* tmv<pid><letter>: a run's macvtaps */
#define NET_MAX_NICS_PER_VM    8

struct net_settings {
  struct in_addr address; /* the gateway, on the bridge */
  struct in_addr mask;
  uint32_t lease_time; /* seconds */
};

void net_settings_default(struct net_settings *s);

/* Pure.  The settings.json text: {"address": "...", "mask": "...",
 * "leaseTime": N}; absent keys keep their defaults.  Errors name the key. */
int net_settings_parse(const char *text, size_t len, struct net_settings *s, tart_error_t *err);
char *net_settings_format(const struct net_settings *s);

/* Pure.  A usable network: contiguous mask of /8../30, the address neither
 * the network nor the broadcast address, lease time 120..31536000 s
 * (dnsmasq's minimum is 120).  Usage errors (exit 64). */
int net_settings_validate(const struct net_settings *s, tart_error_t *err);

/* Pure.  The mask's prefix length (settings validated). */
unsigned net_prefix(struct in_addr mask);

/* Pure.  The DHCP pool: every host address of the subnet but the gateway's
 * side: from the first host address after the gateway when the gateway is
 * the first one, else from the first, to the last before broadcast. */
void net_dhcp_range(const struct net_settings *s, struct in_addr *start, struct in_addr *end);

/* The state directory (malloc'ed): $TART_NETWORK_DIR or NET_DEFAULT_DIR. */
char *net_dir(void);

/* settings.json, or the defaults when it does not exist. */
int net_settings_load(const char *dir, struct net_settings *s, tart_error_t *err);
int net_settings_save(const char *dir, const struct net_settings *s, tart_error_t *err);

struct net_status {
  struct net_settings settings;
  bool bridge;  /* the bridge exists */
  bool up;      /* ... and is up */
  bool address; /* ... and holds the gateway address with the mask */
  bool dnsmasq; /* our dnsmasq runs */
  pid_t dnsmasq_pid;
  bool firewall;   /* our nftables table is loaded */
  bool forwarding; /* net.ipv4.ip_forward is 1 */
};

/* What is up and what is missing.  Reads only; needs no privileges (the
 * firewall check does: without them it reads as missing). */
int net_status_get(const char *dir, struct net_status *st, tart_error_t *err);
bool net_status_ok(const struct net_status *st);

/* Bring the network up, or repair what is missing (a dead dnsmasq is
 * restarted; changed settings are applied).  Idempotent.  Needs root. */
int net_up(const char *dir, tart_error_t *err);

/* Remove what net_up created (the bridge only if we created it; ip_forward
 * back to its former value).  A network that is not up is not an error. */
int net_down(const char *dir, tart_error_t *err);

/* The address leased to mac in our lease file (unexpired, latest expiry
 * wins).  Returns 1 and *ip, or 0. */
int net_lease_lookup(const char *dir, const struct mac_addr *mac, struct in_addr *ip);

/* Give back mac's lease (dhcp_release on the bridge, from dnsmasq-utils),
 * so that stopped VMs do not exhaust the pool.  No lease: 0. */
int net_lease_release(const char *dir, const struct mac_addr *mac, tart_error_t *err);

/* Remove what runs killed with SIGKILL left: nftables tables of taps that
 * no longer exist, and macvtaps whose run is gone.  Call under net_lock. */
void net_collect_leftovers(void);

/* NET_BRIDGE_CONF lets qemu-bridge-helper use our bridge ("allow tart0"
 * or "allow all"). */
bool net_bridge_conf_allows(void);

/* Some interface is a port of the NAT bridge (a VM is attached). */
bool net_bridge_has_ports(void);

/* `tart network up --allow-users`: make qemu-bridge-helper setuid root
 * (dpkg-statoverride, else chmod) and allow NET_BRIDGE in NET_BRIDGE_CONF
 * (atomically, other lines kept), so that other users' VMs can join the
 * network.  Says what it changed (REPORT_STATUS).  Needs root. */
int net_allow_users(tart_error_t *err);

/* `tart network set`: the fields given (NULL or 0: unchanged) checked
 * (net_settings_validate) and saved under the lock, and applied at once
 * when the network is (partly) up.  Refused while VMs are attached. */
struct net_settings_change {
  const struct in_addr *address, *mask;
  uint32_t lease_time;
};
int net_settings_change(const char *dir, const struct net_settings_change *c, tart_error_t *err);

/* Take the state directory's lock (created as needed, mode 0700); returns
 * the fd.  Not reentrant: a process must not take it twice. */
int net_lock(const char *dir, tart_error_t *err);

#endif
