/* Reading the VM's logs (storage/vmdir.h names them) for one-line
 * errors, and what the last run left in logs/run.error. */
#include "vm/session.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/util.h"

/* The last non-empty line of logs/<log> (qemu.log, virtiofsd.log), for a
 * one-line error. */
void vm_log_last_line(const char *dir, const char *log, char *out, size_t n)
{
  out[0] = '\0';
  _cleanup_free_ char *path = xasprintf("%s/%s/%s", dir, VM_LOGS_DIR, log);
  char *text = NULL;
  size_t len = 0;
  if (read_file(path, 1u << 20, &text, &len, NULL) < 0)
    return;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
    text[--len] = '\0';
  char *nl = strrchr(text, '\n');
  snprintf(out, n, "%s", nl ? nl + 1 : text);
  str_scrub_controls(out);
  free(text);
}

int64_t vm_log_size(const char *path)
{
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
}

/* The first line that this QEMU wrote to qemu.log (the file is appended
 * to by every run) holding one of needles (NULL-terminated), scrubbed of
 * control characters; "" when none. */
void vm_log_qemu_line(const struct supervisor *s, const char *const *needles, char *out, size_t n)
{
  out[0] = '\0';
  _cleanup_free_ char *path = xasprintf("%s/" VM_QEMU_LOG, s->logs);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  enum { MAX = 1 << 20 };
  _cleanup_free_ char *buf = xmalloc(MAX + 1);
  ssize_t r = pread(fd, buf, MAX, s->qemu_log_from);
  if (r <= 0)
    return;
  buf[r] = '\0';
  for (size_t i = 0; needles[i]; i++) {
    char *hit = memmem(buf, (size_t)r, needles[i], strlen(needles[i]));
    if (hit == NULL)
      continue;
    char *bol = hit;
    while (bol > buf && bol[-1] != '\n')
      bol--;
    char *eol = memchr(bol, '\n', (size_t)(buf + r - bol));
    if (eol)
      *eol = '\0';
    snprintf(out, n, "%s", bol);
    str_scrub_controls(out);
    return;
  }
}

int vm_run_error(const char *vm_dir, time_t since, char *out, size_t n)
{
  _cleanup_free_ char *path = xasprintf("%s/%s/%s", vm_dir, VM_LOGS_DIR, VM_RUN_ERROR);
  struct stat st;
  if (stat(path, &st) < 0 || st.st_mtime < since)
    return 0;
  char *text = NULL;
  size_t len = 0;
  if (read_file(path, 4096, &text, &len, NULL) < 0)
    return 0;
  snprintf(out, n, "%.*s", (int)len, text);
  str_scrub_controls(out);
  free(text);
  return len > 0;
}
