#include "oci/layout.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/image.h"
#include "oci/manifest.h"
#include "oci/pull.h"
#include "storage/local.h"
#include "storage/name.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/util.h"
#include "vmconfig/config.h"

#define OCI_LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"
/* index.json and oci-layout are tiny; refuse anything else large there. */
#define SMALL_FILE_MAX (1u << 20)

static bool is_hex64(const char *s)
{
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return false;
  return n == 64;
}

int oci_layout_check_entry(const char *path, int is_dir, tart_error_t *err)
{
  char buf[256];
  const char *p = path;
  if (strncmp(p, "./", 2) == 0)
    p += 2;
  size_t n = strlen(p);
  /* "./" itself: the first entry of `tar -C layout -c .`. */
  if (n == 0 && is_dir && p != path)
    return 0;
  if (n == 0 || n >= sizeof(buf))
    return tart_error_kind(err, EINVAL, "archive entry \"%.80s\" is not part of a VM image", path);
  memcpy(buf, p, n + 1);
  if (is_dir && buf[n - 1] == '/')
    buf[--n] = '\0';
  if (buf[0] == '/' || strstr(buf, "..") != NULL)
    return tart_error_kind(err, EINVAL, "archive entry \"%.80s\" points outside the archive", path);
  if (is_dir) {
    if (!strcmp(buf, ".") || !strcmp(buf, "blobs") || !strcmp(buf, "blobs/sha256"))
      return 0;
  } else {
    if (!strcmp(buf, "oci-layout") || !strcmp(buf, "index.json"))
      return 0;
    if (!strncmp(buf, "blobs/sha256/", 13) && is_hex64(buf + 13))
      return 0;
  }
  return tart_error_kind(err, EINVAL, "archive entry \"%.80s\" is not part of a VM image", path);
}

/* ---- export ---- */

static int add_file(struct archive *a, const char *name, const char *path, tart_error_t *err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return tart_error_make(err, errno, "cannot read %s", path);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_size(e, st.st_size);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, st.st_mtime, 0);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return tart_error_make(err, 0, "cannot write the archive: %s", archive_error_string(a));
  static char buf[1 << 20];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return tart_error_make(err, errno, "cannot read %s", path);
    if (n == 0)
      break;
    if (archive_write_data(a, buf, (size_t)n) != n)
      return tart_error_make(err, 0, "cannot write the archive: %s", archive_error_string(a));
  }
  return 0;
}

static int add_dir(struct archive *a, const char *name, tart_error_t *err)
{
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return tart_error_make(err, 0, "cannot write the archive: %s", archive_error_string(a));
  return 0;
}

static int write_archive(const struct built_image *img, int fd, const char *tmp_path, tart_error_t *err)
{
  _cleanup_free_ char *layout = xasprintf("%s/oci-layout", img->dir);
  _cleanup_free_ char *index = xasprintf("%s/index.json", img->dir);
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  int ret = -1;
  if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
    tart_error_make(err, 0, "cannot create %s: %s", tmp_path, archive_error_string(a));
    goto out;
  }
  if (add_file(a, "oci-layout", layout, err) < 0 || add_file(a, "index.json", index, err) < 0 ||
      add_dir(a, "blobs/", err) < 0 || add_dir(a, "blobs/sha256/", err) < 0)
    goto out;
  /* Manifest first, then its blobs; identical chunks are stored once. */
  char(*seen)[DIGEST_STR_LEN] = xcalloc(img->n_blobs + 1, DIGEST_STR_LEN);
  size_t n_seen = 0;
  const char **all = xcalloc(img->n_blobs + 1, sizeof(*all));
  all[0] = img->manifest_digest;
  for (size_t i = 0; i < img->n_blobs; i++)
    all[i + 1] = img->blobs[i].digest;
  int r = 0;
  for (size_t i = 0; i < img->n_blobs + 1 && r == 0; i++) {
    bool dup = false;
    for (size_t k = 0; k < n_seen; k++)
      dup = dup || !strcmp(seen[k], all[i]);
    if (dup)
      continue;
    snprintf(seen[n_seen++], DIGEST_STR_LEN, "%s", all[i]);
    _cleanup_free_ char *path = image_blob_path(img->dir, all[i]);
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", all[i] + 7);
    r = add_file(a, name, path, err);
  }
  free(seen);
  free(all);
  if (r < 0)
    goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    tart_error_make(err, 0, "cannot write %s: %s", tmp_path, archive_error_string(a));
    goto out;
  }
  ret = 0;
