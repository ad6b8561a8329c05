/* Success paths: versions, status names, PrepareUpload with AccessKey and
 * STS credentials, client IPs, extra parameters, ens_call, credentials from
 * the environment and from a credentials-file profile, every builder setter. */
#include "test_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int requests = 0; /* what the emulator should have seen */

/* "test-" followed by 6 lowercase hex digits: the emulator's physical bucket. */
static void check_physical_bucket(const char *name) {
    CHECK(strncmp(name, "test-", 5) == 0);
    CHECK(strlen(name) == 11);
    for (int i = 5; i < 11; i++) CHECK(isxdigit((unsigned char)name[i]) && !isupper((unsigned char)name[i]));
}

/* A RequestId in the service's shape: 8-4-4-4-12 uppercase hex. */
static void check_request_id(const char *id) {
    CHECK(strlen(id) == 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK(id[i] == '-');
        else
            CHECK(isxdigit((unsigned char)id[i]) && !islower((unsigned char)id[i]));
    }
}

/* Runs PrepareUpload for bucket "test" and checks every field of the answer. */
static void prepare_ok(ens_client *c, const char *client_ip) {
    const char *endpoint = env("ENS_TEST_ENDPOINT");
    ens_prepare_upload_result *r = (ens_prepare_upload_result *)(uintptr_t)1; /* must be reset */
    ens_error *err = (ens_error *)(uintptr_t)1;                             /* must be reset */
    CHECK_STATUS(ens_prepare_upload(c, "test", client_ip, &r, &err), ENS_OK, NULL);
    requests++;
    CHECK(err == NULL);
    CHECK(r != NULL);
    check_physical_bucket(ens_prepare_upload_result_bucket_name(r));
    /* The emulator answers its own host:port as the OSS endpoint. */
    CHECK_STREQ(ens_prepare_upload_result_endpoint(r), endpoint + strlen("http://"));
    check_request_id(ens_prepare_upload_result_request_id(r));
    ens_prepare_upload_result_free(r);
}

static void test_versions(void) {
    char macro_version[64];
    snprintf(macro_version, sizeof macro_version, "%d.%d.%d", ENS_UPLOAD_VERSION_MAJOR,
             ENS_UPLOAD_VERSION_MINOR, ENS_UPLOAD_VERSION_PATCH);
    CHECK_STREQ(ENS_UPLOAD_VERSION_STRING, macro_version);
    CHECK_STREQ(ens_version(), ENS_UPLOAD_VERSION_STRING);
    CHECK_STREQ(ens_version(), env("ENS_TEST_EXPECT_VERSION"));
    printf("ens_version=%s\n", ens_version());
}

static void test_status_names(void) {
    static const struct {
        ens_status s;
        const char *name;
    } all[] = {
        {ENS_OK, "ENS_OK"},
        {ENS_ERR_API, "ENS_ERR_API"},
        {ENS_ERR_INVALID_INPUT, "ENS_ERR_INVALID_INPUT"},
        {ENS_ERR_CONFIG, "ENS_ERR_CONFIG"},
        {ENS_ERR_CREDENTIALS, "ENS_ERR_CREDENTIALS"},
        {ENS_ERR_NO_CREDENTIALS, "ENS_ERR_NO_CREDENTIALS"},
        {ENS_ERR_TRANSPORT, "ENS_ERR_TRANSPORT"},
        {ENS_ERR_REDIRECT, "ENS_ERR_REDIRECT"},
        {ENS_ERR_DECODE, "ENS_ERR_DECODE"},
        {ENS_ERR_RESPONSE_TOO_LARGE, "ENS_ERR_RESPONSE_TOO_LARGE"},
        {ENS_ERR_INVALID_ARGUMENT, "ENS_ERR_INVALID_ARGUMENT"},
        {ENS_ERR_PANIC, "ENS_ERR_PANIC"},
        {ENS_ERR_OTHER, "ENS_ERR_OTHER"},
    };
    CHECK(ENS_OK == 0);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK((int)all[i].s == (int)i); /* the values are fixed and dense */
        CHECK_STREQ(ens_status_str(all[i].s), all[i].name);
    }
    CHECK_STREQ(ens_status_str(-1), "ENS_ERR_UNKNOWN_STATUS");
    CHECK_STREQ(ens_status_str(9999), "ENS_ERR_UNKNOWN_STATUS");
}

static void test_access_key(void) {
    ens_client *c = emu_client();
    CHECK_STREQ(ens_client_endpoint(c), env("ENS_TEST_ENDPOINT"));
    prepare_ok(c, NULL);
    prepare_ok(c, "180.166.1.2");
    prepare_ok(c, "2001:db8::1");
    /* err may be NULL on success too. */
    ens_prepare_upload_result *r = NULL;
    CHECK_STATUS(ens_prepare_upload(c, "test", NULL, &r, NULL), ENS_OK, NULL);
    requests++;
    check_physical_bucket(ens_prepare_upload_result_bucket_name(r));
    ens_prepare_upload_result_free(r);
    ens_client_free(c);
}

/* A process forked after signing, with a client of its own, must not send
 * its parent's nonces again (the emulator would answer SignatureNonceUsed). */
