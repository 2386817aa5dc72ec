#include "qemu/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/util.h"

#define REASON_MAX 300

int accel_mode_parse(const char *value, enum accel_mode *mode, tart_error_t *err)
{
  if (value == NULL || *value == '\0' || !strcmp(value, "auto"))
    *mode = ACCEL_AUTO;
  else if (!strcmp(value, "kvm"))
    *mode = ACCEL_KVM;
  else if (!strcmp(value, "tcg"))
    *mode = ACCEL_TCG;
  else {
    char shown[64];
    str_quote(value, 32, shown, sizeof(shown));
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "TART_ACCEL must be auto, kvm or tcg, not %s", shown);
  }
  return 0;
}

/* One printable line of at most max bytes: control characters
 * become spaces, and a cut never splits a UTF-8 sequence. */
static char *one_line(const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
  }
  char *out = xmalloc(n + 1);
  for (size_t i = 0; i < n; i++)
    out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
  out[n] = '\0';
  return out;
}

/* Why KVM cannot be used, as a phrase: "/dev/kvm is missing ...". */
static char *kvm_unusable_why(const struct accel_facts *f)
{
  if (f->foreign_arch)
    return xasprintf("this is an %s VM on an %s host", f->guest_arch ? f->guest_arch : "other",
                     f->host_arch ? f->host_arch : "other");
  switch (f->kvm) {
  case KVM_MISSING:
    return xstrdup("/dev/kvm is missing (no KVM on this host)");
  case KVM_NO_ACCESS:
    if (f->kvm_errno == EACCES || f->kvm_errno == EPERM)
      return xasprintf("/dev/kvm is not accessible: %s (add the user to the kvm group)",
                       strerror(f->kvm_errno));
    return xasprintf("/dev/kvm is not accessible: %s", strerror(f->kvm_errno));
  case KVM_BROKEN:
    return f->kvm_errno ? xasprintf("/dev/kvm does not answer as KVM: %s", strerror(f->kvm_errno))
                        : xstrdup("/dev/kvm does not answer as KVM (unexpected API version)");
  case KVM_AVAILABLE:
    break;
  }
  if (f->cannot_run)
    return xasprintf("/dev/kvm cannot run this guest: %s (found earlier since this host booted)",
                     f->cannot_run);
  return NULL;
}

int accel_choose(enum accel_mode mode, const struct accel_facts *f, struct accel_choice *c, tart_error_t *err)
{
  memset(c, 0, sizeof(*c));
  _cleanup_free_ char *why = kvm_unusable_why(f);
  if (mode == ACCEL_TCG) {
    if (f->nested)
      return tart_error_make(err, 0, "--nested needs KVM, and TART_ACCEL=tcg asks for TCG");
    return 0;
  }
  if (why != NULL) {
    if (f->nested)
      return tart_error_make(err, 0, "--nested needs KVM: %s", why);
    if (mode == ACCEL_KVM)
      return tart_error_make(err, 0, "TART_ACCEL=kvm, but %s; unset TART_ACCEL to run under TCG", why);
    /* A foreign architecture has its own warning (the run prints it). */
    if (!f->foreign_arch)
      c->notice = xasprintf("%s: running under TCG emulation, which is slow", why);
    return 0;
  }
  c->kvm = true;
  /* --nested is useless under TCG: its failure is reported, not hidden. */
  c->fallback = mode == ACCEL_AUTO && !f->nested;
  return 0;
}

void accel_choice_clear(struct accel_choice *c)
{
  free(c->notice);
  c->notice = NULL;
}

char *accel_kvm_failure_reason(const char *qemu_line, bool kvm_pvm)
{
  _cleanup_free_ char *line = NULL;
  if (qemu_line && *qemu_line) {
    _cleanup_free_ char *q = one_line(qemu_line, 120);
    line = xasprintf(" (QEMU: %s)", q);
  }
  return xasprintf("KVM stopped it at its first instructions%s%s", line ? line : "",
                   kvm_pvm ? "; the kvm_pvm module's paravirtual KVM runs only guests built for it" : "");
}

