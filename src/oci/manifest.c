/* OCI manifests, indexes and image configs as Tart uses them (docs/upstream.md, "OCI media types and LZ4
 * framing").
 *
 * Parsing checks each descriptor in full before copying anything out of it,
 * and a failure frees what earlier descriptors took, so a caller never sees
 * a half-filled struct.  Messages quote document values escaped and cut
 * short: a registry we do not trust chooses them, and they must stay on the
 * single line that main() prints.
 *
 * Serialization matters byte for byte: the digest of a pushed manifest is the
 * sha256 of exactly the bytes oci_manifest_dump() returns, and a dump must be
 * reproducible from the parsed form (pull stores manifest.json, push and the
 * layer cache compare digests).  jansson's JSON_COMPACT | JSON_SORT_KEYS
 * gives upstream's layout: no whitespace, keys in byte order at every level.
 * (Upstream's Swift JSONEncoder also writes '/' as "\/"; we write it plain,
 * see the note at dump_flags.) */
#include "oci/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/limits.h"
#include "util/util.h"

#define PREFIX "invalid manifest: "

#define DIGEST_PREFIX     "sha256:"
#define DIGEST_PREFIX_LEN 7
#define DIGEST_HEX_LEN    64

/* JSON_ESCAPE_SLASH is deliberately absent: '/' in media types stays plain,
 * as in the manifests other OCI tools write.  Both spellings decode to the
 * same document, so only the digest of a freshly pushed manifest depends on
 * it, and that digest is computed over our own bytes. */
static const size_t dump_flags = JSON_COMPACT | JSON_SORT_KEYS;

/* ---- small helpers ----------------------------------------------------- */

bool oci_digest_valid(const char *d)
{
  if (d == NULL || strncmp(d, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0)
    return false;
  const char *hex = d + DIGEST_PREFIX_LEN;
  for (size_t i = 0; i < DIGEST_HEX_LEN; i++) {
    char c = hex[i];
    /* Lower case only: the digest names a file in the OCI cache and is
     * compared as a string, so "sha256:AB.." would be a different blob. */
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  return hex[DIGEST_HEX_LEN] == '\0';
}

/* A value from the document, quoted for an error message: control and
 * non-ASCII bytes become \xNN (the message must stay one printable line) and
 * long values are cut, since a hostile registry chooses them. */
static void quote(const char *s, char *out, size_t n)
{
  static const size_t max_shown = 80;
  size_t o = 0, shown = 0;
  out[o++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++, shown++) {
    if (shown == max_shown || o + 8 >= n) {
      snprintf(out + o, n - o, "...\"");
      return;
    }
    if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
      o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
    else
      out[o++] = (char)*p;
  }
  snprintf(out + o, n - o, "\"");
}

#define QUOTE_SIZE 400

/* jansson's messages may quote bytes of the input; keep them printable. */
static void sanitize(char *s)
{
  for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p >= 0x7f)
      *p = '?';
}

static json_t *load(const char *buf, size_t len, tart_error_t *err)
{
  if (len > OCI_MANIFEST_MAX) {
    tart_error_make(err, 0, PREFIX "%zu bytes is larger than the limit of %u bytes", len, OCI_MANIFEST_MAX);
    return NULL;
  }
  json_error_t jerr;
  /* Duplicate keys are refused: two readers could otherwise disagree about
   * which "layers" a manifest with a given digest has. */
  json_t *doc = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    sanitize(jerr.text);
    tart_error_make(err, 0, PREFIX "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    return NULL;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    tart_error_make(err, 0, PREFIX "the top-level value is not a JSON object");
    return NULL;
  }
  return doc;
}

/* An optional member: NULL when absent or JSON null (as Swift's
 * decodeIfPresent, which upstream decodes with, treats null). */
static json_t *optional(json_t *obj, const char *key)
{
  json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

static int get_string(json_t *obj, const char *key, const char *where, const char **out, tart_error_t *err)
{
  json_t *v = json_object_get(obj, key);
  if (v == NULL && *where == '\0')
    return tart_error_make(err, 0, PREFIX "\"%s\" is missing", key);
  if (v == NULL)
    return tart_error_make(err, 0, PREFIX "%s has no \"%s\"", where, key);
  if (!json_is_string(v))
    return tart_error_make(err, 0, PREFIX "%s%s\"%s\" is not a string", where, *where ? ": " : "", key);
  *out = json_string_value(v);
  return 0;
}

static int check_schema_version(json_t *doc, tart_error_t *err)
{
  json_t *v = json_object_get(doc, "schemaVersion");
  if (v == NULL)
    return tart_error_make(err, 0, PREFIX "\"schemaVersion\" is missing");
  if (!json_is_integer(v))
    return tart_error_make(err, 0, PREFIX "\"schemaVersion\" is not an integer");
  if (json_integer_value(v) != 2)
    return tart_error_make(err, 0, PREFIX "\"schemaVersion\" is %lld, only 2 is supported",
                           (long long)json_integer_value(v));
  return 0;
}

/* The optional top-level mediaType, which must be one of want[0..n). */
static int check_media_type(json_t *doc, const char *const *want, size_t n, const char *what,
                            const char **out, tart_error_t *err)
{
  json_t *v = optional(doc, "mediaType");
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_is_string(v))
    return tart_error_make(err, 0, PREFIX "\"mediaType\" is not a string");
  const char *s = json_string_value(v);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(s, want[i]) == 0) {
      *out = s;
      return 0;
    }
  }
  char q[QUOTE_SIZE];
  quote(s, q, sizeof(q));
  return tart_error_make(err, 0, PREFIX "media type %s is not %s", q, what);
}

