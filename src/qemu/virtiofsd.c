#include "qemu/virtiofsd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/vmdir.h"
#include "util/process.h"
#include "util/util.h"

char *virtiofsd_find(void)
{
  const char *env = getenv("TART_VIRTIOFSD");
  struct stat st;
  if (env != NULL)
    return *env && stat(env, &st) == 0 && S_ISREG(st.st_mode) && access(env, X_OK) == 0 ? xstrdup(env) : NULL;
  static const char *const fixed[] = {"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd"};
  for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
    if (access(fixed[i], X_OK) == 0)
      return xstrdup(fixed[i]);
  const char *path = getenv("PATH");
  if (path == NULL)
    return NULL;
  _cleanup_free_ char *copy = xstrdup(path);
  char *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char *p = xasprintf("%s/virtiofsd", *d ? d : ".");
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
      return p;
    free(p);
  }
  return NULL;
}

/* What failed in the child before exec: sent over a close-on-exec pipe, so
 * that EOF without a report means virtiofsd is running. */
enum step { STEP_UNSHARE = 1, STEP_PRIVATE, STEP_ROOT_BIND, STEP_ROOT_RO, STEP_BIND, STEP_RO, STEP_EXEC };
struct report {
  int step;
  int member; /* index into the export's members */
  int err;
};

static void child_fail(int fd, enum step step, int member)
{
  struct report r = {.step = step, .member = member, .err = errno};
  ssize_t n = write(fd, &r, sizeof(r));
  (void)n;
  _exit(126);
}

/* Read-only for `path` and every mount below it (mount_setattr, Linux
 * 5.12), else for the top mount (MS_REMOUNT). */
