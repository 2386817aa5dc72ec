#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "vmconfig/config.h"

#define PREFIX "invalid VM configuration: "

/* Upstream's example Linux config, verbatim from issue #460. */
static const char upstream_example[] =
    "{\"memorySize\":17179869184,\"arch\":\"arm64\",\"os\":\"linux\",\"cpuCountMin\":4,"
    "\"display\":{\"width\":1024,\"height\":768},\"cpuCount\":4,\"version\":1,"
    "\"macAddress\":\"7e:1c:f2:4a:78:30\",\"memorySizeMin\":4294967296}";

/* ---- helpers ----------------------------------------------------------- */

static bool is_empty(const struct vm_config *cfg)
{
  static const struct vm_config zero;
  return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

static void parse_ok(const char *text, struct vm_config *cfg)
{
  _cleanup_error_ tart_error_t err = NULL;
  int rc = vm_config_parse(text, strlen(text), cfg, &err);
  if (rc != 0)
    fail_msg("parse failed: %s\ninput: %s", err != NULL ? err->msg : "(no error)", text);
  assert_null(err);
  assert_non_null(cfg->doc);
}

/* Parse text that must fail; checks that cfg stays empty and returns the
 * message (malloc'ed). */
static char *parse_fail(const char *text, size_t len)
{
  tart_error_t err = NULL;
  struct vm_config cfg;
  memset(&cfg, 0x5a, sizeof(cfg));
  int rc = vm_config_parse(text, len, &cfg, &err);
  if (rc != -1)
    fail_msg("parse succeeded: %s", text);
  assert_non_null(err);
  assert_true(is_empty(&cfg));
  assert_int_equal(err->exit_code, TART_EXIT_FAILURE);
  char *msg = xstrdup(err->msg);
  tart_error_release(&err);
  return msg;
}

static void expect_error(const char *text, const char *want)
{
  _cleanup_free_ char *msg = parse_fail(text, strlen(text));
  if (strcmp(msg, want) != 0)
    fail_msg("input: %s\n got: %s\nwant: %s", text, msg, want);
}

/* A valid document with one key changed (value stolen) or, with NULL,
 * removed; returned as compact JSON text. */
static char *variant(const char *key, json_t *value)
{
  json_t *doc = json_loads(upstream_example, 0, NULL);
  assert_non_null(doc);
  if (value != NULL)
    assert_int_equal(json_object_set_new(doc, key, value), 0);
  else
    assert_int_equal(json_object_del(doc, key), 0);
  char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_non_null(s);
  json_decref(doc);
  return s;
}

static void expect_variant_error(const char *key, json_t *value, const char *want)
{
  char *text = variant(key, value);
  expect_error(text, want);
  free(text);
}

static void assert_typed_equal(const struct vm_config *a, const struct vm_config *b)
{
  assert_int_equal(a->version, b->version);
  assert_int_equal(a->os, b->os);
  assert_int_equal(a->arch, b->arch);
  assert_int_equal(a->firmware, b->firmware);
  assert_int_equal(a->cpu_count_min, b->cpu_count_min);
  assert_int_equal(a->cpu_count, b->cpu_count);
  assert_int_equal(a->memory_size_min, b->memory_size_min);
  assert_int_equal(a->memory_size, b->memory_size);
  assert_true(mac_equal(&a->mac, &b->mac));
  assert_int_equal(a->display_width, b->display_width);
  assert_int_equal(a->display_height, b->display_height);
  assert_int_equal(a->display_unit, b->display_unit);
  assert_int_equal(a->display_refit, b->display_refit);
  assert_string_equal(a->disk_format, b->disk_format);
}

/* dump, parse back, and check nothing changed. */
static void assert_round_trip(const struct vm_config *cfg)
{
  _cleanup_free_ char *text = vm_config_dump(cfg);
  size_t n = strlen(text);
  assert_true(n >= 2);
  assert_int_equal(text[n - 1], '\n');
  assert_int_not_equal(text[n - 2], '\n');
  struct vm_config back;
  parse_ok(text, &back);
  assert_typed_equal(cfg, &back);
  assert_true(json_equal(cfg->doc, back.doc));
  /* Key order survives too. */
  _cleanup_free_ char *again = vm_config_dump(&back);
  assert_string_equal(text, again);
  vm_config_clear(&back);
}

static char *fixture(const char *name)
{
  const char *dir = getenv("TART_TEST_FIXTURES");
  if (dir == NULL || *dir == '\0')
    return NULL;
  return xasprintf("%s/config/%s", dir, name);
}

static void check_upstream_example(const struct vm_config *cfg)
{
  assert_int_equal(cfg->version, 1);
  assert_int_equal(cfg->os, VM_OS_LINUX);
  assert_int_equal(cfg->arch, VM_ARCH_ARM64);
  assert_int_equal(cfg->firmware, VM_FIRMWARE_EFI);
  assert_int_equal(cfg->cpu_count_min, 4);
  assert_int_equal(cfg->cpu_count, 4);
  assert_int_equal(cfg->memory_size_min, 4294967296ULL);
  assert_int_equal(cfg->memory_size, 17179869184ULL);
  const struct mac_addr mac = {{0x7e, 0x1c, 0xf2, 0x4a, 0x78, 0x30}};
  assert_true(mac_equal(&cfg->mac, &mac));
  assert_int_equal(cfg->display_width, 1024);
  assert_int_equal(cfg->display_height, 768);
  assert_int_equal(cfg->display_unit, VM_DISPLAY_UNIT_NONE);
  assert_int_equal(cfg->display_refit, VM_REFIT_UNSET);
  assert_string_equal(cfg->disk_format, "raw");
}

/* ---- tests ------------------------------------------------------------- */

static void test_upstream_example(void **state)
{
  (void)state;
  struct vm_config cfg;
  parse_ok(upstream_example, &cfg);
  check_upstream_example(&cfg);
  assert_round_trip(&cfg);

  /* Keys stay in the document's order, not sorted or re-ordered. */
  _cleanup_free_ char *text = vm_config_dump(&cfg);
  assert_string_equal(text, "{\n"
                            "  \"memorySize\": 17179869184,\n"
                            "  \"arch\": \"arm64\",\n"
                            "  \"os\": \"linux\",\n"
                            "  \"cpuCountMin\": 4,\n"
                            "  \"display\": {\n"
                            "    \"width\": 1024,\n"
                            "    \"height\": 768\n"
                            "  },\n"
                            "  \"cpuCount\": 4,\n"
                            "  \"version\": 1,\n"
                            "  \"macAddress\": \"7e:1c:f2:4a:78:30\",\n"
                            "  \"memorySizeMin\": 4294967296\n"
                            "}\n");
  char disp[32];
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1024x768");
  vm_config_clear(&cfg);
  assert_true(is_empty(&cfg));
}

static void test_upstream_example_fixture(void **state)
{
  (void)state;
  _cleanup_free_ char *path = fixture("upstream-linux.json");
  if (path == NULL)
    skip();
  struct vm_config cfg;
  _cleanup_error_ tart_error_t err = NULL;
  assert_int_equal(vm_config_load(path, &cfg, &err), 0);
  assert_null(err);
  check_upstream_example(&cfg);
  assert_round_trip(&cfg);

  struct vm_config lit;
  parse_ok(upstream_example, &lit);
  assert_true(json_equal(lit.doc, cfg.doc));
  vm_config_clear(&lit);
  vm_config_clear(&cfg);
}

static void test_darwin_unknown_keys_survive(void **state)
{
  (void)state;
  _cleanup_free_ char *path = fixture("darwin.json");
  if (path == NULL)
    skip();
  struct vm_config cfg;
  _cleanup_error_ tart_error_t err = NULL;
  assert_int_equal(vm_config_load(path, &cfg, &err), 0);

  assert_int_equal(cfg.os, VM_OS_DARWIN);
  assert_int_equal(cfg.arch, VM_ARCH_ARM64);
  assert_int_equal(cfg.cpu_count, 4);
  assert_int_equal(cfg.memory_size, 8589934592ULL);
  assert_int_equal(cfg.display_width, 1920);
  assert_int_equal(cfg.display_height, 1200);
  assert_int_equal(cfg.display_unit, VM_DISPLAY_UNIT_PT);
  assert_int_equal(cfg.display_refit, VM_REFIT_ON);
  const struct mac_addr mac = {{0xee, 0xa7, 0x85, 0x09, 0x92, 0x39}};
  assert_true(mac_equal(&cfg.mac, &mac));
  /* Upstream's encoder writes "\/"; it reads as "/". */
  assert_non_null(strchr(json_string_value(json_object_get(cfg.doc, "ecid")), '/'));
  char disp[32];
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1920x1200pt");

  json_t *orig = json_deep_copy(cfg.doc);
  vm_config_set_cpu(&cfg, 8);
  _cleanup_free_ char *text = vm_config_dump(&cfg);
  struct vm_config back;
  parse_ok(text, &back);
  assert_int_equal(back.cpu_count, 8);
  assert_int_equal(back.cpu_count_min, 4);

  /* Everything but cpuCount is unchanged, the unknown key included, and the
   * keys keep their positions. */
  assert_false(json_equal(orig, back.doc));
  json_object_set_new(orig, "cpuCount", json_integer(8));
  assert_true(json_equal(orig, back.doc));
  json_t *foo = json_pack("{s:[i,i]}", "x", 1, 2);
  assert_true(json_equal(json_object_get(back.doc, "fooBar"), foo));
  json_decref(foo);
  assert_string_equal(json_string_value(json_object_get(back.doc, "macAddress")), "ee:a7:85:9:92:39");

  void *a = json_object_iter(orig), *b = json_object_iter(back.doc);
  for (; a != NULL && b != NULL; a = json_object_iter_next(orig, a), b = json_object_iter_next(back.doc, b))
    assert_string_equal(json_object_iter_key(a), json_object_iter_key(b));
  assert_null(a);
  assert_null(b);

  json_decref(orig);
  vm_config_clear(&back);
  vm_config_clear(&cfg);
}

static void test_defaults(void **state)
{
  (void)state;
  struct vm_config cfg;
  parse_ok("{\"version\":1,\"cpuCountMin\":0,\"cpuCount\":1,\"memorySizeMin\":0,\"memorySize\":0,"
           "\"macAddress\":\"02:00:00:00:00:01\"}",
           &cfg);
  assert_int_equal(cfg.os, VM_OS_DARWIN);
  assert_int_equal(cfg.arch, VM_ARCH_ARM64);
  assert_int_equal(cfg.firmware, VM_FIRMWARE_EFI);
  assert_int_equal(cfg.display_width, 1024);
  assert_int_equal(cfg.display_height, 768);
  assert_int_equal(cfg.display_unit, VM_DISPLAY_UNIT_NONE);
  assert_int_equal(cfg.display_refit, VM_REFIT_UNSET);
  assert_string_equal(cfg.disk_format, "raw");
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);

  /* null in an optional key reads as absent (Swift's decodeIfPresent). */
  parse_ok("{\"version\":1,\"cpuCountMin\":0,\"cpuCount\":1,\"memorySizeMin\":0,\"memorySize\":0,"
           "\"macAddress\":\"02:00:00:00:00:01\",\"os\":null,\"arch\":null,\"firmware\":null,"
           "\"display\":null,\"displayRefit\":null,\"diskFormat\":null}",
           &cfg);
  assert_int_equal(cfg.os, VM_OS_DARWIN);
  assert_int_equal(cfg.arch, VM_ARCH_ARM64);
  assert_int_equal(cfg.firmware, VM_FIRMWARE_EFI);
  assert_int_equal(cfg.display_width, 1024);
  assert_int_equal(cfg.display_refit, VM_REFIT_UNSET);
  assert_string_equal(cfg.disk_format, "raw");
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);
}

