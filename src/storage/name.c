#include "storage/name.h"

#include <stdbool.h>
#include <string.h>

#include "registry/reference.h"
#include "util/util.h"

char *vm_name_quote(const char *name)
{
  size_t n = strlen(name);
  size_t shown = n > 80 ? 80 : n;
  char *out = xmalloc(shown * 4 + 4);
  char *o = out;
  /* Bytes of broken UTF-8 are escaped too, so the message stays text. */
  bool escape_high = !utf8_valid(name);
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f || (escape_high && c >= 0x80)) {
      static const char hex[] = "0123456789abcdef";
      *o++ = '\\';
      *o++ = 'x';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    } else {
      *o++ = (char)c;
    }
  }
  if (shown < n) {
    memcpy(o, "...", 3);
    o += 3;
  }
  *o = '\0';
  return out;
}

int vm_name_validate_local(const char *name, tart_error_t *err)
{
  const char *why = NULL;
  size_t len = strlen(name);
  if (len == 0)
    why = "it is empty";
  else if (len > VM_NAME_MAX)
    why = "it is longer than 255 bytes";
  else if (strchr(name, '/') != NULL)
    why = "it contains '/'";
  else if (!strcmp(name, ".") || strstr(name, "..") != NULL)
    why = "it contains \"..\" or is \".\"";
  else if (str_has_control_chars(name))
    why = "it contains control characters";
  else if (!utf8_valid(name))
    why = "it is not valid UTF-8";
  if (why != NULL) {
    _cleanup_free_ char *q = vm_name_quote(name);
    return tart_error_exit(err, TART_EXIT_USAGE, 0, "invalid VM name \"%s\": %s", q, why);
  }
  /* With no '/' a name can never parse as remote today, but keep the rule
   * where it belongs so a grammar change cannot make a VM unreachable. */
  if (oci_reference_is_remote(name))
    return tart_error_exit(err, TART_EXIT_USAGE, 0,
                           "invalid VM name \"%s\": it looks like a remote image name, use a local name",
                           name);
  return 0;
}
