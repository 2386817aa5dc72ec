#include "oci/push.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/image.h"
#include "oci/manifest.h"
#include "registry/reference.h"
#include "registry/client.h"
#include "registry/retry.h"
#include "storage/copy.h"
#include "storage/local.h"
#include "storage/oci_cache.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/report.h"
#include "util/util.h"

/* All targets of one repository share a registry client and one upload. */
struct group {
  struct oci_push_target t;
  struct registry *reg;
  bool done; /* lightweight push already handled it */
};

/* A blob that exists in another repository of a registry we push to. */
struct known_blob {
  char *host, *ns, *digest;
};

struct push_ctx {
  struct group *groups;
  size_t n_groups;
  struct known_blob *known;
  size_t n_known;
  const struct push_opts *o;
};

static ssize_t file_source(void *opaque, uint64_t offset, uint8_t *buf, size_t len, tart_error_t *err)
{
  int fd = *(int *)opaque;
  for (;;) {
    ssize_t r = pread(fd, buf, len, (off_t)offset);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return tart_error_make(err, errno, "cannot read a blob to upload"), -1;
    return r;
  }
}

static const char *mount_source(const struct push_ctx *p, const struct group *g, const char *digest)
{
  for (size_t i = 0; i < p->n_known; i++)
    if (!strcmp(p->known[i].digest, digest) && !strcmp(p->known[i].host, g->t.host) &&
        strcmp(p->known[i].ns, g->t.ns))
      return p->known[i].ns;
  return NULL;
}

/* Make sure the registry has the blob: HEAD, else mount, else upload. */
static int ensure_blob(const struct push_ctx *p, struct group *g, struct registry_conn *c, const char *digest,
                       uint64_t size, const char *path, tart_error_t *err)
{
  for (unsigned attempt = 0;; attempt++) {
    tart_error_t e = NULL;
    bool exists = false;
    int r = registry_blob_exists(c, digest, &exists, &e);
    if (r == 0 && exists) {
      log_debug("%s already in %s/%s", digest, g->t.host, g->t.ns);
      return 0;
    }
    if (r == 0) {
      const char *from = mount_source(p, g, digest);
      bool mounted = false;
      if (from != NULL && registry_blob_mount(c, digest, from, &mounted, &e) == 0 && mounted) {
        log_debug("%s mounted from %s", digest, from);
        return 0;
      }
      tart_error_release(&e);
      if (path == NULL)
        return tart_error_kind(err, ENOENT, "blob %s is missing from %s/%s", digest, g->t.host, g->t.ns);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return tart_error_make(err, errno, "cannot open %s", path);
      r = registry_blob_upload(c, digest, size, file_source, &fd, p->o->chunk_size, &e);
      close(fd);
      if (r == 0)
        return 0;
    }
    if (e->errnum != EAGAIN || attempt + 1 >= RETRY_MAX_ATTEMPTS) {
      *err = e;
      return -1;
    }
    log_info("retrying the upload of %s after: %s", digest, e->msg);
    tart_error_release(&e);
    retry_backoff(attempt, registry_conn_retry_after(c));
  }
}

static int on_chunk_ready(void *opaque, size_t index, const struct image_blob *b, const char *path,
                          tart_error_t *err)
{
  struct push_ctx *p = opaque;
  (void)index;
  for (size_t i = 0; i < p->n_groups; i++) {
    struct group *g = &p->groups[i];
    if (g->done)
      continue;
    struct registry_conn *c = registry_conn_new(g->reg);
    int r = ensure_blob(p, g, c, b->digest, b->size, path, err);
    registry_conn_free(c);
    if (r < 0)
      return -1;
  }
  return 0;
}

static int put_manifest(struct group *g, struct registry_conn *c, const char *body, size_t len,
                        tart_error_t *err)
{
  for (size_t t = 0; t < g->t.n_tags; t++) {
    for (unsigned attempt = 0;; attempt++) {
      tart_error_t e = NULL;
      if (registry_manifest_put(c, g->t.tags[t], OCI_MEDIA_MANIFEST, body, len, &e) == 0)
        break;
      if (e->errnum != EAGAIN || attempt + 1 >= RETRY_MAX_ATTEMPTS) {
        *err = e;
        return -1;
      }
      tart_error_release(&e);
      retry_backoff(attempt, registry_conn_retry_after(c));
    }
  }
  return 0;
}

