/* libFuzzer target for src/registry/challenge.c (WWW-Authenticate headers
 * come straight from the network).
 *
 * Checks, for every input:
 *   - a failure sets a printable "malformed WWW-Authenticate header: ..."
 *     message and leaves *out empty;
 *   - a success yields a tchar scheme, unique lower-case keys, values free of
 *     control characters, and auth_challenge_param finds each of them;
 *   - writing the challenge back in canonical form (every value quoted and
 *     escaped) parses to the same challenge, so quoting and escaping lose
 *     nothing;
 *   - nothing leaks (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/challenge.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      abort();
}

static void check_valid(const struct auth_challenge *c)
{
  if (c->scheme == NULL || c->scheme[0] == '\0' || (c->n_params > 0 && c->params == NULL))
    abort();
  for (const char *p = c->scheme; *p != '\0'; p++)
    if (strchr(" \t\",=\\()<>@;:/[]?{}", *p) != NULL || (unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f)
      abort();
  for (size_t i = 0; i < c->n_params; i++) {
    const struct auth_param *a = &c->params[i];
    if (a->key == NULL || a->key[0] == '\0' || a->value == NULL)
      abort();
    for (const char *p = a->key; *p != '\0'; p++)
      if ((*p >= 'A' && *p <= 'Z') || strchr(" \t\",=", *p) != NULL)
        abort();
    for (const unsigned char *p = (const unsigned char *)a->value; *p != '\0'; p++)
      if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
        abort();
    for (size_t j = 0; j < i; j++)
      if (strcmp(c->params[j].key, a->key) == 0)
        abort();
    if (auth_challenge_param(c, a->key) != a->value)
      abort();
  }
}

/* scheme k1="v1",k2="v2" with '"' and '\' escaped. */
static char *canonical(const struct auth_challenge *c)
{
  size_t cap = strlen(c->scheme) + 2;
  for (size_t i = 0; i < c->n_params; i++)
    cap += strlen(c->params[i].key) + 2 * strlen(c->params[i].value) + 5;
  char *s = xmalloc(cap), *o = s;
  o = stpcpy(o, c->scheme);
  for (size_t i = 0; i < c->n_params; i++) {
    *o++ = i == 0 ? ' ' : ',';
    o = stpcpy(o, c->params[i].key);
    *o++ = '=';
    *o++ = '"';
    for (const char *p = c->params[i].value; *p != '\0'; p++) {
      if (*p == '"' || *p == '\\')
        *o++ = '\\';
      *o++ = *p;
    }
    *o++ = '"';
  }
  *o = '\0';
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *header = xmalloc(size + 1);
  memcpy(header, data, size);
  header[size] = '\0';

  struct auth_challenge c;
  tart_error_t err = NULL;
  if (auth_challenge_parse(header, &c, &err) < 0) {
    if (err == NULL || strncmp(err->msg, "malformed WWW-Authenticate header: ", 35) != 0)
      abort();
    check_printable(err->msg);
    if (c.scheme != NULL || c.params != NULL || c.n_params != 0)
      abort();
    tart_error_release(&err);
    free(header);
    return 0;
  }
  if (err != NULL)
    abort();
  check_valid(&c);

  char *text = canonical(&c);
  struct auth_challenge back;
  if (auth_challenge_parse(text, &back, &err) < 0)
    abort();
  if (strcmp(back.scheme, c.scheme) != 0 || back.n_params != c.n_params)
    abort();
  for (size_t i = 0; i < c.n_params; i++)
    if (strcmp(back.params[i].key, c.params[i].key) != 0 ||
        strcmp(back.params[i].value, c.params[i].value) != 0)
      abort();

  auth_challenge_clear(&back);
  auth_challenge_clear(&c);
  if (c.scheme != NULL || c.params != NULL || c.n_params != 0)
    abort();
  free(text);
  free(header);
  return 0;
}
