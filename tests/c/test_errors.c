/* Every error kind of the Rust Error, with the fields the C API exposes:
 * status, HTTP status, code, request id, host id, recommend, field, transport
 * kind, attempts, and a message that never holds a secret. */
#include "test_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

static int requests = 0; /* what the emulator should have seen */

/* Fields that must be empty/zero for an error that got no HTTP answer. */
static void check_no_answer(const ens_error *e) {
    CHECK(ens_error_http_status(e) == 0);
    CHECK_STREQ(ens_error_code(e), "");
    CHECK_STREQ(ens_error_request_id(e), "");
    CHECK_STREQ(ens_error_host_id(e), "");
    CHECK_STREQ(ens_error_recommend(e), "");
}

/* PrepareUpload must fail with `want`; returns the error (caller frees). */
static ens_error *prepare_fails(ens_client *c, const char *bucket, const char *ip, ens_status want) {
    ens_prepare_upload_result *r = (ens_prepare_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_prepare_upload(c, bucket, ip, &r, &err), want, err);
    CHECK(r == NULL);
    CHECK(err != NULL);
    CHECK(ens_error_status(err) == want);
    CHECK(strlen(ens_error_message(err)) > 0);
    return err;
}

/* Building must fail with `want`; returns the error (caller frees). */
static ens_error *build_fails(ens_client_builder *b, ens_status want) {
    ens_client *c = (ens_client *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_client_builder_build(b, &c, &err), want, err);
    CHECK(c == NULL);
    CHECK(err != NULL);
    CHECK(ens_error_status(err) == want);
    CHECK(ens_error_attempts(err) == 0);
    CHECK(ens_error_transport_kind(err) == ENS_TRANSPORT_NONE);
    check_no_answer(err);
    CHECK(strlen(ens_error_message(err)) > 0);
    return err;
}

/* An API error as the emulator answers it. */
static void check_api(const ens_error *e, int http, const char *code) {
    CHECK(ens_error_status(e) == ENS_ERR_API);
    CHECK(ens_error_http_status(e) == http);
    CHECK_STREQ(ens_error_code(e), code);
    CHECK(strlen(ens_error_request_id(e)) == 36);
    CHECK_STREQ(ens_error_host_id(e), "ens.aliyuncs.com");
    CHECK_CONTAINS(ens_error_recommend(e), "https://api.aliyun.com/troubleshoot?q=");
    CHECK_CONTAINS(ens_error_recommend(e), code);
    CHECK_CONTAINS(ens_error_message(e), code);
    CHECK_CONTAINS(ens_error_message(e), ens_error_request_id(e));
    CHECK(ens_error_attempts(e) == 1);
    CHECK(ens_error_transport_kind(e) == ENS_TRANSPORT_NONE);
    CHECK_STREQ(ens_error_field(e), "");
}

static ens_client *client_with(const char *id, const char *secret, const char *token) {
    return build_ok(emu_builder(env("ENS_TEST_ENDPOINT"), id, secret, token));
}

