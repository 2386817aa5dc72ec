#include "vmconfig/config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/util.h"

#define PREFIX "invalid VM configuration: "

static const char *const os_names[] = {[VM_OS_DARWIN] = "darwin", [VM_OS_LINUX] = "linux"};
static const char *const arch_names[] = {[VM_ARCH_ARM64] = "arm64", [VM_ARCH_AMD64] = "amd64"};
static const char *const firmware_names[] = {[VM_FIRMWARE_EFI] = "efi", [VM_FIRMWARE_BIOS] = "bios"};
static const char *const unit_names[] = {
    [VM_DISPLAY_UNIT_NONE] = "", [VM_DISPLAY_UNIT_PT] = "pt", [VM_DISPLAY_UNIT_PX] = "px"};

const char *vm_os_name(enum vm_os os)
{
  return (size_t)os < ARRAY_SIZE(os_names) ? os_names[os] : "unknown";
}

const char *vm_arch_name(enum vm_arch arch)
{
  return (size_t)arch < ARRAY_SIZE(arch_names) ? arch_names[arch] : "unknown";
}

const char *vm_firmware_name(enum vm_firmware fw)
{
  return (size_t)fw < ARRAY_SIZE(firmware_names) ? firmware_names[fw] : "unknown";
}

/* Index of s in names[first..n), or -1. */
static int lookup(const char *s, const char *const *names, size_t first, size_t n)
{
  if (s == NULL)
    return -1;
  for (size_t i = first; i < n; i++)
    if (strcmp(s, names[i]) == 0)
      return (int)i;
  return -1;
}

int vm_arch_parse(const char *s, enum vm_arch *out)
{
  int i = lookup(s, arch_names, 0, ARRAY_SIZE(arch_names));
  if (i < 0)
    return -1;
  *out = (enum vm_arch)i;
  return 0;
}

int vm_firmware_parse(const char *s, enum vm_firmware *out)
{
  int i = lookup(s, firmware_names, 0, ARRAY_SIZE(firmware_names));
  if (i < 0)
    return -1;
  *out = (enum vm_firmware)i;
  return 0;
}

enum vm_arch vm_arch_host(void)
{
#if defined(__x86_64__)
  return VM_ARCH_AMD64;
#elif defined(__aarch64__)
  return VM_ARCH_ARM64;
#else
#error "tart supports x86_64 and aarch64 hosts only"
#endif
}

/* ---- error messages ---------------------------------------------------- */

static void quote(const char *s, char *out, size_t n)
{
  str_quote(s, 40, out, n);
}

