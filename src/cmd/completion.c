#include "cmd/completion.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void verb_list(FILE *f, const struct completion_verb *verbs, size_t n)
{
  const char *sep = "";
  for (size_t i = 0; i < n; i++) {
    if (verbs[i].hidden)
      continue;
    fprintf(f, "%s%s", sep, verbs[i].spec->name);
    sep = " ";
  }
}

/* The verbs whose first argument is a VM name of this kind, between before
 * and after, separated by sep ("a|b": a case pattern for bash and zsh
 * alike; "a b" for fish); nothing when no verb takes one. */
static void vm_verbs(FILE *f, const struct completion_verb *verbs, size_t n, enum cmd_vm_arg vm,
                     const char *before, const char *sep, const char *after)
{
  const char *s = before;
  for (size_t i = 0; i < n; i++) {
    if (verbs[i].spec->vm_arg != vm)
      continue;
    fprintf(f, "%s%s", s, verbs[i].spec->name);
    s = sep;
  }
  if (s != before)
    fputs(after, f);
}

static void bash_script(FILE *f, const struct completion_verb *verbs, size_t n)
{
  fprintf(f, "# bash completion for tart: source <(tart --generate-completion-script bash)\n"
             "_tart() {\n"
             "  local cur=${COMP_WORDS[COMP_CWORD]} verb= i\n"
             "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
             "    case ${COMP_WORDS[i]} in -*) ;; *) verb=${COMP_WORDS[i]}; break ;; esac\n"
             "  done\n"
             "  if [[ -z $verb ]]; then\n"
             "    COMPREPLY=($(compgen -W \"");
  verb_list(f, verbs, n);
  fprintf(f, " --debug --version --help\" -- \"$cur\"))\n"
             "    return\n"
             "  fi\n"
             "  if [[ $cur == -* ]]; then\n"
             "    local flags=\n"
             "    case $verb in\n");
  for (size_t i = 0; i < n; i++) {
    if (verbs[i].hidden)
      continue;
    _cleanup_free_ char *flags = cmd_completion_flags(verbs[i].spec);
    fprintf(f, "    %s) flags=\"%s\" ;;\n", verbs[i].spec->name, flags);
  }
  fprintf(f, "    esac\n"
             "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
             "    return\n"
             "  fi\n"
             "  local words=\n"
             "  case $verb in\n");
  for (size_t i = 0; i < n; i++)
    if (verbs[i].spec->subcommands)
      fprintf(f, "  %s) [[ $COMP_CWORD -eq $((i + 1)) ]] && words=\"%s\" ;;\n", verbs[i].spec->name,
              verbs[i].spec->subcommands);
  vm_verbs(f, verbs, n, CMD_VM_LOCAL, "  ", "|",
           ") words=$(command tart list --quiet --source local 2>/dev/null) ;;\n");
  vm_verbs(f, verbs, n, CMD_VM_ANY, "  ", "|", ") words=$(command tart list --quiet 2>/dev/null) ;;\n");
  fprintf(
      f, "  esac\n"
         "  [[ -n $words ]] || return 0 # file names (complete -o default)\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "  # OCI names hold ':' which bash splits words at.\n"
         "  if declare -F __ltrim_colon_completions >/dev/null; then __ltrim_colon_completions \"$cur\"; fi\n"
         "}\n"
         "complete -o default -F _tart tart\n");
}

