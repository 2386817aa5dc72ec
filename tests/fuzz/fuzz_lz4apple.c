/* libFuzzer target for src/oci/lz4apple.c.
 *
 * Checks, for every input:
 *   - as a compressed stream (all but the first byte, which picks how the
 *     stream is cut): decoding it in one feed and in many feeds gives the
 *     same outcome, the same sink calls with the same bytes and the same
 *     error, since layer blobs arrive from the network cut anywhere; and
 *     total_out counts exactly what the sink received;
 *   - as plain data: our encoder's stream, in LZ4A_ENCODE_BLOCK pieces and
 *     in small pieces (many blocks, bv41 and bv4- mixed), decodes back to
 *     the data;
 *   - nothing leaks or is read out of bounds (ASan), so a hostile layer blob
 *     cannot hurt us.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/lz4apple.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "failed to decompress disk: "

/* What the sink saw: cheap, but any difference in bytes or in how they were
 * grouped into calls changes it. */
struct digest {
  uint64_t hash;
  uint64_t bytes;
  uint64_t calls;
};

static int sink_digest(void *opaque, const uint8_t *p, size_t len, tart_error_t *err)
{
  (void)err;
  struct digest *g = opaque;
  uint64_t h = g->hash ^ (len * 0x9e3779b97f4a7c15ull);
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  g->hash = h;
  g->bytes += len;
  g->calls++;
  return 0;
}

struct outcome {
  struct digest g;
  int rc;
  uint64_t total;
  char *msg; /* error message, or NULL */
};

/* Decode s; if sel is 0 in one feed, else in feeds whose lengths come from
 * a small generator seeded by sel (1 byte up to a few hundred). */
static void run_decoder(const uint8_t *s, size_t n, unsigned sel, struct outcome *o)
{
  memset(o, 0, sizeof(*o));
  struct lz4a_decoder *d = lz4a_decoder_new();
  tart_error_t err = NULL;
  uint32_t x = sel * 2654435761u + 1;
  size_t pos = 0;
  while (pos < n && o->rc == 0) {
    size_t k = n - pos;
    if (sel != 0) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      size_t want = (sel & 1) ? 1 + (x & 7) : 1 + (x % 300);
      if (want < k)
        k = want;
    }
    o->rc = lz4a_decoder_feed(d, s + pos, k, sink_digest, &o->g, &err);
    pos += k;
  }
  if (o->rc == 0)
    o->rc = lz4a_decoder_finish(d, &err);
  o->total = lz4a_decoder_total_out(d);
  if (o->rc != 0) {
    if (err == NULL || strncmp(err->msg, PREFIX, strlen(PREFIX)) != 0)
      abort();
    o->msg = xstrdup(err->msg);
  } else if (err != NULL) {
    abort();
  }
  tart_error_release(&err);
  lz4a_decoder_free(d);
}

static void check_split_invariance(const uint8_t *s, size_t n, unsigned sel)
{
  struct outcome whole, split;
  run_decoder(s, n, 0, &whole);
  run_decoder(s, n, sel | 0x100, &split); /* never 0: always cut */
  if (whole.rc != split.rc || whole.g.hash != split.g.hash || whole.g.bytes != split.g.bytes ||
      whole.g.calls != split.g.calls)
    abort();
  if (whole.total != whole.g.bytes || split.total != split.g.bytes)
    abort();
  if ((whole.msg == NULL) != (split.msg == NULL) || (whole.msg != NULL && strcmp(whole.msg, split.msg) != 0))
    abort();
  free(whole.msg);
  free(split.msg);
}

struct expect {
  const uint8_t *want;
  size_t len, pos;
};

static int sink_compare(void *opaque, const uint8_t *p, size_t len, tart_error_t *err)
{
  (void)err;
  struct expect *e = opaque;
  if (len > e->len - e->pos || memcmp(e->want + e->pos, p, len) != 0)
    abort();
  e->pos += len;
  return 0;
}

static void check_roundtrip(const uint8_t *data, size_t size, size_t piece, unsigned sel)
{
  /* Sized to the actual blocks, not to piece: a 1 MiB buffer per run would
   * cost more than everything else here. */
  size_t cap = 4;
  for (size_t off = 0; off < size; off += piece)
    cap += lz4a_block_bound(size - off < piece ? size - off : piece);
  uint8_t *s = xmalloc(cap);
  size_t len = 0;
  tart_error_t err = NULL;
  for (size_t off = 0; off < size; off += piece) {
    size_t k = size - off < piece ? size - off : piece;
    size_t w;
    if (lz4a_encode_block(data + off, k, s + len, cap - len, &w, &err) != 0 || w > lz4a_block_bound(k))
      abort();
    len += w;
  }
  len += lz4a_encode_end(s + len);

  struct expect e = {data, size, 0};
  struct lz4a_decoder *d = lz4a_decoder_new();
  /* Cut the encoded stream too, as the network would. */
  size_t step = 1 + sel % 97;
  for (size_t pos = 0; pos < len; pos += step) {
    size_t k = len - pos < step ? len - pos : step;
    if (lz4a_decoder_feed(d, s + pos, k, sink_compare, &e, &err) != 0)
      abort();
  }
  if (lz4a_decoder_finish(d, &err) != 0 || e.pos != size || lz4a_decoder_total_out(d) != size)
    abort();
  lz4a_decoder_free(d);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  unsigned sel = data[0];
  check_split_invariance(data + 1, size - 1, sel);
  check_roundtrip(data, size, LZ4A_ENCODE_BLOCK, sel);
  /* Each block costs liblz4 a 16 KiB table reset, so keep the count of
   * small blocks to 64 or the fuzzer crawls. */
  size_t piece = 1 + sel * 4;
  if (piece < size / 64 + 1)
    piece = size / 64 + 1;
  check_roundtrip(data, size, piece, sel);
  return 0;
}