static void test_api_errors(void) {
    ens_client *c = emu_client();
    ens_error *e;

    e = prepare_fails(c, "nosuchbucket", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 404, "NoSuchBucket");
    ens_error_free(e);

    /* Passes the client's checks, refused by the server. */
    e = prepare_fails(c, "Bad_Bucket", "180.166.1.2", ENS_ERR_API);
    requests++;
    check_api(e, 400, "InvalidBucketName");
    ens_error_free(e);

    /* 255 bytes is the client's limit: sent, then refused by the server. */
    char name[256];
    memset(name, 'a', 255);
    name[255] = '\0';
    e = prepare_fails(c, name, NULL, ENS_ERR_API);
    requests++;
    check_api(e, 400, "InvalidBucketName");
    ens_error_free(e);

    /* An action the service does not have, through ens_call. */
    char *json = (char *)(uintptr_t)1;
    e = NULL;
    CHECK_STATUS(ens_call(c, "DescribeNothing", NULL, 0, &json, &e), ENS_ERR_API, e);
    requests++;
    CHECK(json == NULL);
    check_api(e, 404, "InvalidAction.NotFound");
    ens_error_free(e);
    ens_client_free(c);

    /* Keys that exist but may not call. */
    static const struct {
        const char *var;
        int http;
        const char *code;
    } denied[] = {
        {"ENS_TEST_KEY_ACCESS_DENIED", 403, "AccessDenied"},
        {"ENS_TEST_KEY_USER_DISABLE", 403, "UserDisable"},
        {"ENS_TEST_KEY_NO_PERMISSION", 400, "NoPermission"},
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        c = client_with(env(denied[i].var), env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
        e = prepare_fails(c, "test", NULL, ENS_ERR_API);
        requests++;
        check_api(e, denied[i].http, denied[i].code);
        ens_error_free(e);
        ens_client_free(c);
    }

    /* A wrong secret: the message diagnoses it and never quotes it. */
    c = client_with(env("ENS_TEST_ACCESS_KEY_ID"), "WrongSecret-Zq9", NULL);
    e = prepare_fails(c, "test", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 400, "SignatureDoesNotMatch");
    CHECK_CONTAINS(ens_error_message(e), "secret is wrong");
    CHECK_LACKS(ens_error_message(e), "WrongSecret");
    CHECK_LACKS(ens_error_message(e), env("ENS_TEST_ACCESS_KEY_SECRET"));
    ens_error_free(e);
    ens_client_free(c);

    /* STS with a wrong secret: the server quotes its string to sign, which
     * holds the security token; the message must not. */
    c = client_with(env("ENS_TEST_STS_ACCESS_KEY_ID"), "WrongSecret-Zq9", env("ENS_TEST_SECURITY_TOKEN"));
    e = prepare_fails(c, "test", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 400, "SignatureDoesNotMatch");
    CHECK_LACKS(ens_error_message(e), "EmulatorToken");
    CHECK_LACKS(ens_error_message(e), "WrongSecret");
    ens_error_free(e);
    ens_client_free(c);

    /* An unknown key. */
    c = client_with("LTAINoSuchKey", "whatever", NULL);
    e = prepare_fails(c, "test", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 404, "InvalidAccessKeyId.NotFound");
    ens_error_free(e);
    ens_client_free(c);

    /* STS: a wrong token, and no token at all. */
    c = client_with(env("ENS_TEST_STS_ACCESS_KEY_ID"), env("ENS_TEST_STS_ACCESS_KEY_SECRET"),
                    "WrongToken-Zq9");
    e = prepare_fails(c, "test", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 400, "InvalidSecurityToken.Mismatch");
    CHECK_LACKS(ens_error_message(e), "WrongToken");
    ens_error_free(e);
    ens_client_free(c);
    c = client_with(env("ENS_TEST_STS_ACCESS_KEY_ID"), env("ENS_TEST_STS_ACCESS_KEY_SECRET"), NULL);
    e = prepare_fails(c, "test", NULL, ENS_ERR_API);
    requests++;
    check_api(e, 400, "InvalidSecurityToken.Missing");
    ens_error_free(e);
    ens_client_free(c);
}

/* Refused before sending: INVALID_INPUT names the request parameter. */
static void check_input(ens_error *e, const char *field, const char *part) {
    CHECK(ens_error_status(e) == ENS_ERR_INVALID_INPUT);
    CHECK_STREQ(ens_error_field(e), field);
    CHECK_CONTAINS(ens_error_message(e), field);
    CHECK_CONTAINS(ens_error_message(e), part);
    CHECK(ens_error_attempts(e) == 0);
    CHECK(ens_error_transport_kind(e) == ENS_TRANSPORT_NONE);
    check_no_answer(e);
    ens_error_free(e);
}

static void test_invalid_input(void) {
    ens_client *c = emu_client();
    char long_name[300];
    memset(long_name, 'a', 256);
    long_name[256] = '\0';

    check_input(prepare_fails(c, "", NULL, ENS_ERR_INVALID_INPUT), "BucketName", "must not be empty");
    check_input(prepare_fails(c, long_name, NULL, ENS_ERR_INVALID_INPUT), "BucketName", "256 bytes");
    check_input(prepare_fails(c, "te\nst", NULL, ENS_ERR_INVALID_INPUT), "BucketName", "control character");
    check_input(prepare_fails(c, "test", "not-an-ip", ENS_ERR_INVALID_INPUT), "ClientIp", "not-an-ip");
    check_input(prepare_fails(c, "test", "999.1.1.1", ENS_ERR_INVALID_INPUT), "ClientIp", "999.1.1.1");

    ens_prepare_upload_result *r = NULL;
    ens_error *e = NULL;
    const ens_param bucket_again[] = {{"BucketName", "other"}};
    CHECK_STATUS(ens_prepare_upload_with_params(c, "test", NULL, bucket_again, 1, &r, &e),
                 ENS_ERR_INVALID_INPUT, e);
    CHECK(r == NULL);
    check_input(e, "BucketName", "not .param");
    const ens_param ip_again[] = {{"EnsRegionId", "cn-beijing"}, {"ClientIp", "1.2.3.4"}};
    CHECK_STATUS(ens_prepare_upload_with_params(c, "test", NULL, ip_again, 2, &r, &e),
                 ENS_ERR_INVALID_INPUT, e);
    check_input(e, "ClientIp", "not .param");

    char *json = NULL;
    CHECK_STATUS(ens_call(c, "Prepare Upload", NULL, 0, &json, &e), ENS_ERR_INVALID_INPUT, e);
    CHECK(json == NULL);
    check_input(e, "Action", "alphanumeric");
    const ens_param reserved[] = {{"BucketName", "test"}, {"Signature", "forged"}};
    CHECK_STATUS(ens_call(c, "PrepareUpload", reserved, 2, &json, &e), ENS_ERR_INVALID_INPUT, e);
    check_input(e, "Signature", "set by the client");
    const ens_param token[] = {{"SecurityToken", "x"}};
    CHECK_STATUS(ens_call(c, "PrepareUpload", token, 1, &json, &e), ENS_ERR_INVALID_INPUT, e);
    check_input(e, "SecurityToken", "set by the client");
    ens_client_free(c);
}

static void test_config(void) {
    const char *endpoint = env("ENS_TEST_ENDPOINT");
    const char *id = env("ENS_TEST_ACCESS_KEY_ID"), *secret = env("ENS_TEST_ACCESS_KEY_SECRET");
    ens_error *e;

    e = build_fails(emu_builder("ftp://example.com", id, secret, NULL), ENS_ERR_CONFIG);
    CHECK_CONTAINS(ens_error_message(e), "endpoint \"ftp://example.com\"");
    CHECK_STREQ(ens_error_field(e), "");
    ens_error_free(e);

    e = build_fails(emu_builder("http://127.0.0.1:80/path", id, secret, NULL), ENS_ERR_CONFIG);
    CHECK_CONTAINS(ens_error_message(e), "no path");
    ens_error_free(e);

    ens_client_builder *b = emu_builder(endpoint, id, secret, NULL);
    CHECK_STATUS(ens_client_builder_set_proxy(b, "http://user:ProxyPw-Zq9@[bad"), ENS_OK, NULL);
    e = build_fails(b, ENS_ERR_CONFIG);
    CHECK_CONTAINS(ens_error_message(e), "proxy");
    CHECK_LACKS(ens_error_message(e), "ProxyPw");
    ens_error_free(e);

    b = emu_builder(endpoint, id, secret, NULL);
    CHECK_STATUS(ens_client_builder_set_ca_file(b, "/nonexistent/ca.pem"), ENS_OK, NULL);
    e = build_fails(b, ENS_ERR_CONFIG);
    CHECK_CONTAINS(ens_error_message(e), "cannot read CA file /nonexistent/ca.pem");
    ens_error_free(e);

    b = emu_builder(endpoint, id, secret, NULL);
    CHECK_STATUS(ens_client_builder_add_ca_file(b, env("ENS_TEST_EMPTY_FILE")), ENS_OK, NULL);
    e = build_fails(b, ENS_ERR_CONFIG);
    CHECK_CONTAINS(ens_error_message(e), "holds no PEM certificate");
    ens_error_free(e);
}

static void test_credentials(void) {
    const char *endpoint = env("ENS_TEST_ENDPOINT");
    ens_error *e;

    e = build_fails(emu_builder(endpoint, "", "secret", NULL), ENS_ERR_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "AccessKey id is empty");
    ens_error_free(e);

    e = build_fails(emu_builder(endpoint, "LTAIid", "Sec\nret-Zq9", NULL), ENS_ERR_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "AccessKey secret contains control characters");
    CHECK_LACKS(ens_error_message(e), "ret-Zq9");
    ens_error_free(e);

    e = build_fails(emu_builder(endpoint, "STS.id", "secret", ""), ENS_ERR_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "security token is empty");
    ens_error_free(e);

    /* From the environment: nothing set, then only half set. The setter
     * reports it, and build reports it again with the message. */
    unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
    unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_credentials_from_env(b), ENS_ERR_CREDENTIALS, NULL);
    e = build_fails(b, ENS_ERR_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set");
    ens_error_free(e);

    setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIhalf", 1);
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_credentials_from_env(b), ENS_ERR_CREDENTIALS, NULL);
    e = build_fails(b, ENS_ERR_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not");
    ens_error_free(e);

    /* A later good credentials setting replaces the failed one. */
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, endpoint), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_credentials_from_env(b), ENS_ERR_CREDENTIALS, NULL);
    CHECK_STATUS(ens_client_builder_set_access_key(b, env("ENS_TEST_ACCESS_KEY_ID"),
                                                   env("ENS_TEST_ACCESS_KEY_SECRET"), NULL),
                 ENS_OK, NULL);
    ens_client_free(build_ok(b));
    unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
}

