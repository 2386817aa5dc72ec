/* Unit tests for OCI manifests, indexes and image configs (src/oci/manifest.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "util/util.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define HEX_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define HEX_E "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DA    "sha256:" HEX_A
#define DB    "sha256:" HEX_B
#define DC    "sha256:" HEX_C
#define DD    "sha256:" HEX_D
#define DE    "sha256:" HEX_E

#define LEGACY_MSG                                                                                           \
  "Pulling OCI images with legacy disk media type application/vnd.cirruslabs.tart.disk.v1 is no longer "     \
  "supported, please re-push the image using a current Tart version"

/* ---- helpers ----------------------------------------------------------- */

/* The fixture's bytes (NUL-terminated), or NULL when TART_TEST_FIXTURES is
 * not set, in which case the caller skips. */
static char *read_fixture(const char *name, size_t *len)
{
  const char *dir = getenv("TART_TEST_FIXTURES");
  if (dir == NULL)
    return NULL;
  char *path = xasprintf("%s/manifest/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  free(path);
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n - 1 == 0) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

#define FIXTURE_OR_SKIP(var, len, name)                                                                      \
  char *var = read_fixture(name, &len);                                                                      \
  if (var == NULL)                                                                                           \
  skip()

static void parse_ok(const char *json, struct oci_manifest *m)
{
  tart_error_t err = NULL;
  if (oci_manifest_parse(json, strlen(json), m, &err) != 0)
    fail_msg("parse failed: %s", err->msg);
  assert_null(err);
}

static bool all_zero(const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0)
      return false;
  return true;
}

/* The message must be one line and start as the header promises. */
static void check_message(const tart_error_t err, const char *prefix)
{
  assert_non_null(err);
  assert_non_null(err->msg);
  if (strncmp(err->msg, prefix, strlen(prefix)) != 0)
    fail_msg("\"%s\" does not start with \"%s\"", err->msg, prefix);
  assert_null(strchr(err->msg, '\n'));
  assert_null(strchr(err->msg, '\r'));
}

/* Parse json as a manifest, which must fail with a message containing want;
 * *m must be left empty. */
static void manifest_fails(const char *json, size_t len, const char *want)
{
  struct oci_manifest m;
  memset(&m, 0xa5, sizeof(m));
  tart_error_t err = NULL;
  assert_int_equal(oci_manifest_parse(json, len, &m, &err), -1);
  assert_true(all_zero(&m, sizeof(m)));
  check_message(err, "invalid manifest: ");
  if (strstr(err->msg, want) == NULL)
    fail_msg("%s: want \"%s\" in \"%s\"", json, want, err->msg);
  tart_error_release(&err);
}

static void index_fails(const char *json, const char *want)
{
  struct oci_index idx;
  memset(&idx, 0xa5, sizeof(idx));
  tart_error_t err = NULL;
  assert_int_equal(oci_index_parse(json, strlen(json), &idx, &err), -1);
  assert_true(all_zero(&idx, sizeof(idx)));
  check_message(err, "invalid manifest: ");
  if (strstr(err->msg, want) == NULL)
    fail_msg("%s: want \"%s\" in \"%s\"", json, want, err->msg);
  tart_error_release(&err);
}

/* The manifest parses but is not a Tart VM: tart_layers_from_manifest fails
 * with a message containing want and leaves *l empty. */
static void layers_fail(const char *json, const char *want)
{
  struct oci_manifest m;
  parse_ok(json, &m);
  struct tart_layers l;
  memset(&l, 0xa5, sizeof(l));
  tart_error_t err = NULL;
  assert_int_equal(tart_layers_from_manifest(&m, &l, &err), -1);
  assert_true(all_zero(&l, sizeof(l)));
  check_message(err, "");
  if (strstr(err->msg, want) == NULL)
    fail_msg("want \"%s\" in \"%s\"", want, err->msg);
  tart_error_release(&err);
  oci_manifest_clear(&m);
}

/* Manifest text with the given layers array body. */
#define MANIFEST(layers)                                                                                     \
  "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_MANIFEST "\","                                           \
  "\"config\":{\"mediaType\":\"" OCI_MEDIA_IMAGE_CONFIG "\",\"digest\":\"" DA "\",\"size\":100},"            \
  "\"layers\":[" layers "]}"
#define LAYER(mt, digest, size) "{\"mediaType\":\"" mt "\",\"digest\":\"" digest "\",\"size\":" #size "}"
#define DISK(digest, size, usize, udigest)                                                                   \
  "{\"mediaType\":\"" TART_MEDIA_DISK_V2 "\",\"digest\":\"" digest "\",\"size\":" #size                      \
  ",\"annotations\":{\"" TART_ANN_UNCOMPRESSED_SIZE "\":\"" usize "\",\"" TART_ANN_UNCOMPRESSED_DIGEST       \
  "\":\"" udigest "\"}}"
