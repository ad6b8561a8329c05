/* The fault matrix through the C API: every fault is injected into the
 * emulator through the harness's control channel right before the call, and
 * the call must recover after retries (with exactly the requests the
 * emulator saw) or fail with one specific status and its fields, within a
 * bounded time. Also: a server clock three hours ahead, learned and kept
 * (ens_client_clock_offset), and upload faults on the OSS side. */
#include "test_control.h" /* first: it includes test_util.h */

#include <stdint.h>

static long long requests = 0;         /* what the main emulator should have seen */
static long long skewed_requests = 0;  /* and the one running hours ahead */
static long long skewed_refusals = 0;  /* its InvalidTimeStamp.Expired answers */

/* A client for the emulator with quick backoff and a short read timeout. */
static ens_client *fault_client(const char *endpoint, uint32_t retries, uint64_t call_timeout_ms) {
    ens_client_builder *b =
        emu_builder(endpoint, env("ENS_TEST_ACCESS_KEY_ID"), env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, retries), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retry_backoff_ms(b, 20, 100), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_read_timeout_ms(b, 400), ENS_OK, NULL);
    if (call_timeout_ms) CHECK_STATUS(ens_client_builder_set_timeout_ms(b, call_timeout_ms), ENS_OK, NULL);
    return build_ok(b);
}

typedef struct {
    const char *name;
    const char *spec; /* the fault, as the emulator's --fault takes it */
    int times;
    uint32_t retries;
    uint64_t call_timeout_ms; /* 0: the default */
    ens_status status;        /* ENS_OK: recovered */
    int http;
    ens_transport_kind kind;
    const char *message_part;
    long long requests;   /* the emulator must have seen exactly this many (-1: = attempts) */
    long long min_ms;     /* not before (a wait the server asked for) */
    long long max_ms;     /* scaled by ENS_TEST_SLOWDOWN */
    long long hard_max_ms; /* never scaled: e.g. before a slow answer would come */
} fault_case;

static void run_case(const fault_case *k) {
    ens_client *c = fault_client(env("ENS_TEST_ENDPOINT"), k->retries, k->call_timeout_ms);
    long long before = main_requests();
    inject(k->spec, k->times);
    ens_prepare_upload_result *r = (ens_prepare_upload_result *)(uintptr_t)1;
    ens_error *e = NULL;
    long long started = now_ms();
    ens_status s = ens_prepare_upload(c, "test", NULL, &r, &e);
    long long elapsed = now_ms() - started;
    long long seen = main_requests() - before;
    printf("  %-40s %-22s %5lld ms, %lld requests\n", k->name, ens_status_str(s), elapsed, seen);
    if (s != k->status) FAIL("%s: status %s, wanted %s: %s", k->name, ens_status_str(s), ens_status_str(k->status),
                             ens_error_message(e));
    if (elapsed < k->min_ms) FAIL("%s: only %lld ms", k->name, elapsed);
    if (elapsed > bound_ms(k->max_ms)) FAIL("%s: took %lld ms", k->name, elapsed);
    if (k->hard_max_ms && elapsed > k->hard_max_ms) FAIL("%s: took %lld ms", k->name, elapsed);
    checks_run += 3;
    if (k->status == ENS_OK) {
        CHECK(e == NULL);
        CHECK(strncmp(ens_prepare_upload_result_bucket_name(r), "test-", 5) == 0);
        if (seen != k->requests) FAIL("%s: the emulator saw %lld requests, wanted %lld", k->name, seen, k->requests);
        checks_run++;
        ens_prepare_upload_result_free(r);
    } else {
        CHECK(r == NULL);
        CHECK(ens_error_status(e) == k->status);
        CHECK(ens_error_http_status(e) == k->http);
        if (ens_error_transport_kind(e) != k->kind)
            FAIL("%s: transport kind %d, wanted %d: %s", k->name, (int)ens_error_transport_kind(e), (int)k->kind,
                 ens_error_message(e));
        checks_run++;
        if (k->message_part) CHECK_CONTAINS(ens_error_message(e), k->message_part);
        long long want = k->requests >= 0 ? k->requests : (long long)ens_error_attempts(e);
        if (k->requests < 0) CHECK(ens_error_attempts(e) >= 2);
        /* What the error says and what the emulator saw agree. When the call
         * timeout cut the calls short, the last attempt may have run out of
         * time before the emulator read its request (slow under valgrind). */
        long long seen_min = k->requests < 0 ? want - 1 : want;
        if ((long long)ens_error_attempts(e) != want || seen < seen_min || seen > want)
            FAIL("%s: %u attempts in the error, %lld requests seen, wanted %lld", k->name,
                 ens_error_attempts(e), seen, want);
        checks_run++;
        if (k->status != ENS_ERR_API) {
            CHECK_STREQ(ens_error_code(e), "");
            CHECK_STREQ(ens_error_request_id(e), "");
        }
        ens_error_free(e);
    }
    requests += seen;
    clear_faults();
    ens_client_free(c);
}

