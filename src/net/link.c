#include "net/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include "util/util.h"

/* ---- Names and ioctls --------------------------------------------------- */

static bool name_valid(const char *s)
{
  if (s == NULL || s[0] == '\0' || strlen(s) >= IFNAMSIZ)
    return false;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c == 0x7f || c == '/' || c == ':')
      return false;
  }
  return true;
}

static int check_name(const char *s, tart_error_t *err)
{
  if (name_valid(s))
    return 0;
  if (s == NULL || s[0] == '\0')
    return tart_error_kind(err, EINVAL, "empty network interface name");
  char q[64];
  str_quote(s, 32, q, sizeof(q));
  return tart_error_kind(err, EINVAL, "invalid network interface name %s", q);
}

/* Any socket reaches the netdevice ioctls; AF_INET is the one that also
 * takes the IPv4 address calls. */
static int ioctl_socket(tart_error_t *err)
{
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot open a socket for interface ioctls");
  return fd;
}

/* ifr zeroed, with the name in ifr_name; ifname must be valid. */
static void ifreq_init(struct ifreq *ifr, const char *ifname)
{
  memset(ifr, 0, sizeof(*ifr));
  memcpy(ifr->ifr_name, ifname, strlen(ifname) + 1);
}

/* One ioctl on a fresh socket: -1 with errno on failure. */
static int link_ioctl(unsigned long req, void *arg)
{
  _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  return ioctl(fd, req, arg);
}

bool link_exists(const char *ifname)
{
  return name_valid(ifname) && if_nametoindex(ifname) != 0;
}

int link_driver(const char *ifname, char *out, size_t n, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  ifr.ifr_data = (char *)&info;
  if (link_ioctl(SIOCETHTOOL, &ifr) < 0)
    return tart_error_make(err, errno, "cannot get the driver of %s", ifname);
  info.driver[sizeof(info.driver) - 1] = '\0';
  snprintf(out, n, "%s", info.driver);
  return 0;
}

bool link_is_bridge(const char *ifname)
{
  char driver[32];
  _cleanup_error_ tart_error_t err = NULL;
  return link_driver(ifname, driver, sizeof(driver), &err) == 0 && strcmp(driver, "bridge") == 0;
}

int link_get_mac(const char *ifname, struct mac_addr *mac, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  if (link_ioctl(SIOCGIFHWADDR, &ifr) < 0)
    return tart_error_make(err, errno, "cannot get the MAC address of %s", ifname);
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
    return tart_error_kind(err, EAFNOSUPPORT, "%s has no Ethernet address", ifname);
  memcpy(mac->b, ifr.ifr_hwaddr.sa_data, sizeof(mac->b));
  return 0;
}

static struct in_addr sockaddr_in_addr(const struct sockaddr *sa)
{
  struct sockaddr_in sin;
  memcpy(&sin, sa, sizeof(sin));
  return sin.sin_addr;
}

