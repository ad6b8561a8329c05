/* Signatures through the C API: ENS calls signed with ACS3-HMAC-SHA256
 * (AccessKey and STS), and uploads to a bucket that refuses OSS signature V1
 * (the `v4` emulator of the harness): V4 with the region set, one PutObject
 * and multipart on 4 threads; V1 refused without a region, with the error
 * saying what to set and OSS's EC; every bad argument. Nothing here calls
 * the main emulator. */
#include "test_control.h" /* first: it includes test_util.h */

#define PART (100 * 1024)

/* A client for the V4 emulator, signing ENS calls as `signature` says. */
static ens_client *v4_client(int signature, int sts) {
    ens_client_builder *b =
        emu_builder(env("ENS_TEST_V4_ENDPOINT"), sts ? env("ENS_TEST_STS_ACCESS_KEY_ID") : env("ENS_TEST_ACCESS_KEY_ID"),
                    sts ? env("ENS_TEST_STS_ACCESS_KEY_SECRET") : env("ENS_TEST_ACCESS_KEY_SECRET"),
                    sts ? env("ENS_TEST_SECURITY_TOKEN") : NULL);
    CHECK_STATUS(ens_client_builder_set_signature(b, signature), ENS_OK, NULL);
    return build_ok(b); /* consumes the builder */
}

/* The count of requests signed one way (0 ACS3, 1 RPC, 2 OSS4, 3 OSS1). */
static long long signed_with(int which) {
    char line[128];
    long long n[4] = {0, 0, 0, 0};
    ctl_line(line, sizeof line, "v4 schemes");
    if (sscanf(line, "%lld %lld %lld %lld", &n[0], &n[1], &n[2], &n[3]) != 4) FAIL("bad schemes answer %s", line);
    return n[which];
}

static void acs3_prepare_upload(void) {
    for (int sts = 0; sts <= 1; sts++) {
        ens_client *c = v4_client(ENS_SIGNATURE_ACS3_HMAC_SHA256, sts);
        ens_prepare_upload_result *r = NULL;
        ens_error *err = NULL;
        CHECK_STATUS(ens_prepare_upload(c, "test", "180.166.1.2", &r, &err), ENS_OK, err);
        CHECK(strncmp(ens_prepare_upload_result_bucket_name(r), "test-", 5) == 0);
        ens_prepare_upload_result_free(r);
        ens_client_free(c);
    }
    CHECK(signed_with(0) == 2);
    CHECK(signed_with(1) == 0);
}

static void bad_arguments(void) {
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_signature(b, 7), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_client_builder_set_signature(NULL, 0), ENS_ERR_INVALID_ARGUMENT, NULL);
    ens_client_builder_free(b);

    /* Backoff delays no deadline could hold: refused at build, naming the
     * setter (they once panicked, or aborted, at the first retry). */
    ens_client_builder *huge = emu_builder(env("ENS_TEST_V4_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                           env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(huge, UINT64_MAX, UINT64_MAX), ENS_OK, NULL);
    ens_client *none = NULL;
    ens_error *err = NULL;
    CHECK_STATUS(ens_client_builder_build(huge, &none, &err), ENS_ERR_CONFIG, err);
    CHECK(none == NULL);
    CHECK_CONTAINS(ens_error_message(err), "ens_client_builder_set_retry_backoff_ms");
    ens_error_free(err);

    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_oss_signature(o, 9), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_set_region(o, "oss-cn-hangzhou"), ENS_ERR_INVALID_INPUT, NULL);
    CHECK_STATUS(ens_upload_options_set_region(o, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_set_region(NULL, "cn-hangzhou"), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_allow_upload_host(o, "a/b"), ENS_ERR_INVALID_INPUT, NULL);
    CHECK_STATUS(ens_upload_options_allow_upload_host(o, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    /* A later good value clears the remembered failure. */
    CHECK_STATUS(ens_upload_options_set_region(o, "cn-hangzhou"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_oss_signature(o, ENS_OSS_SIGNATURE_V4), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_allow_upload_host(o, "*.example.com"), ENS_OK, NULL);
    ens_upload_options_free(o);
}

/* Uploads `size` bytes with `o`; returns the status and fills `err`. */
static ens_status upload(ens_client *c, const char *key, size_t size, ens_upload_options *o, ens_error **err) {
    char path[512];
    write_test_file(path, sizeof path, key, size, (uint32_t)size, NULL);
    ens_upload_result *r = NULL;
    ens_status s = ens_upload_file(c, "test", NULL, key, path, o, NULL, NULL, &r, err);
    if (s == ENS_OK) {
        CHECK(ens_upload_result_size(r) == size);
        ens_upload_result_free(r);
    } else {
        CHECK(r == NULL);
    }
    remove(path);
    return s;
}

static void v4_uploads(void) {
    ens_client *c = v4_client(ENS_SIGNATURE_RPC_V1, 1);
    ens_error *err = NULL;
    long long v4_before = signed_with(2);

    /* With the region: V4, one PutObject then multipart on 4 threads. */
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_region(o, env("ENS_TEST_V4_REGION")), ENS_OK, NULL);
    CHECK_STATUS(upload(c, "sig-small.bin", 5000, o, &err), ENS_OK, err);
    CHECK_STATUS(ens_upload_options_set_part_size(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_threads(o, 4), ENS_OK, NULL);
    CHECK_STATUS(upload(c, "sig-multi.bin", 5 * PART + 17, o, &err), ENS_OK, err);
    CHECK(signed_with(2) - v4_before == 1 + 1 + 6 + 1); /* put, initiate, 6 parts, complete */
    CHECK(signed_with(3) == 0);

    /* Without a region: V1, refused as a new bucket refuses it. */
    ens_upload_options *plain = ens_upload_options_new();
    CHECK_STATUS(upload(c, "sig-v1.bin", 100, plain, &err), ENS_ERR_API, err);
    CHECK_STREQ(ens_error_ec(err), "0002-00000080");
    CHECK_CONTAINS(ens_error_message(err), "region");
    CHECK_CONTAINS(ens_error_message(err), "ens_upload_options_set_region");
    CHECK_LACKS(ens_error_message(err), env("ENS_TEST_SECURITY_TOKEN"));
    ens_error_free(err);
    err = NULL;
    CHECK(signed_with(3) == 1);

    /* V4 forced without a region: refused before anything is sent. */
    long long before = ctl_num("v4 requests");
    CHECK_STATUS(ens_upload_options_set_oss_signature(plain, ENS_OSS_SIGNATURE_V4), ENS_OK, NULL);
    CHECK_STATUS(upload(c, "sig-force.bin", 100, plain, &err), ENS_ERR_INVALID_INPUT, err);
    CHECK_CONTAINS(ens_error_message(err), "region");
    ens_error_free(err);
    err = NULL;
    CHECK(ctl_num("v4 requests") - before == 1); /* PrepareUpload only */

    /* V1 forced with the region known: refused once, then V4. */
    CHECK_STATUS(ens_upload_options_set_region(plain, env("ENS_TEST_V4_REGION")), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_oss_signature(plain, ENS_OSS_SIGNATURE_V1), ENS_OK, NULL);
    CHECK_STATUS(upload(c, "sig-switch.bin", 100, plain, &err), ENS_OK, err);
    CHECK(signed_with(3) == 2);

    ens_upload_options_free(plain);
    ens_upload_options_free(o);
    ens_client_free(c);
}

int main(void) {
    acs3_prepare_upload();
    bad_arguments();
    v4_uploads();
    report_requests(0);
    report_done("test_signatures");
    return 0;
}