static void test_rpc_faults(void) {
    const fault_case cases[] = {
        {"connection reset twice", "reset", 2, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL, 3, 0, 3000, 0},
        {"connection reset every time", "reset", 10, 3, 0, ENS_ERR_TRANSPORT, 0, ENS_TRANSPORT_CONNECT,
         "Peer disconnected", 4, 0,
         3000, 0},
        {"slow answer past the read timeout", "slow=30000", 1, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL, 2,
         400, 1900, 20000},
        {"slow answer every time", "slow=30000", 10, 1, 0, ENS_ERR_TRANSPORT, 0, ENS_TRANSPORT_TIMEOUT,
         "timeout", 2, 800, 2500, 20000},
        {"slow every time, 1 s call timeout", "slow=30000", 20, 10, 1000, ENS_ERR_TRANSPORT, 0,
         ENS_TRANSPORT_TIMEOUT, "timeout", -1, 900, 1600, 20000},
        {"200 with a non-JSON body", "non-json", 1, 3, 0, ENS_ERR_DECODE, 200, ENS_TRANSPORT_NONE,
         "not JSON", 1, 0, 3000, 0},
        {"502 HTML page twice", "bad-gateway", 2, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL, 3, 0, 3000, 0},
        {"502 HTML page every time", "bad-gateway", 10, 3, 0, ENS_ERR_DECODE, 502, ENS_TRANSPORT_NONE,
         "Bad Gateway", 4, 0, 3000, 0},
        {"500 InternalError twice", "internal-error", 2, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL, 3, 0, 3000,
         0},
        {"400 Throttling, retry after 300 ms", "throttling=300", 1, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL,
         2, 300, 3000, 0},
        {"truncated body", "truncated", 1, 3, 0, ENS_OK, 0, ENS_TRANSPORT_NONE, NULL, 2, 0, 3000, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);

    /* 500 every time: the API error with its fields, after every attempt. */
    const fault_case api = {"500 InternalError every time", "internal-error", 10, 3, 0, ENS_ERR_API, 500,
                            ENS_TRANSPORT_NONE, "after 4 attempts", 4, 0, 3000, 0};
    run_case(&api);
}

/* A server clock hours ahead: the first call is refused for its timestamp,
 * the offset is learned from the answer's Date, the call is retried once
 * (even with retries off) and the offset is kept for later calls. */
static void test_clock_skew(void) {
    const char *skewed = env("ENS_TEST_SKEWED_ENDPOINT");
    long long skew = atoll(env("ENS_TEST_SKEW_SECS"));
    ens_client *c = fault_client(skewed, 0, 0);
    CHECK(ens_client_clock_offset(c) == 0);
    ens_prepare_upload_result *r = NULL;
    ens_error *e = NULL;
    long long started = now_ms();
    CHECK_STATUS(ens_prepare_upload(c, "test", NULL, &r, &e), ENS_OK, e);
    CHECK(now_ms() - started < bound_ms(3000));
    ens_prepare_upload_result_free(r);
    skewed_requests += 2;
    skewed_refusals += 1;
    CHECK(ctl_num("skewed requests") == skewed_requests);
    long long offset = ens_client_clock_offset(c);
    printf("  clock offset learned: %lld s (server %lld s ahead)\n", offset, skew);
    CHECK(offset >= skew - 2 && offset <= skew + 2);

    /* Kept: the next call goes through at once. */
    CHECK_STATUS(ens_prepare_upload(c, "test", NULL, &r, &e), ENS_OK, e);
    ens_prepare_upload_result_free(r);
    skewed_requests += 1;
    CHECK(ctl_num("skewed requests") == skewed_requests);

    /* And the OSS side signs its Date with it too. */
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "skew.bin", 4000, 30, &crc);
    ens_upload_result *u = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "c/skew.bin", path, NULL, NULL, NULL, &u, &e), ENS_OK, e);
    CHECK(ens_upload_result_crc64(u) == crc);
    ens_upload_result_free(u);
    skewed_requests += 2;
    CHECK(ctl_num("skewed requests") == skewed_requests);
    ens_client_free(c);

    /* A fresh client's error shows both attempts: refused, then corrected. */
    c = fault_client(skewed, 0, 0);
    r = (ens_prepare_upload_result *)(uintptr_t)1;
    CHECK_STATUS(ens_prepare_upload(c, "nosuchbucket", NULL, &r, &e), ENS_ERR_API, e);
    CHECK(r == NULL);
    CHECK_STREQ(ens_error_code(e), "NoSuchBucket");
    CHECK(ens_error_http_status(e) == 404);
    CHECK(ens_error_attempts(e) == 2);
    ens_error_free(e);
    skewed_requests += 2;
    skewed_refusals += 1;
    CHECK(ctl_num("skewed requests") == skewed_requests);
    offset = ens_client_clock_offset(c);
    CHECK(offset >= skew - 2 && offset <= skew + 2);
    ens_client_free(c);
}

