#include "oci/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/lz4apple.h"
#include "storage/vmdir.h"
#include "util/format.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "util/util.h"
#include "vmconfig/config.h"

/* Compressed output is gathered before each write. */
#define OUT_BUFFER (4u << 20)

char *image_blob_path(const char *dir, const char *digest)
{
  const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
  return xasprintf("%s/blobs/sha256/%s", dir, hex);
}

static int write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Store a small in-memory blob under its digest. */
static int put_blob(const char *dir, const void *data, size_t len, const char *media_type,
                    struct image_blob *b, tart_error_t *err)
{
  sha256_of(data, len, b->digest);
  b->size = len;
  b->media_type = media_type;
  _cleanup_free_ char *path = image_blob_path(dir, b->digest);
  return write_file_atomic(path, data, len, 0644, err);
}

struct build_job {
  const char *dir;
  int disk_fd;
  uint64_t disk_size;
  size_t n_chunks;
  struct image_blob *chunks;
  char (*udigests)[DIGEST_STR_LEN];
  uint64_t *usizes;
  image_blob_ready_fn on_ready;
  void *opaque;
  struct progress *progress;
};

/* The encoding of an all-zero block is the same every time: make it once
 * per worker and reuse it, since VM disks are mostly zeros. */
struct zero_block {
  uint8_t *enc;
  size_t enc_len;
};

