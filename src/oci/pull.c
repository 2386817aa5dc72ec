#include "oci/pull.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/lz4apple.h"
#include "oci/manifest.h"
#include "registry/client.h"
#include "registry/limits.h"
#include "registry/retry.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/oci_cache.h"
#include "storage/prune.h"
#include "storage/vmdir.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "util/report.h"
#include "util/util.h"
#include "vmconfig/config.h"

/* Decoded data is gathered into pieces of this size before the zero test
 * and the write: large enough for few syscalls, small enough per worker. */
#define WRITE_PIECE (4u << 20)
/* sha256 of 512 MiB of zeros: the digest of every empty chunk of a VM
 * disk.  Such a chunk is verified exactly as well by checking that it
 * decodes to zeros (equal content, equal digest), which costs a memcmp
 * instead of a sha256 pass over half a gigabyte. */
#define ZERO_CHUNK_SIZE   (512ULL << 20)
#define ZERO_CHUNK_DIGEST "sha256:9acca8e8c22201155389f65abbf6bc9723edc7384ead80503839f49dcc56d767"

/* Start write-back after this much data so the final fsync finds little
 * left to do. */
#define WRITEBACK_EVERY (64u << 20)

static bool transient(const tart_error_t e)
{
  return e != NULL && e->errnum == EAGAIN;
}

/* ---- small blobs (config, nvram) ---- */

struct mem_sink {
  char *data;
  size_t len, max;
};

static int mem_sink_fn(void *opaque, const uint8_t *data, size_t len, tart_error_t *err)
{
  struct mem_sink *m = opaque;
  if (m->len + len > m->max)
    return tart_error_kind(err, EFBIG, "blob is larger than announced");
  memcpy(m->data + m->len, data, len);
  m->len += len;
  return 0;
}

/* Fetch a whole blob of known size into memory, verified, with retries. */
static int fetch_small_blob(struct registry_conn *c, const struct oci_descriptor *d, size_t max, char **out,
                            tart_error_t *err)
{
  if (d->size > max)
    return tart_error_kind(err, EFBIG, "layer %s is %llu bytes, more than the %zu allowed", d->digest,
                           (unsigned long long)d->size, max);
  struct mem_sink m = {.data = xmalloc((size_t)d->size + 1), .max = (size_t)d->size};
  for (unsigned attempt = 0;; attempt++) {
    uint64_t got = 0;
    tart_error_t e = NULL;
    if (registry_blob_get(c, d->digest, m.len, mem_sink_fn, &m, &got, &e) == 0) {
      break;
    }
    if (e->errnum == ERANGE) {
      m.len = 0; /* no Range support: start over */
    } else if (!transient(e) || attempt + 1 >= RETRY_MAX_ATTEMPTS) {
      *err = e;
      free(m.data);
      return -1;
    }
    log_info("retrying %s after: %s", d->digest, e->msg);
    tart_error_release(&e);
    retry_backoff(attempt, registry_conn_retry_after(c));
  }
  char dg[DIGEST_STR_LEN];
  sha256_of(m.data, m.len, dg);
  if (m.len != d->size || strcmp(dg, d->digest) != 0) {
    free(m.data);
    return tart_error_kind(err, EBADMSG, "blob %s is corrupt: its content does not match its digest",
                           d->digest);
  }
  m.data[m.len] = '\0';
  *out = m.data;
  return 0;
}

/* ---- disk layers ---- */

struct local_layer {
  char *digest;  /* compressed */
  char *udigest; /* uncompressed */
  char *disk;    /* disk.img holding it */
  uint64_t offset, size;
};

struct pull_job {
  struct registry *reg;   /* blobs come from the registry... */
  const char *layout_dir; /* ...or from an OCI layout on disk (import) */
  const struct tart_layers *layers;
  int fd;
  bool resumed;
  struct local_layer *local;
  size_t n_local;
  struct progress *progress;
};

struct layer_state {
  struct pull_job *job;
  const struct tart_disk_layer *l;
  struct sha256 comp, uncomp;
  struct lz4a_decoder *dec;
  uint8_t *piece;
  size_t piece_len;
  uint64_t decoded;  /* bytes decoded so far */
  uint64_t flushed;  /* bytes of the layer written (or skipped) */
  uint64_t received; /* compressed bytes received */
  uint64_t since_writeback;
  bool zero_chunk; /* verified by zero-ness, see ZERO_CHUNK_DIGEST */
};

