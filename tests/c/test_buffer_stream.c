/* Uploads from memory (ens_upload_buffer) and from a read callback
 * (ens_upload_stream) against the emulator's OSS side: small and multipart,
 * a callback failing mid-part, a short and a long stream (nothing stored
 * either way), cancel then resume of a buffer from its checkpoint, and the
 * bandwidth settings (client-side rate, OSS traffic limit). */
#include "test_control.h" /* first: it includes test_util.h */

#include <stdint.h>

#define PART (100 * 1024) /* the smallest part OSS accepts */

static long long requests = 0; /* what the main emulator should have seen */
static char physical_bucket[64];

typedef struct {
    uint64_t calls, last_done, total;
    uint64_t cancel_at; /* cancel once done >= this (0: never) */
    int not_monotonic;
} progress;

static int on_progress(uint64_t done, uint64_t total, void *user_data) {
    progress *p = (progress *)user_data;
    if (p->calls > 0 && done <= p->last_done) p->not_monotonic++;
    p->last_done = done;
    p->total = total;
    p->calls++;
    return p->cancel_at != 0 && done >= p->cancel_at ? 1 : 0;
}

/* A stream over `data`: gives `give` bytes in all (which may differ from
 * the size announced), in chunks of at most `chunk`, failing with `fail_code`
 * once `fail_after` bytes were given (when fail_code != 0). */
typedef struct {
    const unsigned char *data;
    size_t give, pos, chunk;
    size_t fail_after;
    ptrdiff_t fail_code;
    int calls_after_end; /* calls after it returned 0 or an error */
    int finished;
    int overrun; /* return cap + 1 once */
} stream;

static ptrdiff_t read_stream(void *user_data, uint8_t *buf, size_t cap) {
    stream *s = (stream *)user_data;
    if (s->finished) {
        s->calls_after_end++;
        return 0;
    }
    if (s->overrun) {
        s->finished = 1;
        return (ptrdiff_t)cap + 1;
    }
    if (s->fail_code != 0 && s->pos >= s->fail_after) {
        s->finished = 1;
        return s->fail_code;
    }
    size_t n = s->give - s->pos;
    if (n > cap) n = cap;
    if (n > s->chunk) n = s->chunk;
    if (s->fail_code != 0 && s->pos + n > s->fail_after) n = s->fail_after - s->pos;
    if (n == 0) {
        s->finished = 1;
        return 0;
    }
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ptrdiff_t)n;
}

static void stream_init(stream *s, const unsigned char *data, size_t give) {
    memset(s, 0, sizeof *s);
    s->data = data;
    s->give = give;
    s->chunk = 7777; /* not a divisor of anything */
}

/* Retries on, quickly, for the faults injected below. */
static ens_client *retrying_client(void) {
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                        env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 3), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 10, 50), ENS_OK, NULL);
    return build_ok(b);
}

static ens_upload_options *small_parts(size_t threads) {
    ens_upload_options *o = ens_upload_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(ens_upload_options_set_part_size(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, PART), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_threads(o, threads), ENS_OK, NULL);
    return o;
}

/* The object the emulator holds: "SIZE CRC TYPE", or "none". */
static void stored(char *out, size_t len, const char *key) {
    ctl_line(out, len, "main object %s %s", physical_bucket, key);
}

static void check_stored(const char *key, uint64_t size, uint64_t crc) {
    char got[256], want[256];
    stored(got, sizeof got, key);
    snprintf(want, sizeof want, "%llu %llu ", (unsigned long long)size, (unsigned long long)crc);
    CHECK(strncmp(got, want, strlen(want)) == 0);
}

static void check_nothing_stored(const char *key) {
    char got[256];
    stored(got, sizeof got, key);
    CHECK_STREQ(got, "none");
    CHECK(ctl_num("main uploads") == 0); /* any multipart upload was aborted */
}

