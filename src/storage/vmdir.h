/* A VM directory: config.json, disk.img, nvram.bin (docs/upstream.md, "Storage layout"), wherever it is
 * (vms/<name>, an OCI cache entry, a tmp entry).
 *
 * Running state: `tart run` holds an fcntl write lock on config.json for the
 * VM's lifetime; F_GETLK from any other process yields its PID.  Suspended:
 * state.qemusave exists.  Otherwise stopped. */
#ifndef TART_STORAGE_VMDIR_H
#define TART_STORAGE_VMDIR_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "util/error.h"

#define VM_FILE_CONFIG "config.json"
#define VM_FILE_DISK   "disk.img"
#define VM_FILE_NVRAM  "nvram.bin"
#define VM_FILE_STATE  "state.qemusave"
/* Beside a state file: the devices it was saved with (JSON: "devices", the
 * words of qemu_device_summary; "options", the run's device options as
 * typed), so that a restore onto other devices fails in one line that says
 * what to pass.  Meaningless without the state file. */
#define VM_FILE_STATE_DEVICES "state.devices.json"

/* While a run lives (vm/run.h), in the VM directory: sockets are opened by
 * these relative names from inside it, so that long $TART_HOME paths work. */
#define VM_QMP_SOCKET      "qmp.sock"
#define VM_QGA_SOCKET      "qga.sock"
#define VM_MONITOR_SOCKET  "monitor.sock"   /* QMP for other programs (screendump, debugging) */
#define VM_PROBE_SOCKET    "probe.sock"     /* the KVM probe's QMP (vm/accel.c) */
#define VM_CLOUD_INIT_SEED "cloud-init.iso" /* run --cloud-init: the NoCloud seed */
#define VM_NET_STATE       "net.json"       /* the network mode, for `tart ip` */
/* virtio-fs daemons' sockets are vfs<N>.sock (qemu/virtiofsd.h). */

/* Under logs/, kept after the run. */
#define VM_LOGS_DIR      "logs"
#define VM_QEMU_LOG      "qemu.log"      /* QEMU's stderr, appended to by every run */
#define VM_VIRTIOFSD_LOG "virtiofsd.log" /* the virtio-fs daemons' output */
#define VM_CONSOLE_LOG   "console.log"   /* the serial console when no other is asked for */
#define VM_FIRMWARE_LOG  "firmware.log"  /* the firmware's debug port (amd64), this boot's */
#define VM_RUN_LOG       "run.log"       /* our own output after --detach */
#define VM_RUN_ERROR     "run.error"     /* why the last run ended on its own (vm_run_error) */
#define VM_SUSPEND_ERROR "suspend.error" /* why the last suspend request failed */

enum vm_state { VM_STATE_STOPPED = 0, VM_STATE_RUNNING, VM_STATE_SUSPENDED };

const char *vm_state_name(enum vm_state s);

/* dir/file, malloc'ed. */
char *vm_dir_file(const char *dir, const char *file);

/* All three VM files exist. */
bool vm_dir_initialized(const char *dir);

/* Missing directory: "the specified VM \"<name>\" does not exist" (exit 2);
 * missing files: upstream's "VM is missing some of its files ...". */
int vm_dir_validate(const char *dir, const char *name, tart_error_t *err);

/* PID of the process holding the run lock on dir/config.json, or 0. */
pid_t vm_dir_running_pid(const char *dir);
enum vm_state vm_dir_state(const char *dir);

/* Wait, polling every 100 ms, until no process holds the run lock; true if
 * that happened within ms milliseconds. */
bool vm_dir_wait_stopped(const char *dir, long ms);

/* Take the run lock: opens config.json read-write and write-locks it without
 * waiting.  *fd receives the descriptor (keep it open: closing ANY fd of
 * config.json in this process drops the lock).  Held elsewhere: "VM \"<name>\"
 * is already running!" (exit 2). */
int vm_dir_lock_running(const char *dir, const char *name, int *fd, tart_error_t *err);

/* Take a shared (read) record lock on config.json while reading the VM
 * (push, export): `run` cannot start meanwhile, and `list` still shows the
 * VM as stopped since only write locks mean "running".  Held by a run:
 * "VM \"<name>\" is running" (exit 1). */
int vm_dir_lock_reading(const char *dir, const char *name, int *fd, tart_error_t *err);

/* Mark the VM as used now: the directory's atime drives `Accessed` and
 * pruning order. */
int vm_dir_touch(const char *dir, tart_error_t *err);
/* Last access time of the directory. */
struct timespec vm_dir_access_time(const char *dir);

/* Everything `list` shows about a VM directory, gathered with one stat per
 * file (list must stay fast with thousands of VMs). */
struct vm_dir_info {
  bool initialized;             /* config, disk and nvram all exist */
  unsigned long long size;      /* apparent bytes of the three files */
  unsigned long long allocated; /* allocated bytes of the three files */
  struct timespec accessed;     /* the directory's atime */
  enum vm_state state;
};
struct lock_index;
/* idx (may be NULL) lets a VM whose config.json holds no POSIX lock skip
 * the open + F_GETLK. */
void vm_dir_info(const char *dir, const struct lock_index *idx, struct vm_dir_info *out);

/* The one place a VM directory's config.json is read: dir/config.json
 * into *cfg (vm_config_clear it), or just its MAC address. */
struct vm_config;
struct mac_addr;
int vm_dir_config(const char *dir, struct vm_config *cfg, tart_error_t *err);
int vm_dir_mac(const char *dir, struct mac_addr *mac, tart_error_t *err);

/* Sizes of config + disk + nvram: apparent and allocated bytes. */
unsigned long long vm_dir_size_bytes(const char *dir);
unsigned long long vm_dir_allocated_bytes(const char *dir);

#endif