static void test_all_values(void **state)
{
  (void)state;
  struct vm_config cfg;
  parse_ok("{\"version\":1,\"os\":\"linux\",\"arch\":\"amd64\",\"firmware\":\"bios\",\"cpuCountMin\":2,"
           "\"cpuCount\":16,\"memorySizeMin\":1,\"memorySize\":9223372036854775807,"
           "\"macAddress\":\"0A:0b:0C:d:E:f\",\"display\":{\"width\":1920,\"height\":1080,\"unit\":\"px\"},"
           "\"displayRefit\":false,\"diskFormat\":\"asif\"}",
           &cfg);
  assert_int_equal(cfg.os, VM_OS_LINUX);
  assert_int_equal(cfg.arch, VM_ARCH_AMD64);
  assert_int_equal(cfg.firmware, VM_FIRMWARE_BIOS);
  assert_int_equal(cfg.cpu_count_min, 2);
  assert_int_equal(cfg.cpu_count, 16);
  assert_int_equal(cfg.memory_size_min, 1);
  assert_int_equal(cfg.memory_size, 9223372036854775807ULL);
  const struct mac_addr mac = {{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}};
  assert_true(mac_equal(&cfg.mac, &mac));
  assert_int_equal(cfg.display_unit, VM_DISPLAY_UNIT_PX);
  assert_int_equal(cfg.display_refit, VM_REFIT_OFF);
  assert_string_equal(cfg.disk_format, "asif");
  char disp[32];
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1920x1080px");
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);
}

