/* VM names (docs/design.md, "Storage layout").  A local VM name is a directory name under vms/: not
 * empty, at most 255 bytes, no '/', no "..", no control characters, and it
 * must not parse as a remote name (that would make it unreachable, since
 * every command treats such names as registry references). */
#ifndef TART_STORAGE_NAME_H
#define TART_STORAGE_NAME_H

#include "util/error.h"

#define VM_NAME_MAX 255

/* 0 if name is a valid new local VM name; otherwise a usage error (exit
 * 64) saying why. */
int vm_name_validate_local(const char *name, tart_error_t *err);

/* A printable, bounded rendering of name for messages: control characters
 * become \xNN, and names longer than 80 bytes are cut with "...".
 * Returns a malloc'ed string. */
char *vm_name_quote(const char *name);

#endif
