/* virtiofsd for `tart run --dir` over virtio-fs (docs/design.md, "Shares", docs/upstream.md, "Directory
 * shares").
 *
 * One virtiofsd per export (qemu_share_exports: one per mount tag), each
 * serving a directory <vm>/virtiofs/<N> that tart makes and that is only a
 * mount point: virtiofsd runs in a mount namespace of its own in which the
 * shared directories are bind-mounted there, read-only ones remounted
 * read-only.  That gives upstream's semantics with a daemon that serves one
 * tree:
 *   - a single unnamed share: its directory is the export's root;
 *   - named shares: the root is an empty read-only directory holding one
 *     subdirectory per name;
 *   - `ro`: writes fail with EROFS in the guest (the C virtiofsd has no
 *     read-only option of its own).
 * The binds exist only in virtiofsd's namespace, so the host sees nothing
 * and a killed run leaves no mount behind: the namespace dies with the
 * daemon.  tart only ever rmdir()s those directories (never deletes
 * recursively), so a mistake cannot remove shared data.
 *
 * The vhost-user socket <vm>/vfs<N>.sock is created and listening before
 * virtiofsd starts (it gets the descriptor with --fd), so QEMU can connect
 * at once: there is no wait for the daemon.  virtiofsd exits when QEMU
 * closes the connection; it gets SIGKILL when its parent dies.
 *
 * virtiofsd needs root (namespaces, any file owner); callers use 9p for
 * other users (qemu_fs in qemu/cmdline.h). */
#ifndef TART_QEMU_VIRTIOFSD_H
#define TART_QEMU_VIRTIOFSD_H

#include <stdbool.h>
#include <sys/types.h>

#include "qemu/cmdline.h"
#include "util/error.h"

#define VIRTIOFSD_DIR "virtiofs" /* under the VM directory: the exports' roots */

struct virtiofsd {
  pid_t pid;      /* -1: not running */
  char *socket;   /* "vfs<N>.sock", relative to the VM directory (QEMU's cwd) */
  char *root;     /* <vm>/virtiofs/<N> */
  char **subdirs; /* mount points made under root (named shares), for cleanup */
  size_t n_subdirs;
};

/* The virtiofsd to use: $TART_VIRTIOFSD when set (empty: none), else
 * /usr/lib/qemu/virtiofsd (Debian's QEMU), /usr/libexec/virtiofsd, then
 * "virtiofsd" on PATH.  Malloc'ed path of an executable file, or NULL. */
char *virtiofsd_find(void);

/* Start virtiofsd `binary` for export number `index` of the VM in vm_dir
 * (absolute), serving export e of shares.  Every member's path must be a
 * directory (checked here: "--dir <path>: not a directory").  Output goes
 * to <vm>/logs/virtiofsd.log.  A failure before virtiofsd runs (a bind
 * mount, the exec) is reported here in one line; *d is then cleared. */
int virtiofsd_start(const char *binary, const char *vm_dir, size_t index, const struct qemu_export *e,
                    const struct qemu_share *shares, struct virtiofsd *d, tart_error_t *err);

/* Has the daemon failed: exited (reaped here) with a non-zero status or a
 * signal?  A clean exit is virtiofsd's answer to QEMU closing the
 * connection, so it says nothing about why QEMU stopped.  False for one
 * never started. */
bool virtiofsd_failed(struct virtiofsd *d);

/* Stop (SIGTERM, then SIGKILL after timeout_ms), reap, remove the socket
 * and the mount-point directories, free.  Safe on a cleared struct and
 * twice. */
void virtiofsd_stop(struct virtiofsd *d, const char *vm_dir, int timeout_ms);

/* Remove what a run killed with SIGKILL left in vm_dir: vfs*.sock sockets
 * and the empty directories under virtiofs/ (rmdir only). */
void virtiofsd_cleanup_dir(const char *vm_dir);

#endif