#define CONFIG_L LAYER(TART_MEDIA_CONFIG, DB, 10)
#define NVRAM_L  LAYER(TART_MEDIA_NVRAM, DC, 20)

/* ---- the realistic Tart manifest -------------------------------------- */

static void test_parse_tart_fixture(void **state)
{
  (void)state;
  size_t len;
  FIXTURE_OR_SKIP(buf, len, "tart-vm.json");
  struct oci_manifest m;
  tart_error_t err = NULL;
  assert_int_equal(oci_manifest_parse(buf, len, &m, &err), 0);
  assert_null(err);

  assert_string_equal(m.media_type, OCI_MEDIA_MANIFEST);
  assert_string_equal(m.config.media_type, OCI_MEDIA_IMAGE_CONFIG);
  assert_string_equal(m.config.digest,
                      "sha256:3a6cb4eb6201aa00136781f9d350858ca23054fdda419893193af3e3a044b3a8");
  assert_int_equal(m.config.size, 100);
  assert_null(m.config.platform_os);

  assert_int_equal(m.n_layers, 5);
  assert_string_equal(m.layers[0].media_type, TART_MEDIA_CONFIG);
  assert_int_equal(m.layers[0].size, 468);
  assert_non_null(m.layers[0].annotations);
  assert_int_equal(json_object_size(m.layers[0].annotations), 0);
  for (size_t i = 1; i <= 3; i++)
    assert_string_equal(m.layers[i].media_type, TART_MEDIA_DISK_V2);
  assert_int_equal(m.layers[1].size, 187654321);
  assert_string_equal(json_string_value(json_object_get(m.layers[3].annotations, TART_ANN_UNCOMPRESSED_SIZE)),
                      "123456789");
  assert_string_equal(m.layers[4].media_type, TART_MEDIA_NVRAM);
  assert_int_equal(m.layers[4].size, 131072);

  assert_non_null(m.annotations);
  assert_string_equal(json_string_value(json_object_get(m.annotations, TART_ANN_UNCOMPRESSED_DISK_SIZE)),
                      "1197198613");
  assert_string_equal(json_string_value(json_object_get(m.annotations, TART_ANN_UPLOAD_TIME)),
                      "2024-05-14T09:21:37Z");
  assert_int_equal(oci_doc_kind(buf, len), OCI_DOC_MANIFEST);

  oci_manifest_clear(&m);
  assert_true(all_zero(&m, sizeof(m)));
  oci_manifest_clear(&m); /* a second clear is harmless */
  free(buf);
}

static void test_tart_layers_offsets(void **state)
{
  (void)state;
  size_t len;
  FIXTURE_OR_SKIP(buf, len, "tart-vm.json");
  struct oci_manifest m;
  tart_error_t err = NULL;
  assert_int_equal(oci_manifest_parse(buf, len, &m, &err), 0);

  struct tart_layers l;
  assert_int_equal(tart_layers_from_manifest(&m, &l, &err), 0);
  assert_null(err);
  assert_ptr_equal(l.config, &m.layers[0]);
  assert_ptr_equal(l.nvram, &m.layers[4]);
  assert_int_equal(l.n_disks, 3);
  for (size_t i = 0; i < 3; i++)
    assert_ptr_equal(l.disks[i].desc, &m.layers[i + 1]);

  const uint64_t chunk = 536870912;
  assert_int_equal(l.disks[0].offset, 0);
  assert_int_equal(l.disks[0].uncompressed_size, chunk);
  assert_int_equal(l.disks[1].offset, chunk);
  assert_int_equal(l.disks[1].uncompressed_size, chunk);
  assert_int_equal(l.disks[2].offset, 2 * chunk);
  assert_int_equal(l.disks[2].uncompressed_size, 123456789);
  assert_int_equal(l.disk_size, 2 * chunk + 123456789);
  assert_int_equal(l.disk_size, 1197198613);
  assert_string_equal(l.disks[0].uncompressed_digest,
                      "sha256:b8c09c28449f001ed2c1ef2147d479dcffaeb012e53cf76164681ad42c49185c");
  assert_string_equal(l.disks[2].uncompressed_digest,
                      "sha256:48ec5d6882eb41024ee5e3c2f430e9d8af58e524fc8e57275600ea5825d564fe");

  tart_layers_clear(&l);
  assert_true(all_zero(&l, sizeof(l)));
  oci_manifest_clear(&m);
  free(buf);
}

/* The fixture is written as upstream writes manifests (compact, sorted), so
 * our dump of it must be its own bytes, and dump -> parse -> dump stable. */