static void test_disk_format(void **state)
{
  (void)state;
  struct vm_config cfg;
  _cleanup_free_ char *raw = variant("diskFormat", json_string("raw"));
  parse_ok(raw, &cfg);
  assert_string_equal(cfg.disk_format, "raw");
  vm_config_clear(&cfg);

  /* An unknown format reads as raw but is written back as it was. */
  _cleanup_free_ char *odd = variant("diskFormat", json_string("qcow2-from-the-future"));
  parse_ok(odd, &cfg);
  assert_string_equal(cfg.disk_format, "raw");
  _cleanup_free_ char *text = vm_config_dump(&cfg);
  assert_non_null(strstr(text, "\"diskFormat\": \"qcow2-from-the-future\""));
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);
}

static void test_missing_keys(void **state)
{
  (void)state;
  static const char *const required[] = {"version",       "cpuCountMin", "cpuCount",
                                         "memorySizeMin", "memorySize",  "macAddress"};
  for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
    _cleanup_free_ char *want = xasprintf(PREFIX "missing key \"%s\"", required[i]);
    expect_variant_error(required[i], NULL, want);
  }
  expect_variant_error("display", json_pack("{s:i}", "height", 768), PREFIX "missing key \"display.width\"");
  expect_variant_error("display", json_pack("{s:i}", "width", 1024), PREFIX "missing key \"display.height\"");
  expect_error("{}", PREFIX "missing key \"version\"");
}

