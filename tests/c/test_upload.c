/* Uploads through the C API against the emulator's OSS side: an empty file,
 * a small file, multipart on several threads, STS, CRC mismatches (faults
 * injected through the harness's control channel), cancel from the callback
 * then resume from the checkpoint, progress, several uploads at once on one
 * client, every NULL and invalid argument, and every result accessor. */
#include "test_control.h" /* first: it includes test_util.h */

#include <pthread.h>
#include <stdint.h>

#define PART (100 * 1024) /* the smallest part OSS accepts */

static long long requests = 0; /* what the main emulator should have seen */
static char physical_bucket[64]; /* the bucket PrepareUpload hands out for "test" */

/* The emulator's host:port, as PrepareUpload answers it. */
static const char *emu_host(void) {
    const char *e = env("ENS_TEST_ENDPOINT");
    CHECK(strncmp(e, "http://", 7) == 0);
    return e + 7;
}

/* What the progress callback saw. */
typedef struct {
    pthread_t caller;
    uint64_t calls;
    uint64_t first_done;
    uint64_t last_done;
    uint64_t total;
    uint64_t cancel_at; /* cancel once done >= this (0: never) */
    int cancel_always;
    int not_monotonic, wrong_thread, wrong_total, past_total;
} progress;

static void progress_init(progress *p) {
    memset(p, 0, sizeof *p);
    p->caller = pthread_self();
}

static int on_progress(uint64_t done, uint64_t total, void *user_data) {
    progress *p = (progress *)user_data;
    if (!pthread_equal(p->caller, pthread_self())) p->wrong_thread++;
    if (p->calls == 0) {
        p->first_done = done;
        p->total = total;
    } else {
        if (done <= p->last_done) p->not_monotonic++;
        if (total != p->total) p->wrong_total++;
    }
    if (done > total) p->past_total++;
    p->last_done = done;
    p->calls++;
    if (p->cancel_always) return 1;
    return p->cancel_at != 0 && done >= p->cancel_at ? 1 : 0;
}

/* A complete, well-behaved progress run ending at (total, total). */
static void check_progress(const progress *p, uint64_t total) {
    CHECK(p->calls >= 1);
    CHECK(p->wrong_thread == 0);
    CHECK(p->not_monotonic == 0);
    CHECK(p->wrong_total == 0);
    CHECK(p->past_total == 0);
    CHECK(p->total == total);
    CHECK(p->last_done == total);
}

static ens_client *retrying_client(const char *id, const char *secret, const char *token) {
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), id, secret, token);
    CHECK_STATUS(ens_client_builder_set_retries(b, 3), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 10, 50), ENS_OK, NULL);
    return build_ok(b);
}