int link_get_ipv4(const char *ifname, struct in_addr *addr, struct in_addr *mask, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  _cleanup_close_ int fd = ioctl_socket(err);
  if (fd < 0)
    return -1;
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  if (ioctl(fd, SIOCGIFADDR, &ifr) < 0) {
    if (errno == EADDRNOTAVAIL)
      return tart_error_kind(err, ENOENT, "%s has no IPv4 address", ifname);
    return tart_error_make(err, errno, "cannot get the IPv4 address of %s", ifname);
  }
  struct in_addr a = sockaddr_in_addr(&ifr.ifr_addr);
  ifreq_init(&ifr, ifname);
  if (ioctl(fd, SIOCGIFNETMASK, &ifr) < 0)
    return tart_error_make(err, errno, "cannot get the IPv4 netmask of %s", ifname);
  if (addr != NULL)
    *addr = a;
  if (mask != NULL)
    *mask = sockaddr_in_addr(&ifr.ifr_netmask);
  return 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int link_list(char ***names, size_t *n, tart_error_t *err)
{
  struct if_nameindex *all = if_nameindex();
  if (all == NULL)
    return tart_error_make(err, errno, "cannot list network interfaces");
  size_t count = 0;
  for (struct if_nameindex *p = all; p->if_index != 0; p++)
    count++;
  char **out = xcalloc(count + 1, sizeof(*out));
  size_t k = 0;
  for (struct if_nameindex *p = all; p->if_index != 0; p++) {
    if (strcmp(p->if_name, "lo") != 0)
      out[k++] = xstrdup(p->if_name);
  }
  if_freenameindex(all);
  qsort(out, k, sizeof(*out), strcmp_ptr);
  *names = out;
  *n = k;
  return 0;
}

void link_list_free(char **names, size_t n)
{
  if (names == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

bool link_is_up(const char *ifname)
{
  if (check_name(ifname, NULL) < 0)
    return false;
  _cleanup_close_ int fd = ioctl_socket(NULL);
  if (fd < 0)
    return false;
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  return ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
}

int link_set_up(const char *ifname, bool up, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  _cleanup_close_ int fd = ioctl_socket(err);
  if (fd < 0)
    return -1;
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
    return tart_error_make(err, errno, "cannot bring %s %s", ifname, up ? "up" : "down");
  short flags = up ? (short)(ifr.ifr_flags | IFF_UP) : (short)(ifr.ifr_flags & ~IFF_UP);
  if (flags == ifr.ifr_flags)
    return 0;
  ifr.ifr_flags = flags;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
    return tart_error_make(err, errno, "cannot bring %s %s", ifname, up ? "up" : "down");
  return 0;
}

static void ifreq_set_in(struct ifreq *ifr, struct in_addr a)
{
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
  memcpy(&ifr->ifr_addr, &sin, sizeof(sin));
}

int link_set_ipv4(const char *ifname, struct in_addr addr, struct in_addr mask, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, a, sizeof(a));
  inet_ntop(AF_INET, &mask, m, sizeof(m));
  /* Checked here so that a bad mask does not leave the address half set. */
  uint32_t host_mask = ntohl(mask.s_addr);
  if ((~host_mask & (~host_mask + 1)) != 0)
    return tart_error_kind(err, EINVAL, "cannot set IPv4 address %s on %s: invalid netmask %s", a, ifname, m);
  _cleanup_close_ int fd = ioctl_socket(err);
  if (fd < 0)
    return -1;
  /* SIOCSIFADDR gives the address its classful mask; the netmask call then
   * narrows or widens it and moves the broadcast address along. */
  struct ifreq ifr;
  ifreq_init(&ifr, ifname);
  ifreq_set_in(&ifr, addr);
  if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
    return tart_error_make(err, errno, "cannot set IPv4 address %s on %s", a, ifname);
  ifreq_init(&ifr, ifname);
  ifreq_set_in(&ifr, mask);
  if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
    return tart_error_make(err, errno, "cannot set IPv4 netmask %s on %s", m, ifname);
  return 0;
}

int link_bridge_create(const char *name, tart_error_t *err)
{
  if (check_name(name, err) < 0)
    return -1;
  char buf[IFNAMSIZ] = {0};
  memcpy(buf, name, strlen(name));
  if (link_ioctl(SIOCBRADDBR, buf) == 0)
    return 1;
  if (errno != EEXIST)
    return tart_error_make(err, errno, "cannot create bridge %s", name);
  if (!link_is_bridge(name))
    return tart_error_kind(err, EEXIST, "cannot create bridge %s: an interface of that name exists", name);
  return 0;
}

int link_bridge_delete(const char *name, tart_error_t *err)
{
  if (check_name(name, err) < 0)
    return -1;
  _cleanup_close_ int fd = ioctl_socket(err);
  if (fd < 0)
    return -1;
  /* The kernel refuses to delete a bridge that is up (EBUSY). */
  struct ifreq ifr;
  ifreq_init(&ifr, name);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
    if (errno == ENODEV)
      return 0;
    return tart_error_make(err, errno, "cannot delete bridge %s", name);
  }
  /* Checked before bringing it down, which would hurt another interface. */
  if (!link_is_bridge(name))
    return tart_error_kind(err, EPERM, "cannot delete bridge %s: it is not a bridge", name);
  if (ifr.ifr_flags & IFF_UP) {
    ifr.ifr_flags = (short)(ifr.ifr_flags & ~IFF_UP);
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
      return tart_error_make(err, errno, "cannot delete bridge %s: cannot bring it down", name);
  }
  char buf[IFNAMSIZ] = {0};
  memcpy(buf, name, strlen(name));
  if (ioctl(fd, SIOCBRDELBR, buf) == 0 || errno == ENXIO || errno == ENODEV)
    return 0;
  return tart_error_make(err, errno, "cannot delete bridge %s", name);
}

/* ---- rtnetlink ---------------------------------------------------------- */

/* Our requests are a header, an ifinfomsg and a few small attributes. */
struct nl_req {
  union {
    struct nlmsghdr h;
    char buf[512];
  } u;
  size_t nest[4]; /* offsets of the open nested attributes */
  unsigned depth;
};

static void nl_init(struct nl_req *r, uint16_t type, uint16_t flags, unsigned char family, unsigned ifindex)
{
  /* Zeroed whole: padding goes to the kernel too. */
  memset(r, 0, sizeof(*r));
  r->u.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  r->u.h.nlmsg_type = type;
  r->u.h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
  struct ifinfomsg *ifi = NLMSG_DATA(&r->u.h);
  ifi->ifi_family = family;
  ifi->ifi_index = (int)ifindex;
}

static void nl_put(struct nl_req *r, uint16_t type, const void *data, size_t len)
{
  size_t off = NLMSG_ALIGN(r->u.h.nlmsg_len);
  /* Requests are fixed by this file: overflowing is a bug here. */
  if (off + RTA_SPACE(len) > sizeof(r->u.buf))
    abort();
  struct rtattr *rta = (struct rtattr *)(r->u.buf + off);
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len > 0)
    memcpy(RTA_DATA(rta), data, len);
  r->u.h.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
}