/* Upload faults: through ens_upload_file, on the RPC and the OSS side. */
static void test_upload_faults(void) {
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "faults.bin", 5000, 31, &crc);
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_stall_timeout_ms(o, 300), ENS_OK, NULL);
    ens_client *c = fault_client(env("ENS_TEST_ENDPOINT"), 3, 0);
    ens_upload_result *u = NULL;
    ens_error *e = NULL;

    static const struct {
        const char *key;
        const char *spec;
        int times;
        long long requests; /* PrepareUpload and the PutObject attempts */
        long long min_ms;
    } recovered[] = {
        {"c/f-reset.bin", "reset", 1, 3, 0},           /* PrepareUpload's connection reset */
        {"c/f-500.bin", "oss-internal-error", 2, 4, 0}, /* PutObject answered 500 twice */
        {"c/f-cut.bin", "oss-reset=2000", 1, 3, 0},     /* PutObject cut after 2000 bytes */
        {"c/f-stall.bin", "oss-slow=30000", 1, 3, 300}, /* an answer stalled past 300 ms */
    };
    for (size_t i = 0; i < sizeof recovered / sizeof recovered[0]; i++) {
        long long before = main_requests();
        inject(recovered[i].spec, recovered[i].times);
        long long started = now_ms();
        CHECK_STATUS(ens_upload_file(c, "test", NULL, recovered[i].key, path, o, NULL, NULL, &u, &e), ENS_OK, e);
        long long elapsed = now_ms() - started;
        long long seen = main_requests() - before;
        printf("  upload, %-34s ENS_OK %12lld ms, %lld requests\n", recovered[i].spec, elapsed, seen);
        CHECK(elapsed >= recovered[i].min_ms);
        CHECK(elapsed < bound_ms(3000));
        CHECK(seen == recovered[i].requests);
        CHECK(ens_upload_result_crc64(u) == crc);
        CHECK(ens_upload_result_size(u) == 5000);
        ens_upload_result_free(u);
        requests += seen;
        CHECK(ctl_num("main pending") == 0);
    }

    /* A stall with retries off: a timeout, bounded by the stall timeout. */
    ens_client *once = fault_client(env("ENS_TEST_ENDPOINT"), 0, 0);
    long long before = main_requests();
    inject("oss-slow=30000", 1);
    long long started = now_ms();
    u = (ens_upload_result *)(uintptr_t)1;
    CHECK_STATUS(ens_upload_file(once, "test", NULL, "c/f-stall-once.bin", path, o, NULL, NULL, &u, &e),
                 ENS_ERR_TRANSPORT, e);
    long long elapsed = now_ms() - started;
    printf("  upload, %-34s %s %lld ms\n", "oss-slow=30000, no retries", ens_status_str(ens_error_status(e)),
           elapsed);
    CHECK(u == NULL);
    CHECK(ens_error_transport_kind(e) == ENS_TRANSPORT_TIMEOUT);
    CHECK(ens_error_attempts(e) == 1);
    CHECK(elapsed >= 300 && elapsed < bound_ms(2000) && elapsed < 20000);
    ens_error_free(e);
    requests += main_requests() - before;
    CHECK(main_requests() - before == 2);
    ens_client_free(once);

    /* OSS answering 500 every time: its API error, after every attempt. */
    before = main_requests();
    inject("oss-internal-error", 10);
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "c/f-500-always.bin", path, o, NULL, NULL, &u, &e),
                 ENS_ERR_API, e);
    CHECK(ens_error_http_status(e) == 500);
    CHECK_STREQ(ens_error_code(e), "InternalError");
    CHECK(strlen(ens_error_request_id(e)) > 0);
    CHECK(ens_error_attempts(e) == 4);
    ens_error_free(e);
    CHECK(main_requests() - before == 5);
    requests += 5;
    clear_faults();
    ens_upload_options_free(o);
    ens_client_free(c);
}

int main(void) {
    test_rpc_faults();
    check_requests_so_far(requests, "test_rpc_faults");
    test_clock_skew();
    check_requests_so_far(requests, "test_clock_skew");
    test_upload_faults();
    check_requests_so_far(requests, "test_upload_faults");
    report_requests((int)requests);
    printf("SKEWED_REQUESTS=%lld\nSKEWED_REFUSALS=%lld\n", skewed_requests, skewed_refusals);
    report_done("test_faults");
    return 0;
}