static void zsh_script(FILE *f, const struct completion_verb *verbs, size_t n)
{
  fprintf(f, "#compdef tart\n"
             "# zsh completion for tart: put it in your $fpath as _tart, or\n"
             "# source <(tart --generate-completion-script zsh)\n"
             "_tart() {\n"
             "  local -a verbs names flags\n"
             "  local verb i\n"
             "  verbs=(");
  verb_list(f, verbs, n);
  fprintf(f, ")\n"
             "  for ((i = 2; i < CURRENT; i++)); do\n"
             "    [[ ${words[i]} == -* ]] || { verb=${words[i]}; break; }\n"
             "  done\n"
             "  if [[ -z $verb ]]; then\n"
             "    compadd -a verbs\n"
             "    compadd -- --debug --version --help\n"
             "    return\n"
             "  fi\n"
             "  if [[ ${words[CURRENT]} == -* ]]; then\n"
             "    case $verb in\n");
  for (size_t i = 0; i < n; i++) {
    if (verbs[i].hidden)
      continue;
    _cleanup_free_ char *fl = cmd_completion_flags(verbs[i].spec);
    fprintf(f, "    %s) flags=(%s) ;;\n", verbs[i].spec->name, fl);
  }
  /* compadd takes the names as they are: a ':' in an OCI name needs no
   * escaping, unlike with _describe. */
  fprintf(f, "    esac\n"
             "    compadd -a flags\n"
             "    return\n"
             "  fi\n"
             "  case $verb in\n");
  for (size_t i = 0; i < n; i++)
    if (verbs[i].spec->subcommands)
      fprintf(f, "  %s) (( CURRENT == i + 1 )) && compadd %s ;;\n", verbs[i].spec->name,
              verbs[i].spec->subcommands);
  vm_verbs(f, verbs, n, CMD_VM_LOCAL, "  ", "|",
           ")\n"
           "    names=(${(f)\"$(command tart list --quiet --source local 2>/dev/null)\"})\n"
           "    compadd -a names ;;\n");
  vm_verbs(f, verbs, n, CMD_VM_ANY, "  ", "|",
           ")\n"
           "    names=(${(f)\"$(command tart list --quiet 2>/dev/null)\"})\n"
           "    compadd -a names ;;\n");
  fprintf(f, "  *) _files ;;\n"
             "  esac\n"
             "}\n"
             "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
             "  _tart \"$@\"\n"
             "else\n"
             "  compdef _tart tart\n"
             "fi\n");
}

static void fish_script(FILE *f, const struct completion_verb *verbs, size_t n)
{
  fprintf(f, "# fish completion for tart: tart --generate-completion-script fish | source\n"
             "complete -c tart -e\n"
             "complete -c tart -n __fish_use_subcommand -l debug -d 'Print debug logs'\n"
             "complete -c tart -n __fish_use_subcommand -l version -d 'Show the version'\n");
  for (size_t i = 0; i < n; i++) {
    if (verbs[i].hidden)
      continue;
    const char *name = verbs[i].spec->name;
    fprintf(f, "complete -c tart -f -n __fish_use_subcommand -a %s\n", name);
    _cleanup_free_ char *fl = cmd_completion_flags(verbs[i].spec);
    for (char *save = NULL, *w = strtok_r(fl, " ", &save); w; w = strtok_r(NULL, " ", &save))
      fprintf(f, "complete -c tart -n '__fish_seen_subcommand_from %s' -l %s\n", name, w + 2);
  }
  for (size_t i = 0; i < n; i++)
    if (verbs[i].spec->subcommands)
      fprintf(f, "complete -c tart -f -n '__fish_seen_subcommand_from %s' -a '%s'\n", verbs[i].spec->name,
              verbs[i].spec->subcommands);
  vm_verbs(f, verbs, n, CMD_VM_LOCAL, "complete -c tart -f -n '__fish_seen_subcommand_from ", " ",
           "' -a '(command tart list --quiet --source local 2>/dev/null)'\n");
  vm_verbs(f, verbs, n, CMD_VM_ANY, "complete -c tart -f -n '__fish_seen_subcommand_from ", " ",
           "' -a '(command tart list --quiet 2>/dev/null)'\n");
}

int completion_script(FILE *f, const char *shell, const struct completion_verb *verbs, size_t n,
                      tart_error_t *err)
{
  if (shell && !strcmp(shell, "bash"))
    bash_script(f, verbs, n);
  else if (shell && !strcmp(shell, "zsh"))
    zsh_script(f, verbs, n);
  else if (shell && !strcmp(shell, "fish"))
    fish_script(f, verbs, n);
  else
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "--generate-completion-script needs a shell: bash, zsh or fish");
  return 0;
}
