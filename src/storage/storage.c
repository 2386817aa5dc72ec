#include "storage/storage.h"

#include "registry/reference.h"
#include "storage/local.h"
#include "storage/oci_cache.h"

int storage_open(struct tart_home *h, const char *name, char **path, bool *remote, tart_error_t *err)
{
  struct oci_reference ref;
  if (oci_reference_parse(name, &ref, NULL) == 0) {
    if (remote)
      *remote = true;
    int r = oci_cache_open(h, &ref, name, path, err);
    oci_reference_clear(&ref);
    return r;
  }
  if (remote)
    *remote = false;
  return local_vm_open(h, name, path, err);
}

int storage_delete(struct tart_home *h, const char *name, tart_error_t *err)
{
  struct oci_reference ref;
  if (oci_reference_parse(name, &ref, NULL) == 0) {
    int r = oci_cache_delete(h, &ref, name, err);
    oci_reference_clear(&ref);
    return r;
  }
  return local_vm_delete(h, name, err);
}
