/* cmd/options.h: one option table per verb makes its getopt parsing, its
 * --help and its completion flags. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/options.h"
#include "unit.h"

enum { OPT_WAIT = CMD_OPT_LONG, OPT_OLD_WAIT, OPT_EDGE, OPT_OVER, OPT_LONG_LABEL };

static const struct cmd_option demo_options[] = {
    {'q', 'q', "quiet", NULL, "Only display names."},
    {OPT_WAIT, 0, "wait", "<seconds>",
     "Seconds to wait\n"
     "(default: 0)"},
    /* Hidden: accepted, neither in --help nor completed. */
    {OPT_OLD_WAIT, 0, "old-wait", "<seconds>", NULL},
    {'t', 't', "timeout", "<s>", "Timeout"},
    /* "  " + label: 25 columns, the help still fits after one space. */
    {OPT_EDGE, 0, "abcdefghijklmnopqrstu", NULL, "Edge"},
    /* 26 columns: the help goes to the next line. */
    {OPT_OVER, 0, "abcdefghijklmnopqrstuv", NULL, "Over"},
    {OPT_LONG_LABEL, 0, "net-softnet-expose", "<host:guest,...>",
     "Forward host TCP ports\n"
     "to the guest"},
    {0},
};

static const struct cmd_spec demo_spec = {
    .name = "demo",
    .abstract = "Demonstrate a verb",
    .discussion = "First paragraph.\n"
                  "\n"
                  "Second paragraph, without a newline at its end.",
    .usage = "tart demo <name> <command> [--wait <seconds>]\n"
             "                 [--quiet]",
    .arguments = "<name>\tVM name\n"
                 "<command>\tcommand to run, and\n"
                 "\tits arguments\n",
    .options = demo_options,
};

/* The man page comes from the same tables: every visible option, roff
 * escapes for '-' and '\', nothing a line start could take for a request. */
