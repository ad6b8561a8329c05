/* Credentials that last, through the C API: a credentials callback called on
 * the first request and again when its credentials are due (never two runs
 * at once), its failures reported with their code; a RAM role assumed from
 * the builder's AccessKey; a credentials URI; every bad argument. Every
 * request goes to the harness's `v4` emulator (its STS and credentials URI
 * are on the same port), so the main emulator sees none. */
#include "test_control.h" /* first: it includes test_util.h */

#include <pthread.h>
#include <time.h>

#define ROLE_ARN "acs:ram::1234567890123456:role/uploader"

struct vault {
    int calls;
    int inside; /* set while a run is in progress: two at once is a failure */
    int fail_code; /* returned instead of credentials when not 0 */
    int set_nothing;
    long long lifetime; /* seconds; the first run's, later runs get an hour */
    pthread_t last_thread;
};

static int vault_callback(void *user_data, ens_credentials_out *out) {
    struct vault *v = user_data;
    if (__atomic_exchange_n(&v->inside, 1, __ATOMIC_SEQ_CST)) FAIL("two callback runs at once");
    v->calls++;
    v->last_thread = pthread_self();
    int rc = 0;
    if (v->fail_code != 0) {
        rc = v->fail_code;
    } else if (!v->set_nothing) {
        long long lifetime = v->calls == 1 ? v->lifetime : 3600;
        CHECK_STATUS(ens_credentials_out_set(out, env("ENS_TEST_STS_ACCESS_KEY_ID"),
                                             env("ENS_TEST_STS_ACCESS_KEY_SECRET"), env("ENS_TEST_SECURITY_TOKEN"),
                                             (int64_t)time(NULL) + lifetime),
                     ENS_OK, NULL);
    }
    __atomic_store_n(&v->inside, 0, __ATOMIC_SEQ_CST);
    return rc;
}

static ens_client_builder *v4_builder(void) {
    ens_client_builder *b = ens_client_builder_new();
    CHECK(b != NULL);
    CHECK_STATUS(ens_client_builder_set_endpoint(b, env("ENS_TEST_V4_ENDPOINT")), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_no_proxy(b), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 0), ENS_OK, NULL);
    return b;
}

static ens_status prepare(ens_client *c, ens_error **err) {
    ens_prepare_upload_result *r = NULL;
    ens_status s = ens_prepare_upload(c, "test", NULL, &r, err);
    ens_prepare_upload_result_free(r);
    return s;
}

static void callback_is_called_again_when_due(void) {
    struct vault v = {0};
    v.lifetime = 2; /* due after 1 s */
    ens_client_builder *b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_credentials_callback(b, vault_callback, &v), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    CHECK(v.calls == 0); /* not at build: on the first request */
    CHECK_CONTAINS(ens_client_credentials_source(c), "callback");
    ens_error *err = NULL;
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK(v.calls == 1);
    CHECK(pthread_equal(v.last_thread, pthread_self()));
    struct timespec pause = {1, 500 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK(v.calls == 2); /* refreshed; this one lasts an hour */
    CHECK(pthread_equal(v.last_thread, pthread_self()));
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK(v.calls == 2);
    ens_client_free(c);
}

static void callback_failures_are_reported(void) {
    struct vault v = {0};
    v.fail_code = 42;
    ens_client_builder *b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_credentials_callback(b, vault_callback, &v), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    ens_error *err = NULL;
    CHECK_STATUS(prepare(c, &err), ENS_ERR_CREDENTIALS, err);
    CHECK_CONTAINS(ens_error_message(err), "code 42");
    ens_error_free(err);
    ens_client_free(c);

    struct vault none = {0};
    none.set_nothing = 1;
    b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_credentials_callback(b, vault_callback, &none), ENS_OK, NULL);
    c = build_ok(b);
    err = NULL;
    CHECK_STATUS(prepare(c, &err), ENS_ERR_CREDENTIALS, err);
    CHECK_CONTAINS(ens_error_message(err), "ens_credentials_out_set");
    ens_error_free(err);
    ens_client_free(c);
}

static void role_arn_and_uri(void) {
    ens_client_builder *b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_access_key(b, env("ENS_TEST_ACCESS_KEY_ID"), env("ENS_TEST_ACCESS_KEY_SECRET"),
                                                   NULL),
                 ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_role_arn(b, ROLE_ARN, "c-test"), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_sts_endpoint(b, env("ENS_TEST_V4_ENDPOINT")), ENS_OK, NULL);
    ens_client *c = build_ok(b);
    CHECK_CONTAINS(ens_client_credentials_source(c), ROLE_ARN);
    CHECK_LACKS(ens_client_credentials_source(c), env("ENS_TEST_ACCESS_KEY_SECRET"));
    ens_error *err = NULL;
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK(ctl_num("v4 issued sts") == 1);
    ens_client_free(c);

    char uri[512];
    snprintf(uri, sizeof uri, "%s/credentials-uri", env("ENS_TEST_V4_ENDPOINT"));
    b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_credentials_uri(b, uri), ENS_OK, NULL);
    c = build_ok(b);
    CHECK_STATUS(prepare(c, &err), ENS_OK, err);
    CHECK(ctl_num("v4 issued uri") == 1);
    ens_client_free(c);
}

static void bad_arguments(void) {
    CHECK_STATUS(ens_client_builder_set_credentials_callback(NULL, vault_callback, NULL), ENS_ERR_INVALID_ARGUMENT,
                 NULL);
    ens_client_builder *b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_credentials_callback(b, NULL, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    /* Remembered: build fails with the same status. */
    ens_client *c = NULL;
    ens_error *err = NULL;
    CHECK_STATUS(ens_client_builder_build(b, &c, &err), ENS_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(ens_error_message(err), "callback");
    ens_error_free(err);

    b = v4_builder();
    CHECK_STATUS(ens_client_builder_set_role_arn(b, NULL, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_credentials_uri(b, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_sts_endpoint(b, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_ecs_metadata_endpoint(b, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    ens_client_builder_free(b);
    CHECK_STATUS(ens_credentials_out_set(NULL, "a", "b", NULL, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK(strcmp(ens_client_credentials_source(NULL), "") == 0);
}

int main(void) {
    callback_is_called_again_when_due();
    callback_failures_are_reported();
    role_arn_and_uri();
    bad_arguments();
    report_requests(0);
    report_done("test_credentials");
    return 0;
}