static ens_upload_result *buffer_ok(ens_client *c, const char *key, const void *data, size_t len,
                                    const ens_upload_options *o, progress *p) {
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = (ens_error *)(uintptr_t)1;
    ens_status s = ens_upload_buffer(c, "test", NULL, key, data, len, o, p ? on_progress : NULL, p,
                                     &r, &err);
    CHECK_STATUS(s, ENS_OK, err);
    CHECK(err == NULL && r != NULL);
    if (physical_bucket[0] == '\0')
        snprintf(physical_bucket, sizeof physical_bucket, "%s", ens_upload_result_bucket(r));
    return r;
}

static ens_upload_result *stream_ok(ens_client *c, const char *key, stream *st, uint64_t size,
                                    const ens_upload_options *o, progress *p) {
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = (ens_error *)(uintptr_t)1;
    ens_status s = ens_upload_stream(c, "test", "180.166.1.2", key, read_stream, st, size, o,
                                     p ? on_progress : NULL, p, &r, &err);
    CHECK_STATUS(s, ENS_OK, err);
    CHECK(err == NULL && r != NULL);
    return r;
}

static ens_error *stream_fails(ens_client *c, const char *key, stream *st, uint64_t size,
                               const ens_upload_options *o, ens_status want) {
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    ens_status s = ens_upload_stream(c, "test", NULL, key, read_stream, st, size, o, NULL, NULL, &r, &err);
    CHECK_STATUS(s, want, err);
    CHECK(r == NULL && err != NULL);
    CHECK(ens_error_status(err) == want);
    CHECK(st->calls_after_end == 0); /* never called again after 0 or an error */
    return err;
}

static void test_buffer(void) {
    ens_client *c = retrying_client();
    long long before = main_requests();

    /* Small: one PutObject. */
    unsigned char *small = make_bytes(5000, 1);
    progress p;
    memset(&p, 0, sizeof p);
    ens_upload_result *r = buffer_ok(c, "mem/small.bin", small, 5000, NULL, &p);
    CHECK(ens_upload_result_size(r) == 5000);
    CHECK(ens_upload_result_crc64(r) == crc64(small, 5000));
    CHECK(ens_upload_result_parts(r) == 0);
    CHECK(p.last_done == 5000 && p.total == 5000 && p.not_monotonic == 0);
    check_stored("mem/small.bin", 5000, crc64(small, 5000));
    ens_upload_result_free(r);

    /* Empty, with NULL data. */
    r = buffer_ok(c, "mem/empty.bin", NULL, 0, NULL, NULL);
    CHECK(ens_upload_result_size(r) == 0 && ens_upload_result_crc64(r) == 0);
    ens_upload_result_free(r);

    /* Multipart from memory on 3 threads, with a part failing once (its
     * retry re-reads the buffer). */
    const size_t size = 1000000;
    unsigned char *big = make_bytes(size, 2);
    ens_upload_options *o = small_parts(3);
    inject("oss-reset=5000", 1);
    memset(&p, 0, sizeof p);
    r = buffer_ok(c, "mem/multi.bin", big, size, o, &p);
    CHECK(ens_upload_result_parts(r) == 10);
    CHECK(ens_upload_result_crc64(r) == crc64(big, size));
    CHECK(p.last_done == size && p.not_monotonic == 0);
    check_stored("mem/multi.bin", size, crc64(big, size));
    CHECK(ctl_num("main pending") == 0);
    ens_upload_result_free(r);
    ens_upload_options_free(o);

    /* NULL data with a length: refused before anything is sent (counted
     * once the reset connection above is recorded). */
    long long at = settled_requests();
    ens_error *err = NULL;
    r = (ens_upload_result *)(uintptr_t)1;
    CHECK_STATUS(ens_upload_buffer(c, "test", NULL, "mem/x", NULL, 10, NULL, NULL, NULL, &r, &err),
                 ENS_ERR_INVALID_ARGUMENT, err);
    CHECK(r == NULL);
    CHECK_STREQ(ens_error_field(err), "data");
    ens_error_free(err);
    CHECK(main_requests() == at);

    requests += settled_requests() - before;
    free(small);
    free(big);
    ens_client_free(c);
}

