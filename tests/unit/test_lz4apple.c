/* Unit tests for the Apple LZ4 framing (src/oci/lz4apple.c).
 *
 * The fixtures for each block kind are written out byte by byte from the
 * framing in lz4apple.h and the LZ4 block format, not produced by our
 * encoder, so that a mistake shared by our encoder and decoder cannot pass.
 * The cross-block fixtures matter most: Apple's encoder lets a bv41 block
 * refer back into earlier blocks, which our own encoder never does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lz4.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/lz4apple.h"
#include "util/util.h"

#define PREFIX "failed to decompress disk: "

/* ---- helpers ------------------------------------------------------------ */

/* Deterministic so that a failure can be reproduced. */
static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
  rng_state = s ? s : 0x9e3779b97f4a7c15ull;
}

static uint64_t rng_next(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(rng_next() >> 56);
}

/* Words from a small vocabulary: compresses like logs or source code. */
static void fill_text(uint8_t *p, size_t n)
{
  static const char *const words[] = {"the ",   "disk ", "image ", "layer ", "registry ", "push ",
                                      "pull\n", "tart ", "macOS ", "Linux ", "qemu ",     "blob ",
                                      "sha256", ": ",    "{\"a\"", "}\n",    "0123 ",     "error "};
  size_t i = 0;
  while (i < n) {
    const char *w = words[rng_next() % ARRAY_SIZE(words)];
    for (size_t j = 0; w[j] != '\0' && i < n; j++)
      p[i++] = (uint8_t)w[j];
  }
}

struct outbuf {
  uint8_t *p;
  size_t len, cap;
  size_t calls;
};

static int sink_collect(void *opaque, const uint8_t *data, size_t len, tart_error_t *err)
{
  (void)err;
  struct outbuf *o = opaque;
  if (o->len + len > o->cap) {
    o->cap = (o->len + len) * 2;
    o->p = xrealloc(o->p, o->cap);
  }
  memcpy(o->p + o->len, data, len);
  o->len += len;
  o->calls++;
  return 0;
}

enum split {
  SPLIT_WHOLE,  /* one feed */
  SPLIT_BYTES,  /* one byte per feed */
  SPLIT_RANDOM, /* random lengths, from 1 byte to 2 MiB */
};

/* Decode stream as split says, into *out; returns the first failing
 * feed's/finish's result, with *err set. */
static int decode_split(const uint8_t *s, size_t n, enum split split, struct outbuf *out, uint64_t *total,
                        tart_error_t *err)
{
  struct lz4a_decoder *d = lz4a_decoder_new();
  int rc = 0;
  size_t pos = 0;
  while (pos < n && rc == 0) {
    size_t k = n - pos;
    if (split == SPLIT_BYTES) {
      k = 1;
    } else if (split == SPLIT_RANDOM) {
      uint64_t r = rng_next();
      size_t lim = (r & 3) == 0 ? 16 : (r & 3) == 1 ? 4096 : (r & 3) == 2 ? 70000 : (2u << 20);
      size_t want = 1 + (size_t)((r >> 8) % lim);
      if (want < k)
        k = want;
    }
    rc = lz4a_decoder_feed(d, s + pos, k, sink_collect, out, err);
    pos += k;
  }
  if (rc == 0)
    rc = lz4a_decoder_finish(d, err);
  if (total != NULL)
    *total = lz4a_decoder_total_out(d);
  lz4a_decoder_free(d);
  return rc;
}

/* The stream must decode to want[0..want_len) under every split. */
static void expect_decodes(const uint8_t *s, size_t n, const uint8_t *want, size_t want_len)
{
  static const enum split splits[] = {SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM, SPLIT_RANDOM};
  for (size_t i = 0; i < ARRAY_SIZE(splits); i++) {
    struct outbuf out = {0};
    uint64_t total = 0;
    tart_error_t err = NULL;
    int rc = decode_split(s, n, splits[i], &out, &total, &err);
    if (rc != 0)
      fail_msg("split %d: %s", (int)splits[i], err->msg);
    assert_null(err);
    assert_int_equal(out.len, want_len);
    assert_int_equal(total, want_len);
    if (want_len > 0)
      assert_memory_equal(out.p, want, want_len);
    free(out.p);
  }
}

