/* tart exec: run a command in the guest through the QEMU guest agent and
 * exit with its exit code (docs/design.md, "Running a VM"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/qga.h"
#include "cmd/cmd.h"
#include "qemu/qmp.h"
#include "vm/run.h"
#include "storage/local.h"
#include "storage/vmdir.h"
#include "util/util.h"

static const struct cmd_option exec_options[] = {
    {'i', 'i', "interactive", NULL, "Send standard input to the command"},
    {'t', 't', "tty", NULL, "Allocate a terminal (not available through qemu-ga)"},
    {0},
};

const struct cmd_spec cmd_exec_spec = {
    .name = "exec",
    .abstract = "Execute a command in a running VM",
    .discussion = "Runs the command through the QEMU guest agent (qemu-ga, the guest's\n"
                  "qemu-guest-agent package) and exits with its exit code; a command that\n"
                  "does not exist exits 127, one that cannot run 126, as in a shell.\n"
                  "Its output shows as it is written, within about 0.1 s (it goes\n"
                  "through /bin/sh and a file in the guest's /tmp; a guest without\n"
                  "/bin/sh shows it when the command ends). With -i, standard input\n"
                  "reaches the command as it comes, the same way (the guest's /tmp holds\n"
                  "all of it until the command ends; a guest without /bin/sh gets it whole,\n"
                  "once it ends, before the command starts).\n",
    .usage = "tart exec [-i] [-t] <name> <command> [<args> ...]",
    .arguments = "<name>\tVM name\n"
                 "<command>\tcommand to run, and its arguments\n",
    .options = exec_options,
    .vm_arg = CMD_VM_LOCAL,
    /* Options end at the VM name; the rest belongs to the command. */
    .stop_at_positional = true,
};

#define AGENT_TIMEOUT_MS 15000
#define AGENT_STEP_MS    5000

static int read_all_stdin(char **out, size_t *len, tart_error_t *err)
{
  size_t cap = 65536, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap >= QGA_MAX_STDIN) {
        free(buf);
        return tart_error_make(err, EFBIG, "standard input is larger than %u bytes", QGA_MAX_STDIN);
      }
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t r = read(0, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(buf);
      return tart_error_make(err, errno, "cannot read standard input");
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  *out = buf;
  *len = n;
  return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void write_out(void *opaque, int fd, const unsigned char *data, size_t len)
{
  (void)opaque;
  write_all(fd, (const char *)data, len);
}

int cmd_exec(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  bool interactive = false;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_exec_spec, err)) != -1) {
    if (c == -2)
      return -1;
    if (c == 'h')
      return cmd_print_help(&cmd_exec_spec);
    if (c == 'i')
      interactive = true;
    if (c == 't')
      return tart_error_make(err, 0,
                             "-t is not available: the QEMU guest agent has no terminal transport "
                             "(run the command without -t, or use ssh)");
  }
  if (args_positional(argc, argv, 2, -1, "<name> <command>", err) < 0)
    return -1;
  const char *name = argv[optind];
  /* "tart exec vm -- cmd args": the "--" ends our options, as upstream's
   * parser takes it; it is not the guest's program. */
  int cmd_i = optind + 1;
  if (!strcmp(argv[cmd_i], "--") && ++cmd_i >= argc)
    return args_usage_error(argv, err, "missing expected argument: <command>");
  _cleanup_free_ char *dir = NULL;
  if (local_vm_open(&ctx->home, name, &dir, err) < 0)
    return -1;
  time_t started = time(NULL);
  if (vm_dir_running_pid(dir) == 0) {
    char why[1024];
    if (vm_run_error(dir, 0, why, sizeof(why)))
      return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is not running (its last run ended: %s)",
                             name, why);
    return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" is not running", name);
  }

  _cleanup_free_ char *input = NULL;
  size_t input_len = 0;

  _cleanup_free_ char *sock = vm_dir_file(dir, VM_QGA_SOCKET);
  struct qga *g = NULL;
  /* In steps, so that a run that ends meanwhile is told at once. */
  int64_t deadline = qmp_deadline(AGENT_TIMEOUT_MS);
  for (;;) {
    int64_t left = deadline - qmp_now_ms();
    if (qga_connect(sock, left > AGENT_STEP_MS ? AGENT_STEP_MS : left > 0 ? (int)left : 1, &g, err) == 0)
      break;
    if (vm_dir_running_pid(dir) == 0) {
      char why[1024];
      if (vm_run_error(dir, started, why, sizeof(why)))
        return tart_error_make(err, 0, "%s", why);
      return tart_error_exit(err, TART_EXIT_VM_STATE, 0, "VM \"%s\" stopped before its guest agent answered",
                             name);
    }
    if (qmp_now_ms() >= deadline)
      return tart_error_wrap(err,
                             "cannot reach the guest agent of VM \"%s\" (is qemu-guest-agent running in the "
                             "guest?)",
                             name);
    tart_error_release(err);
    usleep(100 * 1000);
  }
  struct qga_exec_result res = {0};
  /* Streamed both ways when the guest has a shell; otherwise stdin is read
   * to its end first and the output comes when the command ends. */
  bool streamed = true;
  int r = qga_exec_stream(g, argv[cmd_i], argv + cmd_i + 1, interactive ? 0 : -1, write_out, NULL, &res, err);
  if (r < 0 && strstr((*err)->msg, "Failed to execute child process") != NULL &&
      strstr((*err)->msg, QGA_STREAM_SHELL) != NULL) {
    tart_error_release(err);
    streamed = false;
    r = interactive ? read_all_stdin(&input, &input_len, err) : 0;
    if (r == 0)
      r = qga_exec(g, argv[cmd_i], argv + cmd_i + 1, interactive ? (input ? input : "") : NULL, input_len, -1,
                   &res, err);
  }
  qga_close(g);
  if (r < 0) {
    /* The guest went away under the command: the run says why. */
    char why[1024];
    int en = (*err)->errnum;
    bool gone = en == EPIPE || en == ECONNRESET || vm_dir_running_pid(dir) == 0;
    if (gone && vm_dir_wait_stopped(dir, 2000) && vm_run_error(dir, started, why, sizeof(why)))
      return tart_error_make(err, 0, "%s", why);
    /* The agent could not start it: exit as a shell would, 127 for a
     * command that does not exist, 126 for one that cannot run. */
    const char *m = (*err)->msg;
    if (strstr(m, "Failed to execute child process") != NULL) {
      bool missing = strstr(m, "No such file or directory") != NULL;
      tart_error_release(err);
      return tart_error_exit(err, missing ? 127 : 126, 0, "%s: %s in the guest", argv[cmd_i],
                             missing ? "command not found"
                                     : "cannot be run (permission denied or not a program)");
    }
    return -1;
  }
  if (!streamed && res.out_data)
    write_all(1, (const char *)res.out_data, res.out_len);
  if (!streamed && res.err_data)
    write_all(2, (const char *)res.err_data, res.err_len);
  ctx->exit_code = res.signal ? 128 + res.signal : res.exit_code;
  qga_exec_result_clear(&res);
  return 0;
}