out:
  archive_write_free(a);
  return ret;
}

/* Layout files around the built blobs, then the archive beside path,
 * renamed into place. */
static int write_export(const struct built_image *img, const char *dir, const char *path, tart_error_t *err)
{
  _cleanup_free_ char *manifest_path = image_blob_path(dir, img->manifest_digest);
  _cleanup_free_ char *layout_path = xasprintf("%s/oci-layout", dir);
  _cleanup_free_ char *index_path = xasprintf("%s/index.json", dir);
  json_t *index =
      json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "mediaType", OCI_MEDIA_INDEX,
                "manifests", "mediaType", OCI_MEDIA_MANIFEST, "digest", img->manifest_digest, "size",
                (json_int_t)img->manifest_len, "annotations", "org.opencontainers.image.ref.name", "latest");
  char *index_text = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(index);
  int r = write_file_atomic(manifest_path, img->manifest, img->manifest_len, 0644, err);
  if (r == 0)
    r = write_file_atomic(layout_path, OCI_LAYOUT_FILE, strlen(OCI_LAYOUT_FILE), 0644, err);
  if (r == 0)
    r = write_file_atomic(index_path, index_text, strlen(index_text), 0644, err);
  free(index_text);
  if (r < 0)
    return -1;

  /* Write beside the destination, then rename: a reader never sees half an
   * archive, and an old archive survives a failed export. */
  _cleanup_free_ char *copy = xstrdup(path);
  _cleanup_free_ char *base = xstrdup(basename(copy));
  _cleanup_free_ char *copy2 = xstrdup(path);
  _cleanup_free_ char *tmp_path = xasprintf("%s/.%s.partial", dirname(copy2), base);
  /* The partial file is locked while it is written: one left unlocked is
   * from an export that died (kill -9, a crash), and goes now. */
  _cleanup_close_ int fd = -1;
  for (int tries = 0; fd < 0; tries++) {
    fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0)
      break;
    if (errno != EEXIST || tries > 0)
      return tart_error_make(err, errno, "cannot create %s", tmp_path);
    _cleanup_close_ int old = open(tmp_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (old >= 0 && flock(old, LOCK_EX | LOCK_NB) < 0)
      return tart_error_make(err, 0, "another export is writing %s", path);
    unlink(tmp_path);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    unlink(tmp_path);
    return tart_error_make(err, errno, "cannot lock %s", tmp_path);
  }
  if (write_archive(img, fd, tmp_path, err) < 0 || fsync(fd) < 0) {
    if (err && !*err)
      tart_error_make(err, errno, "cannot sync %s", tmp_path);
    unlink(tmp_path);
    return -1;
  }
  if (rename(tmp_path, path) < 0) {
    int e = errno;
    unlink(tmp_path);
    return tart_error_make(err, e, "cannot write %s", path);
  }
  return 0;
}

int oci_export(struct tart_home *h, const char *name, const char *path, tart_error_t *err)
{
  _cleanup_free_ char *vm = NULL;
  bool remote = false;
  if (storage_open(h, name, &vm, &remote, err) < 0)
    return -1;
  _cleanup_close_ int lock_fd = -1;
  if (!remote && vm_dir_lock_reading(vm, name, &lock_fd, err) < 0)
    return -1;

  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  struct built_image img = {0};
  _cleanup_free_ char *disk = vm_dir_file(vm, VM_FILE_DISK);
  struct progress *prog = progress_new("compressing disk", file_apparent_bytes(disk));
  int r = image_build(vm, t.path, 4, NULL, NULL, NULL, prog, &img, err);
  progress_finish(prog);
  if (r == 0)
    r = write_export(&img, t.path, path, err);
  built_image_clear(&img);
  tmp_entry_discard(&t);
  return r;
}

/* ---- import ---- */

/* What the final pass extracts: the blobs the image's manifest names, each
 * with the size its descriptor declares (the manifest itself included). */
struct wanted_blob {
  const char *hex; /* 64 hex digits of its sha256 */
  uint64_t size;
};

struct extract_want {
  const struct wanted_blob *blobs;
  size_t n;
};

static const struct wanted_blob *find_wanted(const struct extract_want *w, const char *hex)
{
  for (size_t i = 0; i < w->n; i++)
    if (!strcmp(w->blobs[i].hex, hex))
      return &w->blobs[i];
  return NULL;
}