/* The stream must fail under every split, with a message that starts with
 * PREFIX and contains what. */
static void expect_fails(const uint8_t *s, size_t n, const char *what)
{
  static const enum split splits[] = {SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM};
  for (size_t i = 0; i < ARRAY_SIZE(splits); i++) {
    struct outbuf out = {0};
    tart_error_t err = NULL;
    int rc = decode_split(s, n, splits[i], &out, NULL, &err);
    assert_int_equal(rc, -1);
    assert_non_null(err);
    if (strncmp(err->msg, PREFIX, strlen(PREFIX)) != 0 || strstr(err->msg, what) == NULL)
      fail_msg("split %d: want \"%s\" in \"%s\"", (int)splits[i], what, err->msg);
    tart_error_release(&err);
    free(out.p);
  }
}

/* Encode data with our encoder in blocks of piece bytes, plus the end
 * marker. */
static uint8_t *encode_stream(const uint8_t *data, size_t n, size_t piece, size_t *out_len)
{
  size_t cap = 4 + (n / piece + 1) * lz4a_block_bound(piece);
  uint8_t *s = xmalloc(cap);
  size_t len = 0;
  for (size_t off = 0; off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    size_t w = 0;
    tart_error_t err = NULL;
    assert_int_equal(lz4a_encode_block(data + off, k, s + len, cap - len, &w, &err), 0);
    assert_true(w <= lz4a_block_bound(k));
    len += w;
  }
  len += lz4a_encode_end(s + len);
  *out_len = len;
  return s;
}

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t put_le32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
  return 4;
}

/* Append a bv41 header and payload to s at *len. */
static void put_lz4_block(uint8_t *s, size_t *len, uint32_t decoded, const uint8_t *payload, uint32_t n)
{
  memcpy(s + *len, "bv41", 4);
  *len += 4;
  *len += put_le32(s + *len, decoded);
  *len += put_le32(s + *len, n);
  memcpy(s + *len, payload, n);
  *len += n;
}

static void put_stored_block(uint8_t *s, size_t *len, const uint8_t *data, uint32_t n)
{
  memcpy(s + *len, "bv4-", 4);
  *len += 4;
  *len += put_le32(s + *len, n);
  memcpy(s + *len, data, n);
  *len += n;
}

struct block_counts {
  size_t lz4, stored, end;
};

/* Walk the framing of a well-formed stream, checking every bv41 block with
 * liblz4's plain LZ4_decompress_safe: our blocks must be independent, i.e.
 * decodable without any dictionary, by any LZ4 block decoder.  want is the
 * data the stream encodes. */
static struct block_counts check_independent(const uint8_t *s, size_t n, const uint8_t *want, size_t want_len)
{
  struct block_counts c = {0};
  size_t pos = 0, out = 0;
  uint8_t *buf = xmalloc(LZ4A_MAX_BLOCK);
  while (pos < n) {
    assert_true(n - pos >= 4);
    if (memcmp(s + pos, "bv4$", 4) == 0) {
      c.end++;
      pos += 4;
      assert_int_equal(pos, n); /* nothing after the end marker */
      break;
    }
    if (memcmp(s + pos, "bv4-", 4) == 0) {
      uint32_t k = le32(s + pos + 4);
      assert_memory_equal(s + pos + 8, want + out, k);
      pos += 8 + k;
      out += k;
      c.stored++;
      continue;
    }
    assert_memory_equal(s + pos, "bv41", 4);
    uint32_t dsize = le32(s + pos + 4), esize = le32(s + pos + 8);
    assert_true(esize < dsize); /* else it should have been stored */
    int r = LZ4_decompress_safe((const char *)s + pos + 12, (char *)buf, (int)esize, LZ4A_MAX_BLOCK);
    assert_int_equal(r, (int)dsize);
    assert_memory_equal(buf, want + out, dsize);
    pos += 12 + esize;
    out += dsize;
    c.lz4++;
  }
  assert_int_equal(c.end, 1);
  assert_int_equal(out, want_len);
  free(buf);
  return c;
}

/* ---- hand-made fixtures -------------------------------------------------- */

