/* The accelerator decision (qemu/accel.h): host facts -> KVM or TCG, the
 * notice, the errors of TART_ACCEL=kvm, and the per-boot verdict record. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/accel.h"
#include "unit.h"
#include "util/util.h"

static struct accel_facts good(void)
{
  return (struct accel_facts){.kvm = KVM_AVAILABLE, .guest_arch = "amd64", .host_arch = "amd64"};
}

/* Choose; on success *c filled, on failure the message in msg. */
static int choose(enum accel_mode m, const struct accel_facts *f, struct accel_choice *c, char *msg, size_t n)
{
  tart_error_t err = NULL;
  int r = accel_choose(m, f, c, &err);
  msg[0] = '\0';
  if (r < 0) {
    assert_non_null(err);
    assert_int_equal(err->exit_code, TART_EXIT_FAILURE);
    snprintf(msg, n, "%s", err->msg);
    assert_null(strchr(err->msg, '\n'));
    tart_error_release(&err);
  } else {
    assert_null(err);
  }
  return r;
}

static void test_mode_parse(void **state)
{
  (void)state;
  enum accel_mode m = ACCEL_TCG;
  assert_int_equal(accel_mode_parse(NULL, &m, NULL), 0);
  assert_int_equal(m, ACCEL_AUTO);
  assert_int_equal(accel_mode_parse("", &m, NULL), 0);
  assert_int_equal(m, ACCEL_AUTO);
  assert_int_equal(accel_mode_parse("kvm", &m, NULL), 0);
  assert_int_equal(m, ACCEL_KVM);
  assert_int_equal(accel_mode_parse("tcg", &m, NULL), 0);
  assert_int_equal(m, ACCEL_TCG);
  assert_int_equal(accel_mode_parse("auto", &m, NULL), 0);
  assert_int_equal(m, ACCEL_AUTO);
  tart_error_t err = NULL;
  assert_int_equal(accel_mode_parse("KVM", &m, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  assert_string_equal(err->msg, "TART_ACCEL must be auto, kvm or tcg, not \"KVM\"");
  tart_error_release(&err);
  assert_int_equal(accel_mode_parse("x\ny", &m, &err), -1);
  assert_null(strchr(err->msg, '\n'));
  tart_error_release(&err);
}

static void test_auto_with_working_kvm(void **state)
{
  (void)state;
  struct accel_facts f = good();
  struct accel_choice c;
  char msg[512];
  assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), 0);
  assert_true(c.kvm);
  assert_true(c.fallback);
  assert_null(c.notice); /* the normal path says nothing */
  accel_choice_clear(&c);
  /* Forced: no fallback, the failure is reported. */
  assert_int_equal(choose(ACCEL_KVM, &f, &c, msg, sizeof(msg)), 0);
  assert_true(c.kvm);
  assert_false(c.fallback);
  accel_choice_clear(&c);
  /* --nested: KVM or nothing. */
  f.nested = true;
  assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), 0);
  assert_true(c.kvm);
  assert_false(c.fallback);
  accel_choice_clear(&c);
}

static void test_auto_without_kvm_says_why(void **state)
{
  (void)state;
  struct {
    enum kvm_avail kvm;
    int errnum;
    const char *notice;
  } cases[] = {
      {KVM_MISSING, 0,
       "/dev/kvm is missing (no KVM on this host): running under TCG emulation, which is slow"},
      {KVM_NO_ACCESS, EACCES,
       "/dev/kvm is not accessible: Permission denied (add the user to the kvm group): running "
       "under TCG emulation, which is slow"},
      {KVM_NO_ACCESS, EBUSY,
       "/dev/kvm is not accessible: Device or resource busy: running under TCG "
       "emulation, which is slow"},
      {KVM_BROKEN, ENOTTY,
       "/dev/kvm does not answer as KVM: Inappropriate ioctl for device: "
       "running under TCG emulation, which is slow"},
      {KVM_BROKEN, 0,
       "/dev/kvm does not answer as KVM (unexpected API version): running under TCG "
       "emulation, which is slow"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct accel_facts f = good();
    f.kvm = cases[i].kvm;
    f.kvm_errno = cases[i].errnum;
    struct accel_choice c;
    char msg[512];
    assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), 0);
    assert_false(c.kvm);
    assert_false(c.fallback);
    assert_string_equal(c.notice, cases[i].notice);
    accel_choice_clear(&c);
    assert_null(c.notice);
  }
}