/* Small parts, so a few hundred KiB go multipart. */
static ens_upload_options *small_parts(size_t threads) {
    ens_upload_options *o = ens_upload_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(ens_upload_options_set_part_size(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_threads(o, threads), ENS_OK, NULL);
    return o;
}

/* Uploads and expects success; the caller frees the result. */
static ens_upload_result *upload_ok(ens_client *c, const char *key, const char *path,
                                    const ens_upload_options *o, progress *p) {
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = (ens_error *)(uintptr_t)1;
    ens_status s = ens_upload_file(c, "test", "180.166.1.2", key, path, o, p ? on_progress : NULL, p,
                                   &r, &err);
    CHECK_STATUS(s, ENS_OK, err);
    CHECK(err == NULL);
    CHECK(r != NULL);
    return r;
}

/* Uploads and expects `want`; returns the error (caller frees). */
static ens_error *upload_fails(ens_client *c, const char *bucket, const char *ip, const char *key,
                               const char *path, const ens_upload_options *o, progress *p,
                               ens_status want) {
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    ens_status s = ens_upload_file(c, bucket, ip, key, path, o, p ? on_progress : NULL, p, &r, &err);
    CHECK_STATUS(s, want, err);
    CHECK(r == NULL);
    CHECK(err != NULL);
    CHECK(ens_error_status(err) == want);
    CHECK(strlen(ens_error_message(err)) > 0);
    return err;
}

/* Every accessor of a result, and the object as the emulator stored it. */
static void check_result(const ens_upload_result *r, const char *key, uint64_t size, uint64_t crc,
                         uint32_t parts, const char *content_type) {
    const char *bucket = ens_upload_result_bucket(r);
    CHECK(strncmp(bucket, "test-", 5) == 0 && strlen(bucket) == 11);
    if (physical_bucket[0] == '\0') snprintf(physical_bucket, sizeof physical_bucket, "%s", bucket);
    CHECK_STREQ(bucket, physical_bucket);
    CHECK_STREQ(ens_upload_result_endpoint(r), emu_host());
    CHECK_STREQ(ens_upload_result_key(r), key);
    char url[512];
    snprintf(url, sizeof url, "http://%s/%s/", emu_host(), bucket);
    CHECK(strncmp(ens_upload_result_url(r), url, strlen(url)) == 0);
    CHECK(ens_upload_result_size(r) == size);
    CHECK(ens_upload_result_crc64(r) == crc);
    CHECK(ens_upload_result_parts(r) == parts);
    CHECK(strlen(ens_upload_result_etag(r)) > 0);
    CHECK(strchr(ens_upload_result_etag(r), '"') == NULL);
    CHECK(strlen(ens_upload_result_prepare_request_id(r)) == 36);
    CHECK(strlen(ens_upload_result_request_id(r)) > 0);
    if (parts == 0) {
        CHECK_STREQ(ens_upload_result_upload_id(r), "");
    } else {
        CHECK(strlen(ens_upload_result_upload_id(r)) > 0);
    }
    char stored[256], want[256];
    ctl_line(stored, sizeof stored, "main object %s %s", bucket, key);
    snprintf(want, sizeof want, "%llu %llu %s", (unsigned long long)size, (unsigned long long)crc,
             content_type);
    CHECK_STREQ(stored, want);
}

static void test_empty_file(void) {
    ens_client *c = emu_client();
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "empty.bin", 0, 1, &crc);
    CHECK(crc == 0);
    progress p;
    progress_init(&p);
    ens_upload_result *r = upload_ok(c, "c/empty.bin", path, NULL, &p);
    requests += 2; /* PrepareUpload, PutObject */
    check_result(r, "c/empty.bin", 0, 0, 0, "application/octet-stream");
    CHECK(ens_upload_result_resumed_parts(r) == 0);
    check_progress(&p, 0);
    CHECK(p.calls == 1 && p.first_done == 0);
    ens_upload_result_free(r);
    ens_client_free(c);
}

static void test_small_file(void) {
    ens_client *c = emu_client();
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "small.bin", 5000, 2, &crc);
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_content_type(o, "video/mp4"), ENS_OK, NULL);
    progress p;
    progress_init(&p);
    /* A UTF-8 key: percent-encoded on the wire, given back as is. */
    const char *key = "c/\xe8\xa7\x86\xe9\xa2\x91-small.mp4";
    ens_upload_result *r = upload_ok(c, key, path, o, &p);
    requests += 2;
    check_result(r, key, 5000, crc, 0, "video/mp4");
    check_progress(&p, 5000);
    CHECK(p.first_done == 0 && p.calls >= 2);
    ens_upload_result_free(r);

    /* A NULL err is fine on success too; no client IP. */
    r = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "c/small-2.bin", path, NULL, NULL, NULL, &r, NULL),
                 ENS_OK, NULL);
    requests += 2;
    check_result(r, "c/small-2.bin", 5000, crc, 0, "application/octet-stream");
    ens_upload_result_free(r);
    ens_upload_options_free(o);
    ens_client_free(c);
}

