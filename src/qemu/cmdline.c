#include "qemu/cmdline.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

#define MIB (1024ULL * 1024ULL)

/* ---- argv vector ---------------------------------------------------- */

struct vec {
  char **v;
  size_t n, cap;
};

static void vec_push(struct vec *v, char *s)
{
  if (v->n + 2 > v->cap) {
    v->cap = v->cap ? v->cap * 2 : 64;
    v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
  }
  v->v[v->n++] = s;
  v->v[v->n] = NULL;
}

static void add(struct vec *v, const char *s)
{
  vec_push(v, xstrdup(s));
}

__attribute__((format(printf, 2, 3))) static void addf(struct vec *v, const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (r < 0)
    abort();
  vec_push(v, s);
}

static void vec_free(struct vec *v)
{
  qemu_cmdline_free(v->v);
  v->v = NULL;
  v->n = v->cap = 0;
}

void qemu_cmdline_free(char **argv)
{
  if (argv == NULL)
    return;
  for (char **p = argv; *p; p++)
    free(*p);
  free(argv);
}

/* ---- small string helpers -------------------------------------------- */

const char *qemu_binary_for(enum vm_arch arch)
{
  return arch == VM_ARCH_ARM64 ? "qemu-system-aarch64" : "qemu-system-x86_64";
}

char *qemu_opt_escape(const char *s)
{
  size_t extra = 0;
  for (const char *p = s; *p; p++)
    extra += *p == ',';
  char *out = xmalloc(strlen(s) + extra + 1);
  char *o = out;
  for (const char *p = s; *p; p++) {
    *o++ = *p;
    if (*p == ',')
      *o++ = ',';
  }
  *o = '\0';
  return out;
}

static bool word_is_safe(const char *s)
{
  if (*s == '\0')
    return false;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr("-_./:=,+@%", c) != NULL))
      return false;
  }
  return true;
}

char *qemu_cmdline_string(char *const *argv)
{
  size_t len = 1;
  for (char *const *p = argv; p && *p; p++)
    len += strlen(*p) * 4 + 3;
  char *out = xmalloc(len);
  char *o = out;
  for (char *const *p = argv; p && *p; p++) {
    if (p != argv)
      *o++ = ' ';
    if (word_is_safe(*p)) {
      size_t l = strlen(*p);
      memcpy(o, *p, l);
      o += l;
      continue;
    }
    *o++ = '\'';
    for (const char *c = *p; *c; c++) {
      if (*c == '\'') {
        memcpy(o, "'\\''", 4);
        o += 4;
      } else {
        *o++ = *c;
      }
    }
    *o++ = '\'';
  }
  *o = '\0';
  return out;
}

static char *path_join(const char *dir, const char *file)
{
  size_t l = strlen(dir);
  if (l == 0)
    return xstrdup(file);
  return xasprintf("%s%s%s", dir, dir[l - 1] == '/' ? "" : "/", file);
}

/* QEMU reads "foo:bar" in -drive file= as protocol "foo" (path_has_protocol:
 * a ':' before any '/').  "./" makes such a relative name a plain file. */
static bool looks_like_protocol(const char *p)
{
  size_t n = strcspn(p, ":/");
  return p[n] == ':';
}

static char *drive_file(const char *path)
{
  _cleanup_free_ char *plain = looks_like_protocol(path) ? xasprintf("./%s", path) : xstrdup(path);
  return qemu_opt_escape(plain);
}

/* "scheme://..." with scheme made of [A-Za-z0-9+.-]: returns the scheme length, else 0. */
static size_t url_scheme_len(const char *p)
{
  size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
  if (n > 0 && strncmp(p + n, "://", 3) == 0)
    return n;
  return 0;
}

static const char *basename_of(const char *dir, char *buf, size_t n)
{
  size_t l = strlen(dir);
  while (l > 1 && dir[l - 1] == '/')
    l--;
  size_t start = l;
  while (start > 0 && dir[start - 1] != '/')
    start--;
  size_t len = l - start;
  if (len >= n)
    len = n - 1;
  memcpy(buf, dir + start, len);
  buf[len] = '\0';
  return buf;
}

static void quote(const char *s, char *out, size_t n)
{
  str_quote(s ? s : "", 80, out, n);
}

/* ---- pieces of the command line -------------------------------------- */