/* "invalid VM configuration: <key>: <why>" */
static int bad(tart_error_t *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(tart_error_t *err, const char *key, const char *fmt, ...)
{
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  return tart_error_make(err, 0, PREFIX "%s: %s", key, why);
}

static int missing(tart_error_t *err, const char *key)
{
  return tart_error_make(err, 0, PREFIX "missing key \"%s\"", key);
}

/* ---- typed getters ----------------------------------------------------- */

/* Each getter returns 1 when the key holds a value, 0 when an optional key
 * is absent, -1 (with *err set) otherwise.  JSON null counts as absent for
 * optional keys, as with Swift's decodeIfPresent that upstream uses. */

static json_t *get_value(json_t *obj, const char *key, const char *name, bool required, tart_error_t *err,
                         int *rc)
{
  json_t *v = json_object_get(obj, key);
  *rc = 1;
  if (v == NULL && required) {
    *rc = missing(err, name);
    return NULL;
  }
  if (v == NULL || (json_is_null(v) && !required)) {
    *rc = 0;
    return NULL;
  }
  return v;
}

static int get_int(json_t *obj, const char *key, const char *name, bool required, json_int_t min,
                   json_int_t max, json_int_t *out, tart_error_t *err)
{
  int rc;
  json_t *v = get_value(obj, key, name, required, err, &rc);
  if (v == NULL)
    return rc;
  /* Reals (4.0) are refused: upstream never writes them, and accepting one
   * would leave a real in the document that we then rewrite as such. */
  if (!json_is_integer(v))
    return bad(err, name, "must be an integer");
  json_int_t i = json_integer_value(v);
  if (i < min)
    return bad(err, name, "must be at least %lld, not %lld", (long long)min, (long long)i);
  if (i > max)
    return bad(err, name, "must be at most %lld, not %lld", (long long)max, (long long)i);
  *out = i;
  return 1;
}

static int get_string(json_t *obj, const char *key, const char *name, bool required, const char **out,
                      tart_error_t *err)
{
  int rc;
  json_t *v = get_value(obj, key, name, required, err, &rc);
  if (v == NULL)
    return rc;
  if (!json_is_string(v))
    return bad(err, name, "must be a string");
  *out = json_string_value(v);
  return 1;
}

/* An optional string that must be one of names[first..n); *out is left
 * alone when the key is absent so that it keeps its default. */
static int get_enum(json_t *obj, const char *key, const char *name, const char *const *names, size_t first,
                    size_t n, int *out, tart_error_t *err)
{
  const char *s = NULL;
  int rc = get_string(obj, key, name, false, &s, err);
  if (rc <= 0)
    return rc;
  int i = lookup(s, names, first, n);
  if (i < 0) {
    char q[128];
    quote(s, q, sizeof(q));
    if (n - first == 2)
      return bad(err, name, "unknown value %s (expected \"%s\" or \"%s\")", q, names[first],
                 names[first + 1]);
    return bad(err, name, "unknown value %s", q);
  }
  *out = i;
  return 1;
}

/* ---- parsing ----------------------------------------------------------- */

static int parse_display(json_t *doc, struct vm_config *c, tart_error_t *err)
{
  int rc;
  json_t *d = get_value(doc, "display", "display", false, err, &rc);
  if (d == NULL)
    return rc;
  if (!json_is_object(d))
    return bad(err, "display", "must be an object");

  json_int_t w = 0, h = 0;
  if (get_int(d, "width", "display.width", true, 1, INT_MAX, &w, err) < 0)
    return -1;
  if (get_int(d, "height", "display.height", true, 1, INT_MAX, &h, err) < 0)
    return -1;
  int unit = VM_DISPLAY_UNIT_NONE;
  /* Index 0 is the empty "no unit" name, which is not a valid value. */
  if (get_enum(d, "unit", "display.unit", unit_names, 1, ARRAY_SIZE(unit_names), &unit, err) < 0)
    return -1;
  c->display_width = w;
  c->display_height = h;
  c->display_unit = (enum vm_display_unit)unit;
  return 1;
}

/* Fill the typed fields of c from c->doc, checking keys in the order of the
 * schema table so that the first problem reported is deterministic. */
static int parse_doc(struct vm_config *c, tart_error_t *err)
{
  json_t *doc = c->doc;
  json_int_t i;
  int e;

  if (get_int(doc, "version", "version", true, 1, INT_MAX, &i, err) < 0)
    return -1;
  c->version = (int)i;

  e = VM_OS_DARWIN;
  if (get_enum(doc, "os", "os", os_names, 0, ARRAY_SIZE(os_names), &e, err) < 0)
    return -1;
  c->os = (enum vm_os)e;

  e = VM_ARCH_ARM64;
  if (get_enum(doc, "arch", "arch", arch_names, 0, ARRAY_SIZE(arch_names), &e, err) < 0)
    return -1;
  c->arch = (enum vm_arch)e;

  e = VM_FIRMWARE_EFI;
  if (get_enum(doc, "firmware", "firmware", firmware_names, 0, ARRAY_SIZE(firmware_names), &e, err) < 0)
    return -1;
  c->firmware = (enum vm_firmware)e;

  if (get_int(doc, "cpuCountMin", "cpuCountMin", true, 0, INT64_MAX, &i, err) < 0)
    return -1;
  c->cpu_count_min = i;
  if (get_int(doc, "cpuCount", "cpuCount", true, 1, INT64_MAX, &i, err) < 0)
    return -1;
  c->cpu_count = i;
  if (get_int(doc, "memorySizeMin", "memorySizeMin", true, 0, INT64_MAX, &i, err) < 0)
    return -1;
  c->memory_size_min = (uint64_t)i;
  if (get_int(doc, "memorySize", "memorySize", true, 0, INT64_MAX, &i, err) < 0)
    return -1;
  c->memory_size = (uint64_t)i;

  const char *s = NULL;
  if (get_string(doc, "macAddress", "macAddress", true, &s, err) < 0)
    return -1;
  if (mac_parse(s, &c->mac) < 0) {
    char q[128];
    quote(s, q, sizeof(q));
    return bad(err, "macAddress", "%s is not a MAC address", q);
  }

  c->display_width = 1024;
  c->display_height = 768;
  c->display_unit = VM_DISPLAY_UNIT_NONE;
  if (parse_display(doc, c, err) < 0)
    return -1;

  int rc;
  json_t *v = get_value(doc, "displayRefit", "displayRefit", false, err, &rc);
  c->display_refit = VM_REFIT_UNSET;
  if (v != NULL) {
    if (!json_is_boolean(v))
      return bad(err, "displayRefit", "must be a boolean");
    c->display_refit = json_is_true(v) ? VM_REFIT_ON : VM_REFIT_OFF;
  }

  /* Unknown formats read as raw (as upstream does); the document keeps the
   * original string so that a rewrite does not lose it. */
  s = NULL;
  if (get_string(doc, "diskFormat", "diskFormat", false, &s, err) < 0)
    return -1;
  snprintf(c->disk_format, sizeof(c->disk_format), "%s",
           s != NULL && strcmp(s, "asif") == 0 ? "asif" : "raw");
  return 0;
}

/* jansson's messages may quote bytes of the input; keep them printable. */
static void sanitize(char *s)
{
  for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      *p = '?';
}

int vm_config_parse(const char *text, size_t len, struct vm_config *cfg, tart_error_t *err)
{
  memset(cfg, 0, sizeof(*cfg));

  json_error_t jerr;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    sanitize(jerr.text);
    return tart_error_make(err, 0, PREFIX "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    return tart_error_make(err, 0, PREFIX "the top-level value is not a JSON object");
  }

  struct vm_config c = {.doc = doc};
  if (parse_doc(&c, err) < 0) {
    json_decref(doc);
    return -1;
  }
  *cfg = c;
  return 0;
}

/* ---- building and editing the document --------------------------------- */

/* jansson only fails these on OOM, which tart treats like xmalloc does. */
static json_t *checked(json_t *v)
{
  if (v == NULL)
    abort();
  return v;
}

static void obj_set(json_t *obj, const char *key, json_t *v)
{
  if (json_object_set_new(obj, key, checked(v)) < 0)
    abort();
}

static json_t *doc_of(struct vm_config *cfg)
{
  if (cfg->doc == NULL)
    cfg->doc = checked(json_object());
  return cfg->doc;
}

static json_t *mac_json(const struct mac_addr *m)
{
  char s[18];
  mac_format(m, s);
  return json_string(s);
}

static json_t *display_json(const struct vm_config *cfg)
{
  json_t *d = checked(json_object());
  obj_set(d, "width", json_integer(cfg->display_width));
  obj_set(d, "height", json_integer(cfg->display_height));
  if (cfg->display_unit != VM_DISPLAY_UNIT_NONE)
    obj_set(d, "unit", json_string(unit_names[cfg->display_unit]));
  return d;
}

void vm_config_init_linux(struct vm_config *cfg, enum vm_arch arch, enum vm_firmware fw)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->version = 1;
  cfg->os = VM_OS_LINUX;
  cfg->arch = arch;
  cfg->firmware = fw;
  cfg->cpu_count_min = cfg->cpu_count = 4;
  cfg->memory_size_min = cfg->memory_size = 4096ULL * 1024 * 1024;
  mac_random(&cfg->mac);
  cfg->display_width = 1024;
  cfg->display_height = 768;
  cfg->display_unit = VM_DISPLAY_UNIT_NONE;
  cfg->display_refit = VM_REFIT_UNSET;
  snprintf(cfg->disk_format, sizeof(cfg->disk_format), "raw");

  /* Same key order as upstream's VMConfig.CodingKeys, then our addition. */
  json_t *doc = doc_of(cfg);
  obj_set(doc, "version", json_integer(cfg->version));
  obj_set(doc, "os", json_string(vm_os_name(cfg->os)));
  obj_set(doc, "arch", json_string(vm_arch_name(cfg->arch)));
  obj_set(doc, "cpuCountMin", json_integer(cfg->cpu_count_min));
  obj_set(doc, "cpuCount", json_integer(cfg->cpu_count));
  obj_set(doc, "memorySizeMin", json_integer((json_int_t)cfg->memory_size_min));
  obj_set(doc, "memorySize", json_integer((json_int_t)cfg->memory_size));
  obj_set(doc, "macAddress", mac_json(&cfg->mac));
  obj_set(doc, "display", display_json(cfg));
  obj_set(doc, "diskFormat", json_string(cfg->disk_format));
  obj_set(doc, "firmware", json_string(vm_firmware_name(cfg->firmware)));
}

