/* Object metadata through the C API (issue 15): user metadata, tags,
 * storage class, content disposition and cache control set on the options
 * and stored with the object (PutObject, multipart, and signed V4 on the
 * second emulator), the content type guessed from the key, forbid-overwrite
 * (409 FileAlreadyExists, not retried), the caps on part size and threads,
 * and every setter's checks: bad values remembered for ens_upload_file, a
 * refused entry not undone by a later good one, NULL options. */
#include "test_control.h" /* first: it includes test_util.h */

#include <stdint.h>

#define PART (100 * 1024) /* the smallest part OSS accepts */

static long long requests = 0; /* what the main emulator should have seen */

static ens_client *retrying_client(const char *endpoint) {
    ens_client_builder *b =
        emu_builder(endpoint, env("ENS_TEST_ACCESS_KEY_ID"), env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 3), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 10, 50), ENS_OK, NULL);
    return build_ok(b);
}

/* Options carrying every kind of metadata. */
static ens_upload_options *with_metadata(void) {
    ens_upload_options *o = ens_upload_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(ens_upload_options_set_metadata(o, "Device-Id", "cam-0042"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_metadata(o, "firmware", "1.2.3"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_add_tag(o, "site", "north gate"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_add_tag(o, "kind", "clip/motion"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_storage_class(o, ENS_STORAGE_CLASS_IA), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_content_disposition(o, "attachment; filename=clip.mp4"), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_cache_control(o, "max-age=3600"), ENS_OK, NULL);
    return o;
}

static ens_upload_result *upload_ok(ens_client *c, const char *key, const char *path,
                                    const ens_upload_options *o) {
    ens_upload_result *r = NULL;
    ens_error *err = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, key, path, o, NULL, NULL, &r, &err), ENS_OK, err);
    CHECK(r != NULL && err == NULL);
    return r;
}

/* What the emulator `which` stored with the object `key`. */
static void check_stored(const char *which, const ens_upload_result *r, const char *content_type) {
    char got[1024], want[1024];
    ctl_line(got, sizeof got, "%s meta %s %s", which, ens_upload_result_bucket(r), ens_upload_result_key(r));
    snprintf(want, sizeof want, "%s|device-id=cam-0042;firmware=1.2.3|2|IA|attachment; filename=clip.mp4|max-age=3600",
             content_type);
    CHECK_STREQ(got, want);
}

static void test_metadata_is_stored(void) {
    ens_client *c = retrying_client(env("ENS_TEST_ENDPOINT"));
    char small[512], big[512];
    uint64_t crc;
    write_test_file(small, sizeof small, "meta-small.bin", 1000, 7, &crc);
    write_test_file(big, sizeof big, "meta-big.bin", 3 * PART, 8, &crc);

    ens_upload_options *o = with_metadata();
    ens_upload_result *r = upload_ok(c, "meta/clip.mp4", small, o);
    requests += 2; /* PrepareUpload, PutObject */
    CHECK(ens_upload_result_parts(r) == 0);
    check_stored("main", r, "video/mp4");
    ens_upload_result_free(r);

    /* Multipart: set on InitiateMultipartUpload (checked in tests/c_api.rs). */
    CHECK_STATUS(ens_upload_options_set_part_size(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_max_threads(o, 1), ENS_OK, NULL);
    r = upload_ok(c, "meta/multi.jpg", big, o);
    requests += 6; /* PrepareUpload, Initiate, 3 parts, Complete */
    CHECK(ens_upload_result_parts(r) == 3);
    check_stored("main", r, "image/jpeg");
    ens_upload_result_free(r);

    /* Forbid overwrite: 409 FileAlreadyExists, once, nothing replaced. */
    ens_upload_options *forbid = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_forbid_overwrite(forbid, 1), ENS_OK, NULL);
    ens_upload_result *none = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "meta/clip.mp4", big, forbid, NULL, NULL, &none, &err),
                 ENS_ERR_API, err);
    requests += 2; /* PrepareUpload, the refused PutObject: not retried */
    CHECK(none == NULL);
    CHECK_STREQ(ens_error_code(err), "FileAlreadyExists");
    CHECK(ens_error_http_status(err) == 409);
    CHECK(ens_error_attempts(err) == 1);
    CHECK_CONTAINS(ens_error_message(err), "already exists");
    ens_error_free(err);
    ens_upload_options_free(forbid);
    ens_upload_options_free(o);
    ens_client_free(c);

    /* Signed V4, on the emulator that takes only V4. */
    ens_client *v4 = retrying_client(env("ENS_TEST_V4_ENDPOINT"));
    o = with_metadata();
    CHECK_STATUS(ens_upload_options_set_region(o, env("ENS_TEST_V4_REGION")), ENS_OK, NULL);
    r = upload_ok(v4, "meta/v4.mp4", small, o);
    check_stored("v4", r, "video/mp4");
    ens_upload_result_free(r);
    CHECK_STATUS(ens_upload_options_set_part_size(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, PART), ENS_OK, NULL);
    r = upload_ok(v4, "meta/v4-multi.mp4", big, o);
    CHECK(ens_upload_result_parts(r) == 3);
    check_stored("v4", r, "video/mp4");
    ens_upload_result_free(r);
    ens_upload_options_free(o);
    ens_client_free(v4);
}