static void test_multipart(void) {
    ens_client *c = emu_client();
    char path[512];
    uint64_t crc;
    const uint64_t size = 1000000;
    write_test_file(path, sizeof path, "multi.bin", size, 3, &crc);
    ens_upload_options *o = small_parts(4);
    CHECK_STATUS(ens_upload_options_set_path_style(o, 1), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_https(o, 0), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_stall_timeout_ms(o, 5000), ENS_OK, NULL);
    progress p;
    progress_init(&p);
    ens_upload_result *r = upload_ok(c, "c/multi.bin", path, o, &p);
    /* PrepareUpload, Initiate, 10 parts, Complete. */
    requests += 13;
    check_result(r, "c/multi.bin", size, crc, 10, "application/octet-stream");
    CHECK(ens_upload_result_resumed_parts(r) == 0);
    CHECK(strstr(ens_upload_result_etag(r), "-10") != NULL);
    check_progress(&p, size);
    /* Starts at 0 and ends at the size, never going back (check_progress).
     * How many calls come in between is not promised: a callback that lags
     * behind the parts hears the current count instead of each part's end. */
    CHECK(p.first_done == 0);
    CHECK(p.last_done == size);
    CHECK(p.calls >= 2);
    for (int n = 1; n <= 10; n++) CHECK(ctl_num("main parts c/multi.bin %d", n) == 1);
    CHECK(ctl_num("main initiates c/multi.bin") == 1);
    CHECK(ctl_num("main uploads") == 0);
    ens_upload_result_free(r);
    ens_upload_options_free(o);
    ens_client_free(c);
}

static void test_sts(void) {
    ens_client *c = retrying_client(env("ENS_TEST_STS_ACCESS_KEY_ID"), env("ENS_TEST_STS_ACCESS_KEY_SECRET"),
                                    env("ENS_TEST_SECURITY_TOKEN"));
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "sts.bin", 3000, 4, &crc);
    ens_upload_result *r = upload_ok(c, "c/sts.bin", path, NULL, NULL);
    requests += 2;
    check_result(r, "c/sts.bin", 3000, crc, 0, "application/octet-stream");
    ens_upload_result_free(r);

    write_test_file(path, sizeof path, "sts-multi.bin", 250000, 5, &crc);
    ens_upload_options *o = small_parts(2);
    r = upload_ok(c, "c/sts-multi.bin", path, o, NULL);
    requests += 6; /* PrepareUpload, Initiate, 3 parts, Complete */
    check_result(r, "c/sts-multi.bin", 250000, crc, 3, "application/octet-stream");
    ens_upload_result_free(r);
    ens_upload_options_free(o);
    ens_client_free(c);
}

static void check_integrity(const ens_error *e, const char *what, uint64_t local, uint32_t attempts) {
    CHECK(ens_error_status(e) == ENS_ERR_INTEGRITY);
    CHECK_STREQ(ens_error_field(e), what);
    CHECK(ens_error_local_crc64(e) == local);
    CHECK(ens_error_has_server_crc64(e) == 1);
    CHECK(ens_error_server_crc64(e) != local);
    CHECK(strlen(ens_error_request_id(e)) > 0);
    CHECK(ens_error_attempts(e) == attempts);
    CHECK(ens_error_http_status(e) == 0);
    CHECK_CONTAINS(ens_error_message(e), "integrity");
    CHECK_STREQ(ens_error_code(e), "");
    CHECK_STREQ(ens_error_path(e), "");
    CHECK(ens_error_bytes_total(e) == 0);
}

