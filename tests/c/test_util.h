/* Small helpers shared by the C tests. tests/c_api.rs compiles each test
 * program against include/ens_upload.h and libens_upload.a and runs it with
 * ENS_TEST_* variables pointing at the emulator and at misbehaving local
 * servers. A failed CHECK prints where and exits 1. */
#ifndef ENS_TEST_UTIL_H
#define ENS_TEST_UTIL_H

/* setenv, unsetenv, mkdir under -std=c11. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_upload.h"

static int checks_run = 0;

#define FAIL(...)                                                        \
    do {                                                                 \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                  \
        fprintf(stderr, __VA_ARGS__);                                    \
        fputc('\n', stderr);                                             \
        exit(1);                                                         \
    } while (0)

#define CHECK(cond)                                                      \
    do {                                                                 \
        checks_run++;                                                    \
        if (!(cond)) FAIL("CHECK failed: %s", #cond);                    \
    } while (0)

/* Checks a status, printing the error (if any) when it is not the one wanted. */
#define CHECK_STATUS(got, want, err)                                     \
    do {                                                                 \
        ens_status got_ = (got);                                         \
        checks_run++;                                                    \
        if (got_ != (want))                                              \
            FAIL("status %s, wanted %s; error: %s", ens_status_str(got_), \
                 ens_status_str(want), ens_error_message(err));          \
    } while (0)

#define CHECK_STREQ(got, want)                                           \
    do {                                                                 \
        const char *g_ = (got), *w_ = (want);                            \
        checks_run++;                                                    \
        if (g_ == NULL || strcmp(g_, w_) != 0)                           \
            FAIL("%s is \"%s\", wanted \"%s\"", #got, g_ ? g_ : "(null)", w_); \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                      \
    do {                                                                 \
        const char *h_ = (hay), *n_ = (needle);                          \
        checks_run++;                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                        \
            FAIL("%s is \"%s\", which lacks \"%s\"", #hay, h_ ? h_ : "(null)", n_); \
    } while (0)

#define CHECK_LACKS(hay, needle)                                         \
    do {                                                                 \
        const char *h_ = (hay), *n_ = (needle);                          \
        checks_run++;                                                    \
        if (h_ == NULL || strstr(h_, n_) != NULL)                        \
            FAIL("%s is \"%s\", which holds \"%s\"", #hay, h_ ? h_ : "(null)", n_); \
    } while (0)

/* A required ENS_TEST_* variable. */
static inline const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') FAIL("%s is not set (run this through cargo test)", name);
    return v;
}

/* A builder for the emulator with the given credentials (token may be NULL),
 * no proxy, and no retries so failures are quick and counted exactly. */
static inline ens_client_builder *emu_builder(const char *endpoint, const char *id, const char *secret,
                                       const char *token) {
    ens_client_builder *b = ens_client_builder_new();
    CHECK(b != NULL);
    CHECK_STATUS(ens_client_builder_set_endpoint(b, endpoint), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_access_key(b, id, secret, token), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_no_proxy(b), ENS_OK, NULL);
    CHECK_STATUS(ens_client_builder_set_retries(b, 0), ENS_OK, NULL);
    return b;
}

/* Builds a client from a builder, failing the test on error. */
static inline ens_client *build_ok(ens_client_builder *b) {
    ens_client *c = NULL;
    ens_error *err = NULL;
    CHECK_STATUS(ens_client_builder_build(b, &c, &err), ENS_OK, err);
    CHECK(c != NULL);
    CHECK(err == NULL);
    return c;
}

/* A client for the emulator with its default AccessKey. */
static inline ens_client *emu_client(void) {
    return build_ok(emu_builder(env("ENS_TEST_ENDPOINT"), env("ENS_TEST_ACCESS_KEY_ID"),
                                env("ENS_TEST_ACCESS_KEY_SECRET"), NULL));
}

/* Prints the line tests/c_api.rs reads to compare with what the emulator saw. */
static inline void report_requests(int n) { printf("EMULATOR_REQUESTS=%d\n", n); }

static inline void report_done(const char *name) {
    printf("%s: %d checks passed\n", name, checks_run);
    fflush(stdout);
}

#endif