/* A setter's failure, then ens_upload_file's: the same field, nothing sent. */
static void check_refused(ens_upload_options *o, const char *field) {
    ens_client *c = emu_client();
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "meta-refused.bin", 10, 9, &crc);
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "meta/refused.bin", path, o, NULL, NULL, &r, &err),
                 ENS_ERR_INVALID_INPUT, err);
    CHECK(r == NULL);
    CHECK_STREQ(ens_error_field(err), field);
    ens_error_free(err);
    ens_upload_options_free(o);
    ens_client_free(c);
}

static void test_setters_check(void) {
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_metadata(o, "device id", "x"), ENS_ERR_INVALID_INPUT, NULL);
    /* A later good name does not undo the refusal of the bad one. */
    CHECK_STATUS(ens_upload_options_set_metadata(o, "device-id", "x"), ENS_OK, NULL);
    check_refused(o, "metadata name");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_metadata(o, "a", "line\r\nX-Evil: 1"), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "metadata value");

    o = ens_upload_options_new();
    char tag[16];
    for (int i = 0; i < 10; i++) {
        snprintf(tag, sizeof tag, "k%d", i);
        CHECK_STATUS(ens_upload_options_add_tag(o, tag, "v"), ENS_OK, NULL);
    }
    CHECK_STATUS(ens_upload_options_add_tag(o, "k10", "v"), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "tags");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_add_tag(o, "k", "a&b"), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "tag value");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_cache_control(o, "no-cache\n"), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "cache control");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_max_part_size(o, 1), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "max part size");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_max_threads(o, 0), ENS_ERR_INVALID_INPUT, NULL);
    check_refused(o, "max threads");

    o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_storage_class(o, 6), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_set_storage_class(o, ENS_STORAGE_CLASS_DEEP_COLD_ARCHIVE), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_storage_class(o, ENS_STORAGE_CLASS_BUCKET_DEFAULT), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_metadata(o, NULL, "v"), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_set_metadata(o, "n", NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(ens_upload_options_add_tag(o, NULL, "v"), ENS_ERR_INVALID_ARGUMENT, NULL);
    ens_upload_options_free(o);

    CHECK(ens_upload_options_set_metadata(NULL, "a", "b") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_add_tag(NULL, "a", "b") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_content_disposition(NULL, "a") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_cache_control(NULL, "a") == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_storage_class(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_forbid_overwrite(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_max_part_size(NULL, PART) == ENS_ERR_INVALID_ARGUMENT);
    CHECK(ens_upload_options_set_max_threads(NULL, 1) == ENS_ERR_INVALID_ARGUMENT);
}

int main(void) {
    test_metadata_is_stored();
    test_setters_check();
    report_requests((int)requests);
    report_done("test_metadata");
    return 0;
}
