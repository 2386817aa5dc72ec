#include "net/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/firewall.h"
#include "net/leases.h"
#include "net/link.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/process.h"
#include "util/report.h"
#include "util/util.h"

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

void net_settings_default(struct net_settings *s)
{
  inet_pton(AF_INET, NET_DEFAULT_ADDRESS, &s->address);
  inet_pton(AF_INET, NET_DEFAULT_MASK, &s->mask);
  s->lease_time = NET_DEFAULT_LEASE_TIME;
}

static int get_ipv4(json_t *root, const char *key, struct in_addr *out, tart_error_t *err)
{
  json_t *v = json_object_get(root, key);
  if (v == NULL)
    return 0;
  const char *s = json_string_value(v);
  if (s == NULL || inet_pton(AF_INET, s, out) != 1)
    return tart_error_make(err, 0, "network settings: \"%s\" is not an IPv4 address", key);
  return 0;
}

int net_settings_parse(const char *text, size_t len, struct net_settings *s, tart_error_t *err)
{
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL || !json_is_object(root)) {
    json_decref(root);
    return tart_error_make(err, 0, "network settings are not a JSON object");
  }
  struct net_settings n = *s;
  int r = 0;
  if (get_ipv4(root, "address", &n.address, err) < 0 || get_ipv4(root, "mask", &n.mask, err) < 0)
    r = -1;
  json_t *lt = json_object_get(root, "leaseTime");
  if (r == 0 && lt) {
    if (!json_is_integer(lt) || json_integer_value(lt) < 0 || json_integer_value(lt) > UINT32_MAX)
      r = tart_error_make(err, 0, "network settings: \"leaseTime\" is not a number of seconds");
    else
      n.lease_time = (uint32_t)json_integer_value(lt);
  }
  json_decref(root);
  if (r == 0)
    *s = n;
  return r;
}

char *net_settings_format(const struct net_settings *s)
{
  char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &s->address, a, sizeof(a));
  inet_ntop(AF_INET, &s->mask, m, sizeof(m));
  return xasprintf("{\n  \"address\": \"%s\",\n  \"mask\": \"%s\",\n  \"leaseTime\": %u\n}\n", a, m,
                   (unsigned)s->lease_time);
}

unsigned net_prefix(struct in_addr mask)
{
  return (unsigned)__builtin_popcount(ntohl(mask.s_addr));
}

int net_settings_validate(const struct net_settings *s, tart_error_t *err)
{
  uint32_t m = ntohl(s->mask.s_addr);
  unsigned p = net_prefix(s->mask);
  if (m != (p ? ~0u << (32 - p) : 0) || p < 8 || p > 30)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "the network mask must be contiguous, from /8 to /30");
  uint32_t a = ntohl(s->address.s_addr);
  if ((a & ~m) == 0 || (a & ~m) == ~m)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "the gateway address cannot be the network's or its broadcast address");
  if ((a >> 24) == 0 || (a >> 24) == 127 || (a >> 24) >= 224)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "the gateway address must be a unicast address");
  if (s->lease_time < 120 || s->lease_time > 31536000)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "the lease time must be from 120 s to a year");
  return 0;
}

void net_dhcp_range(const struct net_settings *s, struct in_addr *start, struct in_addr *end)
{
  uint32_t m = ntohl(s->mask.s_addr), a = ntohl(s->address.s_addr);
  uint32_t net = a & m, bcast = net | ~m;
  uint32_t first = net + 1;
  if (first == a)
    first++;
  uint32_t last = bcast - 1;
  if (last == a)
    last--;
  start->s_addr = htonl(first);
  end->s_addr = htonl(last);
}

char *net_dir(void)
{
  const char *d = getenv("TART_NETWORK_DIR");
  return xstrdup(d && *d ? d : NET_DEFAULT_DIR);
}

int net_settings_load(const char *dir, struct net_settings *s, tart_error_t *err)
{
  net_settings_default(s);
  _cleanup_free_ char *path = xasprintf("%s/settings.json", dir);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  tart_error_t e = NULL;
  if (read_file(path, 1 << 16, &text, &len, &e) < 0) {
    bool missing = e->errnum == ENOENT;
    if (missing) {
      tart_error_release(&e);
      return 0;
    }
    *err = e;
    return -1;
  }
  if (net_settings_parse(text, len, s, err) < 0)
    return tart_error_wrap(err, "%s", path);
  return 0;
}