char *vm_config_dump(const struct vm_config *cfg)
{
  if (cfg->doc == NULL)
    return xstrdup("{}\n");
  char *s = json_dumps(cfg->doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s == NULL)
    abort();
  char *out = xasprintf("%s\n", s);
  /* Release with jansson's own deallocator in case someone installed custom
   * allocation functions. */
  json_free_t free_fn = NULL;
  json_get_alloc_funcs(NULL, &free_fn);
  (free_fn != NULL ? free_fn : free)(s);
  return out;
}

void vm_config_set_cpu(struct vm_config *cfg, int64_t cpus)
{
  cfg->cpu_count = cpus;
  obj_set(doc_of(cfg), "cpuCount", json_integer(cpus));
}

void vm_config_set_memory(struct vm_config *cfg, uint64_t bytes)
{
  /* jansson integers are signed 64-bit; no VM has 8 EiB of memory, so
   * clamping only keeps the document and the typed field equal. */
  if (bytes > (uint64_t)INT64_MAX)
    bytes = (uint64_t)INT64_MAX;
  cfg->memory_size = bytes;
  obj_set(doc_of(cfg), "memorySize", json_integer((json_int_t)bytes));
}

void vm_config_set_mac(struct vm_config *cfg, const struct mac_addr *mac)
{
  cfg->mac = *mac;
  obj_set(doc_of(cfg), "macAddress", mac_json(mac));
}