static void test_remembered_verdict(void **state)
{
  (void)state;
  struct accel_facts f = good();
  f.cannot_run = "KVM stopped it at its first instructions";
  struct accel_choice c;
  char msg[512];
  assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), 0);
  assert_false(c.kvm);
  assert_string_equal(c.notice, "/dev/kvm cannot run this guest: KVM stopped it at its first "
                                "instructions (found earlier since this host booted): running under TCG "
                                "emulation, which is slow");
  accel_choice_clear(&c);
  assert_int_equal(choose(ACCEL_KVM, &f, &c, msg, sizeof(msg)), -1);
  assert_string_equal(msg,
                      "TART_ACCEL=kvm, but /dev/kvm cannot run this guest: KVM stopped it at its first "
                      "instructions (found earlier since this host booted); unset TART_ACCEL to run under "
                      "TCG");
  /* A missing device wins over a remembered verdict. */
  f.kvm = KVM_MISSING;
  assert_int_equal(choose(ACCEL_KVM, &f, &c, msg, sizeof(msg)), -1);
  assert_string_equal(msg,
                      "TART_ACCEL=kvm, but /dev/kvm is missing (no KVM on this host); unset TART_ACCEL to "
                      "run under TCG");
}

static void test_tcg_and_foreign_arch(void **state)
{
  (void)state;
  struct accel_facts f = good();
  struct accel_choice c;
  char msg[512];
  /* Asked for: no notice. */
  assert_int_equal(choose(ACCEL_TCG, &f, &c, msg, sizeof(msg)), 0);
  assert_false(c.kvm);
  assert_null(c.notice);
  f.nested = true;
  assert_int_equal(choose(ACCEL_TCG, &f, &c, msg, sizeof(msg)), -1);
  assert_string_equal(msg, "--nested needs KVM, and TART_ACCEL=tcg asks for TCG");
  f.nested = false;
  /* Another architecture: TCG, and the run prints its own warning. */
  f.foreign_arch = true;
  f.guest_arch = "arm64";
  assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), 0);
  assert_false(c.kvm);
  assert_null(c.notice);
  assert_int_equal(choose(ACCEL_KVM, &f, &c, msg, sizeof(msg)), -1);
  assert_string_equal(msg,
                      "TART_ACCEL=kvm, but this is an arm64 VM on an amd64 host; unset TART_ACCEL to run "
                      "under TCG");
  f.foreign_arch = false;
  f.kvm = KVM_MISSING;
  f.nested = true;
  assert_int_equal(choose(ACCEL_AUTO, &f, &c, msg, sizeof(msg)), -1);
  assert_string_equal(msg, "--nested needs KVM: /dev/kvm is missing (no KVM on this host)");
}

static void test_failure_reason_and_notice(void **state)
{
  (void)state;
  char *r = accel_kvm_failure_reason("KVM internal error. Suberror: 1", true);
  assert_string_equal(r,
                      "KVM stopped it at its first instructions (QEMU: KVM internal error. Suberror: 1); the "
                      "kvm_pvm module's paravirtual KVM runs only guests built for it");
  char *n = accel_fallback_notice(r);
  const char prefix[] = "/dev/kvm cannot run this guest: KVM stopped it";
  assert_true(strncmp(n, prefix, sizeof(prefix) - 1) == 0);
  assert_non_null(strstr(n, ": restarting it under TCG emulation, which is slow"));
  free(n);
  free(r);
  r = accel_kvm_failure_reason(NULL, false);
  assert_string_equal(r, "KVM stopped it at its first instructions");
  free(r);
  /* A log line is the guest's or QEMU's text: one printable line, cut. */
  char longline[400];
  memset(longline, 'a', sizeof(longline) - 1);
  longline[sizeof(longline) - 1] = '\0';
  longline[5] = '\n';
  longline[6] = '\033';
  r = accel_kvm_failure_reason(longline, false);
  assert_null(strchr(r, '\n'));
  assert_null(strchr(r, '\033'));
  assert_true(strlen(r) < 200);
  free(r);
}

