#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/credentials.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/report.h"
#include "util/util.h"

/* base64 of the "user:password" strings used below. */
#define B64_ALICE       "YWxpY2U6c2VjcmV0" /* alice:secret */
#define B64_COLON_PASS  "Ym9iOnBhOnNz"     /* bob:pa:ss */
#define B64_NOCOLON     "bm9jb2xvbg=="     /* nocolon */
#define B64_LEGACY      "bGVnYWN5OnB3"     /* legacy:pw */
#define B64_STORE_NOPAD "c3RvcmU6cHc"      /* store:pw, padding dropped */
#define B64_LOCAL       "bG9jYWw6cHc="     /* local:pw */
#define B64_DOCKER      "ZG9ja2VyOnB3"     /* docker:pw */
#define B64_NUL         "eAB5Ono="         /* x\0y:z */
#define B64_COLON_ONLY  "Og=="             /* : */

/* ---- fixtures ---------------------------------------------------------- */

static char root[64];
static char *home_dir, *tart_home, *bin_dir, *docker_dir, *docker_config;
static char *saved_path;

static void write_text(const char *path, const char *text, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static char *read_text(const char *path)
{
  char *s = NULL;
  tart_error_t err = NULL;
  if (read_file(path, 1 << 20, &s, NULL, &err) < 0) {
    tart_error_release(&err);
    return NULL;
  }
  return s;
}

static void write_helper(const char *name, const char *body)
{
  char *path = xasprintf("%s/docker-credential-%s", bin_dir, name);
  char *text = xasprintf("#!/bin/sh\n%s", body);
  write_text(path, text, 0755);
  free(text);
  free(path);
}

static int group_setup(void **state)
{
  (void)state;
  snprintf(root, sizeof(root), "/tmp/tart-cred-test-XXXXXX");
  if (mkdtemp(root) == NULL)
    return -1;
  home_dir = xasprintf("%s/home", root);
  tart_home = xasprintf("%s/tart", root);
  bin_dir = xasprintf("%s/bin", root);
  docker_dir = xasprintf("%s/.docker", home_dir);
  docker_config = xasprintf("%s/config.json", docker_dir);
  if (mkdir(home_dir, 0700) < 0 || mkdir(tart_home, 0700) < 0 || mkdir(bin_dir, 0700) < 0 ||
      mkdir(docker_dir, 0700) < 0)
    return -1;

  /* Reads the host from stdin; checks it is called as `... get`. */
  write_helper("testhelper", "[ \"$1\" = get ] || exit 3\n"
                             "read host\n"
                             "printf '{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"s-%s\"}\\n' "
                             "\"$host\" \"$host\"\n");
  write_helper("failhelper", "echo boom\nexit 1\n");
  /* Fails after printing what looks like a secret: must not be echoed. */
  write_helper("leakyhelper", "echo '{\"Username\":\"u\",\"Secret\":\"topsecret\"}'\nexit 1\n");
  write_helper("notfoundhelper", "echo 'credentials not found in native keychain'\nexit 1\n");
  write_helper("badjsonhelper", "echo 'not json topsecret'\n");
  write_helper("emptyhelper", "exit 0\n");
  write_helper("runawayhelper", "exec yes\n");
  /* Never answers; its child keeps stdout open after it is killed. */
  write_helper("hanghelper", "sleep 5 &\nexec sleep 5\n");
  write_helper("stderrhelper", "echo 'helper says no' >&2\nexit 2\n");
  write_helper("tokenhelper", "cat >/dev/null\necho '{\"Username\":\"<token>\",\"Secret\":\"idtoken\"}'\n");

  const char *path = getenv("PATH");
  saved_path = xstrdup(path != NULL ? path : "/usr/bin:/bin");
  char *new_path = xasprintf("%s:%s", bin_dir, saved_path);
  setenv("PATH", new_path, 1);
  free(new_path);
  setenv("HOME", home_dir, 1);
  tart_log_set_level(TART_LOG_WARN);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  tart_error_t err = NULL;
  rm_rf(root, &err);
  tart_error_release(&err);
  setenv("PATH", saved_path, 1);
  free(saved_path);
  free(home_dir);
  free(tart_home);
  free(bin_dir);
  free(docker_dir);
  free(docker_config);
  return 0;
}

/* Every test starts with no credentials anywhere. */
static int test_setup(void **state)
{
  (void)state;
  unsetenv("TART_REGISTRY_USERNAME");
  unsetenv("TART_REGISTRY_PASSWORD");
  unsetenv("TART_REGISTRY_HOSTNAME");
  unsetenv("TART_DOCKER_CONFIG");
  setenv("HOME", home_dir, 1);
  char *auth = xasprintf("%s/auth.json", tart_home);
  unlink(auth);
  free(auth);
  unlink(docker_config);
  return 0;
}

/* Capture what tart logs on stderr during a call. */
struct capture {
  int saved;
  char path[128];
};

static void capture_begin(struct capture *c)
{
  snprintf(c->path, sizeof(c->path), "%s/stderr-XXXXXX", root);
  int fd = mkstemp(c->path);
  assert_true(fd >= 0);
  fflush(stderr);
  c->saved = dup(2);
  assert_true(c->saved >= 0);
  assert_int_equal(dup2(fd, 2), 2);
  close(fd);
}

static char *capture_end(struct capture *c)
{
  fflush(stderr);
  assert_int_equal(dup2(c->saved, 2), 2);
  close(c->saved);
  char *s = read_text(c->path);
  unlink(c->path);
  assert_non_null(s);
  return s;
}

/* ---- credentials_from_docker_config ------------------------------------ */

static int from_config(const char *json, const char *host, struct credentials *c, char **helper,
                       tart_error_t *err)
{
  return credentials_from_docker_config(json, strlen(json), host, c, helper, err);
}

static void test_config_auths(void **state)
{
  (void)state;
  struct credentials c;
  char *helper = (char *)"sentinel";
  const char *cfg = "{\"auths\":{\"ghcr.io\":{\"auth\":\"" B64_ALICE "\"},"
                    "\"127.0.0.1:5000\":{\"auth\":\"" B64_COLON_PASS "\"},"
                    "\"nopad.io\":{\"auth\":\"" B64_STORE_NOPAD "\"},"
                    "\"colon.io\":{\"auth\":\"" B64_COLON_ONLY "\"}}}";

  assert_int_equal(from_config(cfg, "ghcr.io", &c, &helper, NULL), 1);
  assert_null(helper);
  assert_string_equal(c.username, "alice");
  assert_string_equal(c.password, "secret");
  credentials_clear(&c);
  assert_null(c.username);
  assert_null(c.password);

  /* Split at the first colon: the password keeps its own colons. */
  assert_int_equal(from_config(cfg, "127.0.0.1:5000", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "bob");
  assert_string_equal(c.password, "pa:ss");
  credentials_clear(&c);

  assert_int_equal(from_config(cfg, "nopad.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "store");
  assert_string_equal(c.password, "pw");
  credentials_clear(&c);

  assert_int_equal(from_config(cfg, "colon.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "");
  assert_string_equal(c.password, "");
  credentials_clear(&c);

  assert_int_equal(from_config(cfg, "other.io", &c, &helper, NULL), 0);
  assert_null(helper);
  assert_null(c.username);
  assert_null(c.password);

  /* Hosts are keys, not patterns, in auths. */
  assert_int_equal(from_config(cfg, "ghcrxio", &c, &helper, NULL), 0);

  /* Entries without credentials, as docker writes with a credsStore. */
  assert_int_equal(from_config("{\"auths\":{\"a.io\":{},\"b.io\":{\"auth\":\"\"},\"c.io\":null}}", "a.io", &c,
                               &helper, NULL),
                   0);
  assert_int_equal(from_config("{\"auths\":{\"a.io\":{},\"b.io\":{\"auth\":\"\"},\"c.io\":null}}", "b.io", &c,
                               &helper, NULL),
                   0);
  assert_int_equal(from_config("{\"auths\":{\"a.io\":{},\"b.io\":{\"auth\":\"\"},\"c.io\":null}}", "c.io", &c,
                               &helper, NULL),
                   0);
  assert_int_equal(from_config("{}", "a.io", &c, &helper, NULL), 0);
  assert_int_equal(
      from_config("{\"auths\":null,\"credHelpers\":null,\"credsStore\":null}", "a.io", &c, &helper, NULL), 0);
}

static void test_config_legacy_keys(void **state)
{
  (void)state;
  struct credentials c;
  char *helper = NULL;
  const char *cfg = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"" B64_LEGACY "\"},"
                    "\"http://127.0.0.1:5000\":{\"auth\":\"" B64_ALICE "\"},"
                    "\"quay.io/v1/\":{\"auth\":\"" B64_COLON_PASS "\"}}}";

  assert_int_equal(from_config(cfg, "index.docker.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "legacy");
  assert_string_equal(c.password, "pw");
  credentials_clear(&c);
  assert_int_equal(from_config(cfg, "127.0.0.1:5000", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "alice");
  credentials_clear(&c);
  assert_int_equal(from_config(cfg, "quay.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "bob");
  credentials_clear(&c);

  assert_int_equal(from_config(cfg, "docker.io", &c, &helper, NULL), 0);
  assert_int_equal(from_config(cfg, "index.docker.io.evil", &c, &helper, NULL), 0);
  assert_int_equal(from_config(cfg, "127.0.0.1", &c, &helper, NULL), 0);

  /* The exact key wins over a URL-style one... */
  const char *both = "{\"auths\":{\"https://ghcr.io\":{\"auth\":\"" B64_LEGACY "\"},"
                     "\"ghcr.io\":{\"auth\":\"" B64_ALICE "\"}}}";
  assert_int_equal(from_config(both, "ghcr.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "alice");
  credentials_clear(&c);
  /* ...unless it holds no credentials. */
  const char *empty_exact =
      "{\"auths\":{\"ghcr.io\":{},\"https://ghcr.io/v1/\":{\"auth\":\"" B64_LEGACY "\"}}}";
  assert_int_equal(from_config(empty_exact, "ghcr.io", &c, &helper, NULL), 1);
  assert_string_equal(c.username, "legacy");
  credentials_clear(&c);
}

/* Found by fuzzing: long runs of stacked repetitions made glibc's regcomp
 * take minutes.  Such keys are ignored; a sane pattern still works. */
static void test_config_stacked_quantifiers(void **state)
{
  (void)state;
  struct credentials c;
  char *helper = NULL;
  char key[200];
  memset(key, '*', sizeof(key) - 1);
  key[0] = 'g';
  key[sizeof(key) - 1] = '\0';
  char *cfg = NULL;
  assert_true(asprintf(&cfg, "{\"credHelpers\":{\"%s\":\"slow\",\"g+h+cr\\\\.io\":\"ok\"}}", key) > 0);
  time_t start = time(NULL);
  assert_int_equal(from_config(cfg, "ggghcr.io", &c, &helper, NULL), 0);
  assert_true(time(NULL) - start < 2);
  assert_string_equal(helper, "ok");
  free(helper);
  free(cfg);
}

static void test_config_cred_helpers(void **state)
{
  (void)state;
  struct credentials c;
  char *helper = NULL;
  const char *cfg = "{\"credHelpers\":{\"[invalid\":\"broken\",\"x)|(.*\":\"escape\",\"ghcr\":\"prefix\","
                    "\".*\\\\.gcr\\\\.io\":\"gcloud\",\"ghcr.io\":\"gh\"},"
                    "\"auths\":{\"ghcr.io\":{\"auth\":\"" B64_ALICE "\"},"
                    "\"quay.io\":{\"auth\":\"" B64_ALICE "\"}}}";

  /* credHelpers come before auths; the exact key before patterns. */
  assert_int_equal(from_config(cfg, "ghcr.io", &c, &helper, NULL), 0);
  assert_string_equal(helper, "gh");
  assert_null(c.username);
  free(helper);
  helper = NULL;

  assert_int_equal(from_config(cfg, "eu.gcr.io", &c, &helper, NULL), 0);
  assert_string_equal(helper, "gcloud");
  free(helper);
  helper = NULL;

  /* Patterns must match the whole host; invalid ones are ignored, and a key
   * cannot break out of the anchoring. */
  assert_int_equal(from_config(cfg, "eu.gcr.io.evil.com", &c, &helper, NULL), 0);
  assert_null(helper);
  assert_int_equal(from_config(cfg, "gcr.io", &c, &helper, NULL), 0);
  assert_null(helper);
  assert_int_equal(from_config(cfg, "quay.io", &c, &helper, NULL), 1);
  assert_null(helper);
  assert_string_equal(c.username, "alice");
  credentials_clear(&c);

  /* A caller that does not take helper names just gets "not found". */
  assert_int_equal(from_config(cfg, "ghcr.io", &c, NULL, NULL), 0);
  assert_null(c.username);

  /* Pathological interval nesting is not compiled (it would need GiBs). */
  assert_int_equal(
      from_config("{\"credHelpers\":{\"((a{999}){999}){999}\":\"x\"}}", "aaa", &c, &helper, NULL), 0);
  assert_null(helper);
  assert_int_equal(
      from_config("{\"credHelpers\":{\"a+++++++++++++++++++++++++++++++++++++++++++++++\":\"x\"}}", "aaa", &c,
                  &helper, NULL),
      0);
  assert_null(helper);
  /* A '{' inside a bracket is a literal: the quantifiers after it still
   * count (fuzzing found this one taking gigabytes). */
  assert_int_equal(
      from_config("{\"credHelpers\":{\"[a-{z)??]++++++++++++++++++++++++++++++++++++++++\":\"x\"}}", "aaa",
                  &c, &helper, NULL),
      0);
  assert_null(helper);
  assert_int_equal(from_config("{\"credHelpers\":{\"[a-z]{2}\\\\.io\":\"two\"}}", "ab.io", &c, &helper, NULL),
                   0);
  assert_string_equal(helper, "two");
  free(helper);
}

static void test_config_creds_store(void **state)
{
  (void)state;
  struct credentials c;
  char *helper = NULL;

  assert_int_equal(
      from_config("{\"credsStore\":\"desktop\",\"auths\":{\"a.io\":{}}}", "a.io", &c, &helper, NULL), 0);
  assert_string_equal(helper, "desktop");
  free(helper);
  helper = NULL;

  /* auths with credentials come before the store. */
  assert_int_equal(from_config("{\"credsStore\":\"desktop\",\"auths\":{\"a.io\":{\"auth\":\"" B64_ALICE
                               "\"}}}",
                               "a.io", &c, &helper, NULL),
                   1);
  assert_null(helper);
  credentials_clear(&c);

  /* credHelpers come before the store. */
  assert_int_equal(from_config("{\"credsStore\":\"desktop\",\"credHelpers\":{\"a.io\":\"special\"}}", "a.io",
                               &c, &helper, NULL),
                   0);
  assert_string_equal(helper, "special");
  free(helper);
  helper = NULL;

  /* Docker writes "" for no store. */
  assert_int_equal(from_config("{\"credsStore\":\"\"}", "a.io", &c, &helper, NULL), 0);
  assert_null(helper);
}

static void expect_config_error(const char *cfg, const char *host, const char *msg)
{
  struct credentials c = {(char *)"x", (char *)"y"};
  char *helper = (char *)"sentinel";
  tart_error_t err = NULL;
  assert_int_equal(from_config(cfg, host, &c, &helper, &err), -1);
  assert_non_null(err);
  if (msg != NULL)
    assert_string_equal(err->msg, msg);
  else
    assert_true(strncmp(err->msg, "invalid docker configuration: ", 30) == 0);
  /* Secrets never reach a message. */
  assert_null(strstr(err->msg, "YWxp"));
  assert_null(strstr(err->msg, "alice"));
  assert_null(c.username);
  assert_null(c.password);
  assert_null(helper);
  tart_error_release(&err);
}

static void test_config_malformed(void **state)
{
  (void)state;
  expect_config_error("", "a.io", NULL);
  expect_config_error("{", "a.io", NULL);
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"" B64_ALICE, "a.io", NULL);
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"" B64_ALICE "\"}}} trailing", "a.io", NULL);
  expect_config_error("[]", "a.io", "invalid docker configuration: the top-level value is not a JSON object");
  expect_config_error("{\"auths\":[]}", "a.io", "invalid docker configuration: \"auths\" is not an object");
  expect_config_error("{\"credHelpers\":\"x\"}", "a.io",
                      "invalid docker configuration: \"credHelpers\" is not an object");
  expect_config_error("{\"auths\":{\"a.io\":\"" B64_ALICE "\"}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"] is not an object");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":42}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not a string");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"!!not base64!!\"}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not valid base64");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"YWxp Y2U6\"}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not valid base64");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"Y\"}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not valid base64");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"" B64_NUL "\"}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not valid base64");
  expect_config_error("{\"auths\":{\"a.io\":{\"auth\":\"" B64_NOCOLON "\"}}}", "a.io",
                      "invalid docker configuration: auths[\"a.io\"].auth is not \"user:password\"");
  expect_config_error(
      "{\"auths\":{\"https://a.io/v1/\":{\"auth\":\"" B64_NOCOLON "\"}}}", "a.io",
      "invalid docker configuration: auths[\"https://a.io/v1/\"].auth is not \"user:password\"");
  expect_config_error("{\"credHelpers\":{\"a.io\":1}}", "a.io",
                      "invalid docker configuration: \"a.io\" is not a string");
  expect_config_error("{\"credHelpers\":{\"a.io\":\"../../tmp/evil\"}}", "a.io",
                      "invalid docker configuration: \"a.io\" is not a valid credential helper name");
  expect_config_error("{\"credHelpers\":{\"a.io\":\"\"}}", "a.io",
                      "invalid docker configuration: \"a.io\" is not a valid credential helper name");
  expect_config_error("{\"credsStore\":\"a\\nb\"}", "a.io",
                      "invalid docker configuration: \"credsStore\" is not a valid credential helper name");
  expect_config_error("{\"credsStore\":true}", "a.io",
                      "invalid docker configuration: \"credsStore\" is not a string");
  /* Keys are escaped in messages. */
  expect_config_error("{\"auths\":{\"http://a.io/\\u001b[1m\":[]}}", "a.io",
                      "invalid docker configuration: auths[\"http://a.io/\\x1b[1m\"] is not an object");
}

/* ---- credentials_from_helper_output ------------------------------------ */

static void test_helper_output(void **state)
{
  (void)state;
  struct credentials c;
  tart_error_t err = NULL;
  const char *ok = "{\"ServerURL\":\"ghcr.io\",\"Username\":\"me\",\"Secret\":\"pw\"}\n";
  assert_int_equal(credentials_from_helper_output(ok, strlen(ok), &c, NULL), 0);
  assert_string_equal(c.username, "me");
  assert_string_equal(c.password, "pw");
  credentials_clear(&c);

  /* Identity tokens come with "<token>" as the user name, passed as is. */
  const char *tok = "{\"Username\":\"<token>\",\"Secret\":\"t\"}";
  assert_int_equal(credentials_from_helper_output(tok, strlen(tok), &c, NULL), 0);
  assert_string_equal(c.username, "<token>");
  assert_string_equal(c.password, "t");
  credentials_clear(&c);

  static const struct {
    const char *text, *msg;
  } bad[] = {
      {"", "credential helper output is empty"},
      {" \n\t", "credential helper output is empty"},
      {"credentials not found in native keychain", NULL},
      {"[\"Username\",\"Secret\"]", "credential helper output is not a JSON object"},
      {"{\"Username\":\"u\"}", "credential helper output has no \"Secret\" string"},
      {"{\"Secret\":\"topsecret\"}", "credential helper output has no \"Username\" string"},
      {"{\"Username\":1,\"Secret\":\"topsecret\"}", "credential helper output has no \"Username\" string"},
      {"{\"Username\":\"u\",\"Secret\":null}", "credential helper output has no \"Secret\" string"},
      {"{\"Username\":\"u\",\"Secret\":\"topsecret", NULL},
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    c.username = (char *)"x";
    assert_int_equal(credentials_from_helper_output(bad[i].text, strlen(bad[i].text), &c, &err), -1);
    assert_null(c.username);
    assert_null(c.password);
    if (bad[i].msg != NULL)
      assert_string_equal(err->msg, bad[i].msg);
    else
      assert_true(strncmp(err->msg, "credential helper output is not valid JSON", 42) == 0);
    assert_null(strstr(err->msg, "topsecret"));
    tart_error_release(&err);
  }
}

/* ---- credentials_lookup ------------------------------------------------ */

static void write_auth_json(const char *text)
{
  char *path = xasprintf("%s/auth.json", tart_home);
  write_text(path, text, 0600);
  free(path);
}

static void expect_lookup(const char *host, int rc, const char *user, const char *pass)
{
  struct credentials c;
  tart_error_t err = NULL;
  assert_int_equal(credentials_lookup(tart_home, host, &c, &err), rc);
  assert_null(err);
  if (user == NULL) {
    assert_null(c.username);
    assert_null(c.password);
  } else {
    assert_string_equal(c.username, user);
    assert_string_equal(c.password, pass);
  }
  credentials_clear(&c);
}

/* Lookup expected to go anonymous with a warning holding `needle`. */
static void expect_lookup_warning(const char *host, const char *needle)
{
  struct credentials c;
  tart_error_t err = NULL;
  struct capture cap;
  capture_begin(&cap);
  int rc = credentials_lookup(tart_home, host, &c, &err);
  char *out = capture_end(&cap);
  assert_int_equal(rc, 0);
  assert_null(err);
  assert_null(c.username);
  if (needle == NULL) {
    assert_string_equal(out, "");
  } else {
    if (strstr(out, needle) == NULL)
      fail_msg("warning %s does not hold %s", out, needle);
    assert_non_null(strstr(out, "authentication may fail: "));
    assert_null(strstr(out, "topsecret"));
    assert_null(strstr(out, "YWxp"));
  }
  free(out);
}

static void test_lookup_env(void **state)
{
  (void)state;
  write_auth_json("{\"auths\":{\"a.io\":{\"auth\":\"" B64_LOCAL "\"}}}");

  setenv("TART_REGISTRY_USERNAME", "envuser", 1);
  expect_lookup("a.io", 1, "local", "pw"); /* both variables are needed */
  unsetenv("TART_REGISTRY_USERNAME");
  setenv("TART_REGISTRY_PASSWORD", "envpass", 1);
  expect_lookup("a.io", 1, "local", "pw");

  setenv("TART_REGISTRY_USERNAME", "envuser", 1);
  expect_lookup("a.io", 1, "envuser", "envpass");
  expect_lookup("b.io", 1, "envuser", "envpass");

  /* Limited to one host: others fall through to the next providers. */
  setenv("TART_REGISTRY_HOSTNAME", "b.io", 1);
  expect_lookup("a.io", 1, "local", "pw");
  expect_lookup("b.io", 1, "envuser", "envpass");
  expect_lookup("c.io", 0, NULL, NULL);
}

static void test_lookup_order(void **state)
{
  (void)state;
  write_auth_json("{\"auths\":{\"a.io\":{\"auth\":\"" B64_LOCAL "\"}}}");
  write_text(docker_config,
             "{\"auths\":{\"a.io\":{\"auth\":\"" B64_DOCKER "\"},\"b.io\":{\"auth\":\"" B64_DOCKER "\"}}}",
             0600);

  expect_lookup("a.io", 1, "local", "pw");
  expect_lookup("b.io", 1, "docker", "pw");
  expect_lookup("c.io", 0, NULL, NULL);

  /* No TART_HOME: straight to the docker config. */
  struct credentials c;
  assert_int_equal(credentials_lookup(NULL, "a.io", &c, NULL), 1);
  assert_string_equal(c.username, "docker");
  credentials_clear(&c);

  /* No docker config and no auth.json: anonymous, silently. */
  unlink(docker_config);
  expect_lookup_warning("b.io", NULL);
  char *auth = xasprintf("%s/auth.json", tart_home);
  unlink(auth);
  free(auth);
  expect_lookup_warning("a.io", NULL);
}

static void test_lookup_tart_docker_config(void **state)
{
  (void)state;
  char *alt = xasprintf("%s/alt-config.json", root);
  write_text(alt, "{\"auths\":{\"b.io\":{\"auth\":\"" B64_ALICE "\"}}}", 0600);
  write_text(docker_config, "{\"auths\":{\"b.io\":{\"auth\":\"" B64_DOCKER "\"}}}", 0600);

  setenv("TART_DOCKER_CONFIG", alt, 1);
  expect_lookup("b.io", 1, "alice", "secret");
  expect_lookup("c.io", 0, NULL, NULL); /* not a fall back to ~/.docker */

  /* An empty value counts as unset. */
  setenv("TART_DOCKER_CONFIG", "", 1);
  expect_lookup("b.io", 1, "docker", "pw");

  char *missing = xasprintf("%s/no-such-config.json", root);
  setenv("TART_DOCKER_CONFIG", missing, 1);
  struct credentials c;
  tart_error_t err = NULL;
  assert_int_equal(credentials_lookup(tart_home, "b.io", &c, &err), -1);
  assert_non_null(err);
  char *want =
      xasprintf("Registry authentication failed. Could not find docker configuration at '%s'.", missing);
  assert_string_equal(err->msg, want);
  assert_int_equal(err->exit_code, TART_EXIT_FAILURE);
  assert_null(c.username);
  tart_error_release(&err);
  free(want);

  /* Earlier providers still win over the broken setting. */
  write_auth_json("{\"auths\":{\"b.io\":{\"auth\":\"" B64_LOCAL "\"}}}");
  expect_lookup("b.io", 1, "local", "pw");
  free(missing);
  free(alt);
}

static void test_lookup_broken_files(void **state)
{
  (void)state;
  /* A broken auth.json is reported and the docker config still tried. */
  write_auth_json("{\"auths\":{\"a.io\":{\"auth\":\"" B64_ALICE);
  write_text(docker_config, "{\"auths\":{\"a.io\":{\"auth\":\"" B64_DOCKER "\"}}}", 0600);
  struct capture cap;
  struct credentials c;
  capture_begin(&cap);
  assert_int_equal(credentials_lookup(tart_home, "a.io", &c, NULL), 1);
  char *out = capture_end(&cap);
  assert_string_equal(c.username, "docker");
  credentials_clear(&c);
  assert_non_null(strstr(out,
                         "tart: warning: Failed to retrieve credentials using auth.json, authentication may "
                         "fail: "));
  assert_non_null(strstr(out, "auth.json: invalid docker configuration: not valid JSON"));
  assert_null(strstr(out, "YWxp"));
  free(out);

  write_text(docker_config, "{\"auths\":{\"b.io\":{\"auth\":\"" B64_NOCOLON "\"}}}", 0600);
  expect_lookup_warning("b.io",
                        "Failed to retrieve credentials using docker configuration, authentication may "
                        "fail: ");
  /* A directory where the file should be. */
  unlink(docker_config);
  assert_int_equal(mkdir(docker_config, 0700), 0);
  expect_lookup_warning("b.io", "is not a regular file");
  rmdir(docker_config);
}

static void test_lookup_helpers(void **state)
{
  (void)state;
  write_text(docker_config,
             "{\"credHelpers\":{\"helped.io\":\"testhelper\",\".*\\\\.helped\\\\.dev\":\"testhelper\","
             "\"fail.io\":\"failhelper\",\"leaky.io\":\"leakyhelper\",\"none.io\":\"notfoundhelper\","
             "\"bad.io\":\"badjsonhelper\",\"empty.io\":\"emptyhelper\",\"missing.io\":\"nosuchhelper\","
             "\"runaway.io\":\"runawayhelper\",\"hang.io\":\"hanghelper\",\"stderr.io\":\"stderrhelper\","
             "\"token.io\":\"tokenhelper\"},"
             "\"credsStore\":\"testhelper\"}",
             0600);

  /* The helper gets the host on stdin. */
  expect_lookup("helped.io", 1, "u", "s-helped.io");
  expect_lookup("eu.helped.dev", 1, "u", "s-eu.helped.dev");
  expect_lookup("127.0.0.1:5000", 1, "u", "s-127.0.0.1:5000"); /* credsStore */
  expect_lookup("token.io", 1, "<token>", "idtoken");

  /* A failing helper is a warning; the lookup goes on to anonymous. */
  expect_lookup_warning("fail.io",
                        "tart: warning: Failed to retrieve credentials using docker-credential-failhelper, "
                        "authentication may fail: docker-credential-failhelper failed with exit status 1: "
                        "boom\n");
  expect_lookup_warning("leaky.io", "docker-credential-leakyhelper failed with exit status 1\n");
  expect_lookup_warning("stderr.io",
                        "docker-credential-stderrhelper failed with exit status 2: helper says no\n");
  expect_lookup_warning("bad.io",
                        "docker-credential-badjsonhelper: credential helper output is not valid JSON");
  expect_lookup_warning("empty.io", "docker-credential-emptyhelper: credential helper output is empty");
  expect_lookup_warning("missing.io", "docker-credential-nosuchhelper not found in PATH");
  expect_lookup_warning("runaway.io", "docker-credential-runawayhelper printed more than 65536 bytes");
  /* A helper that never answers is stopped at the deadline. */
  setenv("TART_HELPER_TIMEOUT_MS", "300", 1);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  expect_lookup_warning("hang.io", "docker-credential-hanghelper did not answer within 1 s (it was stopped)");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  unsetenv("TART_HELPER_TIMEOUT_MS");
  assert_true(t1.tv_sec - t0.tv_sec < 5);
  /* Docker's "not found" answer is no failure: no warning. */
  expect_lookup_warning("none.io", NULL);

  /* Credentials found earlier mean the helper is never run. */
  write_auth_json("{\"auths\":{\"fail.io\":{\"auth\":\"" B64_LOCAL "\"}}}");
  expect_lookup("fail.io", 1, "local", "pw");
  /* ...and helpers named in auth.json run too. */
  write_auth_json("{\"credHelpers\":{\"fail.io\":\"testhelper\"}}");
  expect_lookup("fail.io", 1, "u", "s-fail.io");
}

/* ---- store / remove ---------------------------------------------------- */

static mode_t file_mode(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 07777;
}

static void test_store_remove(void **state)
{
  (void)state;
  char *path = xasprintf("%s/auth.json", tart_home);
  tart_error_t err = NULL;
  struct credentials c = {(char *)"me", (char *)"p:w\"d"};

  /* Remove with no file: success, and no file appears. */
  assert_int_equal(credentials_remove(tart_home, "ghcr.io", &err), 0);
  assert_false(path_exists(path));

  /* A file others could read, with keys we do not know about. */
  write_text(path,
             "{\"auths\":{\"other.io\":{\"auth\":\"" B64_ALICE
             "\"}},\"currentContext\":\"keep\",\"extra\":[1,2]}",
             0644);
  mode_t old_umask = umask(0);
  assert_int_equal(credentials_store(tart_home, "ghcr.io", &c, &err), 0);
  umask(old_umask);
  assert_null(err);
  assert_int_equal(file_mode(path), 0600);

  char *text = read_text(path);
  assert_non_null(text);
  assert_non_null(strstr(text, "\n  \"auths\": {\n")); /* pretty-printed, 2 spaces */
  assert_non_null(strstr(text, "\"currentContext\": \"keep\""));
  assert_non_null(strstr(text, "\"extra\": [\n"));
  assert_non_null(strstr(text, B64_ALICE));
  assert_null(strstr(text, "me:p")); /* only base64 */
  assert_int_equal(text[strlen(text) - 1], '\n');
  free(text);

  /* What store wrote, lookup reads back. */
  expect_lookup("ghcr.io", 1, "me", "p:w\"d");
  expect_lookup("other.io", 1, "alice", "secret");

  /* Storing again replaces the entry. */
  struct credentials c2 = {(char *)"me2", (char *)"pw2"};
  assert_int_equal(credentials_store(tart_home, "ghcr.io", &c2, &err), 0);
  expect_lookup("ghcr.io", 1, "me2", "pw2");
  assert_int_equal(file_mode(path), 0600);

  /* Remove drops that entry only. */
  assert_int_equal(credentials_remove(tart_home, "ghcr.io", &err), 0);
  assert_null(err);
  expect_lookup("ghcr.io", 0, NULL, NULL);
  expect_lookup("other.io", 1, "alice", "secret");
  text = read_text(path);
  assert_non_null(strstr(text, "\"currentContext\": \"keep\""));
  assert_null(strstr(text, "ghcr.io"));
  free(text);
  assert_int_equal(file_mode(path), 0600);

  /* Removing what is not there changes nothing. */
  assert_int_equal(credentials_remove(tart_home, "ghcr.io", &err), 0);
  assert_null(err);

  /* A fresh file is created 0600. */
  unlink(path);
  assert_int_equal(credentials_store(tart_home, "127.0.0.1:5000", &c2, &err), 0);
  assert_int_equal(file_mode(path), 0600);
  expect_lookup("127.0.0.1:5000", 1, "me2", "pw2");

  /* No temporary files are left next to it. */
  DIR *d = opendir(tart_home);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    assert_null(strstr(de->d_name, ".tmp-"));
  closedir(d);
  free(path);
}

static void test_store_errors(void **state)
{
  (void)state;
  char *path = xasprintf("%s/auth.json", tart_home);
  tart_error_t err = NULL;
  struct credentials c = {(char *)"a:b", (char *)"pw"};

  assert_int_equal(credentials_store(tart_home, "ghcr.io", &c, &err), -1);
  assert_string_equal(err->msg, "the user name must not contain ':'");
  tart_error_release(&err);
  assert_false(path_exists(path));

  c.username = (char *)"a";
  assert_int_equal(credentials_store(tart_home, "", &c, &err), -1);
  assert_string_equal(err->msg, "registry host is empty");
  tart_error_release(&err);
  assert_int_equal(credentials_store(tart_home, "a\nb", &c, &err), -1);
  tart_error_release(&err);
  assert_int_equal(credentials_remove(tart_home, "", &err), -1);
  tart_error_release(&err);

  /* A file we cannot read as JSON is left alone, not overwritten. */
  write_text(path, "not json", 0600);
  assert_int_equal(credentials_store(tart_home, "ghcr.io", &c, &err), -1);
  assert_true(strncmp(err->msg, "cannot update credentials: ", 27) == 0);
  tart_error_release(&err);
  assert_int_equal(credentials_remove(tart_home, "ghcr.io", &err), -1);
  tart_error_release(&err);
  char *text = read_text(path);
  assert_string_equal(text, "not json");
  free(text);

  write_text(path, "{\"auths\":[]}", 0600);
  assert_int_equal(credentials_store(tart_home, "ghcr.io", &c, &err), -1);
  assert_non_null(strstr(err->msg, "\"auths\" is not an object"));
  tart_error_release(&err);
  /* Nothing to remove from such a file. */
  assert_int_equal(credentials_remove(tart_home, "ghcr.io", &err), 0);

  /* A TART_HOME that does not exist. */
  char *nohome = xasprintf("%s/missing-home", root);
  assert_int_equal(credentials_store(nohome, "ghcr.io", &c, &err), -1);
  assert_non_null(err);
  tart_error_release(&err);
  free(nohome);
  free(path);
}

static void test_clear(void **state)
{
  (void)state;
  struct credentials c = {xstrdup("user"), xstrdup("pass")};
  credentials_clear(&c);
  assert_null(c.username);
  assert_null(c.password);
  credentials_clear(&c);
  credentials_clear(NULL);
}

int main(void)
{
  /* Warnings are checked as the terminal shows them. */
  report_set_handler(report_print, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_config_auths, test_setup),
      cmocka_unit_test_setup(test_config_legacy_keys, test_setup),
      cmocka_unit_test_setup(test_config_cred_helpers, test_setup),
      cmocka_unit_test_setup(test_config_stacked_quantifiers, test_setup),
      cmocka_unit_test_setup(test_config_creds_store, test_setup),
      cmocka_unit_test_setup(test_config_malformed, test_setup),
      cmocka_unit_test_setup(test_helper_output, test_setup),
      cmocka_unit_test_setup(test_lookup_env, test_setup),
      cmocka_unit_test_setup(test_lookup_order, test_setup),
      cmocka_unit_test_setup(test_lookup_tart_docker_config, test_setup),
      cmocka_unit_test_setup(test_lookup_broken_files, test_setup),
      cmocka_unit_test_setup(test_lookup_helpers, test_setup),
      cmocka_unit_test_setup(test_store_remove, test_setup),
      cmocka_unit_test_setup(test_store_errors, test_setup),
      cmocka_unit_test_setup(test_clear, test_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
