/* libFuzzer target for the tar extraction behind `run --dir URL`: any
 * archive bytes, unpacked into a fresh directory.  Checked: no crash or
 * leak, and nothing appears outside that directory (a sibling directory
 * and the parent stay as they were). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/remote_dir.h"
#include "util/fs.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t entries(const char *dir)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    abort();
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    n++;
  closedir(d);
  return n;
}

static char *base;

static void remove_base(void)
{
  tart_error_t err = NULL;
  rm_rf(base, &err);
  tart_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (base == NULL) {
    const char *t = getenv("TMPDIR");
    base = xasprintf("%s/tart-fuzz-remote-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(base) == NULL)
      abort();
    atexit(remove_base);
  }
  _cleanup_free_ char *archive = xasprintf("%s/in.tar", base);
  _cleanup_free_ char *dest = xasprintf("%s/dest", base);
  _cleanup_free_ char *sibling = xasprintf("%s/sibling", base);
  tart_error_t err = NULL;
  if (write_file_atomic(archive, data, size, 0600, &err) < 0 || mkdir(dest, 0755) < 0 ||
      (mkdir(sibling, 0755) < 0 && !path_exists(sibling)))
    abort();
  size_t before = entries(base);
  long n = remote_dir_extract(archive, dest, &err);
  if ((n < 0) != (err != NULL))
    abort();
  tart_error_release(&err);
  /* base holds in.tar, dest, sibling (and . ..) and nothing else. */
  if (entries(base) != before || entries(sibling) != 2)
    abort();
  if (rm_rf(dest, &err) < 0)
    abort();
  return 0;
}
