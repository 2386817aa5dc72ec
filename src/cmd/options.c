#include "cmd/options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

enum { MAX_OPTIONS = 48, HELP_COLUMN = 26 };

static size_t count_options(const struct cmd_spec *spec)
{
  size_t n = 0;
  while (spec->options && spec->options[n].name)
    n++;
  return n;
}

int cmd_next(int argc, char **argv, const struct cmd_spec *spec, tart_error_t *err)
{
  size_t n = count_options(spec);
  if (n + 2 > MAX_OPTIONS)
    return tart_error_make(err, 0, "tart %s: too many options in its table", spec->name), -2;
  /* Rebuilt on each call: getopt keeps its place in argv, not in these. */
  struct option longopts[MAX_OPTIONS];
  char shortopts[3 * MAX_OPTIONS + 2];
  size_t s = 0;
  if (spec->stop_at_positional)
    shortopts[s++] = '+';
  for (size_t i = 0; i < n; i++) {
    const struct cmd_option *o = &spec->options[i];
    longopts[i] = (struct option){o->name, o->value ? required_argument : no_argument, NULL, o->id};
    if (o->short_name) {
      shortopts[s++] = o->short_name;
      if (o->value)
        shortopts[s++] = ':';
    }
  }
  longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[n + 1] = (struct option){0};
  shortopts[s++] = 'h';
  shortopts[s] = '\0';
  return args_next(argc, argv, shortopts, longopts, err);
}

/* Append to a growing string. */
struct text {
  char *s;
  size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->s = xrealloc(t->s, t->cap);
  }
  memcpy(t->s + t->len, s, n);
  t->len += n;
  t->s[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
  put(t, s, strlen(s));
}

static void pad_to(struct text *t, size_t line_start, size_t column)
{
  while (t->len - line_start < column)
    put(t, " ", 1);
}

/* "  <label>" then its description lines from column 26; a label too long
 * for the column stands on its own line. */
static void entry(struct text *t, const char *label, const char *desc)
{
  size_t start = t->len;
  puts_(t, "  ");
  puts_(t, label);
  if (t->len - start >= HELP_COLUMN) {
    puts_(t, "\n");
    start = t->len;
  }
  for (const char *line = desc; line;) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    pad_to(t, start, HELP_COLUMN);
    put(t, line, n);
    puts_(t, "\n");
    start = t->len;
    line = end ? end + 1 : NULL;
  }
}

char *cmd_help_text(const struct cmd_spec *spec)
{
  struct text t = {0};
  puts_(&t, "OVERVIEW: ");
  puts_(&t, spec->abstract);
  puts_(&t, "\n");
  if (spec->discussion) {
    puts_(&t, "\n");
    puts_(&t, spec->discussion);
    if (t.s[t.len - 1] != '\n')
      puts_(&t, "\n");
  }
  puts_(&t, "\nUSAGE: ");
  puts_(&t, spec->usage);
  puts_(&t, "\n");
  if (spec->arguments) {
    /* A verb whose first argument is a subcommand (network) lists them
     * under SUBCOMMANDS, as `tart --help` lists the verbs. */
    puts_(&t, spec->subcommands ? "\nSUBCOMMANDS:\n" : "\nARGUMENTS:\n");
    /* "<name>\tdescription\n", continuation lines "\tmore\n". */
    for (const char *line = spec->arguments; *line;) {
      const char *end = strchr(line, '\n');
      size_t n = end ? (size_t)(end - line) : strlen(line);
      _cleanup_free_ char *l = xasprintf("%.*s", (int)n, line);
      char *tab = strchr(l, '\t');
      if (tab == NULL) {
        entry(&t, l, "");
      } else if (tab == l) {
        size_t start = t.len;
        pad_to(&t, start, HELP_COLUMN);
        puts_(&t, tab + 1);
        puts_(&t, "\n");
      } else {
        *tab = '\0';
        entry(&t, l, tab + 1);
      }
      line = end ? end + 1 : line + n;
    }
  }
  puts_(&t, "\nOPTIONS:\n");
  for (size_t i = 0; spec->options && spec->options[i].name; i++) {
    const struct cmd_option *o = &spec->options[i];
    if (o->help == NULL)
      continue;
    const char *sp = o->value ? " " : "", *v = o->value ? o->value : "";
    _cleanup_free_ char *label = o->short_name ? xasprintf("-%c, --%s%s%s", o->short_name, o->name, sp, v)
                                               : xasprintf("--%s%s%s", o->name, sp, v);
    entry(&t, label, o->help);
  }
  entry(&t, "-h, --help", "Show help information.");
  return t.s;
}

/* ---- man pages ---- */

/* s as roff text: backslashes escaped, '-' as \-, and a line that would
 * start with '.' or '\'' (a request) made literal.  newline_as: what a
 * '\n' of s becomes ("\n" keeps lines, " " joins them). */