static void test_wrong_types(void **state)
{
  (void)state;
  expect_variant_error("version", json_string("1"), PREFIX "version: must be an integer");
  expect_variant_error("version", json_null(), PREFIX "version: must be an integer");
  expect_variant_error("version", json_integer(0), PREFIX "version: must be at least 1, not 0");
  expect_variant_error("cpuCount", json_real(4.0), PREFIX "cpuCount: must be an integer");
  expect_variant_error("cpuCount", json_true(), PREFIX "cpuCount: must be an integer");
  expect_variant_error("cpuCountMin", json_string("4"), PREFIX "cpuCountMin: must be an integer");
  expect_variant_error("memorySize", json_string("16G"), PREFIX "memorySize: must be an integer");
  expect_variant_error("memorySizeMin", json_array(), PREFIX "memorySizeMin: must be an integer");
  expect_variant_error("macAddress", json_integer(123), PREFIX "macAddress: must be a string");
  expect_variant_error("macAddress", json_null(), PREFIX "macAddress: must be a string");
  expect_variant_error("os", json_integer(1), PREFIX "os: must be a string");
  expect_variant_error("arch", json_false(), PREFIX "arch: must be a string");
  expect_variant_error("firmware", json_object(), PREFIX "firmware: must be a string");
  expect_variant_error("display", json_array(), PREFIX "display: must be an object");
  expect_variant_error("display", json_string("1024x768"), PREFIX "display: must be an object");
  expect_variant_error("display", json_pack("{s:s,s:i}", "width", "1024", "height", 768),
                       PREFIX "display.width: must be an integer");
  expect_variant_error("display", json_pack("{s:i,s:f}", "width", 1024, "height", 768.5),
                       PREFIX "display.height: must be an integer");
  expect_variant_error("display", json_pack("{s:i,s:i,s:i}", "width", 1024, "height", 768, "unit", 1),
                       PREFIX "display.unit: must be a string");
  expect_variant_error("displayRefit", json_string("yes"), PREFIX "displayRefit: must be a boolean");
  expect_variant_error("displayRefit", json_integer(1), PREFIX "displayRefit: must be a boolean");
  expect_variant_error("diskFormat", json_integer(1), PREFIX "diskFormat: must be a string");
}

