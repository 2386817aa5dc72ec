#include "registry/challenge.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

#define PREFIX "malformed WWW-Authenticate header: "

/* RFC 7230 tchar: what a scheme or a parameter name is made of. */
static bool is_tchar(unsigned char c)
{
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(unsigned char c)
{
  return c == ' ' || c == '\t';
}

/* Control characters other than tab never belong in a header value (RFC
 * 7230 field-vchar / qdtext); refusing them keeps values safe to put in a
 * URL or a message later. */
static bool is_ctl(unsigned char c)
{
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

static const char *skip_ows(const char *p)
{
  while (is_ows((unsigned char)*p))
    p++;
  return p;
}

static const char *skip_token(const char *p)
{
  while (is_tchar((unsigned char)*p))
    p++;
  return p;
}

static int malformed(tart_error_t *err, const char *why)
{
  return tart_error_make(err, 0, PREFIX "%s", why);
}

/* Append or, when key is already there, replace: the last occurrence wins,
 * as with upstream's dictionary. */
static void add_param(struct auth_challenge *c, char *key, char *value)
{
  for (size_t i = 0; i < c->n_params; i++) {
    if (strcmp(c->params[i].key, key) == 0) {
      free(key);
      free(c->params[i].value);
      c->params[i].value = value;
      return;
    }
  }
  c->params = xrealloc(c->params, (c->n_params + 1) * sizeof(*c->params));
  c->params[c->n_params].key = key;
  c->params[c->n_params].value = value;
  c->n_params++;
}

/* Parse a quoted-string starting at the opening quote.  On success *pp points
 * past the closing quote. */
static int parse_quoted(const char **pp, char **out, tart_error_t *err)
{
  const char *p = *pp + 1;
  /* The unescaped value is never longer than the input. */
  _cleanup_free_ char *buf = xmalloc(strlen(p) + 1);
  size_t n = 0;

  for (;;) {
    unsigned char c = (unsigned char)*p;
    if (c == '\0')
      return malformed(err, "unterminated quoted string");
    if (c == '"')
      break;
    if (c == '\\') {
      p++;
      c = (unsigned char)*p;
      if (c == '\0')
        return malformed(err, "unterminated quoted string");
    }
    if (is_ctl(c))
      return malformed(err, "control character in quoted string");
    buf[n++] = (char)c;
    p++;
  }
  buf[n] = '\0';
  *pp = p + 1;
  *out = TAKE_PTR(buf);
  return 0;
}

/* An unquoted value runs to the next comma; surrounding white space is not
 * part of it.  Registries send token values such as realm=https://a/token,
 * which holds characters outside tchar, so this is more lenient than the
 * RFC's token rule (as upstream, which takes everything up to the comma). */
static int parse_bare(const char **pp, char **out, tart_error_t *err)
{
  const char *start = *pp, *p = start, *end = start;

  for (; *p != '\0' && *p != ','; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      return malformed(err, "unexpected quote in unquoted value");
    if (is_ctl(c))
      return malformed(err, "control character in value");
    if (!is_ows(c))
      end = p + 1;
  }
  *out = strndup(start, (size_t)(end - start));
  if (*out == NULL)
    abort();
  *pp = p;
  return 0;
}

/* After a comma: is this the start of the next challenge ("Basic realm=..."
 * or a lone scheme followed by a token68) rather than another parameter?
 * A parameter name is followed by '=' (possibly after white space); a
 * scheme by white space and then something that is not '='. */
static bool next_challenge_starts(const char *p)
{
  const char *t = skip_token(p);
  if (t == p || !is_ows((unsigned char)*t))
    return false;
  t = skip_ows(t);
  return *t != '\0' && *t != '=' && *t != ',';
}

int auth_challenge_parse(const char *header, struct auth_challenge *out, tart_error_t *err)
{
  struct auth_challenge c = {0};

  memset(out, 0, sizeof(*out));
  if (header == NULL)
    return malformed(err, "missing header");

  /* A caller may hand us the raw header line: its CR LF terminator (and
   * trailing white space) is not part of the value.  Anywhere else they are
   * control characters. */
  _cleanup_free_ char *copy = xstrdup(header);
  size_t n = strlen(copy);
  while (n > 0 && (is_ows((unsigned char)copy[n - 1]) || copy[n - 1] == '\r' || copy[n - 1] == '\n'))
    copy[--n] = '\0';

  const char *p = skip_ows(copy);
  const char *s = skip_token(p);
  if (s == p)
    return malformed(err, *p == '\0' ? "empty header" : "missing scheme");
  if (*s != '\0' && !is_ows((unsigned char)*s))
    return malformed(err, "invalid character after the scheme");
  c.scheme = strndup(p, (size_t)(s - p));
  if (c.scheme == NULL)
    abort();
  p = skip_ows(s);

  bool first = true;
  while (*p != '\0') {
    /* Empty list elements ("a=1,,b=2") are allowed by RFC 7230 #rule. */
    if (*p == ',') {
      p = skip_ows(p + 1);
      first = false;
      continue;
    }
    /* Only the first challenge is ours; a following one ends the list. */
    if (!first && next_challenge_starts(p))
      break;

    const char *k = skip_token(p);
    if (k == p) {
      malformed(err, *p == '=' ? "missing parameter name" : "invalid character in parameter name");
      goto fail;
    }
    const char *eq = skip_ows(k);
    if (*eq != '=') {
      malformed(err, "missing '=' after a parameter name");
      goto fail;
    }
    _cleanup_free_ char *key = strndup(p, (size_t)(k - p));
    if (key == NULL)
      abort();
    for (char *q = key; *q != '\0'; q++)
      if (*q >= 'A' && *q <= 'Z')
        *q = (char)(*q - 'A' + 'a');

    p = skip_ows(eq + 1);
    _cleanup_free_ char *value = NULL;
    if (*p == '"') {
      if (parse_quoted(&p, &value, err) < 0)
        goto fail;
    } else if (parse_bare(&p, &value, err) < 0) {
      goto fail;
    }
    p = skip_ows(p);
    if (*p != '\0' && *p != ',') {
      malformed(err, "unexpected character after a value");
      goto fail;
    }
    add_param(&c, TAKE_PTR(key), TAKE_PTR(value));
    first = false;
  }

  *out = c;
  return 0;

fail:
  auth_challenge_clear(&c);
  return -1;
}

const char *auth_challenge_param(const struct auth_challenge *c, const char *key)
{
  if (c == NULL || key == NULL)
    return NULL;
  for (size_t i = 0; i < c->n_params; i++)
    if (strcasecmp(c->params[i].key, key) == 0)
      return c->params[i].value;
  return NULL;
}

void auth_challenge_clear(struct auth_challenge *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_params; i++) {
    free(c->params[i].key);
    free(c->params[i].value);
  }
  free(c->params);
  free(c->scheme);
  memset(c, 0, sizeof(*c));
}