static void test_man_page(void **state)
{
  (void)state;
  static const struct cmd_option odd_options[] = {
      {OPT_WAIT, 0, "wait", "<seconds>", ".starts with a dot\nand a back\\slash"},
      {OPT_OLD_WAIT, 0, "old-wait", NULL, NULL},
      {'t', 't', "timeout", "<s>", "Timeout"},
      {0},
  };
  static const struct cmd_spec odd = {
      .name = "demo",
      .abstract = "Demonstrate a verb",
      .discussion = "First paragraph.\n\n'Second' paragraph.",
      .usage = "tart demo <name> [--wait <seconds>]",
      .arguments = "<name>\tVM name\n",
      .options = odd_options,
  };
  char *page = cmd_man_page(&odd, "tart", "1.2.3");
  assert_non_null(strstr(page, ".TH TART\\-DEMO 1 \"\" \"tart 1.2.3\" \"User Commands\"\n"));
  assert_non_null(strstr(page, ".SH NAME\ntart\\-demo \\- Demonstrate a verb\n"));
  assert_non_null(strstr(page, ".SH SYNOPSIS\n.nf\ntart demo <name> [\\-\\-wait <seconds>]\n.fi\n"));
  assert_non_null(strstr(page, ".SH DESCRIPTION\nFirst paragraph.\n.PP\n\\&'Second' paragraph.\n.PP\n"));
  assert_non_null(strstr(page, ".TP\n.B <name>\nVM name\n"));
  assert_non_null(strstr(page, ".TP\n.B \\-\\-wait <seconds>\n\\&.starts with a dot and a back\\eslash\n"));
  assert_non_null(strstr(page, ".TP\n.B \\-t, \\-\\-timeout <s>\nTimeout\n"));
  assert_null(strstr(page, "old\\-wait"));
  assert_non_null(strstr(page, ".SH SEE ALSO\n.BR tart (1)\n"));
  /* No line of the page starts a request by accident. */
  for (const char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (*l == '\'')
      fail_msg("a line starts with a quote: %.40s", l);
  free(page);
}

static void test_help_layout(void **state)
{
  (void)state;
  char *text = cmd_help_text(&demo_spec);
  assert_string_equal(text, "OVERVIEW: Demonstrate a verb\n"
                            "\n"
                            "First paragraph.\n"
                            "\n"
                            "Second paragraph, without a newline at its end.\n"
                            "\n"
                            "USAGE: tart demo <name> <command> [--wait <seconds>]\n"
                            "                 [--quiet]\n"
                            "\n"
                            "ARGUMENTS:\n"
                            "  <name>                  VM name\n"
                            "  <command>               command to run, and\n"
                            "                          its arguments\n"
                            "\n"
                            "OPTIONS:\n"
                            "  -q, --quiet             Only display names.\n"
                            "  --wait <seconds>        Seconds to wait\n"
                            "                          (default: 0)\n"
                            "  -t, --timeout <s>       Timeout\n"
                            "  --abcdefghijklmnopqrstu Edge\n"
                            "  --abcdefghijklmnopqrstuv\n"
                            "                          Over\n"
                            "  --net-softnet-expose <host:guest,...>\n"
                            "                          Forward host TCP ports\n"
                            "                          to the guest\n"
                            "  -h, --help              Show help information.\n");
  free(text);
}

/* No discussion, no arguments, no options: only --help is listed. */
static void test_help_minimal(void **state)
{
  (void)state;
  const struct cmd_spec spec = {.name = "bare", .abstract = "Bare", .usage = "tart bare"};
  char *text = cmd_help_text(&spec);
  assert_string_equal(text, "OVERVIEW: Bare\n"
                            "\n"
                            "USAGE: tart bare\n"
                            "\n"
                            "OPTIONS:\n"
                            "  -h, --help              Show help information.\n");
  free(text);
}

/* A verb with subcommands lists them where the arguments would be. */
static void test_help_subcommands(void **state)
{
  (void)state;
  const struct cmd_spec spec = {.name = "net",
                                .abstract = "Net",
                                .usage = "tart net up",
                                .arguments = "up\tBring it up\n"
                                             "down\tTake it down\n",
                                .subcommands = "up down"};
  char *text = cmd_help_text(&spec);
  assert_non_null(strstr(text, "\nSUBCOMMANDS:\n"
                               "  up                      Bring it up\n"
                               "  down                    Take it down\n"
                               "\nOPTIONS:\n"));
  assert_null(strstr(text, "ARGUMENTS"));
  free(text);
}

/* Parse argv (NULL-terminated) from scratch; optind = 0 makes glibc also
 * forget the '+' of an earlier parse. */
static int first(char **argv, const struct cmd_spec *spec, tart_error_t *err)
{
  int argc = 0;
  while (argv[argc])
    argc++;
  optind = 0;
  return cmd_next(argc, argv, spec, err);
}

static void test_next_ids_and_values(void **state)
{
  (void)state;
  char *argv[] = {"demo", "-q", "vm", "--wait", "5", "--old-wait=7", "-t3", "--timeout", "9", NULL};
  int argc = 9;
  tart_error_t err = NULL;
  assert_int_equal(first(argv, &demo_spec, &err), 'q');
  assert_int_equal(cmd_next(argc, argv, &demo_spec, &err), OPT_WAIT);
  assert_string_equal(optarg, "5");
  assert_int_equal(cmd_next(argc, argv, &demo_spec, &err), OPT_OLD_WAIT);
  assert_string_equal(optarg, "7");
  assert_int_equal(cmd_next(argc, argv, &demo_spec, &err), 't');
  assert_string_equal(optarg, "3");
  assert_int_equal(cmd_next(argc, argv, &demo_spec, &err), 't');
  assert_string_equal(optarg, "9");
  assert_int_equal(cmd_next(argc, argv, &demo_spec, &err), -1);
  assert_null(err);
  /* The positional argument was moved after the options. */
  assert_int_equal(optind, argc - 1);
  assert_string_equal(argv[optind], "vm");
}

static void test_next_help(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  char *a[] = {"demo", "--help", NULL};
  assert_int_equal(first(a, &demo_spec, &err), 'h');
  char *b[] = {"demo", "-qh", NULL};
  assert_int_equal(first(b, &demo_spec, &err), 'q');
  assert_int_equal(cmd_next(2, b, &demo_spec, &err), 'h');
  /* A verb without options still answers -h. */
  const struct cmd_spec bare = {.name = "bare", .abstract = "Bare", .usage = "tart bare"};
  char *c[] = {"bare", "-h", NULL};
  assert_int_equal(first(c, &bare, &err), 'h');
  assert_null(err);
}

static void expect_usage_error(char **argv, const struct cmd_spec *spec, const char *msg)
{
  int argc = 0;
  while (argv[argc])
    argc++;
  tart_error_t err = NULL;
  int c = first(argv, spec, &err);
  while (c != -1 && c != -2)
    c = cmd_next(argc, argv, spec, &err);
  assert_int_equal(c, -2);
  assert_non_null(err);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  assert_string_equal(err->msg, msg);
  tart_error_release(&err);
}

static void test_next_usage_errors(void **state)
{
  (void)state;
  char *a[] = {"demo", "--bogus", NULL};
  expect_usage_error(a, &demo_spec, "unknown option '--bogus' (see 'tart demo --help')");
  char *b[] = {"demo", "-z", NULL};
  expect_usage_error(b, &demo_spec, "unknown option '-z' (see 'tart demo --help')");
  char *c[] = {"demo", "--wait", NULL};
  expect_usage_error(c, &demo_spec, "missing value for option '--wait' (see 'tart demo --help')");
  char *d[] = {"demo", "-t", NULL};
  expect_usage_error(d, &demo_spec, "missing value for option '-t' (see 'tart demo --help')");
  /* A verb without options knows only --help. */
  const struct cmd_spec bare = {.name = "bare", .abstract = "Bare", .usage = "tart bare"};
  char *e[] = {"bare", "--quiet", NULL};
  expect_usage_error(e, &bare, "unknown option '--quiet' (see 'tart bare --help')");
}

static void test_next_stop_at_positional(void **state)
{
  (void)state;
  const struct cmd_option opts[] = {
      {'i', 'i', "interactive", NULL, "Stdin"}, {'t', 't', "tty", NULL, "Tty"}, {0}};
  struct cmd_spec spec = {.name = "exec", .abstract = "Exec", .usage = "tart exec", .options = opts};
  char *argv[] = {"exec", "-i", "vm", "-t", "ls", NULL};
  tart_error_t err = NULL;
  spec.stop_at_positional = true;
  assert_int_equal(first(argv, &spec, &err), 'i');
  assert_int_equal(cmd_next(5, argv, &spec, &err), -1);
  assert_int_equal(optind, 2);
  assert_string_equal(argv[optind + 1], "-t");
  /* Without it, getopt finds the -t after the name. */
  spec.stop_at_positional = false;
  char *again[] = {"exec", "-i", "vm", "-t", "ls", NULL};
  assert_int_equal(first(again, &spec, &err), 'i');
  assert_int_equal(cmd_next(5, again, &spec, &err), 't');
  assert_null(err);
}

static void test_completion_flags(void **state)
{
  (void)state;
  char *f = cmd_completion_flags(&demo_spec);
  assert_string_equal(f, "--quiet --wait --timeout --abcdefghijklmnopqrstu --abcdefghijklmnopqrstuv "
                         "--net-softnet-expose --help");
  free(f);
  const struct cmd_spec bare = {.name = "bare", .abstract = "Bare", .usage = "tart bare"};
  f = cmd_completion_flags(&bare);
  assert_string_equal(f, "--help");
  free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_man_page),
      cmocka_unit_test(test_help_layout),
      cmocka_unit_test(test_help_minimal),
      cmocka_unit_test(test_help_subcommands),
      cmocka_unit_test(test_next_ids_and_values),
      cmocka_unit_test(test_next_help),
      cmocka_unit_test(test_next_usage_errors),
      cmocka_unit_test(test_next_stop_at_positional),
      cmocka_unit_test(test_completion_flags),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