static void add_machine(struct vec *v, const struct qemu_opts *o)
{
  bool arm = o->cfg->arch == VM_ARCH_ARM64;
  /* vhost-user (virtiofsd) maps the guest's RAM: it must be shared memory. */
  bool shared_ram = o->share_fs == QEMU_FS_VIRTIOFS && o->n_shares > 0;
  add(v, "-machine");
  addf(v, "%s%s",
       !arm        ? "q35"
       : o->nested ? "virt,gic-version=max,virtualization=on"
                   : "virt,gic-version=max",
       shared_ram ? ",memory-backend=" QEMU_RAM_ID : "");
  if (shared_ram) {
    add(v, "-object");
    addf(v, "memory-backend-memfd,id=" QEMU_RAM_ID ",size=%lluM,share=on",
         (unsigned long long)((o->cfg->memory_size + MIB - 1) / MIB));
  }
  /* The guest gets the devices tart gives it and no others: QEMU's
   * defaults add an empty CD-ROM, a parallel port and more (issue: guests
   * saw a CD-ROM nobody attached).  amd64 keeps its standard VGA, which the
   * defaults gave and the display needs. */
  if (o->nodefaults) {
    add(v, "-nodefaults");
    if (!arm) {
      add(v, "-vga");
      add(v, "std");
    }
  }
  add(v, "-accel");
  add(v, o->kvm ? "kvm" : "tcg");
  add(v, "-cpu");
  if (o->kvm)
    add(v, "host");
  else
    add(v, arm ? "max,pauth-impdef=on" : "max");
  add(v, "-smp");
  addf(v, "%lld", (long long)o->cfg->cpu_count);
  add(v, "-m");
  addf(v, "%lluM", (unsigned long long)((o->cfg->memory_size + MIB - 1) / MIB));
}

static void add_firmware(struct vec *v, const struct qemu_opts *o)
{
  if (o->cfg->firmware != VM_FIRMWARE_EFI)
    return;
  _cleanup_free_ char *code = drive_file(o->firmware_code);
  _cleanup_free_ char *nvram = path_join(o->vm_dir, "nvram.bin");
  _cleanup_free_ char *vars = drive_file(nvram);
  add(v, "-drive");
  addf(v, "if=pflash,format=raw,unit=0,readonly=on,file=%s", code);
  add(v, "-drive");
  addf(v, "if=pflash,format=raw,unit=1,file=%s", vars);
}

static const char *cache_mode(const struct qemu_disk *d)
{
  bool direct = d->caching == QEMU_CACHING_UNCACHED;
  bool no_flush = d->sync == QEMU_SYNC_NONE;
  if (direct && no_flush)
    return "cache.direct=on,cache.no-flush=on";
  if (direct)
    return "cache=none";
  if (no_flush)
    return "cache=unsafe";
  return "cache=writeback";
}

static int add_disks(struct vec *v, const struct qemu_opts *o, tart_error_t *err)
{
  _cleanup_free_ char *root = path_join(o->vm_dir, "disk.img");
  _cleanup_free_ char *root_file = drive_file(root);
  add(v, "-drive");
  addf(v, "file=%s,format=raw,if=none,id=root,discard=unmap,detect-zeroes=unmap,%s%s", root_file,
       cache_mode(&o->root), o->root.readonly ? ",readonly=on" : "");
  add(v, "-device");
  add(v, "virtio-blk-pci,drive=root,bootindex=0");

  for (size_t i = 0; i < o->n_extra_disks; i++) {
    const struct qemu_disk *d = &o->extra_disks[i];
    if (d->path == NULL || *d->path == '\0')
      return tart_error_exit(err, TART_EXIT_USAGE, 0, "extra disk %zu: empty path", i + 1);
    _cleanup_free_ char *file = NULL;
    size_t sl = url_scheme_len(d->path);
    if (sl > 0) {
      if (!((sl == 3 && strncmp(d->path, "nbd", 3) == 0) ||
            (sl == 8 && strncmp(d->path, "nbd+unix", 8) == 0))) {
        char q[128];
        quote(d->path, q, sizeof(q));
        return tart_error_exit(err, TART_EXIT_USAGE, 0,
                               "disk %s: unsupported URL scheme (supported: nbd://, nbd+unix://)", q);
      }
      file = qemu_opt_escape(d->path);
    } else {
      file = drive_file(d->path);
    }
    add(v, "-drive");
    if (d->readonly)
      addf(v, "file=%s,format=raw,if=none,id=disk%zu,readonly=on,%s", file, i, cache_mode(d));
    else
      addf(v, "file=%s,format=raw,if=none,id=disk%zu,discard=unmap,detect-zeroes=unmap,%s", file, i,
           cache_mode(d));
    /* Every disk gets a place in the boot order after the root disk, so
     * that an empty root disk falls through to an attached installer
     * (docs/upstream.md, "Boot order"); without one OVMF tries only the
     * devices that have one. */
    add(v, "-device");
    addf(v, "virtio-blk-pci,drive=disk%zu,bootindex=%zu", i, i + 1);
  }
  return 0;
}