/* LZ4 sequences: token = literal count << 4 | (match length - 4), the
 * literals, a 16-bit LE offset, then any extra match-length bytes; the last
 * sequence is literals only.  liblz4 also enforces the format's end rule:
 * the last match starts at least 12 bytes before the end of the block. */

/* "abc", then offset 3 length 9 (token 0x35) gives "abcabcabcabc", then the
 * 5 final literals "xyzzy" (token 0x50). */
static const uint8_t seq_abc[] = {0x35, 'a', 'b', 'c', 0x03, 0x00, 0x50, 'x', 'y', 'z', 'z', 'y'};
static const char out_abc[] = "abcabcabcabcxyzzy";

/* Follows out_abc: literals "XY", then offset 4 length 8 (token 0x24).  The
 * match starts 2 bytes back in the previous block ("zy") and runs on into
 * the bytes it is itself producing. */
static const uint8_t seq_span[] = {0x24, 'X', 'Y', 0x04, 0x00, 0x50, '!', '!', '!', '!', '!'};
static const char out_span[] = "XYzyXYzyXY!!!!!";

/* Follows out_abc + out_span: no literals, offset 32 length 12 (token 0x08)
 * reaching back over the previous block to the start of the one before. */
static const uint8_t seq_back2[] = {0x08, 0x20, 0x00, 0x50, '1', '2', '3', '4', '5'};
static const char out_back2[] = "abcabcabcabc12345";

static void test_stored_block(void **state)
{
  (void)state;
  static const uint8_t s[] = {'b', 'v', '4', '-', 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 'b', 'v', '4', '$'};
  expect_decodes(s, sizeof(s), (const uint8_t *)"hello", 5);
}

static void test_lz4_block(void **state)
{
  (void)state;
  uint8_t s[64];
  size_t n = 0;
  put_lz4_block(s, &n, 17, seq_abc, sizeof(seq_abc));
  n += lz4a_encode_end(s + n);
  /* Header bytes as the spec spells them. */
  static const uint8_t hdr[] = {0x62, 0x76, 0x34, 0x31, 17, 0, 0, 0, 12, 0, 0, 0};
  assert_memory_equal(s, hdr, sizeof(hdr));
  expect_decodes(s, n, (const uint8_t *)out_abc, 17);
}

/* Apple's case: later bv41 blocks use earlier blocks' output as their
 * dictionary. */
static void test_cross_block(void **state)
{
  (void)state;
  /* Sanity check of the fixture: without the dictionary the block is
   * invalid, so passing means the history was used. */
  uint8_t tmp[64];
  assert_true(LZ4_decompress_safe((const char *)seq_span, (char *)tmp, sizeof(seq_span), 15) < 0);
  assert_true(LZ4_decompress_safe((const char *)seq_back2, (char *)tmp, sizeof(seq_back2), 17) < 0);

  uint8_t s[128];
  size_t n = 0;
  put_lz4_block(s, &n, 17, seq_abc, sizeof(seq_abc));
  put_lz4_block(s, &n, 15, seq_span, sizeof(seq_span));
  put_lz4_block(s, &n, 17, seq_back2, sizeof(seq_back2));
  n += lz4a_encode_end(s + n);

  char want[64];
  snprintf(want, sizeof(want), "%s%s%s", out_abc, out_span, out_back2);
  expect_decodes(s, n, (const uint8_t *)want, strlen(want));
}

/* Stored blocks are part of the history too. */
static void test_stored_then_lz4(void **state)
{
  (void)state;
  /* No literals, offset 6 length 6 (token 0x02), then "world!". */
  static const uint8_t seq[] = {0x02, 0x06, 0x00, 0x60, 'w', 'o', 'r', 'l', 'd', '!'};
  uint8_t s[64];
  size_t n = 0;
  put_stored_block(s, &n, (const uint8_t *)"Hello ", 6);
  put_lz4_block(s, &n, 12, seq, sizeof(seq));
  n += lz4a_encode_end(s + n);
  expect_decodes(s, n, (const uint8_t *)"Hello Hello world!", 18);
}

/* The window slides over several blocks smaller than 64 KiB: a match at the
 * largest offset, 65535, lands in the first of three earlier blocks. */