static int make_readonly(const char *path)
{
#ifdef SYS_mount_setattr
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
    return 0;
  if (errno != ENOSYS)
    return -1;
#endif
  return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

/* In the child, before exec: only system calls (async-signal-safe). */
static void child_setup(int report_fd, const struct virtiofsd *d, const struct qemu_export *e,
                        const struct qemu_share *shares)
{
  if (unshare(CLONE_NEWNS) < 0)
    child_fail(report_fd, STEP_UNSHARE, -1);
  /* Nothing mounted here may propagate back to the host. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    child_fail(report_fd, STEP_PRIVATE, -1);
  if (!e->subdirs) {
    const struct qemu_share *s = &shares[e->members[0]];
    if (mount(s->path, d->root, NULL, MS_BIND | MS_REC, NULL) < 0)
      child_fail(report_fd, STEP_BIND, 0);
    if (s->readonly && make_readonly(d->root) < 0)
      child_fail(report_fd, STEP_RO, 0);
    return;
  }
  /* The root that holds the names is read-only, so the guest cannot
   * create files in tart's directory; the shares are mounted on top. */
  if (mount(d->root, d->root, NULL, MS_BIND, NULL) < 0)
    child_fail(report_fd, STEP_ROOT_BIND, -1);
  if (mount(NULL, d->root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    child_fail(report_fd, STEP_ROOT_RO, -1);
  for (size_t i = 0; i < e->n_members; i++) {
    const struct qemu_share *s = &shares[e->members[i]];
    if (mount(s->path, d->subdirs[i], NULL, MS_BIND | MS_REC, NULL) < 0)
      child_fail(report_fd, STEP_BIND, (int)i);
    if (s->readonly && make_readonly(d->subdirs[i]) < 0)
      child_fail(report_fd, STEP_RO, (int)i);
  }
}

static void clear(struct virtiofsd *d)
{
  free(d->socket);
  free(d->root);
  for (size_t i = 0; i < d->n_subdirs; i++)
    free(d->subdirs[i]);
  free(d->subdirs);
  memset(d, 0, sizeof(*d));
  d->pid = -1;
}

static void remove_dirs(struct virtiofsd *d)
{
  for (size_t i = 0; i < d->n_subdirs; i++)
    rmdir(d->subdirs[i]);
  if (d->root)
    rmdir(d->root);
}

/* A listening unix socket at <vm_dir>/<name>, however long vm_dir is:
 * bound through /proc/self/fd/<dirfd>/<name>, which fits in sun_path. */
static int listen_at(const char *vm_dir, const char *name, tart_error_t *err)
{
  _cleanup_close_ int dfd = open(vm_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return tart_error_make(err, errno, "cannot open %s", vm_dir);
  unlinkat(dfd, name, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return tart_error_make(err, errno, "cannot create a socket for virtiofsd");
  mode_t old = umask(077);
  int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (r < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    return tart_error_make(err, e, "cannot listen on %s/%s", vm_dir, name);
  }
  return fd;
}

static const char *step_text(enum step s)
{
  switch (s) {
  case STEP_UNSHARE:
    return "cannot make a mount namespace for virtiofsd";
  case STEP_PRIVATE:
    return "cannot make virtiofsd's mounts private";
  case STEP_ROOT_BIND:
  case STEP_ROOT_RO:
    return "cannot make virtiofsd's read-only root";
  case STEP_BIND:
    return "cannot bind-mount the shared directory";
  case STEP_RO:
    return "cannot make the shared directory read-only";
  case STEP_EXEC:
    return "cannot run virtiofsd";
  }
  return "virtiofsd setup failed";
}

/* prefix + value for a -o option: virtiofsd's option parser (libfuse's
 * fuse_opt) splits on ',' and takes '\' as an escape, and VM names may
 * hold either. */
static char *fuse_opt_value(const char *prefix, const char *value)
{
  size_t n = strlen(prefix);
  char *out = xmalloc(n + 2 * strlen(value) + 1);
  memcpy(out, prefix, n);
  for (const char *p = value; *p; p++) {
    if (*p == ',' || *p == '\\')
      out[n++] = '\\';
    out[n++] = *p;
  }
  out[n] = '\0';
  return out;
}

/* Fork virtiofsd with its mounts; returns its pid, or -1. */
static pid_t spawn(const char *binary, const char *vm_dir, struct virtiofsd *d, const struct qemu_export *e,
                   const struct qemu_share *shares, tart_error_t *err)
{
  _cleanup_free_ char *log_path = xasprintf("%s/%s/%s", vm_dir, VM_LOGS_DIR, VM_VIRTIOFSD_LOG);
  _cleanup_close_ int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return tart_error_make(err, errno, "cannot open %s", log_path);
  _cleanup_close_ int listen_fd = listen_at(vm_dir, d->socket, err);
  if (listen_fd < 0)
    return -1;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return tart_error_make(err, errno, "pipe");
  _cleanup_free_ char *fd_arg = xasprintf("--fd=%d", listen_fd);
  _cleanup_free_ char *source = fuse_opt_value("source=", d->root);
  const char *argv[] = {binary, fd_arg, "-o", source, "-o", "announce_submounts", NULL};

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int en = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return tart_error_make(err, en, "cannot start virtiofsd");
  }
  if (pid == 0) {
    close(pipefd[0]);
    process_child_supervised(parent, log_fd);
    fcntl(listen_fd, F_SETFD, 0);
    child_setup(pipefd[1], d, e, shares);
    execv(binary, (char *const *)argv);
    child_fail(pipefd[1], STEP_EXEC, 0);
  }
  close(pipefd[1]);
  struct report r = {0};
  ssize_t n;
  do
    n = read(pipefd[0], &r, sizeof(r));
  while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n != (ssize_t)sizeof(r))
    return pid; /* exec'ed: the pipe closed without a report */
  waitpid(pid, NULL, 0);
  const char *what = r.step == STEP_EXEC                                ? binary
                     : r.member >= 0 && (size_t)r.member < e->n_members ? shares[e->members[r.member]].path
                                                                        : d->root;
  return tart_error_make(err, r.err, "%s (%s)", step_text((enum step)r.step), what);
}

int virtiofsd_start(const char *binary, const char *vm_dir, size_t index, const struct qemu_export *e,
                    const struct qemu_share *shares, struct virtiofsd *d, tart_error_t *err)
{
  memset(d, 0, sizeof(*d));
  d->pid = -1;
  for (size_t i = 0; i < e->n_members; i++) {
    const char *p = shares[e->members[i]].path;
    struct stat st;
    int en = stat(p, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (en != 0)
      return tart_error_exit(err, TART_EXIT_USAGE, en, "--dir %s", p);
  }
  _cleanup_free_ char *top = xasprintf("%s/%s", vm_dir, VIRTIOFSD_DIR);
  d->socket = xasprintf("vfs%zu.sock", index);
  d->root = xasprintf("%s/%zu", top, index);
  const char *failed = NULL;
  if (mkdir(top, 0755) < 0 && errno != EEXIST)
    failed = top;
  else if (mkdir(d->root, 0755) < 0 && errno != EEXIST)
    failed = d->root;
  if (failed == NULL && e->subdirs) {
    d->subdirs = xcalloc(e->n_members, sizeof(*d->subdirs));
    for (size_t i = 0; i < e->n_members && failed == NULL; i++) {
      d->subdirs[d->n_subdirs++] = xasprintf("%s/%s", d->root, shares[e->members[i]].name);
      if (mkdir(d->subdirs[i], 0755) < 0 && errno != EEXIST)
        failed = d->subdirs[i];
    }
  }
  pid_t pid = -1;
  if (failed != NULL)
    tart_error_make(err, errno, "cannot make %s", failed);
  else
    pid = spawn(binary, vm_dir, d, e, shares, err);
  if (pid < 0) {
    _cleanup_free_ char *sp = xasprintf("%s/%s", vm_dir, d->socket);
    unlink(sp);
    remove_dirs(d);
    rmdir(top);
    clear(d);
    return -1;
  }
  d->pid = pid;
  return 0;
}

bool virtiofsd_failed(struct virtiofsd *d)
{
  int status;
  if (d->pid <= 0 || waitpid(d->pid, &status, WNOHANG) != d->pid)
    return false;
  d->pid = 0;
  return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static bool wait_ms(pid_t pid, int ms)
{
  for (int waited = 0;; waited += 10) {
    pid_t w = waitpid(pid, NULL, WNOHANG);
    if (w == pid || (w < 0 && errno == ECHILD))
      return true;
    if (waited >= ms)
      return false;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

void virtiofsd_stop(struct virtiofsd *d, const char *vm_dir, int timeout_ms)
{
  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    if (!wait_ms(d->pid, timeout_ms)) {
      kill(d->pid, SIGKILL);
      waitpid(d->pid, NULL, 0);
    }
  }
  if (d->socket) {
    _cleanup_free_ char *sp = xasprintf("%s/%s", vm_dir, d->socket);
    unlink(sp);
  }
  remove_dirs(d);
  clear(d);
}

void virtiofsd_cleanup_dir(const char *vm_dir)
{
  DIR *dir = opendir(vm_dir);
  if (dir != NULL) {
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
      size_t l = strlen(de->d_name);
      if (strncmp(de->d_name, "vfs", 3) == 0 && l > 8 && strcmp(de->d_name + l - 5, ".sock") == 0)
        unlinkat(dirfd(dir), de->d_name, 0);
    }
    closedir(dir);
  }
  /* Two levels: virtiofs/<N>/<name>.  rmdir only: a directory that is not
   * empty stays. */
  _cleanup_free_ char *top = xasprintf("%s/%s", vm_dir, VIRTIOFSD_DIR);
  DIR *t = opendir(top);
  if (t == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(t)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    _cleanup_free_ char *root = xasprintf("%s/%s", top, de->d_name);
    DIR *r = opendir(root);
    if (r != NULL) {
      struct dirent *se;
      while ((se = readdir(r)) != NULL)
        if (strcmp(se->d_name, ".") && strcmp(se->d_name, ".."))
          unlinkat(dirfd(r), se->d_name, AT_REMOVEDIR);
      closedir(r);
    }
    rmdir(root);
  }
  closedir(t);
  rmdir(top);
}