/* The state directory holds the leases (who had which address): only its
 * owner reads it.  As root, a directory someone else owns, or a symlink,
 * could point our writes elsewhere: refuse it. */
static int state_dir(const char *dir, tart_error_t *err)
{
  if (mkdir_p(dir, 0700, err) < 0)
    return -1;
  struct stat st;
  if (lstat(dir, &st) < 0)
    return tart_error_make(err, errno, "cannot use %s", dir);
  if (!S_ISDIR(st.st_mode))
    return tart_error_make(err, ENOTDIR, "the network state directory %s is not a directory (a symlink?)",
                           dir);
  if (geteuid() == 0 && st.st_uid != 0)
    return tart_error_make(err, EPERM, "the network state directory %s is not owned by root", dir);
  if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
    return tart_error_make(err, errno, "cannot restrict %s to its owner", dir);
  return 0;
}

int net_settings_save(const char *dir, const struct net_settings *s, tart_error_t *err)
{
  if (state_dir(dir, err) < 0)
    return -1;
  _cleanup_free_ char *path = xasprintf("%s/settings.json", dir);
  _cleanup_free_ char *text = net_settings_format(s);
  return write_file_atomic(path, text, strlen(text), 0644, err);
}

int net_lock(const char *dir, tart_error_t *err)
{
  if (state_dir(dir, err) < 0)
    return -1;
  _cleanup_free_ char *path = xasprintf("%s/lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", path);
  if (lock_flock(fd, true, true, err) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* created.json: what `up` made, for `down`. */
struct created {
  bool bridge;
  int ip_forward_was; /* -1: we did not change it */
};

static void created_load(const char *dir, struct created *c)
{
  c->bridge = false;
  c->ip_forward_was = -1;
  _cleanup_free_ char *path = xasprintf("%s/created.json", dir);
  json_t *root = json_load_file(path, 0, NULL);
  if (root == NULL)
    return;
  c->bridge = json_is_true(json_object_get(root, "bridge"));
  json_t *f = json_object_get(root, "ipForwardWas");
  if (json_is_integer(f))
    c->ip_forward_was = (int)json_integer_value(f);
  json_decref(root);
}

static int created_save(const char *dir, const struct created *c, tart_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/created.json", dir);
  _cleanup_free_ char *text =
      xasprintf("{\"bridge\": %s, \"ipForwardWas\": %d}\n", c->bridge ? "true" : "false", c->ip_forward_was);
  return write_file_atomic(path, text, strlen(text), 0644, err);
}

static int read_ip_forward(void)
{
  char buf[8] = "";
  int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? atoi(buf) : -1;
}

static int write_ip_forward(int v, tart_error_t *err)
{
  int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open %s", IP_FORWARD);
  char c = v ? '1' : '0';
  ssize_t n = write(fd, &c, 1);
  int e = errno;
  close(fd);
  if (n != 1)
    return tart_error_make(err, e, "cannot write %s", IP_FORWARD);
  return 0;
}

/* Alive and not a zombie: a daemon's parent is whatever reaps orphans, and
 * in a container that may be nobody, so a dead dnsmasq can linger as one. */
static bool process_alive(pid_t pid)
{
  if (kill(pid, 0) < 0)
    return false;
  _cleanup_free_ char *path = xasprintf("/proc/%ld/stat", (long)pid);
  _cleanup_free_ char *stat = NULL;
  size_t len = 0;
  if (read_file(path, 4096, &stat, &len, NULL) < 0)
    return false;
  const char *paren = strrchr(stat, ')');
  return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

/* Our dnsmasq: the PID in dnsmasq.pid, alive, and really a dnsmasq (a
 * stale PID file may name a recycled PID). */
static pid_t dnsmasq_pid(const char *dir)
{
  _cleanup_free_ char *path = xasprintf("%s/dnsmasq.pid", dir);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (read_file(path, 64, &text, &len, NULL) < 0)
    return 0;
  long pid = strtol(text, NULL, 10);
  if (pid <= 1 || !process_alive((pid_t)pid))
    return 0;
  _cleanup_free_ char *comm_path = xasprintf("/proc/%ld/comm", pid);
  _cleanup_free_ char *comm = NULL;
  if (read_file(comm_path, 64, &comm, &len, NULL) < 0 || strncmp(comm, "dnsmasq", 7) != 0)
    return 0;
  return (pid_t)pid;
}

static bool firewall_loaded(void)
{
  const char *argv[] = {"nft", "list", "table", "ip", "tart", NULL};
  return process_run(argv, NULL, NULL) == 0;
}

int net_status_get(const char *dir, struct net_status *st, tart_error_t *err)
{
  memset(st, 0, sizeof(*st));
  if (net_settings_load(dir, &st->settings, err) < 0)
    return -1;
  st->bridge = link_exists(NET_BRIDGE) && link_is_bridge(NET_BRIDGE);
  if (st->bridge) {
    st->up = link_is_up(NET_BRIDGE);
    struct in_addr a, m;
    st->address = link_get_ipv4(NET_BRIDGE, &a, &m, NULL) == 0 && a.s_addr == st->settings.address.s_addr &&
                  m.s_addr == st->settings.mask.s_addr;
  }
  st->dnsmasq_pid = dnsmasq_pid(dir);
  st->dnsmasq = st->dnsmasq_pid > 0;
  st->firewall = firewall_loaded();
  st->forwarding = read_ip_forward() == 1;
  return 0;
}

bool net_status_ok(const struct net_status *st)
{
  return st->bridge && st->up && st->address && st->dnsmasq && st->firewall && st->forwarding;
}

static void stop_dnsmasq(const char *dir)
{
  pid_t pid = dnsmasq_pid(dir);
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100 && process_alive(pid); i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (process_alive(pid)) {
    kill(pid, SIGKILL);
    /* Its sockets must be gone before a new dnsmasq binds the same ones. */
    for (int i = 0; i < 100 && process_alive(pid); i++) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  _cleanup_free_ char *pidfile = xasprintf("%s/dnsmasq.pid", dir);
  unlink(pidfile);
}

/* dnsmasq daemonises once its sockets are bound; a configuration error
 * makes it exit non-zero with the reason on stderr. */
static int start_dnsmasq(const char *dir, const struct net_settings *s, tart_error_t *err)
{
  char gw[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN], lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN];
  struct in_addr start, end;
  net_dhcp_range(s, &start, &end);
  inet_ntop(AF_INET, &s->address, gw, sizeof(gw));
  inet_ntop(AF_INET, &s->mask, mask, sizeof(mask));
  inet_ntop(AF_INET, &start, lo, sizeof(lo));
  inet_ntop(AF_INET, &end, hi, sizeof(hi));
  _cleanup_free_ char *range = xasprintf("--dhcp-range=%s,%s,%s,%u", lo, hi, mask, (unsigned)s->lease_time);
  _cleanup_free_ char *router = xasprintf("--dhcp-option=option:router,%s", gw);
  _cleanup_free_ char *dns = xasprintf("--dhcp-option=option:dns-server,%s", gw);
  _cleanup_free_ char *listen = xasprintf("--listen-address=%s", gw);
  _cleanup_free_ char *leases = xasprintf("--dhcp-leasefile=%s/dnsmasq.leases", dir);
  _cleanup_free_ char *pid = xasprintf("--pid-file=%s/dnsmasq.pid", dir);
  _cleanup_free_ char *log = xasprintf("--log-facility=%s/dnsmasq.log", dir);
  /* --no-ping: dnsmasq owns the subnet, and the 3 s ping before each offer
   * doubles the time to a lease.  --dhcp-ignore-clid: clients are known by
   * their MAC alone, which the softnet rules pin (a guest cannot act in
   * another's name with a made-up client id), which `tart ip` looks up,
   * and which dhcp_release names.  dnsmasq opens its files as root, then
   * drops to its unprivileged user. */
  const char *argv[] = {"dnsmasq",
                        "--conf-file=/dev/null",
                        "--bind-interfaces",
                        "--interface=" NET_BRIDGE,
                        "--except-interface=lo",
                        listen,
                        range,
                        router,
                        dns,
                        leases,
                        pid,
                        log,
                        "--dhcp-authoritative",
                        "--no-ping",
                        "--log-dhcp",
                        "--dhcp-ignore-clid",
                        NULL};
  if (process_run(argv, NULL, err) < 0)
    return tart_error_wrap(err, "cannot start the network's DHCP server");
  return 0;
}

static int require_root(const char *what, tart_error_t *err)
{
  if (geteuid() != 0)
    return tart_error_kind(err, EPERM, "%s needs root: run it with sudo", what);
  return 0;
}

int net_up(const char *dir, tart_error_t *err)
{
  if (require_root("setting up the NAT network", err) < 0)
    return -1;
  _cleanup_close_ int lock = net_lock(dir, err);
  if (lock < 0)
    return -1;
  struct net_settings s;
  if (net_settings_load(dir, &s, err) < 0 || net_settings_validate(&s, err) < 0)
    return -1;
  struct created c;
  created_load(dir, &c);

  if (link_exists(NET_BRIDGE) && !link_is_bridge(NET_BRIDGE))
    return tart_error_make(err, 0, "%s exists and is not a bridge: remove it first", NET_BRIDGE);
  int made = link_bridge_create(NET_BRIDGE, err);
  if (made < 0)
    return -1;
  if (made == 1) {
    /* A new bridge starts a new record: one left from before a reboot
     * would restore a forwarding setting that is not the current one. */
    c.bridge = true;
    c.ip_forward_was = -1;
    if (created_save(dir, &c, err) < 0) {
      link_bridge_delete(NET_BRIDGE, NULL);
      return -1;
    }
  }
  /* Forward delay 0: a new VM port forwards at once (DHCP in 1 s, not 15). */
  if (link_bridge_set_forward_delay0(NET_BRIDGE, err) < 0)
    return -1;
  struct in_addr a, m;
  bool moved = link_get_ipv4(NET_BRIDGE, &a, &m, NULL) < 0 || a.s_addr != s.address.s_addr ||
               m.s_addr != s.mask.s_addr;
  if (moved && link_set_ipv4(NET_BRIDGE, s.address, s.mask, err) < 0)
    return -1;
  if (link_set_up(NET_BRIDGE, true, err) < 0)
    return -1;

  _cleanup_free_ char *script = fw_nat_script(NET_BRIDGE, s.address, net_prefix(s.mask));
  if (fw_apply(script, false, err) < 0)
    return tart_error_wrap(err, "cannot load the NAT rules");
  int fwd = read_ip_forward();
  if (fwd != 1) {
    if (c.ip_forward_was < 0) {
      c.ip_forward_was = fwd < 0 ? 0 : fwd;
      if (created_save(dir, &c, err) < 0)
        return -1;
    }
    if (write_ip_forward(1, err) < 0)
      return -1;
  }

  /* dnsmasq reads its settings only at start: restart it when they may
   * have changed (a new address) or when it died. */
  _cleanup_free_ char *applied_path = xasprintf("%s/dnsmasq.settings", dir);
  _cleanup_free_ char *want = net_settings_format(&s);
  _cleanup_free_ char *have = NULL;
  size_t have_len = 0;
  bool same = read_file(applied_path, 1 << 16, &have, &have_len, NULL) == 0 && strcmp(have, want) == 0;
  if (!same || moved || dnsmasq_pid(dir) == 0) {
    stop_dnsmasq(dir);
    if (start_dnsmasq(dir, &s, err) < 0)
      return -1;
    if (write_file_atomic(applied_path, want, strlen(want), 0644, err) < 0)
      return -1;
  }
  return 0;
}

int net_down(const char *dir, tart_error_t *err)
{
  if (require_root("taking the NAT network down", err) < 0)
    return -1;
  _cleanup_close_ int lock = net_lock(dir, err);
  if (lock < 0)
    return -1;
  struct created c;
  created_load(dir, &c);
  stop_dnsmasq(dir);
  _cleanup_free_ char *applied_path = xasprintf("%s/dnsmasq.settings", dir);
  unlink(applied_path);
  net_collect_leftovers();
  _cleanup_free_ char *script = fw_nat_delete_script();
  if (fw_apply(script, true, err) < 0)
    return -1;
  if (c.bridge && link_bridge_delete(NET_BRIDGE, err) < 0)
    return -1;
  if (c.ip_forward_was == 0 && write_ip_forward(0, err) < 0)
    return -1;
  _cleanup_free_ char *created_path = xasprintf("%s/created.json", dir);
  unlink(created_path);
  return 0;
}

void net_collect_leftovers(void)
{
  char **taps = NULL;
  size_t n = 0;
  if (fw_list_vm_tables(&taps, &n, NULL) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (link_exists(taps[i]))
        continue;
      _cleanup_free_ char *script = fw_vm_delete_script(taps[i]);
      tart_error_t e = NULL;
      if (script && fw_apply(script, true, &e) < 0)
        log_debug("cannot remove the rules of %s: %s", taps[i], e->msg);
      tart_error_release(&e);
    }
    fw_taps_free(taps, n);
  }
  char **names = NULL;
  if (link_list(&names, &n, NULL) == 0) {
    for (size_t i = 0; i < n; i++) {
      /* Only what we name "tmv<pid><letter>" and made as a macvtap. */
      const char *p = names[i];
      if (strncmp(p, NET_MACVTAP_PREFIX, strlen(NET_MACVTAP_PREFIX)) != 0)
        continue;
      p += strlen(NET_MACVTAP_PREFIX);
      char *end;
      long pid = strtol(p, &end, 10);
      if (end == p || pid <= 1 || end[0] < 'a' || end[0] >= 'a' + NET_MAX_NICS_PER_VM || end[1] != '\0')
        continue;
      struct link_info li;
      if (link_query(names[i], &li, NULL) < 0 || strcmp(li.kind, "macvtap") != 0)
        continue;
      if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        continue;
      link_delete(names[i], NULL);
    }
    link_list_free(names, n);
  }
}

bool net_bridge_conf_allows(void)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (read_file(NET_BRIDGE_CONF, 1 << 20, &text, &len, NULL) < 0)
    return false;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char word[16], what[64];
    if (sscanf(line, " %15s %63s", word, what) == 2 && !strcmp(word, "allow") &&
        (!strcmp(what, NET_BRIDGE) || !strcmp(what, "all")))
      return true;
  }
  return false;
}