static int add_network(struct vec *v, const struct qemu_opts *o, tart_error_t *err)
{
  if (o->n_forwards > 0 && o->net != QEMU_NET_USER)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "port forwards (--net-user-forward) need user-mode networking");

  switch (o->net) {
  case QEMU_NET_NONE:
    add(v, "-nic");
    add(v, "none");
    return 0;
  case QEMU_NET_TAP_FD:
    if (o->tap_fd < 0)
      return tart_error_make(err, 0, "tap networking needs an open tap file descriptor");
    add(v, "-netdev");
    addf(v, "tap,id=net0,fd=%d", o->tap_fd);
    for (size_t i = 0; i < o->n_more_tap_fds; i++) {
      if (o->more_tap_fds[i] < 0)
        return tart_error_make(err, 0, "tap networking needs an open tap file descriptor");
      struct mac_addr m = o->cfg->mac;
      m.b[5] = (uint8_t)(m.b[5] + i + 1);
      char ms[18];
      mac_format(&m, ms);
      add(v, "-netdev");
      addf(v, "tap,id=net%zu,fd=%d", i + 1, o->more_tap_fds[i]);
      add(v, "-device");
      addf(v, "virtio-net-pci,netdev=net%zu,mac=%s,romfile=", i + 1, ms);
    }
    break;
  case QEMU_NET_BRIDGE: {
    if (o->bridge == NULL || *o->bridge == '\0')
      return tart_error_make(err, 0, "bridge networking needs a bridge name");
    _cleanup_free_ char *b = qemu_opt_escape(o->bridge);
    add(v, "-netdev");
    if (o->bridge_helper) {
      _cleanup_free_ char *hp = qemu_opt_escape(o->bridge_helper);
      addf(v, "bridge,id=net0,br=%s,helper=%s", b, hp);
    } else {
      addf(v, "bridge,id=net0,br=%s", b);
    }
    break;
  }
  case QEMU_NET_USER: {
    size_t len = 32;
    for (size_t i = 0; i < o->n_forwards; i++)
      len += 64;
    char *s = xmalloc(len);
    size_t off = (size_t)snprintf(s, len, "user,id=net0");
    for (size_t i = 0; i < o->n_forwards; i++) {
      const struct qemu_forward *f = &o->forwards[i];
      const char *addr = f->host_addr[0] ? f->host_addr : "127.0.0.1";
      if (f->host_port == 0 || f->guest_port == 0) {
        free(s);
        return tart_error_exit(err, TART_EXIT_USAGE, 0, "port forward %zu: ports must be 1 to 65535", i + 1);
      }
      for (size_t j = 0; j < i; j++) {
        const struct qemu_forward *g = &o->forwards[j];
        const char *gaddr = g->host_addr[0] ? g->host_addr : "127.0.0.1";
        if (g->proto == f->proto && g->host_port == f->host_port && strcmp(gaddr, addr) == 0) {
          free(s);
          return tart_error_exit(err, TART_EXIT_USAGE, 0, "host port %s:%u/%s is forwarded twice", addr,
                                 (unsigned)f->host_port, f->proto == QEMU_PROTO_UDP ? "udp" : "tcp");
        }
      }
      off += (size_t)snprintf(s + off, len - off, ",hostfwd=%s:%s:%u-:%u",
                              f->proto == QEMU_PROTO_UDP ? "udp" : "tcp", addr, (unsigned)f->host_port,
                              (unsigned)f->guest_port);
    }
    add(v, "-netdev");
    vec_push(v, s);
    break;
  }
  default:
    return tart_error_make(err, 0, "unknown network mode %d", (int)o->net);
  }

  char mac[18];
  mac_format(&o->cfg->mac, mac);
  add(v, "-device");
  addf(v, "virtio-net-pci,netdev=net0,mac=%s,romfile=", mac);
  return 0;
}

static void add_platform_devices(struct vec *v, const struct qemu_opts *o)
{
  add(v, "-device");
  add(v, "virtio-rng-pci");

  bool arm = o->cfg->arch == VM_ARCH_ARM64;
  if (arm) {
    int64_t w = o->cfg->display_width > 0 ? o->cfg->display_width : 1024;
    int64_t h = o->cfg->display_height > 0 ? o->cfg->display_height : 768;
    add(v, "-device");
    addf(v, "virtio-gpu-pci,xres=%lld,yres=%lld", (long long)w, (long long)h);
  }
  add(v, "-device");
  add(v, "qemu-xhci,id=xhci");
  if (arm && !o->no_keyboard) {
    add(v, "-device");
    add(v, "usb-kbd,bus=xhci.0");
  }
  if (!o->no_pointer) {
    add(v, "-device");
    add(v, "usb-tablet,bus=xhci.0");
  }
  /* A kernel panic becomes QEMU's GUEST_PANICKED event instead of a silent
   * reboot loop (docs/faq.md, "My VM stopped"). */
  add(v, "-device");
  add(v, arm ? "pvpanic-pci" : "pvpanic");
  /* SeaBIOS writes its messages ("No bootable device.") only to this port. */
  if (!arm && o->firmware_log) {
    _cleanup_free_ char *p = qemu_opt_escape(o->firmware_log);
    add(v, "-chardev");
    addf(v, "file,id=" QEMU_FWLOG_CHARDEV ",path=%s", p);
    add(v, "-device");
    add(v, "isa-debugcon,iobase=0x402,chardev=" QEMU_FWLOG_CHARDEV);
  }
}

