/* tart get: one VM's configuration (docs/upstream.md, "Listing and inspecting VMs").  The JSON keys are a
 * contract with Orchard and the GitLab executor. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/storage.h"
#include "storage/vmdir.h"
#include "util/format.h"
#include "util/util.h"
#include "vmconfig/config.h"

static const struct cmd_option get_options[] = {
    {'f', 0, "format", "<format>", "Output format: text or json (default: text)"},
    {0},
};

const struct cmd_spec cmd_get_spec = {
    .name = "get",
    .abstract = "Get a VM's configuration",
    .usage = "tart get <name> [--format <format>]",
    .arguments = "<name>\tVM name.\n",
    .options = get_options,
    .vm_arg = CMD_VM_ANY,
};

int cmd_get(int argc, char **argv, struct tart_ctx *ctx, tart_error_t *err)
{
  bool json = false;
  int c;
  while ((c = cmd_next(argc, argv, &cmd_get_spec, err)) != -1) {
    switch (c) {
    case -2:
      return -1;
    case 'h':
      return cmd_print_help(&cmd_get_spec);
    case 'f':
      if (!strcmp(optarg, "json"))
        json = true;
      else if (strcmp(optarg, "text"))
        return args_usage_error(argv, err, "invalid value for --format: \"%s\" (use text or json)", optarg);
      break;
    }
  }
  if (args_positional(argc, argv, 1, 1, "<name>", err) < 0)
    return -1;
  const char *name = argv[optind];

  _cleanup_free_ char *vm = NULL;
  if (storage_open(&ctx->home, name, &vm, NULL, err) < 0)
    return -1;
  struct vm_config cfg;
  if (vm_dir_config(vm, &cfg, err) < 0)
    return -1;

  char display[64], size[32];
  vm_config_display_string(&cfg, display, sizeof(display));
  snprintf(size, sizeof(size), "%.3f", (double)vm_dir_allocated_bytes(vm) / 1e9);
  unsigned long long disk_gb = vm_dir_size_bytes(vm) / 1000000000ULL;
  unsigned long long mem_mib = cfg.memory_size / 1024 / 1024;
  enum vm_state state = vm_dir_state(vm);

  if (json) {
    json_t *o = json_object();
    json_object_set_new(o, "OS", json_string(vm_os_name(cfg.os)));
    json_object_set_new(o, "CPU", json_integer(cfg.cpu_count));
    json_object_set_new(o, "Memory", json_integer((json_int_t)mem_mib));
    json_object_set_new(o, "Disk", json_integer((json_int_t)disk_gb));
    json_object_set_new(o, "DiskFormat", json_string(cfg.disk_format));
    json_object_set_new(o, "Size", json_string(size));
    json_object_set_new(o, "Display", json_string(display));
    json_object_set_new(o, "Running", json_boolean(state == VM_STATE_RUNNING));
    json_object_set_new(o, "State", json_string(vm_state_name(state)));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(o);
  } else {
    static const char *headers[] = {"OS", "CPU", "Memory", "Disk", "DiskFormat", "Size", "Display", "State"};
    static const bool right[] = {false, true, true, true, false, false, false, false};
    char cpu_s[32], mem_s[32], disk_s[32];
    snprintf(cpu_s, sizeof(cpu_s), "%lld", (long long)cfg.cpu_count);
    snprintf(mem_s, sizeof(mem_s), "%llu", mem_mib);
    snprintf(disk_s, sizeof(disk_s), "%llu", disk_gb);
    const char *row[] = {vm_os_name(cfg.os), cpu_s, mem_s,   disk_s,
                         cfg.disk_format,    size,  display, vm_state_name(state)};
    struct table t;
    table_init(&t, ARRAY_SIZE(headers), headers, right);
    table_add_row(&t, row);
    table_print(&t, stdout);
    table_clear(&t);
  }
  vm_config_clear(&cfg);
  return 0;
}
