/* Copying VM files without paying for their holes.
 *
 * VM disks are large sparse files.  A clone must cost only the data, never
 * the holes: ioctl(FICLONE) where the file system shares extents (btrfs,
 * xfs), otherwise copy_file_range(2) over the data extents found with
 * SEEK_DATA/SEEK_HOLE, otherwise read/write that skips all-zero blocks. */
#ifndef TART_STORAGE_COPY_H
#define TART_STORAGE_COPY_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

enum copy_method {
  COPY_METHOD_NONE = 0,
  COPY_METHOD_REFLINK,    /* FICLONE: shared extents, constant time */
  COPY_METHOD_RANGE,      /* copy_file_range over data extents */
  COPY_METHOD_READ_WRITE, /* userspace copy, zero blocks skipped */
};

struct copy_stats {
  enum copy_method method;
  unsigned long long bytes_copied; /* data bytes moved (0 for a reflink) */
};

/* Copy the regular file src to dst.  dst must not exist (it is created with
 * O_EXCL and `mode`).  The result has src's apparent size, holes where src
 * has holes, and is fsync'ed before returning.  On any failure (ENOSPC
 * included) dst is removed and src is untouched.  stats may be NULL. */
int copy_file_sparse(const char *src, const char *dst, mode_t mode, struct copy_stats *stats,
                     tart_error_t *err);

/* Same, between open file descriptors: src_fd open for reading, dst_fd an
 * empty file open for writing.  Does not remove anything on failure. */
int copy_fd_sparse(int src_fd, int dst_fd, struct copy_stats *stats, tart_error_t *err);

const char *copy_method_name(enum copy_method m);

/* Write len bytes of buf at off, skipping every 4 KiB block that is all
 * zeros: the file must already read as zeros there (a hole left by
 * ftruncate or a punched range).  *written (may be NULL) is increased by
 * the bytes actually written. */
int pwrite_nonzero(int fd, const void *buf, size_t len, off_t off, unsigned long long *written,
                   tart_error_t *err);

#endif
