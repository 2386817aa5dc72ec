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

/* An index may point at another index (OCI allows it); past this many
 * levels the chain is refused: real images have one, and each level is a
 * round trip a registry could make endless. */
#define OCI_INDEX_DEPTH_MAX 4

/* Redirects followed for one request: registries redirect blob GETs once,
 * to object storage; a loop must end. */
#define MAX_REDIRECTS 5

/* The longest token we send: registries' JWTs are a few KiB. */
#define REGISTRY_TOKEN_MAX 16384

#endif
