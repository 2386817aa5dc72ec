#include "storage/local.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/name.h"
#include "storage/vmdir.h"
#include "util/fs.h"
#include "util/util.h"
#include "vmconfig/config.h"

void vm_list_clear(struct vm_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->items[i].name);
    free(l->items[i].path);
  }
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

void vm_list_add(struct vm_list *l, char *name, char *path)
{
  /* Grow by powers of two: n is a power of two exactly when full. */
  if ((l->n & (l->n - 1)) == 0)
    l->items = xrealloc(l->items, (l->n ? l->n * 2 : 8) * sizeof(*l->items));
  l->items[l->n].name = name;
  l->items[l->n].path = path;
  l->n++;
}

static int cmp_entry(const void *a, const void *b)
{
  return strcmp(((const struct vm_entry *)a)->name, ((const struct vm_entry *)b)->name);
}

void vm_list_sort(struct vm_list *l)
{
  if (l->n > 1)
    qsort(l->items, l->n, sizeof(*l->items), cmp_entry);
}

char *local_vm_path(struct tart_home *h, const char *name)
{
  return xasprintf("%s/%s", h->vms, name);
}

int local_vm_list(struct tart_home *h, bool only_initialized, struct vm_list *out, tart_error_t *err)
{
  out->items = NULL;
  out->n = 0;
  DIR *d = opendir(h->vms);
  if (d == NULL) {
    if (errno == ENOENT)
      return 0;
    return tart_error_make(err, errno, "cannot read %s", h->vms);
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
      continue;
    char *path = local_vm_path(h, de->d_name);
    if (only_initialized && !vm_dir_initialized(path)) {
      free(path);
      continue;
    }
    vm_list_add(out, xstrdup(de->d_name), path);
  }
  closedir(d);
  vm_list_sort(out);
  return 0;
}

bool local_vm_exists(struct tart_home *h, const char *name)
{
  _cleanup_free_ char *p = local_vm_path(h, name);
  return vm_dir_initialized(p);
}

static int missing(const char *name, tart_error_t *err)
{
  _cleanup_free_ char *q = vm_name_quote(name);
  return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "the specified VM \"%s\" does not exist", q);
}

int local_vm_open(struct tart_home *h, const char *name, char **path, tart_error_t *err)
{
  /* A name that could not be a directory of vms/ names no VM. */
  if (*name == '\0' || strchr(name, '/') != NULL || !strcmp(name, ".") || !strcmp(name, "..") ||
      strlen(name) > VM_NAME_MAX)
    return missing(name, err);
  _cleanup_free_ char *p = local_vm_path(h, name);
  if (vm_dir_validate(p, name, err) < 0)
    return -1;
  if (vm_dir_touch(p, err) < 0)
    return -1;
  *path = TAKE_PTR(p);
  return 0;
}

int local_vm_delete(struct tart_home *h, const char *name, tart_error_t *err)
{
  if (*name == '\0' || strchr(name, '/') != NULL || !strcmp(name, ".") || !strcmp(name, "..") ||
      strlen(name) > VM_NAME_MAX)
    return missing(name, err);
  _cleanup_free_ char *path = local_vm_path(h, name);
  if (!is_directory(path))
    return missing(name, err);

  /* Hold the run lock while deleting: a running VM is refused, and no run
   * can start on a directory that is going away.  A VM without config.json
   * (broken) cannot be running and is deleted as is. */
  _cleanup_close_ int lock_fd = -1;
  _cleanup_free_ char *cfg = vm_dir_file(path, VM_FILE_CONFIG);
  if (access(cfg, F_OK) == 0 && vm_dir_lock_running(path, name, &lock_fd, err) < 0) {
    if ((*err)->exit_code == TART_EXIT_VM_STATE && vm_dir_running_pid(path) != 0)
      return tart_error_exit(err, TART_EXIT_FAILURE, 0, "VM \"%s\" is running", name);
    return -1;
  }
  /* Move the directory out of vms/ first so that a crash half-way through
   * the removal never leaves a half-deleted VM that still lists. */
  struct tmp_entry t;
  if (tmp_entry_create(h, &t, err) < 0)
    return -1;
  _cleanup_free_ char *dest = xasprintf("%s/vm", t.path);
  if (rename(path, dest) < 0) {
    int e = errno;
    tmp_entry_discard(&t);
    return tart_error_make(err, e, "cannot delete VM \"%s\"", name);
  }
  tart_error_t ignored = NULL;
  fsync_parent(path, &ignored);
  tart_error_release(&ignored);
  tmp_entry_discard(&t);
  return 0;
}

static bool mac_in_use(struct tart_home *h, const struct mac_addr *mac, const char *except, bool running_only)
{
  struct vm_list l;
  tart_error_t e = NULL;
  if (local_vm_list(h, true, &l, &e) < 0) {
    tart_error_release(&e);
    return false;
  }
  bool found = false;
  for (size_t i = 0; i < l.n && !found; i++) {
    if (except != NULL && !strcmp(l.items[i].name, except))
      continue;
    if (running_only && vm_dir_running_pid(l.items[i].path) == 0)
      continue;
    struct mac_addr other;
    if (vm_dir_mac(l.items[i].path, &other, &e) < 0) {
      tart_error_release(&e);
      continue;
    }
    found = mac_equal(&other, mac);
  }
  vm_list_clear(&l);
  return found;
}

bool local_vm_mac_in_use(struct tart_home *h, const struct mac_addr *mac, const char *except)
{
  return mac_in_use(h, mac, except, false);
}

int local_vm_unique_mac(struct tart_home *h, const char *dir, const char *name, enum mac_rule rule,
                        tart_error_t *err)
{
  _cleanup_free_ char *cfg_path = vm_dir_file(dir, VM_FILE_CONFIG);
  struct vm_config cfg;
  if (vm_config_load(cfg_path, &cfg, err) < 0)
    return -1;
  int r = 0;
  if (rule == MAC_ALWAYS_NEW || mac_in_use(h, &cfg.mac, name, rule == MAC_IF_RUNNING_HAS_IT)) {
    struct mac_addr mac;
    mac_random(&mac);
    vm_config_set_mac(&cfg, &mac);
    r = vm_config_save(&cfg, cfg_path, err) < 0 ? -1 : 1;
  }
  vm_config_clear(&cfg);
  return r;
}