bool net_bridge_has_ports(void)
{
  struct link_info br;
  if (link_query(NET_BRIDGE, &br, NULL) < 0)
    return false;
  char **names = NULL;
  size_t n = 0;
  bool any = false;
  if (link_list(&names, &n, NULL) == 0) {
    for (size_t i = 0; i < n && !any; i++) {
      struct link_info li;
      any = link_query(names[i], &li, NULL) == 0 && li.master == br.ifindex;
    }
    link_list_free(names, n);
  }
  return any;
}

int net_lease_lookup(const char *dir, const struct mac_addr *mac, struct in_addr *ip)
{
  _cleanup_free_ char *path = xasprintf("%s/dnsmasq.leases", dir);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (read_file(path, 64u << 20, &text, &len, NULL) < 0)
    return 0;
  return leases_lookup(text, len, mac, (int64_t)time(NULL), ip);
}

int net_lease_release(const char *dir, const struct mac_addr *mac, tart_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/dnsmasq.leases", dir);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (read_file(path, 64u << 20, &text, &len, NULL) < 0 || !link_exists(NET_BRIDGE))
    return 0;
  struct in_addr ip;
  if (leases_lookup(text, len, mac, (int64_t)time(NULL), &ip) != 1)
    return 0;
  /* dnsmasq matches a release by client id when the lease has one. */
  struct dhcp_lease *v = NULL;
  size_t n = 0;
  leases_parse(text, len, &v, &n);
  char client_id[sizeof(v->client_id)] = "";
  for (size_t i = 0; i < n; i++)
    if (mac_equal(&v[i].mac, mac) && v[i].ip.s_addr == ip.s_addr)
      snprintf(client_id, sizeof(client_id), "%s", v[i].client_id);
  free(v);
  char ips[INET_ADDRSTRLEN], macs[18];
  inet_ntop(AF_INET, &ip, ips, sizeof(ips));
  mac_format(mac, macs);
  /* dhcp_release sends a DHCPRELEASE as if from the client; dnsmasq drops
   * the lease and rewrites the lease file. */
  const char *argv[] = {"dhcp_release", NET_BRIDGE, ips, macs, client_id[0] ? client_id : NULL, NULL};
  if (process_run(argv, NULL, err) < 0)
    return tart_error_wrap(err, "cannot release the lease of %s", ips);
  /* dnsmasq rewrites the file when it has handled the release. */
  for (int i = 0; i < 50 && net_lease_lookup(dir, mac, &ip) == 1; i++) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  log_debug("released the lease of %s (%s)", ips, macs);
  return 0;
}