/* Optional annotations: a JSON object of strings.  *out is borrowed. */
static int check_annotations(json_t *obj, const char *where, json_t **out, tart_error_t *err)
{
  json_t *a = optional(obj, "annotations");
  *out = NULL;
  if (a == NULL)
    return 0;
  if (!json_is_object(a))
    return tart_error_make(err, 0, PREFIX "%s%sannotations are not a JSON object", where, *where ? ": " : "");
  const char *key;
  json_t *v;
  json_object_foreach(a, key, v)
  {
    if (!json_is_string(v)) {
      char q[QUOTE_SIZE];
      quote(key, q, sizeof(q));
      return tart_error_make(err, 0, PREFIX "%s%sannotation %s is not a string", where, *where ? ": " : "",
                             q);
    }
  }
  *out = a;
  return 0;
}

/* ---- descriptors ------------------------------------------------------- */

static void descriptor_clear(struct oci_descriptor *d)
{
  free(d->media_type);
  free(d->digest);
  json_decref(d->annotations);
  free(d->platform_os);
  free(d->platform_arch);
  memset(d, 0, sizeof(*d));
}

/* Validate the descriptor v (named `where` in messages), then fill *d.  With
 * want_platform, an optional "platform" with os and architecture is read
 * too (index entries). */
static int parse_descriptor(json_t *v, const char *where, bool want_platform, struct oci_descriptor *d,
                            tart_error_t *err)
{
  memset(d, 0, sizeof(*d));
  if (!json_is_object(v))
    return tart_error_make(err, 0, PREFIX "%s is not a JSON object", where);

  const char *media_type, *digest;
  if (get_string(v, "mediaType", where, &media_type, err) < 0 ||
      get_string(v, "digest", where, &digest, err) < 0)
    return -1;
  if (!oci_digest_valid(digest)) {
    char q[QUOTE_SIZE];
    quote(digest, q, sizeof(q));
    return tart_error_make(err, 0, PREFIX "%s: digest %s is not \"sha256:\" and 64 lower-case hex digits",
                           where, q);
  }

  json_t *size = json_object_get(v, "size");
  if (size == NULL)
    return tart_error_make(err, 0, PREFIX "%s has no \"size\"", where);
  /* Reals (12.0, 1e3) are refused: a size is a byte count. */
  if (!json_is_integer(size))
    return tart_error_make(err, 0, PREFIX "%s: \"size\" is not an integer", where);
  if (json_integer_value(size) < 0)
    return tart_error_make(err, 0, PREFIX "%s: \"size\" is negative (%lld)", where,
                           (long long)json_integer_value(size));

  json_t *annotations;
  if (check_annotations(v, where, &annotations, err) < 0)
    return -1;

  const char *os = NULL, *arch = NULL;
  json_t *platform = want_platform ? optional(v, "platform") : NULL;
  if (platform != NULL) {
    char pwhere[96];
    snprintf(pwhere, sizeof(pwhere), "%s.platform", where);
    if (!json_is_object(platform))
      return tart_error_make(err, 0, PREFIX "%s is not a JSON object", pwhere);
    if (get_string(platform, "os", pwhere, &os, err) < 0 ||
        get_string(platform, "architecture", pwhere, &arch, err) < 0)
      return -1;
  }

  d->media_type = xstrdup(media_type);
  d->digest = xstrdup(digest);
  d->size = (uint64_t)json_integer_value(size);
  d->annotations = json_incref(annotations);
  d->platform_os = os != NULL ? xstrdup(os) : NULL;
  d->platform_arch = arch != NULL ? xstrdup(arch) : NULL;
  return 0;
}

