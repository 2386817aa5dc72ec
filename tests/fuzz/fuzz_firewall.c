/* libFuzzer target for the flag parsers of src/net/firewall.c and the
 * softnet decision list they feed.
 *
 * The input is split at its first newline into A and B.  Checks:
 *   - fw_parse_cidrs and fw_parse_expose on A, B and the whole input: an
 *     accepted value has one item per comma-separated piece, appended after
 *     what the array held; every network is masked with a prefix of 0..32;
 *     every port is 1..65535 and no host port repeats; printing the items
 *     and parsing them again gives the same items.  A rejected value leaves
 *     the array untouched and gives a one-line usage error;
 *   - with A as the allow list and B as the block list, the emitted
 *     "ip daddr" rules of fw_vm_script are in longest-prefix order and their
 *     first match agrees with fw_decide on the edges of every network and
 *     their neighbours;
 *   - nothing leaks (ASan).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/firewall.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t pieces(const char *s)
{
  size_t n = 1;
  for (; *s; s++)
    n += *s == ',';
  return n;
}

static void check_error(tart_error_t *err)
{
  if (*err == NULL || (*err)->msg == NULL || (*err)->exit_code != TART_EXIT_USAGE ||
      strchr((*err)->msg, '\n'))
    abort();
  tart_error_release(err);
}

static uint32_t mask_of(unsigned prefix)
{
  return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static void check_cidrs(const char *s)
{
  /* One item already there, as after an earlier --net-softnet-allow. */
  struct fw_cidr *c = xmalloc(sizeof(*c));
  c[0] = (struct fw_cidr){.net = {.s_addr = htonl(0x0a000000)}, .prefix = 8};
  size_t n = 1;
  struct fw_cidr *before = c;
  tart_error_t err = NULL;
  if (fw_parse_cidrs(s, &c, &n, &err) != 0) {
    if (n != 1 || c != before)
      abort();
    check_error(&err);
    free(c);
    return;
  }
  if (err != NULL || n != 1 + pieces(s) || c[0].prefix != 8 || c[0].net.s_addr != htonl(0x0a000000))
    abort();

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    abort();
  for (size_t i = 1; i < n; i++) {
    if (c[i].prefix > 32 || (ntohl(c[i].net.s_addr) & ~mask_of(c[i].prefix)) != 0)
      abort();
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c[i].net, a, sizeof(a));
    fprintf(f, "%s%s/%u", i > 1 ? "," : "", a, c[i].prefix);
  }
  fclose(f);
  struct fw_cidr *back = NULL;
  size_t nb = 0;
  if (fw_parse_cidrs(buf, &back, &nb, &err) != 0 || nb != n - 1)
    abort();
  for (size_t i = 0; i < nb; i++)
    if (back[i].net.s_addr != c[i + 1].net.s_addr || back[i].prefix != c[i + 1].prefix)
      abort();
  free(back);
  free(buf);
  free(c);
}

static void check_expose(const char *s)
{
  struct fw_expose *e = xmalloc(sizeof(*e));
  e[0] = (struct fw_expose){.host_port = 1, .guest_port = 2};
  size_t n = 1;
  struct fw_expose *before = e;
  tart_error_t err = NULL;
  if (fw_parse_expose(s, &e, &n, &err) != 0) {
    if (n != 1 || e != before)
      abort();
    check_error(&err);
    free(e);
    return;
  }
  if (err != NULL || n != 1 + pieces(s) || e[0].host_port != 1 || e[0].guest_port != 2)
    abort();

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (e[i].host_port == 0 || e[i].guest_port == 0)
      abort();
    for (size_t j = 0; j < i; j++)
      if (e[i].host_port == e[j].host_port)
        abort();
    if (i > 0)
      fprintf(f, "%s%u:%u", i > 1 ? "," : "", e[i].host_port, e[i].guest_port);
  }
  fclose(f);
  struct fw_expose *back = NULL;
  size_t nb = 0;
  if (fw_parse_expose(buf, &back, &nb, &err) != 0 || nb != n - 1)
    abort();
  for (size_t i = 0; i < nb; i++)
    if (back[i].host_port != e[i + 1].host_port || back[i].guest_port != e[i + 1].guest_port)
      abort();
  free(back);
  free(buf);
  free(e);
}

