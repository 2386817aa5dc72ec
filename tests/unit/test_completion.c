/* The completion scripts come from the verbs' specs: their flags, which VM
 * names their first argument takes, their subcommands. */
#include <stdlib.h>
#include <string.h>

#include "cmd/completion.h"
#include "cmd/options.h"
#include "unit.h"

static const struct cmd_option stop_options[] = {
    {'t', 't', "timeout", "<seconds>", "Timeout"},
    {CMD_OPT_LONG, 0, "old-timeout", "<seconds>", NULL},
    {0},
};
static const struct cmd_spec stop = {.name = "stop",
                                     .abstract = "Stop",
                                     .usage = "tart stop",
                                     .options = stop_options,
                                     .vm_arg = CMD_VM_LOCAL};
static const struct cmd_spec clone = {
    .name = "clone", .abstract = "Clone", .usage = "tart clone", .vm_arg = CMD_VM_ANY};
static const struct cmd_spec fqn = {
    .name = "fqn", .abstract = "Fqn", .usage = "tart fqn", .vm_arg = CMD_VM_ANY};
static const struct cmd_spec net = {
    .name = "network", .abstract = "Net", .usage = "tart network", .subcommands = "up down"};
static const struct cmd_spec import = {.name = "import", .abstract = "Import", .usage = "tart import"};

static const struct completion_verb verbs[] = {
    {&stop, false}, {&clone, false}, {&net, false}, {&import, false}, {&fqn, true},
};

static char *script(const char *shell, const struct completion_verb *v, size_t n)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  tart_error_t err = NULL;
  assert_int_equal(completion_script(f, shell, v, n, &err), 0);
  fclose(f);
  return buf;
}

static void test_bash(void **state)
{
  (void)state;
  char *s = script("bash", verbs, sizeof(verbs) / sizeof(verbs[0]));
  /* Verbs but the hidden one. */
  assert_non_null(strstr(s, "compgen -W \"stop clone network import --debug --version --help\""));
  /* Flags from the table: the hidden option left out, --help last. */
  assert_non_null(strstr(s, "    stop) flags=\"--timeout --help\" ;;\n"));
  assert_non_null(strstr(s, "    import) flags=\"--help\" ;;\n"));
  assert_null(strstr(s, "old-timeout"));
  assert_null(strstr(s, "fqn) flags"));
  assert_non_null(strstr(s, "  network) [[ $COMP_CWORD -eq $((i + 1)) ]] && words=\"up down\" ;;\n"));
  assert_non_null(strstr(s, "  stop) words=$(command tart list --quiet --source local 2>/dev/null) ;;\n"));
  /* A hidden verb's argument still completes. */
  assert_non_null(strstr(s, "  clone|fqn) words=$(command tart list --quiet 2>/dev/null) ;;\n"));
  free(s);
}

static void test_zsh(void **state)
{
  (void)state;
  char *s = script("zsh", verbs, sizeof(verbs) / sizeof(verbs[0]));
  assert_non_null(strstr(s, "  verbs=(stop clone network import)\n"));
  assert_non_null(strstr(s, "    stop) flags=(--timeout --help) ;;\n"));
  assert_non_null(strstr(s, "  network) (( CURRENT == i + 1 )) && compadd up down ;;\n"));
  assert_non_null(
      strstr(s, "  stop)\n    names=(${(f)\"$(command tart list --quiet --source local 2>/dev/null)\"})\n"));
  assert_non_null(
      strstr(s, "  clone|fqn)\n    names=(${(f)\"$(command tart list --quiet 2>/dev/null)\"})\n"));
  free(s);
}

static void test_fish(void **state)
{
  (void)state;
  char *s = script("fish", verbs, sizeof(verbs) / sizeof(verbs[0]));
  assert_non_null(strstr(s, "complete -c tart -f -n __fish_use_subcommand -a stop\n"
                            "complete -c tart -n '__fish_seen_subcommand_from stop' -l timeout\n"
                            "complete -c tart -n '__fish_seen_subcommand_from stop' -l help\n"));
  assert_null(strstr(s, "-a fqn"));
  assert_non_null(strstr(s, "complete -c tart -f -n '__fish_seen_subcommand_from network' -a 'up down'\n"));
  assert_non_null(strstr(s,
                         "complete -c tart -f -n '__fish_seen_subcommand_from stop' -a '(command tart list "
                         "--quiet --source local 2>/dev/null)'\n"));
  assert_non_null(strstr(s,
                         "complete -c tart -f -n '__fish_seen_subcommand_from clone fqn' -a '(command tart "
                         "list --quiet 2>/dev/null)'\n"));
  free(s);
}

/* No verb takes a VM name: no empty case pattern, which would not parse. */
static void test_no_vm_verbs(void **state)
{
  (void)state;
  const struct completion_verb only[] = {{&import, false}};
  char *s = script("bash", only, 1);
  assert_null(strstr(s, "tart list"));
  assert_null(strstr(s, "\n  ) "));
  free(s);
  s = script("fish", only, 1);
  assert_null(strstr(s, "tart list"));
  free(s);
}

static void test_unknown_shell(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  assert_int_equal(completion_script(stdout, "tcsh", verbs, 1, &err), -1);
  assert_int_equal(err->exit_code, TART_EXIT_USAGE);
  tart_error_release(&err);
  assert_int_equal(completion_script(stdout, NULL, verbs, 1, &err), -1);
  tart_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bash),        cmocka_unit_test(test_zsh),           cmocka_unit_test(test_fish),
      cmocka_unit_test(test_no_vm_verbs), cmocka_unit_test(test_unknown_shell),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
