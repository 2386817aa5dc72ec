#include "vm/ip.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/qga.h"
#include "net/arp.h"
#include "net/network.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/util.h"
#include "vm/run.h"
#include "vmconfig/mac.h"

/* A run that ended with an error this many seconds before `ip` started
 * is taken as the one the caller waits for. */
#define RECENT_END_S 10

int vm_ip_resolver_parse(const char *s, enum vm_ip_resolver *out)
{
  static const char *const names[] = {[VM_IP_DHCP] = "dhcp", [VM_IP_ARP] = "arp", [VM_IP_AGENT] = "agent"};
  for (size_t i = VM_IP_DHCP; s && i < ARRAY_SIZE(names); i++)
    if (!strcmp(s, names[i])) {
      *out = (enum vm_ip_resolver)i;
      return 0;
    }
  return -1;
}

static int resolve_agent(const char *dir, char ip[16])
{
  _cleanup_free_ char *sock = vm_dir_file(dir, VM_QGA_SOCKET);
  struct qga *g = NULL;
  tart_error_t e = NULL;
  int r = qga_connect(sock, 2000, &g, &e) == 0 && qga_network_first_ipv4(g, 2000, ip, &e) == 1;
  qga_close(g);
  tart_error_release(&e);
  return r;
}

static int resolve_arp(const struct mac_addr *mac, char ip[16])
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  struct in_addr a;
  if (read_file("/proc/net/arp", 64u << 20, &text, &len, NULL) < 0 ||
      arp_lookup(text, len, mac, NULL, &a) != 1)
    return 0;
  inet_ntop(AF_INET, &a, ip, 16);
  return 1;
}

static int resolve_dhcp(const char *net_dir, const struct mac_addr *mac, char ip[16])
{
  struct in_addr a;
  if (net_lease_lookup(net_dir, mac, &a) != 1)
    return 0;
  inet_ntop(AF_INET, &a, ip, 16);
  return 1;
}

int vm_ip_find(const char *dir, enum vm_ip_resolver resolver, unsigned wait_s, struct vm_ip *out,
               tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  struct mac_addr mac;
  if (vm_dir_mac(dir, &mac, err) < 0)
    return -1;
  /* Try, sleep a second, until the deadline (docs/upstream.md, "IP
   * resolution"). */
  time_t started = time(NULL), deadline = started + (time_t)wait_s;
  enum vm_ip_resolver used = resolver;
  bool user = false;
  int ended_seen = 0;
  for (;;) {
    bool running = vm_dir_running_pid(dir) != 0;
    /* A run that ended on its own while we wait, or just before (the
     * caller started it and asked at once): say why, now.  One that ended
     * just before is believed once it stays so for a second: a `tart run`
     * starting meanwhile clears it. */
    char why[1024];
    if (running)
      ended_seen = 0;
    else if (vm_run_error(dir, started, why, sizeof(why)) ||
             (vm_run_error(dir, started - RECENT_END_S, why, sizeof(why)) && ended_seen++ > 0))
      return tart_error_make(err, 0, "%s", why);
    enum net_mode mode = NET_MODE_NAT;
    _cleanup_free_ char *ndir = NULL;
    if (!running || vm_net_state(dir, &mode, &ndir) < 0)
      mode = NET_MODE_NAT;
    user = running && mode == NET_MODE_USER;
    if (ndir == NULL)
      ndir = net_dir();
    enum vm_ip_resolver r = resolver;
    if (r == VM_IP_DEFAULT)
      r = mode == NET_MODE_USER ? VM_IP_AGENT : mode == NET_MODE_BRIDGED ? VM_IP_ARP : VM_IP_DHCP;
    int found = 0;
    if (running) {
      if (r == VM_IP_AGENT)
        found = resolve_agent(dir, out->addr);
      else if (r == VM_IP_ARP)
        found = resolve_arp(&mac, out->addr);
      else if (!user)
        found = resolve_dhcp(ndir, &mac, out->addr);
    }
    if (found == 1) {
      out->user_net = user;
      return 0;
    }
    used = r;
    if (time(NULL) >= deadline)
      break;
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
  }
  if (vm_dir_running_pid(dir) == 0) {
    char why[1024];
    if (vm_run_error(dir, started - RECENT_END_S, why, sizeof(why)))
      return tart_error_make(err, 0, "%s", why);
    return tart_error_make(err, 0, "no IP address found, is your VM running?");
  }
  if (user && used != VM_IP_AGENT)
    return tart_error_make(
        err, 0,
        "no IP address found: the VM uses user-mode networking (--net-user), whose address the "
        "host cannot reach; use --net-user-forward, or --resolver agent to see the guest's view");
  if (used == VM_IP_AGENT)
    return tart_error_make(
        err, 0, "no IP address found (also make sure that the QEMU guest agent is running inside of a VM)");
  if (used == VM_IP_ARP)
    return tart_error_make(
        err, 0, "no IP address found (not all Linux distributions are compatible with the ARP resolver)");
  return tart_error_make(err, 0, "no IP address found (the guest has no DHCP lease yet; try --wait)");
}