/* Write decoded bytes at the layer's current position, skipping zero
 * blocks, and queue write-back now and then so the final fsync finds
 * little left to do. */
static int write_decoded(struct layer_state *st, const uint8_t *data, size_t len, tart_error_t *err)
{
  off_t off = (off_t)(st->l->offset + st->flushed);
  if (pwrite_nonzero(st->job->fd, data, len, off, NULL, err) < 0)
    return tart_error_wrap(err, "cannot write the disk");
  st->flushed += len;
  st->since_writeback += len;
  if (st->since_writeback >= WRITEBACK_EVERY) {
    sync_file_range(st->job->fd, (off_t)(st->l->offset + st->flushed - st->since_writeback),
                    (off_t)st->since_writeback, SYNC_FILE_RANGE_WRITE);
    st->since_writeback = 0;
  }
  return 0;
}

static int flush_piece(struct layer_state *st, tart_error_t *err)
{
  if (st->piece_len == 0)
    return 0;
  if (write_decoded(st, st->piece, st->piece_len, err) < 0)
    return -1;
  st->piece_len = 0;
  return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int decoded_sink(void *opaque, const uint8_t *data, size_t len, tart_error_t *err)
{
  struct layer_state *st = opaque;
  if (st->decoded + len > st->l->uncompressed_size)
    return tart_error_kind(err, EBADMSG, "layer %s decompresses to more than its declared %llu bytes",
                           st->l->desc->digest, (unsigned long long)st->l->uncompressed_size);
  if (st->zero_chunk) {
    if (!all_zero(data, len))
      return tart_error_kind(err, EBADMSG, "layer %s is corrupt: its uncompressed content does not match %s",
                             st->l->desc->digest, st->l->uncompressed_digest);
    st->decoded += len;
    st->flushed += len; /* nothing to write: the range is a hole */
    return 0;
  }
  sha256_update(&st->uncomp, data, len);
  st->decoded += len;
  /* Large decoded blocks go straight to the file; only small ones are
   * gathered, to keep writes and zero tests coarse. */
  if (st->piece_len == 0 && len >= (1u << 20))
    return write_decoded(st, data, len, err);
  while (len > 0) {
    size_t k = WRITE_PIECE - st->piece_len;
    if (k > len)
      k = len;
    memcpy(st->piece + st->piece_len, data, k);
    st->piece_len += k;
    data += k;
    len -= k;
    if (st->piece_len == WRITE_PIECE && flush_piece(st, err) < 0)
      return -1;
  }
  return 0;
}

static int compressed_sink(void *opaque, const uint8_t *data, size_t len, tart_error_t *err)
{
  struct layer_state *st = opaque;
  if (st->received + len > st->l->desc->size)
    return tart_error_kind(err, EBADMSG, "blob %s is larger than its declared %llu bytes",
                           st->l->desc->digest, (unsigned long long)st->l->desc->size);
  sha256_update(&st->comp, data, len);
  st->received += len;
  progress_add(st->job->progress, len);
  return lz4a_decoder_feed(st->dec, data, len, decoded_sink, st, err);
}

/* Make [off, off+len) read as zeros again before rewriting it, since the
 * zero test skips writes. */
static int clear_range(int fd, uint64_t off, uint64_t len, tart_error_t *err)
{
  if (len == 0)
    return 0;
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
    return 0;
  if (errno != EOPNOTSUPP)
    return tart_error_make(err, errno, "cannot clear a range of the disk");
  /* No hole punching here: write zeros. */
  static const char zeros[1 << 16];
  for (uint64_t done = 0; done < len;) {
    size_t k = len - done < sizeof(zeros) ? (size_t)(len - done) : sizeof(zeros);
    ssize_t w = pwrite(fd, zeros, k, (off_t)(off + done));
    if (w <= 0)
      return tart_error_make(err, w < 0 ? errno : EIO, "cannot clear a range of the disk");
    done += (uint64_t)w;
  }
  return 0;
}

static void layer_reset(struct layer_state *st)
{
  lz4a_decoder_free(st->dec);
  st->dec = lz4a_decoder_new();
  char scratch[DIGEST_STR_LEN];
  sha256_final(&st->comp, scratch); /* final() also resets */
  sha256_final(&st->uncomp, scratch);
  st->piece_len = 0;
  st->decoded = st->flushed = st->received = st->since_writeback = 0;
}

/* Hash what is on disk for this layer; used to keep verified chunks of an
 * interrupted pull and to check chunks copied from the local cache. */
static int hash_range(int fd, uint64_t off, uint64_t len, char out[DIGEST_STR_LEN], tart_error_t *err)
{
  struct sha256 s;
  sha256_init(&s);
  uint8_t *buf = xmalloc(1 << 20);
  int ret = 0;
  for (uint64_t done = 0; done < len;) {
    size_t k = len - done < (1 << 20) ? (size_t)(len - done) : (1 << 20);
    ssize_t r = pread(fd, buf, k, (off_t)(off + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      ret = tart_error_make(err, r < 0 ? errno : EIO, "cannot read back the disk");
      break;
    }
    sha256_update(&s, buf, (size_t)r);
    done += (uint64_t)r;
  }
  free(buf);
  if (ret == 0)
    sha256_final(&s, out);
  sha256_free(&s);
  return ret;
}

/* 1 if [off, off+len) reads as zeros, 0 if not. */
static int range_is_zero(int fd, uint64_t off, uint64_t len, tart_error_t *err)
{
  uint8_t *buf = xmalloc(1 << 20);
  int ret = 1;
  for (uint64_t done = 0; done < len && ret == 1;) {
    /* Holes are zeros without reading them. */
    off_t data = lseek(fd, (off_t)(off + done), SEEK_DATA);
    if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= off + len))
      break;
    if (data >= 0)
      done = (uint64_t)data - off; /* else no SEEK_DATA here: read it all */
    size_t k = len - done < (1 << 20) ? (size_t)(len - done) : (1 << 20);
    ssize_t r = pread(fd, buf, k, (off_t)(off + done));
    if (r <= 0) {
      ret = r < 0 ? tart_error_make(err, errno, "cannot read back the disk") : 0;
      break;
    }
    if (!all_zero(buf, (size_t)r))
      ret = 0;
    done += (uint64_t)r;
  }
  free(buf);
  return ret;
}

