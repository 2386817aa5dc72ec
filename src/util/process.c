#include "util/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

extern char **environ;

#define CAPTURE_MAX (1024 * 1024)

struct buf {
  char *data;
  size_t len;
};

static void buf_append(struct buf *b, const char *p, size_t n)
{
  if (b->len + n > CAPTURE_MAX)
    n = CAPTURE_MAX - b->len;
  if (n == 0)
    return;
  b->data = xrealloc(b->data, b->len + n + 1);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void first_line(const char *s, char *out, size_t n)
{
  out[0] = '\0';
  if (s == NULL)
    return;
  while (*s) {
    size_t l = strcspn(s, "\n");
    const char *p = s;
    while (p < s + l && (*p == ' ' || *p == '\t'))
      p++;
    if (p < s + l) {
      snprintf(out, n, "%.*s", (int)(s + l - p), p);
      return;
    }
    s += l + (s[l] == '\n');
  }
}

int process_run(const char *const argv[], char **out, tart_error_t *err)
{
  return process_run_input(argv, NULL, 0, out, err);
}

int process_run_input(const char *const argv[], const char *input, size_t input_len, char **out,
                      tart_error_t *err)
{
  /* Messages name the program, not the path it was found at. */
  const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  if (log_debug_enabled()) {
    char line[4096] = "";
    size_t len = 0;
    for (size_t i = 0; argv[i] && len < sizeof(line) - 1; i++)
      len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", argv[i]);
    log_debug("exec: %s", line);
  }

  /* Input goes through a memory file rather than a pipe, so that writing
   * it cannot block on a child that is not reading while we wait. */
  _cleanup_close_ int in = -1;
  if (input != NULL) {
    in = memfd_create("process-input", MFD_CLOEXEC);
    if (in < 0)
      return tart_error_make(err, errno, "cannot run %s", name);
    for (size_t done = 0; done < input_len;) {
      ssize_t w = write(in, input + done, input_len - done);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return tart_error_make(err, errno, "cannot run %s", name);
      done += (size_t)w;
    }
    if (lseek(in, 0, SEEK_SET) < 0)
      return tart_error_make(err, errno, "cannot run %s", name);
  }

  int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
  if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (opipe[i] >= 0)
        close(opipe[i]);
      if (epipe[i] >= 0)
        close(epipe[i]);
    }
    return tart_error_make(err, e, "cannot run %s", name);
  }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in >= 0)
    posix_spawn_file_actions_adddup2(&fa, in, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
  pid_t pid;
  posix_spawnattr_t attr;
  process_spawnattr_clean(&attr);
  int r = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(opipe[1]);
  close(epipe[1]);
  if (r != 0) {
    close(opipe[0]);
    close(epipe[0]);
    return tart_error_make(err, r, "cannot run %s", name);
  }

  struct buf obuf = {0}, ebuf = {0};
  struct pollfd pfd[2] = {{.fd = opipe[0], .events = POLLIN}, {.fd = epipe[0], .events = POLLIN}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char chunk[8192];
      ssize_t n = read(pfd[i].fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        close(pfd[i].fd);
        pfd[i].fd = -1;
        open_fds--;
        continue;
      }
      buf_append(i == 0 ? &obuf : &ebuf, chunk, (size_t)n);
    }
  }
  for (int i = 0; i < 2; i++)
    if (pfd[i].fd >= 0)
      close(pfd[i].fd);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;

  int ret = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char line[512];
    first_line(ebuf.data, line, sizeof(line));
    if (line[0])
      tart_error_make(err, 0, "%s failed: %s", name, line);
    else if (WIFSIGNALED(status))
      tart_error_make(err, 0, "%s was killed by signal %d", name, WTERMSIG(status));
    else
      tart_error_make(err, 0, "%s failed with exit status %d", name, WEXITSTATUS(status));
    ret = -1;
  }
  if (ret == 0 && out != NULL)
    *out = obuf.data ? TAKE_PTR(obuf.data) : xstrdup("");
  free(obuf.data);
  free(ebuf.data);
  return ret;
}

void process_child_supervised(pid_t parent, int log_fd)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127);
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0)
    dup2(devnull, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
}

void process_spawnattr_clean(posix_spawnattr_t *attr)
{
  posix_spawnattr_init(attr);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGUSR1);
  sigaddset(&def, SIGUSR2);
  posix_spawnattr_setsigmask(attr, &none);
  posix_spawnattr_setsigdefault(attr, &def);
  posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}
