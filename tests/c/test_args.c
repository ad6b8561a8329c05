/* Every NULL where a value is required, every string that is not UTF-8, and
 * every NULL out-pointer: ENS_ERR_INVALID_ARGUMENT with a message naming the
 * argument, nothing written through NULL, nothing sent, nothing leaked. Also
 * NULL for every accessor and *_free. */
#include "test_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <stdint.h>

static const char BAD_UTF8[] = "te\xff\xfest"; /* 0xFF never occurs in UTF-8 */
static const char BAD_SECRET[] = "Secret\xc3(Zq9"; /* a broken two-byte sequence */

/* An INVALID_ARGUMENT error naming `arg` of `func`; frees it. */
static void check_arg(ens_error *e, const char *func, const char *arg, const char *problem) {
    char named[256];
    CHECK(e != NULL);
    CHECK(ens_error_status(e) == ENS_ERR_INVALID_ARGUMENT);
    CHECK_STREQ(ens_error_field(e), arg);
    snprintf(named, sizeof named, "%s: argument `%s` %s", func, arg, problem);
    CHECK_CONTAINS(ens_error_message(e), named);
    CHECK(ens_error_http_status(e) == 0);
    CHECK(ens_error_attempts(e) == 0);
    CHECK_STREQ(ens_error_code(e), "");
    CHECK(ens_error_transport_kind(e) == ENS_TRANSPORT_NONE);
    ens_error_free(e);
}

#define IS_NULL "must not be NULL"
#define NOT_UTF8 "is not valid UTF-8"

/* A setter failed: build reports the remembered error naming the argument. */
static void build_reports(ens_client_builder *b, const char *func, const char *arg, const char *problem) {
    ens_client *c = (ens_client *)(uintptr_t)1;
    ens_error *e = NULL;
    CHECK_STATUS(ens_client_builder_build(b, &c, &e), ENS_ERR_INVALID_ARGUMENT, e);
    CHECK(c == NULL);
    check_arg(e, func, arg, problem);
}