/* Reuse an identical layer from another cached image (docs/upstream.md, "Pull"). */
static int copy_local_layer(struct pull_job *job, const struct tart_disk_layer *l,
                            const struct local_layer *src, tart_error_t *err)
{
  _cleanup_close_ int in = open(src->disk, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return tart_error_make(err, errno, "cannot open %s", src->disk);
  uint8_t *buf = xmalloc(WRITE_PIECE);
  struct sha256 s;
  sha256_init(&s);
  int ret = 0;
  for (uint64_t done = 0; done < l->uncompressed_size;) {
    uint64_t left = l->uncompressed_size - done;
    size_t k = left < WRITE_PIECE ? (size_t)left : WRITE_PIECE;
    ssize_t r = pread(in, buf, k, (off_t)(src->offset + done));
    if (r <= 0) {
      ret = tart_error_make(err, r < 0 ? errno : EIO, "cannot read %s", src->disk);
      break;
    }
    sha256_update(&s, buf, (size_t)r);
    if (pwrite_nonzero(job->fd, buf, (size_t)r, (off_t)(l->offset + done), NULL, err) < 0) {
      ret = -1;
      break;
    }
    done += (uint64_t)r;
  }
  free(buf);
  char dg[DIGEST_STR_LEN];
  if (ret == 0) {
    sha256_final(&s, dg);
    if (strcmp(dg, l->uncompressed_digest) != 0)
      ret =
          tart_error_kind(err, EBADMSG, "cached copy of %s in %s does not match", l->desc->digest, src->disk);
  }
  sha256_free(&s);
  return ret;
}

/* registry_blob_get's contract, for a blob stored in an OCI layout. */
static int layout_blob_get(const char *dir, const char *digest, uint64_t offset, registry_sink_fn sink,
                           void *opaque, tart_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tart_error_make(err, errno, "blob %s is missing", digest);
  uint8_t *buf = xmalloc(1 << 20);
  int ret = 0;
  for (;;) {
    ssize_t r = pread(fd, buf, 1 << 20, (off_t)offset);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      ret = tart_error_make(err, errno, "cannot read blob %s", digest);
      break;
    }
    if (r == 0)
      break;
    if (sink(opaque, buf, (size_t)r, err) < 0) {
      ret = -1;
      break;
    }
    offset += (uint64_t)r;
  }
  free(buf);
  return ret;
}

