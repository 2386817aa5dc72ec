/* Apple "LZ4" framing (docs/upstream.md, "OCI media types and LZ4 framing"): the block framing is ours, the
 * LZ4 block codec is liblz4's.
 *
 * The decoder is a push state machine because layer blobs arrive from the
 * network in chunks of arbitrary size: a block header or payload may be cut
 * anywhere.  It keeps at most one block's encoded bytes, one block's decoded
 * bytes and a 64 KiB history window, each grown only to the sizes the stream
 * actually uses, so a decoder costs O(LZ4A_MAX_BLOCK) at worst and little for
 * the small blocks Apple writes.  When a whole block is present in the input
 * it is decoded in place without being buffered at all. */
#include "oci/lz4apple.h"

#include <lz4.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define MAGIC_LEN      4
#define HDR_LZ4_LEN    12 /* magic, decoded size, encoded size */
#define HDR_STORED_LEN 8  /* magic, size */
#define HDR_MAX_LEN    HDR_LZ4_LEN
/* LZ4 match offsets are 16 bits, so no block can reach further back than
 * this into earlier output. */
#define HISTORY_SIZE (64u << 10)
#define MAX_ENCODED  ((size_t)LZ4_COMPRESSBOUND(LZ4A_MAX_BLOCK))

#define ERR_PREFIX "failed to decompress disk: "

static const uint8_t magic_lz4[MAGIC_LEN] = {'b', 'v', '4', '1'};
static const uint8_t magic_stored[MAGIC_LEN] = {'b', 'v', '4', '-'};
static const uint8_t magic_end[MAGIC_LEN] = {'b', 'v', '4', '$'};

enum lz4a_state {
  ST_HEADER,         /* collecting a block header into hdr */
  ST_PAYLOAD_LZ4,    /* collecting a bv41 block's encoded bytes */
  ST_PAYLOAD_STORED, /* collecting a bv4- block's bytes */
  ST_END,            /* bv4$ seen; nothing more may follow */
  ST_FAILED,         /* an error was returned; the stream is unusable */
};

struct lz4a_decoder {
  enum lz4a_state state;

  uint8_t hdr[HDR_MAX_LEN];
  size_t hdr_len; /* bytes of hdr filled */

  uint32_t decoded_size; /* of the current block */
  uint32_t encoded_size; /* of the current bv41 block */

  /* Encoded bytes of a bv41 block that arrived split across feeds. */
  uint8_t *enc;
  size_t enc_cap, enc_len;

  /* Decoded bytes of the current block (for bv4-, only when split across
   * feeds); the sink is handed them from here. */
  uint8_t *dec;
  size_t dec_cap, dec_len;

  /* The last hist_len (<= HISTORY_SIZE) bytes of output, the dictionary for
   * the next bv41 block.  Separate from dec because liblz4 requires the
   * dictionary and the output not to overlap. */
  uint8_t *hist;
  size_t hist_len;

  uint64_t total_out;
};

static uint32_t get_le32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

struct lz4a_decoder *lz4a_decoder_new(void)
{
  /* Buffers are allocated on first use, sized to the blocks seen. */
  struct lz4a_decoder *d = xcalloc(1, sizeof(*d));
  d->state = ST_HEADER;
  return d;
}

void lz4a_decoder_free(struct lz4a_decoder *d)
{
  if (d == NULL)
    return;
  free(d->enc);
  free(d->dec);
  free(d->hist);
  free(d);
}

uint64_t lz4a_decoder_total_out(const struct lz4a_decoder *d)
{
  return d->total_out;
}

/* Make *buf hold at least need bytes.  Only called while the buffer holds
 * nothing worth keeping, so it is replaced rather than realloc'd (no copy).
 * Doubling keeps a stream of slowly growing blocks from reallocating each
 * time; max caps that at the largest size the stream may legally use. */
static void ensure_cap(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
  if (*cap >= need)
    return;
  size_t n = *cap * 2;
  if (n > max)
    n = max;
  if (n < need)
    n = need;
  free(*buf);
  *buf = xmalloc(n);
  *cap = n;
}

static int fail(struct lz4a_decoder *d, tart_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct lz4a_decoder *d, tart_error_t *err, const char *fmt, ...)
{
  d->state = ST_FAILED;
  va_list ap;
  va_start(ap, fmt);
  tart_error_makev(err, TART_EXIT_FAILURE, 0, fmt, ap);
  va_end(ap);
  return -1;
}

static void history_append(struct lz4a_decoder *d, const uint8_t *data, size_t n)
{
  if (d->hist == NULL)
    d->hist = xmalloc(HISTORY_SIZE);
  if (n >= HISTORY_SIZE) {
    memcpy(d->hist, data + n - HISTORY_SIZE, HISTORY_SIZE);
    d->hist_len = HISTORY_SIZE;
    return;
  }
  size_t keep = d->hist_len;
  if (keep > HISTORY_SIZE - n)
    keep = HISTORY_SIZE - n;
  memmove(d->hist, d->hist + d->hist_len - keep, keep);
  memcpy(d->hist + keep, data, n);
  d->hist_len = keep + n;
}