static void test_dump_roundtrip_fixture(void **state)
{
  (void)state;
  size_t len;
  FIXTURE_OR_SKIP(buf, len, "tart-vm.json");
  while (len > 0 && buf[len - 1] == '\n')
    buf[--len] = '\0';
  struct oci_manifest m;
  tart_error_t err = NULL;
  assert_int_equal(oci_manifest_parse(buf, len, &m, &err), 0);

  char *d1 = oci_manifest_dump(&m);
  assert_non_null(d1);
  assert_string_equal(d1, buf);

  struct oci_manifest m2;
  parse_ok(d1, &m2);
  char *d2 = oci_manifest_dump(&m2);
  assert_non_null(d2);
  assert_string_equal(d1, d2);

  free(d1);
  free(d2);
  oci_manifest_clear(&m);
  oci_manifest_clear(&m2);
  free(buf);
}

/* The same manifest as another tool (or Swift, with "\/") might write it:
 * indented, spec key order.  It means the same, so it dumps the same. */
static void test_pretty_fixture_same_dump(void **state)
{
  (void)state;
  size_t len, plen;
  FIXTURE_OR_SKIP(buf, len, "tart-vm.json");
  char *pretty = read_fixture("tart-vm-pretty.json", &plen);
  assert_non_null(strstr(pretty, "application\\/vnd.cirruslabs.tart.disk.v2"));
  struct oci_manifest m;
  tart_error_t err = NULL;
  assert_int_equal(oci_manifest_parse(pretty, plen, &m, &err), 0);
  assert_string_equal(m.layers[1].media_type, TART_MEDIA_DISK_V2);
  char *d = oci_manifest_dump(&m);
  assert_string_equal(d, buf);
  free(d);
  oci_manifest_clear(&m);
  free(pretty);
  free(buf);
}

/* ---- dump layout ------------------------------------------------------- */

static void test_dump_exact_small(void **state)
{
  (void)state;
  /* Keys in spec order, spaces, manifest annotations out of order. */
  const char *in =
      "{ \"schemaVersion\": 2, \"mediaType\": \"" OCI_MEDIA_MANIFEST "\",\n"
      "  \"config\": {\"mediaType\": \"" OCI_MEDIA_IMAGE_CONFIG "\", \"digest\": \"" DA "\", \"size\": 7},\n"
      "  \"layers\": [{\"mediaType\": \"" TART_MEDIA_DISK_V2 "\", \"digest\": \"" DB
      "\", \"size\": 3, \"annotations\": {\"z\": \"1\", \"a\": \"2\"}}],\n"
      "  \"annotations\": {\"upload\": \"x/y\", \"b\": \"\"} }";
  const char *want =
      "{\"annotations\":{\"b\":\"\",\"upload\":\"x/y\"},"
      "\"config\":{\"digest\":\"" DA "\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
      "\"size\":7},"
      "\"layers\":[{\"annotations\":{\"a\":\"2\",\"z\":\"1\"},\"digest\":\"" DB
      "\",\"mediaType\":\"application/vnd.cirruslabs.tart.disk.v2\",\"size\":3}],"
      "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2}";
  struct oci_manifest m;
  parse_ok(in, &m);
  char *d = oci_manifest_dump(&m);
  assert_string_equal(d, want);
  assert_null(strchr(d, ' '));
  assert_null(strchr(d, '\n'));
  free(d);
  oci_manifest_clear(&m);
}

/* Layers without annotations get "annotations":{}, the config descriptor
 * never has annotations, and mediaType / manifest annotations are written
 * only when set. */
static void test_dump_annotations_rules(void **state)
{
  (void)state;
  const char *in = "{\"schemaVersion\":2,"
                   "\"config\":{\"mediaType\":\"" OCI_MEDIA_IMAGE_CONFIG "\",\"digest\":\"" DA
                   "\",\"size\":7,\"annotations\":{\"k\":\"v\"}},"
                   "\"layers\":[{\"mediaType\":\"" TART_MEDIA_CONFIG "\",\"digest\":\"" DB "\",\"size\":3},"
                   "{\"mediaType\":\"" TART_MEDIA_NVRAM "\",\"digest\":\"" DC
                   "\",\"size\":4,\"annotations\":null,\"urls\":[\"http://x\"]}]}";
  const char *want =
      "{\"config\":{\"digest\":\"" DA "\",\"mediaType\":\"" OCI_MEDIA_IMAGE_CONFIG "\",\"size\":7},"
      "\"layers\":[{\"annotations\":{},\"digest\":\"" DB "\",\"mediaType\":\"" TART_MEDIA_CONFIG
      "\",\"size\":3},"
      "{\"annotations\":{},\"digest\":\"" DC "\",\"mediaType\":\"" TART_MEDIA_NVRAM "\",\"size\":4}],"
      "\"schemaVersion\":2}";
  struct oci_manifest m;
  parse_ok(in, &m);
  assert_null(m.media_type);
  assert_null(m.annotations);
  assert_non_null(m.config.annotations); /* kept, just not written */
  assert_null(m.layers[0].annotations);
  assert_null(m.layers[1].annotations);
  char *d = oci_manifest_dump(&m);
  assert_string_equal(d, want);
  free(d);
  oci_manifest_clear(&m);
}