static void nl_put_str(struct nl_req *r, uint16_t type, const char *s)
{
  nl_put(r, type, s, strlen(s) + 1);
}

static void nl_put_u32(struct nl_req *r, uint16_t type, uint32_t v)
{
  nl_put(r, type, &v, sizeof(v));
}

static void nl_nest_begin(struct nl_req *r, uint16_t type)
{
  if (r->depth == ARRAY_SIZE(r->nest))
    abort();
  r->nest[r->depth++] = NLMSG_ALIGN(r->u.h.nlmsg_len);
  nl_put(r, type | NLA_F_NESTED, NULL, 0);
}

static void nl_nest_end(struct nl_req *r)
{
  struct rtattr *rta = (struct rtattr *)(r->u.buf + r->nest[--r->depth]);
  rta->rta_len = (unsigned short)(r->u.h.nlmsg_len - r->nest[r->depth]);
}

/* Called for every reply message of the request that is not an ACK, error
 * or end of dump; returns 0 or a negative errno that ends the exchange. */
typedef int (*nl_reply_fn)(const struct nlmsghdr *h, void *ctx);

/* The kernel's explanation in an extended ACK, if any, into kmsg. */
static void nl_extack(const struct nlmsghdr *h, const struct nlmsgerr *e, char *kmsg, size_t n)
{
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
    return;
  size_t off = NLMSG_LENGTH(sizeof(*e));
  if (!(h->nlmsg_flags & NLM_F_CAPPED))
    off += NLMSG_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
  if (off > h->nlmsg_len)
    return;
  int len = (int)(h->nlmsg_len - off);
  for (const struct rtattr *a = (const void *)((const char *)h + off); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if ((a->rta_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && RTA_PAYLOAD(a) > 0)
      snprintf(kmsg, n, "%.*s", (int)strnlen(RTA_DATA(a), RTA_PAYLOAD(a)), (const char *)RTA_DATA(a));
  }
}

/* Send the request on a fresh NETLINK_ROUTE socket and read replies, passing
 * them to fn, until the ACK (NLM_F_ACK is added unless it is a dump) or the
 * end of the dump.  Returns 0 or a negative errno, with the kernel's own
 * words in kmsg (kmsg_n bytes, "" if none). */
static int nl_talk(struct nl_req *r, nl_reply_fn fn, void *ctx, char *kmsg, size_t kmsg_n)
{
  static uint32_t seq_counter;
  kmsg[0] = '\0';
  if (r->depth != 0)
    abort();
  _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return -errno;
  int one = 1;
  /* Extended ACKs carry the reason ("Unknown device type"); capped ones do
   * not echo the request back.  Older kernels lack both: no matter. */
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

  bool dump = (r->u.h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (!dump)
    r->u.h.nlmsg_flags |= NLM_F_ACK;
  uint32_t seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);
  r->u.h.nlmsg_seq = seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do
    sent = sendto(fd, r->u.buf, r->u.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
  while (sent < 0 && errno == EINTR);
  if (sent < 0)
    return -errno;
  if ((size_t)sent != r->u.h.nlmsg_len)
    return -EMSGSIZE;

  /* A link message with stats skipped is a few KiB; dumps come in chunks
   * the kernel sizes to at most 32 KiB. */
  size_t bufsize = 64 * 1024;
  _cleanup_free_ char *buf = xmalloc(bufsize);
  for (;;) {
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof(from);
    ssize_t len = recvfrom(fd, buf, bufsize, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (len < 0 && errno == EINTR)
      continue;
    if (len < 0)
      return -errno;
    if ((size_t)len > bufsize)
      return -EMSGSIZE;
    if (from.nl_pid != 0)
      continue; /* not from the kernel */
    const struct nlmsghdr *h;
    for (size_t off = 0; off + NLMSG_HDRLEN <= (size_t)len; off += NLMSG_ALIGN(h->nlmsg_len)) {
      h = (const void *)(buf + off);
      if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)len - off)
        return -EPROTO;
      if (h->nlmsg_seq != seq)
        continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
          return -EPROTO;
        nl_extack(h, e, kmsg, kmsg_n);
        return e->error > 0 ? -EPROTO : e->error;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        /* A dump that failed midway says so here. */
        int rc = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(rc)))
          memcpy(&rc, NLMSG_DATA(h), sizeof(rc));
        return rc > 0 ? 0 : rc;
      }
      if (fn != NULL) {
        int rc = fn(h, ctx);
        if (rc < 0)
          return rc;
      }
    }
  }
}