static void roff(struct text *t, const char *s, const char *newline_as)
{
  bool line_start = t->len == 0 || t->s[t->len - 1] == '\n';
  for (const char *p = s; *p; p++) {
    if (line_start && (*p == '.' || *p == '\''))
      puts_(t, "\\&");
    line_start = false;
    switch (*p) {
    case '\\':
      puts_(t, "\\e");
      break;
    case '-':
      puts_(t, "\\-");
      break;
    case '\n':
      puts_(t, newline_as);
      line_start = newline_as[0] == '\n';
      break;
    default: {
      char c[2] = {*p, '\0'};
      puts_(t, c);
    }
    }
  }
}

static void upper(struct text *t, const char *s)
{
  for (const char *p = s; *p; p++) {
    char c[2] = {(char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p), '\0'};
    puts_(t, c);
  }
}

char *cmd_man_page(const struct cmd_spec *spec, const char *program, const char *version)
{
  struct text t = {0};
  puts_(&t, ".TH ");
  upper(&t, program);
  puts_(&t, "\\-");
  upper(&t, spec->name);
  puts_(&t, " 1 \"\" \"");
  puts_(&t, program);
  puts_(&t, " ");
  roff(&t, version, " ");
  puts_(&t, "\" \"User Commands\"\n.SH NAME\n");
  roff(&t, program, " ");
  puts_(&t, "\\-");
  roff(&t, spec->name, " ");
  puts_(&t, " \\- ");
  roff(&t, spec->abstract, " ");
  puts_(&t, "\n.SH SYNOPSIS\n.nf\n");
  roff(&t, spec->usage, "\n");
  puts_(&t, "\n.fi\n");
  if (spec->discussion) {
    puts_(&t, ".SH DESCRIPTION\n");
    /* Paragraphs are separated by blank lines; their lines are joined. */
    for (const char *p = spec->discussion; *p;) {
      const char *end = strstr(p, "\n\n");
      size_t n = end ? (size_t)(end - p) : strlen(p);
      _cleanup_free_ char *para = xasprintf("%.*s", (int)n, p);
      roff(&t, para, " ");
      puts_(&t, "\n.PP\n");
      p = end ? end + 2 : p + n;
    }
  }
  if (spec->arguments) {
    puts_(&t, spec->subcommands ? ".SH SUBCOMMANDS\n" : ".SH ARGUMENTS\n");
    for (const char *line = spec->arguments; *line;) {
      const char *end = strchr(line, '\n');
      size_t n = end ? (size_t)(end - line) : strlen(line);
      _cleanup_free_ char *l = xasprintf("%.*s", (int)n, line);
      char *tab = strchr(l, '\t');
      if (tab == l) {
        roff(&t, tab + 1, " ");
        puts_(&t, "\n");
      } else {
        if (tab)
          *tab = '\0';
        puts_(&t, ".TP\n.B ");
        roff(&t, l, " ");
        puts_(&t, "\n");
        if (tab) {
          roff(&t, tab + 1, " ");
          puts_(&t, "\n");
        }
      }
      line = end ? end + 1 : line + n;
    }
  }
  puts_(&t, ".SH OPTIONS\n");
  for (size_t i = 0; spec->options && spec->options[i].name; i++) {
    const struct cmd_option *o = &spec->options[i];
    if (o->help == NULL)
      continue;
    puts_(&t, ".TP\n.B ");
    if (o->short_name) {
      char c[2] = {o->short_name, '\0'};
      puts_(&t, "\\-");
      puts_(&t, c);
      puts_(&t, ", ");
    }
    puts_(&t, "\\-\\-");
    roff(&t, o->name, " ");
    if (o->value) {
      puts_(&t, " ");
      roff(&t, o->value, " ");
    }
    puts_(&t, "\n");
    roff(&t, o->help, " ");
    puts_(&t, "\n");
  }
  puts_(&t, ".TP\n.B \\-h, \\-\\-help\nShow help information.\n.SH SEE ALSO\n.BR ");
  roff(&t, program, " ");
  puts_(&t, " (1)\n");
  return t.s;
}

int cmd_print_help(const struct cmd_spec *spec)
{
  _cleanup_free_ char *text = cmd_help_text(spec);
  fputs(text, stdout);
  return 0;
}

char *cmd_completion_flags(const struct cmd_spec *spec)
{
  struct text t = {0};
  puts_(&t, "");
  for (size_t i = 0; spec->options && spec->options[i].name; i++) {
    if (spec->options[i].help == NULL)
      continue;
    puts_(&t, "--");
    puts_(&t, spec->options[i].name);
    puts_(&t, " ");
  }
  puts_(&t, "--help");
  return t.s;
}