static void test_negative_and_zero(void **state)
{
  (void)state;
  expect_variant_error("memorySize", json_integer(-1), PREFIX "memorySize: must be at least 0, not -1");
  expect_variant_error("memorySizeMin", json_integer(-4294967296LL),
                       PREFIX "memorySizeMin: must be at least 0, not -4294967296");
  expect_variant_error("cpuCountMin", json_integer(-1), PREFIX "cpuCountMin: must be at least 0, not -1");
  expect_variant_error("cpuCount", json_integer(0), PREFIX "cpuCount: must be at least 1, not 0");
  expect_variant_error("cpuCount", json_integer(-3), PREFIX "cpuCount: must be at least 1, not -3");
  expect_variant_error("display", json_pack("{s:i,s:i}", "width", 0, "height", 768),
                       PREFIX "display.width: must be at least 1, not 0");
  expect_variant_error("display", json_pack("{s:i,s:i}", "width", 1024, "height", -768),
                       PREFIX "display.height: must be at least 1, not -768");
  expect_variant_error("version", json_integer(1LL << 40),
                       PREFIX "version: must be at most 2147483647, not "
                              "1099511627776");

  /* Beyond int64: jansson refuses the number itself. */
  const char *big = "{\"version\":1,\"cpuCountMin\":4,\"cpuCount\":4,\"memorySizeMin\":0,"
                    "\"memorySize\":18446744073709551616,\"macAddress\":\"7e:1c:f2:4a:78:30\"}";
  _cleanup_free_ char *msg = parse_fail(big, strlen(big));
  assert_true(strncmp(msg, PREFIX, strlen(PREFIX)) == 0);
  assert_non_null(strstr(msg, "(line 1, column"));
}

static void test_bad_mac(void **state)
{
  (void)state;
  expect_variant_error("macAddress", json_string("zz"), PREFIX "macAddress: \"zz\" is not a MAC address");
  expect_variant_error("macAddress", json_string(""), PREFIX "macAddress: \"\" is not a MAC address");
  expect_variant_error("macAddress", json_string("ee:a7:85:9:92"),
                       PREFIX "macAddress: \"ee:a7:85:9:92\" is not a MAC address");
  expect_variant_error("macAddress", json_string("ee:a7:85:999:92:39"),
                       PREFIX "macAddress: \"ee:a7:85:999:92:39\" is not a MAC address");
  /* Control characters and quotes from the file never reach the terminal
   * raw, and long values are cut. */
  expect_variant_error("macAddress", json_string("a\x1b[31m\"b\\"),
                       PREFIX "macAddress: \"a\\x1b[31m\\\"b\\\\\" is not a MAC address");
  expect_variant_error("macAddress", json_string("\xc3\xa9"),
                       PREFIX "macAddress: \"\\xc3\\xa9\" is not a MAC address");
  char long_mac[201];
  memset(long_mac, 'a', 200);
  long_mac[200] = '\0';
  char *text = variant("macAddress", json_string(long_mac));
  _cleanup_free_ char *msg = parse_fail(text, strlen(text));
  free(text);
  assert_true(strlen(msg) < 120);
  assert_non_null(strstr(msg, "...\" is not a MAC address"));
}

static void test_unknown_enum_values(void **state)
{
  (void)state;
  expect_variant_error("os", json_string("windows"),
                       PREFIX "os: unknown value \"windows\" (expected \"darwin\" or \"linux\")");
  expect_variant_error("os", json_string("Linux"),
                       PREFIX "os: unknown value \"Linux\" (expected \"darwin\" or \"linux\")");
  expect_variant_error("arch", json_string("x86_64"),
                       PREFIX "arch: unknown value \"x86_64\" (expected \"arm64\" or \"amd64\")");
  expect_variant_error("firmware", json_string("uefi"),
                       PREFIX "firmware: unknown value \"uefi\" (expected \"efi\" or \"bios\")");
  expect_variant_error("display", json_pack("{s:i,s:i,s:s}", "width", 1024, "height", 768, "unit", "em"),
                       PREFIX "display.unit: unknown value \"em\" (expected \"pt\" or \"px\")");
  expect_variant_error("display", json_pack("{s:i,s:i,s:s}", "width", 1024, "height", 768, "unit", ""),
                       PREFIX "display.unit: unknown value \"\" (expected \"pt\" or \"px\")");
}