static void test_buffer_cancel_and_resume(void) {
    ens_client *c = emu_client();
    long long before = main_requests();
    const size_t size = 1000000;
    unsigned char *data = make_bytes(size, 3);
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/buffer.ckpt", env("TMPDIR"));
    remove(ckpt);
    ens_upload_options *o = small_parts(1);
    CHECK_STATUS(ens_upload_options_set_checkpoint(o, ckpt), ENS_OK, NULL);

    progress p;
    memset(&p, 0, sizeof p);
    p.cancel_at = 350000;
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    ens_error *err = NULL;
    CHECK_STATUS(ens_upload_buffer(c, "test", NULL, "mem/resume.bin", data, size, o, on_progress, &p,
                                   &r, &err),
                 ENS_ERR_CANCELLED, err);
    uint64_t stored_bytes = ens_error_bytes_done(err);
    /* Whole parts; all of them when the worker beat the cancel. */
    CHECK(stored_bytes == size || (stored_bytes < size && stored_bytes % PART == 0));
    ens_error_free(err);
    CHECK(file_exists(ckpt));
    CHECK(ctl_num("main uploads") == 1);

    /* The same call with the same bytes resumes. */
    memset(&p, 0, sizeof p);
    r = buffer_ok(c, "mem/resume.bin", data, size, o, &p);
    uint32_t resumed = ens_upload_result_resumed_parts(r);
    if (resumed < 3 || resumed > 10) FAIL("resumed %u parts", resumed);
    uint64_t resumed_bytes = (uint64_t)resumed * PART;
    CHECK((resumed_bytes < size ? resumed_bytes : size) == stored_bytes);
    CHECK(ens_upload_result_crc64(r) == crc64(data, size));
    for (uint32_t n = 1; n <= resumed; n++) CHECK(ctl_num("main parts mem/resume.bin %u", n) == 1);
    CHECK(!file_exists(ckpt));
    CHECK(ctl_num("main uploads") == 0);
    check_stored("mem/resume.bin", size, crc64(data, size));
    ens_upload_result_free(r);

    /* Other bytes under the same checkpoint start over instead. */
    memset(&p, 0, sizeof p);
    p.cancel_at = 250000;
    err = NULL;
    CHECK_STATUS(ens_upload_buffer(c, "test", NULL, "mem/resume.bin", data, size, o, on_progress, &p,
                                   &r, &err),
                 ENS_ERR_CANCELLED, err);
    ens_error_free(err);
    data[0] ^= 0xff;
    r = buffer_ok(c, "mem/resume.bin", data, size, o, NULL);
    CHECK(ens_upload_result_resumed_parts(r) == 0);
    check_stored("mem/resume.bin", size, crc64(data, size));
    ens_upload_result_free(r);
    CHECK(ctl_num("main uploads") == 0);

    requests += settled_requests() - before;
    ens_upload_options_free(o);
    free(data);
    ens_client_free(c);
}

