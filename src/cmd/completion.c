#include "cmd/completion.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Verbs whose first argument is a local VM, and those that also take a
 * cached OCI name (docs/upstream.md, "Command line and flags"). */
static const char *const local_vm_verbs[] = {"run", "stop", "suspend", "exec",
                                             "ip",  "set",  "rename",  "export"};
static const char *const any_vm_verbs[] = {"clone", "get", "delete", "push", "fqn"};

char *completion_flags(const char *help)
{
  size_t cap = 64, len = 0;
  char *out = xmalloc(cap);
  out[0] = '\0';
  for (const char *line = help; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    const char *p = line, *stop = line + n;
    while (p < stop && *p == ' ')
      p++;
    /* "-q, --quiet": skip the short form. */
    if (p + 4 <= stop && p[0] == '-' && p[1] != '-' && p[2] == ',' && p[3] == ' ')
      p += 4;
    if (p + 2 < stop && p[0] == '-' && p[1] == '-' && isalnum((unsigned char)p[2])) {
      const char *q = p + 2;
      while (q < stop && (isalnum((unsigned char)*q) || *q == '-'))
        q++;
      size_t wl = (size_t)(q - p);
      /* Not already listed (as a whole word). */
      bool dup = false;
      for (const char *s = out; (s = strstr(s, "--")) != NULL; s += 2) {
        if (!strncmp(s, p, wl) && (s[wl] == ' ' || s[wl] == '\0') && (s == out || s[-1] == ' ')) {
          dup = true;
          break;
        }
      }
      if (!dup) {
        if (len + wl + 2 > cap) {
          cap = (len + wl + 2) * 2;
          out = xrealloc(out, cap);
        }
        if (len)
          out[len++] = ' ';
        memcpy(out + len, p, wl);
        len += wl;
        out[len] = '\0';
      }
    }
    line = end ? end + 1 : NULL;
  }
  return out;
}

static void verb_list(FILE *f, const struct completion_verb *verbs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%s", i ? " " : "", verbs[i].name);
}

/* "a|b|c": a case pattern of the words, for bash and zsh alike. */
static void case_pattern(FILE *f, const char *const *words, size_t n)
{
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%s", i ? "|" : "", words[i]);
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
    _cleanup_free_ char *flags = completion_flags(verbs[i].help);
    fprintf(f, "    %s) flags=\"%s\" ;;\n", verbs[i].name, flags);
  }
  fprintf(f, "    esac\n"
             "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
             "    return\n"
             "  fi\n"
             "  local words=\n"
             "  case $verb in\n"
             "  network) [[ $COMP_CWORD -eq $((i + 1)) ]] && words=\"up down status set\" ;;\n");
  fprintf(f, "  ");
  case_pattern(f, local_vm_verbs, ARRAY_SIZE(local_vm_verbs));
  fprintf(f, ") words=$(command tart list --quiet --source local 2>/dev/null) ;;\n  ");
  case_pattern(f, any_vm_verbs, ARRAY_SIZE(any_vm_verbs));
  fprintf(
      f, ") words=$(command tart list --quiet 2>/dev/null) ;;\n"
         "  esac\n"
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
    _cleanup_free_ char *fl = completion_flags(verbs[i].help);
    fprintf(f, "    %s) flags=(%s) ;;\n", verbs[i].name, fl);
  }
  /* compadd takes the names as they are: a ':' in an OCI name needs no
   * escaping, unlike with _describe. */
  fprintf(f, "    esac\n"
             "    compadd -a flags\n"
             "    return\n"
             "  fi\n"
             "  case $verb in\n"
             "  network) (( CURRENT == i + 1 )) && compadd up down status set ;;\n  ");
  case_pattern(f, local_vm_verbs, ARRAY_SIZE(local_vm_verbs));
  fprintf(f, ")\n"
             "    names=(${(f)\"$(command tart list --quiet --source local 2>/dev/null)\"})\n"
             "    compadd -a names ;;\n  ");
  case_pattern(f, any_vm_verbs, ARRAY_SIZE(any_vm_verbs));
  fprintf(f, ")\n"
             "    names=(${(f)\"$(command tart list --quiet 2>/dev/null)\"})\n"
             "    compadd -a names ;;\n"
             "  *) _files ;;\n"
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
    fprintf(f, "complete -c tart -f -n __fish_use_subcommand -a %s\n", verbs[i].name);
    _cleanup_free_ char *fl = completion_flags(verbs[i].help);
    for (char *save = NULL, *w = strtok_r(fl, " ", &save); w; w = strtok_r(NULL, " ", &save))
      fprintf(f, "complete -c tart -n '__fish_seen_subcommand_from %s' -l %s\n", verbs[i].name, w + 2);
  }
  fprintf(f, "complete -c tart -f -n '__fish_seen_subcommand_from network' -a 'up down status set'\n"
             "complete -c tart -f -n '__fish_seen_subcommand_from");
  for (size_t i = 0; i < ARRAY_SIZE(local_vm_verbs); i++)
    fprintf(f, " %s", local_vm_verbs[i]);
  fprintf(f, "' -a '(command tart list --quiet --source local 2>/dev/null)'\n"
             "complete -c tart -f -n '__fish_seen_subcommand_from");
  for (size_t i = 0; i < ARRAY_SIZE(any_vm_verbs); i++)
    fprintf(f, " %s", any_vm_verbs[i]);
  fprintf(f, "' -a '(command tart list --quiet 2>/dev/null)'\n");
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
