/* The log callback (ens_set_log_callback): messages arrive at their level
 * and only up to max_level, a bad max_level is refused, the library's own
 * debug lines (PrepareUpload attempts, errors returned) and its info line
 * (a learned clock offset) arrive, no message holds a secret or a token
 * (STS credentials, an STS upload on several threads), several C threads
 * and an upload's part threads call it at once, calling it again from
 * inside the callback is refused, and NULL turns it off: after that the
 * old callback is never called, so its user_data may be freed. */
#include "test_control.h" /* first: it includes test_util.h */

#include <pthread.h>
#include <stdint.h>

#define MAX_RECORDS 2048
#define MAX_SECRETS 4

static long long requests = 0; /* what the main emulator should have seen */

/* What the callback was given, kept for the checks. */
typedef struct {
    int level;
    pthread_t thread;
    char target[96];
    char message[400];
} record;

/* The callback's user_data. Every field is guarded by `lock`: the callback
 * runs on many threads at once. */
typedef struct {
    pthread_mutex_t lock;
    int max_level;      /* nothing above may arrive */
    int closed;         /* set once the callback was replaced: nothing may arrive */
    long long calls;    /* every call, kept or not */
    char bad[512];      /* the first misbehaviour seen, reported by main */
    const char *secrets[MAX_SECRETS];
    int n_records;
    record records[MAX_RECORDS];
    int reenter;                  /* call the library from inside, once */
    ens_status reentry_status;    /* what ens_set_log_callback said from inside */
    char reentry_message[512];
    ens_status reentry_call_status;
} sink_t;

static sink_t sink = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void note_bad(sink_t *s, const char *what, const char *target, const char *message) {
    if (s->bad[0] == '\0')
        snprintf(s->bad, sizeof s->bad, "%s (target \"%s\", message \"%s\")", what, target ? target : "(null)",
                 message ? message : "(null)");
}

static void on_log(void *user_data, ens_log_level level, const char *target, const char *message) {
    sink_t *s = (sink_t *)user_data;
    pthread_mutex_lock(&s->lock);
    s->calls++;
    if (s->closed) note_bad(s, "called after another callback was set", target, message);
    if ((int)level < (int)ENS_LOG_ERROR || (int)level > (int)ENS_LOG_TRACE)
        note_bad(s, "a level out of range", target, message);
    if ((int)level > s->max_level) note_bad(s, "a level above max_level", target, message);
    if (target == NULL || message == NULL) {
        note_bad(s, "a NULL string", target, message);
    } else {
        if (strncmp(target, "ens_upload", 10) != 0) note_bad(s, "a target outside the library", target, message);
        for (int i = 0; i < MAX_SECRETS && s->secrets[i]; i++)
            if (strstr(message, s->secrets[i]) || strstr(target, s->secrets[i]))
                note_bad(s, "a secret or token in a message", target, message);
        if (s->n_records < MAX_RECORDS) {
            record *r = &s->records[s->n_records];
            r->level = (int)level;
            r->thread = pthread_self();
            snprintf(r->target, sizeof r->target, "%s", target);
            snprintf(r->message, sizeof r->message, "%s", message);
        }
        s->n_records++;
    }
    int reenter = s->reenter;
    s->reenter = 0;
    pthread_mutex_unlock(&s->lock);

    if (reenter) {
        /* Both are refused or dropped, and neither may deadlock. */
        ens_error *e = NULL;
        ens_status st = ens_set_log_callback(NULL, NULL, ENS_LOG_OFF, &e);
        ens_prepare_upload_result *r = NULL;
        ens_status call = ens_prepare_upload(NULL, "test", NULL, &r, NULL);
        pthread_mutex_lock(&s->lock);
        s->reentry_status = st;
        snprintf(s->reentry_message, sizeof s->reentry_message, "%s", ens_error_message(e));
        s->reentry_call_status = call;
        pthread_mutex_unlock(&s->lock);
        ens_error_free(e);
    }
}

/* Sets on_log with this max_level. The sink's own bound follows the
 * library's: raised before the call, lowered after it (when it returns,
 * no message of the old level is in flight). */