static void test_crc_mismatch(void) {
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "crc.bin", 5000, 6, &crc);

    /* No retries: the first mismatch is the error. */
    ens_client *c = emu_client();
    inject("oss-bad-crc", 1);
    ens_error *e = upload_fails(c, "test", NULL, "c/crc.bin", path, NULL, NULL, ENS_ERR_INTEGRITY);
    requests += 2;
    check_integrity(e, "object", crc, 1);
    ens_error_free(e);
    ens_client_free(c);

    /* With retries: once is recovered (the PutObject is sent again)... */
    c = retrying_client(env("ENS_TEST_ACCESS_KEY_ID"), env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    inject("oss-bad-crc", 1);
    ens_upload_result *r = upload_ok(c, "c/crc-once.bin", path, NULL, NULL);
    requests += 3;
    check_result(r, "c/crc-once.bin", 5000, crc, 0, "application/octet-stream");
    CHECK(ctl_num("main puts c/crc-once.bin") == 2);
    ens_upload_result_free(r);

    /* ...every time is the error after every retry. */
    inject("oss-bad-crc", 10);
    e = upload_fails(c, "test", NULL, "c/crc-always.bin", path, NULL, NULL, ENS_ERR_INTEGRITY);
    requests += 5;
    check_integrity(e, "object", crc, 4);
    ens_error_free(e);
    clear_faults();
    CHECK(ctl_num("main pending") == 0);
    ens_client_free(c);

    /* A part: named in the error, and the upload aborted on the server. */
    c = emu_client();
    write_test_file(path, sizeof path, "crc-parts.bin", 250000, 7, &crc);
    ens_upload_options *o = small_parts(1);
    long long before = main_requests();
    inject("oss-bad-crc", 1);
    e = upload_fails(c, "test", NULL, "c/crc-parts.bin", path, o, NULL, ENS_ERR_INTEGRITY);
    unsigned char *data = make_bytes(PART, 7);
    check_integrity(e, "part 1", crc64(data, PART), 1);
    free(data);
    ens_error_free(e);
    CHECK(ctl_num("main uploads") == 0);
    requests += settled_requests() - before;
    ens_upload_options_free(o);
    ens_client_free(c);
}

static void test_cancel_and_resume(void) {
    ens_client *c = emu_client();
    char path[512], ckpt[512];
    uint64_t crc;
    const uint64_t size = 1000000;
    write_test_file(path, sizeof path, "resume.bin", size, 8, &crc);
    snprintf(ckpt, sizeof ckpt, "%s/resume.ckpt", env("TMPDIR"));
    remove(ckpt);
    ens_upload_options *o = small_parts(1);
    CHECK_STATUS(ens_upload_options_set_checkpoint(o, ckpt), ENS_OK, NULL);
    long long before = main_requests();

    /* Cancelled from the callback past 350 kB: the checkpoint stays, and the
     * upload stays open on the server for the resume. */
    progress p;
    progress_init(&p);
    p.cancel_at = 350000;
    ens_error *e = upload_fails(c, "test", NULL, "c/resume.bin", path, o, &p, ENS_ERR_CANCELLED);
    /* What the server stored: whole parts, which the resume below skips.
     * All of them when the worker sent every part before the callback (on
     * the caller's thread, which hears the current count when it lags)
     * cancelled: the upload is still cancelled, its Complete not sent. */
    uint64_t stored_bytes = ens_error_bytes_done(e);
    CHECK(stored_bytes <= size);
    CHECK(stored_bytes % PART == 0 || stored_bytes == size);
    CHECK(ens_error_bytes_total(e) == size);
    CHECK(ens_error_attempts(e) == 0);
    CHECK_CONTAINS(ens_error_message(e), "cancel");
    CHECK(p.wrong_thread == 0 && p.not_monotonic == 0);
    ens_error_free(e);
    CHECK(file_exists(ckpt));
    CHECK(ctl_num("main uploads") == 1);

    /* The same call resumes: nothing the checkpoint holds is sent again. */
    progress_init(&p);
    ens_upload_result *r = upload_ok(c, "c/resume.bin", path, o, &p);
    check_result(r, "c/resume.bin", size, crc, 10, "application/octet-stream");
    uint32_t resumed = ens_upload_result_resumed_parts(r);
    /* At least the parts before the cancel point. All 10 when the worker
     * thread finished them before the caller's thread, busy on a loaded
     * machine, got to call the callback that cancelled. */
    if (resumed < 3 || resumed > 10) FAIL("resumed %u parts", resumed);
    uint64_t resumed_bytes = (uint64_t)resumed * PART;
    if (resumed_bytes > size) resumed_bytes = size; /* the last part is short */
    CHECK(stored_bytes == resumed_bytes);
    CHECK(p.first_done == resumed_bytes);
    check_progress(&p, size);
    for (uint32_t n = 1; n <= resumed; n++) CHECK(ctl_num("main parts c/resume.bin %u", n) == 1);
    CHECK(ctl_num("main initiates c/resume.bin") == 1);
    CHECK(!file_exists(ckpt));
    CHECK(ctl_num("main uploads") == 0);
    ens_upload_result_free(r);
    ens_upload_options_free(o);

    /* Without a checkpoint, a cancel aborts the upload on the server. */
    write_test_file(path, sizeof path, "cancel.bin", 600000, 9, &crc);
    o = small_parts(2);
    progress_init(&p);
    p.cancel_at = 200000;
    e = upload_fails(c, "test", NULL, "c/cancel.bin", path, o, &p, ENS_ERR_CANCELLED);
    CHECK(ens_error_bytes_total(e) == 600000);
    ens_error_free(e);
    CHECK(ctl_num("main uploads") == 0);
    ens_upload_options_free(o);

    /* A cancel at the very first call: nothing is stored. */
    write_test_file(path, sizeof path, "cancel-put.bin", 5000, 10, &crc);
    progress_init(&p);
    p.cancel_always = 1;
    e = upload_fails(c, "test", NULL, "c/cancel-put.bin", path, NULL, &p, ENS_ERR_CANCELLED);
    CHECK(ens_error_bytes_done(e) == 0);
    CHECK(ens_error_bytes_total(e) == 5000);
    CHECK(p.calls == 1);
    ens_error_free(e);
    char stored[64];
    ctl_line(stored, sizeof stored, "main object %s c/cancel-put.bin", physical_bucket);
    CHECK_STREQ(stored, "none");

    requests += settled_requests() - before;
    ens_client_free(c);
}

