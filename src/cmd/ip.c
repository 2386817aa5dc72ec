/* tart ip: the guest's IPv4 address (docs/upstream.md, "IP resolution"). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "agent/qga.h"
#include "net/arp.h"
#include "net/network.h"
#include "util/fs.h"
#include "vmconfig/config.h"
#include "cmd/cmd.h"
#include "vm/run.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/report.h"
#include "util/util.h"

/* A run that ended with an error this many seconds before `ip` started
 * is taken as the one the caller waits for. */
#define RECENT_END_S 10

const char cmd_ip_help[] =
    "OVERVIEW: Get VM's IP address\n"
    "\n"
    "USAGE: tart ip <name> [--wait <seconds>] [--resolver <resolver>]\n"
    "\n"
    "ARGUMENTS:\n"
    "  <name>                  VM name\n"
    "\n"
    "OPTIONS:\n"
    "  --wait <seconds>        Number of seconds to wait for a potential VM booting\n"
    "                          (default: 0)\n"
    "  --resolver <resolver>   Strategy for resolving the IP: dhcp (the NAT network's\n"
    "                          leases), arp (the host's ARP table; bridged networks) or\n"
    "                          agent (the QEMU guest agent, any network). Default: dhcp,\n"
    "                          or arp for --net-bridged and agent for --net-user VMs\n"
    "  -h, --help              Show help information.\n";

enum resolver { RESOLVER_DEFAULT, RESOLVER_DHCP, RESOLVER_ARP, RESOLVER_AGENT };

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

int cmd_ip(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  enum { OPT_WAIT = 256, OPT_RESOLVER };
  static const struct option longopts[] = {
      {"wait", required_argument, NULL, OPT_WAIT},
      {"resolver", required_argument, NULL, OPT_RESOLVER},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t wait = 0;
  enum resolver resolver = RESOLVER_DEFAULT;
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return args_help(cmd_ip_help);
    if (c == OPT_WAIT && args_u64("--wait", optarg, 0, 86400, &wait, err) < 0)
      return -1;
    if (c == OPT_RESOLVER) {
      if (!strcmp(optarg, "dhcp"))
        resolver = RESOLVER_DHCP;
      else if (!strcmp(optarg, "arp"))
        resolver = RESOLVER_ARP;
      else if (!strcmp(optarg, "agent"))
        resolver = RESOLVER_AGENT;
      else
        return args_usage_error(argv, err, "invalid value for --resolver: \"%s\" (use dhcp, arp or agent)",
                                optarg);
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  _cleanup_free_ char *cfg_path = vm_dir_file(dir, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_config_load(cfg_path, &cfg, err) < 0)
    return -1;
  struct mac_addr mac = cfg.mac;
  vm_config_clear(&cfg);

  /* docs/upstream.md, "IP resolution": try, sleep a second, until the deadline. */
  time_t deadline = time(NULL) + (time_t)wait;
  enum net_mode mode = NET_MODE_NAT;
  bool user = false;
  enum resolver used = resolver;
  time_t started = time(NULL);
  int ended_seen = 0;
  for (;;) {
    _cleanup_free_ char *ndir = NULL;
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
    if (!running || vm_net_state(dir, &mode, &ndir) < 0)
      mode = NET_MODE_NAT;
    user = running && mode == NET_MODE_USER;
    if (ndir == NULL)
      ndir = net_dir();
    enum resolver r = resolver;
    if (r == RESOLVER_DEFAULT)
      r = mode == NET_MODE_USER ? RESOLVER_AGENT : mode == NET_MODE_BRIDGED ? RESOLVER_ARP : RESOLVER_DHCP;
    char ip[16] = "";
    int found = 0;
    /* Leases and ARP entries outlive the VM: only a running VM has an address. */
    if (running) {
      if (r == RESOLVER_AGENT)
        found = resolve_agent(dir, ip);
      else if (r == RESOLVER_ARP)
        found = resolve_arp(&mac, ip);
      else if (!user)
        found = resolve_dhcp(ndir, &mac, ip);
    }
    if (found == 1) {
      printf("%s\n", ip);
      if (user)
        report(REPORT_NOTICE, "the VM uses user-mode networking (--net-user): this is its address inside "
                              "QEMU's private network, not reachable from the host; use --net-user-forward");
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
  if (user && used != RESOLVER_AGENT)
    return tart_error_make(
        err, 0,
        "no IP address found: the VM uses user-mode networking (--net-user), whose address the "
        "host cannot reach; use --net-user-forward, or --resolver agent to see the guest's view");
  if (used == RESOLVER_AGENT)
    return tart_error_make(
        err, 0, "no IP address found (also make sure that the QEMU guest agent is running inside of a VM)");
  if (used == RESOLVER_ARP)
    return tart_error_make(
        err, 0, "no IP address found (not all Linux distributions are compatible with the ARP resolver)");
  return tart_error_make(err, 0, "no IP address found (the guest has no DHCP lease yet; try --wait)");
}
