#include "util/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *in, unsigned n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (unsigned i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void sha256_init(struct sha256 *s)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    abort();
  s->ctx = ctx;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
  if (len > 0 && EVP_DigestUpdate(s->ctx, data, len) != 1)
    abort();
}

void sha256_final(struct sha256 *s, char out[DIGEST_STR_LEN])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_DigestFinal_ex(s->ctx, md, &n) != 1 || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
    abort();
  memcpy(out, "sha256:", 7);
  hex(md, n, out + 7);
}

void sha256_free(struct sha256 *s)
{
  EVP_MD_CTX_free(s->ctx);
  s->ctx = NULL;
}

void sha256_of(const void *data, size_t len, char out[DIGEST_STR_LEN])
{
  struct sha256 s;
  sha256_init(&s);
  sha256_update(&s, data, len);
  sha256_final(&s, out);
  sha256_free(&s);
}

void md5_hex_of(const char *s, char out[33])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL) != 1)
    abort();
  hex(md, n, out);
}