/* Several uploads at once through one client and one options object, each
 * hearing its progress on its own thread. */
typedef struct {
    ens_client *client;
    const ens_upload_options *options;
    char path[512];
    char key[64];
    uint64_t crc;
    int ok;
} job;

static void *upload_job(void *arg) {
    job *j = (job *)arg;
    progress p;
    progress_init(&p);
    ens_upload_result *r = NULL;
    ens_error *err = NULL;
    ens_status s = ens_upload_file(j->client, "test", NULL, j->key, j->path, j->options, on_progress, &p, &r,
                                   &err);
    j->ok = s == ENS_OK && ens_upload_result_crc64(r) == j->crc && ens_upload_result_parts(r) == 3 &&
            p.wrong_thread == 0 && p.not_monotonic == 0 && p.last_done == 250000;
    if (s != ENS_OK) fprintf(stderr, "%s: %s\n", j->key, ens_error_message(err));
    ens_upload_result_free(r);
    ens_error_free(err);
    return NULL;
}

static void test_concurrent_uploads(void) {
    ens_client *c = emu_client();
    ens_upload_options *o = small_parts(2);
    job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].client = c;
        jobs[i].options = o;
        char name[32];
        snprintf(name, sizeof name, "job-%d.bin", i);
        snprintf(jobs[i].key, sizeof jobs[i].key, "c/job-%d.bin", i);
        write_test_file(jobs[i].path, sizeof jobs[i].path, name, 250000, 20 + (uint32_t)i, &jobs[i].crc);
    }
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&threads[i], NULL, upload_job, &jobs[i]) == 0);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    for (int i = 0; i < 4; i++) CHECK(jobs[i].ok);
    requests += 4 * 6;
    ens_upload_options_free(o);
    ens_client_free(c);
}

/* https forced on a plain-http endpoint: the setter is applied (the TLS
 * handshake fails), and a negative value goes back to the client's scheme. */
static void test_https_option(void) {
    ens_client *c = emu_client();
    char path[512];
    write_test_file(path, sizeof path, "https.bin", 100, 11, NULL);
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_https(o, 1), ENS_OK, NULL);
    long long before = main_requests();
    ens_error *e = upload_fails(c, "test", NULL, "c/https.bin", path, o, NULL, ENS_ERR_TRANSPORT);
    CHECK(ens_error_transport_kind(e) != ENS_TRANSPORT_NONE);
    ens_error_free(e);
    CHECK_STATUS(ens_upload_options_set_https(o, -1), ENS_OK, NULL);
    ens_upload_result *r = upload_ok(c, "c/https.bin", path, o, NULL);
    CHECK(strncmp(ens_upload_result_url(r), "http://", 7) == 0);
    ens_upload_result_free(r);
    requests += settled_requests() - before;
    ens_upload_options_free(o);
    ens_client_free(c);
}