static void test_setters(void) {
    const char *id = env("ENS_TEST_ACCESS_KEY_ID"), *secret = env("ENS_TEST_ACCESS_KEY_SECRET");

    /* A NULL builder: every setter says so and does nothing else. */
    CHECK(ens_client_builder_set_endpoint(NULL, "http://x") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_access_key(NULL, "a", "b", NULL) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_credentials_from_env(NULL) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_profile(NULL, "p") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_timeout_ms(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_connect_timeout_ms(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_read_timeout_ms(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_ca_file(NULL, "/x") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_add_ca_file(NULL, "/x") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_proxy(NULL, "http://p:1") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_no_proxy(NULL) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_max_idle_connections(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_retries(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_client_builder_set_retry_backoff_ms(NULL, 1, 2) == ENS_ERR_INVALID_ARGUMENT);

    /* Each string argument: NULL, then not UTF-8; build names it. */
    static const struct {
        const char *func, *arg;
    } cases[] = {
        {"ens_client_builder_set_endpoint", "url"},
        {"ens_client_builder_set_access_key", "access_key_id"},
        {"ens_client_builder_set_access_key", "access_key_secret"},
        {"ens_client_builder_set_access_key", "security_token"},
        {"ens_client_builder_set_profile", "profile"},
        {"ens_client_builder_set_ca_file", "pem_path"},
        {"ens_client_builder_add_ca_file", "pem_path"},
        {"ens_client_builder_set_proxy", "proxy_url"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int bad_utf8 = 0; bad_utf8 <= 1; bad_utf8++) {
            const char *bad = bad_utf8 ? BAD_UTF8 : NULL;
            const char *arg = cases[i].arg;
            /* security_token may be NULL: only its UTF-8 is checked. */
            if (!bad_utf8 && strcmp(arg, "security_token") == 0) continue;
            ens_client_builder *b = ens_client_builder_new();
            ens_status s;
            if (strcmp(arg, "url") == 0)
                s = ens_client_builder_set_endpoint(b, bad);
            else if (strcmp(arg, "access_key_id") == 0)
                s = ens_client_builder_set_access_key(b, bad, secret, NULL);
            else if (strcmp(arg, "access_key_secret") == 0)
                s = ens_client_builder_set_access_key(b, id, bad, NULL);
            else if (strcmp(arg, "security_token") == 0)
                s = ens_client_builder_set_access_key(b, id, secret, bad);
            else if (strcmp(arg, "profile") == 0)
                s = ens_client_builder_set_profile(b, bad);
            else if (strcmp(cases[i].func, "ens_client_builder_set_ca_file") == 0)
                s = ens_client_builder_set_ca_file(b, bad);
            else if (strcmp(cases[i].func, "ens_client_builder_add_ca_file") == 0)
                s = ens_client_builder_add_ca_file(b, bad);
            else
                s = ens_client_builder_set_proxy(b, bad);
            CHECK_STATUS(s, ENS_ERR_INVALID_ARGUMENT, NULL);
            build_reports(b, cases[i].func, arg, bad_utf8 ? NOT_UTF8 : IS_NULL);
        }
    }

    /* Zero timeouts. */
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    build_reports(b, "ens_client_builder_set_timeout_ms", "timeout_ms", "must be above 0");
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_connect_timeout_ms(b, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    build_reports(b, "ens_client_builder_set_connect_timeout_ms", "timeout_ms", "must be above 0");
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_read_timeout_ms(b, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    build_reports(b, "ens_client_builder_set_read_timeout_ms", "timeout_ms", "must be above 0");
    /* Over one day: refused, not a deadline that overflows the clock. */
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, UINT64_MAX), ENS_ERR_INVALID_ARGUMENT, NULL);
    build_reports(b, "ens_client_builder_set_timeout_ms", "timeout_ms", "must be at most 86400000");
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_read_timeout_ms(b, 86400001), ENS_ERR_INVALID_ARGUMENT, NULL);
    build_reports(b, "ens_client_builder_set_read_timeout_ms", "timeout_ms", "must be at most 86400000");

    /* The message never quotes a bad secret. */
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_access_key(b, id, BAD_SECRET, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    ens_client *c = NULL;
    ens_error *e = NULL;
    CHECK_STATUS(ens_client_builder_build(b, &c, &e), ENS_ERR_INVALID_ARGUMENT, e);
    CHECK_LACKS(ens_error_message(e), "Zq9");
    CHECK_LACKS(ens_error_message(e), "Secret");
    check_arg(e, "ens_client_builder_set_access_key", "access_key_secret", NOT_UTF8);

    /* A later good call of the same setter clears the remembered failure,
     * a good call of another setter does not, and the first failure left
     * is the one reported. */
    b = emu_builder(env("ENS_TEST_ENDPOINT"), id, secret, NULL);
    CHECK_STATUS(ens_client_builder_set_endpoint(b, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_proxy(b, BAD_UTF8), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    build_reports(b, "ens_client_builder_set_proxy", "proxy_url", NOT_UTF8);
    b = emu_builder(env("ENS_TEST_ENDPOINT"), id, secret, NULL);
    CHECK_STATUS(ens_client_builder_set_proxy(b, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_no_proxy(b), ENS_OK, NULL); /* same setting: clears it */
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, 1000), ENS_OK, NULL);
    ens_client_free(build_ok(b));
}

static void test_build(void) {
    ens_client *c = (ens_client *)(uintptr_t)1;
    ens_error *e = NULL;

    CHECK_STATUS(ens_client_builder_build(NULL, &c, &e), ENS_ERR_INVALID_ARGUMENT, e);
    CHECK(c == NULL);
    check_arg(e, "ens_client_builder_build", "builder", IS_NULL);

    /* A NULL client_out still consumes the builder (valgrind checks it is freed). */
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), "id", "secret", NULL);
    CHECK_STATUS(ens_client_builder_build(b, NULL, &e), ENS_ERR_INVALID_ARGUMENT, e);
    check_arg(e, "ens_client_builder_build", "client_out", IS_NULL);

    /* err may be NULL: the status alone. */
    CHECK(ens_client_builder_build(NULL, NULL, NULL) == ENS_ERR_INVALID_ARGUMENT);
    b = emu_builder("not a url", "id", "secret", NULL);
    c = (ens_client *)(uintptr_t)1;
    CHECK(ens_client_builder_build(b, &c, NULL) == ENS_ERR_CONFIG);
    CHECK(c == NULL);
    c = NULL;
    CHECK(ens_client_builder_build(emu_builder(env("ENS_TEST_ENDPOINT"), "id", "secret", NULL), &c, NULL) ==
          ENS_OK);
    CHECK(c != NULL);
    ens_client_free(c);
}

static void test_prepare_upload(void) {
    ens_client *c = emu_client();
    ens_prepare_upload_result *r = (ens_prepare_upload_result *)(uintptr_t)1;
    ens_error *e = (ens_error *)(uintptr_t)1;
    const char *F = "ens_prepare_upload";

    CHECK(ens_prepare_upload(NULL, "test", NULL, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(r == NULL);
    check_arg(e, F, "client", IS_NULL);
    CHECK(ens_prepare_upload(c, NULL, NULL, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "bucket_name", IS_NULL);
    CHECK(ens_prepare_upload(c, BAD_UTF8, NULL, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "bucket_name", NOT_UTF8 " (bad byte at offset 2)");
    CHECK(ens_prepare_upload(c, "test", BAD_UTF8, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "client_ip", NOT_UTF8);
    CHECK(ens_prepare_upload(c, "test", NULL, NULL, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "result_out", IS_NULL);
    CHECK(ens_prepare_upload(c, "test", NULL, NULL, NULL) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(r == NULL);

    F = "ens_prepare_upload_with_params";
    const ens_param ok[] = {{"EnsRegionId", "cn-beijing"}};
    const ens_param null_key[] = {{"EnsRegionId", "cn-beijing"}, {NULL, "v"}};
    const ens_param null_value[] = {{"EnsRegionId", NULL}};
    const ens_param bad_value[] = {{"A", "b"}, {"B", "c"}, {"Station", BAD_UTF8}};
    const ens_param bad_key[] = {{BAD_UTF8, "v"}};
    CHECK(ens_prepare_upload_with_params(NULL, "test", NULL, ok, 1, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "client", IS_NULL);
    CHECK(ens_prepare_upload_with_params(c, NULL, NULL, ok, 1, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "bucket_name", IS_NULL);
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, NULL, 1, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params", "must not be NULL when n_params is not 0");
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, null_key, 2, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params[1].key", IS_NULL);
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, null_value, 1, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params[0].value", IS_NULL);
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, bad_value, 3, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params[2].value", NOT_UTF8);
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, bad_key, 1, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params[0].key", NOT_UTF8);
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, ok, SIZE_MAX, &r, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "n_params", "is larger than any array can be");
    CHECK(ens_prepare_upload_with_params(c, "test", NULL, ok, 1, NULL, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "result_out", IS_NULL);
    CHECK(r == NULL);
    ens_client_free(c);
}

static void test_call(void) {
    ens_client *c = emu_client();
    char *json = (char *)(uintptr_t)1;
    ens_error *e = NULL;
    const char *F = "ens_call";
    const ens_param ok[] = {{"BucketName", "test"}};
    const ens_param bad[] = {{"BucketName", BAD_UTF8}};

    CHECK(ens_call(NULL, "PrepareUpload", ok, 1, &json, &e) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(json == NULL);
    check_arg(e, F, "client", IS_NULL);
    CHECK(ens_call(c, NULL, ok, 1, &json, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "action", IS_NULL);
    CHECK(ens_call(c, BAD_UTF8, ok, 1, &json, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "action", NOT_UTF8);
    CHECK(ens_call(c, "PrepareUpload", NULL, 1, &json, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params", "must not be NULL when n_params is not 0");
    CHECK(ens_call(c, "PrepareUpload", bad, 1, &json, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "params[0].value", NOT_UTF8);
    CHECK(ens_call(c, "PrepareUpload", ok, 1, NULL, &e) == ENS_ERR_INVALID_ARGUMENT);
    check_arg(e, F, "json_out", IS_NULL);
    CHECK(ens_call(c, "PrepareUpload", ok, 1, NULL, NULL) == ENS_ERR_INVALID_ARGUMENT);
    ens_client_free(c);
}

static void test_null_objects(void) {
    /* Accessors given NULL: "" (never NULL), 0, ENS_OK, ENS_TRANSPORT_NONE. */
    CHECK_STREQ(ens_client_endpoint(NULL), "");
    CHECK_STREQ(ens_prepare_upload_result_bucket_name(NULL), "");
    CHECK_STREQ(ens_prepare_upload_result_endpoint(NULL), "");
    CHECK_STREQ(ens_prepare_upload_result_request_id(NULL), "");
    CHECK(ens_error_status(NULL) == ENS_OK);
    CHECK(ens_error_http_status(NULL) == 0);
    CHECK(ens_error_attempts(NULL) == 0);
    CHECK(ens_error_transport_kind(NULL) == ENS_TRANSPORT_NONE);
    CHECK_STREQ(ens_error_code(NULL), "");
    CHECK_STREQ(ens_error_message(NULL), "");
    CHECK_STREQ(ens_error_request_id(NULL), "");
    CHECK_STREQ(ens_error_host_id(NULL), "");
    CHECK_STREQ(ens_error_recommend(NULL), "");
    CHECK_STREQ(ens_error_field(NULL), "");
    /* Every *_free accepts NULL. */
    ens_client_builder_free(NULL);
    ens_client_free(NULL);
    ens_prepare_upload_result_free(NULL);
    ens_error_free(NULL);
    ens_string_free(NULL);
}

int main(void) {
    test_setters();
    test_build();
    test_prepare_upload();
    test_call();
    test_null_objects();
    report_requests(0); /* nothing above may reach the server */
    report_done("test_args");
    return 0;
}
