/* libFuzzer target for `tart run`'s --dir, --disk and --net-user-forward
 * parsers and for the share grouping (qemu_share_exports) and QEMU command
 * line they feed.  The input is lines; a line starting with "d " is a
 * --disk value, "f " a --net-user-forward value, anything else a --dir
 * value.  Checked: no crash or leak; every accepted share is in exactly one
 * export; 9p exports have one member each; virtio-fs tags are unique; the
 * command line builds whenever the grouping succeeded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/cmdline.h"
#include "vmconfig/config.h"
#include "vmconfig/mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ITEMS 16

static void check_exports(const struct qemu_share *sh, size_t n, enum qemu_fs fs, struct vm_config *cfg)
{
  tart_error_t err = NULL;
  struct qemu_export *ex = NULL;
  size_t nex = 0;
  if (qemu_share_exports(sh, n, fs, &ex, &nex, &err) < 0) {
    if (ex != NULL || nex != 0 || err == NULL || err->exit_code != TART_EXIT_USAGE)
      abort();
    tart_error_release(&err);
    return;
  }
  size_t seen[MAX_ITEMS] = {0};
  for (size_t i = 0; i < nex; i++) {
    if (ex[i].n_members == 0 || ex[i].tag == NULL || (fs == QEMU_FS_9P && ex[i].n_members != 1))
      abort();
    for (size_t k = 0; k < ex[i].n_members; k++) {
      if (ex[i].members[k] >= n)
        abort();
      seen[ex[i].members[k]]++;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(ex[i].tag, ex[j].tag) == 0)
        abort();
  }
  for (size_t i = 0; i < n; i++)
    if (seen[i] != 1)
      abort();

  const char *socks[MAX_ITEMS];
  for (size_t i = 0; i < nex; i++)
    socks[i] = "vfs.sock";
  struct qemu_opts o = {
      .cfg = cfg,
      .vm_dir = "/vm",
      .qmp_socket = "qmp.sock",
      .serial = QEMU_SERIAL_NONE,
      .net = QEMU_NET_NONE,
      .shares = sh,
      .n_shares = n,
      .share_fs = fs,
      .virtiofs_sockets = socks,
      .n_virtiofs_sockets = fs == QEMU_FS_VIRTIOFS ? nex : 0,
  };
  char **argv = NULL;
  if (qemu_cmdline_build(&o, &argv, &err) < 0)
    abort();
  qemu_cmdline_free(argv);
  qemu_exports_free(ex, nex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  struct qemu_share shares[MAX_ITEMS];
  size_t ns = 0;
  char *save = NULL;
  for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    tart_error_t err = NULL;
    if (strncmp(line, "d ", 2) == 0) {
      struct qemu_disk d;
      if (qemu_parse_disk_arg(line + 2, &d, &err) == 0) {
        if (d.path == NULL)
          abort();
        qemu_disk_clear(&d);
      }
    } else if (strncmp(line, "f ", 2) == 0) {
      struct qemu_forward f;
      if (qemu_parse_forward_arg(line + 2, &f, &err) == 0 && (f.host_port == 0 || f.guest_port == 0))
        abort();
    } else if (ns < MAX_ITEMS) {
      if (qemu_parse_dir_arg(line, &shares[ns], &err) == 0) {
        if (shares[ns].path == NULL)
          abort();
        ns++;
      }
    }
    tart_error_release(&err);
  }

  struct vm_config cfg;
  vm_config_init_linux(&cfg, VM_ARCH_AMD64, VM_FIRMWARE_BIOS);
  check_exports(shares, ns, QEMU_FS_9P, &cfg);
  check_exports(shares, ns, QEMU_FS_VIRTIOFS, &cfg);
  vm_config_clear(&cfg);
  for (size_t i = 0; i < ns; i++)
    qemu_share_clear(&shares[i]);
  free(s);
  return 0;
}