/* Hand one whole decoded block to the sink and remember its tail. */
static int emit(struct lz4a_decoder *d, const uint8_t *data, size_t n, lz4a_sink_fn sink, void *opaque,
                tart_error_t *err)
{
  if (sink(opaque, data, n, err) < 0) {
    /* The sink's error is the one the caller needs to see; keep it as is. */
    d->state = ST_FAILED;
    return -1;
  }
  history_append(d, data, n);
  d->total_out += n;
  d->state = ST_HEADER;
  return 0;
}

static int decode_lz4(struct lz4a_decoder *d, const uint8_t *src, lz4a_sink_fn sink, void *opaque,
                      tart_error_t *err)
{
  ensure_cap(&d->dec, &d->dec_cap, d->decoded_size, LZ4A_MAX_BLOCK);
  /* Capacity is exactly the declared size: a block that would decode to
   * more fails inside liblz4, one that decodes to less is caught below. */
  int n = LZ4_decompress_safe_usingDict((const char *)src, (char *)d->dec, (int)d->encoded_size,
                                        (int)d->decoded_size, (const char *)d->hist, (int)d->hist_len);
  if (n < 0)
    return fail(d, err, ERR_PREFIX "invalid LZ4 block (%u bytes encoded, %u declared decoded)",
                d->encoded_size, d->decoded_size);
  if ((uint32_t)n != d->decoded_size)
    return fail(d, err, ERR_PREFIX "LZ4 block decoded to %d bytes, header says %u", n, d->decoded_size);
  return emit(d, d->dec, d->decoded_size, sink, opaque, err);
}

/* A full header is in d->hdr (or just its magic, for bv4$): check it and
 * move to the payload state. */
static int parse_header(struct lz4a_decoder *d, tart_error_t *err)
{
  const uint8_t *h = d->hdr;
  uint32_t dsize = get_le32(h + 4);
  if (dsize == 0 || dsize > LZ4A_MAX_BLOCK)
    return fail(d, err, ERR_PREFIX "block size %u out of range (1..%u)", dsize, LZ4A_MAX_BLOCK);
  d->decoded_size = dsize;
  if (memcmp(h, magic_stored, MAGIC_LEN) == 0) {
    d->dec_len = 0;
    d->state = ST_PAYLOAD_STORED;
    return 0;
  }
  uint32_t esize = get_le32(h + 8);
  if (esize == 0 || esize > MAX_ENCODED)
    return fail(d, err, ERR_PREFIX "encoded block size %u out of range (1..%zu)", esize, MAX_ENCODED);
  d->encoded_size = esize;
  d->enc_len = 0;
  d->state = ST_PAYLOAD_LZ4;
  return 0;
}

/* How long the header starting with d->hdr's magic is; 0 if the magic is
 * unknown. */
static size_t header_len(const uint8_t *magic)
{
  if (memcmp(magic, magic_lz4, MAGIC_LEN) == 0)
    return HDR_LZ4_LEN;
  if (memcmp(magic, magic_stored, MAGIC_LEN) == 0)
    return HDR_STORED_LEN;
  if (memcmp(magic, magic_end, MAGIC_LEN) == 0)
    return MAGIC_LEN;
  return 0;
}