/* Turn a failed nl_talk into *err: "<what>: <strerror>[ (<kernel's words>)]". */
__attribute__((format(printf, 4, 5))) static int nl_error(tart_error_t *err, int rc, const char *kmsg,
                                                          const char *fmt, ...)
{
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (kmsg[0] == '\0')
    return tart_error_make(err, -rc, "%s", what);
  char q[160];
  str_quote(kmsg, 120, q, sizeof(q));
  return tart_error_kind(err, -rc, "%s: %s (kernel: %s)", what, strerror(-rc), q);
}

/* The ifindex of ifname; a missing interface fails with ENODEV. */
static int ifindex_of(const char *ifname, unsigned *out, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0 && (errno == ENODEV || errno == ENXIO))
    return tart_error_kind(err, ENODEV, "network interface %s does not exist", ifname);
  if (idx == 0)
    return tart_error_make(err, errno, "cannot look up network interface %s", ifname);
  *out = idx;
  return 0;
}

/* ---- rtnetlink: reading ------------------------------------------------- */

static const struct rtattr *rta_find(const struct rtattr *a, int len, unsigned type)
{
  for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if ((a->rta_type & NLA_TYPE_MASK) == type)
      return a;
  }
  return NULL;
}

static const struct rtattr *rta_find_in(const struct rtattr *nest, unsigned type)
{
  if (nest == NULL)
    return NULL;
  return rta_find(RTA_DATA(nest), (int)RTA_PAYLOAD(nest), type);
}