static void test_history_window(void **state)
{
  (void)state;
  enum { B = 30000, NB = 3, MLEN = 20 };
  size_t data_len = NB * B + MLEN + 5;
  uint8_t *data = xmalloc(data_len);
  rng_seed(7);
  fill_random(data, NB * B);
  memcpy(data + NB * B, data + NB * B - 65535, MLEN);
  memcpy(data + NB * B + MLEN, "tail!", 5);

  /* Match length 20 = 15 + 4 in the token, 1 more in an extra byte after
   * the offset. */
  const uint8_t seq[] = {0x0f, 0xff, 0xff, 0x01, 0x50, 't', 'a', 'i', 'l', '!'};
  uint8_t *s = xmalloc(data_len + 256);
  size_t n = 0;
  for (int i = 0; i < NB; i++)
    put_stored_block(s, &n, data + (size_t)i * B, B);
  put_lz4_block(s, &n, MLEN + 5, seq, sizeof(seq));
  n += lz4a_encode_end(s + n);
  expect_decodes(s, n, data, data_len);

  /* The same block after less than 65535 bytes of history must fail. */
  size_t m = 0;
  put_stored_block(s, &m, data, 60000);
  put_lz4_block(s, &m, MLEN + 5, seq, sizeof(seq));
  m += lz4a_encode_end(s + m);
  expect_fails(s, m, "invalid LZ4 block");

  free(s);
  free(data);
}

static void test_empty_stream(void **state)
{
  (void)state;
  expect_decodes((const uint8_t *)"bv4$", 4, NULL, 0);

  /* And our encoder makes exactly that of nothing. */
  size_t n;
  uint8_t *s = encode_stream((const uint8_t *)"", 0, LZ4A_ENCODE_BLOCK, &n);
  assert_int_equal(n, 4);
  assert_memory_equal(s, "bv4$", 4);
  free(s);
}

/* ---- round trips through our encoder ----------------------------------- */

static struct block_counts roundtrip(const uint8_t *data, size_t n)
{
  size_t sl;
  uint8_t *s = encode_stream(data, n, LZ4A_ENCODE_BLOCK, &sl);
  struct block_counts c = check_independent(s, sl, data, n);
  expect_decodes(s, sl, data, n);
  free(s);
  return c;
}

static void test_roundtrip_zeros(void **state)
{
  (void)state;
  size_t n = 2u << 20;
  uint8_t *data = xcalloc(1, n);
  size_t sl;
  uint8_t *s = encode_stream(data, n, LZ4A_ENCODE_BLOCK, &sl);
  assert_true(sl < n / 200);
  free(s);
  struct block_counts c = roundtrip(data, n);
  assert_int_equal(c.lz4, 2);
  assert_int_equal(c.stored, 0);
  free(data);
}

static void test_roundtrip_random(void **state)
{
  (void)state;
  size_t n = 3u << 20;
  uint8_t *data = xmalloc(n);
  rng_seed(1);
  fill_random(data, n);
  struct block_counts c = roundtrip(data, n);
  assert_int_equal(c.stored, 3); /* random data does not compress */
  assert_int_equal(c.lz4, 0);
  free(data);
}

static void test_roundtrip_text(void **state)
{
  (void)state;
  size_t n = (5u << 20) / 2;
  uint8_t *data = xmalloc(n);
  rng_seed(2);
  fill_text(data, n);
  struct block_counts c = roundtrip(data, n);
  assert_int_equal(c.lz4, 3);
  free(data);
}

static void test_roundtrip_sizes(void **state)
{
  (void)state;
  static const size_t sizes[] = {
      0, 1, 2, 13, LZ4A_ENCODE_BLOCK - 1, LZ4A_ENCODE_BLOCK, LZ4A_ENCODE_BLOCK + 1};
  uint8_t *data = xmalloc(LZ4A_ENCODE_BLOCK + 1);
  rng_seed(3);
  fill_text(data, LZ4A_ENCODE_BLOCK / 2);
  fill_random(data + LZ4A_ENCODE_BLOCK / 2, LZ4A_ENCODE_BLOCK / 2 + 1);
  for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
    struct block_counts c = roundtrip(data, sizes[i]);
    assert_int_equal(c.lz4 + c.stored, (sizes[i] + LZ4A_ENCODE_BLOCK - 1) / LZ4A_ENCODE_BLOCK);
  }
  free(data);
}

