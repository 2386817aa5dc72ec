/* libFuzzer target for MAC address parsing: no crash on any input, and an
 * accepted address formats to a canonical string that parses back to it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmconfig/mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* mac_parse takes a C string; give it exactly the fuzzer's bytes. */
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  struct mac_addr m;
  if (mac_parse(s, &m) == 0) {
    /* "x:" six times minus one, at most "xx:" six times minus one. */
    size_t n = strlen(s);
    if (n < 11 || n > 17)
      abort();
    char canon[18];
    mac_format(&m, canon);
    struct mac_addr back;
    if (strlen(canon) != 17 || mac_parse(canon, &back) != 0 || !mac_equal(&m, &back))
      abort();
    if (strcasecmp(s, canon) != 0 && n == 17)
      abort();
  }
  free(s);
  return 0;
}
