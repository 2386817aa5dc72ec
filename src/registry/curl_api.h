/* libcurl, loaded on first use.
 *
 * libcurl drags in some forty shared libraries (GnuTLS, Kerberos, LDAP,
 * ICU...), whose loading and constructors cost ~20 ms on every start.  Only
 * the registry verbs need it, so the client reaches libcurl through this
 * table, filled by dlopen("libcurl.so.4") the first time a registry is
 * opened; `list`, `get`, `run`... never pay for it.
 *
 * Include this instead of <curl/curl.h>: it maps the curl_* names used by
 * the client onto the table. */
#ifndef TART_REGISTRY_CURL_API_H
#define TART_REGISTRY_CURL_API_H

#define CURL_DISABLE_TYPECHECK 1 /* the typecheck macros would shadow ours */
#include <curl/curl.h>

#include "util/error.h"

struct curl_api {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  void (*easy_cleanup)(CURL *h);
  void (*easy_reset)(CURL *h);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_perform)(CURL *h);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  const char *(*easy_strerror)(CURLcode code);
  char *(*easy_escape)(CURL *h, const char *s, int len);
  void (*free)(void *p);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
};

extern struct curl_api curl_api;

/* Load libcurl and run curl_global_init once (thread-safe).  A missing
 * library is an error naming the Debian package. */
int curl_api_load(tart_error_t *err);

/* The value of header `name` (case-insensitive) if the header line
 * [line, line+len) that a CURLOPT_HEADERFUNCTION got is that header,
 * trimmed; malloc'ed.  NULL otherwise. */
char *curl_header_value(const char *line, size_t len, const char *name);

/* Trust what OpenSSL-based tools trust: $SSL_CERT_FILE (plus the system
 * store's hashed directory) and $SSL_CERT_DIR, when set. */
void curl_api_set_ca(CURL *h);

/* CURLOPT_PROTOCOLS (deprecated in libcurl 7.85 for CURLOPT_PROTOCOLS_STR,
 * the only form older libcurl knows): its number, so that using it does
 * not trip -Wdeprecated-declarations. */
#define TART_CURLOPT_PROTOCOLS       ((CURLoption)(CURLOPTTYPE_LONG + 181))
#define TART_CURLOPT_REDIR_PROTOCOLS ((CURLoption)(CURLOPTTYPE_LONG + 182))

#ifndef TART_CURL_API_IMPL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init    (*curl_api.global_init)
#define curl_easy_init      (*curl_api.easy_init)
#define curl_easy_cleanup   (*curl_api.easy_cleanup)
#define curl_easy_reset     (*curl_api.easy_reset)
#define curl_easy_setopt    (*curl_api.easy_setopt)
#define curl_easy_perform   (*curl_api.easy_perform)
#define curl_easy_getinfo   (*curl_api.easy_getinfo)
#define curl_easy_strerror  (*curl_api.easy_strerror)
#define curl_easy_escape    (*curl_api.easy_escape)
#define curl_free           (*curl_api.free)
#define curl_slist_append   (*curl_api.slist_append)
#define curl_slist_free_all (*curl_api.slist_free_all)
#endif

#endif