/* A mixed stream (bv41 and bv4- blocks interleaved, small and large). */
static void test_roundtrip_mixed_small_blocks(void **state)
{
  (void)state;
  size_t n = 1u << 20;
  uint8_t *data = xmalloc(n);
  rng_seed(4);
  for (size_t off = 0; off < n; off += 10000) {
    size_t k = n - off < 10000 ? n - off : 10000;
    if ((off / 10000) % 3 == 0)
      fill_random(data + off, k);
    else
      fill_text(data + off, k);
  }
  size_t sl;
  uint8_t *s = encode_stream(data, n, 7777, &sl);
  struct block_counts c = check_independent(s, sl, data, n);
  assert_true(c.lz4 > 0 && c.stored > 0);
  expect_decodes(s, sl, data, n);
  free(s);
  free(data);
}

static void test_encode_limits(void **state)
{
  (void)state;
  uint8_t *data = xcalloc(1, LZ4A_MAX_BLOCK + 1);
  size_t cap = lz4a_block_bound(LZ4A_MAX_BLOCK + 1);
  uint8_t *out = xmalloc(cap);
  size_t w = 0;
  tart_error_t err = NULL;

  assert_int_equal(lz4a_encode_block(data, LZ4A_MAX_BLOCK + 1, out, cap, &w, &err), -1);
  assert_non_null(strstr(err->msg, "failed to compress disk: "));
  tart_error_release(&err);

  assert_int_equal(lz4a_encode_block(data, 100, out, lz4a_block_bound(100) - 1, &w, &err), -1);
  assert_non_null(err);
  tart_error_release(&err);

  w = 99;
  assert_int_equal(lz4a_encode_block(data, 0, out, cap, &w, &err), 0);
  assert_int_equal(w, 0);

  /* The largest block is accepted by both sides. */
  assert_int_equal(lz4a_encode_block(data, LZ4A_MAX_BLOCK, out, cap, &w, &err), 0);
  w += lz4a_encode_end(out + w);
  check_independent(out, w, data, LZ4A_MAX_BLOCK);
  struct outbuf o = {0};
  assert_int_equal(decode_split(out, w, SPLIT_RANDOM, &o, NULL, &err), 0);
  assert_int_equal(o.len, LZ4A_MAX_BLOCK);
  free(o.p);

  /* The bound covers liblz4's worst case and both headers. */
  assert_true(lz4a_block_bound(0) >= 12);
  assert_true(lz4a_block_bound(1000) >= 12 + (size_t)LZ4_compressBound(1000));
  assert_true(lz4a_block_bound(LZ4A_MAX_BLOCK) >= 12 + (size_t)LZ4_compressBound(LZ4A_MAX_BLOCK));

  uint8_t end[4];
  assert_int_equal(lz4a_encode_end(end), 4);
  assert_memory_equal(end, "bv4$", 4);
  free(out);
  free(data);
}

/* ---- interoperability --------------------------------------------------- */

/* Frame a stream the way Apple's encoder does, with liblz4's streaming
 * compressor so that each block may refer back into the previous 64 KiB;
 * block sizes vary so that references cross several blocks. */
static void dependent_stream(const uint8_t *data, size_t n, size_t max_block, uint8_t **out, size_t *out_len,
                             size_t *n_dependent)
{
  size_t cap = 1u << 16;
  uint8_t *s = xmalloc(cap);
  uint8_t *tmp = xmalloc(max_block);
  size_t len = 0;
  *n_dependent = 0;
  LZ4_stream_t *st = LZ4_createStream();
  assert_non_null(st);
  for (size_t off = 0; off < n;) {
    size_t k = 1 + (size_t)(rng_next() % max_block);
    if (k > n - off)
      k = n - off;
    int bound = LZ4_compressBound((int)k);
    while (len + 12 + (size_t)bound + 4 > cap) {
      cap *= 2;
      s = xrealloc(s, cap);
    }
    int e = LZ4_compress_fast_continue(st, (const char *)data + off, (char *)s + len + 12, (int)k, bound, 1);
    assert_true(e > 0);
    memcpy(s + len, "bv41", 4);
    put_le32(s + len + 4, (uint32_t)k);
    put_le32(s + len + 8, (uint32_t)e);
    /* Count blocks that really need the dictionary. */
    int r = LZ4_decompress_safe((const char *)s + len + 12, (char *)tmp, e, (int)k);
    if (r != (int)k || memcmp(tmp, data + off, k) != 0)
      (*n_dependent)++;
    len += 12 + (size_t)e;
    off += k;
  }
  len += lz4a_encode_end(s + len);
  LZ4_freeStream(st);
  free(tmp);
  *out = s;
  *out_len = len;
}