static int fetch_blob(struct pull_job *job, struct registry_conn *c, const char *digest, uint64_t offset,
                      registry_sink_fn sink, void *opaque, tart_error_t *err)
{
  if (job->layout_dir != NULL)
    return layout_blob_get(job->layout_dir, digest, offset, sink, opaque, err);
  return registry_blob_get(c, digest, offset, sink, opaque, NULL, err);
}

static int download_layer(struct pull_job *job, struct registry_conn *c, const struct tart_disk_layer *l,
                          tart_error_t *err)
{
  struct layer_state st = {.job = job, .l = l};
  st.zero_chunk =
      l->uncompressed_size == ZERO_CHUNK_SIZE && !strcmp(l->uncompressed_digest, ZERO_CHUNK_DIGEST);
  sha256_init(&st.comp);
  sha256_init(&st.uncomp);
  st.dec = lz4a_decoder_new();
  st.piece = xmalloc(WRITE_PIECE);
  int ret = -1;

  for (unsigned attempt = 0;; attempt++) {
    tart_error_t e = NULL;
    if (fetch_blob(job, c, l->desc->digest, st.received, compressed_sink, &st, &e) == 0)
      break;
    if (e->errnum == ERANGE) {
      /* The registry cannot resume: throw away this layer's partial data. */
      progress_add(job->progress, 0);
      layer_reset(&st);
      if (clear_range(job->fd, l->offset, l->uncompressed_size, err) < 0) {
        tart_error_release(&e);
        goto out;
      }
    } else if (!transient(e) || attempt + 1 >= RETRY_MAX_ATTEMPTS) {
      *err = e;
      if (transient(e))
        tart_error_wrap(err, "giving up on %s after %u attempts", l->desc->digest, attempt + 1);
      else if (e->errnum == 0 || e->errnum == EBADMSG)
        tart_error_wrap(err, "blob %s is corrupt", l->desc->digest); /* the stream itself is bad */
      goto out;
    }
    log_info("retrying %s from byte %llu after: %s", l->desc->digest, (unsigned long long)st.received,
             e->msg);
    tart_error_release(&e);
    retry_backoff(attempt, registry_conn_retry_after(c));
  }

  char dg[DIGEST_STR_LEN];
  sha256_final(&st.comp, dg);
  if (st.received != l->desc->size || strcmp(dg, l->desc->digest) != 0) {
    tart_error_kind(err, EBADMSG, "blob %s is corrupt: its content does not match its digest",
                    l->desc->digest);
    goto out;
  }
  if (lz4a_decoder_finish(st.dec, err) < 0 || flush_piece(&st, err) < 0)
    goto out;
  if (st.zero_chunk)
    snprintf(dg, sizeof(dg), "%s", ZERO_CHUNK_DIGEST); /* checked byte by byte while decoding */
  else
    sha256_final(&st.uncomp, dg);
  if (st.decoded != l->uncompressed_size || strcmp(dg, l->uncompressed_digest) != 0) {
    tart_error_kind(err, EBADMSG, "layer %s is corrupt: its uncompressed content does not match %s",
                    l->desc->digest, l->uncompressed_digest);
    goto out;
  }
  ret = 0;
out:
  sha256_free(&st.comp);
  sha256_free(&st.uncomp);
  lz4a_decoder_free(st.dec);
  free(st.piece);
  return ret;
}

static const struct local_layer *find_local(const struct pull_job *job, const struct tart_disk_layer *l)
{
  for (size_t i = 0; i < job->n_local; i++)
    if (!strcmp(job->local[i].digest, l->desc->digest) &&
        !strcmp(job->local[i].udigest, l->uncompressed_digest) && job->local[i].size == l->uncompressed_size)
      return &job->local[i];
  return NULL;
}

