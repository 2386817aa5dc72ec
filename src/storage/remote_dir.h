/* `tart run --dir URL`: a directory shared from a .tar.gz on a web server
 * (docs/upstream.md, "Directory shares").  The archive is downloaded into a URL cache, revalidated
 * on later runs, and unpacked into a fresh tmp/ entry that the VM shares;
 * the copy is removed when the run ends (tmp/ GC collects it after a crash).
 *
 *   $TART_HOME/cache/URLs/<sha256 of the URL>.tar.gz   the archive
 *   $TART_HOME/cache/URLs/<sha256 of the URL>.json     {"url", "etag", "last_modified"}
 *
 * A cached archive is revalidated with If-None-Match / If-Modified-Since
 * (304: kept).  When the server cannot be reached, the cached copy is used
 * with a warning.  A download that is not a readable tar archive is an
 * error and leaves the cached copy alone.  The cache is kept under
 * REMOTE_DIR_CACHE_MAX bytes by removing the least recently used archives
 * (never the one in use), and the partial files of interrupted downloads
 * (their pid gone). */
#ifndef TART_STORAGE_REMOTE_DIR_H
#define TART_STORAGE_REMOTE_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/home.h"
#include "util/error.h"

#define REMOTE_DIR_CACHE     "URLs" /* under $TART_HOME/cache */
#define REMOTE_DIR_CACHE_MAX (1024ULL * 1024 * 1024)
/* Unpacking stops before it would leave less than this free. */
#define REMOTE_DIR_SPACE_RESERVE (256ULL * 1024 * 1024)

/* Is path an http:// or https:// URL (case-insensitive scheme)? */
bool remote_dir_is_url(const char *path);

/* The cached archive of url, downloaded or revalidated now: *archive gets
 * its path (malloc'ed).  Errors name the URL and the HTTP status or curl's
 * reason. */
int remote_dir_fetch(struct tart_home *h, const char *url, char **archive, tart_error_t *err);

/* Unpack the (gzip, bzip2, xz, zstd or plain) tar archive at `archive` into
 * the existing empty directory `dest`.  Entries are confined to dest:
 * absolute names, ".." components and paths through symlinks are refused
 * (the whole extraction fails: a hostile archive is not half-trusted);
 * device nodes and FIFOs are refused; so is a file that would leave less
 * than REMOTE_DIR_SPACE_RESERVE free.  Owners are not restored; modes are,
 * without setuid/setgid and with u+rwx on directories (so the copy can be
 * removed); entries naming dest itself ("./") are skipped.  Decompressors
 * are libarchive's own, never external programs.  Returns the number of
 * entries unpacked, or -1. */
long remote_dir_extract(const char *archive, const char *dest, tart_error_t *err);

/* Keep cache/URLs under max_bytes: remove the least recently used
 * archives (and their .json) except `keep`, and *.<pid>.partial files
 * whose process is gone.  Errors are ignored. */
void remote_dir_cache_trim(const char *cache_dir, uint64_t max_bytes, const char *keep);

#endif