static void test_no_credentials(void) {
    /* tests/c_api.rs runs this with an empty HOME and no ALIBABA_CLOUD_*. */
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    ens_error *e = build_fails(b, ENS_ERR_NO_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "no credentials found");
    CHECK_CONTAINS(ens_error_message(e), "environment");
    CHECK_CONTAINS(ens_error_message(e), "credentials.ini");
    CHECK_CONTAINS(ens_error_message(e), "config.json");
    ens_error_free(e);

    /* A credentials file without the profile asked for. */
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/.alibabacloud", env("HOME"));
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/credentials.ini", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "[other]\ntype = access_key\naccess_key_id = LTAIother\naccess_key_secret = OtherSecret-Zq9\n");
    CHECK(fclose(f) == 0);
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_profile(b, "nosuchprofile"), ENS_OK, NULL);
    e = build_fails(b, ENS_ERR_NO_CREDENTIALS);
    CHECK_CONTAINS(ens_error_message(e), "no profile [nosuchprofile]");
    CHECK_LACKS(ens_error_message(e), "OtherSecret");
    ens_error_free(e);
    CHECK(remove(path) == 0);
}

/* A client for one of the misbehaving servers, with no retries. */
static ens_client *odd_client(const char *var, uint64_t timeout_ms) {
    ens_client_builder *b = emu_builder(env(var), "LTAIid", "secret", NULL);
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, timeout_ms), ENS_OK, NULL);
    return build_ok(b);
}