static bool rta_u32(const struct rtattr *a, uint32_t *v)
{
  if (a == NULL || RTA_PAYLOAD(a) < sizeof(*v))
    return false;
  memcpy(v, RTA_DATA(a), sizeof(*v));
  return true;
}

static void rta_str(const struct rtattr *a, char *out, size_t n)
{
  if (a != NULL)
    snprintf(out, n, "%.*s", (int)strnlen(RTA_DATA(a), RTA_PAYLOAD(a)), (const char *)RTA_DATA(a));
}

static int parse_link(const struct nlmsghdr *h, void *ctx)
{
  struct link_info *info = ctx;
  if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
    return 0;
  const struct ifinfomsg *ifi = NLMSG_DATA(h);
  const struct rtattr *attrs = IFLA_RTA(ifi);
  int len = (int)IFLA_PAYLOAD(h);
  uint32_t v;

  info->ifindex = (unsigned)ifi->ifi_index;
  if (rta_u32(rta_find(attrs, len, IFLA_MASTER), &v))
    info->master = v;
  const struct rtattr *linkinfo = rta_find(attrs, len, IFLA_LINKINFO);
  rta_str(rta_find_in(linkinfo, IFLA_INFO_KIND), info->kind, sizeof(info->kind));
  if (strcmp(info->kind, "bridge") == 0 &&
      rta_u32(rta_find_in(rta_find_in(linkinfo, IFLA_INFO_DATA), IFLA_BR_FORWARD_DELAY), &v))
    info->forward_delay = v;
  /* A bridge port's settings come with the port as "slave data". */
  char slave_kind[16] = "";
  rta_str(rta_find_in(linkinfo, IFLA_INFO_SLAVE_KIND), slave_kind, sizeof(slave_kind));
  const struct rtattr *iso = rta_find_in(rta_find_in(linkinfo, IFLA_INFO_SLAVE_DATA), IFLA_BRPORT_ISOLATED);
  if (strcmp(slave_kind, "bridge") == 0 && iso != NULL && RTA_PAYLOAD(iso) >= 1)
    info->isolated = *(const uint8_t *)RTA_DATA(iso) != 0;
  return 0;
}

int link_query(const char *ifname, struct link_info *info, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  struct link_info out = {.isolated = -1, .forward_delay = -1};
  struct nl_req r;
  char kmsg[128];
  nl_init(&r, RTM_GETLINK, 0, AF_UNSPEC, 0);
  nl_put_str(&r, IFLA_IFNAME, ifname);
  nl_put_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  int rc = nl_talk(&r, parse_link, &out, kmsg, sizeof(kmsg));
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot query interface %s", ifname);
  if (out.ifindex == 0)
    return tart_error_kind(err, EPROTO, "cannot query interface %s: no reply from the kernel", ifname);
  *info = out;
  return 0;
}

int link_get_isolated(const char *ifname, bool *on, tart_error_t *err)
{
  struct link_info info;
  if (link_query(ifname, &info, err) < 0)
    return -1;
  if (info.isolated < 0)
    return tart_error_kind(err, EINVAL, "%s is not a bridge port", ifname);
  *on = info.isolated != 0;
  return 0;
}

/* ---- rtnetlink: changes ------------------------------------------------- */