/* Blobs of every complete cached image, to mount rather than upload. */
static void collect_known(struct tart_home *h, struct push_ctx *p)
{
  struct vm_list l;
  if (oci_cache_list(h, true, &l, NULL) < 0)
    return;
  for (size_t i = 0; i < l.n; i++) {
    const char *name = l.items[i].name, *at = strchr(name, '@'), *slash = strchr(name, '/');
    if (at == NULL || slash == NULL || slash > at)
      continue;
    _cleanup_free_ char *mpath = xasprintf("%s/%s", l.items[i].path, OCI_CACHE_MANIFEST);
    char *text = NULL;
    size_t len = 0;
    struct oci_manifest m;
    if (read_file(mpath, OCI_MANIFEST_MAX, &text, &len, NULL) < 0)
      continue;
    if (oci_manifest_parse(text, len, &m, NULL) == 0) {
      for (size_t k = 0; k <= m.n_layers; k++) {
        const struct oci_descriptor *d = k < m.n_layers ? &m.layers[k] : &m.config;
        p->known = xrealloc(p->known, (p->n_known + 1) * sizeof(*p->known));
        p->known[p->n_known++] = (struct known_blob){.host = strndup(name, (size_t)(slash - name)),
                                                     .ns = strndup(slash + 1, (size_t)(at - slash - 1)),
                                                     .digest = xstrdup(d->digest)};
      }
      oci_manifest_clear(&m);
    }
    free(text);
  }
  vm_list_clear(&l);
}

/* Re-tag a cached image: every blob must already be in the target
 * repository or mountable from another repository of the same registry. */
static int push_lightweight(struct push_ctx *p, struct group *g, const char *src_dir, tart_error_t *err)
{
  _cleanup_free_ char *mpath = xasprintf("%s/%s", src_dir, OCI_CACHE_MANIFEST);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  if (read_file(mpath, OCI_MANIFEST_MAX, &text, &len, NULL) < 0)
    return 1;
  struct oci_manifest m;
  if (oci_manifest_parse(text, len, &m, NULL) < 0)
    return 1;
  struct registry_conn *c = registry_conn_new(g->reg);
  int ret = 0;
  for (size_t k = 0; k <= m.n_layers && ret == 0; k++) {
    const struct oci_descriptor *d = k < m.n_layers ? &m.layers[k] : &m.config;
    tart_error_t e = NULL;
    if (ensure_blob(p, g, c, d->digest, d->size, NULL, &e) < 0) {
      if (e->errnum == ENOENT) {
        ret = 1; /* not possible: fall back to a full push */
        log_info("lightweight push not possible (%s); uploading everything", e->msg);
        tart_error_release(&e);
      } else {
        *err = e;
        ret = -1;
      }
    }
  }
  if (ret == 0)
    ret = put_manifest(g, c, text, len, err);
  registry_conn_free(c);
  oci_manifest_clear(&m);
  return ret;
}

static void report_group(const struct group *g, const char *source)
{
  _cleanup_free_ char *line = oci_push_status_line(source, &g->t);
  report(REPORT_STATUS, "%s", line);
}