static void set_log(int max_level) {
    pthread_mutex_lock(&sink.lock);
    int raise = max_level > sink.max_level;
    if (raise) sink.max_level = max_level;
    sink.closed = 0;
    pthread_mutex_unlock(&sink.lock);
    ens_error *e = (ens_error *)1; /* must be set to NULL */
    CHECK_STATUS(ens_set_log_callback(on_log, &sink, max_level, &e), ENS_OK, e);
    CHECK(e == NULL);
    pthread_mutex_lock(&sink.lock);
    sink.max_level = max_level;
    pthread_mutex_unlock(&sink.lock);
}

static void clear_records(void) {
    pthread_mutex_lock(&sink.lock);
    sink.n_records = 0;
    pthread_mutex_unlock(&sink.lock);
}

/* Records holding `needle` at `level` (-1: any level). */
static int count_with(const char *needle, int level) {
    pthread_mutex_lock(&sink.lock);
    CHECK(sink.n_records <= MAX_RECORDS);
    int n = 0;
    for (int i = 0; i < sink.n_records; i++)
        if (strstr(sink.records[i].message, needle) && (level < 0 || sink.records[i].level == level)) n++;
    pthread_mutex_unlock(&sink.lock);
    return n;
}

/* Distinct threads among the records holding `needle`. */
static int threads_with(const char *needle) {
    pthread_t seen[64];
    int n = 0;
    pthread_mutex_lock(&sink.lock);
    for (int i = 0; i < sink.n_records && i < MAX_RECORDS; i++) {
        if (!strstr(sink.records[i].message, needle)) continue;
        int known = 0;
        for (int j = 0; j < n; j++) known |= pthread_equal(seen[j], sink.records[i].thread);
        if (!known && n < 64) seen[n++] = sink.records[i].thread;
    }
    pthread_mutex_unlock(&sink.lock);
    return n;
}

/* Whether a record holding `needle` came from a thread other than this one. */
static int from_other_thread(const char *needle) {
    int other = 0;
    pthread_mutex_lock(&sink.lock);
    for (int i = 0; i < sink.n_records && i < MAX_RECORDS; i++)
        if (strstr(sink.records[i].message, needle) && !pthread_equal(sink.records[i].thread, pthread_self()))
            other = 1;
    pthread_mutex_unlock(&sink.lock);
    return other;
}

static void check_no_misbehaviour(const char *after) {
    pthread_mutex_lock(&sink.lock);
    char bad[512];
    snprintf(bad, sizeof bad, "%s", sink.bad);
    pthread_mutex_unlock(&sink.lock);
    checks_run++;
    if (bad[0] != '\0') FAIL("after %s, the log callback saw %s", after, bad);
}

static ens_client *sts_client(const char *endpoint) {
    return build_ok(emu_builder(endpoint, env("ENS_TEST_STS_ACCESS_KEY_ID"), env("ENS_TEST_STS_ACCESS_KEY_SECRET"),
                                env("ENS_TEST_SECURITY_TOKEN")));
}

/* One PrepareUpload that succeeds, one the server refuses, one refused
 * before sending. */
static void three_calls(const ens_client *c) {
    ens_prepare_upload_result *r = NULL;
    ens_error *e = NULL;
    CHECK_STATUS(ens_prepare_upload(c, "test", "10.9.8.7", &r, &e), ENS_OK, e);
    ens_prepare_upload_result_free(r);
    CHECK_STATUS(ens_prepare_upload(c, "nosuchbucket", NULL, &r, &e), ENS_ERR_API, e);
    ens_error_free(e);
    CHECK_STATUS(ens_prepare_upload(c, "test", "not-an-ip", &r, &e), ENS_ERR_INVALID_INPUT, e);
    ens_error_free(e);
    requests += 2;
}