static void add_control_channels(struct vec *v, const struct qemu_opts *o)
{
  if (o->qga_socket) {
    _cleanup_free_ char *p = qemu_opt_escape(o->qga_socket);
    add(v, "-device");
    add(v, "virtio-serial-pci");
    add(v, "-chardev");
    addf(v, "socket,id=" QEMU_QGA_CHARDEV ",path=%s,server=on,wait=off", p);
    add(v, "-device");
    add(v, "virtserialport,chardev=" QEMU_QGA_CHARDEV ",name=" QEMU_QGA_PORT_NAME);
  }
  if (o->qmp_socket) {
    _cleanup_free_ char *p = qemu_opt_escape(o->qmp_socket);
    add(v, "-chardev");
    addf(v, "socket,id=" QEMU_QMP_CHARDEV ",path=%s,server=on,wait=off", p);
    add(v, "-mon");
    add(v, "chardev=" QEMU_QMP_CHARDEV ",mode=control");
  }
  if (o->monitor_socket) {
    _cleanup_free_ char *p = qemu_opt_escape(o->monitor_socket);
    add(v, "-chardev");
    addf(v, "socket,id=" QEMU_MON_CHARDEV ",path=%s,server=on,wait=off", p);
    add(v, "-mon");
    add(v, "chardev=" QEMU_MON_CHARDEV ",mode=control");
  }
}

static int add_serial(struct vec *v, const struct qemu_opts *o, tart_error_t *err)
{
  const char *backend = NULL;
  switch (o->serial) {
  case QEMU_SERIAL_NONE:
    add(v, "-serial");
    add(v, "none");
    return 0;
  case QEMU_SERIAL_PTY:
    add(v, "-chardev");
    add(v, "pty,id=" QEMU_SERIAL_CHARDEV);
    add(v, "-serial");
    add(v, "chardev:" QEMU_SERIAL_CHARDEV);
    return 0;
  case QEMU_SERIAL_FILE:
  case QEMU_SERIAL_PATH:
    backend = "file";
    break;
  case QEMU_SERIAL_TTY:
    backend = "serial";
    break;
  default:
    return tart_error_make(err, 0, "unknown serial mode %d", (int)o->serial);
  }
  if (o->serial_path == NULL || *o->serial_path == '\0')
    return tart_error_make(err, 0, "the serial console needs a path");
  _cleanup_free_ char *p = qemu_opt_escape(o->serial_path);
  add(v, "-chardev");
  addf(v, "%s,id=" QEMU_SERIAL_CHARDEV ",path=%s", backend, p);
  add(v, "-serial");
  add(v, "chardev:" QEMU_SERIAL_CHARDEV);
  return 0;
}

static int add_display(struct vec *v, const struct qemu_opts *o, tart_error_t *err)
{
  switch (o->display) {
  case QEMU_DISPLAY_NONE:
    add(v, "-display");
    add(v, "none");
    return 0;
  case QEMU_DISPLAY_VNC:
    add(v, "-vnc");
    add(v, "127.0.0.1:0,to=99,password=on");
    add(v, "-display");
    add(v, "none");
    return 0;
  case QEMU_DISPLAY_WINDOW_VNC:
    add(v, "-vnc");
    add(v, "127.0.0.1:0,to=99,password=on");
    /* fall through */
  case QEMU_DISPLAY_WINDOW:
    add(v, "-display");
    add(v, o->window_ui && *o->window_ui ? o->window_ui : "gtk");
    return 0;
  default:
    return tart_error_make(err, 0, "unknown display mode %d", (int)o->display);
  }
}

static bool tag_chars_ok(const char *t)
{
  for (const char *p = t; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
      return false;
  return true;
}

static int check_tag(const char *tag, enum qemu_fs fs, tart_error_t *err)
{
  char q[128];
  quote(tag, q, sizeof(q));
  size_t max = fs == QEMU_FS_VIRTIOFS ? QEMU_VIRTIOFS_TAG_MAX : QEMU_9P_TAG_MAX;
  if (*tag == '\0')
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "directory share: empty mount tag");
  if (!tag_chars_ok(tag))
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "directory share: mount tag %s must be printable ASCII without spaces", q);
  if (strlen(tag) > max)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "directory share: mount tag %s is %zu bytes long; %s allows %zu", q, strlen(tag),
                           fs == QEMU_FS_VIRTIOFS ? "virtio-fs" : "9p", max);
  return 0;
}

/* A virtio-fs share name becomes a directory entry in the export's root. */
static int check_subdir_name(const char *name, tart_error_t *err)
{
  char q[128];
  quote(name, q, sizeof(q));
  if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') || strlen(name) > 255)
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "directory share: name %s cannot be a directory name in the guest", q);
  return 0;
}

static const char *share_group_tag(const struct qemu_share *s)
{
  return s->tag ? s->tag : QEMU_SHARE_DEFAULT_TAG;
}

static bool share_named(const struct qemu_share *s)
{
  return s->name != NULL && *s->name != '\0';
}

void qemu_exports_free(struct qemu_export *e, size_t n)
{
  for (size_t i = 0; e && i < n; i++)
    free(e[i].members);
  free(e);
}