void vm_config_set_display(struct vm_config *cfg, int64_t width, int64_t height, enum vm_display_unit unit)
{
  if (width > 0)
    cfg->display_width = width;
  if (height > 0)
    cfg->display_height = height;
  if ((size_t)unit >= ARRAY_SIZE(unit_names))
    unit = VM_DISPLAY_UNIT_NONE;
  cfg->display_unit = unit;

  json_t *doc = doc_of(cfg);
  json_t *d = json_object_get(doc, "display");
  if (!json_is_object(d)) {
    obj_set(doc, "display", display_json(cfg));
    return;
  }
  /* Edit in place: keys inside display that we do not know survive. */
  obj_set(d, "width", json_integer(cfg->display_width));
  obj_set(d, "height", json_integer(cfg->display_height));
  if (unit == VM_DISPLAY_UNIT_NONE)
    json_object_del(d, "unit");
  else
    obj_set(d, "unit", json_string(unit_names[unit]));
}

void vm_config_set_display_refit(struct vm_config *cfg, enum vm_refit refit)
{
  json_t *doc = doc_of(cfg);
  if (refit == VM_REFIT_ON || refit == VM_REFIT_OFF) {
    cfg->display_refit = refit;
    obj_set(doc, "displayRefit", json_boolean(refit == VM_REFIT_ON));
  } else {
    cfg->display_refit = VM_REFIT_UNSET;
    json_object_del(doc, "displayRefit");
  }
}

void vm_config_clear(struct vm_config *cfg)
{
  if (cfg == NULL)
    return;
  json_decref(cfg->doc);
  memset(cfg, 0, sizeof(*cfg));
}

/* ---- files ------------------------------------------------------------- */

int vm_config_load(const char *path, struct vm_config *cfg, tart_error_t *err)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;

  memset(cfg, 0, sizeof(*cfg));
  if (read_file(path, VMCONFIG_MAX_BYTES, &text, &len, err) < 0)
    return -1;
  if (vm_config_parse(text, len, cfg, err) < 0)
    return tart_error_wrap(err, "%s", path);
  return 0;
}

int vm_config_save(const struct vm_config *cfg, const char *path, tart_error_t *err)
{
  _cleanup_free_ char *text = vm_config_dump(cfg);
  return write_file_atomic(path, text, strlen(text), 0644, err) < 0 ? -1 : 0;
}

void vm_config_display_string(const struct vm_config *cfg, char *out, size_t n)
{
  const char *unit = (size_t)cfg->display_unit < ARRAY_SIZE(unit_names) ? unit_names[cfg->display_unit] : "";
  snprintf(out, n, "%" PRId64 "x%" PRId64 "%s", cfg->display_width, cfg->display_height, unit);
}
