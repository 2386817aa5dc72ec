#include "net/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/link.h"
#include "net/network.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#define TAP_TEMPLATE "tarttap%d"

static const char *const mode_names[] = {
    [NET_MODE_NAT] = "nat",         [NET_MODE_USER] = "user", [NET_MODE_BRIDGED] = "bridged",
    [NET_MODE_SOFTNET] = "softnet", [NET_MODE_HOST] = "host",
};

const char *net_mode_name(enum net_mode m)
{
  return (size_t)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

int net_mode_parse(const char *s, enum net_mode *out)
{
  for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++)
    if (!strcmp(s, mode_names[i])) {
      *out = (enum net_mode)i;
      return 0;
    }
  return -1;
}

int net_mode_pick(bool user, size_t n_bridged, bool softnet, bool host, enum net_mode *out, tart_error_t *err)
{
  int n = (n_bridged > 0) + softnet + host;
  if (n > 1)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "--net-bridged, --net-softnet and --net-host are mutually exclusive");
  if (user && n > 0)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "--net-user cannot be combined with --net-bridged, --net-softnet or --net-host");
  if (n_bridged > NET_MAX_NICS)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "too many --net-bridged interfaces (at most %d)",
                           NET_MAX_NICS);
  *out = user        ? NET_MODE_USER
         : n_bridged ? NET_MODE_BRIDGED
         : softnet   ? NET_MODE_SOFTNET
         : host      ? NET_MODE_HOST
                     : NET_MODE_NAT;
  return 0;
}

/* qemu-bridge-helper needs root to make the tap: Debian installs it
 * without the setuid bit (`tart network up --allow-users` sets it, as
 * dpkg-statoverride does). */
static bool helper_privileged(void)
{
  struct stat st;
  return stat(NET_BRIDGE_HELPER, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
         (st.st_mode & S_ISUID) && (st.st_mode & S_IXOTH);
}

static int open_tap_on(struct net_attachment *a, const char *bridge, bool isolated, tart_error_t *err)
{
  size_t i = a->n;
  if (link_tap_open(TAP_TEMPLATE, a->ifnames[i], &a->fds[i], err) < 0)
    return -1;
  a->n++;
  if (link_set_master(a->ifnames[i], bridge, err) < 0 ||
      (isolated && link_set_isolated(a->ifnames[i], true, err) < 0) ||
      link_set_up(a->ifnames[i], true, err) < 0)
    return -1;
  return 0;
}

static int attach_bridged(const struct net_request *r, struct net_attachment *a, tart_error_t *err)
{
  for (size_t i = 0; i < r->n_bridged; i++) {
    const char *ifname = r->bridged[i];
    if (!link_exists(ifname)) {
      char **names = NULL;
      size_t n = 0;
      _cleanup_free_ char *list = xstrdup("");
      if (link_list(&names, &n, NULL) == 0) {
        for (size_t j = 0; j < n; j++) {
          char *next = xasprintf("%s%s%s", list, j ? ", " : "", names[j]);
          free(list);
          list = next;
        }
        link_list_free(names, n);
      }
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "interface \"%s\" not found, available interfaces: %s",
                             ifname, list);
    }
    if (link_is_bridge(ifname)) {
      if (open_tap_on(a, ifname, false, err) < 0)
        return -1;
      continue;
    }
    /* A physical NIC: a macvtap makes the VM a peer on its network. */
    size_t k = a->n;
    snprintf(a->ifnames[k], IFNAMSIZ, NET_MACVTAP_PREFIX "%ld%c", (long)getpid(), (char)('a' + k));
    struct mac_addr m = a->mac;
    m.b[5] = (uint8_t)(m.b[5] + k);
    if (link_macvtap_create(a->ifnames[k], ifname, &m, err) < 0)
      return -1;
    a->macvtap[k] = true;
    a->fds[k] = -1;
    a->n++;
    if (link_set_up(a->ifnames[k], true, err) < 0 || link_macvtap_open(a->ifnames[k], &a->fds[k], err) < 0)
      return -1;
  }
  return 0;
}

/* The isolation rules as they stand (a->fw.have_ip says which). */
static int load_rules(struct net_attachment *a, tart_error_t *err)
{
  _cleanup_free_ char *script = fw_vm_script(&a->fw);
  if (script == NULL)
    return tart_error_make(err, 0, "cannot make the isolation rules of %s", a->fw.tap);
  a->firewall = true;
  return fw_apply(script, false, err);
}

