/* libFuzzer target for the pure parts of src/registry/credentials.c: the
 * docker config reader (host "ghcr.io") and the credential helper output
 * parser.
 *
 * Checks, for every input:
 *   - 1 means credentials and no helper; 0 means no credentials, and a
 *     helper name, if any, that cannot name a path; -1 means neither, with a
 *     printable message (no bytes of the file reach the terminal raw);
 *   - credentials_clear leaves nothing behind and nothing leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/credentials.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  struct credentials c;
  char *helper = NULL;
  tart_error_t err = NULL;

  int rc = credentials_from_docker_config(text, size, "ghcr.io", &c, &helper, &err);
  switch (rc) {
  case 1:
    if (c.username == NULL || c.password == NULL || helper != NULL || err != NULL)
      abort();
    /* User names come from a split at the first colon. */
    if (strchr(c.username, ':') != NULL)
      abort();
    break;
  case 0:
    if (c.username != NULL || c.password != NULL || err != NULL)
      abort();
    if (helper != NULL && (helper[0] == '\0' || strchr(helper, '/') != NULL))
      abort();
    break;
  case -1:
    if (c.username != NULL || c.password != NULL || helper != NULL || err == NULL)
      abort();
    if (strncmp(err->msg, "invalid docker configuration: ", 30) != 0)
      abort();
    check_printable(err->msg);
    tart_error_release(&err);
    break;
  default:
    abort();
  }
  free(helper);
  credentials_clear(&c);
  if (c.username != NULL || c.password != NULL)
    abort();

  /* The same bytes as a helper's answer. */
  rc = credentials_from_helper_output(text, size, &c, &err);
  if (rc == 0) {
    if (c.username == NULL || c.password == NULL || err != NULL)
      abort();
  } else {
    if (rc != -1 || c.username != NULL || c.password != NULL || err == NULL)
      abort();
    check_printable(err->msg);
    tart_error_release(&err);
  }
  credentials_clear(&c);
  return 0;
}