int qemu_share_exports(const struct qemu_share *shares, size_t n, enum qemu_fs fs, struct qemu_export **out,
                       size_t *n_out, tart_error_t *err)
{
  *out = NULL;
  *n_out = 0;
  if (n == 0)
    return 0;
  struct qemu_export *ex = xcalloc(n, sizeof(*ex));
  size_t nex = 0;
  for (size_t i = 0; i < n; i++) {
    const struct qemu_share *s = &shares[i];
    if (s->path == NULL || *s->path == '\0') {
      tart_error_exit(err, TART_EXIT_USAGE, 0, "directory share %zu: empty path", i + 1);
      goto fail;
    }
    const char *gt = share_group_tag(s);
    size_t members = 0;
    bool all_named = true, first = true;
    for (size_t j = 0; j < n; j++) {
      if (strcmp(share_group_tag(&shares[j]), gt) != 0)
        continue;
      first = first && j >= i;
      members++;
      all_named = all_named && share_named(&shares[j]);
    }
    if (members > 1 && !all_named) {
      tart_error_exit(err, TART_EXIT_USAGE, 0,
                      "invalid --dir syntax: for multiple directory shares each one of them should be named");
      goto fail;
    }
    struct qemu_export *e = NULL;
    if (fs == QEMU_FS_VIRTIOFS) {
      /* One device per tag, opened at the group's first share.  As
       * upstream: a single unnamed share is the export's root; named
       * shares are subdirectories of it. */
      if (!first) {
        for (size_t k = 0; k < nex; k++)
          if (!strcmp(ex[k].tag, gt))
            e = &ex[k];
      } else {
        e = &ex[nex++];
        e->tag = gt;
        e->members = xcalloc(members, sizeof(*e->members));
        e->subdirs = share_named(s);
        if (check_tag(gt, fs, err) < 0)
          goto fail;
      }
      if (e->subdirs) {
        if (check_subdir_name(s->name, err) < 0)
          goto fail;
        for (size_t k = 0; k < e->n_members; k++)
          if (!strcmp(shares[e->members[k]].name, s->name)) {
            char q[128];
            quote(s->name, q, sizeof(q));
            tart_error_exit(err, TART_EXIT_USAGE, 0, "directory shares: name %s is used twice under one tag",
                            q);
            goto fail;
          }
      }
      e->members[e->n_members++] = i;
      continue;
    }
    /* 9p: a device per share.  A 9p export is one directory, so shares
     * grouped under one tag are each exported under their NAME. */
    e = &ex[nex++];
    e->tag = members == 1 ? gt : s->name;
    e->members = xcalloc(1, sizeof(*e->members));
    e->members[e->n_members++] = i;
    if (check_tag(e->tag, fs, err) < 0)
      goto fail;
    for (size_t k = 0; k + 1 < nex; k++) {
      if (strcmp(ex[k].tag, e->tag) == 0) {
        char q[128];
        quote(e->tag, q, sizeof(q));
        tart_error_exit(err, TART_EXIT_USAGE, 0,
                        "directory shares: mount tag %s is used twice (with 9p each shared directory "
                        "has a tag of its own: several shares under one tag are exported under their names)",
                        q);
        goto fail;
      }
    }
  }
  *out = ex;
  *n_out = nex;
  return 0;
fail:
  qemu_exports_free(ex, nex);
  return -1;
}

static int add_shares(struct vec *v, const struct qemu_opts *o, tart_error_t *err)
{
  if (o->n_shares == 0)
    return 0;
  struct qemu_export *ex = NULL;
  size_t nex = 0;
  if (qemu_share_exports(o->shares, o->n_shares, o->share_fs, &ex, &nex, err) < 0)
    return -1;
  if (o->share_fs == QEMU_FS_VIRTIOFS) {
    if (o->n_virtiofs_sockets != nex || o->virtiofs_sockets == NULL) {
      qemu_exports_free(ex, nex);
      return tart_error_make(err, 0, "QEMU command line: %zu virtio-fs exports but %zu sockets", nex,
                             o->n_virtiofs_sockets);
    }
    for (size_t i = 0; i < nex; i++) {
      _cleanup_free_ char *p = qemu_opt_escape(o->virtiofs_sockets[i]);
      _cleanup_free_ char *t = qemu_opt_escape(ex[i].tag);
      add(v, "-chardev");
      addf(v, "socket,id=vfs%zu,path=%s", i, p);
      add(v, "-device");
      addf(v, "vhost-user-fs-pci,chardev=vfs%zu,tag=%s", i, t);
    }
  } else {
    for (size_t i = 0; i < nex; i++) {
      const struct qemu_share *s = &o->shares[ex[i].members[0]];
      _cleanup_free_ char *p = qemu_opt_escape(s->path);
      _cleanup_free_ char *t = qemu_opt_escape(ex[i].tag);
      add(v, "-virtfs");
      addf(v, "local,path=%s,mount_tag=%s,security_model=none,multidevs=remap,id=fs%zu%s", p, t, i,
           s->readonly ? ",readonly=on" : "");
    }
  }
  qemu_exports_free(ex, nex);
  return 0;
}