/* What push does: build the struct by hand and dump it. */
static void test_dump_built_by_hand(void **state)
{
  (void)state;
  struct oci_descriptor layers[3] = {
      {.media_type = TART_MEDIA_CONFIG, .digest = DB, .size = 468},
      {.media_type = TART_MEDIA_DISK_V2, .digest = DC, .size = 1000},
      {.media_type = TART_MEDIA_NVRAM, .digest = DD, .size = 131072},
  };
  layers[1].annotations =
      json_pack("{s:s, s:s}", TART_ANN_UNCOMPRESSED_SIZE, "536870912", TART_ANN_UNCOMPRESSED_DIGEST, DE);
  struct oci_manifest m = {
      .media_type = OCI_MEDIA_MANIFEST,
      .config = {.media_type = OCI_MEDIA_IMAGE_CONFIG, .digest = DA, .size = 100},
      .layers = layers,
      .n_layers = 3,
      .annotations = json_pack("{s:s, s:s}", TART_ANN_UPLOAD_TIME, "2024-05-14T09:21:37Z",
                               TART_ANN_UNCOMPRESSED_DISK_SIZE, "536870912"),
  };
  const char *want =
      "{\"annotations\":{\"org.cirruslabs.tart.uncompressed-disk-size\":\"536870912\","
      "\"org.cirruslabs.tart.upload-time\":\"2024-05-14T09:21:37Z\"},"
      "\"config\":{\"digest\":\"" DA
      "\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":100},"
      "\"layers\":["
      "{\"annotations\":{},\"digest\":\"" DB "\",\"mediaType\":\"application/vnd.cirruslabs.tart.config.v1\","
      "\"size\":468},"
      "{\"annotations\":{\"org.cirruslabs.tart.uncompressed-content-digest\":\"" DE "\","
      "\"org.cirruslabs.tart.uncompressed-size\":\"536870912\"},\"digest\":\"" DC "\","
      "\"mediaType\":\"application/vnd.cirruslabs.tart.disk.v2\",\"size\":1000},"
      "{\"annotations\":{},\"digest\":\"" DD "\",\"mediaType\":\"application/vnd.cirruslabs.tart.nvram.v1\","
      "\"size\":131072}],"
      "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2}";
  char *d = oci_manifest_dump(&m);
  assert_string_equal(d, want);
  free(d);

  /* A size JSON cannot carry is refused rather than written negative. */
  layers[2].size = (uint64_t)INT64_MAX + 1;
  assert_null(oci_manifest_dump(&m));

  json_decref(layers[1].annotations);
  json_decref(m.annotations);
}

static void test_image_config_dump(void **state)
{
  (void)state;
  json_t *labels = json_pack("{s:s, s:s}", TART_LABEL_DISK_FORMAT, "raw", "a", "b");
  char *s = oci_image_config_dump("linux", "amd64", labels);
  assert_string_equal(s, "{\"architecture\":\"amd64\",\"config\":{\"Labels\":{\"a\":\"b\","
                         "\"org.cirruslabs.tart.disk.format\":\"raw\"}},\"os\":\"linux\"}");
  free(s);
  assert_int_equal(labels->refcount, 1); /* borrowed, not stolen */
  json_decref(labels);

  s = oci_image_config_dump("darwin", "arm64", NULL);
  assert_string_equal(s, "{\"architecture\":\"arm64\",\"config\":{\"Labels\":{}},\"os\":\"darwin\"}");
  free(s);
}

/* ---- indexes and document kinds --------------------------------------- */