static bool all_zero(const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int compress_chunk(struct build_job *job, size_t i, uint8_t *in, uint8_t *out, size_t out_cap,
                          struct zero_block *zb, tart_error_t *err)
{
  uint64_t start = (uint64_t)i * TART_CHUNK_SIZE;
  uint64_t len = job->disk_size - start < TART_CHUNK_SIZE ? job->disk_size - start : TART_CHUNK_SIZE;
  char suffix[37];
  uuid_random(suffix);
  _cleanup_free_ char *tmp = xasprintf("%s/blobs/sha256/.chunk-%zu-%s", job->dir, i, suffix);
  _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create %s", tmp);

  struct sha256 comp, uncomp;
  sha256_init(&comp);
  sha256_init(&uncomp);
  size_t pending = 0;
  uint64_t csize = 0;
  int ret = 0;
  for (uint64_t done = 0; done < len && ret == 0;) {
    size_t k = len - done < LZ4A_ENCODE_BLOCK ? (size_t)(len - done) : LZ4A_ENCODE_BLOCK;
    ssize_t r = pread(job->disk_fd, in, k, (off_t)(start + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r != (ssize_t)k) {
      ret = tart_error_make(err, r < 0 ? errno : EIO, "cannot read the disk at offset %llu",
                            (unsigned long long)(start + done));
      break;
    }
    sha256_update(&uncomp, in, k);
    if (pending + lz4a_block_bound(k) > out_cap) {
      if (write_all(fd, out, pending) < 0) {
        ret = tart_error_make(err, errno, "cannot write %s", tmp);
        break;
      }
      pending = 0;
    }
    size_t w = 0;
    if (k == LZ4A_ENCODE_BLOCK && all_zero(in, k)) {
      if (zb->enc == NULL) {
        zb->enc = xmalloc(lz4a_block_bound(k));
        if (lz4a_encode_block(in, k, zb->enc, lz4a_block_bound(k), &zb->enc_len, err) < 0) {
          ret = -1;
          break;
        }
      }
      memcpy(out + pending, zb->enc, zb->enc_len);
      w = zb->enc_len;
    } else if (lz4a_encode_block(in, k, out + pending, out_cap - pending, &w, err) < 0) {
      ret = -1;
      break;
    }
    sha256_update(&comp, out + pending, w);
    pending += w;
    csize += w;
    done += k;
    progress_add(job->progress, k);
  }
  if (ret == 0) {
    uint8_t end[4];
    size_t e = lz4a_encode_end(end);
    memcpy(out + pending, end, e);
    sha256_update(&comp, end, e);
    pending += e;
    csize += e;
    if (write_all(fd, out, pending) < 0)
      ret = tart_error_make(err, errno, "cannot write %s", tmp);
  }
  struct image_blob *b = &job->chunks[i];
  if (ret == 0) {
    sha256_final(&comp, b->digest);
    sha256_final(&uncomp, job->udigests[i]);
    b->size = csize;
    b->media_type = TART_MEDIA_DISK_V2;
    job->usizes[i] = len;
    _cleanup_free_ char *path = image_blob_path(job->dir, b->digest);
    /* Identical chunks (zeros) share a digest: the rename just replaces
     * equal bytes. */
    if (rename(tmp, path) < 0)
      ret = tart_error_make(err, errno, "cannot store %s", path);
    else if (job->on_ready != NULL)
      ret = job->on_ready(job->opaque, i, b, path, err);
  }
  if (ret < 0)
    unlink(tmp);
  sha256_free(&comp);
  sha256_free(&uncomp);
  return ret;
}

/* Per-thread buffers for compress_chunk. */
struct build_buffers {
  uint8_t *in, *out;
  size_t out_cap;
  struct zero_block zb;
};

static void *build_thread_init(void *ctx)
{
  (void)ctx;
  struct build_buffers *b = xcalloc(1, sizeof(*b));
  b->in = xmalloc(LZ4A_ENCODE_BLOCK);
  b->out_cap = OUT_BUFFER + lz4a_block_bound(LZ4A_ENCODE_BLOCK) + 4;
  b->out = xmalloc(b->out_cap);
  return b;
}

static void build_thread_fini(void *ctx, void *state)
{
  (void)ctx;
  struct build_buffers *b = state;
  free(b->zb.enc);
  free(b->in);
  free(b->out);
  free(b);
}

static int build_item(void *ctx, void *state, size_t i, tart_error_t *err)
{
  struct build_buffers *b = state;
  return compress_chunk(ctx, i, b->in, b->out, b->out_cap, &b->zb, err);
}

static json_t *size_annotations(uint64_t usize, const char *udigest)
{
  char s[32];
  snprintf(s, sizeof(s), "%llu", (unsigned long long)usize);
  json_t *a = json_object();
  json_object_set_new(a, TART_ANN_UNCOMPRESSED_SIZE, json_string(s));
  json_object_set_new(a, TART_ANN_UNCOMPRESSED_DIGEST, json_string(udigest));
  return a;
}

static void descriptor_from_blob(struct oci_descriptor *d, const struct image_blob *b, json_t *annotations)
{
  memset(d, 0, sizeof(*d));
  d->media_type = xstrdup(b->media_type);
  d->digest = xstrdup(b->digest);
  d->size = b->size;
  d->annotations = annotations;
}

int image_build(const char *vm_dir, const char *dir, unsigned concurrency, json_t *labels,
                image_blob_ready_fn on_ready, void *opaque, struct progress *progress,
                struct built_image *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->dir = xstrdup(dir);
  _cleanup_free_ char *blobs_dir = xasprintf("%s/blobs/sha256", dir);
  if (mkdir_p(blobs_dir, 0755, err) < 0)
    return -1;

  /* The VM config, compact, as upstream encodes it for the registry. */
  struct vm_config cfg;
  if (vm_dir_config(vm_dir, &cfg, err) < 0)
    return -1;
  char *cfg_json = json_dumps(cfg.doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  char os[16], arch[16], disk_format[16];
  snprintf(os, sizeof(os), "%s", vm_os_name(cfg.os));
  snprintf(arch, sizeof(arch), "%s", vm_arch_name(cfg.arch));
  snprintf(disk_format, sizeof(disk_format), "%s", cfg.disk_format);
  vm_config_clear(&cfg);

  _cleanup_free_ char *disk_path = vm_dir_file(vm_dir, VM_FILE_DISK);
  _cleanup_close_ int disk_fd = open(disk_path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (disk_fd < 0 || fstat(disk_fd, &st) < 0) {
    free(cfg_json);
    return tart_error_make(err, errno, "cannot open %s", disk_path);
  }
  out->disk_size = (uint64_t)st.st_size;
  size_t n_chunks = (size_t)((out->disk_size + TART_CHUNK_SIZE - 1) / TART_CHUNK_SIZE);
  if (n_chunks == 0)
    n_chunks = 1; /* an empty disk is still one (empty) layer */

  /* blobs: [0] image config, [1] config layer, [2..] disks, [last] nvram */
  out->n_blobs = n_chunks + 3;
  out->blobs = xcalloc(out->n_blobs, sizeof(*out->blobs));
  struct image_blob *config_layer = &out->blobs[1], *nvram = &out->blobs[out->n_blobs - 1];

  int ret = put_blob(dir, cfg_json, strlen(cfg_json), TART_MEDIA_CONFIG, config_layer, err);
  free(cfg_json);
  if (ret < 0)
    return -1;

  struct build_job job = {.dir = dir,
                          .disk_fd = disk_fd,
                          .disk_size = out->disk_size,
                          .n_chunks = n_chunks,
                          .chunks = &out->blobs[2],
                          .udigests = xcalloc(n_chunks, DIGEST_STR_LEN),
                          .usizes = xcalloc(n_chunks, sizeof(uint64_t)),
                          .on_ready = on_ready,
                          .opaque = opaque,
                          .progress = progress};
  static const struct parallel_ops ops = {build_thread_init, build_thread_fini, build_item};
  if (parallel_for(n_chunks, concurrency, &ops, &job, err) < 0) {
    free(job.udigests);
    free(job.usizes);
    return -1;
  }

  /* NVRAM, then the image config. */
  _cleanup_free_ char *nvram_path = vm_dir_file(vm_dir, VM_FILE_NVRAM);
  char *nv = NULL;
  size_t nv_len = 0;
  ret = read_file(nvram_path, 64u << 20, &nv, &nv_len, err);
  if (ret == 0)
    ret = put_blob(dir, nv, nv_len, TART_MEDIA_NVRAM, nvram, err);
  free(nv);
  if (ret < 0) {
    free(job.udigests);
    free(job.usizes);
    return -1;
  }

  json_t *all_labels = labels ? json_deep_copy(labels) : json_object();
  json_object_set_new(all_labels, TART_LABEL_DISK_FORMAT, json_string(disk_format));
  char *image_config = oci_image_config_dump(os, arch, all_labels);
  json_decref(all_labels);
  ret = put_blob(dir, image_config, strlen(image_config), OCI_MEDIA_IMAGE_CONFIG, &out->blobs[0], err);
  free(image_config);
  if (ret < 0) {
    free(job.udigests);
    free(job.usizes);
    return -1;
  }

  /* The manifest. */
  struct oci_manifest m = {0};
  m.media_type = xstrdup(OCI_MEDIA_MANIFEST);
  descriptor_from_blob(&m.config, &out->blobs[0], NULL);
  m.n_layers = n_chunks + 2;
  m.layers = xcalloc(m.n_layers, sizeof(*m.layers));
  descriptor_from_blob(&m.layers[0], config_layer, json_object());
  for (size_t i = 0; i < n_chunks; i++)
    descriptor_from_blob(&m.layers[1 + i], &job.chunks[i], size_annotations(job.usizes[i], job.udigests[i]));
  descriptor_from_blob(&m.layers[n_chunks + 1], nvram, json_object());
  char size_s[32], when[32];
  snprintf(size_s, sizeof(size_s), "%llu", (unsigned long long)out->disk_size);
  format_iso8601(time(NULL), when, sizeof(when));
  m.annotations = json_object();
  json_object_set_new(m.annotations, TART_ANN_UNCOMPRESSED_DISK_SIZE, json_string(size_s));
  json_object_set_new(m.annotations, TART_ANN_UPLOAD_TIME, json_string(when));
  out->manifest = oci_manifest_dump(&m);
  out->manifest_len = strlen(out->manifest);
  sha256_of(out->manifest, out->manifest_len, out->manifest_digest);
  oci_manifest_clear(&m);
  free(job.udigests);
  free(job.usizes);
  return 0;
}

void built_image_clear(struct built_image *img)
{
  free(img->dir);
  free(img->manifest);
  free(img->blobs);
  memset(img, 0, sizeof(*img));
}