int net_attach(const struct net_request *r, const struct mac_addr *mac, struct net_attachment *a,
               tart_error_t *err)
{
  memset(a, 0, sizeof(*a));
  for (size_t i = 0; i < NET_MAX_NICS; i++)
    a->fds[i] = -1;
  a->mode = r->mode;
  a->mac = *mac;
  a->lock_fd = -1;
  if (r->mode == NET_MODE_USER)
    return 0;

  bool root = geteuid() == 0;
  if (!root) {
    if (r->mode != NET_MODE_NAT)
      return tart_error_kind(err, EPERM,
                             "--net-%s needs root (it changes the host's network): run tart with sudo",
                             net_mode_name(r->mode));
    /* A user: qemu-bridge-helper (setuid) attaches us, if allowed. */
    if (!link_exists(NET_BRIDGE) || !net_bridge_conf_allows() || !helper_privileged())
      return tart_error_kind(
          err, EPERM,
          "the NAT network needs root: run `sudo tart network up --allow-users` (which allows %s "
          "in %s for qemu-bridge-helper), or use --net-user",
          NET_BRIDGE, NET_BRIDGE_CONF);
    /* The helper keeps only CAP_NET_ADMIN, so the user must be able to
     * open /dev/net/tun itself (mode 0666 on a standard system). */
    if (access("/dev/net/tun", R_OK | W_OK) < 0)
      return tart_error_kind(err, EACCES,
                             "qemu-bridge-helper cannot open /dev/net/tun as you: make it usable by users "
                             "(`sudo chmod 0666 /dev/net/tun`, the usual mode), or use --net-user");
    a->helper_bridge = NET_BRIDGE;
    a->helper = NET_BRIDGE_HELPER;
    return 0;
  }

  a->net_dir = net_dir();
  bool nat = r->mode != NET_MODE_BRIDGED;
  if (nat && net_up(a->net_dir, err) < 0) {
    tart_error_wrap(err, "cannot bring up the NAT network");
    goto fail;
  }
  /* Under the network's lock: leftovers of killed runs go, and our tap and
   * its rules appear, without another run's clean-up in between (tap
   * numbers are reused as soon as they are free). */
  a->lock_fd = net_lock(a->net_dir, err);
  if (a->lock_fd < 0)
    goto fail;
  net_collect_leftovers();
  if (!nat) {
    if (attach_bridged(r, a, err) < 0)
      goto fail;
    goto done;
  }
  bool isolated = r->mode == NET_MODE_SOFTNET || r->mode == NET_MODE_HOST;
  if (open_tap_on(a, NET_BRIDGE, isolated, err) < 0)
    goto fail;
  if (isolated) {
    struct net_settings s;
    if (net_settings_load(a->net_dir, &s, err) < 0)
      goto fail;
    a->fw = (struct fw_vm){
        .tap = a->ifnames[0],
        .bridge = NET_BRIDGE,
        .mac = *mac,
        .gateway = s.address,
        .prefix = net_prefix(s.mask),
        .mode = r->mode == NET_MODE_HOST ? FW_HOST : FW_SOFTNET,
        .allow = r->allow,
        .n_allow = r->n_allow,
        .block = r->block,
        .n_block = r->n_block,
        .expose = r->expose,
        .n_expose = r->n_expose,
    };
    /* A stale lease of this MAC must not open the rules before the guest
     * asks again; the rules follow the lease dnsmasq gives now.  A restored
     * guest still holds its lease: keep it. */
    if (!r->restoring)
      net_lease_release(a->net_dir, mac, NULL);
    if (load_rules(a, err) < 0) {
      tart_error_wrap(err, "cannot load the isolation rules");
      goto fail;
    }
  }
done:
  close(a->lock_fd);
  a->lock_fd = -1;
  return 0;
fail:
  net_detach(a, false);
  return -1;
}

int net_attach_poll(struct net_attachment *a)
{
  if (!a->firewall)
    return -1;
  /* The rules follow the lease: the first one, a new address, or none
   * (released or expired: back to DHCP only). */
  struct in_addr ip;
  bool have = net_lease_lookup(a->net_dir, &a->mac, &ip) == 1;
  if (have != a->fw.have_ip || (have && ip.s_addr != a->fw.ip.s_addr)) {
    struct fw_vm before = a->fw;
    a->fw.have_ip = have;
    if (have)
      a->fw.ip = ip;
    tart_error_t e = NULL;
    int fd = net_lock(a->net_dir, &e);
    if (fd < 0 || load_rules(a, &e) < 0) {
      log_warn("cannot load the rules for the guest's address: %s", e ? e->msg : "?");
      a->fw = before;
    }
    if (fd >= 0)
      close(fd);
    tart_error_release(&e);
  }
  return a->fw.have_ip ? 5000 : 1000;
}

void net_detach(struct net_attachment *a, bool keep_lease)
{
  /* The rules go before the taps: once a tap is closed its name may be
   * taken by another run, whose rules we must not remove. */
  int fd = a->lock_fd;
  a->lock_fd = -1;
  if (fd < 0 && a->net_dir && (a->firewall || a->n > 0))
    fd = net_lock(a->net_dir, NULL);
  if (a->firewall) {
    _cleanup_free_ char *script = fw_vm_delete_script(a->fw.tap);
    tart_error_t e = NULL;
    if (script && fw_apply(script, true, &e) < 0)
      log_warn("cannot remove the rules of %s: %s", a->fw.tap, e->msg);
    tart_error_release(&e);
    a->firewall = false;
  }
  for (size_t i = 0; i < a->n; i++) {
    if (a->fds[i] >= 0)
      close(a->fds[i]);
    a->fds[i] = -1;
    if (a->macvtap[i])
      link_delete(a->ifnames[i], NULL);
    a->macvtap[i] = false;
  }
  a->n = 0;
  if (fd >= 0)
    close(fd);
  if (a->net_dir) {
    /* A suspended guest keeps its address in memory: keep its lease too,
     * or dnsmasq could give the address to another VM meanwhile. */
    tart_error_t e = NULL;
    if (a->mode != NET_MODE_BRIDGED && !keep_lease && net_lease_release(a->net_dir, &a->mac, &e) < 0)
      log_warn("%s", e->msg);
    tart_error_release(&e);
    free(a->net_dir);
    a->net_dir = NULL;
  }
}