static void check_transport(ens_error *e, ens_transport_kind kind, unsigned attempts) {
    CHECK(ens_error_status(e) == ENS_ERR_TRANSPORT);
    CHECK(ens_error_transport_kind(e) == kind);
    CHECK(ens_error_attempts(e) == attempts);
    CHECK_CONTAINS(ens_error_message(e), "transport error");
    CHECK_STREQ(ens_error_field(e), "");
    check_no_answer(e);
}

static void test_transport(void) {
    ens_client *c = odd_client("ENS_TEST_CLOSED_URL", 5000);
    ens_error *e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_CONNECT, 1);
    CHECK_CONTAINS(ens_error_message(e), "(connect)");
    ens_error_free(e);
    ens_client_free(c);

    /* Retries: three attempts in all, counted in the error. */
    ens_client_builder *b = emu_builder(env("ENS_TEST_CLOSED_URL"), "LTAIid", "secret", NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 2), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 1, 5), ENS_OK, NULL);
    c = build_ok(b);
    e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_CONNECT, 3);
    CHECK_CONTAINS(ens_error_message(e), "after 3 attempts");
    ens_error_free(e);
    ens_client_free(c);

    /* A server that accepts and never answers. */
    c = odd_client("ENS_TEST_SILENT_URL", 300);
    e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_TIMEOUT, 1);
    CHECK_CONTAINS(ens_error_message(e), "timeout");
    ens_error_free(e);
    ens_client_free(c);

    /* A server that does not speak HTTP. */
    c = odd_client("ENS_TEST_NOT_HTTP_URL", 5000);
    e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_PROTOCOL, 1);
    ens_error_free(e);
    ens_client_free(c);

    /* A name that does not resolve: retried like a failed connection. */
    b = emu_builder("http://no-such-host.invalid", "LTAIid", "secret", NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 1), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 1, 5), ENS_OK, NULL);
    c = build_ok(b);
    e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_DNS, 2);
    ens_error_free(e);
    ens_client_free(c);

    /* TLS to a server that answers at once with something else. */
    char https[256];
    snprintf(https, sizeof https, "https://%s", env("ENS_TEST_NOT_HTTP_URL") + strlen("http://"));
    b = emu_builder(https, "LTAIid", "secret", NULL);
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, 5000), ENS_OK, NULL);
    c = build_ok(b);
    e = prepare_fails(c, "test", NULL, ENS_ERR_TRANSPORT);
    check_transport(e, ENS_TRANSPORT_TLS, 1);
    ens_error_free(e);
    ens_client_free(c);
}

