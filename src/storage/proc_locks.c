#include "storage/proc_locks.h"

#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/util.h"

/* Next whitespace-separated field in [*p, end); NULL when none. */
static const char *field(const char **p, const char *end, size_t *flen)
{
  const char *s = *p;
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  if (s >= end)
    return NULL;
  const char *e = s;
  while (e < end && *e != ' ' && *e != '\t')
    e++;
  *flen = (size_t)(e - s);
  *p = e;
  return s;
}

static bool field_is(const char *f, size_t len, const char *word)
{
  return f != NULL && len == strlen(word) && memcmp(f, word, len) == 0;
}

/* "maj:min:inode" with hex device numbers and a decimal inode. */
static bool parse_dev_inode(const char *f, size_t len, uint64_t *ino)
{
  const char *c1 = memchr(f, ':', len);
  if (c1 == NULL)
    return false;
  const char *c2 = memchr(c1 + 1, ':', (size_t)(f + len - c1 - 1));
  if (c2 == NULL || c2 + 1 >= f + len)
    return false;
  uint64_t v = 0;
  for (const char *p = c2 + 1; p < f + len; p++) {
    if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *ino = v;
  return true;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

void lock_index_parse(const char *text, size_t len, struct lock_index *out)
{
  memset(out, 0, sizeof(*out));
  out->valid = true;
  size_t cap = 0;
  const char *end = text + len;
  for (const char *line = text; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    const char *lend = nl ? nl : end;
    const char *p = line;
    size_t fl = 0;
    const char *f = field(&p, lend, &fl); /* "N:" */
    f = field(&p, lend, &fl);             /* kind, or "->" for a waiter */
    if (field_is(f, fl, "POSIX")) {
      field(&p, lend, &fl); /* ADVISORY / MANDATORY */
      field(&p, lend, &fl); /* READ / WRITE */
      field(&p, lend, &fl); /* pid */
      const char *dev = field(&p, lend, &fl);
      uint64_t ino;
      if (dev != NULL && parse_dev_inode(dev, fl, &ino)) {
        if (out->n == cap) {
          cap = cap ? cap * 2 : 16;
          out->inodes = xrealloc(out->inodes, cap * sizeof(*out->inodes));
        }
        out->inodes[out->n++] = ino;
      }
    }
    line = nl ? nl + 1 : end;
  }
  if (out->n > 1)
    qsort(out->inodes, out->n, sizeof(*out->inodes), cmp_u64);
}

void lock_index_load(struct lock_index *out)
{
  char *text = NULL;
  size_t len = 0;
  if (read_file("/proc/locks", 64 * 1024 * 1024, &text, &len, NULL) < 0) {
    memset(out, 0, sizeof(*out));
    return;
  }
  lock_index_parse(text, len, out);
  free(text);
}

bool lock_index_maybe_locked(const struct lock_index *idx, uint64_t ino)
{
  if (!idx->valid)
    return true;
  return idx->n > 0 && bsearch(&ino, idx->inodes, idx->n, sizeof(ino), cmp_u64) != NULL;
}

void lock_index_clear(struct lock_index *idx)
{
  free(idx->inodes);
  memset(idx, 0, sizeof(*idx));
}
