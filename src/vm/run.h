/* `tart run`: a VM's life while it runs, one QEMU child supervised in the
 * foreground (docs/design.md, "Running a VM").
 *
 * The run is a session (vm/session.h) taken through its steps, one file
 * each: prepare (vm/prepare.c: lock, config, firmware, shares, network,
 * disks), pick the accelerator (vm/accel.c), launch QEMU (vm/launch.c),
 * supervise it (vm/supervise.c: QMP events, run states, logs), answer the
 * run-control requests (vm/control.c: stop, suspend, guest stop; both
 * halves), and tear down (vm/run.c).
 *
 * The run process holds the VM's run lock for its whole life (that is what
 * makes the VM "running" for every other command), owns the QMP connection,
 * and answers the requests of vm/control.h.  QEMU runs in its own process
 * group (terminal signals reach only us) with a parent-death signal, so a
 * `tart run` killed with SIGKILL takes QEMU with it and leaves nothing that
 * blocks the next run.  Sockets live in the VM directory and are opened by
 * relative name from inside it (storage/vmdir.h), so long $TART_HOME paths
 * work. */
#ifndef TART_VM_RUN_H
#define TART_VM_RUN_H

#include <stdbool.h>
#include <time.h>

#include "net/attach.h"
#include "qemu/cmdline.h"
#include "storage/home.h"
#include "storage/vmdir.h"
#include "util/error.h"

#define VM_MAX_SHARES 16 /* --dir options of one run */
#define VM_MAX_DISKS  16 /* --disk options of one run, the cloud-init seed included */

struct run_opts {
  enum qemu_display display;
  enum qemu_serial serial;
  const char *serial_path; /* --serial-path */
  const struct qemu_forward *forwards;
  size_t n_forwards;
  const struct qemu_disk *disks;
  size_t n_disks; /* at most VM_MAX_DISKS */
  /* --cloud-init: the user-data (read by the caller, so that a --detach
   * child, whose stdin is /dev/null, need not), given to the guest as a
   * NoCloud seed (cloudinit/nocloud.h) attached read-only after the disks;
   * NULL: none. */
  const char *cloud_init;
  size_t cloud_init_len;
  const struct qemu_share *shares;
  size_t n_shares;
  bool nested;
  /* --root-disk-opts: ro, sync and caching of disk.img (its path unused). */
  struct qemu_disk root_disk;
  bool no_keyboard, no_pointer; /* --no-keyboard, --no-pointer */
  /* --suspendable: --dir shares use 9p, whose state QEMU can save (once
   * the guest unmounts them), instead of virtio-fs, which blocks suspend. */
  bool suspendable;
  /* The run's device options as typed (--disk, --dir, --cloud-init,
   * --net-bridged), kept with a suspended state to say how to resume it;
   * NULL: none. */
  const char *device_args;
  struct net_request net;
  /* --detach: once the VM runs (QMP up, VNC/pty announced), write one byte
   * to ready_fd, close it and send our stdout/stderr to logs/run.log.
   * -1: stay attached. */
  int ready_fd;
};

/* How --dir shares reach the guest (docs/design.md, "Shares": virtio-fs where virtiofsd
 * exists, otherwise 9p).  $TART_DIR_SHARING=9p|virtiofs forces one (an
 * unusable virtiofs is then an error).  Otherwise virtio-fs when a
 * virtiofsd is found (virtiofsd_find), we are root (it needs namespaces and
 * must read files of any owner), the run is not --suspendable and not a
 * restore (a suspended VM was saved with 9p devices and must get them
 * back); else 9p.  *virtiofsd gets the daemon's path (malloc'ed) for
 * virtio-fs.  Errors: an unknown $TART_DIR_SHARING (exit 64), or virtio-fs
 * forced where it cannot work. */
int vm_pick_share_fs(bool suspendable, bool restore, enum qemu_fs *fs, char **virtiofsd, tart_error_t *err);

/* Run VM `name` until the guest powers off (0), or a stop/suspend request
 * completes (0).  Failures to start are errors; "already running" exits 2.
 *
 * The accelerator is chosen by qemu/accel.h; in auto mode a KVM that stops
 * the guest at its first instructions makes the same VM start again under
 * TCG.  A guest that stops running without being asked (qemu/runstate.h:
 * internal error, kernel panic, host disk full, reset loop, nothing to
 * boot) ends the run with an error naming what happened and the log to
 * read; QEMU is gone and the VM can run again.  Every error after the VM
 * was locked is also written to logs/run.error for vm_run_error. */
int vm_run(struct tart_home *h, const char *name, const struct run_opts *o, tart_error_t *err);

/* --detach: vm_run in a background child (its own session, stdin from
 * /dev/null) that tells us once the VM runs.  Returns in both processes:
 * in the child when its run ends (vm_run's result); in the caller once the
 * VM runs (0, *exit_code 0) or the child ended first (0, *exit_code its
 * exit code: it has printed its error on our stderr already). */
int vm_run_detached(struct tart_home *h, const char *name, const struct run_opts *o, int *exit_code,
                    tart_error_t *err);

/* Why the VM's last run ended with an error, when that was written at or
 * after `since` (so a run of earlier days is not taken for this one): 1
 * and the line in out, or 0. */
int vm_run_error(const char *vm_dir, time_t since, char *out, size_t n);

/* What a running VM's net.json says: its network mode and, for modes on the
 * NAT network, that network's state directory (malloc'ed, or NULL).
 * Returns 0, or -1 when there is no such file (VM not running, or started
 * by an older tart). */
int vm_net_state(const char *vm_dir, enum net_mode *mode, char **net_dir);

#endif