/* The array member `key` of doc, every element a descriptor.  On failure
 * the descriptors parsed so far are freed. */
static int parse_descriptor_array(json_t *doc, const char *key, bool want_platform,
                                  struct oci_descriptor **out, size_t *n_out, tart_error_t *err)
{
  json_t *arr = json_object_get(doc, key);
  if (arr == NULL)
    return tart_error_make(err, 0, PREFIX "\"%s\" is missing", key);
  if (!json_is_array(arr))
    return tart_error_make(err, 0, PREFIX "\"%s\" is not an array", key);

  size_t n = json_array_size(arr);
  struct oci_descriptor *ds = xcalloc(n, sizeof(*ds));
  for (size_t i = 0; i < n; i++) {
    char where[64];
    snprintf(where, sizeof(where), "%s[%zu]", key, i);
    if (parse_descriptor(json_array_get(arr, i), where, want_platform, &ds[i], err) < 0) {
      for (size_t j = 0; j < i; j++)
        descriptor_clear(&ds[j]);
      free(ds);
      return -1;
    }
  }
  *out = ds;
  *n_out = n;
  return 0;
}

/* ---- manifests --------------------------------------------------------- */

void oci_manifest_clear(struct oci_manifest *m)
{
  if (m == NULL)
    return;
  free(m->media_type);
  descriptor_clear(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    descriptor_clear(&m->layers[i]);
  free(m->layers);
  json_decref(m->annotations);
  memset(m, 0, sizeof(*m));
}

static int manifest_from_doc(json_t *doc, struct oci_manifest *m, tart_error_t *err)
{
  static const char *const types[] = {OCI_MEDIA_MANIFEST, DOCKER_MEDIA_MANIFEST};
  const char *media_type;
  json_t *annotations;
  if (check_schema_version(doc, err) < 0 ||
      check_media_type(doc, types, ARRAY_SIZE(types), "an image manifest", &media_type, err) < 0 ||
      check_annotations(doc, "", &annotations, err) < 0)
    return -1;

  json_t *config = json_object_get(doc, "config");
  if (config == NULL)
    return tart_error_make(err, 0, PREFIX "\"config\" is missing");
  if (parse_descriptor(config, "config", false, &m->config, err) < 0)
    return -1;
  /* From here on m owns memory; the caller clears it on failure. */
  if (parse_descriptor_array(doc, "layers", false, &m->layers, &m->n_layers, err) < 0)
    return -1;

  m->media_type = media_type != NULL ? xstrdup(media_type) : NULL;
  m->annotations = json_incref(annotations);
  return 0;
}

int oci_manifest_parse(const char *buf, size_t len, struct oci_manifest *m, tart_error_t *err)
{
  memset(m, 0, sizeof(*m));
  json_t *doc = load(buf, len, err);
  if (doc == NULL)
    return -1;
  struct oci_manifest out = {0};
  int rc = manifest_from_doc(doc, &out, err);
  /* The annotations objects we keep hold their own references. */
  json_decref(doc);
  if (rc < 0) {
    oci_manifest_clear(&out);
    return -1;
  }
  *m = out;
  return 0;
}

/* ---- indexes ----------------------------------------------------------- */

void oci_index_clear(struct oci_index *idx)
{
  if (idx == NULL)
    return;
  for (size_t i = 0; i < idx->n; i++)
    descriptor_clear(&idx->manifests[i]);
  free(idx->manifests);
  memset(idx, 0, sizeof(*idx));
}

int oci_index_parse(const char *buf, size_t len, struct oci_index *idx, tart_error_t *err)
{
  static const char *const types[] = {OCI_MEDIA_INDEX, DOCKER_MEDIA_LIST};
  memset(idx, 0, sizeof(*idx));
  json_t *doc = load(buf, len, err);
  if (doc == NULL)
    return -1;

  const char *media_type;
  struct oci_index out = {0};
  int rc = -1;
  if (check_schema_version(doc, err) == 0 &&
      check_media_type(doc, types, ARRAY_SIZE(types), "an image index", &media_type, err) == 0)
    rc = parse_descriptor_array(doc, "manifests", true, &out.manifests, &out.n, err);
  json_decref(doc);
  if (rc < 0)
    return -1;
  *idx = out;
  return 0;
}

const struct oci_descriptor *oci_index_find(const struct oci_index *idx, const char *os, const char *arch)
{
  if (idx == NULL || os == NULL || arch == NULL)
    return NULL;
  /* The variant ("v8") is ignored: we run whatever the arch is, and an
   * index has one entry per arch in practice.  Entries without a platform
   * (attestations, artifacts) never match. */
  for (size_t i = 0; i < idx->n; i++) {
    const struct oci_descriptor *d = &idx->manifests[i];
    if (d->platform_os != NULL && d->platform_arch != NULL && strcmp(d->platform_os, os) == 0 &&
        strcmp(d->platform_arch, arch) == 0)
      return d;
  }
  return NULL;
}

enum oci_doc_kind oci_doc_kind(const char *buf, size_t len)
{
  if (len > OCI_MANIFEST_MAX)
    return OCI_DOC_UNKNOWN;
  json_t *doc = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, NULL);
  if (doc == NULL)
    return OCI_DOC_UNKNOWN;

  enum oci_doc_kind kind = OCI_DOC_UNKNOWN;
  if (json_is_object(doc)) {
    json_t *mt = optional(doc, "mediaType");
    if (json_is_string(mt)) {
      const char *s = json_string_value(mt);
      if (strcmp(s, OCI_MEDIA_MANIFEST) == 0 || strcmp(s, DOCKER_MEDIA_MANIFEST) == 0)
        kind = OCI_DOC_MANIFEST;
      else if (strcmp(s, OCI_MEDIA_INDEX) == 0 || strcmp(s, DOCKER_MEDIA_LIST) == 0)
        kind = OCI_DOC_INDEX;
    } else if (mt == NULL) {
      /* mediaType is optional in OCI; the shape is what the spec says
       * distinguishes the two. */
      if (json_is_array(json_object_get(doc, "manifests")))
        kind = OCI_DOC_INDEX;
      else if (json_is_array(json_object_get(doc, "layers")))
        kind = OCI_DOC_MANIFEST;
    }
  }
  json_decref(doc);
  return kind;
}