static void test_dependent_blocks(void **state)
{
  (void)state;
  size_t n = 1u << 20;
  uint8_t *data = xmalloc(n);
  rng_seed(5);
  fill_text(data, n);
  static const size_t max_blocks[] = {3000, 65536, 300000};
  for (size_t i = 0; i < ARRAY_SIZE(max_blocks); i++) {
    uint8_t *s;
    size_t sl, dep;
    dependent_stream(data, n, max_blocks[i], &s, &sl, &dep);
    assert_true(dep > 0);
    expect_decodes(s, sl, data, n);
    free(s);
  }
  free(data);
}

/* The `lz4` command writes the LZ4 *frame* format, which is not this
 * framing, so it cannot serve as an oracle.  Instead each of our bv41 blocks
 * must decode on its own with liblz4's plain decoder (check_independent),
 * here over data of every kind. */
static void test_interop_independent(void **state)
{
  (void)state;
  size_t n = 3u << 20;
  uint8_t *data = xmalloc(n);
  rng_seed(6);
  memset(data, 0, n / 3);
  fill_text(data + n / 3, n / 3);
  fill_random(data + 2 * (n / 3), n - 2 * (n / 3));
  size_t sl;
  uint8_t *s = encode_stream(data, n, LZ4A_ENCODE_BLOCK, &sl);
  struct block_counts c = check_independent(s, sl, data, n);
  assert_int_equal(c.lz4, 2);
  assert_int_equal(c.stored, 1);
  free(s);
  free(data);
}

/* ---- errors -------------------------------------------------------------- */

static void test_bad_magic(void **state)
{
  (void)state;
  expect_fails((const uint8_t *)"bv42\1\0\0\0x", 9, "unknown block magic 62 76 34 32");
  expect_fails((const uint8_t *)"BV41", 4, "unknown block magic");
  expect_fails((const uint8_t *)"\0\0\0\0", 4, "unknown block magic");
  /* An LZ4 frame (the `lz4` command's format) is not accepted. */
  expect_fails((const uint8_t *)"\x04\x22\x4d\x18\x64\x40\xa7", 7, "unknown block magic 04 22 4d 18");
  /* Bad magic of a second block. */
  expect_fails((const uint8_t *)"bv4-\1\0\0\0xbv4!", 13, "unknown block magic");
}

static void test_truncated(void **state)
{
  (void)state;
  /* Nothing at all, part of a magic, part of each kind of header. */
  expect_fails((const uint8_t *)"", 0, "truncated stream");
  expect_fails((const uint8_t *)"bv", 2, "truncated stream");
  expect_fails((const uint8_t *)"bv41\x11\0\0", 7, "truncated stream");
  expect_fails((const uint8_t *)"bv41\x11\0\0\0\x0c\0", 10, "truncated stream");
  expect_fails((const uint8_t *)"bv4-\5\0", 6, "truncated stream");

  /* Part of a payload. */
  uint8_t s[64];
  size_t n = 0;
  put_lz4_block(s, &n, 17, seq_abc, sizeof(seq_abc));
  expect_fails(s, n - 3, "truncated stream");
  expect_fails((const uint8_t *)"bv4-\5\0\0\0hel", 11, "truncated stream");

  /* Whole blocks but no end marker. */
  expect_fails(s, n, "truncated stream");
  expect_fails((const uint8_t *)"bv4-\5\0\0\0hello", 13, "truncated stream");
}