static void test_fork(void) {
    ens_client *c = emu_client();
    prepare_ok(c, NULL);
    fflush(stdout);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        ens_client_free(c);
        c = emu_client();
        ens_prepare_upload_result *r = NULL;
        ens_error *e = NULL;
        ens_status s = ens_prepare_upload(c, "test", NULL, &r, &e);
        if (s != ENS_OK) fprintf(stderr, "forked child: %s: %s\n", ens_status_str(s), ens_error_message(e));
        ens_error_free(e);
        ens_prepare_upload_result_free(r);
        ens_client_free(c);
        _exit(s == ENS_OK ? 0 : 1);
    }
    prepare_ok(c, NULL);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    requests++; /* the child's call; prepare_ok counts the parent's */
    ens_client_free(c);
}

static void test_sts(void) {
    ens_client *c = build_ok(emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_STS_ACCESS_KEY_ID"),
                                         env("ENS_TEST_STS_ACCESS_KEY_SECRET"),
                                         env("ENS_TEST_SECURITY_TOKEN")));
    prepare_ok(c, "10.1.2.3");
    ens_client_free(c);
}

static void test_extra_params(void) {
    ens_client *c = emu_client();
    const ens_param params[] = {
        {"EnsRegionId", "cn-beijing-telecom"},
        {"ObjectKey", "video/2024/clip 1.mp4"},
        {"EnsRegionId", "cn-hangzhou-telecom"}, /* a later value replaces the earlier one */
    };
    ens_prepare_upload_result *r = NULL;
    ens_error *err = NULL;
    CHECK_STATUS(ens_prepare_upload_with_params(c, "test", "180.166.1.2", params, 3, &r, &err), ENS_OK,
                 err);
    requests++;
    check_physical_bucket(ens_prepare_upload_result_bucket_name(r));
    ens_prepare_upload_result_free(r);
    /* No extra parameters at all: NULL is fine when n_params is 0. */
    CHECK_STATUS(ens_prepare_upload_with_params(c, "test", NULL, NULL, 0, &r, &err), ENS_OK, err);
    requests++;
    ens_prepare_upload_result_free(r);
    ens_client_free(c);
}

static void test_call(void) {
    ens_client *c = emu_client();
    const ens_param params[] = {{"BucketName", "test"}, {"ClientIp", "180.166.1.2"}};
    char *json = (char *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_call(c, "PrepareUpload", params, 2, &json, &err), ENS_OK, err);
    requests++;
    CHECK(json != NULL);
    CHECK(json[0] == '{');
    CHECK_CONTAINS(json, "\"BucketName\":\"test-");
    CHECK_CONTAINS(json, "\"RequestId\":\"");
    CHECK_CONTAINS(json, "\"Endpoint\":\"127.0.0.1:");
    ens_string_free(json);
    ens_client_free(c);
}

static void test_credentials_from_env(void) {
    /* AccessKey from the environment. */
    setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", env("ENS_TEST_ACCESS_KEY_ID"), 1);
    setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", env("ENS_TEST_ACCESS_KEY_SECRET"), 1);
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_credentials_from_env(b), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    prepare_ok(c, NULL);
    ens_client_free(c);

    /* STS from the environment. */
    setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", env("ENS_TEST_STS_ACCESS_KEY_ID"), 1);
    setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", env("ENS_TEST_STS_ACCESS_KEY_SECRET"), 1);
    setenv("ALIBABA_CLOUD_SECURITY_TOKEN", env("ENS_TEST_SECURITY_TOKEN"), 1);
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_credentials_from_env(b), ENS_OK, NULL);
    c = build_ok(b);
    prepare_ok(c, NULL);
    ens_client_free(c);

    /* The default chain also finds the environment when nothing is set. */
    b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    c = build_ok(b);
    prepare_ok(c, NULL);
    ens_client_free(c);

    unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
    unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
}

/* The default chain reads a profile of the credentials file in $HOME. */
static void test_profile_from_credentials_file(void) {
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/.alibabacloud", env("HOME"));
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/credentials.ini", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "[default]\ntype = access_key\naccess_key_id = nobody\naccess_key_secret = wrong\n\n");
    fprintf(f, "[edge]\ntype = access_key\naccess_key_id = %s\naccess_key_secret = %s\n",
            env("ENS_TEST_ACCESS_KEY_ID"), env("ENS_TEST_ACCESS_KEY_SECRET"));
    CHECK(fclose(f) == 0);

    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_ENDPOINT")), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_profile(b, "edge"), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    prepare_ok(c, NULL);
    ens_client_free(c);
    CHECK(remove(path) == 0);
}

static void test_every_setter(void) {
    /* A PEM file with one certificate, for the CA setters: the emulator is
     * plain http, so the certificate is loaded but never used. */
    const char *pem = env("ENS_TEST_CA_FILE");
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                        env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_timeout_ms(b, 20000), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_connect_timeout_ms(b, 3000), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_read_timeout_ms(b, 8000), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_max_idle_connections(b, 2), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 2), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 10, 100), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_ca_file(b, pem), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_add_ca_file(b, pem), ENS_OK, NULL);
    /* A proxy setting followed by no_proxy: the later one wins. */
    CHECK_STATUS(ens_client_builder_set_proxy(b, "http://user:pw@127.0.0.1:9"), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_no_proxy(b), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    prepare_ok(c, NULL);
    ens_client_free(c);

    /* A builder that is never built is freed on its own. */
    ens_client_builder_free(emu_builder("http://127.0.0.1:1", "id", "secret", NULL));
    ens_client_builder_free(ens_client_builder_new());
}

int main(void) {
    test_versions();
    test_status_names();
    test_access_key();
    test_sts();
    test_fork();
    test_extra_params();
    test_call();
    test_credentials_from_env();
    test_profile_from_credentials_file();
    test_every_setter();
    report_requests(requests);
    report_done("test_success");
    return 0;
}
