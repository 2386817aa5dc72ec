/* libFuzzer target for the /proc/locks parser: any input yields a valid,
 * sorted index. */
#include <stdint.h>
#include <stdlib.h>

#include "storage/proc_locks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct lock_index idx;
  lock_index_parse((const char *)data, size, &idx);
  if (!idx.valid)
    abort();
  for (size_t i = 1; i < idx.n; i++)
    if (idx.inodes[i - 1] > idx.inodes[i])
      abort();
  for (size_t i = 0; i < idx.n; i++)
    if (!lock_index_maybe_locked(&idx, idx.inodes[i]))
      abort();
  lock_index_clear(&idx);
  return 0;
}
