/* tart login: check credentials against a registry and keep them in
 * $TART_HOME/auth.json (mode 0600): Linux has no keychain, and a file works
 * the same in SSH sessions and CI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "registry/client.h"
#include "registry/credentials.h"
#include "util/util.h"

enum { OPT_USER = CMD_OPT_LONG, OPT_STDIN, OPT_INSECURE, OPT_NO_VALIDATE };

static const struct cmd_option login_options[] = {
    {OPT_USER, 0, "username", "<username>", "username"},
    {OPT_STDIN, 0, "password-stdin", NULL, "read the password from standard input"},
    {OPT_INSECURE, 0, "insecure", NULL, "connect to the OCI registry via insecure HTTP protocol"},
    {OPT_NO_VALIDATE, 0, "no-validate", NULL,
     "skip validation of the registry's credentials before\n"
     "logging-in"},
    {0},
};

const struct cmd_spec cmd_login_spec = {
    .name = "login",
    .abstract = "Login to a registry",
    .usage = "tart login <host> [--username <username>] [--password-stdin] [--insecure]\n"
             "                  [--no-validate]",
    .arguments = "<host>\thost[:port] of the registry, e.g. ghcr.io\n",
    .options = login_options,
};

#define CRED_MAX 8192

/* Read to EOF (at most CRED_MAX bytes), trimming trailing newlines. */
static int read_stdin_all(char **out, tart_error_t *err)
{
  char *buf = xmalloc(CRED_MAX + 2);
  size_t n = 0;
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf + n, CRED_MAX + 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(buf);
      return tart_error_make(err, errno, "cannot read the password from standard input");
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n > CRED_MAX) {
      explicit_bzero(buf, n);
      free(buf);
      return tart_error_make(err, 0, "the password is longer than %d characters", CRED_MAX);
    }
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  buf[n] = '\0';
  *out = buf;
  return 0;
}

static int prompt(const char *label, bool echo, char **out, tart_error_t *err)
{
  FILE *tty = fopen("/dev/tty", "r+");
  FILE *in = tty ? tty : stdin, *o = tty ? tty : stderr;
  struct termios old, raw;
  bool restore = false;
  fputs(label, o);
  fflush(o);
  if (!echo && tcgetattr(fileno(in), &old) == 0) {
    raw = old;
    raw.c_lflag &= ~(tcflag_t)ECHO;
    restore = tcsetattr(fileno(in), TCSAFLUSH, &raw) == 0;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, in);
  if (restore) {
    tcsetattr(fileno(in), TCSAFLUSH, &old);
    fputc('\n', o);
  }
  if (tty)
    fclose(tty);
  if (n < 0) {
    free(line);
    return tart_error_make(err, 0, "no input for \"%s\"", label);
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  if (n > CRED_MAX) {
    explicit_bzero(line, (size_t)n);
    free(line);
    return tart_error_make(err, 0, "the value is longer than %d characters", CRED_MAX);
  }
  *out = line;
  return 0;
}

int cmd_login(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  const char *username = NULL;
  bool from_stdin = false, insecure = false, validate = true;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_login_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_login_spec);
    case OPT_USER:
      username = optarg;
      break;
    case OPT_STDIN:
      from_stdin = true;
      break;
    case OPT_INSECURE:
      insecure = true;
      break;
    case OPT_NO_VALIDATE:
      validate = false;
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<host>", err) < 0)
    return -1;
  const char *host = argv[optind];
  if ((username != NULL) != from_stdin)
    return args_usage_error(argv, err, "both --username and --password-stdin are required");
  if (strstr(host, "://") != NULL || strchr(host, '/') != NULL || *host == '\0')
    return tart_error_make(
        err, 0,
        "improperly formatted host \"%s\" was provided, make sure that it doesn't start with "
        "http:// or https://",
        host);

  struct credentials cr = {0};
  int ret = -1;
  if (from_stdin) {
    cr.username = xstrdup(username);
    if (read_stdin_all(&cr.password, err) < 0)
      goto out;
  } else if (prompt("User: ", true, &cr.username, err) < 0 ||
             prompt("Password: ", false, &cr.password, err) < 0) {
    goto out;
  }

  if (validate) {
    /* Validate with exactly these credentials: put them in the environment
     * lookup's first place for this host only. */
    struct registry *reg = NULL;
    setenv("TART_REGISTRY_USERNAME", cr.username, 1);
    setenv("TART_REGISTRY_PASSWORD", cr.password, 1);
    setenv("TART_REGISTRY_HOSTNAME", host, 1);
    if (registry_open(host, "library/tart-login-check", insecure, false, ctx->home.root, &reg, err) < 0)
      goto out;
    struct registry_conn *conn = registry_conn_new(reg);
    int r = registry_ping(conn, err);
    registry_conn_free(conn);
    registry_close(reg);
    unsetenv("TART_REGISTRY_USERNAME");
    unsetenv("TART_REGISTRY_PASSWORD");
    unsetenv("TART_REGISTRY_HOSTNAME");
    if (r < 0) {
      if ((*err)->errnum == EACCES && strncmp((*err)->msg, "invalid credentials", 19) != 0)
        tart_error_wrap(err, "invalid credentials");
      goto out;
    }
  }
  /* Two logins at once must not lose one's update of auth.json. */
  if (tart_home_lock(&ctx->home, err) < 0)
    goto out;
  int stored = credentials_store(ctx->home.root, host, &cr, err);
  tart_home_unlock(&ctx->home);
  if (stored < 0)
    goto out;
  printf("Login succeeded\n");
  ret = 0;
out:
  credentials_clear(&cr);
  return ret;
}