static struct archive *open_archive(const char *archive_path, tart_error_t *err)
{
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_all(a); /* a compressed .tvm.gz still works */
  if (archive_read_open_filename(a, archive_path, 1 << 20) != ARCHIVE_OK) {
    tart_error_make(err, 0, "cannot read %s: %s", archive_path, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  return a;
}

/* The entry's name relative to the layout, after the checks every pass
 * makes: a file or directory of an OCI layout, nothing else.  Returns 1
 * for a file, 0 for a directory, -1 on error. */
static int check_entry(struct archive_entry *e, const char **rel, tart_error_t *err)
{
  const char *name = archive_entry_pathname(e);
  mode_t type = archive_entry_filetype(e);
  if (name == NULL)
    name = "";
  if (type != AE_IFREG && type != AE_IFDIR)
    return tart_error_kind(
        err, EINVAL, "archive entry \"%.80s\" is a link or a device, which a VM image never holds", name);
  if (archive_entry_hardlink(e) != NULL || archive_entry_symlink(e) != NULL)
    return tart_error_kind(err, EINVAL, "archive entry \"%.80s\" is a link, which a VM image never holds",
                           name);
  if (oci_layout_check_entry(name, type == AE_IFDIR, err) < 0)
    return -1;
  *rel = strncmp(name, "./", 2) == 0 ? name + 2 : name;
  return type == AE_IFREG;
}

/* Read the current entry's data into memory, at most max bytes. */
static int read_entry(struct archive *a, const char *rel, size_t max, char **out, size_t *len,
                      tart_error_t *err)
{
  size_t cap = 0, n = 0;
  char *data = NULL;
  for (;;) {
    if (n == cap) {
      if (cap > max) {
        free(data);
        return tart_error_kind(err, EFBIG, "archive entry %s is too large", rel);
      }
      cap = cap ? cap * 2 : 65536;
      if (cap > max + 1)
        cap = max + 1;
      data = xrealloc(data, cap + 1);
    }
    la_ssize_t r = archive_read_data(a, data + n, cap - n);
    if (r < 0) {
      free(data);
      return tart_error_make(err, 0, "cannot read archive entry %s: %s", rel, archive_error_string(a));
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (n > max) {
    free(data);
    return tart_error_kind(err, EFBIG, "archive entry %s is too large", rel);
  }
  data[n] = '\0';
  *out = data;
  *len = n;
  return 0;
}

/* One reading pass for the plan: index.json, and the manifest blob once
 * index.json has named it (*manifest_hex).  Nothing is written. */
static int plan_pass(const char *archive_path, char **index_text, size_t *index_len, char *manifest_hex,
                     char **manifest_text, size_t *manifest_len, tart_error_t *err)
{
  struct archive *a = open_archive(archive_path, err);
  if (a == NULL)
    return -1;
  int ret = -1, r;
  struct archive_entry *e;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *rel = NULL;
    int file = check_entry(e, &rel, err);
    if (file < 0)
      goto out;
    if (file && *index_text == NULL && !strcmp(rel, "index.json")) {
      if (read_entry(a, rel, SMALL_FILE_MAX, index_text, index_len, err) < 0)
        goto out;
      struct oci_index idx;
      if (oci_index_parse(*index_text, *index_len, &idx, err) < 0)
        goto out;
      if (idx.n != 1) {
        tart_error_kind(err, EINVAL, "the archive holds %zu images, expected one", idx.n);
        oci_index_clear(&idx);
        goto out;
      }
      snprintf(manifest_hex, 65, "%s", idx.manifests[0].digest + 7);
      oci_index_clear(&idx);
    } else if (file && manifest_hex[0] && *manifest_text == NULL && !strncmp(rel, "blobs/sha256/", 13) &&
               !strcmp(rel + 13, manifest_hex)) {
      if (read_entry(a, rel, OCI_MANIFEST_MAX, manifest_text, manifest_len, err) < 0)
        goto out;
    }
    if (*index_text != NULL && *manifest_text != NULL)
      break; /* the plan is complete: the rest is for the final pass */
  }
  if (r != ARCHIVE_OK && r != ARCHIVE_EOF) {
    tart_error_make(err, 0, "cannot read %s: %s", archive_path, archive_error_string(a));
    goto out;
  }
  ret = 0;
out:
  archive_read_free(a);
  return ret;
}

/* Extract into dir the blobs w names (and oci-layout, index.json), each
 * checked against its declared size before a byte is written and hashed
 * on the way in; blobs the manifest does not name are skipped. */
static int extract(const char *archive_path, const char *dir, const struct extract_want *w, tart_error_t *err)
{
  struct archive *a = open_archive(archive_path, err);
  if (a == NULL)
    return -1;
  int ret = -1;
  uint8_t *buf = NULL;
  _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
  if (mkdir_p(blobs, 0755, err) < 0)
    goto out;
  buf = xmalloc(1 << 20);
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *rel = NULL;
    int file = check_entry(e, &rel, err);
    if (file < 0)
      goto out;
    if (!file)
      continue;
    bool is_blob = strncmp(rel, "blobs/", 6) == 0;
    uint64_t limit = SMALL_FILE_MAX;
    if (is_blob) {
      const struct wanted_blob *b = find_wanted(w, rel + 13);
      if (b == NULL) {
        log_debug("skipping %s: the image's manifest does not name it", rel);
        continue;
      }
      /* The tar header declares the size: a blob that is not what the
       * manifest says is refused before anything is written. */
      if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) != b->size) {
        tart_error_kind(err, EBADMSG, "blob sha256:%s in the archive has %lld bytes, its manifest says %llu",
                        rel + 13, (long long)archive_entry_size(e), (unsigned long long)b->size);
        goto out;
      }
      limit = b->size;
    } else if (archive_entry_size(e) > SMALL_FILE_MAX) {
      tart_error_kind(err, EFBIG, "archive entry %s is too large", rel);
      goto out;
    }
    _cleanup_free_ char *out_path = xasprintf("%s/%s", dir, rel);
    _cleanup_close_ int fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      tart_error_make(err, errno, errno == EEXIST ? "archive holds %s twice" : "cannot create %s", rel);
      goto out;
    }
    struct sha256 s;
    sha256_init(&s);
    la_ssize_t n;
    uint64_t total = 0;
    int wr = 0;
    while ((n = archive_read_data(a, buf, 1 << 20)) > 0) {
      total += (uint64_t)n;
      if (total > limit) {
        wr = tart_error_kind(err, EBADMSG, "archive entry %s is larger than %s", rel,
                             is_blob ? "its manifest says" : "allowed");
        break;
      }
      sha256_update(&s, buf, (size_t)n);
      for (la_ssize_t done = 0; done < n;) {
        ssize_t wn = write(fd, buf + done, (size_t)(n - done));
        if (wn < 0 && errno == EINTR)
          continue;
        if (wn <= 0) {
          wr = tart_error_make(err, wn < 0 ? errno : EIO, "cannot write %s", out_path);
          break;
        }
        done += wn;
      }
      if (wr < 0)
        break;
    }
    char dg[DIGEST_STR_LEN];
    sha256_final(&s, dg);
    sha256_free(&s);
    if (wr < 0)
      goto out;
    if (n < 0) {
      tart_error_make(err, 0, "cannot read %s: %s", archive_path, archive_error_string(a));
      goto out;
    }
    if (is_blob && strcmp(dg + 7, rel + 13) != 0) {
      tart_error_kind(err, EBADMSG,
                      "blob sha256:%s in the archive is corrupt: its content does not match its digest",
                      rel + 13);
      goto out;
    }
  }
  if (r != ARCHIVE_EOF) {
    tart_error_make(err, 0, "cannot read %s: %s", archive_path, archive_error_string(a));
    goto out;
  }
  ret = 0;