static int pull_layer(struct pull_job *job, struct registry_conn *c, size_t i, tart_error_t *err)
{
  const struct tart_disk_layer *l = &job->layers->disks[i];
  if (job->resumed) {
    char dg[DIGEST_STR_LEN];
    bool zero_chunk =
        l->uncompressed_size == ZERO_CHUNK_SIZE && !strcmp(l->uncompressed_digest, ZERO_CHUNK_DIGEST);
    if (zero_chunk) {
      int z = range_is_zero(job->fd, l->offset, l->uncompressed_size, err);
      if (z < 0)
        return -1;
      snprintf(dg, sizeof(dg), "%s", z ? ZERO_CHUNK_DIGEST : "different");
    } else if (hash_range(job->fd, l->offset, l->uncompressed_size, dg, err) < 0) {
      return -1;
    }
    if (!strcmp(dg, l->uncompressed_digest)) {
      log_debug("layer %zu (%s) already on disk", i, l->desc->digest);
      progress_add(job->progress, l->desc->size);
      return 0;
    }
    if (clear_range(job->fd, l->offset, l->uncompressed_size, err) < 0)
      return -1;
  }
  const struct local_layer *src = find_local(job, l);
  if (src != NULL) {
    tart_error_t e = NULL;
    if (copy_local_layer(job, l, src, &e) == 0) {
      log_debug("layer %zu (%s) reused from %s", i, l->desc->digest, src->disk);
      progress_add(job->progress, l->desc->size);
      return 0;
    }
    log_warn("cannot reuse a cached layer, downloading it: %s", e->msg);
    tart_error_release(&e);
    if (clear_range(job->fd, l->offset, l->uncompressed_size, err) < 0)
      return -1;
  }
  return download_layer(job, c, l, err);
}

static void *pull_thread_init(void *ctx)
{
  struct pull_job *job = ctx;
  return job->reg ? registry_conn_new(job->reg) : NULL;
}

static void pull_thread_fini(void *ctx, void *conn)
{
  (void)ctx;
  registry_conn_free(conn);
}

static int pull_item(void *ctx, void *conn, size_t i, tart_error_t *err)
{
  return pull_layer(ctx, conn, i, err);
}

/* Layers of every complete cached image, for reuse. */
static void collect_local_layers(struct tart_home *h, struct pull_job *job)
{
  struct vm_list l;
  if (oci_cache_list(h, true, &l, NULL) < 0)
    return;
  for (size_t i = 0; i < l.n; i++) {
    if (strchr(l.items[i].name, '@') == NULL)
      continue; /* tags point at digest entries listed anyway */
    _cleanup_free_ char *mpath = xasprintf("%s/%s", l.items[i].path, OCI_CACHE_MANIFEST);
    char *text = NULL;
    size_t len = 0;
    if (read_file(mpath, OCI_MANIFEST_MAX, &text, &len, NULL) < 0)
      continue;
    struct oci_manifest m;
    struct tart_layers tl;
    if (oci_manifest_parse(text, len, &m, NULL) == 0) {
      if (tart_layers_from_manifest(&m, &tl, NULL) == 0) {
        for (size_t k = 0; k < tl.n_disks; k++) {
          job->local = xrealloc(job->local, (job->n_local + 1) * sizeof(*job->local));
          struct local_layer *ll = &job->local[job->n_local++];
          ll->digest = xstrdup(tl.disks[k].desc->digest);
          ll->udigest = xstrdup(tl.disks[k].uncompressed_digest);
          ll->disk = xasprintf("%s/%s", l.items[i].path, VM_FILE_DISK);
          ll->offset = tl.disks[k].offset;
          ll->size = tl.disks[k].uncompressed_size;
        }
        tart_layers_clear(&tl);
      }
      oci_manifest_clear(&m);
    }
    free(text);
  }
  vm_list_clear(&l);
}