static int validate(const struct qemu_opts *o, tart_error_t *err)
{
  if (o == NULL || o->cfg == NULL)
    return tart_error_make(err, 0, "QEMU command line: no VM configuration");
  if (o->vm_dir == NULL || *o->vm_dir == '\0')
    return tart_error_make(err, 0, "QEMU command line: no VM directory");
  const struct vm_config *c = o->cfg;
  if (c->os == VM_OS_DARWIN)
    return tart_error_make(err, 0, "macOS VMs cannot run under QEMU: only Linux VMs are supported");
  if (strcmp(c->disk_format, "raw") != 0 && c->disk_format[0] != '\0')
    return tart_error_make(err, 0, "disk format \"%s\" is not supported by QEMU: only raw disks can run",
                           c->disk_format);
  if (c->cpu_count < 1)
    return tart_error_make(err, 0, "invalid CPU count %lld: at least 1 is needed", (long long)c->cpu_count);
  if (c->memory_size == 0)
    return tart_error_make(err, 0, "invalid memory size 0");
  if (c->arch != VM_ARCH_AMD64 && c->arch != VM_ARCH_ARM64)
    return tart_error_make(err, 0, "unknown architecture %d", (int)c->arch);
  if (c->firmware == VM_FIRMWARE_BIOS && c->arch == VM_ARCH_ARM64)
    return tart_error_make(err, 0, "arm64 VMs need UEFI firmware: BIOS boot exists only for amd64");
  if (c->firmware == VM_FIRMWARE_EFI && (o->firmware_code == NULL || *o->firmware_code == '\0'))
    return tart_error_make(err, 0, "UEFI firmware code not given");
  if (o->nested && !o->kvm)
    return tart_error_make(err, 0, "nested virtualization needs KVM (/dev/kvm)");
  return 0;
}

int qemu_cmdline_build(const struct qemu_opts *o, char ***argv, tart_error_t *err)
{
  if (validate(o, err) < 0)
    return -1;

  struct vec v = {0};
  add(&v, qemu_binary_for(o->cfg->arch));

  char base[256];
  const char *name = o->name && *o->name ? o->name : basename_of(o->vm_dir, base, sizeof(base));
  _cleanup_free_ char *ename = qemu_opt_escape(name);
  add(&v, "-name");
  addf(&v, "guest=tart-%s", ename);
  add(&v, "-no-user-config");

  add_machine(&v, o);
  add_firmware(&v, o);
  if (add_disks(&v, o, err) < 0 || add_network(&v, o, err) < 0)
    goto fail;
  add_platform_devices(&v, o);
  add_control_channels(&v, o);
  if (add_serial(&v, o, err) < 0 || add_display(&v, o, err) < 0 || add_shares(&v, o, err) < 0)
    goto fail;
  if (o->incoming) {
    add(&v, "-incoming");
    add(&v, o->incoming);
  }
  *argv = v.v;
  return 0;

fail:
  vec_free(&v);
  return -1;
}

char *qemu_device_summary(const struct qemu_opts *o)
{
  struct qemu_export *ex = NULL;
  size_t nex = 0;
  tart_error_t e = NULL;
  if (qemu_share_exports(o->shares, o->n_shares, o->share_fs, &ex, &nex, &e) < 0) {
    tart_error_release(&e);
    return NULL;
  }
  size_t nics = o->net == QEMU_NET_NONE ? 0 : 1 + (o->net == QEMU_NET_TAP_FD ? o->n_more_tap_fds : 0);
  unsigned long long mib = (o->cfg->memory_size + MIB - 1) / MIB;
  char *s = xasprintf("%lld CPU%s, %llu MiB, %zu NIC%s", (long long)o->cfg->cpu_count,
                      o->cfg->cpu_count == 1 ? "" : "s", mib, nics, nics == 1 ? "" : "s");
  for (size_t i = 0; i < o->n_extra_disks; i++) {
    char *n = xasprintf("%s%s%s%s", s, i == 0 ? ", extra disks [" : ", ",
                        o->extra_disks[i].readonly ? "ro" : "rw", i + 1 == o->n_extra_disks ? "]" : "");
    free(s);
    s = n;
  }
  for (size_t i = 0; i < nex; i++) {
    bool ro = ex[i].n_members == 1 && o->shares[ex[i].members[0]].readonly;
    char *n = xasprintf("%s%s%s%s%s", s,
                        i > 0                             ? ", "
                        : o->share_fs == QEMU_FS_VIRTIOFS ? ", virtio-fs shares ["
                                                          : ", 9p shares [",
                        ex[i].tag, ro ? " ro" : "", i + 1 == nex ? "]" : "");
    free(s);
    s = n;
  }
  qemu_exports_free(ex, nex);
  /* The CPU model follows the accelerator (-cpu host / max). */
  char *n = xasprintf("%s, %s%s", s, o->kvm ? "KVM" : "TCG", o->nested ? " nested" : "");
  free(s);
  return n;
}

/* ---- flag parsers ----------------------------------------------------- */

void qemu_disk_clear(struct qemu_disk *d)
{
  if (d == NULL)
    return;
  free(d->path);
  memset(d, 0, sizeof(*d));
}

void qemu_share_clear(struct qemu_share *s)
{
  if (s == NULL)
    return;
  free(s->name);
  free(s->path);
  free(s->tag);
  memset(s, 0, sizeof(*s));
}

