/* The control channel to the test harness (tests/c_api.rs, `Control`): one
 * TCP connection per command to ENS_TEST_CONTROL (`127.0.0.1:PORT`), one
 * line out, one line back. Commands name an emulator (`main` is
 * ENS_TEST_ENDPOINT, `skewed` is ENS_TEST_SKEWED_ENDPOINT), e.g.
 *   ctl_num("main inject oss-bad-crc 1")   -> 0 ("ok")
 *   ctl_num("main requests")               -> requests seen so far
 * Also: time, files and CRC-64 helpers for the upload tests. */
#ifndef ENS_TEST_CONTROL_H
#define ENS_TEST_CONTROL_H

#include "test_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Sends one command and copies the answer line (without its newline) into
 * `out`. A failure to reach the harness, or an `error: ...` answer, fails
 * the test. */
static inline void vctl_line(char *out, size_t out_len, const char *fmt, va_list ap) {
    char cmd[512];
    int n = vsnprintf(cmd, sizeof cmd - 1, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof cmd - 1) FAIL("control command too long: %s", fmt);
    cmd[n] = '\n';
    cmd[n + 1] = '\0';

    const char *addr = env("ENS_TEST_CONTROL");
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) FAIL("ENS_TEST_CONTROL is not host:port: %s", addr);
    char host[64];
    size_t host_len = (size_t)(colon - addr);
    if (host_len >= sizeof host) FAIL("ENS_TEST_CONTROL host too long");
    memcpy(host, addr, host_len);
    host[host_len] = '\0';

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) FAIL("bad control host %s", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) FAIL("socket() failed");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL("cannot reach the control channel %s", addr);
    size_t len = strlen(cmd), sent = 0;
    while (sent < len) {
        ssize_t w = write(fd, cmd + sent, len - sent);
        if (w <= 0) FAIL("control write failed");
        sent += (size_t)w;
    }
    size_t got = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0) FAIL("the control channel closed before answering %s", cmd);
        if (c == '\n') break;
        if (got + 1 < out_len) out[got++] = c;
    }
    out[got] = '\0';
    close(fd);
    if (strncmp(out, "error", 5) == 0) FAIL("control: %s", out);
}

static inline void ctl_line(char *out, size_t out_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vctl_line(out, out_len, fmt, ap);
    va_end(ap);
}

/* A command answering a number ("ok" counts as 0). */
static inline long long ctl_num(const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vctl_line(line, sizeof line, fmt, ap);
    va_end(ap);
    if (strcmp(line, "ok") == 0) return 0;
    char *end = NULL;
    long long v = strtoll(line, &end, 10);
    if (end == line || *end != '\0') FAIL("control answered \"%s\", not a number", line);
    return v;
}

static inline long long main_requests(void) { return ctl_num("main requests"); }

/* Milliseconds on a monotonic clock. */
static inline long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The main emulator's request count once it stops changing: a request
 * whose body the client stopped sending (a cancel) is recorded only when
 * the emulator notices the connection closed, a moment after the call
 * returned. Waits until the count held for 300 ms (at most 10 s). */
static inline long long settled_requests(void) {
    long long last = main_requests();
    long long stable_since = now_ms(), deadline = now_ms() + 10000;
    while (now_ms() < deadline && now_ms() - stable_since < 300) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long n = main_requests();
        if (n != last) {
            last = n;
            stable_since = now_ms();
        }
    }
    return last;
}

/* The main emulator saw exactly `want` requests so far. */
static inline void check_requests_so_far(long long want, const char *after) {
    long long seen = main_requests();
    checks_run++;
    if (seen != want) FAIL("after %s: the emulator saw %lld requests, the program counted %lld", after, seen, want);
}

static inline void inject(const char *spec, int times) {
    char line[64];
    ctl_line(line, sizeof line, "main inject %s %d", spec, times);
    CHECK_STREQ(line, "ok");
}

static inline void clear_faults(void) {
    char line[64];
    ctl_line(line, sizeof line, "main clear-faults");
    CHECK_STREQ(line, "ok");
}

/* A time bound scaled for slow runners (valgrind, sanitizers). */
static inline long long bound_ms(long long ms) {
    const char *s = getenv("ENS_TEST_SLOWDOWN");
    long long f = s ? atoll(s) : 1;
    return ms * (f > 0 ? f : 1);
}

/* CRC-64/ECMA-182 as OSS computes it (reflected, all-ones init and xorout,
 * a.k.a. CRC-64/XZ), bit by bit: an independent check of the library's. */
static inline uint64_t crc64(const unsigned char *p, size_t n) {
    uint64_t crc = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xC96C5795D7870F42ULL & (0 - (crc & 1)));
    }
    return ~crc;
}

/* Deterministic, non-repeating bytes (so a misplaced part shows). */
static inline unsigned char *make_bytes(size_t n, uint32_t seed) {
    unsigned char *p = (unsigned char *)malloc(n ? n : 1);
    CHECK(p != NULL);
    uint32_t x = seed * 2654435761u | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)(x >> 11);
    }
    return p;
}

/* Writes `n` bytes of `make_bytes(n, seed)` to $TMPDIR/<name>, puts that
 * path in `path` and the bytes' CRC-64 in *crc (when not NULL). */
static inline void write_test_file(char *path, size_t path_len, const char *name, size_t n, uint32_t seed,
                            uint64_t *crc) {
    snprintf(path, path_len, "%s/%s", env("TMPDIR"), name);
    unsigned char *data = make_bytes(n, seed);
    FILE *f = fopen(path, "wb");
    if (f == NULL) FAIL("cannot write %s", path);
    if (n > 0 && fwrite(data, 1, n, f) != n) FAIL("short write to %s", path);
    fclose(f);
    if (crc) *crc = crc64(data, n);
    free(data);
}

static inline int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    fclose(f);
    return 1;
}

#endif