out:
  free(buf);
  archive_read_free(a);
  return ret;
}

/* The image's plan: index.json and its manifest, read without writing
 * (a second reading pass only when the manifest came before index.json),
 * then what the final pass may extract. */
static int plan_import(const char *archive_path, char **manifest_text, size_t *manifest_len,
                       struct oci_manifest *m, struct wanted_blob **want, size_t *n_want, char *manifest_hex,
                       tart_error_t *err)
{
  char *index_text = NULL;
  size_t index_len = 0;
  int ret = -1;
  manifest_hex[0] = '\0';
  for (int pass = 0; pass < 2 && *manifest_text == NULL; pass++)
    if (plan_pass(archive_path, &index_text, &index_len, manifest_hex, manifest_text, manifest_len, err) < 0)
      goto out;
  if (index_text == NULL) {
    tart_error_kind(err, EINVAL, "the archive has no index.json: it is not an OCI image layout");
    goto out;
  }
  if (*manifest_text == NULL) {
    tart_error_kind(err, ENOENT, "the archive lacks blob sha256:%s", manifest_hex);
    goto out;
  }
  if (oci_manifest_parse(*manifest_text, *manifest_len, m, err) < 0)
    goto out;
  *n_want = m->n_layers + 2;
  *want = xcalloc(*n_want, sizeof(**want));
  (*want)[0] = (struct wanted_blob){manifest_hex, *manifest_len};
  (*want)[1] = (struct wanted_blob){m->config.digest + 7, m->config.size};
  for (size_t i = 0; i < m->n_layers; i++)
    (*want)[i + 2] = (struct wanted_blob){m->layers[i].digest + 7, m->layers[i].size};
  ret = 0;
out:
  free(index_text);
  return ret;
}