static char *expand_tilde(const char *p, size_t len)
{
  const char *home = getenv("HOME");
  if (len >= 1 && p[0] == '~' && (len == 1 || p[1] == '/') && home && *home)
    return xasprintf("%s%.*s", home, (int)(len - 1), p + 1);
  char *r = strndup(p, len);
  if (r == NULL)
    abort();
  return r;
}

/* Does the comma-separated list [seg, seg+len) hold an item accepted by is_known? */
static bool list_has_known(const char *seg, size_t len, bool (*is_known)(const char *, size_t))
{
  const char *end = seg + len;
  for (const char *p = seg; p <= end;) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
    if (is_known(p, n))
      return true;
    if (c == NULL)
      break;
    p = c + 1;
  }
  return false;
}

static bool item_is(const char *p, size_t n, const char *word)
{
  return strlen(word) == n && memcmp(p, word, n) == 0;
}

static bool item_has_key(const char *p, size_t n, const char *key)
{
  size_t k = strlen(key);
  return n >= k && memcmp(p, key, k) == 0;
}

static bool disk_option_known(const char *p, size_t n)
{
  return item_is(p, n, "ro") || item_has_key(p, n, "sync=") || item_has_key(p, n, "caching=");
}

static bool dir_option_known(const char *p, size_t n)
{
  return item_is(p, n, "ro") || item_has_key(p, n, "tag=");
}

/* One disk option (p, n bytes) into d; false when it is none of them. */
static bool disk_option(const char *p, size_t n, struct qemu_disk *d)
{
  if (item_is(p, n, "ro"))
    d->readonly = true;
  else if (item_is(p, n, "sync=none"))
    d->sync = QEMU_SYNC_NONE;
  else if (item_is(p, n, "sync=fsync"))
    d->sync = QEMU_SYNC_FSYNC;
  else if (item_is(p, n, "sync=full"))
    d->sync = QEMU_SYNC_FULL;
  else if (item_is(p, n, "caching=automatic"))
    d->caching = QEMU_CACHING_AUTOMATIC;
  else if (item_is(p, n, "caching=cached"))
    d->caching = QEMU_CACHING_CACHED;
  else if (item_is(p, n, "caching=uncached"))
    d->caching = QEMU_CACHING_UNCACHED;
  else
    return false;
  return true;
}

int qemu_parse_disk_opts(const char *opts, const char *flag, struct qemu_disk *out, tart_error_t *err)
{
  struct qemu_disk d = *out;
  const char *end = opts + strlen(opts);
  for (const char *p = opts; p <= end;) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
    if (n > 0 && !disk_option(p, n, &d)) {
      char item[64], qi[96];
      snprintf(item, sizeof(item), "%.*s", (int)(n < 63 ? n : 63), p);
      quote(item, qi, sizeof(qi));
      return tart_error_exit(err, TART_EXIT_USAGE, 0,
                             "invalid %s: unknown option %s (options: ro, sync=none|fsync|full, "
                             "caching=automatic|cached|uncached)",
                             flag, qi);
    }
    if (c == NULL)
      break;
    p = c + 1;
  }
  *out = d;
  return 0;
}

int qemu_parse_disk_arg(const char *s, struct qemu_disk *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  char q[128];
  quote(s, q, sizeof(q));
  if (s == NULL || *s == '\0')
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --disk: empty value");

  struct qemu_disk d = {0};
  size_t path_len = strlen(s);
  const char *colon = strrchr(s, ':');
  if (colon && list_has_known(colon + 1, strlen(colon + 1), disk_option_known)) {
    path_len = (size_t)(colon - s);
    const char *end = colon + 1 + strlen(colon + 1);
    for (const char *p = colon + 1; p <= end;) {
      const char *c = memchr(p, ',', (size_t)(end - p));
      size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
      char item[64];
      snprintf(item, sizeof(item), "%.*s", (int)(n < 63 ? n : 63), p);
      if (!disk_option(p, n, &d)) {
        char qi[96];
        quote(item, qi, sizeof(qi));
        return tart_error_exit(err, TART_EXIT_USAGE, 0,
                               "invalid --disk %s: unknown option %s (options: ro, sync=none|fsync|full, "
                               "caching=automatic|cached|uncached)",
                               q, qi);
      }
      if (c == NULL)
        break;
      p = c + 1;
    }
  }
  if (path_len == 0)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --disk %s: empty path", q);
  d.path = expand_tilde(s, path_len);
  *out = d;
  return 0;
}

static bool is_http_url(const char *p, size_t len)
{
  return (len >= 7 && strncasecmp(p, "http://", 7) == 0) || (len >= 8 && strncasecmp(p, "https://", 8) == 0);
}