/* ---- serialization ----------------------------------------------------- */

/* Set obj[key] = v, taking v's reference; false if v is NULL (jansson
 * refused the value: a string that is not UTF-8, or out of memory). */
static bool put_new(json_t *obj, const char *key, json_t *v)
{
  return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static bool put_string(json_t *obj, const char *key, const char *s)
{
  return s == NULL || put_new(obj, key, json_string(s));
}

static bool put_size(json_t *obj, uint64_t size)
{
  /* JSON integers are int64 in jansson; no blob is that large. */
  return size <= INT64_MAX && put_new(obj, "size", json_integer((json_int_t)size));
}

/* {"digest","mediaType","size"} plus, for layers, "annotations" ({} when
 * none): upstream's OCIManifestLayer always has them, its config descriptor
 * (OCIManifestConfig) has no such field. */
static json_t *descriptor_json(const struct oci_descriptor *d, bool with_annotations)
{
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  bool ok =
      put_string(o, "mediaType", d->media_type) && put_string(o, "digest", d->digest) && put_size(o, d->size);
  if (ok && with_annotations)
    ok = d->annotations != NULL ? json_object_set(o, "annotations", d->annotations) == 0
                                : put_new(o, "annotations", json_object());
  if (!ok) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The compact text of v in a malloc'ed string (not jansson's allocator, so
 * callers free() it); NULL if v is NULL. */
static char *dump_json(json_t *v)
{
  if (v == NULL)
    return NULL;
  size_t n = json_dumpb(v, NULL, 0, dump_flags);
  char *s = NULL;
  if (n > 0) {
    s = xmalloc(n + 1);
    if (json_dumpb(v, s, n, dump_flags) != n) {
      free(s);
      s = NULL;
    } else {
      s[n] = '\0';
    }
  }
  json_decref(v);
  return s;
}

/* NULL only if m holds what JSON cannot carry (a size above INT64_MAX, a
 * string that is not UTF-8), which a parsed manifest never does. */
char *oci_manifest_dump(const struct oci_manifest *m)
{
  json_t *root = json_object();
  json_t *layers = json_array();
  bool ok = root != NULL && layers != NULL;
  for (size_t i = 0; ok && i < m->n_layers; i++)
    ok = json_array_append_new(layers, descriptor_json(&m->layers[i], true)) == 0;
  ok = ok && put_new(root, "layers", json_incref(layers));
  ok = ok && put_new(root, "config", descriptor_json(&m->config, false));
  ok = ok && put_new(root, "schemaVersion", json_integer(2));
  ok = ok && put_string(root, "mediaType", m->media_type);
  if (ok && m->annotations != NULL)
    ok = json_object_set(root, "annotations", m->annotations) == 0;
  json_decref(layers);
  if (!ok) {
    json_decref(root);
    return NULL;
  }
  return dump_json(root);
}

char *oci_image_config_dump(const char *os, const char *arch, json_t *labels)
{
  json_t *root = json_object();
  json_t *config = json_object();
  bool ok = root != NULL && config != NULL;
  ok = ok && (labels != NULL ? json_object_set(config, "Labels", labels) == 0
                             : put_new(config, "Labels", json_object()));
  ok = ok && put_new(root, "config", json_incref(config));
  ok = ok && put_string(root, "architecture", arch) && put_string(root, "os", os);
  json_decref(config);
  if (!ok) {
    json_decref(root);
    return NULL;
  }
  return dump_json(root);
}

/* ---- the Tart view of a manifest -------------------------------------- */

void tart_layers_clear(struct tart_layers *l)
{
  if (l == NULL)
    return;
  free(l->disks);
  memset(l, 0, sizeof(*l));
}

/* Strict decimal, as Swift's UInt64(String) that upstream uses: digits only,
 * no sign or spaces, no overflow. */
static bool parse_decimal(const char *s, uint64_t *out)
{
  if (*s == '\0')
    return false;
  uint64_t v = 0;
  for (const char *p = s; *p != '\0'; p++) {
    if (*p < '0' || *p > '9')
      return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static const char *annotation(const struct oci_descriptor *d, const char *key)
{
  if (d->annotations == NULL)
    return NULL;
  return json_string_value(json_object_get(d->annotations, key));
}

static int disk_layer(const struct oci_descriptor *d, size_t i, uint64_t offset, struct tart_disk_layer *out,
                      tart_error_t *err)
{
  char q[QUOTE_SIZE];
  const char *size = annotation(d, TART_ANN_UNCOMPRESSED_SIZE);
  const char *digest = annotation(d, TART_ANN_UNCOMPRESSED_DIGEST);
  /* Upstream sizes the sparse disk from these and compares the digest when
   * resuming; we verify every chunk against it, so both are required. */
  if (size == NULL)
    return tart_error_make(
        err, 0, PREFIX "disk layer layers[%zu] has no " TART_ANN_UNCOMPRESSED_SIZE " annotation", i);
  if (digest == NULL)
    return tart_error_make(
        err, 0, PREFIX "disk layer layers[%zu] has no " TART_ANN_UNCOMPRESSED_DIGEST " annotation", i);
  if (!parse_decimal(size, &out->uncompressed_size)) {
    quote(size, q, sizeof(q));
    return tart_error_make(
        err, 0,
        PREFIX "disk layer layers[%zu]: " TART_ANN_UNCOMPRESSED_SIZE " %s is not a decimal byte count", i, q);
  }
  if (!oci_digest_valid(digest)) {
    quote(digest, q, sizeof(q));
    return tart_error_make(err, 0,
                           PREFIX "disk layer layers[%zu]: " TART_ANN_UNCOMPRESSED_DIGEST
                                  " %s is not \"sha256:\" and 64 lower-case hex digits",
                           i, q);
  }
  /* LZ4 expands at most about 255 times (registry/limits.h): a claim far
   * beyond that is a lie that would size the disk, and the room pruning
   * makes for it, before a byte could be checked. */
  if (d->size < (UINT64_MAX >> 9) && out->uncompressed_size > d->size * LZ4_EXPANSION_MAX + (1u << 20))
    return tart_error_make(err, 0,
                           PREFIX
                           "disk layer layers[%zu] claims %llu bytes uncompressed from %llu compressed, "
                           "more than LZ4 can expand to",
                           i, (unsigned long long)out->uncompressed_size, (unsigned long long)d->size);
  _Static_assert(sizeof(out->uncompressed_digest) > DIGEST_PREFIX_LEN + DIGEST_HEX_LEN, "digest buffer");
  memcpy(out->uncompressed_digest, digest, DIGEST_PREFIX_LEN + DIGEST_HEX_LEN + 1);
  out->desc = d;
  out->offset = offset;
  return 0;
}

static int duplicate(const char *kind, size_t first, size_t second, tart_error_t *err)
{
  return tart_error_make(err, 0, PREFIX "more than one %s layer (layers[%zu] and layers[%zu])", kind, first,
                         second);
}

int tart_layers_from_manifest(const struct oci_manifest *m, struct tart_layers *out, tart_error_t *err)
{
  memset(out, 0, sizeof(*out));

  /* Checked first so that a legacy image gets upstream's advice whatever
   * else is wrong with it. */
  for (size_t i = 0; i < m->n_layers; i++)
    if (m->layers[i].media_type != NULL && strcmp(m->layers[i].media_type, TART_MEDIA_DISK_V1) == 0)
      return tart_error_make(
          err, 0,
          "Pulling OCI images with legacy disk media type %s is no longer supported, please "
          "re-push the image using a current Tart version",
          TART_MEDIA_DISK_V1);

  struct tart_layers l = {0};
  size_t n_disks = 0, config_at = 0, nvram_at = 0;
  for (size_t i = 0; i < m->n_layers; i++)
    if (m->layers[i].media_type != NULL && strcmp(m->layers[i].media_type, TART_MEDIA_DISK_V2) == 0)
      n_disks++;
  l.disks = xcalloc(n_disks, sizeof(*l.disks));

  for (size_t i = 0; i < m->n_layers; i++) {
    const struct oci_descriptor *d = &m->layers[i];
    const char *mt = d->media_type != NULL ? d->media_type : "";
    if (strcmp(mt, TART_MEDIA_CONFIG) == 0) {
      if (l.config != NULL) {
        duplicate("config", config_at, i, err);
        goto fail;
      }
      l.config = d;
      config_at = i;
    } else if (strcmp(mt, TART_MEDIA_NVRAM) == 0) {
      if (l.nvram != NULL) {
        duplicate("NVRAM", nvram_at, i, err);
        goto fail;
      }
      l.nvram = d;
      nvram_at = i;
    } else if (strcmp(mt, TART_MEDIA_DISK_V2) == 0) {
      struct tart_disk_layer *disk = &l.disks[l.n_disks];
      if (disk_layer(d, i, l.disk_size, disk, err) < 0)
        goto fail;
      /* The disk is an off_t-sized sparse file. */
      if (disk->uncompressed_size > (uint64_t)INT64_MAX - l.disk_size) {
        tart_error_make(err, 0, PREFIX "the disk layers add up to more than %lld bytes",
                        (long long)INT64_MAX);
        goto fail;
      }
      l.disk_size += disk->uncompressed_size;
      l.n_disks++;
    } else {
      /* Upstream skips layers it does not know; we refuse them, as an image
       * we cannot reproduce in full is not one we should half-pull. */
      char q[QUOTE_SIZE];
      quote(mt, q, sizeof(q));
      tart_error_make(err, 0, PREFIX "layers[%zu] has unknown media type %s", i, q);
      goto fail;
    }
  }

  if (l.config == NULL) {
    tart_error_make(err, 0, PREFIX "no VM config layer (" TART_MEDIA_CONFIG ")");
    goto fail;
  }
  if (l.n_disks == 0) {
    tart_error_make(err, 0, PREFIX "no disk layer (" TART_MEDIA_DISK_V2 ")");
    goto fail;
  }
  if (l.nvram == NULL) {
    tart_error_make(err, 0, PREFIX "no NVRAM layer (" TART_MEDIA_NVRAM ")");
    goto fail;
  }
  *out = l;
  return 0;

fail:
  tart_layers_clear(&l);
  return -1;
}
