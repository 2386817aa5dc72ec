/* Bounds on what a registry can make us do: how much we read, how deep we
 * follow, how long we wait.  Everything a registry sends is hostile until
 * checked (docs/security.md); each bound is here with its reason, so that
 * one place says what a hostile registry can cost. */
#ifndef TART_REGISTRY_LIMITS_H
#define TART_REGISTRY_LIMITS_H

/* Error bodies and token answers: a message needs the start of an error
 * body, and token answers are a few KiB.  An error body past this is cut
 * (the transfer stops), a token answer past it is an error. */
#define SMALL_BODY_MAX (1u << 20)

/* Manifests and indexes larger than this are refused: registries cap them
 * at 4 MiB (distribution's default), and a Tart manifest of a 1 TB disk in
 * 512 MiB chunks is under 1 MiB. */
#define OCI_MANIFEST_MAX (4u << 20)

/* A disk layer's uncompressed size may be at most this many times its
 * compressed size (plus 1 MiB).  LZ4 itself cannot expand more than about
 * 255 times (a length byte per 255 bytes of match; our own 512 MiB zero
 * chunk is 2 MiB), and the bound leaves room for encoders not seen here; a
 * larger claim is refused before it sizes the disk or the room pruning
 * makes for it. */
#define LZ4_EXPANSION_MAX 1024

/* An index may point at another index (OCI allows it); past this many
 * levels the chain is refused: real images have one, and each level is a
 * round trip a registry could make endless. */
#define OCI_INDEX_DEPTH_MAX 4

/* Redirects followed for one request: registries redirect blob GETs once,
 * to object storage; a loop must end. */
#define MAX_REDIRECTS 5

/* Time.  A request that carries no blob (manifests, tokens, HEADs, the
 * steps of an upload) ends within REQUEST_TIMEOUT_S, headers and body: a
 * manifest trickled at a few KB/s would otherwise hold a pull for half an
 * hour.  A blob transfer ends within BLOB_TIMEOUT_S: a disk chunk is a few
 * hundred MiB at most, and a download cut by the bound resumes where it
 * stopped (Range), so a slow link pays only a reconnect.  Under
 * STALL_BYTES_PER_S for STALL_S is a dead connection, retried.
 * TART_REQUEST_TIMEOUT_MS lowers both totals (tests). */
#define CONNECT_TIMEOUT_S 30
#define REQUEST_TIMEOUT_S 120
#define BLOB_TIMEOUT_S    1800
#define STALL_BYTES_PER_S 1024
#define STALL_S           60

/* The longest token we send: registries' JWTs are a few KiB. */
#define REGISTRY_TOKEN_MAX 16384

/* ---- credentials (registry/credentials.c) ---- */

/* Docker configs are a few KiB; anything near this is not one. */
#define CONFIG_MAX (4 * 1024 * 1024)
/* A helper prints one small JSON object; more is a misbehaving helper. */
#define HELPER_OUTPUT_MAX (64 * 1024)
#define HELPER_STDERR_MAX 4096
/* The host goes through a pipe written before the helper starts, so it must
 * fit in the smallest pipe buffer Linux hands out (one page). */
#define HOST_MAX 1024
/* A credential helper answers from a store in well under a second; one that
 * asks for a passphrase (pass, a locked keyring) may take a person's time.
 * Past this it is killed and the lookup fails in one line, instead of tart
 * hanging on a helper that never exits.  TART_HELPER_TIMEOUT_MS overrides
 * it (tests). */
#define HELPER_TIMEOUT_MS (60 * 1000)

#endif
