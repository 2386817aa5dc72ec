#define TART_CURL_API_IMPL
#include "registry/curl_api.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

struct curl_api curl_api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

static void load(void)
{
  void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(load_error, sizeof(load_error), "cannot load libcurl (%s): install the Debian package libcurl4",
             dlerror());
    return;
  }
  static const struct {
    const char *name;
    size_t offset;
  } syms[] = {
      {"curl_global_init", offsetof(struct curl_api, global_init)},
      {"curl_easy_init", offsetof(struct curl_api, easy_init)},
      {"curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup)},
      {"curl_easy_reset", offsetof(struct curl_api, easy_reset)},
      {"curl_easy_setopt", offsetof(struct curl_api, easy_setopt)},
      {"curl_easy_perform", offsetof(struct curl_api, easy_perform)},
      {"curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo)},
      {"curl_easy_strerror", offsetof(struct curl_api, easy_strerror)},
      {"curl_easy_escape", offsetof(struct curl_api, easy_escape)},
      {"curl_free", offsetof(struct curl_api, free)},
      {"curl_slist_append", offsetof(struct curl_api, slist_append)},
      {"curl_slist_free_all", offsetof(struct curl_api, slist_free_all)},
  };
  struct curl_api api;
  for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
    void *f = dlsym(h, syms[i].name);
    if (f == NULL) {
      snprintf(load_error, sizeof(load_error), "libcurl.so.4 lacks %s: install a current libcurl4",
               syms[i].name);
      return;
    }
    /* Function and data pointers share a representation on every Linux
     * ABI; this is how dlsym results are meant to be used. */
    memcpy((char *)&api + syms[i].offset, &f, sizeof(f));
  }
  if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(load_error, sizeof(load_error), "cannot initialize libcurl");
    return;
  }
  curl_api = api;
  /* The handle stays open for the process's life, on purpose. */
}

int curl_api_load(tart_error_t *err)
{
  pthread_once(&once, load);
  if (load_error[0] != '\0')
    return tart_error_make(err, 0, "%s", load_error);
  return 0;
}

void curl_api_set_ca(CURL *h)
{
  const char *ca_file = getenv("SSL_CERT_FILE");
  const char *ca_dir = getenv("SSL_CERT_DIR");
  if (ca_file && *ca_file) {
    /* The given bundle, plus the system store through its hashed dir. */
    curl_api.easy_setopt(h, CURLOPT_CAINFO, ca_file);
    curl_api.easy_setopt(h, CURLOPT_CAPATH, (ca_dir && *ca_dir) ? ca_dir : "/etc/ssl/certs");
  } else if (ca_dir && *ca_dir) {
    curl_api.easy_setopt(h, CURLOPT_CAPATH, ca_dir);
  }
}

char *curl_header_value(const char *line, size_t len, const char *name)
{
  size_t n = strlen(name);
  if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  char *r = strndup(v, (size_t)(end - v));
  if (r == NULL)
    abort();
  return r;
}
