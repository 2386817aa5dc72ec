/* tart network up|down|status|set: the NAT network (docs/design.md, "Networking model").  Not in
 * upstream, where macOS provides the shared network. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "net/network.h"
#include "util/util.h"

enum { OPT_FORMAT = CMD_OPT_LONG, OPT_ADDRESS, OPT_MASK, OPT_LEASE, OPT_ALLOW };

/* One table for all subcommands, as the help shows them: each flag goes
 * with one subcommand (its USAGE line), which cmd_network checks after
 * parsing. */
static const struct cmd_option network_options[] = {
    {OPT_ALLOW, 0, "allow-users", NULL,
     "Let users other than root run VMs on it: allow " NET_BRIDGE "\n"
     "in " NET_BRIDGE_CONF " and make qemu-bridge-helper setuid root"},
    {OPT_FORMAT, 0, "format", "<format>", "text or json (default: text)"},
    {OPT_ADDRESS, 0, "address", "<ip>",
     "Gateway address; the subnet follows (default " NET_DEFAULT_ADDRESS ")"},
    {OPT_MASK, 0, "mask", "<mask>", "Network mask (default " NET_DEFAULT_MASK ")"},
    {OPT_LEASE, 0, "lease-time", "<seconds>", "DHCP lease time (default 600)"},
    {0},
};

const struct cmd_spec cmd_network_spec = {
    .name = "network",
    .abstract = "Manage the NAT network VMs use by default",
    .discussion = "The network is a bridge " NET_BRIDGE " holding the gateway address, dnsmasq serving DHCP\n"
                  "and DNS on it, an nftables table \"ip tart\" masquerading the subnet, and IPv4\n"
                  "forwarding. `tart run` as root brings it up when needed. Its state lives in\n"
                  "$TART_NETWORK_DIR (default " NET_DEFAULT_DIR ").\n",
    .usage = "tart network up [--allow-users]\n"
             "       tart network down\n"
             "       tart network status [--format text|json]\n"
             "       tart network set [--address <ip>] [--mask <mask>] [--lease-time <seconds>]",
    /* With .subcommands set, --help lists these under SUBCOMMANDS. */
    .arguments = "up\tCreate what is missing, restart a dead DHCP server (root)\n"
                 "down\tRemove what `up` created (root)\n"
                 "status\tSay what is up and what is missing; exit 1 if not all up\n"
                 "set\tChange the settings (kept for later `up`s) and, if the\n"
                 "\tnetwork is up, apply them now\n",
    .options = network_options,
    .subcommands = "up down status set",
};

/* qemu-bridge-helper must run as root to make taps: Debian installs it
 * without the setuid bit.  dpkg-statoverride keeps the bit across package
 * upgrades; without dpkg, chmod. */

static void print_status(const struct net_status *st, bool json)
{
  char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &st->settings.address, a, sizeof(a));
  inet_ntop(AF_INET, &st->settings.mask, m, sizeof(m));
  if (json) {
    printf("{\"up\":%s,\"bridge\":{\"name\":\"%s\",\"exists\":%s,\"up\":%s,\"address\":%s},"
           "\"dnsmasq\":{\"running\":%s,\"pid\":%d},\"firewall\":%s,\"forwarding\":%s,"
           "\"settings\":{\"address\":\"%s\",\"mask\":\"%s\",\"leaseTime\":%u}}\n",
           net_status_ok(st) ? "true" : "false", NET_BRIDGE, st->bridge ? "true" : "false",
           st->up ? "true" : "false", st->address ? "true" : "false", st->dnsmasq ? "true" : "false",
           (int)st->dnsmasq_pid, st->firewall ? "true" : "false", st->forwarding ? "true" : "false", a, m,
           (unsigned)st->settings.lease_time);
    return;
  }
  printf("network:    %s\n", net_status_ok(st) ? "up" : "not up");
  printf("settings:   gateway %s/%u, lease time %u s\n", a, net_prefix(st->settings.mask),
         (unsigned)st->settings.lease_time);
  printf("bridge:     %s\n", !st->bridge    ? "missing (" NET_BRIDGE ")"
                             : !st->up      ? NET_BRIDGE " exists but is down"
                             : !st->address ? NET_BRIDGE " lacks the gateway address"
                                            : NET_BRIDGE " up");
  if (st->dnsmasq)
    printf("dhcp:       dnsmasq running (pid %d)\n", (int)st->dnsmasq_pid);
  else
    printf("dhcp:       dnsmasq not running\n");
  printf("nat:        %s\n",
         st->firewall ? "nftables table ip tart loaded" : "nftables table ip tart missing");
  printf("forwarding: %s\n", st->forwarding ? "on" : "off (net.ipv4.ip_forward=0)");
  if (!net_status_ok(st))
    printf("run `sudo tart network up` to bring up what is missing\n");
}

