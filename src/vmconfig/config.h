/* config.json of a VM (docs/upstream.md, "config.json"), plus our `firmware` key.
 *
 * The parsed document is kept alongside the typed fields so that keys we do
 * not know (future upstream keys, macOS-only keys such as ecid and
 * hardwareModel) survive a rewrite untouched.  Setters update both. */
#ifndef TART_VMCONFIG_CONFIG_H
#define TART_VMCONFIG_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmconfig/mac.h"

#define VMCONFIG_MAX_BYTES (1024 * 1024)

enum vm_os { VM_OS_DARWIN = 0, VM_OS_LINUX };
enum vm_arch { VM_ARCH_ARM64 = 0, VM_ARCH_AMD64 };
enum vm_firmware { VM_FIRMWARE_EFI = 0, VM_FIRMWARE_BIOS };
enum vm_display_unit { VM_DISPLAY_UNIT_NONE = 0, VM_DISPLAY_UNIT_PT, VM_DISPLAY_UNIT_PX };
enum vm_refit { VM_REFIT_UNSET = 0, VM_REFIT_ON, VM_REFIT_OFF };

struct vm_config {
  int version;               /* always 1 */
  enum vm_os os;             /* "darwin" when absent */
  enum vm_arch arch;         /* "arm64" when absent */
  enum vm_firmware firmware; /* "efi" when absent */
  int64_t cpu_count_min;
  int64_t cpu_count;
  uint64_t memory_size_min; /* bytes */
  uint64_t memory_size;     /* bytes */
  struct mac_addr mac;
  int64_t display_width;  /* 1024 when absent */
  int64_t display_height; /* 768 when absent */
  enum vm_display_unit display_unit;
  enum vm_refit display_refit;
  char disk_format[16]; /* "raw" (unknown values read as "raw"), "asif" */
  json_t *doc;          /* the whole document, owned */
};

/* Parse config.json text.  Required keys: version, cpuCountMin, cpuCount,
 * memorySizeMin, memorySize, macAddress; wrong types, a bad MAC, unknown
 * os/arch/firmware values, negative numbers are errors naming the key.
 * Pure: no I/O.  On failure *cfg is left empty (no leak). */
int vm_config_parse(const char *text, size_t len, struct vm_config *cfg, tart_error_t *err);

/* A new Linux config with upstream's defaults: 4 CPUs (min 4), 4096 MiB
 * (min 4096 MiB), display 1024x768, random MAC, diskFormat raw. */
void vm_config_init_linux(struct vm_config *cfg, enum vm_arch arch, enum vm_firmware fw);

/* Serialize, pretty-printed with two-space indentation, keys in document
 * order, trailing newline.  Returns a malloc'ed string. */
char *vm_config_dump(const struct vm_config *cfg);

/* Read / atomically write a config file (write_file_atomic, mode 0644). */
int vm_config_load(const char *path, struct vm_config *cfg, tart_error_t *err);
int vm_config_save(const struct vm_config *cfg, const char *path, tart_error_t *err);

/* Setters keep `doc` in sync. */
void vm_config_set_cpu(struct vm_config *cfg, int64_t cpus);
void vm_config_set_memory(struct vm_config *cfg, uint64_t bytes);
void vm_config_set_mac(struct vm_config *cfg, const struct mac_addr *mac);
/* width/height <= 0 keep the old value. */
void vm_config_set_display(struct vm_config *cfg, int64_t width, int64_t height, enum vm_display_unit unit);
void vm_config_set_display_refit(struct vm_config *cfg, enum vm_refit refit);

void vm_config_clear(struct vm_config *cfg);

const char *vm_os_name(enum vm_os os);
const char *vm_arch_name(enum vm_arch arch);
const char *vm_firmware_name(enum vm_firmware fw);
int vm_arch_parse(const char *s, enum vm_arch *out);         /* "amd64"/"arm64"; -1 otherwise */
int vm_firmware_parse(const char *s, enum vm_firmware *out); /* "efi"/"bios"; -1 otherwise */
enum vm_arch vm_arch_host(void);

/* "1024x768", "1024x768pt", "1920x1080px" */
void vm_config_display_string(const struct vm_config *cfg, char *out, size_t n);

#endif
