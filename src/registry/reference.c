/* OCI image references.
 *
 * Hand-written recursive descent rather than a regex or a generated parser:
 * whether a string is a remote name or a local VM name decides what every
 * command does with it, so we must accept exactly the strings that upstream
 * Tart's ANTLR grammar (docs/upstream.md, "References and names", copied in reference.h) accepts, no more and
 * no fewer.  Each grammar rule below is one function, in the grammar's order.
 *
 * The parser only records spans of the input; strings are allocated once the
 * whole input has been accepted, so no error path has anything to free. */
#include "registry/reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define DIGEST_ALGORITHM "sha256"
#define DIGEST_HEX_LEN   64

struct span {
  size_t start, len;
};

struct parser {
  const char *s;
  size_t pos; /* 0-based index of the next character */
  tart_error_t *err;
};

static bool is_alnum(char c)
{
  /* Not isalnum(): that depends on the locale, and the grammar is ASCII. */
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_separator(char c)
{
  return c == '.' || c == '-' || c == '_';
}

static char peek(const struct parser *p)
{
  return p->s[p->pos];
}

/* Fail at 0-based index `at`.  The message names what was expected and what
 * was found there, so that a user can tell a typo from a local VM name. */
static int fail_at(struct parser *p, size_t at, const char *expected)
{
  unsigned char c = (unsigned char)p->s[at];
  char found[64];

  if (c == '\0')
    snprintf(found, sizeof(found), "end of input");
  else if (c == '.' && (p->s[at + 1] == '.' || (at > 0 && p->s[at - 1] == '.')))
    snprintf(found, sizeof(found), "'..'");
  else if (c >= 0x80)
    snprintf(found, sizeof(found), "non-ASCII byte 0x%02x", c);
  else if (c < 0x20 || c == 0x7f)
    snprintf(found, sizeof(found), "control character 0x%02x", c);
  else
    snprintf(found, sizeof(found), "'%c'", c);

  char why[160];
  snprintf(why, sizeof(why), "expected %s, found %s", expected, found);
  return tart_error_make(p->err, 0, "failed to parse remote name: %s (character %zu)", why, at + 1);
}

static int fail(struct parser *p, const char *expected)
{
  return fail_at(p, p->pos, expected);
}

/* Semantic errors (bad digest) are not "expected X, found Y" mismatches. */
static int fail_why(struct parser *p, size_t at, const char *why)
{
  return tart_error_make(p->err, 0, "failed to parse remote name: %s (character %zu)", why, at + 1);
}

/* name := [A-Za-z0-9]+ */
static int parse_name(struct parser *p, const char *expected)
{
  if (!is_alnum(peek(p)))
    return fail(p, expected);
  while (is_alnum(peek(p)))
    p->pos++;
  return 0;
}

/* hostcomp := name ('-' name)* */
static int parse_hostcomp(struct parser *p)
{
  if (parse_name(p, "a host name") < 0)
    return -1;
  while (peek(p) == '-') {
    p->pos++;
    if (parse_name(p, "a letter or digit after '-' in the host") < 0)
      return -1;
  }
  return 0;
}

/* host := hostcomp ('.' hostcomp)* */
static int parse_host(struct parser *p)
{
  if (parse_hostcomp(p) < 0)
    return -1;
  while (peek(p) == '.') {
    p->pos++;
    if (parse_hostcomp(p) < 0)
      return -1;
  }
  return 0;
}

/* port := DIGIT+ */
static int parse_port(struct parser *p)
{
  if (!is_digit(peek(p)))
    return fail(p, "a port number after ':'");
  while (is_digit(peek(p)))
    p->pos++;
  return 0;
}

/* nscomp := (name separator?)+
 *
 * A component may end with a separator ("a-/b"), but cannot start with one
 * and cannot hold two in a row, because each separator must follow a name. */
static int parse_nscomp(struct parser *p)
{
  if (parse_name(p, "a namespace component") < 0)
    return -1;
  for (;;) {
    while (is_alnum(peek(p)))
      p->pos++;
    if (!is_separator(peek(p)))
      return 0;
    p->pos++;
    if (is_separator(peek(p)))
      return fail(p, "a letter or digit after a separator");
    if (!is_alnum(peek(p)))
      return 0;
  }
}

/* namespace := nscomp ('/' nscomp)* */
static int parse_namespace(struct parser *p)
{
  if (parse_nscomp(p) < 0)
    return -1;
  while (peek(p) == '/') {
    p->pos++;
    if (parse_nscomp(p) < 0)
      return -1;
  }
  return 0;
}

/* tag := name (separator name)* */
static int parse_tag(struct parser *p)
{
  if (parse_name(p, "a tag after ':'") < 0)
    return -1;
  while (is_separator(peek(p))) {
    p->pos++;
    if (parse_name(p, "a letter or digit after a separator in the tag") < 0)
      return -1;
  }
  return 0;
}

/* The grammar takes any '@' name ':' name; only sha256 digests are real. */
static int check_digest(struct parser *p, struct span algo, struct span hex)
{
  if (algo.len != strlen(DIGEST_ALGORITHM) || memcmp(p->s + algo.start, DIGEST_ALGORITHM, algo.len) != 0)
    return fail_why(p, algo.start, "unsupported digest algorithm, expected " DIGEST_ALGORITHM);
  for (size_t i = 0; i < hex.len && i < DIGEST_HEX_LEN; i++) {
    char c = p->s[hex.start + i];
    if (!(is_digit(c) || (c >= 'a' && c <= 'f')))
      return fail_why(p, hex.start + i, "digest must be lower-case hexadecimal");
  }
  if (hex.len != DIGEST_HEX_LEN) {
    /* Point past the last digit if short, at the first extra one if long. */
    size_t at = hex.len < DIGEST_HEX_LEN ? hex.start + hex.len : hex.start + DIGEST_HEX_LEN;
    char why[96];
    snprintf(why, sizeof(why), "digest must have %d hexadecimal digits, not %zu", DIGEST_HEX_LEN, hex.len);
    return fail_why(p, at, why);
  }
  return 0;
}

/* reference := ':' tag | '@' name ':' name */
static int parse_reference(struct parser *p, struct span *tag, struct span *digest)
{
  if (peek(p) == ':') {
    p->pos++;
    tag->start = p->pos;
    if (parse_tag(p) < 0)
      return -1;
    tag->len = p->pos - tag->start;
    return 0;
  }

  p->pos++; /* '@' */
  struct span algo = {.start = p->pos}, hex;
  if (parse_name(p, "a digest algorithm after '@'") < 0)
    return -1;
  algo.len = p->pos - algo.start;
  if (peek(p) != ':')
    return fail(p, "':' after the digest algorithm");
  p->pos++;
  hex.start = p->pos;
  if (parse_name(p, "a digest after ':'") < 0)
    return -1;
  hex.len = p->pos - hex.start;
  if (peek(p) != '\0')
    return fail(p, "end of input after the digest");
  if (check_digest(p, algo, hex) < 0)
    return -1;
  digest->start = algo.start;
  digest->len = p->pos - algo.start;
  return 0;
}

static char *span_dup(const char *s, struct span sp)
{
  char *r = xmalloc(sp.len + 1);
  memcpy(r, s + sp.start, sp.len);
  r[sp.len] = '\0';
  return r;
}

/* root := host (':' port)? '/' namespace reference? EOF */
int oci_reference_parse(const char *s, struct oci_reference *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  struct parser p = {.s = s != NULL ? s : "", .pos = 0, .err = err};
  struct span host = {0}, ns = {0}, tag = {0}, digest = {0};

  if (parse_host(&p) < 0)
    return -1;
  if (peek(&p) == ':') {
    p.pos++;
    if (parse_port(&p) < 0)
      return -1;
    if (peek(&p) != '/')
      return fail(&p, "'/' after the port");
  } else if (peek(&p) != '/') {
    return fail(&p, "'.', '-', ':' or '/' in the host");
  }
  /* The port, if any, stays part of the host: it is how registries and
   * credentials are keyed. */
  host.len = p.pos;
  p.pos++;

  ns.start = p.pos;
  if (parse_namespace(&p) < 0)
    return -1;
  ns.len = p.pos - ns.start;

  if (peek(&p) == ':' || peek(&p) == '@') {
    if (parse_reference(&p, &tag, &digest) < 0)
      return -1;
  } else if (peek(&p) != '\0') {
    return fail(&p, "':', '@', '/' or end of input after the namespace");
  }
  if (peek(&p) != '\0')
    return fail(&p, "end of input after the tag");

  out->host = span_dup(p.s, host);
  out->namespace = span_dup(p.s, ns);
  if (digest.len > 0)
    out->digest = span_dup(p.s, digest);
  else if (tag.len > 0)
    out->tag = span_dup(p.s, tag);
  else
    out->tag = xstrdup("latest");
  return 0;
}

bool oci_reference_is_remote(const char *s)
{
  struct oci_reference r;
  _cleanup_error_ tart_error_t err = NULL;
  int rc = oci_reference_parse(s, &r, &err);
  oci_reference_clear(&r);
  return rc == 0;
}

char *oci_reference_format(const struct oci_reference *r)
{
  if (r->digest != NULL)
    return xasprintf("%s/%s@%s", r->host, r->namespace, r->digest);
  return xasprintf("%s/%s:%s", r->host, r->namespace, r->tag != NULL ? r->tag : "latest");
}

void oci_reference_clear(struct oci_reference *r)
{
  free(r->host);
  free(r->namespace);
  free(r->tag);
  free(r->digest);
  memset(r, 0, sizeof(*r));
}
