/* tart list: local VMs then cached images, each sorted by name (docs/upstream.md, "Listing and inspecting
 * VMs"). Orchard parses the JSON form (Name, Source, State, Running). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "storage/local.h"
#include "storage/oci_cache.h"
#include "storage/proc_locks.h"
#include "storage/vmdir.h"
#include "util/format.h"
#include "util/util.h"

static const struct cmd_option list_options[] = {
    {'s', 0, "source", "<source>",
     "Only display VMs from the specified source (e.g. --source\n"
     "local, --source oci)."},
    {'f', 0, "format", "<format>", "Output format: text or json (default: text)"},
    {'q', 'q', "quiet", NULL, "Only display VM names."},
    {0},
};

const struct cmd_spec cmd_list_spec = {
    .name = "list",
    .abstract = "List created VMs",
    .usage = "tart list [--source <source>] [--format <format>] [--quiet]",
    .options = list_options,
};

struct row {
  const char *source, *name;
  unsigned long long disk_gb, size_gb;
  time_t accessed;
  enum vm_state state;
};

struct collect_job {
  struct vm_list *l;
  const char *source;
  const struct lock_index *idx;
  struct vm_dir_info *infos;
  size_t begin, end;
};

static void *collect_slice(void *arg)
{
  struct collect_job *j = arg;
  for (size_t i = j->begin; i < j->end; i++)
    vm_dir_info(j->l->items[i].path, j->idx, &j->infos[i]);
  return NULL;
}

/* A few stat calls per VM, independent of each other: with thousands of
 * VMs they are spread over the CPUs (list must stay under 100 ms). */
static void collect(struct vm_list *l, const char *source, const struct lock_index *idx, struct row **rows,
                    size_t *n)
{
  if (l->n == 0)
    return;
  struct vm_dir_info *infos = xcalloc(l->n, sizeof(*infos));
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t workers = l->n >= 256 && cpus > 1 ? (size_t)(cpus > 8 ? 8 : cpus) : 1;
  struct collect_job jobs[8];
  pthread_t threads[8];
  bool threaded[8] = {false};
  for (size_t w = 0; w < workers; w++) {
    jobs[w] = (struct collect_job){.l = l,
                                   .source = source,
                                   .idx = idx,
                                   .infos = infos,
                                   .begin = l->n * w / workers,
                                   .end = l->n * (w + 1) / workers};
    /* Slice 0 is ours; a slice whose thread cannot start is done here too. */
    if (w > 0)
      threaded[w] = pthread_create(&threads[w], NULL, collect_slice, &jobs[w]) == 0;
  }
  for (size_t w = 0; w < workers; w++)
    if (!threaded[w])
      collect_slice(&jobs[w]);
  for (size_t w = 1; w < workers; w++)
    if (threaded[w])
      pthread_join(threads[w], NULL);

  *rows = xrealloc(*rows, (*n + l->n) * sizeof(**rows));
  for (size_t i = 0; i < l->n; i++) {
    if (!infos[i].initialized)
      continue;
    struct row *r = &(*rows)[(*n)++];
    r->source = source;
    r->name = l->items[i].name;
    r->disk_gb = infos[i].size / 1000000000ULL;
    r->size_gb = infos[i].allocated / 1000000000ULL;
    r->accessed = infos[i].accessed.tv_sec;
    r->state = infos[i].state;
  }
  free(infos);
}

int cmd_list(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  bool json = false, quiet = false, want_local = true, want_oci = true;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_list_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_list_spec);
    case 'q':
      quiet = true;
      break;
    case 's':
      if (!strcmp(optarg, "local"))
        want_oci = false;
      else if (!strcmp(optarg, "oci"))
        want_local = false;
      else
        return args_usage_error(argv, err, "'%s' is not a valid <source>", optarg);
      break;
    case 'f':
      if (!strcmp(optarg, "json"))
        json = true;
      else if (strcmp(optarg, "text"))
        return args_usage_error(argv, err, "invalid value for --format: \"%s\" (use text or json)", optarg);
      break;
    }
  }
  if (args_positional(argc, argv, 0, 0, "", err) < 0)
    return -1;

  struct vm_list local = {0}, oci = {0};
  struct row *rows = NULL;
  size_t n = 0;
  int ret = 0;
  if (want_local && local_vm_list(&ctx->home, false, &local, err) < 0) {
    ret = -1;
    goto out;
  }
  if (want_oci && oci_cache_list(&ctx->home, false, &oci, err) < 0) {
    ret = -1;
    goto out;
  }
  struct lock_index idx;
  lock_index_load(&idx);
  collect(&local, "local", &idx, &rows, &n);
  collect(&oci, "OCI", &idx, &rows, &n);
  lock_index_clear(&idx);

  if (quiet) {
    for (size_t i = 0; i < n; i++)
      printf("%s\n", rows[i].name);
  } else if (json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
      char when[32];
      format_iso8601(rows[i].accessed, when, sizeof(when));
      json_t *o = json_object();
      json_object_set_new(o, "Source", json_string(rows[i].source));
      _cleanup_free_ char *name = utf8_sanitize(rows[i].name); /* JSON strings are UTF-8 */
      json_object_set_new(o, "Name", json_string(name));
      json_object_set_new(o, "Disk", json_integer((json_int_t)rows[i].disk_gb));
      json_object_set_new(o, "Size", json_integer((json_int_t)rows[i].size_gb));
      json_object_set_new(o, "Accessed", json_string(when));
      json_object_set_new(o, "Running", json_boolean(rows[i].state == VM_STATE_RUNNING));
      json_object_set_new(o, "State", json_string(vm_state_name(rows[i].state)));
      json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(arr);
  } else if (n > 0) {
    static const char *headers[] = {"Source", "Name", "Disk", "Size", "Accessed", "State"};
    static const bool right[] = {false, false, true, true, false, false};
    struct table t;
    table_init(&t, ARRAY_SIZE(headers), headers, right);
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
      char disk[32], size[32], when[64];
      snprintf(disk, sizeof(disk), "%llu", rows[i].disk_gb);
      snprintf(size, sizeof(size), "%llu", rows[i].size_gb);
      format_relative_time(rows[i].accessed, now, when, sizeof(when));
      const char *cells[] = {rows[i].source, rows[i].name, disk, size, when, vm_state_name(rows[i].state)};
      table_add_row(&t, cells);
    }
    table_print(&t, stdout);
    table_clear(&t);
  }
out:
  free(rows);
  vm_list_clear(&local);
  vm_list_clear(&oci);
  return ret;
}
