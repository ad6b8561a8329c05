/* Eight threads share one ens_client: each makes successful calls, calls
 * that fail at the server, and calls refused before sending, and checks
 * every answer. Errors and results are per call, so no thread can see
 * another's. */
#include "test_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <pthread.h>
#include <stdint.h>

#define THREADS 8
#define ROUNDS 12

struct job {
    const ens_client *client;
    int index;
    int ok, api_errors, input_errors; /* counted by the thread */
    char failure[512];                /* empty when every check passed */
};

#define T_CHECK(cond)                                                                 \
    do {                                                                              \
        if (!(cond)) {                                                                \
            snprintf(job->failure, sizeof job->failure, "thread %d, round %d: %s",    \
                     job->index, round, #cond);                                       \
            return NULL;                                                              \
        }                                                                             \
    } while (0)

static void *worker(void *arg) {
    struct job *job = arg;
    char ip[32];
    for (int round = 0; round < ROUNDS; round++) {
        ens_prepare_upload_result *r = NULL;
        ens_error *e = NULL;
        snprintf(ip, sizeof ip, "10.0.%d.%d", job->index, round + 1);
        switch (round % 3) {
        case 0: /* success, with this thread's own client IP */
            T_CHECK(ens_prepare_upload(job->client, "test", ip, &r, &e) == ENS_OK);
            T_CHECK(e == NULL && r != NULL);
            T_CHECK(strncmp(ens_prepare_upload_result_bucket_name(r), "test-", 5) == 0);
            T_CHECK(strlen(ens_prepare_upload_result_request_id(r)) == 36);
            ens_prepare_upload_result_free(r);
            job->ok++;
            break;
        case 1: /* the server says NoSuchBucket */
            T_CHECK(ens_prepare_upload(job->client, "nosuchbucket", ip, &r, &e) == ENS_ERR_API);
            T_CHECK(r == NULL && e != NULL);
            T_CHECK(ens_error_http_status(e) == 404);
            T_CHECK(strcmp(ens_error_code(e), "NoSuchBucket") == 0);
            T_CHECK(strlen(ens_error_request_id(e)) == 36);
            ens_error_free(e);
            job->api_errors++;
            break;
        default: /* refused before sending */
            T_CHECK(ens_prepare_upload(job->client, "test", "not-an-ip", &r, &e) == ENS_ERR_INVALID_INPUT);
            T_CHECK(r == NULL && e != NULL);
            T_CHECK(strcmp(ens_error_field(e), "ClientIp") == 0);
            ens_error_free(e);
            job->input_errors++;
            break;
        }
    }
    return NULL;
}

int main(void) {
    ens_client_builder *b = emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                        env("ENS_TEST_ACCESS_KEY_SECRET"), NULL);
    /* Fewer idle connections than threads: the pool is contended too. */
    CHECK_STATUS(ens_client_builder_set_max_idle_connections(b, 4), ENS_OK, NULL);
    ens_client *client = build_ok(b);

    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].client = client;
        jobs[i].index = i;
        CHECK(pthread_create(&threads[i], NULL, worker, &jobs[i]) == 0);
    }
    int ok = 0, api = 0, input = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        if (jobs[i].failure[0] != '\0') FAIL("%s", jobs[i].failure);
        ok += jobs[i].ok;
        api += jobs[i].api_errors;
        input += jobs[i].input_errors;
    }
    CHECK(ok == THREADS * ROUNDS / 3);
    CHECK(api == THREADS * ROUNDS / 3);
    CHECK(input == THREADS * ROUNDS / 3);
    ens_client_free(client);
    printf("threads=%d calls=%d\n", THREADS, THREADS * ROUNDS);
    report_requests(ok + api);
    report_done("test_threads");
    return 0;
}