static int parse_ipv4(const char *flag, const char *v, struct in_addr *out, char **argv, tart_error_t *err)
{
  if (inet_pton(AF_INET, v, out) != 1)
    return args_usage_error(argv, err, "invalid value for %s: \"%s\" is not an IPv4 address", flag, v);
  return 0;
}

int cmd_network(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  (void)ctx;
  _cleanup_free_ char *dir = net_dir();
  struct net_settings s;
  bool json = false, allow = false, have_addr = false, have_mask = false, have_lease = false;
  struct in_addr addr = {0}, mask = {0};
  uint64_t lease = 0;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_network_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_network_spec);
    case OPT_FORMAT:
      if (strcmp(optarg, "text") && strcmp(optarg, "json"))
        return args_usage_error(argv, err, "invalid value for --format: \"%s\" (use text or json)", optarg);
      json = !strcmp(optarg, "json");
      break;
    case OPT_ADDRESS:
      if (parse_ipv4("--address", optarg, &addr, argv, err) < 0)
        return -1;
      have_addr = true;
      break;
    case OPT_MASK:
      if (parse_ipv4("--mask", optarg, &mask, argv, err) < 0)
        return -1;
      have_mask = true;
      break;
    case OPT_LEASE:
      if (args_u64("--lease-time", optarg, 120, 31536000, &lease, err) < 0)
        return -1;
      have_lease = true;
      break;
    case OPT_ALLOW:
      allow = true;
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<up|down|status|set>", err) < 0)
    return -1;
  const char *sub = argv[optind];
  bool is_set = !strcmp(sub, "set");
  if ((have_addr || have_mask || have_lease) && !is_set)
    return args_usage_error(argv, err, "--address, --mask and --lease-time go with `tart network set`");
  if (json && strcmp(sub, "status"))
    return args_usage_error(argv, err, "--format goes with `tart network status`");
  if (allow && strcmp(sub, "up"))
    return args_usage_error(argv, err, "--allow-users goes with `tart network up`");

  if (!strcmp(sub, "up")) {
    if (net_up(dir, err) < 0)
      return -1;
    if (allow && net_allow_users(err) < 0)
      return -1;
    if (net_settings_load(dir, &s, err) < 0)
      return -1;
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &s.address, a, sizeof(a));
    printf("NAT network %s is up: gateway %s/%u\n", NET_BRIDGE, a, net_prefix(s.mask));
    if (!net_bridge_conf_allows())
      printf("Only root can run VMs on it; `sudo tart network up --allow-users` lets other users too\n");
    return 0;
  }
  if (!strcmp(sub, "down"))
    return net_down(dir, err);
  if (!strcmp(sub, "status")) {
    struct net_status st;
    if (net_status_get(dir, &st, err) < 0)
      return -1;
    print_status(&st, json);
    ctx->exit_code = net_status_ok(&st) ? 0 : 1;
    return 0;
  }
  if (is_set) {
    if (!have_addr && !have_mask && !have_lease)
      return args_usage_error(argv, err, "nothing to set: give --address, --mask or --lease-time");
    struct net_settings_change ch = {.address = have_addr ? &addr : NULL,
                                     .mask = have_mask ? &mask : NULL,
                                     .lease_time = have_lease ? (uint32_t)lease : 0};
    return net_settings_change(dir, &ch, err);
  }
  return args_usage_error(argv, err, "unknown network command \"%s\" (use up, down, status or set)", sub);
}