struct rule {
  uint32_t net;
  unsigned prefix;
  bool accept;
};

static bool first_match(const struct rule *r, size_t n, uint32_t a)
{
  for (size_t i = 0; i < n; i++)
    if ((a & mask_of(r[i].prefix)) == r[i].net)
      return r[i].accept;
  return false; /* the chain's final drop */
}

static void check_decisions(const char *a, const char *b)
{
  struct fw_cidr *allow = NULL, *block = NULL;
  size_t na = 0, nb = 0;
  tart_error_t err = NULL;
  if (fw_parse_cidrs(a, &allow, &na, &err) != 0 || fw_parse_cidrs(b, &block, &nb, &err) != 0) {
    tart_error_release(&err);
    free(allow);
    free(block);
    return;
  }
  struct fw_vm v = {
      .tap = "tart1",
      .bridge = "tart0",
      .gateway = {.s_addr = htonl(0xc0a84001)},
      .prefix = 24,
      .have_ip = true,
      .ip = {.s_addr = htonl(0xc0a84005)},
      .mode = FW_SOFTNET,
      .allow = allow,
      .n_allow = na,
      .block = block,
      .n_block = nb,
  };
  char *script = fw_vm_script(&v);
  if (script == NULL)
    abort();
  const char *body = strstr(script, "chain from_vm_fwd {\n");
  if (body == NULL)
    abort();
  const char *end = strstr(body, "\n  }\n");
  size_t max = 16 + na + nb, n = 0;
  struct rule *r = xmalloc(max * sizeof(*r));
  for (const char *line = strchr(body, '\n') + 1; line < end; line = strchr(line, '\n') + 1) {
    char addr[16], verdict[8];
    unsigned prefix;
    if (sscanf(line, " ip daddr %15[0-9.]/%u %7s", addr, &prefix, verdict) != 3)
      continue;
    struct in_addr in;
    if (n == max || inet_pton(AF_INET, addr, &in) != 1 || prefix > 32)
      abort();
    r[n++] = (struct rule){ntohl(in.s_addr), prefix, strcmp(verdict, "accept") == 0};
    if (n > 1 && (r[n - 2].prefix < prefix || (r[n - 2].prefix == prefix && r[n - 2].net == r[n - 1].net)))
      abort();
  }
  for (size_t i = 0; i < na + nb; i++) {
    const struct fw_cidr *x = i < na ? &allow[i] : &block[i - na];
    uint32_t lo = ntohl(x->net.s_addr), hi = lo | ~mask_of(x->prefix);
    const uint32_t probes[] = {lo, hi, lo - 1, hi + 1, lo + (hi - lo) / 2};
    for (size_t k = 0; k < ARRAY_SIZE(probes); k++) {
      struct in_addr d = {.s_addr = htonl(probes[k])};
      if (first_match(r, n, probes[k]) != fw_decide(&v, d))
        abort();
    }
  }
  free(r);
  free(script);
  free(allow);
  free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Longer lists only repeat what shorter ones exercise. */
  if (size > 4096)
    return 0;
  char *s = xmalloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  char *a = xstrdup(s);
  char *nl = strchr(a, '\n');
  const char *b = "";
  if (nl != NULL) {
    *nl = '\0';
    b = nl + 1;
  }

  check_cidrs(s);
  check_cidrs(a);
  check_cidrs(b);
  check_expose(s);
  check_expose(a);
  check_expose(b);
  check_decisions(a, b);

  free(a);
  free(s);
  return 0;
}