int link_set_isolated(const char *ifname, bool on, tart_error_t *err)
{
  unsigned idx;
  if (ifindex_of(ifname, &idx, err) < 0)
    return tart_error_wrap(err, "cannot turn bridge port isolation %s", on ? "on" : "off");
  struct nl_req r;
  char kmsg[128];
  uint8_t v = on;
  /* The bridge driver reads IFLA_PROTINFO as a nest of IFLA_BRPORT_* only
   * with NLA_F_NESTED set (nl_nest_begin sets it); without, it takes the
   * attribute for an old RSTP port state. */
  nl_init(&r, RTM_SETLINK, 0, AF_BRIDGE, idx);
  nl_nest_begin(&r, IFLA_PROTINFO);
  nl_put(&r, IFLA_BRPORT_ISOLATED, &v, sizeof(v));
  nl_nest_end(&r);
  int rc = nl_talk(&r, NULL, NULL, kmsg, sizeof(kmsg));
  if (rc == -EOPNOTSUPP && kmsg[0] == '\0')
    return tart_error_kind(err, EOPNOTSUPP, "cannot turn bridge port isolation %s for %s: not a bridge port",
                           on ? "on" : "off", ifname);
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot turn bridge port isolation %s for %s", on ? "on" : "off", ifname);
  return 0;
}

int link_bridge_set_forward_delay0(const char *bridge, tart_error_t *err)
{
  if (check_name(bridge, err) < 0)
    return -1;
  struct nl_req r;
  char kmsg[128];
  /* RTM_NEWLINK on an existing interface, without NLM_F_CREATE, changes it;
   * the kind must match the device's. */
  nl_init(&r, RTM_NEWLINK, 0, AF_UNSPEC, 0);
  nl_put_str(&r, IFLA_IFNAME, bridge);
  nl_nest_begin(&r, IFLA_LINKINFO);
  nl_put_str(&r, IFLA_INFO_KIND, "bridge");
  nl_nest_begin(&r, IFLA_INFO_DATA);
  nl_put_u32(&r, IFLA_BR_FORWARD_DELAY, 0);
  nl_nest_end(&r);
  nl_nest_end(&r);
  int rc = nl_talk(&r, NULL, NULL, kmsg, sizeof(kmsg));
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot set the forward delay of bridge %s", bridge);
  return 0;
}

int link_set_master(const char *ifname, const char *bridge, tart_error_t *err)
{
  unsigned idx;
  if (check_name(bridge, err) < 0)
    return -1;
  if (ifindex_of(ifname, &idx, err) < 0)
    return tart_error_wrap(err, "cannot attach to bridge %s", bridge);
  struct ifreq ifr;
  ifreq_init(&ifr, bridge);
  ifr.ifr_ifindex = (int)idx;
  if (link_ioctl(SIOCBRADDIF, &ifr) == 0)
    return 0;
  int saved = errno;
  if (saved == EBUSY) {
    /* Already a port: fine if of this very bridge. */
    struct link_info info;
    _cleanup_error_ tart_error_t ignored = NULL;
    unsigned br_idx = if_nametoindex(bridge);
    if (link_query(ifname, &info, &ignored) == 0 && br_idx != 0 && info.master == br_idx)
      return 0;
    return tart_error_kind(err, EBUSY, "cannot attach %s to bridge %s: it is a port of another bridge",
                           ifname, bridge);
  }
  return tart_error_make(err, saved, "cannot attach %s to bridge %s", ifname, bridge);
}

int link_create(const char *name, const char *kind, tart_error_t *err)
{
  if (check_name(name, err) < 0)
    return -1;
  if (kind == NULL || kind[0] == '\0' || strlen(kind) >= 64)
    return tart_error_kind(err, EINVAL, "cannot create interface %s: invalid kind", name);
  struct nl_req r;
  char kmsg[128];
  nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
  nl_put_str(&r, IFLA_IFNAME, name);
  nl_nest_begin(&r, IFLA_LINKINFO);
  nl_put_str(&r, IFLA_INFO_KIND, kind);
  nl_nest_end(&r);
  int rc = nl_talk(&r, NULL, NULL, kmsg, sizeof(kmsg));
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot create %s interface %s", kind, name);
  return 0;
}

