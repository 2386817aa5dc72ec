/* tart ip: the guest's IPv4 address (U§6). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/qga.h"
#include "cmd/cmd.h"
#include "qemu/supervisor.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/util.h"

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
    "  --resolver <resolver>   Strategy for resolving the IP: dhcp, arp or agent (the\n"
    "                          guest agent). dhcp and arp need the NAT network, which\n"
    "                          arrives with `tart network`; use agent. (default: agent)\n"
    "  -h, --help              Show help information.\n";

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
  int c;
  while ((c = args_next(argc, argv, "h", longopts, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return args_help(cmd_ip_help);
    if (c == OPT_WAIT && args_u64("--wait", optarg, 0, 86400, &wait, err) < 0)
      return -1;
    if (c == OPT_RESOLVER) {
      if (!strcmp(optarg, "dhcp") || !strcmp(optarg, "arp"))
        return tart_error_make(err, 0, "the %s resolver reads the NAT network's leases, which this build does not "
                                       "have yet (VMs use user-mode networking): use --resolver agent",
                               optarg);
      if (strcmp(optarg, "agent"))
        return args_usage_error(argv, err, "invalid value for --resolver: \"%s\" (use dhcp, arp or agent)", optarg);
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  _cleanup_free_ char *sock = vm_dir_file(dir, VM_QGA_SOCKET);

  /* U§6.1: try, sleep a second, until the deadline. */
  time_t deadline = time(NULL) + (time_t)wait;
  for (;;) {
    if (vm_dir_running_pid(dir) != 0) {
      struct qga *g = NULL;
      tart_error_t e = NULL;
      char ip[16] = "";
      if (qga_connect(sock, 2000, &g, &e) == 0 && qga_network_first_ipv4(g, 2000, ip, &e) == 1) {
        qga_close(g);
        printf("%s\n", ip);
        return 0;
      }
      qga_close(g);
      tart_error_release(&e);
    }
    if (time(NULL) >= deadline)
      break;
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
  }
  if (vm_dir_running_pid(dir) == 0)
    return tart_error_make(err, 0, "no IP address found, is your VM running?");
  return tart_error_make(err, 0,
                         "no IP address found (also make sure that the QEMU guest agent is running inside of a VM)");
}
