/* File-system helpers: atomic replacement, recursive create/remove, whole-file
 * reads, and the locks tart uses (flock for $TART_HOME and tmp entries, fcntl
 * record locks for the running state of a VM). */
#ifndef TART_UTIL_FS_H
#define TART_UTIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Create path and every missing parent with mode.  An existing directory is
 * fine; an existing non-directory is an error (ENOTDIR). */
int mkdir_p(const char *path, mode_t mode, tart_error_t *err);

/* Remove path recursively (like rm -rf).  A missing path is not an error.
 * Symbolic links are removed, never followed. */
int rm_rf(const char *path, tart_error_t *err);
/* Same, relative to a directory fd. */
int rm_rf_at(int dirfd, const char *name, tart_error_t *err);

/* Read a whole regular file of at most max bytes into a NUL-terminated buffer.
 * ENOENT is reported with errnum ENOENT so callers can tell "missing". */
int read_file(const char *path, size_t max, char **out, size_t *len, tart_error_t *err);

/* Replace path atomically with data: write a temporary file in the same
 * directory, fsync it, rename it over path, fsync the directory.  A crash at
 * any point leaves either the old or the new content. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, tart_error_t *err);

/* fsync the directory holding path (or path itself if it is a directory). */
int fsync_parent(const char *path, tart_error_t *err);
int fsync_path(const char *path, tart_error_t *err);

/* Rename old to new, failing with EEXIST if new exists (renameat2 NOREPLACE),
 * then fsync new's parent. */
int rename_noreplace(const char *oldpath, const char *newpath, tart_error_t *err);

/* flock(2) wrappers.  Return 0 when locked, 1 when `wait` is false and the
 * lock is held elsewhere, -1 on error. */
int lock_flock(int fd, bool exclusive, bool wait, tart_error_t *err);

/* fcntl(2) record locks over a whole file.  These are per process, so a
 * lock taken by `tart run` is visible to every other process and yields its
 * PID.  lock_record_try_write returns 0 when locked, 1 when held elsewhere. */
int lock_record_try_write(int fd, tart_error_t *err);
/* PID of the process holding a conflicting write lock on fd, or 0. */
pid_t lock_record_owner(int fd);

/* Allocated bytes (st_blocks * 512) and apparent size of a file; 0 when the
 * file is missing. */
unsigned long long file_allocated_bytes(const char *path);
unsigned long long file_apparent_bytes(const char *path);

bool path_exists(const char *path);
bool is_directory(const char *path);

#endif
