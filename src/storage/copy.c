#include "storage/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* Large copy_file_range calls keep the syscall count low on multi-GiB disks
 * while staying well below the kernel's per-call limit (MAX_RW_COUNT). */
#define RANGE_CHUNK (1LL << 30)
#define RW_BUFFER   (1 << 20)
/* Granularity of the zero test: the usual file-system block, so a block that
 * is all zeros in src stays a hole in dst. */
#define ZERO_BLOCK 4096

struct copy_state {
  int src;
  int dst;
  enum copy_method method;
  bool range_worked; /* a copy_file_range call has succeeded */
  unsigned long long bytes;
  char *buf; /* read/write buffer, allocated on first use */
};

/* Errors that mean "this mechanism is not available here", as opposed to a
 * failure of the copy itself. */
static bool is_unsupported(int e)
{
  return e == EOPNOTSUPP || e == ENOTTY || e == EXDEV || e == EINVAL || e == ENOSYS;
}

static bool all_zero(const char *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off, unsigned long long *written,
                      tart_error_t *err)
{
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return tart_error_make(err, w < 0 ? errno : EIO, "cannot write at offset %lld", (long long)off);
    p += w;
    n -= (size_t)w;
    off += w;
    if (written)
      *written += (unsigned long long)w;
  }
  return 0;
}

int pwrite_nonzero(int fd, const void *buf, size_t n, off_t off, unsigned long long *written,
                   tart_error_t *err)
{
  const char *p = buf;
  size_t run = 0, len = 0; /* pending run of non-zero blocks: p[run, run+len) */
  for (size_t i = 0; i < n; i += ZERO_BLOCK) {
    size_t blk = n - i < ZERO_BLOCK ? n - i : ZERO_BLOCK;
    if (!all_zero(p + i, blk)) {
      if (len == 0)
        run = i;
      len += blk;
      continue;
    }
    if (len > 0 && pwrite_all(fd, p + run, len, off + (off_t)run, written, err) < 0)
      return -1;
    len = 0;
  }
  if (len > 0 && pwrite_all(fd, p + run, len, off + (off_t)run, written, err) < 0)
    return -1;
  return 0;
}

/* Copy [off, end) through a buffer, writing only the runs of non-zero blocks:
 * dst was already extended to its full size, so skipped blocks read back as
 * zeros and take no space. */