static void test_verdict_record(void **state)
{
  (void)state;
  const char *key = "boot=0a1b-2c modules=kvm,kvm_pvm";
  char *text = accel_verdict_format(key, "KVM stopped it\nat once");
  char *reason = NULL;
  assert_int_equal(accel_verdict_parse(text, strlen(text), key, &reason), 1);
  assert_string_equal(reason, "KVM stopped it at once");
  free(reason);
  /* Another boot, or other modules: not ours. */
  assert_int_equal(accel_verdict_parse(text, strlen(text), "boot=ffff modules=kvm,kvm_pvm", &reason), 0);
  assert_null(reason);
  assert_int_equal(accel_verdict_parse(text, strlen(text), "boot=0a1b-2c modules=kvm,kvm_intel", &reason), 0);
  /* Only the bytes given are read. */
  assert_int_equal(accel_verdict_parse(text, strlen(text) - 1, key, &reason), -1);
  free(text);
  /* A KVM that works: no reason. */
  text = accel_verdict_format(key, NULL);
  assert_int_equal(accel_verdict_parse(text, strlen(text), key, &reason), ACCEL_VERDICT_WORKS);
  assert_null(reason);
  assert_int_equal(accel_verdict_parse(text, strlen(text), "boot=x modules=kvm", &reason),
                   ACCEL_VERDICT_NONE);
  free(text);
  static const char *const bad[] = {
      "",
      "[]",
      "null",
      "{}",
      "{\"host\":\"k\",\"kvm\":\"maybe\",\"reason\":\"x\"}",
      "{\"host\":\"k\",\"kvm\":\"cannot-run\"}",
      "{\"host\":1,\"kvm\":\"cannot-run\",\"reason\":\"x\"}",
      "{\"host\":\"k\",\"host\":\"k\",\"kvm\":\"cannot-run\",\"reason\":\"x\"}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    assert_int_equal(accel_verdict_parse(bad[i], strlen(bad[i]), "k", &reason), -1);
    assert_null(reason);
  }
  const char ok[] = "{\"host\":\"k\",\"kvm\":\"cannot-run\",\"reason\":\"x\"}";
  assert_int_equal(accel_verdict_parse(ok, strlen(ok), "k", &reason), 1);
  assert_string_equal(reason, "x");
  free(reason);
  assert_int_equal(accel_verdict_parse(ok, strlen(ok), NULL, &reason), 0);
}

static void test_host_key(void **state)
{
  (void)state;
  bool pvm = true;
  char *k = accel_host_key(&pvm);
  assert_true(strncmp(k, "boot=", 5) == 0);
  assert_non_null(strstr(k, " modules="));
  assert_false(str_has_control_chars(k));
  char *again = accel_host_key(NULL);
  assert_string_equal(k, again); /* stable within a boot */
  free(again);
  free(k);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mode_parse),
      cmocka_unit_test(test_auto_with_working_kvm),
      cmocka_unit_test(test_auto_without_kvm_says_why),
      cmocka_unit_test(test_remembered_verdict),
      cmocka_unit_test(test_tcg_and_foreign_arch),
      cmocka_unit_test(test_failure_reason_and_notice),
      cmocka_unit_test(test_verdict_record),
      cmocka_unit_test(test_host_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
