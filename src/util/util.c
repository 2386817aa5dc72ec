#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void tart_freep(void *p)
{
  free(*(void **)p);
}

void tart_closep(int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}

void tart_fclosep(FILE **f)
{
  if (*f != NULL)
    fclose(*f);
}

void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    abort();
  return p;
}

void *xcalloc(size_t n, size_t m)
{
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (p == NULL)
    abort();
  return p;
}

void *xrealloc(void *p, size_t n)
{
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    abort();
  return p;
}

char *xstrdup(const char *s)
{
  char *p = strdup(s);
  if (p == NULL)
    abort();
  return p;
}

char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (r < 0)
    abort();
  return s;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char *what, tart_error_t *err)
{
  if (s == NULL || *s == '\0')
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "%s: expected a number, got an empty value", what);
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') {
      if (*p == '-' && p == s)
        return tart_error_exit(err, TART_EXIT_USAGE, 0, "%s: must not be negative, got \"%s\"", what, s);
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "%s: \"%s\" is not a whole number", what, s);
    }
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "%s: \"%s\" is too large (at most %llu)", what, s,
                             (unsigned long long)max);
    v = v * 10 + d;
  }
  if (v < min || v > max)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "%s: %llu is out of range (%llu to %llu)", what,
                           (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
  *out = v;
  return 0;
}

void random_bytes(void *buf, size_t n)
{
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      abort();
    }
    p += r;
    n -= (size_t)r;
  }
}

void uuid_random(char out[37])
{
  unsigned char b[16];
  random_bytes(b, sizeof(b));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool str_has_control_chars(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return true;
  return false;
}

char *str_scrub_controls(char *s)
{
  for (unsigned char *p = (unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      *p = ' ';
    else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
      p[0] = ' ';
      p[1] = ' ';
      p++;
    }
  }
  return s;
}

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p)
{
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned min;
  unsigned cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

bool utf8_valid(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = utf8_seq(p);
    if (n == 0)
      return false;
    p += n;
  }
  return true;
}

char *utf8_sanitize(const char *s)
{
  size_t len = strlen(s);
  char *out = xmalloc(len * 3 + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = utf8_seq(p);
    if (n == 0) {
      memcpy(o, "\xef\xbf\xbd", 3);
      o += 3;
      p++;
    } else {
      memcpy(o, p, n);
      o += n;
      p += n;
    }
  }
  *o = '\0';
  return out;
}

void str_quote(const char *s, size_t max_shown, char *out, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, shown = 0;

  out[o++] = '"';
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (shown == max_shown || o + 8 >= n) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c >= 0x20 && c < 0x7f) {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 0xf];
    }
    shown++;
  }
  out[o++] = '"';
  out[o] = '\0';
}
