/* libFuzzer target for config.json parsing.  Anything that parses must dump
 * to text that parses again to the same configuration: otherwise `tart set`
 * could write a file that the next command refuses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmconfig/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct vm_config *a, const struct vm_config *b)
{
  if (a->version != b->version || a->os != b->os || a->arch != b->arch || a->firmware != b->firmware ||
      a->cpu_count_min != b->cpu_count_min || a->cpu_count != b->cpu_count ||
      a->memory_size_min != b->memory_size_min || a->memory_size != b->memory_size ||
      !mac_equal(&a->mac, &b->mac) || a->display_width != b->display_width ||
      a->display_height != b->display_height || a->display_unit != b->display_unit ||
      a->display_refit != b->display_refit || strcmp(a->disk_format, b->disk_format) != 0 ||
      !json_equal(a->doc, b->doc))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct vm_config cfg;
  tart_error_t err = NULL;

  if (vm_config_parse((const char *)data, size, &cfg, &err) < 0) {
    /* A failure names the problem in one line under the usual prefix. */
    if (err == NULL || strncmp(err->msg, "invalid VM configuration: ", 26) != 0)
      abort();
    /* Bytes of the input must never reach the terminal unescaped. */
    for (const unsigned char *p = (const unsigned char *)err->msg; *p != '\0'; p++)
      if (*p < 0x20 || *p >= 0x7f)
        abort();
    tart_error_release(&err);
    return 0;
  }
  if (err != NULL)
    abort();

  char *text = vm_config_dump(&cfg);
  struct vm_config back;
  if (vm_config_parse(text, strlen(text), &back, &err) < 0) {
    fprintf(stderr, "re-parse failed: %s\n%s", err->msg, text);
    abort();
  }
  check_same(&cfg, &back);

  /* Setters must leave a document that still parses to what they set. */
  vm_config_set_cpu(&back, 3);
  vm_config_set_display(&back, 0, 600, VM_DISPLAY_UNIT_PX);
  vm_config_set_display_refit(&back, VM_REFIT_UNSET);
  char *text2 = vm_config_dump(&back);
  struct vm_config again;
  if (vm_config_parse(text2, strlen(text2), &again, &err) < 0) {
    fprintf(stderr, "re-parse after set failed: %s\n%s", err->msg, text2);
    abort();
  }
  check_same(&back, &again);
  if (again.cpu_count != 3 || again.display_height != 600 || again.display_width != cfg.display_width)
    abort();

  vm_config_clear(&again);
  vm_config_clear(&back);
  vm_config_clear(&cfg);
  free(text2);
  free(text);
  return 0;
}