static int copy_read_write(struct copy_state *s, off_t off, off_t end, tart_error_t *err)
{
  if (s->buf == NULL)
    s->buf = xmalloc(RW_BUFFER);
  while (off < end) {
    size_t want = end - off < RW_BUFFER ? (size_t)(end - off) : RW_BUFFER;
    ssize_t n = pread(s->src, s->buf, want, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return tart_error_make(err, errno, "cannot read at offset %lld", (long long)off);
    if (n == 0)
      return tart_error_make(err, 0, "source file shrank while copying (at offset %lld)", (long long)off);
    if (pwrite_nonzero(s->dst, s->buf, (size_t)n, off, &s->bytes, err) < 0)
      return -1;
    off += n;
  }
  return 0;
}

/* Copy the data extent [off, end) with copy_file_range, dropping to
 * read/write for good if the kernel or file system cannot do it. */
static int copy_extent(struct copy_state *s, off_t off, off_t end, tart_error_t *err)
{
  if (s->method == COPY_METHOD_NONE)
    s->method = COPY_METHOD_RANGE;
  while (off < end && s->method == COPY_METHOD_RANGE) {
    loff_t in = off, out = off;
    size_t want = end - off < RANGE_CHUNK ? (size_t)(end - off) : (size_t)RANGE_CHUNK;
    ssize_t n = copy_file_range(s->src, &in, s->dst, &out, want, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && !s->range_worked && is_unsupported(errno)) {
      s->method = COPY_METHOD_READ_WRITE;
      break;
    }
    if (n < 0)
      return tart_error_make(err, errno, "cannot transfer data at offset %lld", (long long)off);
    if (n == 0)
      return tart_error_make(err, 0, "source file shrank while copying (at offset %lld)", (long long)off);
    s->range_worked = true;
    s->bytes += (unsigned long long)n;
    off += n;
  }
  return off < end ? copy_read_write(s, off, end, err) : 0;
}

static int copy_extents(struct copy_state *s, off_t size, tart_error_t *err)
{
  off_t pos = 0;
  while (pos < size) {
    off_t data = lseek(s->src, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO)
      return 0; /* only a hole is left, and ftruncate made it already */
    if (data < 0 && errno == EINVAL && pos == 0) {
      /* No SEEK_DATA here: one big extent, holes recovered from zeros. */
      s->method = COPY_METHOD_READ_WRITE;
      return copy_read_write(s, 0, size, err);
    }
    if (data < 0)
      return tart_error_make(err, errno, "cannot find data at offset %lld", (long long)pos);
    if (data >= size)
      return 0;
    off_t hole = lseek(s->src, data, SEEK_HOLE);
    if (hole < 0)
      return tart_error_make(err, errno, "cannot find hole at offset %lld", (long long)data);
    /* A file growing under us is copied as of the size we saw. */
    if (hole > size)
      hole = size;
    if (copy_extent(s, data, hole, err) < 0)
      return -1;
    pos = hole;
  }
  return 0;
}

int copy_fd_sparse(int src_fd, int dst_fd, struct copy_stats *stats, tart_error_t *err)
{
  struct copy_state s = {.src = src_fd, .dst = dst_fd, .method = COPY_METHOD_NONE};
  struct stat st;
  if (fstat(src_fd, &st) < 0)
    return tart_error_make(err, errno, "cannot stat source");

  if (ioctl(dst_fd, FICLONE, src_fd) == 0) {
    s.method = COPY_METHOD_REFLINK;
  } else {
    if (!is_unsupported(errno))
      return tart_error_make(err, errno, "cannot clone extents");
    /* Sized first, every range never written stays a hole. */
    if (ftruncate(dst_fd, st.st_size) < 0)
      return tart_error_make(err, errno, "cannot set size to %lld", (long long)st.st_size);
    int r = copy_extents(&s, st.st_size, err);
    free(s.buf);
    if (r < 0)
      return -1;
  }

  /* With delayed allocation, write-back errors (ENOSPC too) may only show
   * up here. */
  if (fsync(dst_fd) < 0)
    return tart_error_make(err, errno, "cannot sync copy");
  if (stats != NULL)
    *stats = (struct copy_stats){.method = s.method, .bytes_copied = s.bytes};
  return 0;
}

int copy_file_sparse(const char *src, const char *dst, mode_t mode, struct copy_stats *stats,
                     tart_error_t *err)
{
  /* O_NONBLOCK so that a FIFO given as src is rejected below instead of
   * blocking the open; it is cleared before any data is read. */
  _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (in < 0)
    return tart_error_make(err, errno, "cannot open %s", src);
  struct stat st;
  if (fstat(in, &st) < 0)
    return tart_error_make(err, errno, "cannot stat %s", src);
  if (S_ISDIR(st.st_mode))
    return tart_error_make(err, EISDIR, "cannot copy %s", src);
  if (!S_ISREG(st.st_mode))
    return tart_error_make(err, 0, "cannot copy %s: not a regular file", src);
  if (fcntl(in, F_SETFL, 0) < 0)
    return tart_error_make(err, errno, "cannot set flags of %s", src);

  _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
  if (out < 0)
    return tart_error_make(err, errno, "cannot create %s", dst);

  if (copy_fd_sparse(in, out, stats, err) < 0) {
    /* dst is ours (O_EXCL): a partial copy must not look like a VM disk. */
    unlink(dst);
    return tart_error_wrap(err, "cannot copy %s to %s", src, dst);
  }
  return 0;
}

const char *copy_method_name(enum copy_method m)
{
  switch (m) {
  case COPY_METHOD_REFLINK:
    return "reflink";
  case COPY_METHOD_RANGE:
    return "copy_file_range";
  case COPY_METHOD_READ_WRITE:
    return "read/write";
  case COPY_METHOD_NONE:
    break;
  }
  return "none";
}