int qemu_parse_dir_arg(const char *s, struct qemu_share *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  char q[128];
  quote(s, q, sizeof(q));
  if (s == NULL || *s == '\0')
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir: empty value");

  bool readonly = false;
  _cleanup_free_ char *tag = NULL;
  size_t len = strlen(s);

  /* Consume trailing option segments. */
  for (;;) {
    const char *colon = memrchr(s, ':', len);
    if (colon == NULL)
      break;
    const char *seg = colon + 1;
    size_t seg_len = len - (size_t)(seg - s);
    if (!list_has_known(seg, seg_len, dir_option_known))
      break;
    /* "https://host:ro" would otherwise lose its scheme separator. */
    if (seg_len >= 2 && seg[0] == '/' && seg[1] == '/')
      break;
    const char *end = seg + seg_len;
    for (const char *p = seg; p <= end;) {
      const char *c = memchr(p, ',', (size_t)(end - p));
      size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
      if (item_is(p, n, "ro")) {
        readonly = true;
      } else if (item_has_key(p, n, "tag=")) {
        if (n == 4)
          return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir %s: empty tag", q);
        if (tag)
          return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir %s: tag given twice", q);
        tag = strndup(p + 4, n - 4);
        if (tag == NULL)
          abort();
      } else {
        char item[64], qi[96];
        snprintf(item, sizeof(item), "%.*s", (int)(n < 63 ? n : 63), p);
        quote(item, qi, sizeof(qi));
        return tart_error_exit(err, TART_EXIT_USAGE, 0,
                               "invalid --dir %s: unknown option %s (options: ro, tag=TAG)", q, qi);
      }
      if (c == NULL)
        break;
      p = c + 1;
    }
    len = (size_t)(colon - s);
  }

  if (len == 0)
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir %s: empty path", q);

  struct qemu_share sh = {0};
  const char *path = s;
  size_t path_len = len;
  if (!is_http_url(s, len)) {
    const char *colon = memchr(s, ':', len);
    /* A name never holds '/': "/data/a:b" is one path with a colon in it. */
    if (colon && memchr(s, '/', (size_t)(colon - s)) == NULL) {
      size_t name_len = (size_t)(colon - s);
      if (name_len == 0)
        return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir %s: empty name before ':'", q);
      path = colon + 1;
      path_len = len - name_len - 1;
      if (path_len == 0)
        return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --dir %s: empty path", q);
      sh.name = strndup(s, name_len);
      if (sh.name == NULL)
        abort();
    }
  }
  if (is_http_url(path, path_len)) {
    sh.path = strndup(path, path_len);
    if (sh.path == NULL)
      abort();
  } else {
    sh.path = expand_tilde(path, path_len);
  }
  sh.tag = TAKE_PTR(tag);
  sh.readonly = readonly;
  *out = sh;
  return 0;
}

static int forward_usage(tart_error_t *err, const char *q, const char *why)
{
  return tart_error_exit(err, TART_EXIT_USAGE, 0,
                         "invalid --net-user-forward %s: %s (expected [ADDR:]HOST:GUEST[/tcp|/udp])", q, why);
}

static int parse_port(const char *p, size_t n, uint16_t *out, const char *q, tart_error_t *err)
{
  if (n == 0 || n > 5)
    return forward_usage(err, q, n == 0 ? "empty port" : "port out of range 1-65535");
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return forward_usage(err, q, "ports must be decimal numbers");
    v = v * 10 + (unsigned)(p[i] - '0');
  }
  if (v < 1 || v > 65535)
    return forward_usage(err, q, "port out of range 1-65535");
  *out = (uint16_t)v;
  return 0;
}

int qemu_parse_forward_arg(const char *s, struct qemu_forward *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));
  char q[128];
  quote(s, q, sizeof(q));
  if (s == NULL || *s == '\0')
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid --net-user-forward: empty value");

  struct qemu_forward f = {0};
  size_t len = strlen(s);
  const char *slash = strchr(s, '/');
  if (slash) {
    if (strcmp(slash, "/tcp") == 0)
      f.proto = QEMU_PROTO_TCP;
    else if (strcmp(slash, "/udp") == 0)
      f.proto = QEMU_PROTO_UDP;
    else
      return forward_usage(err, q, "the protocol must be tcp or udp");
    len = (size_t)(slash - s);
  }

  const char *c1 = memchr(s, ':', len);
  if (c1 == NULL)
    return forward_usage(err, q, "missing ':'");
  const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
  const char *host_port = c1 + 1;
  if (c2) {
    if (memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - s)) != NULL)
      return forward_usage(err, q, "too many ':'");
    size_t alen = (size_t)(c1 - s);
    char addr[INET_ADDRSTRLEN];
    struct in_addr ia;
    if (alen == 0 || alen >= sizeof(addr))
      return forward_usage(err, q, "invalid IPv4 address");
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, &ia) != 1)
      return forward_usage(err, q, "invalid IPv4 address");
    memcpy(f.host_addr, addr, alen + 1);
    if (parse_port(host_port, (size_t)(c2 - host_port), &f.host_port, q, err) < 0 ||
        parse_port(c2 + 1, len - (size_t)(c2 + 1 - s), &f.guest_port, q, err) < 0)
      return -1;
  } else {
    if (parse_port(s, (size_t)(c1 - s), &f.host_port, q, err) < 0 ||
        parse_port(host_port, len - (size_t)(host_port - s), &f.guest_port, q, err) < 0)
      return -1;
  }
  *out = f;
  return 0;
}
