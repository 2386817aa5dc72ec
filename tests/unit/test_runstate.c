/* Run states and stops to messages (qemu/runstate.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/runstate.h"
#include "unit.h"
#include "util/util.h"

static void test_classify(void **state)
{
  (void)state;
  assert_int_equal(runstate_classify("internal-error"), RUN_END_INTERNAL_ERROR);
  assert_int_equal(runstate_classify("io-error"), RUN_END_IO_ERROR);
  assert_int_equal(runstate_classify("guest-panicked"), RUN_END_PANIC);
  assert_int_equal(runstate_classify("watchdog"), RUN_END_OTHER_STATE);
  /* Fine, or asked for by someone. */
  static const char *const fine[] = {"running",        "paused",  "prelaunch",     "inmigrate", "postmigrate",
                                     "finish-migrate", "save-vm", "restore-vm",    "suspended", "shutdown",
                                     "debug",          "",        "some-new-state"};
  for (size_t i = 0; i < ARRAY_SIZE(fine); i++)
    assert_int_equal(runstate_classify(fine[i]), RUN_END_NONE);
  assert_int_equal(runstate_classify(NULL), RUN_END_NONE);
}

static void check_msg(const struct run_end *e, const char *want)
{
  char *m = run_end_message(e);
  assert_string_equal(m, want);
  assert_false(str_has_control_chars(m));
  free(m);
}

static void test_messages(void **state)
{
  (void)state;
  struct run_end e = {.kind = RUN_END_PANIC, .log = "/v/logs/console.log"};
  check_msg(&e, "the guest's kernel panicked (see /v/logs/console.log)");
  e.log = NULL;
  check_msg(&e, "the guest's kernel panicked");

  e = (struct run_end){
      .kind = RUN_END_INTERNAL_ERROR, .detail = "KVM internal error. Suberror: 1", .log = "q.log"};
  check_msg(&e,
            "QEMU's accelerator could not go on running the guest: \"KVM internal error. Suberror: 1\" (see "
            "q.log)");

  e = (struct run_end){.kind = RUN_END_IO_ERROR,
                       .io_path = "/t/d.img",
                       .io_operation = "write",
                       .io_reason = "No space left on device",
                       .io_nospace = true,
                       .log = "q.log"};
  check_msg(&e,
            "writing disk \"/t/d.img\" failed: the host's file system is full; free space there and run the "
            "VM again (see q.log)");
  e.io_nospace = false;
  e.io_operation = "read";
  e.io_reason = "Input/output error";
  check_msg(&e, "reading disk \"/t/d.img\" failed on the host: \"Input/output error\" (see q.log)");
  e.io_path = NULL;
  e.io_reason = NULL;
  check_msg(&e, "reading a disk failed on the host (see q.log)");

  e = (struct run_end){.kind = RUN_END_RESET_LOOP, .resets = 5, .reset_seconds = 30, .log = "c.log"};
  check_msg(&e,
            "the guest reset 5 times within 30 s (a triple fault, or a kernel that crashes while booting) "
            "(see c.log)");

  e = (struct run_end){.kind = RUN_END_NO_BOOT, .detail = "SeaBIOS: No bootable device", .log = "f.log"};
  char *m = run_end_message(&e);
  const char prefix[] = "the firmware found nothing to boot (\"SeaBIOS: No bootable device\"): ";
  assert_true(strncmp(m, prefix, sizeof(prefix) - 1) == 0);
  assert_non_null(strstr(m, "(see f.log)"));
  free(m);

  e = (struct run_end){.kind = RUN_END_OTHER_STATE, .status = "watchdog", .log = "q.log"};
  check_msg(&e, "the guest stopped and cannot go on (QEMU run state \"watchdog\") (see q.log)");
  /* Hostile text stays one line. */
  e.status = "a\nb\033c";
  m = run_end_message(&e);
  assert_false(str_has_control_chars(m));
  free(m);
}

static void test_firmware_markers(void **state)
{
  (void)state;
  const char sea[] = "Booting from Hard Disk...\nBoot failed: not a bootable disk\n\nNo bootable device.\n";
  assert_string_equal(firmware_noboot_marker(sea, sizeof(sea) - 1), "SeaBIOS: No bootable device");
  const char ovmf[] =
      "\033[2J\033[01;01HBdsDxe: failed to load Boot0001 \"UEFI Misc Device\" from "
      "PciRoot(0x0)/Pci(0x4,0x0): Not Found\r\nBdsDxe: No bootable option or device was found.\r\n";
  assert_string_equal(firmware_noboot_marker(ovmf, sizeof(ovmf) - 1),
                      "UEFI: no bootable option or device was found");
  const char shell[] = "UEFI Interactive Shell v2.2\r\nEDK II\r\nShell> ";
  assert_non_null(firmware_noboot_marker(shell, sizeof(shell) - 1));
  const char linux_boot[] =
      "SeaBIOS (version 1.16.2)\nBooting from Hard Disk...\n[    0.000000] Linux version";
  assert_null(firmware_noboot_marker(linux_boot, sizeof(linux_boot) - 1));
  /* Only len bytes count, NULs included. */
  assert_null(firmware_noboot_marker(sea, 40));
  const char nul[] = "x\0No bootable device.";
  assert_non_null(firmware_noboot_marker(nul, sizeof(nul) - 1));
  assert_null(firmware_noboot_marker(NULL, 0));
  assert_null(firmware_noboot_marker("", 0));
}

static void test_reset_loop(void **state)
{
  (void)state;
  struct reset_window w = {0};
  /* A guest that reboots now and then never loops. */
  for (int i = 0; i < 20; i++)
    assert_false(reset_window_note(&w, (int64_t)i * 10000));
  /* Five within 30 s do. */
  memset(&w, 0, sizeof(w));
  assert_false(reset_window_note(&w, 1000));
  assert_false(reset_window_note(&w, 1100));
  assert_false(reset_window_note(&w, 1200));
  assert_false(reset_window_note(&w, 1300));
  assert_true(reset_window_note(&w, 1400));
  /* The window slides. */
  memset(&w, 0, sizeof(w));
  assert_false(reset_window_note(&w, 0));
  assert_false(reset_window_note(&w, 20000));
  assert_false(reset_window_note(&w, 21000));
  assert_false(reset_window_note(&w, 22000));
  assert_false(reset_window_note(&w, 40000)); /* 0 .. 40 s: too slow */
  assert_true(reset_window_note(&w, 41000));  /* 20 .. 41 s */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_messages),
      cmocka_unit_test(test_firmware_markers),
      cmocka_unit_test(test_reset_loop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