/* An ENS_ERR_INVALID_ARGUMENT naming `field`, with nothing sent. */
static void check_arg_error(ens_error *e, const char *field) {
    CHECK(ens_error_status(e) == ENS_ERR_INVALID_ARGUMENT);
    CHECK_STREQ(ens_error_field(e), field);
    CHECK_CONTAINS(ens_error_message(e), "ens_upload_");
    CHECK_CONTAINS(ens_error_message(e), field);
    CHECK(ens_error_attempts(e) == 0);
    ens_error_free(e);
}

static void check_input_error(ens_error *e, const char *field) {
    CHECK(ens_error_status(e) == ENS_ERR_INVALID_INPUT);
    CHECK_STREQ(ens_error_field(e), field);
    CHECK(ens_error_attempts(e) == 0);
    CHECK(ens_error_http_status(e) == 0);
    ens_error_free(e);
}

static void test_bad_arguments(void) {
    ens_client *c = emu_client();
    char path[512], dir[512];
    write_test_file(path, sizeof path, "args.bin", 10, 12, NULL);
    snprintf(dir, sizeof dir, "%s", env("TMPDIR"));
    long long before = main_requests();
    const char *bad = "b\xff\xfe";
    ens_status want = ENS_ERR_INVALID_ARGUMENT;

    /* NULL and non-UTF-8 arguments, each named. */
    check_arg_error(upload_fails(NULL, "test", NULL, "k", path, NULL, NULL, want), "client");
    check_arg_error(upload_fails(c, NULL, NULL, "k", path, NULL, NULL, want), "bucket_name");
    check_arg_error(upload_fails(c, "test", NULL, NULL, path, NULL, NULL, want), "object_key");
    check_arg_error(upload_fails(c, "test", NULL, "k", NULL, NULL, NULL, want), "path");
    check_arg_error(upload_fails(c, bad, NULL, "k", path, NULL, NULL, want), "bucket_name");
    check_arg_error(upload_fails(c, "test", bad, "k", path, NULL, NULL, want), "client_ip");
    check_arg_error(upload_fails(c, "test", NULL, bad, path, NULL, NULL, want), "object_key");
    ens_error *e = upload_fails(c, "test", NULL, "k", bad, NULL, NULL, want);
    CHECK_CONTAINS(ens_error_message(e), "UTF-8");
    check_arg_error(e, "path");

    /* A NULL result_out: refused, and err still set. */
    e = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "k", path, NULL, NULL, NULL, NULL, &e), want, e);
    check_arg_error(e, "result_out");
    /* A NULL err: the status alone. */
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    CHECK(ens_upload_file(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, &r, NULL) == want);
    CHECK(r == NULL);
    CHECK(ens_upload_file(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == want);

    /* Input refused before sending. */
    check_input_error(upload_fails(c, "", NULL, "k", path, NULL, NULL, ENS_ERR_INVALID_INPUT), "BucketName");
    check_input_error(upload_fails(c, "test", "not-an-ip", "k", path, NULL, NULL, ENS_ERR_INVALID_INPUT),
                      "ClientIp");
    check_input_error(upload_fails(c, "test", NULL, "", path, NULL, NULL, ENS_ERR_INVALID_INPUT), "object key");
    check_input_error(upload_fails(c, "test", NULL, "/abs", path, NULL, NULL, ENS_ERR_INVALID_INPUT),
                      "object key");
    check_input_error(upload_fails(c, "test", NULL, "a/../b", path, NULL, NULL, ENS_ERR_INVALID_INPUT),
                      "object key");
    check_input_error(upload_fails(c, "test", NULL, "a\nb", path, NULL, NULL, ENS_ERR_INVALID_INPUT),
                      "object key");

    /* Local files: missing, and not a regular file. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file.bin", dir);
    e = upload_fails(c, "test", NULL, "k", missing, NULL, NULL, ENS_ERR_LOCAL_IO);
    CHECK_STREQ(ens_error_path(e), missing);
    CHECK_STREQ(ens_error_io_kind(e), "NotFound");
    CHECK_CONTAINS(ens_error_message(e), "no-such-file.bin");
    CHECK(ens_error_attempts(e) == 0);
    CHECK_STREQ(ens_error_field(e), "");
    ens_error_free(e);
    e = upload_fails(c, "test", NULL, "k", dir, NULL, NULL, ENS_ERR_LOCAL_IO);
    CHECK_STREQ(ens_error_path(e), dir);
    CHECK_STREQ(ens_error_io_kind(e), "InvalidInput");
    CHECK_CONTAINS(ens_error_message(e), "regular file");
    ens_error_free(e);

    /* Option setters: NULL options. */
    CHECK(ens_upload_options_set_part_size(NULL, PART) == want);
    CHECK(ens_upload_options_set_multipart_threshold(NULL, PART) == want);
    CHECK(ens_upload_options_set_threads(NULL, 1) == want);
    CHECK(ens_upload_options_set_checkpoint(NULL, "x.ckpt") == want);
    CHECK(ens_upload_options_set_path_style(NULL, 1) == want);
    CHECK(ens_upload_options_set_https(NULL, 1) == want);
    CHECK(ens_upload_options_set_content_type(NULL, "text/plain") == want);
    CHECK(ens_upload_options_set_stall_timeout_ms(NULL, 1000) == want);

    /* A failed setter fails the upload with its error, until a good value
     * for the same setting replaces it. */
    static const struct {
        const char *setter; /* in the message */
        const char *field;
        ens_status status;
    } cases[] = {
        {"ens_upload_options_set_part_size", "part size", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_part_size", "part size", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_threads", "threads", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_threads", "threads", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_stall_timeout_ms", "stall timeout", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_content_type", "content type", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_content_type", "content_type", ENS_ERR_INVALID_ARGUMENT},
        {"ens_upload_options_set_content_type", "content_type", ENS_ERR_INVALID_ARGUMENT},
        {"ens_upload_options_set_checkpoint", "checkpoint", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_checkpoint", "checkpoint", ENS_ERR_INVALID_INPUT},
        {"ens_upload_options_set_checkpoint", "checkpoint_path", ENS_ERR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ens_upload_options *o = ens_upload_options_new();
        ens_status s = ENS_OK, fix = ENS_OK;
        switch (i) {
        case 0: s = ens_upload_options_set_part_size(o, PART - 1); break;
        case 1: s = ens_upload_options_set_part_size(o, (uint64_t)5 * 1024 * 1024 * 1024 + 1); break;
        case 2: s = ens_upload_options_set_threads(o, 0); break;
        case 3: s = ens_upload_options_set_threads(o, 65); break;
        case 4: s = ens_upload_options_set_stall_timeout_ms(o, 0); break;
        case 5: s = ens_upload_options_set_content_type(o, "text/plain\r\nX-Evil: 1"); break;
        case 6: s = ens_upload_options_set_content_type(o, NULL); break;
        case 7: s = ens_upload_options_set_content_type(o, bad); break;
        case 8: s = ens_upload_options_set_checkpoint(o, ""); break;
        case 9: s = ens_upload_options_set_checkpoint(o, "/"); break;
        case 10: s = ens_upload_options_set_checkpoint(o, bad); break;
        }
        CHECK(s == cases[i].status);
        e = upload_fails(c, "test", NULL, "k", path, o, NULL, cases[i].status);
        CHECK_STREQ(ens_error_field(e), cases[i].field);
        CHECK_CONTAINS(ens_error_message(e), cases[i].setter);
        CHECK(ens_error_attempts(e) == 0);
        ens_error_free(e);
        switch (i) {
        case 0:
        case 1: fix = ens_upload_options_set_part_size(o, PART); break;
        case 2:
        case 3: fix = ens_upload_options_set_threads(o, 64); break;
        case 4: fix = ens_upload_options_set_stall_timeout_ms(o, 1); break;
        case 5:
        case 6:
        case 7: fix = ens_upload_options_set_content_type(o, "text/plain"); break;
        default: fix = ens_upload_options_set_checkpoint(o, NULL); break;
        }
        CHECK(fix == ENS_OK);
        /* The options pass now: the upload gets as far as the bad key. */
        check_input_error(upload_fails(c, "test", NULL, "", path, o, NULL, ENS_ERR_INVALID_INPUT),
                          "object key");
        ens_upload_options_free(o);
    }
    /* Any multipart threshold is accepted, and -1 / 0 / 1 for https. */
    ens_upload_options *o = ens_upload_options_new();
    CHECK(ens_upload_options_set_multipart_threshold(o, 0) == ENS_OK);
    CHECK(ens_upload_options_set_multipart_threshold(o, UINT64_MAX) == ENS_OK);
    CHECK(ens_upload_options_set_https(o, -5) == ENS_OK);
    CHECK(ens_upload_options_set_path_style(o, 0) == ENS_OK);
    ens_upload_options_free(o);

    /* NULL everywhere else: frees do nothing, accessors give "" or 0. */
    ens_upload_options_free(NULL);
    ens_upload_result_free(NULL);
    CHECK_STREQ(ens_upload_result_bucket(NULL), "");
    CHECK_STREQ(ens_upload_result_endpoint(NULL), "");
    CHECK_STREQ(ens_upload_result_key(NULL), "");
    CHECK_STREQ(ens_upload_result_url(NULL), "");
    CHECK_STREQ(ens_upload_result_etag(NULL), "");
    CHECK_STREQ(ens_upload_result_prepare_request_id(NULL), "");
    CHECK_STREQ(ens_upload_result_request_id(NULL), "");
    CHECK_STREQ(ens_upload_result_upload_id(NULL), "");
    CHECK(ens_upload_result_size(NULL) == 0);
    CHECK(ens_upload_result_crc64(NULL) == 0);
    CHECK(ens_upload_result_parts(NULL) == 0);
    CHECK(ens_upload_result_resumed_parts(NULL) == 0);
    CHECK(ens_error_bytes_done(NULL) == 0);
    CHECK(ens_error_bytes_total(NULL) == 0);
    CHECK(ens_error_local_crc64(NULL) == 0);
    CHECK(ens_error_server_crc64(NULL) == 0);
    CHECK(ens_error_has_server_crc64(NULL) == 0);
    CHECK_STREQ(ens_error_path(NULL), "");
    CHECK_STREQ(ens_error_io_kind(NULL), "");
    CHECK(ens_client_clock_offset(NULL) == 0);
    CHECK(ens_client_clock_offset(c) == 0);

    /* The new statuses: appended, named. */
    CHECK(ENS_ERR_OTHER == 12 && ENS_ERR_CANCELLED == 13 && ENS_ERR_INTEGRITY == 14 &&
          ENS_ERR_LOCAL_IO == 15);
    CHECK_STREQ(ens_status_str(ENS_ERR_CANCELLED), "ENS_ERR_CANCELLED");
    CHECK_STREQ(ens_status_str(ENS_ERR_INTEGRITY), "ENS_ERR_INTEGRITY");
    CHECK_STREQ(ens_status_str(ENS_ERR_LOCAL_IO), "ENS_ERR_LOCAL_IO");
    CHECK_STREQ(ens_status_str(16), "ENS_ERR_UNKNOWN_STATUS");

    /* None of that reached the emulator. */
    CHECK(main_requests() == before);
    ens_client_free(c);
}

int main(void) {
    test_bad_arguments();
    check_requests_so_far(requests, "test_bad_arguments");
    test_empty_file();
    check_requests_so_far(requests, "test_empty_file");
    test_small_file();
    check_requests_so_far(requests, "test_small_file");
    test_multipart();
    check_requests_so_far(requests, "test_multipart");
    test_sts();
    check_requests_so_far(requests, "test_sts");
    test_crc_mismatch();
    check_requests_so_far(requests, "test_crc_mismatch");
    test_cancel_and_resume();
    check_requests_so_far(requests, "test_cancel_and_resume");
    test_concurrent_uploads();
    check_requests_so_far(requests, "test_concurrent_uploads");
    test_https_option();
    check_requests_so_far(requests, "test_https_option");
    report_requests((int)requests);
    report_done("test_upload");
    return 0;
}