static void test_index_find(void **state)
{
  (void)state;
  size_t len;
  FIXTURE_OR_SKIP(buf, len, "index.json");
  struct oci_index idx;
  tart_error_t err = NULL;
  assert_int_equal(oci_index_parse(buf, len, &idx, &err), 0);
  assert_null(err);
  assert_int_equal(idx.n, 3);

  const struct oci_descriptor *d = oci_index_find(&idx, "linux", "amd64");
  assert_ptr_equal(d, &idx.manifests[0]);
  assert_string_equal(d->digest, "sha256:8e7c7206e28f0d2a76643ceb44f86601b834c1dde73d45779114d7715c7dd7d7");
  assert_string_equal(d->media_type, OCI_MEDIA_MANIFEST);
  assert_int_equal(d->size, 1480);

  /* The variant "v8" is ignored. */
  assert_ptr_equal(oci_index_find(&idx, "linux", "arm64"), &idx.manifests[1]);
  assert_null(oci_index_find(&idx, "darwin", "arm64"));
  assert_null(oci_index_find(&idx, "linux", "riscv64"));
  assert_null(oci_index_find(&idx, "Linux", "amd64")); /* exact match */
  assert_non_null(idx.manifests[2].annotations);
  assert_int_equal(oci_doc_kind(buf, len), OCI_DOC_INDEX);

  oci_index_clear(&idx);
  assert_true(all_zero(&idx, sizeof(idx)));
  free(buf);
}

static void test_docker_list(void **state)
{
  (void)state;
  size_t len;
  FIXTURE_OR_SKIP(buf, len, "docker-list.json");
  assert_int_equal(oci_doc_kind(buf, len), OCI_DOC_INDEX);
  struct oci_index idx;
  tart_error_t err = NULL;
  assert_int_equal(oci_index_parse(buf, len, &idx, &err), 0);
  assert_int_equal(idx.n, 3);
  const struct oci_descriptor *d = oci_index_find(&idx, "linux", "arm64");
  assert_ptr_equal(d, &idx.manifests[2]);
  assert_string_equal(d->media_type, DOCKER_MEDIA_MANIFEST);
  oci_index_clear(&idx);

  /* A list is not a manifest. */
  manifest_fails(buf, len, "is not an image manifest");
  free(buf);
}

static void test_doc_kind(void **state)
{
  (void)state;
  static const struct {
    const char *json;
    enum oci_doc_kind kind;
  } cases[] = {
      {"{\"mediaType\":\"" OCI_MEDIA_MANIFEST "\"}", OCI_DOC_MANIFEST},
      {"{\"mediaType\":\"" DOCKER_MEDIA_MANIFEST "\"}", OCI_DOC_MANIFEST},
      {"{\"mediaType\":\"" OCI_MEDIA_INDEX "\"}", OCI_DOC_INDEX},
      {"{\"mediaType\":\"" DOCKER_MEDIA_LIST "\",\"layers\":[]}", OCI_DOC_INDEX},
      {"{\"schemaVersion\":2,\"manifests\":[]}", OCI_DOC_INDEX},
      {"{\"schemaVersion\":2,\"config\":{},\"layers\":[]}", OCI_DOC_MANIFEST},
      {"{\"mediaType\":null,\"layers\":[]}", OCI_DOC_MANIFEST},
      {"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\",\"layers\":[]}",
       OCI_DOC_UNKNOWN},
      {"{\"mediaType\":7,\"layers\":[]}", OCI_DOC_UNKNOWN},
      {"{\"layers\":{}}", OCI_DOC_UNKNOWN},
      {"{}", OCI_DOC_UNKNOWN},
      {"[]", OCI_DOC_UNKNOWN},
      {"{\"layers\":[]", OCI_DOC_UNKNOWN},
      {"", OCI_DOC_UNKNOWN},
      {"{\"layers\":[],\"layers\":[]}", OCI_DOC_UNKNOWN},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    enum oci_doc_kind k = oci_doc_kind(cases[i].json, strlen(cases[i].json));
    if (k != cases[i].kind)
      fail_msg("%s: kind %d, want %d", cases[i].json, k, cases[i].kind);
  }
  assert_int_equal(oci_doc_kind(NULL, 0), OCI_DOC_UNKNOWN);
}

static void test_index_invalid(void **state)
{
  (void)state;
  index_fails("{\"schemaVersion\":2}", "\"manifests\" is missing");
  index_fails("{\"schemaVersion\":2,\"manifests\":{}}", "\"manifests\" is not an array");
  index_fails("{\"manifests\":[]}", "\"schemaVersion\" is missing");
  index_fails("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_MANIFEST "\",\"manifests\":[]}",
              "is not an image index");
  index_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA
              "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
              "manifests[0].platform is not a JSON object");
  index_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA
              "\",\"size\":1,\"platform\":{\"architecture\":\"amd64\"}}]}",
              "manifests[0].platform has no \"os\"");
  index_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA
              "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":64}}]}",
              "\"architecture\" is not a string");
  index_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA
              "\",\"size\":1},{\"mediaType\":\"m\",\"digest\":\"sha256:x\",\"size\":1}]}",
              "manifests[1]: digest \"sha256:x\"");

  /* Entries without a platform are allowed (and never chosen). */
  struct oci_index idx;
  tart_error_t err = NULL;
  const char *ok = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA
                   "\",\"size\":1,\"platform\":null}]}";
  assert_int_equal(oci_index_parse(ok, strlen(ok), &idx, &err), 0);
  assert_null(idx.manifests[0].platform_os);
  assert_null(oci_index_find(&idx, "linux", "amd64"));
  oci_index_clear(&idx);
}