static int read_blob(const char *dir, const struct oci_descriptor *d, size_t max, char **out, size_t *len,
                     tart_error_t *err)
{
  _cleanup_free_ char *p = image_blob_path(dir, d->digest);
  if (read_file(p, max, out, len, err) < 0)
    return tart_error_wrap(err, "the archive lacks blob %s", d->digest);
  if (*len != d->size) {
    free(*out);
    return tart_error_kind(err, EBADMSG, "blob %s has %zu bytes, not %llu", d->digest, *len,
                           (unsigned long long)d->size);
  }
  return 0;
}

int oci_import(struct tart_home *h, const char *path, const char *name, tart_error_t *err)
{
  if (strchr(name, '/') != NULL)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "<name> should be a local name");
  if (vm_name_validate_local(name, err) < 0)
    return -1;
  _cleanup_free_ char *dest = local_vm_path(h, name);
  if (path_exists(dest))
    return tart_error_kind(
        err, EEXIST, "cannot import as \"%s\": a VM with this name already exists (delete it first)", name);

  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  _cleanup_free_ char *layout = xasprintf("%s/layout", t.path);
  _cleanup_free_ char *vm = xasprintf("%s/vm", t.path);
  _cleanup_free_ char *cfg_path = vm_dir_file(vm, VM_FILE_CONFIG);
  _cleanup_free_ char *nvram_path = vm_dir_file(vm, VM_FILE_NVRAM);
  char *manifest_text = NULL, *cfg = NULL, *nvram = NULL;
  size_t manifest_len = 0, cfg_len = 0, nvram_len = 0;
  char manifest_hex[65];
  struct wanted_blob *want = NULL;
  size_t n_want = 0;
  struct oci_manifest m = {0};
  struct tart_layers layers = {0};
  int ret = -1;

  /* Plan first, write second: what is extracted is what the manifest
   * names, at the sizes it declares (docs/security.md, "Archives"). */
  if (plan_import(path, &manifest_text, &manifest_len, &m, &want, &n_want, manifest_hex, err) < 0 ||
      tart_layers_from_manifest(&m, &layers, err) < 0)
    goto out;
  struct extract_want w = {want, n_want};
  if (extract(path, layout, &w, err) < 0)
    goto out;
  if (mkdir_p(vm, 0755, err) < 0)
    goto out;
  struct vm_config parsed;
  if (read_blob(layout, layers.config, VMCONFIG_MAX_BYTES, &cfg, &cfg_len, err) < 0 ||
      vm_config_parse(cfg, cfg_len, &parsed, err) < 0)
    goto out;
  vm_config_clear(&parsed);
  if (write_file_atomic(cfg_path, cfg, cfg_len, 0644, err) < 0 ||
      read_blob(layout, layers.nvram, 64u << 20, &nvram, &nvram_len, err) < 0 ||
      write_file_atomic(nvram_path, nvram, nvram_len, 0644, err) < 0)
    goto out;
  if (oci_assemble_disk(layout, &layers, vm, 4, err) < 0)
    goto out;

  /* Under the global lock: a new MAC if a local VM has this one (docs/upstream.md, "Import and export"),
   * then the move. */
  if (tart_home_lock(h, err) < 0)
    goto out;
  if (local_vm_unique_mac(h, vm, NULL, MAC_IF_ANY_HAS_IT, err) < 0 || fsync_path(vm, err) < 0)
    goto unlock;
  if (rename_noreplace(vm, dest, err) < 0) {
    if ((*err)->errnum == EEXIST)
      tart_error_kind(err, EEXIST,
                      "cannot import as \"%s\": a VM with this name already exists (delete it first)", name);
    goto unlock;
  }
  ret = 0;
unlock:
  tart_home_unlock(h);
out:
  tart_layers_clear(&layers);
  oci_manifest_clear(&m);
  free(want);
  free(manifest_text);
  free(cfg);
  free(nvram);
  tmp_entry_discard(&t);
  return ret;
}
