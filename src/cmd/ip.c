/* tart ip: the guest's IPv4 address (docs/upstream.md, "IP resolution"). */
#include <stdio.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "util/report.h"
#include "util/util.h"
#include "vm/ip.h"

enum { OPT_WAIT = CMD_OPT_LONG, OPT_RESOLVER };

static const struct cmd_option ip_options[] = {
    {OPT_WAIT, 0, "wait", "<seconds>",
     "Number of seconds to wait for a potential VM booting\n"
     "(default: 0)"},
    {OPT_RESOLVER, 0, "resolver", "<resolver>",
     "Strategy for resolving the IP: dhcp (the NAT network's\n"
     "leases), arp (the host's ARP table; bridged networks) or\n"
     "agent (the QEMU guest agent, any network). Default: dhcp,\n"
     "or arp for --net-bridged and agent for --net-user VMs"},
    {0},
};

const struct cmd_spec cmd_ip_spec = {
    .name = "ip",
    .abstract = "Get VM's IP address",
    .usage = "tart ip <name> [--wait <seconds>] [--resolver <resolver>]",
    .arguments = "<name>\tVM name\n",
    .options = ip_options,
    .vm_arg = CMD_VM_LOCAL,
};

int cmd_ip(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  uint64_t wait = 0;
  enum vm_ip_resolver resolver = VM_IP_DEFAULT;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_ip_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_ip_spec);
    if (c == OPT_WAIT && args_u64("--wait", optarg, 0, 86400, &wait, err) < 0)
      return -1;
    if (c == OPT_RESOLVER && vm_ip_resolver_parse(optarg, &resolver) < 0)
      return args_usage_error(argv, err, "invalid value for --resolver: \"%s\" (use dhcp, arp or agent)",
                              optarg);
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  struct vm_ip ip;
  if (vm_ip_find(dir, resolver, (unsigned)wait, &ip, err) < 0)
    return -1;
  printf("%s\n", ip.addr);
  if (ip.user_net)
    report(REPORT_NOTICE, "the VM uses user-mode networking (--net-user): this is its address inside "
                          "QEMU's private network, not reachable from the host; use --net-user-forward");
  return 0;
}