static int privilege_helper(tart_error_t *err)
{
  struct stat st;
  if (stat(NET_BRIDGE_HELPER, &st) < 0)
    return tart_error_make(err, errno, "cannot find %s (package qemu-system-common)", NET_BRIDGE_HELPER);
  if (st.st_uid == 0 && (st.st_mode & S_ISUID))
    return 0;
  const char *argv[] = {"dpkg-statoverride", "--update", "--add", "root", "root", "4755",
                        NET_BRIDGE_HELPER,   NULL};
  tart_error_t e = NULL;
  if (process_run(argv, NULL, &e) < 0) {
    log_debug("%s; using chmod", e->msg);
    tart_error_release(&e);
    if (chown(NET_BRIDGE_HELPER, 0, 0) < 0 || chmod(NET_BRIDGE_HELPER, 04755) < 0)
      return tart_error_make(err, errno, "cannot make %s setuid root", NET_BRIDGE_HELPER);
  }
  report(REPORT_STATUS, "made %s setuid root, so that it can attach users' VMs", NET_BRIDGE_HELPER);
  return 0;
}

int net_allow_users(tart_error_t *err)
{
  if (privilege_helper(err) < 0)
    return -1;
  if (net_bridge_conf_allows())
    return 0;
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  tart_error_t e = NULL;
  if (read_file(NET_BRIDGE_CONF, 1 << 20, &text, &len, &e) < 0) {
    if (e->errnum != ENOENT) {
      *err = e;
      return -1;
    }
    tart_error_release(&e);
    text = xstrdup("");
    len = 0;
  }
  _cleanup_free_ char *next =
      xasprintf("%s%s# tart: let qemu-bridge-helper attach VMs to the NAT network\nallow %s\n", text,
                len && text[len - 1] != '\n' ? "\n" : "", NET_BRIDGE);
  if (mkdir_p("/etc/qemu", 0755, err) < 0 ||
      write_file_atomic(NET_BRIDGE_CONF, next, strlen(next), 0644, err) < 0)
    return -1;
  report(REPORT_STATUS, "allowed %s in %s", NET_BRIDGE, NET_BRIDGE_CONF);
  return 0;
}

int net_settings_change(const char *dir, const struct net_settings_change *c, tart_error_t *err)
{
  /* Moving the gateway or replacing the rules under running VMs would cut
   * them off (their leases and softnet rules name the old subnet). */
  if (net_bridge_has_ports())
    return tart_error_make(err, 0, "VMs are running on the NAT network (%s): stop them, then set it",
                           NET_BRIDGE);
  int lock = net_lock(dir, err);
  if (lock < 0)
    return -1;
  struct net_settings s;
  int r = net_settings_load(dir, &s, err);
  if (r == 0) {
    if (c->address)
      s.address = *c->address;
    if (c->mask)
      s.mask = *c->mask;
    if (c->lease_time)
      s.lease_time = c->lease_time;
    r = net_settings_validate(&s, err);
  }
  struct net_status st = {0};
  if (r == 0)
    r = net_status_get(dir, &st, err);
  if (r == 0)
    r = net_settings_save(dir, &s, err);
  close(lock);
  if (r < 0)
    return -1;
  /* Apply now if the network is (partly) up; else the next `up` does. */
  if (st.bridge || st.dnsmasq)
    return net_up(dir, err);
  return 0;
}
