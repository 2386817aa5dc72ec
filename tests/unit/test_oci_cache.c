/* storage/oci_cache.h: the pure parts, how a reference becomes a path in
 * cache/OCIs (upstream's layout, docs/design.md, "Storage layout"). */
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"
#include "storage/home.h"
#include "storage/oci_cache.h"
#include "unit.h"

static void round_trip(const char *host, const char *enc)
{
  char *e = oci_cache_host_encode(host);
  assert_string_equal(e, enc);
  char *d = oci_cache_host_decode(e);
  assert_string_equal(d, host);
  free(e);
  free(d);
}

static void test_host_encoding(void **state)
{
  (void)state;
  round_trip("ghcr.io", "ghcr.io");
  round_trip("127.0.0.1:5000", "127.0.0.1%3A5000");
  round_trip("localhost:80", "localhost%3A80");
  /* Lower-case hex from another writer reads the same; other escapes stay. */
  char *d = oci_cache_host_decode("host%3a5000");
  assert_string_equal(d, "host:5000");
  free(d);
  d = oci_cache_host_decode("a%2Fb%3");
  assert_string_equal(d, "a%2Fb%3");
  free(d);
}

static void test_entry_paths(void **state)
{
  (void)state;
  struct tart_home h = {.cache_oci = (char *)"/t/cache/OCIs"};
  struct oci_reference r;
  assert_int_equal(oci_reference_parse("127.0.0.1:5000/org/vm:v1", &r, NULL), 0);
  char *p = oci_cache_entry_path(&h, &r);
  assert_string_equal(p, "/t/cache/OCIs/127.0.0.1%3A5000/org/vm/v1");
  free(p);
  p = oci_cache_ns_dir(&h, r.host, r.namespace);
  assert_string_equal(p, "/t/cache/OCIs/127.0.0.1%3A5000/org/vm");
  free(p);
  oci_reference_clear(&r);
  assert_int_equal(oci_reference_parse("ghcr.io/cirruslabs/debian@sha256:"
                                       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                       &r, NULL),
                   0);
  p = oci_cache_entry_path(&h, &r);
  assert_string_equal(p, "/t/cache/OCIs/ghcr.io/cirruslabs/debian/"
                         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  free(p);
  oci_reference_clear(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host_encoding),
      cmocka_unit_test(test_entry_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