static void test_odd_answers(void) {
    ens_client *c = odd_client("ENS_TEST_REDIRECT_URL", 5000);
    ens_error *e = prepare_fails(c, "test", NULL, ENS_ERR_REDIRECT);
    CHECK(ens_error_http_status(e) == 302);
    CHECK(ens_error_attempts(e) == 1);
    CHECK_CONTAINS(ens_error_message(e), "http://redirect.invalid/elsewhere");
    CHECK_CONTAINS(ens_error_message(e), "not followed");
    CHECK_STREQ(ens_error_code(e), "");
    CHECK(ens_error_transport_kind(e) == ENS_TRANSPORT_NONE);
    ens_error_free(e);
    ens_client_free(c);

    c = odd_client("ENS_TEST_GARBAGE_URL", 5000);
    e = prepare_fails(c, "test", NULL, ENS_ERR_DECODE);
    CHECK(ens_error_http_status(e) == 200);
    CHECK(ens_error_attempts(e) == 1);
    CHECK_CONTAINS(ens_error_message(e), "<html>not json</html>");
    CHECK_STREQ(ens_error_code(e), "");
    ens_error_free(e);
    ens_client_free(c);

    /* An error page from a proxy: not the API's JSON error shape. */
    c = odd_client("ENS_TEST_HTML_ERROR_URL", 5000);
    e = prepare_fails(c, "test", NULL, ENS_ERR_DECODE);
    CHECK(ens_error_http_status(e) == 403);
    CHECK_CONTAINS(ens_error_message(e), "Forbidden by proxy");
    ens_error_free(e);
    ens_client_free(c);

    c = odd_client("ENS_TEST_HUGE_URL", 10000);
    e = prepare_fails(c, "test", NULL, ENS_ERR_RESPONSE_TOO_LARGE);
    CHECK(ens_error_http_status(e) == 200);
    CHECK(ens_error_attempts(e) == 1);
    CHECK_CONTAINS(ens_error_message(e), "1048576-byte limit");
    ens_error_free(e);
    ens_client_free(c);
}

int main(void) {
    test_api_errors();
    test_invalid_input();
    test_config();
    test_credentials();
    test_no_credentials();
    test_transport();
    test_odd_answers();
    report_requests(requests);
    report_done("test_errors");
    return 0;
}