static void test_stream(void) {
    ens_client *c = retrying_client();
    long long before = main_requests();
    const size_t size = 1000000;
    unsigned char *data = make_bytes(size, 4);
    stream st;

    /* Small: one PutObject streamed from the callback. */
    stream_init(&st, data, 5000);
    progress p;
    memset(&p, 0, sizeof p);
    ens_upload_result *r = stream_ok(c, "st/small.bin", &st, 5000, NULL, &p);
    CHECK(ens_upload_result_crc64(r) == crc64(data, 5000) && ens_upload_result_parts(r) == 0);
    CHECK(p.last_done == 5000);
    check_stored("st/small.bin", 5000, crc64(data, 5000));
    ens_upload_result_free(r);

    /* Multipart on 2 threads, a part failing once (resent from its buffer). */
    ens_upload_options *o = small_parts(2);
    stream_init(&st, data, size);
    inject("oss-reset=5000", 1);
    r = stream_ok(c, "st/multi.bin", &st, size, o, NULL);
    CHECK(ens_upload_result_parts(r) == 10);
    CHECK(ens_upload_result_crc64(r) == crc64(data, size));
    check_stored("st/multi.bin", size, crc64(data, size));
    CHECK(ctl_num("main pending") == 0);
    ens_upload_result_free(r);

    /* The callback fails in the middle of part 3: its code comes back, the
     * upload is aborted, nothing is stored. */
    stream_init(&st, data, size);
    st.fail_after = 250000;
    st.fail_code = -42;
    ens_error *e = stream_fails(c, "st/fail.bin", &st, size, o, ENS_ERR_LOCAL_IO);
    CHECK(ens_error_callback_code(e) == -42);
    CHECK_CONTAINS(ens_error_message(e), "-42");
    CHECK_STREQ(ens_error_path(e), "<reader>");
    ens_error_free(e);
    check_nothing_stored("st/fail.bin");

    /* ... and in a single PutObject. */
    stream_init(&st, data, 5000);
    st.fail_after = 3000;
    st.fail_code = -7;
    e = stream_fails(c, "st/fail-put.bin", &st, 5000, NULL, ENS_ERR_LOCAL_IO);
    CHECK(ens_error_callback_code(e) == -7);
    ens_error_free(e);
    check_nothing_stored("st/fail-put.bin");

    /* A short stream: multipart, then one PutObject. */
    stream_init(&st, data, 900000);
    e = stream_fails(c, "st/short.bin", &st, size, o, ENS_ERR_LOCAL_IO);
    CHECK_CONTAINS(ens_error_message(e), "ended before the size given");
    CHECK(ens_error_callback_code(e) == 0);
    ens_error_free(e);
    check_nothing_stored("st/short.bin");
    stream_init(&st, data, 4000);
    e = stream_fails(c, "st/short-put.bin", &st, 5000, NULL, ENS_ERR_LOCAL_IO);
    ens_error_free(e);
    check_nothing_stored("st/short-put.bin");

    /* A long stream: multipart, then one PutObject. */
    stream_init(&st, data, 600000);
    e = stream_fails(c, "st/long.bin", &st, 500000, o, ENS_ERR_LOCAL_IO);
    CHECK_CONTAINS(ens_error_message(e), "more bytes than the size given");
    ens_error_free(e);
    check_nothing_stored("st/long.bin");
    stream_init(&st, data, 6000);
    e = stream_fails(c, "st/long-put.bin", &st, 5000, NULL, ENS_ERR_LOCAL_IO);
    CHECK_CONTAINS(ens_error_message(e), "more bytes than the size given");
    ens_error_free(e);
    check_nothing_stored("st/long-put.bin");

    /* A callback claiming more than its buffer holds. */
    stream_init(&st, data, 5000);
    st.overrun = 1;
    e = stream_fails(c, "st/overrun.bin", &st, 5000, NULL, ENS_ERR_LOCAL_IO);
    CHECK_CONTAINS(ens_error_message(e), "for a buffer of");
    ens_error_free(e);
    check_nothing_stored("st/overrun.bin");
    ens_upload_options_free(o);

    /* Refused before anything is sent: a stream cannot resume, and the
     * callback is required. (Counted once the cut-off uploads above are
     * recorded: the emulator sees their connections close a moment after
     * the calls return, later still under qemu.) */
    long long at = settled_requests();
    o = ens_upload_options_new();
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/stream.ckpt", env("TMPDIR"));
    CHECK_STATUS(ens_upload_options_set_checkpoint(o, ckpt), ENS_OK, NULL);
    stream_init(&st, data, 10);
    e = stream_fails(c, "st/x", &st, 10, o, ENS_ERR_INVALID_INPUT);
    CHECK_STREQ(ens_error_field(e), "checkpoint");
    ens_error_free(e);
    CHECK(st.pos == 0);
    ens_upload_options_free(o);
    ens_upload_result *none = (ens_upload_result *)(uintptr_t)1;
    e = NULL;
    CHECK_STATUS(ens_upload_stream(c, "test", NULL, "st/x", NULL, NULL, 10, NULL, NULL, NULL, &none, &e),
                 ENS_ERR_INVALID_ARGUMENT, e);
    CHECK(none == NULL);
    CHECK_STREQ(ens_error_field(e), "read_cb");
    ens_error_free(e);
    CHECK(main_requests() == at);
    CHECK(ens_error_callback_code(NULL) == 0);

    requests += settled_requests() - before;
    free(data);
    ens_client_free(c);
}