/* --populate-cache: the pushed image, as if pulled. */
static int populate_cache(struct tart_home *h, const struct group *g, const char *src_dir,
                          const char *manifest, size_t len, const char *digest, tart_error_t *err)
{
  _cleanup_free_ char *ns_dir = oci_cache_ns_dir(h, g->t.host, g->t.ns);
  _cleanup_free_ char *dest = xasprintf("%s/%s", ns_dir, digest);
  if (mkdir_p(ns_dir, 0755, err) < 0)
    return -1;
  if (!vm_dir_initialized(dest)) {
    struct tmp_entry t;
    if (tmp_entry_create(h, &t, err) < 0)
      return -1;
    static const char *const files[] = {VM_FILE_CONFIG, VM_FILE_NVRAM, VM_FILE_DISK};
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(files) && r == 0; i++) {
      _cleanup_free_ char *from = vm_dir_file(src_dir, files[i]);
      _cleanup_free_ char *to = vm_dir_file(t.path, files[i]);
      r = copy_file_sparse(from, to, 0644, NULL, err);
    }
    _cleanup_free_ char *mpath = xasprintf("%s/%s", t.path, OCI_CACHE_MANIFEST);
    if (r == 0)
      r = write_file_atomic(mpath, manifest, len, 0644, err);
    if (r == 0 && rename_noreplace(t.path, dest, err) < 0 && !vm_dir_initialized(dest))
      r = -1;
    if (r < 0) {
      tmp_entry_discard(&t);
      return -1;
    }
    tart_error_release(err);
    tmp_entry_release(&t);
  }
  for (size_t i = 0; i < g->t.n_tags; i++) {
    if (!strncmp(g->t.tags[i], "sha256:", 7)) {
      _cleanup_free_ char *marker = xasprintf("%s/%s", dest, OCI_CACHE_EXPLICITLY_PULLED);
      if (write_file_atomic(marker, "", 0, 0644, err) < 0)
        return -1;
    } else if (oci_cache_link_tag(ns_dir, g->t.tags[i], dest, err) < 0) {
      return -1;
    }
  }
  return 0;
}

char *oci_push_status_line(const char *source, const struct oci_push_target *t)
{
  char *tags = xstrdup("");
  for (size_t i = 0; i < t->n_tags; i++) {
    char *more =
        xasprintf("%s%s%s%s", tags, i ? "," : "", strncmp(t->tags[i], "sha256:", 7) ? ":" : "@", t->tags[i]);
    free(tags);
    tags = more;
  }
  char *line = t->n_tags == 1 ? xasprintf("pushing %s to %s/%s%s...", source, t->host, t->ns, tags)
                              : xasprintf("pushing %s to %s/%s{%s}...", source, t->host, t->ns, tags);
  free(tags);
  return line;
}

int oci_push_group_targets(char *const *names, size_t n, struct oci_push_target **out, size_t *n_out,
                           tart_error_t *err)
{
  struct oci_push_target *groups = NULL;
  size_t n_groups = 0;
  for (size_t k = 0; k < n; k++) {
    struct oci_reference ref;
    if (oci_reference_parse(names[k], &ref, err) < 0) {
      oci_push_targets_free(groups, n_groups);
      *out = NULL;
      *n_out = 0;
      return -1;
    }
    struct oci_push_target *g = NULL;
    for (size_t i = 0; i < n_groups && g == NULL; i++)
      if (!strcmp(groups[i].host, ref.host) && !strcmp(groups[i].ns, ref.namespace))
        g = &groups[i];
    if (g == NULL) {
      groups = xrealloc(groups, (n_groups + 1) * sizeof(*groups));
      g = &groups[n_groups++];
      *g = (struct oci_push_target){.host = xstrdup(ref.host), .ns = xstrdup(ref.namespace)};
    }
    g->tags = xrealloc(g->tags, (g->n_tags + 1) * sizeof(char *));
    g->tags[g->n_tags++] = xstrdup(ref.digest ? ref.digest : ref.tag);
    oci_reference_clear(&ref);
  }
  *out = groups;
  *n_out = n_groups;
  return 0;
}

void oci_push_target_clear(struct oci_push_target *t)
{
  for (size_t k = 0; k < t->n_tags; k++)
    free(t->tags[k]);
  free(t->tags);
  free(t->host);
  free(t->ns);
  memset(t, 0, sizeof(*t));
}

void oci_push_targets_free(struct oci_push_target *t, size_t n)
{
  for (size_t i = 0; t && i < n; i++)
    oci_push_target_clear(&t[i]);
  free(t);
}