char *accel_fallback_notice(const char *reason)
{
  return xasprintf("/dev/kvm cannot run this guest: %s: restarting it under TCG emulation, "
                   "which is slow (remembered until the host reboots)",
                   reason);
}

int accel_verdict_parse(const char *text, size_t len, const char *key, char **reason)
{
  *reason = NULL;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(o)) {
    json_decref(o);
    return -1;
  }
  const char *host = json_string_value(json_object_get(o, "host"));
  const char *kvm = json_string_value(json_object_get(o, "kvm"));
  const char *why = json_string_value(json_object_get(o, "reason"));
  int r = -1;
  bool cannot = kvm && why && !strcmp(kvm, "cannot-run");
  bool works = kvm && !strcmp(kvm, "works");
  if (host && (cannot || works)) {
    r = !key || strcmp(host, key) ? ACCEL_VERDICT_NONE
        : cannot                  ? ACCEL_VERDICT_CANNOT_RUN
                                  : ACCEL_VERDICT_WORKS;
    if (r == ACCEL_VERDICT_CANNOT_RUN)
      *reason = one_line(why, REASON_MAX);
  }
  json_decref(o);
  return r;
}

char *accel_verdict_format(const char *key, const char *reason)
{
  _cleanup_free_ char *k = utf8_sanitize(key);
  if (reason == NULL) {
    json_t *w = json_pack("{s:s, s:s}", "host", k, "kvm", "works");
    char *text = w ? json_dumps(w, JSON_INDENT(2)) : NULL;
    json_decref(w);
    return text ? text : xstrdup("{}");
  }
  _cleanup_free_ char *line = one_line(reason, REASON_MAX);
  _cleanup_free_ char *r = utf8_sanitize(line);
  json_t *o = json_pack("{s:s, s:s, s:s}", "host", k, "kvm", "cannot-run", "reason", r);
  char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
  json_decref(o);
  return text ? text : xstrdup("{}");
}

char *accel_host_key(bool *kvm_pvm)
{
  char boot[64] = "unknown";
  char *text = NULL;
  size_t len = 0;
  if (read_file("/proc/sys/kernel/random/boot_id", sizeof(boot), &text, &len, NULL) == 0) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof(boot); i++)
      if ((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f') || text[i] == '-')
        boot[n++] = text[i];
    boot[n] = '\0';
    free(text);
  }
  static const char *const mods[] = {"kvm", "kvm_intel", "kvm_amd", "kvm_pvm"};
  char list[64] = "";
  for (size_t i = 0; i < ARRAY_SIZE(mods); i++) {
    _cleanup_free_ char *p = xasprintf("/sys/module/%s", mods[i]);
    if (access(p, F_OK) == 0) {
      size_t l = strlen(list);
      snprintf(list + l, sizeof(list) - l, "%s%s", l ? "," : "", mods[i]);
    }
  }
  if (kvm_pvm)
    *kvm_pvm = strstr(list, "kvm_pvm") != NULL;
  return xasprintf("boot=%s modules=%s", boot, list[0] ? list : "none");
}

void accel_probe_device(struct accel_facts *f)
{
  f->kvm_errno = 0;
  struct stat st;
  if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode)) {
    f->kvm = KVM_MISSING;
    return;
  }
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    f->kvm = KVM_NO_ACCESS;
    f->kvm_errno = errno;
    return;
  }
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  f->kvm = v == KVM_API_VERSION ? KVM_AVAILABLE : KVM_BROKEN;
  f->kvm_errno = v < 0 ? errno : 0;
  close(fd);
}

int accel_verdict_load(const char *verdict_path, const char *key, char **reason)
{
  *reason = NULL;
  char *text = NULL;
  size_t len = 0;
  if (read_file(verdict_path, 4096, &text, &len, NULL) < 0)
    return ACCEL_VERDICT_NONE;
  int r = accel_verdict_parse(text, len, key, reason);
  free(text);
  return r < 0 ? ACCEL_VERDICT_NONE : r;
}

int accel_verdict_store(const char *verdict_path, const char *key, const char *reason, tart_error_t *err)
{
  _cleanup_free_ char *text = accel_verdict_format(key, reason);
  return write_file_atomic(verdict_path, text, strlen(text), 0644, err);
}