/* ---- invalid manifests ------------------------------------------------- */

static void test_manifest_invalid(void **state)
{
  (void)state;
  static const struct {
    const char *json, *want;
  } cases[] = {
      {"{\"schemaVersion\":2,", "line 1"},
      {"", "line 1"},
      {"[1,2]", "top-level value is not a JSON object"},
      {"{\"schemaVersion\":1,\"config\":{},\"layers\":[]}", "\"schemaVersion\" is 1, only 2 is supported"},
      {"{\"schemaVersion\":\"2\"}", "\"schemaVersion\" is not an integer"},
      {"{\"config\":{}}", "\"schemaVersion\" is missing"},
      {"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_INDEX "\",\"manifests\":[]}",
       "\"application/vnd.oci.image.index.v1+json\" is not an image manifest"},
      {"{\"schemaVersion\":2,\"mediaType\":[]}", "\"mediaType\" is not a string"},
      {"{\"schemaVersion\":2,\"layers\":[]}", "\"config\" is missing"},
      {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"m\",\"digest\":\"" DA "\",\"size\":1}}",
       "\"layers\" is missing"},
      {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"m\",\"digest\":\"" DA
       "\",\"size\":1},\"layers\":{}}",
       "\"layers\" is not an array"},
      {"{\"schemaVersion\":2,\"config\":[],\"layers\":[]}", "config is not a JSON object"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"sha256:XYZ\",\"size\":1}"),
       "layers[0]: digest \"sha256:XYZ\" is not"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"sha256:" HEX_A "\",\"size\":1},"
                "{\"mediaType\":\"x\",\"digest\":\"sha256:" HEX_A "0\",\"size\":1}"),
       "layers[1]: digest"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef"
                "0123456789abcdef\",\"size\":1}"),
       "64 lower-case hex digits"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"sha512:" HEX_A "\",\"size\":1}"), "layers[0]: digest"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":-1}"),
       "layers[0]: \"size\" is negative"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":1.0}"), "\"size\" is not an integer"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":\"1\"}"), "\"size\" is not an integer"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\"}"), "layers[0] has no \"size\""},
      {MANIFEST("{\"digest\":\"" DA "\",\"size\":1}"), "layers[0] has no \"mediaType\""},
      {MANIFEST("{\"mediaType\":\"x\",\"size\":1}"), "layers[0] has no \"digest\""},
      {MANIFEST("{\"mediaType\":1,\"digest\":\"" DA "\",\"size\":1}"),
       "layers[0]: \"mediaType\" is not a string"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA
                "\",\"size\":1,\"annotations\":{\"a\":\"b\",\"n\":5}}"),
       "layers[0]: annotation \"n\" is not a string"},
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":1,\"annotations\":[]}"),
       "layers[0]: annotations are not a JSON object"},
      {MANIFEST("7"), "layers[0] is not a JSON object"},
      {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"m\",\"digest\":\"" DA
       "\",\"size\":1},\"layers\":[],\"annotations\":{\"x\":true}}",
       "annotation \"x\" is not a string"},
      {"{\"schemaVersion\":2,\"schemaVersion\":2}", "duplicate object key"},
      /* NUL inside a string would silently truncate our copy. */
      {MANIFEST("{\"mediaType\":\"x\\u0000y\",\"digest\":\"" DA "\",\"size\":1}"), "\\u0000 is not allowed"},
      /* Integers beyond int64 are a JSON error in jansson. */
      {MANIFEST("{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":99999999999999999999}"), "too big"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
    manifest_fails(cases[i].json, strlen(cases[i].json), cases[i].want);

  /* Control characters from the document never reach the message raw. */
  const char *ctl = MANIFEST("{\"mediaType\":\"x\",\"digest\":\"sha256:\\n\\u001b[31m\",\"size\":1}");
  manifest_fails(ctl, strlen(ctl), "\"sha256:\\x0a\\x1b[31m\"");
}

static void test_manifest_too_large(void **state)
{
  (void)state;
  size_t n = OCI_MANIFEST_MAX + 1;
  char *big = xmalloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  manifest_fails(big, n, "larger than the limit");
  assert_int_equal(oci_doc_kind(big, n), OCI_DOC_UNKNOWN);
  struct oci_index idx;
  tart_error_t err = NULL;
  assert_int_equal(oci_index_parse(big, n, &idx, &err), -1);
  tart_error_release(&err);
  free(big);
}