int oci_push(struct tart_home *h, const char *source, char *const *targets, size_t n_targets,
             const struct push_opts *o, tart_error_t *err)
{
  struct push_ctx p = {.o = o};
  int ret = -1;
  char *src_dir = NULL;
  bool remote = false;
  struct tmp_entry t = {.fd = -1};
  struct built_image img = {0};
  struct progress *prog = NULL;

  if (storage_open(h, source, &src_dir, &remote, err) < 0)
    return -1;
  /* A shared lock for as long as we read the disk: the VM cannot start
   * under us. */
  _cleanup_close_ int lock_fd = -1;
  if (!remote && vm_dir_lock_reading(src_dir, source, &lock_fd, err) < 0)
    goto out;
  {
    struct oci_push_target *tg = NULL;
    size_t n_tg = 0;
    if (oci_push_group_targets(targets, n_targets, &tg, &n_tg, err) < 0)
      goto out;
    p.groups = xcalloc(n_tg ? n_tg : 1, sizeof(*p.groups));
    for (size_t i = 0; i < n_tg; i++)
      p.groups[i].t = tg[i];
    p.n_groups = n_tg;
    free(tg); /* the groups own the members now */
  }
  for (size_t i = 0; i < p.n_groups; i++)
    if (registry_open(p.groups[i].t.host, p.groups[i].t.ns, o->insecure, true, h->root, &p.groups[i].reg,
                      err) < 0)
      goto out;
  collect_known(h, &p);

  bool all_done = true;
  for (size_t i = 0; i < p.n_groups; i++) {
    report_group(&p.groups[i], source);
    if (remote) {
      int r = push_lightweight(&p, &p.groups[i], src_dir, err);
      if (r < 0)
        goto out;
      p.groups[i].done = r == 0;
    }
    all_done = all_done && p.groups[i].done;
  }

  if (!all_done) {
    if (tmp_entry_create(h, &t, err) < 0)
      goto out;
    _cleanup_free_ char *disk = vm_dir_file(src_dir, VM_FILE_DISK);
    prog = progress_new("pushing disk", file_apparent_bytes(disk));
    if (image_build(src_dir, t.path, o->concurrency, o->labels, on_chunk_ready, &p, prog, &img, err) < 0)
      goto out;
    progress_finish(prog);
    prog = NULL;
    for (size_t i = 0; i < p.n_groups; i++) {
      struct group *g = &p.groups[i];
      if (g->done)
        continue;
      struct registry_conn *c = registry_conn_new(g->reg);
      int r = 0;
      /* Everything but the disk chunks, which on_chunk_ready sent. */
      for (size_t b = 0; b < img.n_blobs && r == 0; b++) {
        if (!strcmp(img.blobs[b].media_type, TART_MEDIA_DISK_V2))
          continue;
        _cleanup_free_ char *path = image_blob_path(img.dir, img.blobs[b].digest);
        r = ensure_blob(&p, g, c, img.blobs[b].digest, img.blobs[b].size, path, err);
      }
      if (r == 0)
        r = put_manifest(g, c, img.manifest, img.manifest_len, err);
      registry_conn_free(c);
      if (r < 0)
        goto out;
      if (o->populate_cache &&
          populate_cache(h, g, src_dir, img.manifest, img.manifest_len, img.manifest_digest, err) < 0)
        goto out;
    }
    report(REPORT_STATUS, "pushed %s", img.manifest_digest);
  }
  if (p.n_groups > 0 && (o->populate_cache || remote))
    oci_cache_gc(h, NULL);
  ret = 0;

out:
  if (prog)
    progress_finish(prog);
  built_image_clear(&img);
  if (t.path)
    tmp_entry_discard(&t);
  for (size_t i = 0; i < p.n_groups; i++) {
    oci_push_target_clear(&p.groups[i].t);
    registry_close(p.groups[i].reg);
  }
  free(p.groups);
  for (size_t i = 0; i < p.n_known; i++) {
    free(p.known[i].host);
    free(p.known[i].ns);
    free(p.known[i].digest);
  }
  free(p.known);
  free(src_dir);
  return ret;
}