static int pull_disk(struct tart_home *h, struct registry *reg, const char *layout_dir,
                     const struct tart_layers *layers, const char *dir, unsigned concurrency,
                     tart_error_t *err)
{
  _cleanup_free_ char *disk = xasprintf("%s/%s", dir, VM_FILE_DISK);
  bool resumed = access(disk, F_OK) == 0;
  _cleanup_close_ int fd = open(disk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create %s", disk);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return tart_error_make(err, errno, "cannot stat %s", disk);
  if ((uint64_t)st.st_size != layers->disk_size && ftruncate(fd, (off_t)layers->disk_size) < 0)
    return tart_error_make(err, errno, "cannot size %s", disk);

  uint64_t compressed = 0;
  for (size_t i = 0; i < layers->n_disks; i++)
    compressed += layers->disks[i].desc->size;
  char csize[32];
  format_bytes(compressed, csize, sizeof(csize));
  if (reg != NULL)
    report(REPORT_STATUS, "pulling disk (%s compressed)...", csize);
  if (resumed)
    report(REPORT_STATUS, "resuming an interrupted pull: keeping the chunks already on disk");

  struct pull_job job = {
      .reg = reg, .layout_dir = layout_dir, .layers = layers, .fd = fd, .resumed = resumed};
  if (reg != NULL)
    collect_local_layers(h, &job);
  job.progress = progress_new(reg ? "pulling disk" : "unpacking disk", compressed);
  static const struct parallel_ops ops = {pull_thread_init, pull_thread_fini, pull_item};
  int r = parallel_for(layers->n_disks, concurrency, &ops, &job, err);

  for (size_t i = 0; i < job.n_local; i++) {
    free(job.local[i].digest);
    free(job.local[i].udigest);
    free(job.local[i].disk);
  }
  free(job.local);
  progress_finish(job.progress);
  if (r < 0)
    return -1;
  if (fsync(fd) < 0)
    return tart_error_make(err, errno, "cannot sync %s", disk);
  return 0;
}

/* ---- manifest ---- */

/* The manifest ref names, through at most OCI_INDEX_DEPTH_MAX indexes
 * (depth: the indexes followed so far); size: what the index entry that
 * named it declared, or 0 for the user's reference. */
static int fetch_manifest(struct registry_conn *c, const struct oci_reference *ref, unsigned depth,
                          uint64_t size, char **body, size_t *len, char digest[DIGEST_STR_LEN],
                          tart_error_t *err)
{
  const char *what = ref->digest ? ref->digest : ref->tag;
  char *text = NULL;
  size_t n = 0;
  for (unsigned attempt = 0;; attempt++) {
    tart_error_t e = NULL;
    if (registry_manifest_get(c, what, &text, &n, NULL, &e) == 0)
      break;
    if (!transient(e) || attempt + 1 >= RETRY_MAX_ATTEMPTS) {
      *err = e;
      return -1;
    }
    log_info("retrying the manifest after: %s", e->msg);
    tart_error_release(&e);
    retry_backoff(attempt, registry_conn_retry_after(c));
  }
  sha256_of(text, n, digest);
  if (ref->digest && strcmp(digest, ref->digest) != 0) {
    free(text);
    return tart_error_kind(err, EBADMSG,
                           "the registry sent a manifest whose digest is %s, not the requested %s", digest,
                           ref->digest);
  }
  if (size != 0 && n != size) {
    free(text);
    return tart_error_kind(err, EBADMSG, "the registry sent manifest %s of %zu bytes, its index says %llu",
                           ref->digest, n, (unsigned long long)size);
  }
  if (oci_doc_kind(text, n) == OCI_DOC_INDEX) {
    if (depth >= OCI_INDEX_DEPTH_MAX) {
      free(text);
      return tart_error_kind(err, ELOOP, "image %s: more than %d nested indexes", what, OCI_INDEX_DEPTH_MAX);
    }
    /* A multi-platform image: take the manifest for this host. */
    struct oci_index idx;
    if (oci_index_parse(text, n, &idx, err) < 0) {
      free(text);
      return -1;
    }
    const char *arch = vm_arch_name(vm_arch_host());
    const struct oci_descriptor *d = oci_index_find(&idx, "linux", arch);
    if (d == NULL)
      d = oci_index_find(&idx, "darwin", arch);
    /* No manifest for this host: a Linux guest of the other architecture
     * still runs, emulated (the notice comes with its config). */
    for (int a = 0; d == NULL && a < 2; a++) {
      const char *other = vm_arch_name(a == 0 ? VM_ARCH_ARM64 : VM_ARCH_AMD64);
      if (strcmp(other, arch) != 0)
        d = oci_index_find(&idx, "linux", other);
    }
    if (d == NULL) {
      oci_index_clear(&idx);
      free(text);
      return tart_error_kind(err, ENOENT, "image %s has no manifest for %s", what, arch);
    }
    struct oci_reference sub = {.host = ref->host, .namespace = ref->namespace, .digest = d->digest};
    free(text);
    int r = fetch_manifest(c, &sub, depth + 1, d->size, body, len, digest, err);
    oci_index_clear(&idx);
    return r;
  }
  *body = text;
  *len = n;
  return 0;
}

static int write_blob_file(const char *dir, const char *file, const char *data, size_t len, tart_error_t *err)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
  _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create %s", p);
  for (size_t done = 0; done < len;) {
    ssize_t w = write(fd, data + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return tart_error_make(err, w < 0 ? errno : EIO, "cannot write %s", p);
    done += (size_t)w;
  }
  if (fsync(fd) < 0)
    return tart_error_make(err, errno, "cannot sync %s", p);
  return 0;
}

/* The tag's current digest directory (real path), or NULL. */
static char *tag_target(const char *ns_dir, const char *tag)
{
  _cleanup_free_ char *link = xasprintf("%s/%s", ns_dir, tag);
  return realpath(link, NULL);
}

int oci_pull(struct tart_home *h, const struct oci_reference *ref, const char *name,
             const struct pull_opts *o, char **dir_out, tart_error_t *err)
{
  int ret = -1;
  struct registry *reg = NULL;
  struct registry_conn *c = NULL;
  char *manifest = NULL;
  size_t manifest_len = 0;
  struct oci_manifest m = {0};
  struct tart_layers layers = {0};
  struct tmp_entry t = {.fd = -1};
  int host_lock = -1;
  char *host_dir = NULL, *ns_dir = NULL, *digest_dir = NULL;
  char digest[DIGEST_STR_LEN];

  report(REPORT_STATUS, "pulling %s...", name);
  if (registry_open(ref->host, ref->namespace, o->insecure, false, h->root, &reg, err) < 0)
    return -1;
  c = registry_conn_new(reg);

  report(REPORT_STATUS, "pulling manifest...");
  if (fetch_manifest(c, ref, 0, 0, &manifest, &manifest_len, digest, err) < 0)
    goto out;
  if (oci_manifest_parse(manifest, manifest_len, &m, err) < 0 ||
      tart_layers_from_manifest(&m, &layers, err) < 0)
    goto out;

  host_dir = oci_cache_host_dir(h, ref->host);
  ns_dir = oci_cache_ns_dir(h, ref->host, ref->namespace);
  digest_dir = xasprintf("%s/%s", ns_dir, digest);
  if (mkdir_p(ns_dir, 0755, err) < 0)
    goto out;

  {
    _cleanup_free_ char *current = ref->tag ? tag_target(ns_dir, ref->tag) : NULL;
    _cleanup_free_ char *real_digest_dir = realpath(digest_dir, NULL);
    if (vm_dir_initialized(digest_dir) &&
        (ref->digest || (current && real_digest_dir && !strcmp(current, real_digest_dir)))) {
      struct oci_reference pinned = {.host = ref->host, .namespace = ref->namespace, .digest = digest};
      _cleanup_free_ char *pinned_name = oci_reference_format(&pinned);
      report(REPORT_STATUS, "%s image is already cached and linked!", pinned_name);
      if (ref->digest)
        goto mark;
      ret = vm_dir_touch(digest_dir, err);
      goto done;
    }
  }

  /* One pull per host at a time: upstream's rule, and it keeps two pulls of
   * one image from racing for the same tmp entry. */
  host_lock = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (host_lock < 0) {
    tart_error_make(err, errno, "cannot open %s", host_dir);
    goto out;
  }
  if (lock_flock(host_lock, true, false, err) == 1) {
    report(REPORT_STATUS, "waiting for lock...");
    if (lock_flock(host_lock, true, true, err) < 0)
      goto out;
  } else if (err && *err) {
    goto out;
  }

  if (!vm_dir_initialized(digest_dir)) {
    char md5[33];
    _cleanup_free_ char *display = oci_reference_format(ref);
    md5_hex_of(display, md5);
    if (tmp_entry_open_named(h, md5, &t, err) < 0)
      goto out;

    /* The old target of the tag goes first when space is pruned. */
    if (ref->tag) {
      _cleanup_free_ char *old = tag_target(ns_dir, ref->tag);
      if (old) {
        const struct timespec times[2] = {{.tv_sec = 0, .tv_nsec = 0}, {.tv_nsec = UTIME_OMIT}};
        utimensat(AT_FDCWD, old, times, 0);
      }
    }

    /* Then make room (docs/upstream.md, "Pruning"): the disk plus some slack. */
    const char *ann = m.annotations
                          ? json_string_value(json_object_get(m.annotations, TART_ANN_UNCOMPRESSED_DISK_SIZE))
                          : NULL;
    uint64_t need = 0;
    /* Never more than the layers will write: the annotation is the
     * registry's word, and pruning deletes other images for it before
     * anything of this one is verified. */
    if (ann != NULL && parse_u64(ann, 0, UINT64_MAX - (128u << 20), &need, "disk size", NULL) == 0 &&
        prune_auto(h, (need < layers.disk_size ? need : layers.disk_size) + (128u << 20), NULL, err) < 0)
      goto out;

    _cleanup_free_ char *cfg = NULL, *nvram = NULL;
    if (fetch_small_blob(c, layers.config, VMCONFIG_MAX_BYTES, &cfg, err) < 0)
      goto out;
    struct vm_config parsed;
    if (vm_config_parse(cfg, layers.config->size, &parsed, err) < 0) {
      tart_error_wrap(err, "the image's VM config");
      goto out;
    }
    if (parsed.os == VM_OS_LINUX && parsed.arch != vm_arch_host())
      report(REPORT_NOTICE,
             "%s is an %s image: on this %s host it runs under TCG emulation, several times slower than "
             "native",
             name, vm_arch_name(parsed.arch), vm_arch_name(vm_arch_host()));
    vm_config_clear(&parsed);
    if (write_blob_file(t.path, VM_FILE_CONFIG, cfg, layers.config->size, err) < 0)
      goto out;

    if (pull_disk(h, reg, NULL, &layers, t.path, o->concurrency, err) < 0)
      goto out;

    report(REPORT_STATUS, "pulling NVRAM...");
    if (fetch_small_blob(c, layers.nvram, 64u << 20, &nvram, err) < 0 ||
        write_blob_file(t.path, VM_FILE_NVRAM, nvram, layers.nvram->size, err) < 0 ||
        write_blob_file(t.path, OCI_CACHE_MANIFEST, manifest, manifest_len, err) < 0 ||
        fsync_path(t.path, err) < 0)
      goto out;

    if (rename_noreplace(t.path, digest_dir, err) < 0) {
      if (!vm_dir_initialized(digest_dir))
        goto out;
      tart_error_release(err); /* someone else completed it meanwhile */
      tmp_entry_discard(&t);
    } else {
      tmp_entry_release(&t);
    }
  }

mark:
  if (ref->digest) {
    _cleanup_free_ char *marker = xasprintf("%s/%s", digest_dir, OCI_CACHE_EXPLICITLY_PULLED);
    if (write_file_atomic(marker, "", 0, 0644, err) < 0)
      goto out;
  } else {
    if (oci_cache_link_tag(ns_dir, ref->tag, digest_dir, err) < 0)
      goto out;
    if (oci_cache_gc(h, err) < 0)
      goto out;
  }
  if (vm_dir_touch(digest_dir, err) < 0)
    goto out;
  ret = 0;

done:
  if (ret == 0 && dir_out)
    *dir_out = xstrdup(digest_dir);
out:
  if (t.path != NULL)
    tmp_entry_release(&t); /* keep it: a rerun resumes from it */
  if (host_lock >= 0)
    close(host_lock);
  tart_layers_clear(&layers);
  oci_manifest_clear(&m);
  free(manifest);
  free(host_dir);
  free(ns_dir);
  free(digest_dir);
  registry_conn_free(c);
  registry_close(reg);
  return ret;
}

int oci_assemble_disk(const char *layout_dir, const struct tart_layers *layers, const char *vm_dir,
                      unsigned concurrency, tart_error_t *err)
{
  return pull_disk(NULL, NULL, layout_dir, layers, vm_dir, concurrency, err);
}