static void test_bad_arguments(void) {
    ens_error *e = NULL;
    CHECK_STATUS(ens_set_log_callback(on_log, &sink, 6, &e), ENS_ERR_INVALID_ARGUMENT, e);
    CHECK_STREQ(ens_error_field(e), "max_level");
    CHECK_CONTAINS(ens_error_message(e), "ens_set_log_callback");
    CHECK_CONTAINS(ens_error_message(e), "ENS_LOG_TRACE");
    ens_error_free(e);
    CHECK_STATUS(ens_set_log_callback(on_log, &sink, -1, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    /* max_level does not matter when turning logging off. */
    e = (ens_error *)1;
    CHECK_STATUS(ens_set_log_callback(NULL, NULL, 42, &e), ENS_OK, e);
    CHECK(e == NULL);
    /* Nothing was set, so a failing call reaches no callback. */
    ens_prepare_upload_result *r = NULL;
    CHECK_STATUS(ens_prepare_upload(NULL, "test", NULL, &r, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK(sink.calls == 0);
}

static void test_levels(void) {
    set_log(ENS_LOG_DEBUG);
    const char *endpoint = env("ENS_TEST_ENDPOINT");
    ens_client *c = sts_client(endpoint);
    char built[256];
    snprintf(built, sizeof built, "client built for %s", endpoint);
    CHECK(count_with(built, ENS_LOG_DEBUG) == 1);

    ens_prepare_upload_result *r = NULL;
    ens_error *e = NULL;
    CHECK_STATUS(ens_prepare_upload(c, "test", NULL, &r, &e), ENS_OK, e);
    requests++;
    /* The core's line per attempt: action, attempt, status, request id. */
    CHECK(count_with("PrepareUpload attempt 1: HTTP 200", ENS_LOG_DEBUG) == 1);
    CHECK(count_with(ens_prepare_upload_result_request_id(r), ENS_LOG_DEBUG) == 1);
    ens_prepare_upload_result_free(r);

    clear_records();
    three_calls(c);
    CHECK(count_with("PrepareUpload attempt 1: HTTP 200", ENS_LOG_DEBUG) == 1);
    CHECK(count_with("PrepareUpload attempt 1: HTTP 404", ENS_LOG_DEBUG) == 1);
    /* The C layer's line per error returned, with its status name. */
    CHECK(count_with("ens_prepare_upload returned ENS_ERR_API: ", ENS_LOG_DEBUG) == 1);
    CHECK(count_with("NoSuchBucket", ENS_LOG_DEBUG) >= 1);
    CHECK(count_with("ens_prepare_upload returned ENS_ERR_INVALID_INPUT: ", ENS_LOG_DEBUG) == 1);
    CHECK(count_with("returned", ENS_LOG_DEBUG) == 2);
    /* A setter's failure is logged too, without the secret it was given. */
    ens_client_builder *b = ens_client_builder_new();
    CHECK_STATUS(ens_client_builder_set_access_key(b, NULL, env("ENS_TEST_STS_ACCESS_KEY_SECRET"),
                                                   env("ENS_TEST_SECURITY_TOKEN")),
                 ENS_ERR_INVALID_ARGUMENT, NULL);
    ens_client_builder_free(b);
    CHECK(count_with("ens_client_builder_set_access_key returned ENS_ERR_INVALID_ARGUMENT", ENS_LOG_DEBUG) == 1);
    check_no_misbehaviour("the debug calls");

    /* Info: no debug line comes through (on_log fails any above max_level). */
    set_log(ENS_LOG_INFO);
    clear_records();
    three_calls(c);
    CHECK(count_with("returned", -1) == 0);
    CHECK(count_with("attempt", -1) == 0);
    /* A server clock hours ahead: the offset learned is an info line. */
    ens_client *skewed = sts_client(env("ENS_TEST_SKEWED_ENDPOINT"));
    CHECK_STATUS(ens_prepare_upload(skewed, "test", NULL, &r, &e), ENS_OK, e);
    ens_prepare_upload_result_free(r);
    printf("SKEWED_REQUESTS=2\nSKEWED_REFUSALS=1\n");
    CHECK(count_with("learned the server clock offset", ENS_LOG_INFO) == 1);
    CHECK(count_with("", ENS_LOG_DEBUG) == 0);
    ens_client_free(skewed);
    check_no_misbehaviour("the info calls");

    /* Off with a callback set: nothing at all. */
    set_log(ENS_LOG_OFF);
    long long calls = sink.calls;
    three_calls(c);
    CHECK(sink.calls == calls);
    ens_client_free(c);
    check_requests_so_far(requests, "test_levels");
}

/* An STS upload in parts on three threads, logged at trace: every request
 * carries the token, no message may. */
static void test_no_secret_in_an_upload(void) {
    set_log(ENS_LOG_TRACE);
    clear_records();
    ens_client *c = sts_client(env("ENS_TEST_ENDPOINT"));
    char path[512];
    uint64_t crc;
    write_test_file(path, sizeof path, "log-upload.bin", 250000, 7, &crc);
    ens_upload_options *o = ens_upload_options_new();
    CHECK_STATUS(ens_upload_options_set_part_size(o, 100 * 1024), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_multipart_threshold(o, 100 * 1024), ENS_OK, NULL);
    CHECK_STATUS(ens_upload_options_set_threads(o, 3), ENS_OK, NULL);
    ens_upload_result *u = NULL;
    ens_error *e = NULL;
    CHECK_STATUS(ens_upload_file(c, "test", NULL, "log/upload.bin", path, o, NULL, NULL, &u, &e), ENS_OK, e);
    requests += 6; /* PrepareUpload, Initiate, 3 parts, Complete */
    CHECK(ens_upload_result_parts(u) == 3);
    CHECK(ens_upload_result_crc64(u) == crc);
    CHECK(count_with("InitiateMultipartUpload attempt 1: HTTP 200", ENS_LOG_DEBUG) == 1);
    CHECK(count_with("UploadPart attempt 1: HTTP 200", ENS_LOG_DEBUG) == 3);
    CHECK(count_with("CompleteMultipartUpload attempt 1: HTTP 200", ENS_LOG_DEBUG) == 1);
    CHECK(count_with(ens_upload_result_request_id(u), ENS_LOG_DEBUG) == 1);
    /* The parts went on the upload's own threads, and were logged there. */
    CHECK(from_other_thread("UploadPart attempt"));
    ens_upload_result_free(u);
    ens_upload_options_free(o);
    ens_client_free(c);
    check_no_misbehaviour("the STS upload");
    check_requests_so_far(requests, "test_no_secret_in_an_upload");
}

#define THREADS 8
#define ROUNDS 6

struct job {
    const ens_client *client;
    int index;
    int failed; /* the round that went wrong, plus one */
};

static void *worker(void *arg) {
    struct job *job = (struct job *)arg;
    char ip[32];
    for (int round = 0; round < ROUNDS; round++) {
        ens_prepare_upload_result *r = NULL;
        ens_status want = round % 2 == 0 ? ENS_OK : ENS_ERR_INVALID_INPUT;
        snprintf(ip, sizeof ip, "10.1.%d.%d", job->index, round + 1);
        if (ens_prepare_upload(job->client, "test", round % 2 == 0 ? ip : "not-an-ip", &r, NULL) != want) {
            job->failed = round + 1;
            return NULL;
        }
        ens_prepare_upload_result_free(r);
    }
    return NULL;
}

/* Eight threads share a client; each logs its own lines. */
static void test_threads(void) {
    set_log(ENS_LOG_DEBUG);
    clear_records();
    ens_client *c = emu_client();
    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i].client = c;
        jobs[i].index = i;
        jobs[i].failed = 0;
        CHECK(pthread_create(&threads[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        if (jobs[i].failed) FAIL("thread %d: round %d got another status", i, jobs[i].failed - 1);
    }
    requests += THREADS * ROUNDS / 2;
    CHECK(count_with("PrepareUpload attempt 1: HTTP 200", ENS_LOG_DEBUG) == THREADS * ROUNDS / 2);
    CHECK(count_with("ens_prepare_upload returned ENS_ERR_INVALID_INPUT", ENS_LOG_DEBUG) == THREADS * ROUNDS / 2);
    CHECK(threads_with("ens_prepare_upload returned ENS_ERR_INVALID_INPUT") == THREADS);
    ens_client_free(c);
    check_no_misbehaviour("the threads");
    check_requests_so_far(requests, "test_threads");
}

/* From inside the callback: ens_set_log_callback is refused, and a failing
 * call's own line is dropped; the callback stays set. */
static void test_reentry(void) {
    set_log(ENS_LOG_DEBUG);
    clear_records();
    pthread_mutex_lock(&sink.lock);
    sink.reenter = 1;
    pthread_mutex_unlock(&sink.lock);
    ens_prepare_upload_result *r = NULL;
    CHECK_STATUS(ens_prepare_upload(NULL, "test", NULL, &r, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(sink.reentry_status, ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK_CONTAINS(sink.reentry_message, "inside the log callback");
    CHECK_STATUS(sink.reentry_call_status, ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK(count_with("ens_prepare_upload returned ENS_ERR_INVALID_ARGUMENT", ENS_LOG_DEBUG) == 1);
    CHECK(count_with("ens_set_log_callback", -1) == 0);
    CHECK_STATUS(ens_prepare_upload(NULL, "test", NULL, &r, NULL), ENS_ERR_INVALID_ARGUMENT, NULL);
    CHECK(count_with("ens_prepare_upload returned ENS_ERR_INVALID_ARGUMENT", ENS_LOG_DEBUG) == 2);
    check_no_misbehaviour("the reentry");
}

/* A second callback whose user_data lives on the heap. */
typedef struct {
    pthread_mutex_t lock;
    long long calls;
} counter;

static void on_count(void *user_data, ens_log_level level, const char *target, const char *message) {
    (void)level;
    (void)target;
    (void)message;
    counter *c = (counter *)user_data;
    pthread_mutex_lock(&c->lock);
    c->calls++;
    pthread_mutex_unlock(&c->lock);
}

/* Replacing the callback stops the old one; NULL stops every one, and the
 * user_data may then be freed (valgrind and ASan see any later use). */
static void test_replace_and_off(void) {
    counter *heap = (counter *)malloc(sizeof *heap);
    CHECK(heap != NULL);
    pthread_mutex_init(&heap->lock, NULL);
    heap->calls = 0;
    ens_error *e = NULL;
    CHECK_STATUS(ens_set_log_callback(on_count, heap, ENS_LOG_TRACE, &e), ENS_OK, e);
    pthread_mutex_lock(&sink.lock);
    sink.closed = 1; /* on_log must not be called again */
    pthread_mutex_unlock(&sink.lock);
    ens_client *c = emu_client();
    three_calls(c);
    CHECK(heap->calls >= 4);

    CHECK_STATUS(ens_set_log_callback(NULL, NULL, ENS_LOG_TRACE, &e), ENS_OK, e);
    pthread_mutex_destroy(&heap->lock);
    free(heap);
    three_calls(c);
    ens_client_free(c);
    /* Off twice is fine. */
    CHECK_STATUS(ens_set_log_callback(NULL, NULL, ENS_LOG_OFF, NULL), ENS_OK, NULL);
    check_no_misbehaviour("turning it off");
    check_requests_so_far(requests, "test_replace_and_off");
}

int main(void) {
    sink.secrets[0] = env("ENS_TEST_ACCESS_KEY_SECRET");
    sink.secrets[1] = env("ENS_TEST_STS_ACCESS_KEY_SECRET");
    sink.secrets[2] = env("ENS_TEST_SECURITY_TOKEN");
    sink.secrets[3] = "CAIS%2BEmulatorToken"; /* the token as a URL carries it */
    CHECK(strncmp(sink.secrets[2], "CAIS+EmulatorToken", 18) == 0);

    test_bad_arguments();
    test_levels();
    test_no_secret_in_an_upload();
    test_threads();
    test_reentry();
    test_replace_and_off();
    printf("log callback calls=%lld\n", sink.calls);
    report_requests((int)requests);
    report_done("test_log");
    return 0;
}
