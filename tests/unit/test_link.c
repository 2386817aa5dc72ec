/* Tests of src/net/link.c against the real kernel, inside a network
 * namespace of their own: main() unshares one before any test runs, so the
 * host's interfaces are never seen nor touched, and everything made here
 * goes away with the process.  Without the privilege to unshare (not root)
 * every test is skipped. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "net/link.h"
#include "util/util.h"

static bool in_netns;

#define REQUIRE_NETNS()                                                                                      \
  do {                                                                                                       \
    if (!in_netns)                                                                                           \
      skip();                                                                                                \
  } while (0)

#define BR "tbr0"

/* Fail the test with the error's message if rc is negative. */
#define CHECK(call)                                                                                          \
  do {                                                                                                       \
    tart_error_t check_err_ = NULL;                                                                          \
    if ((call) < 0) {                                                                                        \
      char check_msg_[512];                                                                                  \
      snprintf(check_msg_, sizeof(check_msg_), "%s", check_err_ ? check_err_->msg : "(no error)");           \
      tart_error_release(&check_err_);                                                                       \
      fail_msg("%s: %s", #call, check_msg_);                                                                 \
    }                                                                                                        \
  } while (0)
#define E (&check_err_)

/* A call that must fail, naming `name` in its message; returns its errnum. */
static int expect_failure(int rc, tart_error_t *err, const char *name)
{
  assert_int_equal(rc, -1);
  assert_non_null(*err);
  if (strstr((*err)->msg, name) == NULL)
    fail_msg("message does not name %s: %s", name, (*err)->msg);
  int errnum = (*err)->errnum;
  tart_error_release(err);
  return errnum;
}

static bool is_up(const char *ifname)
{
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
  _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
  return (ifr.ifr_flags & IFF_UP) != 0;
}

static void make_bridge(void)
{
  CHECK(link_bridge_create(BR, E));
}

static void test_bridge_create(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  CHECK(link_bridge_delete(BR, E));
  assert_false(link_exists(BR));

  assert_int_equal(link_bridge_create(BR, &err), 1);
  assert_true(link_exists(BR));
  assert_int_equal(link_bridge_create(BR, &err), 0);
  assert_null(err);

  assert_true(link_is_bridge(BR));
  assert_false(link_is_bridge("lo"));
  assert_false(link_is_bridge("nosuch0"));
  char driver[32];
  CHECK(link_driver(BR, driver, sizeof(driver), E));
  assert_string_equal(driver, "bridge");
  /* lo has no ethtool driver information. */
  assert_int_equal(link_driver("lo", driver, sizeof(driver), &err), -1);
  tart_error_release(&err);

  /* The name of an interface that is not a bridge is not free for one. */
  assert_int_equal(expect_failure(link_bridge_create("lo", &err), &err, "lo"), EEXIST);

  struct link_info info;
  CHECK(link_query(BR, &info, E));
  assert_string_equal(info.kind, "bridge");
  assert_int_equal(info.ifindex, if_nametoindex(BR));
  assert_int_equal(info.master, 0);
  assert_int_equal(info.isolated, -1);
  assert_true(info.forward_delay >= 0);
}

static void test_ipv4_and_up(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  CHECK(link_bridge_delete(BR, E));
  make_bridge();

  struct in_addr a, m, want_a, want_m;
  assert_int_equal(link_get_ipv4(BR, &a, &m, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  assert_non_null(strstr(err->msg, BR));
  tart_error_release(&err);

  inet_pton(AF_INET, "192.168.99.1", &want_a);
  inet_pton(AF_INET, "255.255.255.0", &want_m);
  CHECK(link_set_ipv4(BR, want_a, want_m, E));
  CHECK(link_get_ipv4(BR, &a, &m, E));
  assert_int_equal(a.s_addr, want_a.s_addr);
  assert_int_equal(m.s_addr, want_m.s_addr);

  /* A mask other than the classful one (10/8) sticks too. */
  inet_pton(AF_INET, "10.42.7.1", &want_a);
  inet_pton(AF_INET, "255.255.255.128", &want_m);
  CHECK(link_set_ipv4(BR, want_a, want_m, E));
  CHECK(link_get_ipv4(BR, &a, NULL, E));
  CHECK(link_get_ipv4(BR, NULL, &m, E));
  assert_int_equal(a.s_addr, want_a.s_addr);
  assert_int_equal(m.s_addr, want_m.s_addr);

  inet_pton(AF_INET, "255.0.255.0", &m);
  expect_failure(link_set_ipv4(BR, a, m, &err), &err, BR);

  assert_false(is_up(BR));
  CHECK(link_set_up(BR, true, E));
  assert_true(is_up(BR));
  CHECK(link_set_up(BR, true, E));
  assert_true(is_up(BR));
  CHECK(link_set_up(BR, false, E));
  assert_false(is_up(BR));
  CHECK(link_set_up(BR, true, E));

  struct mac_addr mac;
  CHECK(link_get_mac(BR, &mac, E));
  assert_int_equal(link_get_mac("lo", &mac, &err), -1);
  assert_int_equal(err->errnum, EAFNOSUPPORT);
}

static void test_taps(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  make_bridge();
  CHECK(link_set_up(BR, true, E));

  char n1[IFNAMSIZ], n2[IFNAMSIZ];
  _cleanup_close_ int fd1 = -1;
  _cleanup_close_ int fd2 = -1;
  CHECK(link_tap_open("ttap%d", n1, &fd1, E));
  CHECK(link_tap_open("ttap%d", n2, &fd2, E));
  assert_true(fd1 >= 0 && fd2 >= 0);
  assert_string_not_equal(n1, n2);
  assert_int_equal(strncmp(n1, "ttap", 4), 0);
  assert_true(link_exists(n1));
  assert_true(link_exists(n2));
  char driver[32];
  CHECK(link_driver(n1, driver, sizeof(driver), E));
  assert_string_equal(driver, "tun");
  assert_false(link_is_bridge(n1));

  /* An exact name in use is refused, not shared. */
  char n3[IFNAMSIZ];
  int fd3 = -1;
  assert_int_equal(expect_failure(link_tap_open(n1, n3, &fd3, &err), &err, n1), EEXIST);
  assert_int_equal(fd3, -1);

  CHECK(link_set_master(n1, BR, E));
  CHECK(link_set_master(n2, BR, E));
  CHECK(link_set_master(n1, BR, E)); /* again: no change */
  struct link_info info;
  CHECK(link_query(n1, &info, E));
  assert_int_equal(info.master, if_nametoindex(BR));
  assert_string_equal(info.kind, "tun");
  assert_int_equal(info.isolated, 0);
  assert_int_equal(info.forward_delay, -1);

  bool on = true;
  CHECK(link_get_isolated(n1, &on, E));
  assert_false(on);
  CHECK(link_set_isolated(n1, true, E));
  CHECK(link_get_isolated(n1, &on, E));
  assert_true(on);
  CHECK(link_get_isolated(n2, &on, E));
  assert_false(on);
  CHECK(link_set_isolated(n1, false, E));
  CHECK(link_get_isolated(n1, &on, E));
  assert_false(on);

  /* Isolation is a bridge port setting: the bridge itself has none. */
  expect_failure(link_get_isolated(BR, &on, &err), &err, BR);
  expect_failure(link_set_isolated(BR, true, &err), &err, BR);

  /* A port of another bridge is not taken over. */
  CHECK(link_bridge_create("tbr1", E));
  assert_int_equal(expect_failure(link_set_master(n2, "tbr1", &err), &err, n2), EBUSY);
  CHECK(link_bridge_delete("tbr1", E));

  /* Closing the last descriptor removes the device. */
  close(TAKE_FD(fd1));
  assert_false(link_exists(n1));
  assert_true(link_exists(n2));

  /* Deleting a bridge releases its ports without deleting them. */
  CHECK(link_bridge_delete(BR, E));
  assert_false(link_exists(BR));
  assert_true(link_exists(n2));
  CHECK(link_query(n2, &info, E));
  assert_int_equal(info.master, 0);
  assert_int_equal(info.isolated, -1);

  /* An exact name, and the kernel's default template. */
  _cleanup_close_ int fd4 = -1;
  CHECK(link_tap_open("tartexact", n3, &fd4, E));
  assert_string_equal(n3, "tartexact");
  close(TAKE_FD(fd4));
  CHECK(link_tap_open(NULL, n3, &fd4, E));
  assert_int_equal(strncmp(n3, "tap", 3), 0);
}

static void test_forward_delay(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  CHECK(link_bridge_delete(BR, E));
  make_bridge();
  struct link_info info;
  CHECK(link_query(BR, &info, E));
  assert_int_equal(info.forward_delay, 1500); /* the kernel's default, 15 s */
  CHECK(link_bridge_set_forward_delay0(BR, E));
  CHECK(link_query(BR, &info, E));
  assert_int_equal(info.forward_delay, 0);
  CHECK(link_bridge_set_forward_delay0(BR, E));

  /* Not a bridge. */
  char name[IFNAMSIZ];
  _cleanup_close_ int fd = -1;
  CHECK(link_tap_open("ttap%d", name, &fd, E));
  expect_failure(link_bridge_set_forward_delay0(name, &err), &err, name);
  expect_failure(link_bridge_set_forward_delay0("nosuch0", &err), &err, "nosuch0");
}

/* A parent for macvtap: dummy if the kernel has it, else one end of a veth
 * pair. */
static void make_parent(const char *name)
{
  _cleanup_error_ tart_error_t err = NULL;
  if (link_create(name, "dummy", &err) == 0)
    return;
  tart_error_release(&err);
  CHECK(link_create(name, "veth", E));
}

static void test_macvtap(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  make_parent("tpar0");
  assert_int_equal(expect_failure(link_create("tpar0", "dummy", &err), &err, "tpar0"), EEXIST);

  struct mac_addr mac, got;
  assert_int_equal(mac_parse("52:54:00:12:34:56", &mac), 0);
  CHECK(link_macvtap_create("tmvt0", "tpar0", &mac, E));
  assert_true(link_exists("tmvt0"));
  CHECK(link_get_mac("tmvt0", &got, E));
  assert_true(mac_equal(&mac, &got));
  struct link_info info;
  CHECK(link_query("tmvt0", &info, E));
  assert_string_equal(info.kind, "macvtap");
  char driver[32];
  CHECK(link_driver("tmvt0", driver, sizeof(driver), E));
  assert_string_equal(driver, "macvlan");

  assert_int_equal(expect_failure(link_macvtap_create("tmvt0", "tpar0", &mac, &err), &err, "tmvt0"), EEXIST);
  assert_int_equal(expect_failure(link_macvtap_create("tmvt1", "nosuch0", NULL, &err), &err, "nosuch0"),
                   ENODEV);

  /* The character device, where devtmpfs provides it. */
  int fd = -1;
  if (link_macvtap_open("tmvt0", &fd, &err) == 0) {
    struct ifreq ifr = {0};
    assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
    assert_string_equal(ifr.ifr_name, "tmvt0");
    assert_true(ifr.ifr_flags & IFF_TAP);
    assert_true(ifr.ifr_flags & IFF_VNET_HDR);
    close(fd);
  } else {
    print_message("macvtap open not tested: %s\n", err->msg);
    assert_int_equal(err->errnum, ENOENT);
    tart_error_release(&err);
  }
  expect_failure(link_macvtap_open("nosuch0", &fd, &err), &err, "nosuch0");

  /* A random address when none is given. */
  CHECK(link_macvtap_create("tmvt2", "tpar0", NULL, E));
  CHECK(link_get_mac("tmvt2", &got, E));
  assert_false(mac_equal(&mac, &got));

  CHECK(link_delete("tmvt0", E));
  assert_false(link_exists("tmvt0"));
  CHECK(link_delete("tmvt0", E));
  /* Deleting the parent takes its macvtap interfaces along. */
  CHECK(link_delete("tpar0", E));
  assert_false(link_exists("tpar0"));
  assert_false(link_exists("tmvt2"));
}

static void test_list(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  make_bridge();
  char **names = NULL;
  size_t n = 0;
  CHECK(link_list(&names, &n, E));
  assert_non_null(names);
  bool found = false;
  for (size_t i = 0; i < n; i++) {
    assert_string_not_equal(names[i], "lo");
    if (strcmp(names[i], BR) == 0)
      found = true;
    if (i > 0)
      assert_true(strcmp(names[i - 1], names[i]) < 0);
  }
  assert_true(found);
  link_list_free(names, n);
  link_list_free(NULL, 0);
}

static void test_missing(void **state)
{
  (void)state;
  REQUIRE_NETNS();
  _cleanup_error_ tart_error_t err = NULL;
  const char *m = "nosuch0";
  struct in_addr a = {htonl(0x0a000001)}, mask = {htonl(0xffffff00)};
  struct mac_addr mac;
  struct link_info info;
  char buf[32];
  bool on;

  assert_false(link_exists(m));
  CHECK(link_bridge_delete(m, E));
  CHECK(link_delete(m, E));
  assert_int_equal(expect_failure(link_set_up(m, true, &err), &err, m), ENODEV);
  expect_failure(link_set_ipv4(m, a, mask, &err), &err, m);
  expect_failure(link_get_ipv4(m, &a, &mask, &err), &err, m);
  expect_failure(link_get_mac(m, &mac, &err), &err, m);
  expect_failure(link_driver(m, buf, sizeof(buf), &err), &err, m);
  assert_int_equal(expect_failure(link_query(m, &info, &err), &err, m), ENODEV);
  expect_failure(link_get_isolated(m, &on, &err), &err, m);
  assert_int_equal(expect_failure(link_set_isolated(m, true, &err), &err, m), ENODEV);
  expect_failure(link_set_master(m, "lo", &err), &err, m);
  make_bridge();
  expect_failure(link_set_master("lo", m, &err), &err, m);

  /* Not a bridge: the kernel refuses to delete it as one. */
  expect_failure(link_bridge_delete("lo", &err), &err, "lo");
  assert_true(link_exists("lo"));

  /* Names the kernel could never have. */
  static const char *const bad[] = {"", "sixteen-chars-xx", "a/b", "a:b", "a b", "a\nb", "a\x1b[0m"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    assert_false(link_exists(bad[i]));
    assert_false(link_is_bridge(bad[i]));
    assert_int_equal(link_set_up(bad[i], true, &err), -1);
    assert_int_equal(err->errnum, EINVAL);
    for (const char *p = err->msg; *p != '\0'; p++)
      assert_true(*p >= 0x20 && *p < 0x7f);
    tart_error_release(&err);
    assert_int_equal(link_bridge_create(bad[i], &err), -1);
    tart_error_release(&err);
  }
  char name[IFNAMSIZ];
  int fd = -1;
  assert_int_equal(link_tap_open("a/b%d", name, &fd, &err), -1);
  assert_int_equal(fd, -1);
}

int main(void)
{
  /* Everything happens in a network namespace of our own. */
  if (unshare(CLONE_NEWNET) == 0)
    in_netns = true;
  else
    fprintf(stderr, "test_link: cannot unshare a network namespace (%s): skipping\n", strerror(errno));

  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bridge_create), cmocka_unit_test(test_ipv4_and_up), cmocka_unit_test(test_taps),
      cmocka_unit_test(test_forward_delay), cmocka_unit_test(test_macvtap),     cmocka_unit_test(test_list),
      cmocka_unit_test(test_missing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
