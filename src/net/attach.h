/* Attaching a running VM to its network (docs/design.md, "Networking model"), for `tart run`.
 *
 * Modes (mutually exclusive, upstream's rule for bridged/softnet/host):
 *   NAT      default: a tap on the NAT network's bridge (brought up when
 *            needed, as root), or qemu-bridge-helper for other users when
 *            /etc/qemu/bridge.conf allows the bridge
 *   USER     --net-user: QEMU's user-mode stack, no privileges
 *   BRIDGED  --net-bridged IFACE (repeatable): a tap on an existing bridge,
 *            or a macvtap on a physical NIC
 *   SOFTNET  --net-softnet[-allow|-block|-expose]: a tap on the NAT bridge,
 *            isolated (no VM-to-VM), pinned to its MAC and leased IP, and
 *            allowed to reach only the gateway's DHCP/DNS and globally
 *            routable addresses, plus the allow list (net/firewall.h)
 *   HOST     --net-host: like softnet, but the host only, no forwarding
 *
 * Taps are non-persistent: they vanish with the last descriptor, so a run
 * killed with SIGKILL leaves none behind.  Firewall tables and macvtaps do
 * survive it; net_attach() removes those of taps that no longer exist. */
#ifndef TART_NET_ATTACH_H
#define TART_NET_ATTACH_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/firewall.h"
#include "util/error.h"
#include "vmconfig/mac.h"

enum net_mode {
  NET_MODE_NAT = 0,
  NET_MODE_USER,
  NET_MODE_BRIDGED,
  NET_MODE_SOFTNET,
  NET_MODE_HOST,
};

#define NET_MAX_NICS 8

struct net_request {
  enum net_mode mode;
  const char *const *bridged; /* BRIDGED: interface names */
  size_t n_bridged;
  const struct fw_cidr *allow, *block;
  size_t n_allow, n_block;
  const struct fw_expose *expose;
  size_t n_expose;
  bool restoring; /* a suspended VM resumes: it still holds its lease */
};

struct net_attachment {
  enum net_mode mode;
  char *net_dir;         /* NAT, SOFTNET, HOST: the NAT network's state dir */
  struct mac_addr mac;   /* the VM's (first NIC's) MAC */
  size_t n;              /* taps/macvtaps opened */
  int fds[NET_MAX_NICS]; /* for QEMU's -netdev tap,fd= */
  char ifnames[NET_MAX_NICS][IFNAMSIZ];
  bool macvtap[NET_MAX_NICS]; /* delete on detach */
  const char *helper_bridge;  /* NAT as a user: -netdev bridge,br= */
  const char *helper;         /* ... with this qemu-bridge-helper */
  bool firewall;              /* SOFTNET/HOST: tables tart_<tap> loaded */
  struct fw_vm fw;            /* SOFTNET/HOST; fw.have_ip: the rules name the lease */
  int lock_fd;                /* the network's lock while attaching, else -1 */
};

/* Pure.  The mode the run flags ask for, or a usage error: upstream's
 * "--net-bridged, --net-softnet and --net-host are mutually exclusive", and
 * --net-user with any of them. */
int net_mode_pick(bool user, size_t n_bridged, bool softnet, bool host, enum net_mode *out,
                  tart_error_t *err);

/* Set up the attachment for a VM with MAC mac.  On failure everything made
 * so far is undone.  a->fds stay open (O_CLOEXEC: the caller lets QEMU
 * inherit them) until net_detach. */
int net_attach(const struct net_request *r, const struct mac_addr *mac, struct net_attachment *a,
               tart_error_t *err);

/* SOFTNET/HOST: make the rules follow the guest's lease: once it has one,
 * load the rules that name its address (and the exposed ports); when it
 * changes or goes, reload them.  Returns the milliseconds until the next
 * call is due, or -1 when there is nothing to follow (other modes). */
int net_attach_poll(struct net_attachment *a);

/* Undo net_attach: drop the firewall tables, close the taps, delete
 * macvtaps, and release the DHCP lease (NAT, SOFTNET, HOST) unless
 * keep_lease (a suspended guest keeps its address).  Safe to call twice. */
void net_detach(struct net_attachment *a, bool keep_lease);

/* "nat", "user", ... */
const char *net_mode_name(enum net_mode m);
int net_mode_parse(const char *s, enum net_mode *out);

#endif