/* Unknown members are ignored, and null counts as absent for the optional
 * ones (mediaType, annotations), as with Swift's decodeIfPresent. */
static void test_manifest_lenient_parts(void **state)
{
  (void)state;
  const char *in = "{\"schemaVersion\":2,\"mediaType\":null,\"subject\":{\"x\":1},\"annotations\":null,"
                   "\"config\":{\"mediaType\":\"" DOCKER_MEDIA_MANIFEST "\",\"digest\":\"" DA
                   "\",\"size\":0,\"platform\":{\"os\":1}},"
                   "\"layers\":[]}";
  struct oci_manifest m;
  parse_ok(in, &m);
  assert_null(m.media_type);
  assert_null(m.annotations);
  assert_int_equal(m.n_layers, 0);
  assert_int_equal(m.config.size, 0);
  assert_null(m.config.platform_os); /* platform is read for index entries only */
  oci_manifest_clear(&m);

  const char *docker = "{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MEDIA_MANIFEST "\","
                       "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
                       "\"digest\":\"" DA "\",\"size\":1469},"
                       "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
                       "\"digest\":\"" DB "\",\"size\":3}]}";
  parse_ok(docker, &m);
  assert_string_equal(m.media_type, DOCKER_MEDIA_MANIFEST);
  assert_int_equal(oci_doc_kind(docker, strlen(docker)), OCI_DOC_MANIFEST);
  oci_manifest_clear(&m);
}

/* ---- invalid Tart layer sets ------------------------------------------ */

static void test_tart_layers_invalid(void **state)
{
  (void)state;
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 5, "100", DE) "," NVRAM_L "," NVRAM_L),
              "invalid manifest: more than one NVRAM layer (layers[2] and layers[3])");
  layers_fail(MANIFEST(CONFIG_L "," CONFIG_L "," DISK(DD, 5, "100", DE) "," NVRAM_L),
              "more than one config layer (layers[0] and layers[1])");
  layers_fail(MANIFEST(CONFIG_L "," NVRAM_L), "invalid manifest: no disk layer (" TART_MEDIA_DISK_V2 ")");
  layers_fail(MANIFEST(DISK(DD, 5, "100", DE) "," NVRAM_L), "no VM config layer");
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 5, "100", DE)), "no NVRAM layer");
  layers_fail(MANIFEST(""), "no VM config layer");
  layers_fail(MANIFEST(CONFIG_L "," LAYER(TART_MEDIA_DISK_V2, DD, 5) "," NVRAM_L),
              "disk layer layers[1] has no " TART_ANN_UNCOMPRESSED_SIZE " annotation");
  layers_fail(MANIFEST(CONFIG_L ",{\"mediaType\":\"" TART_MEDIA_DISK_V2 "\",\"digest\":\"" DD
                                "\",\"size\":5,\"annotations\":{\"" TART_ANN_UNCOMPRESSED_SIZE
                                "\":\"1\"}}," NVRAM_L),
              "disk layer layers[1] has no " TART_ANN_UNCOMPRESSED_DIGEST " annotation");
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 5, "12a", DE) "," NVRAM_L),
              TART_ANN_UNCOMPRESSED_SIZE " \"12a\" is not a decimal byte count");
  static const char *const bad_sizes[] = {"", "-1", "+5", " 5", "5 ", "0x10", "1e3", "18446744073709551616"};
  for (size_t i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
    char *j =
        xasprintf(MANIFEST(CONFIG_L ",{\"mediaType\":\"" TART_MEDIA_DISK_V2 "\",\"digest\":\"" DD
                                    "\",\"size\":5,\"annotations\":{\"" TART_ANN_UNCOMPRESSED_SIZE
                                    "\":\"%s\",\"" TART_ANN_UNCOMPRESSED_DIGEST "\":\"" DE "\"}}," NVRAM_L),
                  bad_sizes[i]);
    layers_fail(j, "is not a decimal byte count");
    free(j);
  }
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 5, "100", "sha256:abc") "," NVRAM_L),
              TART_ANN_UNCOMPRESSED_DIGEST " \"sha256:abc\" is not");
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 5, "100", DE) "," NVRAM_L "," LAYER("application/x-foo", DA, 1)),
              "invalid manifest: layers[3] has unknown media type \"application/x-foo\"");
  /* The sum must fit an off_t. */
  layers_fail(MANIFEST(CONFIG_L "," DISK(DD, 36028797018963967, "9223372036854775807",
                                         DE) "," DISK(DD, 5, "1", DE) "," NVRAM_L),
              "add up to more than 9223372036854775807 bytes");
  /* LZ4_EXPANSION_MAX (1024) times plus 1 MiB at most: a bigger claim
   * would size the disk, and prune for it, before anything is checked. */
  layers_fail(
      MANIFEST(CONFIG_L "," DISK(DD, 1000, "3221225472", DE) "," NVRAM_L),
      "invalid manifest: disk layer layers[1] claims 3221225472 bytes uncompressed from 1000 compressed, "
      "more than LZ4 can expand to");
}