static void test_after_end(void **state)
{
  (void)state;
  expect_fails((const uint8_t *)"bv4$x", 5, "data after end of stream");
  expect_fails((const uint8_t *)"bv4$bv4$", 8, "data after end of stream");
  expect_fails((const uint8_t *)"bv4-\1\0\0\0xbv4$\0", 14, "data after end of stream");
}

static void test_sizes_out_of_range(void **state)
{
  (void)state;
  uint8_t s[32];
  /* Decoded size 0 and LZ4A_MAX_BLOCK + 1, for both kinds. */
  static const uint32_t bad[] = {0, LZ4A_MAX_BLOCK + 1, UINT32_MAX};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    size_t n = 0;
    memcpy(s, "bv41", 4);
    n = 4 + put_le32(s + 4, bad[i]);
    n += put_le32(s + n, 10);
    expect_fails(s, n, "block size");
    memcpy(s, "bv4-", 4);
    n = 4 + put_le32(s + 4, bad[i]);
    expect_fails(s, n, "block size");
  }
  /* Encoded size 0 and past liblz4's bound for the largest block. */
  static const uint32_t bad_enc[] = {0, (uint32_t)LZ4_COMPRESSBOUND(LZ4A_MAX_BLOCK) + 1, UINT32_MAX};
  for (size_t i = 0; i < ARRAY_SIZE(bad_enc); i++) {
    memcpy(s, "bv41", 4);
    size_t n = 4 + put_le32(s + 4, 100);
    n += put_le32(s + n, bad_enc[i]);
    expect_fails(s, n, "encoded block size");
  }
}

static void test_size_mismatch(void **state)
{
  (void)state;
  uint8_t s[64];
  size_t n = 0;
  /* Declared larger than the 17 bytes the block decodes to. */
  put_lz4_block(s, &n, 18, seq_abc, sizeof(seq_abc));
  n += lz4a_encode_end(s + n);
  expect_fails(s, n, "decoded to 17 bytes, header says 18");
  /* Declared smaller: liblz4 runs out of room. */
  n = 0;
  put_lz4_block(s, &n, 16, seq_abc, sizeof(seq_abc));
  n += lz4a_encode_end(s + n);
  expect_fails(s, n, "invalid LZ4 block");
}

static void test_corrupt_payload(void **state)
{
  (void)state;
  uint8_t s[64];
  size_t n = 0;
  /* Offset 100 with only 3 bytes of output and no history. */
  static const uint8_t far[] = {0x35, 'a', 'b', 'c', 100, 0x00, 0x50, 'x', 'y', 'z', 'z', 'y'};
  put_lz4_block(s, &n, 17, far, sizeof(far));
  n += lz4a_encode_end(s + n);
  expect_fails(s, n, "invalid LZ4 block");

  /* A literal run longer than the payload. */
  static const uint8_t lit[] = {0xf0, 0xff, 0x10, 'a', 'b'};
  n = 0;
  put_lz4_block(s, &n, 300, lit, sizeof(lit));
  n += lz4a_encode_end(s + n);
  expect_fails(s, n, "invalid LZ4 block");

  /* The payload ends inside a match offset. */
  static const uint8_t cut[] = {0x35, 'a', 'b', 'c', 0x03};
  n = 0;
  put_lz4_block(s, &n, 17, cut, sizeof(cut));
  n += lz4a_encode_end(s + n);
  expect_fails(s, n, "invalid LZ4 block");

  /* Flip each byte of a real block in turn.  LZ4 has no checksum, so some
   * flips still decode (to other bytes); the rest must fail cleanly, and
   * ASan/valgrind check nothing is read or written out of bounds. */
  enum { N = 4000 };
  uint8_t *data = xmalloc(N);
  rng_seed(8);
  fill_text(data, N);
  size_t sl;
  uint8_t *enc = encode_stream(data, N, LZ4A_ENCODE_BLOCK, &sl);
  assert_memory_equal(enc, "bv41", 4);
  size_t failures = 0;
  for (size_t i = 12; i + 4 < sl; i++) {
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t m = 0; m < ARRAY_SIZE(masks); m++) {
      enc[i] ^= masks[m];
      struct outbuf o = {0};
      tart_error_t err = NULL;
      if (decode_split(enc, sl, SPLIT_WHOLE, &o, NULL, &err) < 0) {
        assert_int_equal(strncmp(err->msg, PREFIX, strlen(PREFIX)), 0);
        assert_int_equal(o.len, 0);
        failures++;
        tart_error_release(&err);
      } else {
        assert_int_equal(o.len, N);
      }
      free(o.p);
      enc[i] ^= masks[m];
    }
  }
  assert_true(failures > 0);
  free(enc);
  free(data);
}