int lz4a_decoder_feed(struct lz4a_decoder *d, const uint8_t *in, size_t len, lz4a_sink_fn sink, void *opaque,
                      tart_error_t *err)
{
  if (d->state == ST_FAILED)
    return tart_error_make(err, 0, ERR_PREFIX "decoder used after an error");

  while (len > 0) {
    switch (d->state) {
    case ST_HEADER: {
      /* Headers are at most 12 bytes, so always collecting them in hdr costs
       * nothing and gives one code path for split and whole headers. */
      size_t need = MAGIC_LEN;
      if (d->hdr_len >= MAGIC_LEN)
        need = header_len(d->hdr);
      size_t n = need - d->hdr_len;
      if (n > len)
        n = len;
      memcpy(d->hdr + d->hdr_len, in, n);
      d->hdr_len += n;
      in += n;
      len -= n;
      if (d->hdr_len < need)
        break;
      if (d->hdr_len == MAGIC_LEN) {
        size_t full = header_len(d->hdr);
        if (full == 0)
          return fail(d, err, ERR_PREFIX "unknown block magic %02x %02x %02x %02x", d->hdr[0], d->hdr[1],
                      d->hdr[2], d->hdr[3]);
        if (full == MAGIC_LEN) {
          d->hdr_len = 0;
          d->state = ST_END;
          break;
        }
        if (d->hdr_len < full)
          break; /* the loop comes back for the sizes */
      }
      d->hdr_len = 0;
      if (parse_header(d, err) < 0)
        return -1;
      break;
    }

    case ST_PAYLOAD_LZ4: {
      if (d->enc_len == 0 && len >= d->encoded_size) {
        /* The whole block is in this feed: decode it where it lies. */
        const uint8_t *src = in;
        in += d->encoded_size;
        len -= d->encoded_size;
        if (decode_lz4(d, src, sink, opaque, err) < 0)
          return -1;
        break;
      }
      ensure_cap(&d->enc, &d->enc_cap, d->encoded_size, MAX_ENCODED);
      size_t n = d->encoded_size - d->enc_len;
      if (n > len)
        n = len;
      memcpy(d->enc + d->enc_len, in, n);
      d->enc_len += n;
      in += n;
      len -= n;
      if (d->enc_len < d->encoded_size)
        break;
      d->enc_len = 0;
      if (decode_lz4(d, d->enc, sink, opaque, err) < 0)
        return -1;
      break;
    }

    case ST_PAYLOAD_STORED: {
      if (d->dec_len == 0 && len >= d->decoded_size) {
        const uint8_t *src = in;
        in += d->decoded_size;
        len -= d->decoded_size;
        if (emit(d, src, d->decoded_size, sink, opaque, err) < 0)
          return -1;
        break;
      }
      /* Split: gather the block so that the sink and the history see it
       * whole, as they would with any other split of the input. */
      ensure_cap(&d->dec, &d->dec_cap, d->decoded_size, LZ4A_MAX_BLOCK);
      size_t n = d->decoded_size - d->dec_len;
      if (n > len)
        n = len;
      memcpy(d->dec + d->dec_len, in, n);
      d->dec_len += n;
      in += n;
      len -= n;
      if (d->dec_len < d->decoded_size)
        break;
      d->dec_len = 0;
      if (emit(d, d->dec, d->decoded_size, sink, opaque, err) < 0)
        return -1;
      break;
    }

    case ST_END:
      return fail(d, err, ERR_PREFIX "data after end of stream");

    case ST_FAILED:
      abort(); /* left the loop when the state was set */
    }
  }
  return 0;
}

int lz4a_decoder_finish(struct lz4a_decoder *d, tart_error_t *err)
{
  /* In ST_END nothing can be pending: hdr_len is reset on bv4$ and any later
   * byte fails the feed. */
  if (d->state == ST_END)
    return 0;
  if (d->state == ST_FAILED)
    return tart_error_make(err, 0, ERR_PREFIX "decoder used after an error");
  return fail(d, err, ERR_PREFIX "truncated stream");
}

size_t lz4a_block_bound(size_t len)
{
  /* A bv41 block at liblz4's worst case; always larger than the bv4- form.
   * Spelled out rather than LZ4_COMPRESSBOUND, which gives 0 past 2 GiB. */
  return HDR_LZ4_LEN + len + len / 255 + 16;
}

int lz4a_encode_block(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *written,
                      tart_error_t *err)
{
  if (len > LZ4A_MAX_BLOCK)
    return tart_error_make(err, 0, "failed to compress disk: block of %zu bytes is larger than %u", len,
                           LZ4A_MAX_BLOCK);
  if (cap < lz4a_block_bound(len))
    return tart_error_make(err, 0, "failed to compress disk: output buffer of %zu bytes is smaller than %zu",
                           cap, lz4a_block_bound(len));
  if (len == 0) {
    /* Decoders (ours included) reject empty blocks; an empty input is just
     * the end marker. */
    *written = 0;
    return 0;
  }

  /* Independent blocks (no dictionary): each can be decoded on its own, and
   * a block does not depend on how the caller cut the input. */
  int n = LZ4_compress_default((const char *)in, (char *)out + HDR_LZ4_LEN, (int)len,
                               (int)(cap - HDR_LZ4_LEN > MAX_ENCODED ? MAX_ENCODED : cap - HDR_LZ4_LEN));
  if (n > 0 && (size_t)n < len) {
    memcpy(out, magic_lz4, MAGIC_LEN);
    put_le32(out + 4, (uint32_t)len);
    put_le32(out + 8, (uint32_t)n);
    *written = HDR_LZ4_LEN + (size_t)n;
    return 0;
  }
  /* Incompressible (or liblz4 refused, which with a full-bound buffer it
   * should not): storing is never larger and always decodes. */
  memcpy(out, magic_stored, MAGIC_LEN);
  put_le32(out + 4, (uint32_t)len);
  memcpy(out + HDR_STORED_LEN, in, len);
  *written = HDR_STORED_LEN + len;
  return 0;
}

size_t lz4a_encode_end(uint8_t out[4])
{
  memcpy(out, magic_end, MAGIC_LEN);
  return MAGIC_LEN;
}