static void test_tart_layers_legacy(void **state)
{
  (void)state;
  struct tart_layers l;
  tart_error_t err = NULL;

  /* Whatever else is wrong (no disk.v2, an unknown layer before it), a
   * disk.v1 layer gives upstream's exact message. */
  layers_fail(MANIFEST(LAYER("application/x-foo", DA, 1) "," CONFIG_L
                                                         "," LAYER(TART_MEDIA_DISK_V1, DD, 9) "," NVRAM_L),
              LEGACY_MSG);

  size_t len;
  FIXTURE_OR_SKIP(buf, len, "legacy-disk-v1.json");
  struct oci_manifest m;
  assert_int_equal(oci_manifest_parse(buf, len, &m, &err), 0);
  memset(&l, 0xa5, sizeof(l));
  assert_int_equal(tart_layers_from_manifest(&m, &l, &err), -1);
  assert_true(all_zero(&l, sizeof(l)));
  assert_string_equal(err->msg, LEGACY_MSG);
  tart_error_release(&err);
  oci_manifest_clear(&m);
  free(buf);
}

/* Offsets are sums of uncompressed sizes, in manifest order, also when
 * identical chunks share a digest. */
static void test_tart_layers_small(void **state)
{
  (void)state;
  struct oci_manifest m;
  parse_ok(MANIFEST(CONFIG_L "," DISK(DD, 5, "0", DE) "," DISK(DD, 5, "0007", DE) "," DISK(DA, 2, "3",
                                                                                           DB) "," NVRAM_L),
           &m);
  struct tart_layers l;
  tart_error_t err = NULL;
  assert_int_equal(tart_layers_from_manifest(&m, &l, &err), 0);
  assert_int_equal(l.n_disks, 3);
  assert_int_equal(l.disks[0].offset, 0);
  assert_int_equal(l.disks[1].offset, 0);
  assert_int_equal(l.disks[1].uncompressed_size, 7);
  assert_int_equal(l.disks[2].offset, 7);
  assert_int_equal(l.disk_size, 10);
  assert_string_equal(l.disks[2].uncompressed_digest, DB);
  tart_layers_clear(&l);
  tart_layers_clear(&l);
  oci_manifest_clear(&m);
}

static void test_digest_valid(void **state)
{
  (void)state;
  assert_true(oci_digest_valid(DE));
  assert_true(oci_digest_valid(DA));
  assert_false(oci_digest_valid(NULL));
  assert_false(oci_digest_valid(""));
  assert_false(oci_digest_valid("sha256:"));
  assert_false(oci_digest_valid("sha256:XYZ"));
  assert_false(oci_digest_valid("sha256:" HEX_A "a"));
  char d[80];
  snprintf(d, sizeof(d), "%s", DA);
  d[7] = 'A'; /* upper case */
  assert_false(oci_digest_valid(d));
  d[7] = 'g'; /* not hex */
  assert_false(oci_digest_valid(d));
  d[7] = 'a';
  d[70] = '\0'; /* 63 digits */
  assert_false(oci_digest_valid(d));
  assert_false(oci_digest_valid("SHA256:" HEX_A));
  assert_false(oci_digest_valid("sha512:" HEX_A));
  assert_false(oci_digest_valid(HEX_A));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_tart_fixture),
      cmocka_unit_test(test_tart_layers_offsets),
      cmocka_unit_test(test_dump_roundtrip_fixture),
      cmocka_unit_test(test_pretty_fixture_same_dump),
      cmocka_unit_test(test_dump_exact_small),
      cmocka_unit_test(test_dump_annotations_rules),
      cmocka_unit_test(test_dump_built_by_hand),
      cmocka_unit_test(test_image_config_dump),
      cmocka_unit_test(test_index_find),
      cmocka_unit_test(test_docker_list),
      cmocka_unit_test(test_doc_kind),
      cmocka_unit_test(test_index_invalid),
      cmocka_unit_test(test_manifest_invalid),
      cmocka_unit_test(test_manifest_too_large),
      cmocka_unit_test(test_manifest_lenient_parts),
      cmocka_unit_test(test_tart_layers_invalid),
      cmocka_unit_test(test_tart_layers_legacy),
      cmocka_unit_test(test_tart_layers_small),
      cmocka_unit_test(test_digest_valid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