int link_delete(const char *ifname, tart_error_t *err)
{
  if (check_name(ifname, err) < 0)
    return -1;
  struct nl_req r;
  char kmsg[128];
  nl_init(&r, RTM_DELLINK, 0, AF_UNSPEC, 0);
  nl_put_str(&r, IFLA_IFNAME, ifname);
  int rc = nl_talk(&r, NULL, NULL, kmsg, sizeof(kmsg));
  if (rc == -ENODEV)
    return 0;
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot delete interface %s", ifname);
  return 0;
}

/* ---- Devices for QEMU --------------------------------------------------- */

int link_tap_open(const char *name_template, char name_out[IFNAMSIZ], int *fd, tart_error_t *err)
{
  if (name_template != NULL && name_template[0] != '\0' && check_name(name_template, err) < 0)
    return -1;
  const char *shown = name_template != NULL && name_template[0] != '\0' ? name_template : "tap%d";
  _cleanup_close_ int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0)
    return tart_error_make(err, errno, "cannot create TAP device %s: /dev/net/tun", shown);
  struct ifreq ifr;
  ifreq_init(&ifr, name_template != NULL ? name_template : "");
  /* IFF_TUN_EXCL: with an exact name, fail rather than attach to an
   * interface of that name that someone else made. */
  ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
  if (ioctl(tun, TUNSETIFF, &ifr) < 0) {
    if (errno == EBUSY || errno == EEXIST)
      return tart_error_kind(err, EEXIST, "cannot create TAP device %s: an interface of that name exists",
                             shown);
    return tart_error_make(err, errno, "cannot create TAP device %s", shown);
  }
  memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
  name_out[IFNAMSIZ - 1] = '\0';
  *fd = TAKE_FD(tun);
  return 0;
}

int link_macvtap_create(const char *name, const char *parent, const struct mac_addr *mac, tart_error_t *err)
{
  unsigned parent_idx;
  if (check_name(name, err) < 0)
    return -1;
  if (ifindex_of(parent, &parent_idx, err) < 0)
    return tart_error_wrap(err, "cannot create macvtap interface %s", name);
  struct nl_req r;
  char kmsg[128];
  nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
  nl_put_str(&r, IFLA_IFNAME, name);
  nl_put_u32(&r, IFLA_LINK, parent_idx);
  if (mac != NULL)
    nl_put(&r, IFLA_ADDRESS, mac->b, sizeof(mac->b));
  nl_nest_begin(&r, IFLA_LINKINFO);
  nl_put_str(&r, IFLA_INFO_KIND, "macvtap");
  nl_nest_begin(&r, IFLA_INFO_DATA);
  /* Bridge mode: the VM and other macvlan/macvtap interfaces on parent see
   * each other; the host's own address on parent stays unreachable from the
   * VM, as with any macvtap. */
  nl_put_u32(&r, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
  nl_nest_end(&r);
  nl_nest_end(&r);
  int rc = nl_talk(&r, NULL, NULL, kmsg, sizeof(kmsg));
  if (rc < 0)
    return nl_error(err, rc, kmsg, "cannot create macvtap interface %s on %s", name, parent);
  return 0;
}

int link_macvtap_open(const char *ifname, int *fd, tart_error_t *err)
{
  unsigned idx;
  if (ifindex_of(ifname, &idx, err) < 0)
    return tart_error_wrap(err, "cannot open macvtap interface");
  char path[32];
  snprintf(path, sizeof(path), "/dev/tap%u", idx);
  _cleanup_close_ int tap = open(path, O_RDWR | O_CLOEXEC);
  if (tap < 0)
    return tart_error_make(err, errno, "cannot open %s for macvtap interface %s", path, ifname);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  if (ioctl(tap, TUNGETIFF, &ifr) < 0)
    return tart_error_make(err, errno, "cannot open %s for macvtap interface %s: TUNGETIFF", path, ifname);
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  if (strcmp(ifr.ifr_name, ifname) != 0)
    return tart_error_kind(err, EXDEV,
                           "cannot open %s for macvtap interface %s: it belongs to an interface of "
                           "another network namespace",
                           path, ifname);
  *fd = TAKE_FD(tap);
  return 0;
}
