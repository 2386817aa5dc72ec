#include "net/fields.h"

#include <arpa/inet.h>
#include <string.h>

const char *fields_line_end(const char *line, const char *end, const char **next)
{
  const char *nl = memchr(line, '\n', (size_t)(end - line));
  const char *e = nl != NULL ? nl : end;
  *next = nl != NULL ? nl + 1 : end;
  if (e > line && e[-1] == '\r')
    e--;
  return e;
}

size_t fields_split(const char *p, const char *end, const char **f, size_t *flen, size_t max)
{
  size_t n = 0;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if (p == end)
      return n;
    if (n == max)
      return max + 1;
    const char *s = p;
    while (p < end && *p != ' ' && *p != '\t')
      p++;
    f[n] = s;
    flen[n] = (size_t)(p - s);
    n++;
  }
}

/* mac_parse and inet_pton want C strings: copy into a buffer just large
 * enough for the longest valid form. */
bool fields_mac(const char *s, size_t n, struct mac_addr *out)
{
  char buf[18]; /* "xx:xx:xx:xx:xx:xx" */
  if (n >= sizeof(buf))
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return mac_parse(buf, out) == 0;
}

bool fields_ipv4(const char *s, size_t n, struct in_addr *out)
{
  char buf[INET_ADDRSTRLEN];
  if (n >= sizeof(buf))
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return inet_pton(AF_INET, buf, out) == 1;
}