static void test_bandwidth(void) {
    long long before = main_requests();
    const size_t size = 600000;
    unsigned char *data = make_bytes(size, 5);

    /* OSS's range for its traffic limit, checked here. */
    ens_upload_options *o = small_parts(2);
    ens_error *e = NULL;
    CHECK_STATUS(ens_upload_options_set_traffic_limit(o, 819199), ENS_ERR_INVALID_INPUT, NULL);
    CHECK_STATUS(ens_upload_options_set_traffic_limit(o, 838860801), ENS_ERR_INVALID_INPUT, NULL);
    ens_client *c = emu_client();
    ens_upload_result *r = (ens_upload_result *)(uintptr_t)1;
    CHECK_STATUS(ens_upload_buffer(c, "test", NULL, "bw/x", data, size, o, NULL, NULL, &r, &e),
                 ENS_ERR_INVALID_INPUT, e);
    CHECK_STREQ(ens_error_field(e), "traffic limit");
    ens_error_free(e);
    CHECK(main_requests() == before);
    /* In range: sent (and signed) with every part. */
    CHECK_STATUS(ens_upload_options_set_traffic_limit(o, 819200), ENS_OK, NULL);
    r = buffer_ok(c, "bw/traffic.bin", data, size, o, NULL);
    CHECK(ens_upload_result_parts(r) == 6);
    ens_upload_result_free(r);
    CHECK_STATUS(ens_upload_options_set_traffic_limit(o, 0), ENS_OK, NULL);

    /* The client-side rate: 600 kB at 1 MB/s takes 0.6 s, less the first
     * chunk's credit (a twentieth of a second); only the lower bound is
     * the limiter's promise (a slow runner only adds time). */
    CHECK_STATUS(ens_upload_options_set_limit_rate(o, 1000000), ENS_OK, NULL);
    progress p;
    memset(&p, 0, sizeof p);
    long long t0 = now_ms();
    r = buffer_ok(c, "bw/rate.bin", data, size, o, &p);
    long long took = now_ms() - t0;
    if (took < 500) FAIL("600 kB at 1 MB/s took %lld ms", took);
    CHECK(p.last_done == size && p.not_monotonic == 0);
    ens_upload_result_free(r);
    ens_upload_options_free(o);
    ens_client_free(c);

    /* The same from the client's builder, for a stream. */
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                        env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_limit_rate(b, 1000000), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_limit_rate(NULL, 1), ENS_ERR_INVALID_ARGUMENT, NULL);
    c = build_ok(b);
    stream st;
    stream_init(&st, data, size);
    t0 = now_ms();
    r = stream_ok(c, "bw/client-rate.bin", &st, size, NULL, NULL);
    took = now_ms() - t0;
    if (took < 500) FAIL("600 kB at 1 MB/s (the client's limit) took %lld ms", took);
    ens_upload_result_free(r);
    CHECK_STATUS(ens_upload_options_set_limit_rate(NULL, 1), ENS_ERR_INVALID_ARGUMENT, NULL);

    requests += settled_requests() - before;
    free(data);
    ens_client_free(c);
}

int main(void) {
    test_buffer();
    check_requests_so_far(requests, "test_buffer");
    test_buffer_cancel_and_resume();
    check_requests_so_far(requests, "test_buffer_cancel_and_resume");
    test_stream();
    check_requests_so_far(requests, "test_stream");
    test_bandwidth();
    check_requests_so_far(requests, "test_bandwidth");
    report_requests((int)requests);
    report_done("test_buffer_stream");
    return 0;
}
