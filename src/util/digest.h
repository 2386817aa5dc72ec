/* sha256 digests in OCI form ("sha256:<64 hex>"), on OpenSSL's EVP API
 * (SHA-NI where the CPU has it). */
#ifndef TART_UTIL_DIGEST_H
#define TART_UTIL_DIGEST_H

#include <stddef.h>

#define DIGEST_STR_LEN 72 /* "sha256:" + 64 hex + NUL, rounded up */

struct sha256 {
  void *ctx; /* EVP_MD_CTX */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes "sha256:<hex>" and resets the context for reuse. */
void sha256_final(struct sha256 *s, char out[DIGEST_STR_LEN]);
void sha256_free(struct sha256 *s);

void sha256_of(const void *data, size_t len, char out[DIGEST_STR_LEN]);
/* Plain lower-case hex of the MD5 of s (33 bytes): upstream names the
 * resumable pull directory tmp/<md5(name)>. */
void md5_hex_of(const char *s, char out[33]);

#endif