static void test_bad_json(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "{",
      "",
      "   ",
      "{\"version\":1,}",
      "{} trailing",
      "{\"version\":1,\"version\":1}",
      "{'version':1}",
      "{\"version\":01}",
      "{\"macAddress\":\"\\u0000\"}",
      "\xef\xbb\xbf{}",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"\x1b[31m\"}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    _cleanup_free_ char *msg = parse_fail(bad[i], strlen(bad[i]));
    if (strncmp(msg, PREFIX, strlen(PREFIX)) != 0 || strstr(msg, " (line ") == NULL)
      fail_msg("input %zu: %s", i, msg);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
      if (*p < 0x20 || *p >= 0x7f)
        fail_msg("input %zu: unprintable byte in message: %s", i, msg);
  }

  static const char multi[] = "{\n  \"version\": 1,\n  x\n}";
  _cleanup_free_ char *msg = parse_fail(multi, strlen(multi));
  assert_non_null(strstr(msg, "(line 3, column"));

  /* Embedded NUL: the length counts, not the terminator. */
  static const char nul[] = "{\"version\":1}\0garbage";
  _cleanup_free_ char *m2 = parse_fail(nul, sizeof(nul) - 1);
  assert_true(strncmp(m2, PREFIX, strlen(PREFIX)) == 0);

  /* jansson refuses scalars at the top (no JSON_DECODE_ANY) with its own
   * message; arrays get ours. */
  static const char *const scalars[] = {"1", "\"x\"", "null", "true"};
  for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
    _cleanup_free_ char *m = parse_fail(scalars[i], strlen(scalars[i]));
    assert_true(strncmp(m, PREFIX, strlen(PREFIX)) == 0);
  }
  expect_error("[]", PREFIX "the top-level value is not a JSON object");
  expect_error("[{\"version\":1}]", PREFIX "the top-level value is not a JSON object");
}

