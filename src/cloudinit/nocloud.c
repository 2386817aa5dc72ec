#include "cloudinit/nocloud.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/util.h"

char *nocloud_meta_data(const char *instance_id, const char *hostname)
{
  char host[64];
  size_t n = 0;
  for (const char *p = hostname ? hostname : ""; *p && n < sizeof(host) - 1; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok)
      c = '-';
    if (c == '-' && n == 0)
      continue; /* a hostname cannot start with '-' */
    host[n++] = c;
  }
  while (n > 0 && host[n - 1] == '-')
    n--;
  host[n] = '\0';
  /* instance-id is quoted YAML: escape what a double-quoted scalar needs. */
  char id[128];
  size_t k = 0;
  for (const char *p = instance_id ? instance_id : ""; *p && k < sizeof(id) - 3; p++) {
    if (*p == '"' || *p == '\\')
      id[k++] = '\\';
    id[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
  }
  id[k] = '\0';
  return xasprintf("instance-id: \"%s\"\nlocal-hostname: %s\n", id, n ? host : "tart-vm");
}

static bool starts_with(const char *data, size_t len, const char *prefix)
{
  size_t n = strlen(prefix);
  return len >= n && memcmp(data, prefix, n) == 0;
}

int nocloud_user_data_known(const char *data, size_t len)
{
  static const char *const known[] = {"#cloud-config", "#!",
                                      "#include",      "## template: jinja",
                                      "Content-Type:", "#cloud-boothook",
                                      "#part-handler", "#cloud-config-archive"};
  if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b)
    return 1; /* gzip */
  for (size_t i = 0; i < ARRAY_SIZE(known); i++)
    if (starts_with(data, len, known[i]))
      return 1;
  return 0;
}

static int add_file(struct archive *a, const char *name, const char *data, size_t len, time_t now,
                    tart_error_t *err)
{
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t)len);
  archive_entry_set_mtime(e, now, 0);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK || (len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len))
    return tart_error_make(err, 0, "cannot write %s into the cloud-init seed: %s", name,
                           archive_error_string(a));
  return 0;
}

int nocloud_seed_write(const char *path, const struct nocloud_seed *s, tart_error_t *err)
{
  if (!nocloud_user_data_known(s->user_data, s->user_data_len))
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "the --cloud-init file is not user-data cloud-init reads: start it with "
                           "\"#cloud-config\" or \"#!\" (a script)");
  _cleanup_free_ char *tmp = xasprintf("%s.partial", path);
  unlink(tmp);
  struct archive *a = archive_write_new();
  if (a == NULL)
    return tart_error_make(err, ENOMEM, "cannot make the cloud-init seed");
  int ret = -1;
  /* Joliet and Rock Ridge (libarchive's defaults, set explicitly) keep the
   * names "user-data" and "meta-data" as they are; plain ISO 9660 level 1
   * would make them "USER_DAT". */
  if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "iso9660", "volume-id", NOCLOUD_LABEL) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
      archive_write_set_format_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
      archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
    tart_error_make(err, 0, "cannot make the cloud-init seed %s: %s", tmp, archive_error_string(a));
    goto out;
  }
  time_t now = time(NULL);
  if (add_file(a, "user-data", s->user_data, s->user_data_len, now, err) < 0 ||
      add_file(a, "meta-data", s->meta_data, s->meta_data_len, now, err) < 0 ||
      (s->network_config &&
       add_file(a, "network-config", s->network_config, s->network_config_len, now, err) < 0))
    goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    tart_error_make(err, 0, "cannot finish the cloud-init seed: %s", archive_error_string(a));
    goto out;
  }
  if (fsync_path(tmp, err) < 0)
    goto out;
  if (rename(tmp, path) < 0) {
    tart_error_make(err, errno, "cannot store %s", path);
    goto out;
  }
  ret = 0;
out:
  archive_write_free(a);
  if (ret < 0)
    unlink(tmp);
  return ret;
}