struct failing_sink {
  size_t calls;
  size_t fail_at;
};

static int sink_fail(void *opaque, const uint8_t *data, size_t len, tart_error_t *err)
{
  (void)data;
  (void)len;
  struct failing_sink *f = opaque;
  if (f->calls++ == f->fail_at)
    return tart_error_make(err, 28, "failed to write disk");
  return 0;
}

static void test_sink_error(void **state)
{
  (void)state;
  uint8_t s[128];
  size_t n = 0;
  put_stored_block(s, &n, (const uint8_t *)"one", 3);
  put_lz4_block(s, &n, 17, seq_abc, sizeof(seq_abc));
  put_stored_block(s, &n, (const uint8_t *)"three", 5);
  n += lz4a_encode_end(s + n);

  for (size_t at = 0; at < 3; at++) {
    struct failing_sink f = {0, at};
    struct lz4a_decoder *d = lz4a_decoder_new();
    tart_error_t err = NULL;
    assert_int_equal(lz4a_decoder_feed(d, s, n, sink_fail, &f, &err), -1);
    /* The sink's own error, untouched: message, errno, exit code. */
    assert_string_equal(err->msg, "failed to write disk: No space left on device");
    assert_int_equal(err->errnum, 28);
    assert_int_equal(err->exit_code, TART_EXIT_FAILURE);
    assert_int_equal(f.calls, at + 1); /* stopped at once */
    assert_int_equal(lz4a_decoder_total_out(d), at == 0 ? 0 : at == 1 ? 3 : 20);
    tart_error_release(&err);

    /* The decoder stays failed. */
    assert_int_equal(lz4a_decoder_feed(d, s, 1, sink_fail, &f, &err), -1);
    assert_non_null(strstr(err->msg, PREFIX));
    tart_error_release(&err);
    assert_int_equal(lz4a_decoder_finish(d, &err), -1);
    assert_non_null(strstr(err->msg, PREFIX));
    tart_error_release(&err);
    lz4a_decoder_free(d);
  }
}

/* Blocks reach the sink whole whatever the split, so sinks see the same
 * calls; and a failed feed consumes nothing more. */
static void test_sink_sees_whole_blocks(void **state)
{
  (void)state;
  uint8_t s[128];
  size_t n = 0;
  put_stored_block(s, &n, (const uint8_t *)"one", 3);
  put_lz4_block(s, &n, 17, seq_abc, sizeof(seq_abc));
  put_stored_block(s, &n, (const uint8_t *)"three", 5);
  n += lz4a_encode_end(s + n);
  struct outbuf o = {0};
  tart_error_t err = NULL;
  assert_int_equal(decode_split(s, n, SPLIT_BYTES, &o, NULL, &err), 0);
  assert_int_equal(o.calls, 3);
  free(o.p);
  lz4a_decoder_free(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stored_block),
      cmocka_unit_test(test_lz4_block),
      cmocka_unit_test(test_cross_block),
      cmocka_unit_test(test_stored_then_lz4),
      cmocka_unit_test(test_history_window),
      cmocka_unit_test(test_empty_stream),
      cmocka_unit_test(test_roundtrip_zeros),
      cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_roundtrip_text),
      cmocka_unit_test(test_roundtrip_sizes),
      cmocka_unit_test(test_roundtrip_mixed_small_blocks),
      cmocka_unit_test(test_encode_limits),
      cmocka_unit_test(test_dependent_blocks),
      cmocka_unit_test(test_interop_independent),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_after_end),
      cmocka_unit_test(test_sizes_out_of_range),
      cmocka_unit_test(test_size_mismatch),
      cmocka_unit_test(test_corrupt_payload),
      cmocka_unit_test(test_sink_error),
      cmocka_unit_test(test_sink_sees_whole_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