static void test_init_linux(void **state)
{
  (void)state;
  struct vm_config cfg;
  vm_config_init_linux(&cfg, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  assert_int_equal(cfg.version, 1);
  assert_int_equal(cfg.os, VM_OS_LINUX);
  assert_int_equal(cfg.arch, VM_ARCH_AMD64);
  assert_int_equal(cfg.firmware, VM_FIRMWARE_BIOS);
  assert_int_equal(cfg.cpu_count_min, 4);
  assert_int_equal(cfg.cpu_count, 4);
  assert_int_equal(cfg.memory_size_min, 4096ULL * 1024 * 1024);
  assert_int_equal(cfg.memory_size, 4096ULL * 1024 * 1024);
  assert_true(mac_is_locally_administered_unicast(&cfg.mac));
  assert_int_equal(cfg.display_width, 1024);
  assert_int_equal(cfg.display_height, 768);
  assert_int_equal(cfg.display_unit, VM_DISPLAY_UNIT_NONE);
  assert_int_equal(cfg.display_refit, VM_REFIT_UNSET);
  assert_string_equal(cfg.disk_format, "raw");

  char mac[18];
  mac_format(&cfg.mac, mac);
  _cleanup_free_ char *want = xasprintf("{\n"
                                        "  \"version\": 1,\n"
                                        "  \"os\": \"linux\",\n"
                                        "  \"arch\": \"amd64\",\n"
                                        "  \"cpuCountMin\": 4,\n"
                                        "  \"cpuCount\": 4,\n"
                                        "  \"memorySizeMin\": 4294967296,\n"
                                        "  \"memorySize\": 4294967296,\n"
                                        "  \"macAddress\": \"%s\",\n"
                                        "  \"display\": {\n"
                                        "    \"width\": 1024,\n"
                                        "    \"height\": 768\n"
                                        "  },\n"
                                        "  \"diskFormat\": \"raw\",\n"
                                        "  \"firmware\": \"bios\"\n"
                                        "}\n",
                                        mac);
  _cleanup_free_ char *text = vm_config_dump(&cfg);
  assert_string_equal(text, want);
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);

  vm_config_init_linux(&cfg, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  assert_string_equal(json_string_value(json_object_get(cfg.doc, "arch")), "arm64");
  assert_string_equal(json_string_value(json_object_get(cfg.doc, "firmware")), "efi");
  assert_round_trip(&cfg);

  /* Two new VMs get different MACs. */
  struct vm_config other;
  vm_config_init_linux(&other, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  assert_false(mac_equal(&cfg.mac, &other.mac));
  vm_config_clear(&other);
  vm_config_clear(&cfg);
}

static void test_setters(void **state)
{
  (void)state;
  struct vm_config cfg;
  char disp[32];
  parse_ok(upstream_example, &cfg);

  vm_config_set_cpu(&cfg, 8);
  assert_int_equal(cfg.cpu_count, 8);
  assert_int_equal(json_integer_value(json_object_get(cfg.doc, "cpuCount")), 8);

  vm_config_set_memory(&cfg, 8192ULL * 1024 * 1024);
  assert_int_equal(cfg.memory_size, 8192ULL * 1024 * 1024);
  assert_int_equal(json_integer_value(json_object_get(cfg.doc, "memorySize")), 8192LL * 1024 * 1024);
  vm_config_set_memory(&cfg, UINT64_MAX);
  assert_int_equal(cfg.memory_size, (uint64_t)INT64_MAX);
  assert_round_trip(&cfg);
  vm_config_set_memory(&cfg, 4096ULL * 1024 * 1024);

  struct mac_addr mac;
  assert_int_equal(mac_parse("2:0:0:AB:c:1", &mac), 0);
  vm_config_set_mac(&cfg, &mac);
  assert_true(mac_equal(&cfg.mac, &mac));
  assert_string_equal(json_string_value(json_object_get(cfg.doc, "macAddress")), "02:00:00:ab:0c:01");

  /* Zero keeps the old size; a unit is added and removed. */
  vm_config_set_display(&cfg, 0, 0, VM_DISPLAY_UNIT_PX);
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1024x768px");
  assert_string_equal(json_string_value(json_object_get(json_object_get(cfg.doc, "display"), "unit")), "px");
  vm_config_set_display(&cfg, 1920, -1, VM_DISPLAY_UNIT_PT);
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1920x768pt");
  vm_config_set_display(&cfg, 0, 1080, VM_DISPLAY_UNIT_NONE);
  vm_config_display_string(&cfg, disp, sizeof(disp));
  assert_string_equal(disp, "1920x1080");
  json_t *d = json_object_get(cfg.doc, "display");
  assert_null(json_object_get(d, "unit"));
  json_t *want_d = json_pack("{s:i,s:i}", "width", 1920, "height", 1080);
  assert_true(json_equal(d, want_d));
  json_decref(want_d);

  vm_config_set_display_refit(&cfg, VM_REFIT_ON);
  assert_int_equal(cfg.display_refit, VM_REFIT_ON);
  assert_true(json_is_true(json_object_get(cfg.doc, "displayRefit")));
  assert_round_trip(&cfg);
  vm_config_set_display_refit(&cfg, VM_REFIT_OFF);
  assert_true(json_is_false(json_object_get(cfg.doc, "displayRefit")));
  assert_round_trip(&cfg);
  vm_config_set_display_refit(&cfg, VM_REFIT_UNSET);
  assert_int_equal(cfg.display_refit, VM_REFIT_UNSET);
  assert_null(json_object_get(cfg.doc, "displayRefit"));
  assert_round_trip(&cfg);

  /* Setters keep each key where it was. */
  _cleanup_free_ char *text = vm_config_dump(&cfg);
  assert_true(strstr(text, "\"memorySize\"") < strstr(text, "\"arch\""));
  assert_true(strstr(text, "\"display\"") < strstr(text, "\"cpuCount\""));
  assert_true(strstr(text, "\"cpuCount\"") < strstr(text, "\"macAddress\""));
  vm_config_clear(&cfg);

  /* A display object is created when the document has none, and unknown
   * keys inside an existing one are kept. */
  _cleanup_free_ char *nodisp = variant("display", NULL);
  parse_ok(nodisp, &cfg);
  vm_config_set_display(&cfg, 800, 0, VM_DISPLAY_UNIT_NONE);
  want_d = json_pack("{s:i,s:i}", "width", 800, "height", 768);
  assert_true(json_equal(json_object_get(cfg.doc, "display"), want_d));
  json_decref(want_d);
  assert_round_trip(&cfg);
  vm_config_clear(&cfg);

  _cleanup_free_ char *extra =
      variant("display", json_pack("{s:i,s:i,s:s,s:b}", "width", 1, "height", 2, "unit", "pt", "hidpi", 1));
  parse_ok(extra, &cfg);
  vm_config_set_display(&cfg, 3, 4, VM_DISPLAY_UNIT_NONE);
  want_d = json_pack("{s:i,s:i,s:b}", "width", 3, "height", 4, "hidpi", 1);
  assert_true(json_equal(json_object_get(cfg.doc, "display"), want_d));
  json_decref(want_d);
  vm_config_clear(&cfg);
}

static void test_save_load(void **state)
{
  (void)state;
  char dir[] = "/tmp/tart-test-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  _cleanup_free_ char *path = xasprintf("%s/config.json", dir);
  _cleanup_error_ tart_error_t err = NULL;

  struct vm_config cfg, back;
  vm_config_init_linux(&cfg, VM_ARCH_AMD64, VM_FIRMWARE_EFI);
  vm_config_set_display_refit(&cfg, VM_REFIT_OFF);
  assert_int_equal(vm_config_save(&cfg, path, &err), 0);
  assert_null(err);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644);

  assert_int_equal(vm_config_load(path, &back, &err), 0);
  assert_typed_equal(&cfg, &back);
  assert_true(json_equal(cfg.doc, back.doc));
  vm_config_clear(&back);

  /* Saving again replaces the file. */
  vm_config_set_cpu(&cfg, 2);
  assert_int_equal(vm_config_save(&cfg, path, &err), 0);
  assert_int_equal(vm_config_load(path, &back, &err), 0);
  assert_int_equal(back.cpu_count, 2);
  vm_config_clear(&back);
  vm_config_clear(&cfg);

  /* A bad file: the message starts with the path, then says what is wrong. */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"version\":1}", f);
  fclose(f);
  memset(&back, 0x5a, sizeof(back));
  assert_int_equal(vm_config_load(path, &back, &err), -1);
  assert_true(is_empty(&back));
  _cleanup_free_ char *want = xasprintf("%s: " PREFIX "missing key \"cpuCountMin\"", path);
  assert_string_equal(err->msg, want);
  tart_error_release(&err);

  /* A missing file keeps ENOENT so callers can say "does not exist". */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(vm_config_load(path, &back, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->errnum, ENOENT);
  assert_true(is_empty(&back));
  tart_error_release(&err);

  /* Saving into a missing directory fails cleanly. */
  _cleanup_free_ char *nowhere = xasprintf("%s/missing/config.json", dir);
  vm_config_init_linux(&cfg, VM_ARCH_ARM64, VM_FIRMWARE_EFI);
  assert_int_equal(vm_config_save(&cfg, nowhere, &err), -1);
  assert_non_null(err);
  tart_error_release(&err);
  vm_config_clear(&cfg);

  assert_int_equal(rmdir(dir), 0);
}

static void test_names(void **state)
{
  (void)state;
  enum vm_arch a;
  enum vm_firmware fw;
  assert_int_equal(vm_arch_parse("amd64", &a), 0);
  assert_int_equal(a, VM_ARCH_AMD64);
  assert_int_equal(vm_arch_parse("arm64", &a), 0);
  assert_int_equal(a, VM_ARCH_ARM64);
  assert_int_equal(vm_arch_parse("x86_64", &a), -1);
  assert_int_equal(vm_arch_parse("", &a), -1);
  assert_int_equal(vm_arch_parse(NULL, &a), -1);
  assert_int_equal(vm_firmware_parse("efi", &fw), 0);
  assert_int_equal(fw, VM_FIRMWARE_EFI);
  assert_int_equal(vm_firmware_parse("bios", &fw), 0);
  assert_int_equal(fw, VM_FIRMWARE_BIOS);
  assert_int_equal(vm_firmware_parse("EFI", &fw), -1);
  assert_string_equal(vm_os_name(VM_OS_DARWIN), "darwin");
  assert_string_equal(vm_os_name(VM_OS_LINUX), "linux");
  assert_string_equal(vm_arch_name(VM_ARCH_ARM64), "arm64");
  assert_string_equal(vm_arch_name(VM_ARCH_AMD64), "amd64");
  assert_string_equal(vm_firmware_name(VM_FIRMWARE_EFI), "efi");
  assert_string_equal(vm_firmware_name(VM_FIRMWARE_BIOS), "bios");
#if defined(__x86_64__)
  assert_int_equal(vm_arch_host(), VM_ARCH_AMD64);
#elif defined(__aarch64__)
  assert_int_equal(vm_arch_host(), VM_ARCH_ARM64);
#endif

  struct vm_config cfg = {.display_width = 1920, .display_height = 1080, .display_unit = VM_DISPLAY_UNIT_PT};
  char small[6];
  vm_config_display_string(&cfg, small, sizeof(small));
  assert_string_equal(small, "1920x");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upstream_example),
      cmocka_unit_test(test_upstream_example_fixture),
      cmocka_unit_test(test_darwin_unknown_keys_survive),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_all_values),
      cmocka_unit_test(test_disk_format),
      cmocka_unit_test(test_missing_keys),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_negative_and_zero),
      cmocka_unit_test(test_bad_mac),
      cmocka_unit_test(test_unknown_enum_values),
      cmocka_unit_test(test_bad_json),
      cmocka_unit_test(test_init_linux),
      cmocka_unit_test(test_setters),
      cmocka_unit_test(test_save_load),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
