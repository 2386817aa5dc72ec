/* Apple's "LZ4" framing (COMPRESSION_LZ4 in Apple's Compression library),
 * which Tart uses for every disk layer (docs/upstream.md, "OCI media types and LZ4 framing").  It is not the
 * LZ4 frame format: a stream is a sequence of blocks, each starting with a 4-byte magic:
 *
 *   "bv41" <decoded size u32 LE> <encoded size u32 LE> <raw LZ4 block>
 *   "bv4-" <size u32 LE> <size bytes stored as is>
 *   "bv4$"                               end of stream
 *
 * A bv41 block may refer back into the previous 64 KiB of output, so the
 * decoder keeps that window as a dictionary.  Our encoder writes independent
 * bv41 blocks (or bv4- where compression does not pay) and ends with bv4$.
 *
 * Hand-written because no library speaks this framing; the LZ4 block codec
 * itself is liblz4's. */
#ifndef TART_OCI_LZ4APPLE_H
#define TART_OCI_LZ4APPLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Largest decoded size of one block we accept.  Apple's encoder writes
 * small blocks; anything larger than this is treated as malformed so a
 * hostile stream cannot make us allocate without bound. */
#define LZ4A_MAX_BLOCK (8u << 20)
/* Input bytes per block written by our encoder. */
#define LZ4A_ENCODE_BLOCK (1u << 20)

/* Receives decoded bytes in order.  Returns 0, or -1 with *err set to stop
 * decoding. */
typedef int (*lz4a_sink_fn)(void *opaque, const uint8_t *data, size_t len, tart_error_t *err);

struct lz4a_decoder;

struct lz4a_decoder *lz4a_decoder_new(void);
void lz4a_decoder_free(struct lz4a_decoder *d);

/* Feed the next compressed bytes (any split, even one byte at a time).
 * Complete blocks are decoded and passed to sink.  Malformed input (bad
 * magic, sizes over LZ4A_MAX_BLOCK, an LZ4 block that does not decode to
 * exactly its declared size, data after bv4$) fails with an error starting
 * "failed to decompress disk: ". */
int lz4a_decoder_feed(struct lz4a_decoder *d, const uint8_t *in, size_t len, lz4a_sink_fn sink, void *opaque,
                      tart_error_t *err);

/* End of input: fails unless the stream ended exactly after bv4$. */
int lz4a_decoder_finish(struct lz4a_decoder *d, tart_error_t *err);

/* Total decoded bytes so far. */
uint64_t lz4a_decoder_total_out(const struct lz4a_decoder *d);

/* Worst-case encoded size of one block of len input bytes (header
 * included). */
size_t lz4a_block_bound(size_t len);

/* Encode one independent block of len (<= LZ4A_MAX_BLOCK) bytes into out
 * (cap >= lz4a_block_bound(len)); *written receives its size.  Writes bv41,
 * or bv4- when the data does not compress. */
int lz4a_encode_block(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *written,
                      tart_error_t *err);

/* The end marker; returns 4. */
size_t lz4a_encode_end(uint8_t out[4]);

#endif
