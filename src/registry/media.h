/* The manifest media types of the distribution protocol: what a registry
 * client asks for (Accept) and what it may be given back.  Below oci/,
 * which adds Tart's own layer and config types (oci/manifest.h), so that
 * registry/ never includes upward. */
#ifndef TART_REGISTRY_MEDIA_H
#define TART_REGISTRY_MEDIA_H

#define OCI_MEDIA_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_INDEX       "application/vnd.oci.image.index.v1+json"
#define DOCKER_MEDIA_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MEDIA_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"

#include "registry/limits.h" /* OCI_MANIFEST_MAX */

#endif
