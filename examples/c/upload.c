/*
 * upload: asks Alibaba Cloud ENS where to upload, then uploads a file there,
 * with the ens-upload C API. Resumable: Ctrl-C cancels cleanly, and running
 * it again with the same checkpoint goes on where it stopped.
 *
 *   usage: upload BUCKET FILE KEY [CHECKPOINT]
 *
 * Environment: as prepare_upload (ENS_ENDPOINT, ALIBABA_CLOUD_ACCESS_KEY_ID,
 * ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN), and
 *   ENS_UPLOAD_PART_SIZE   part size in bytes (default 8 MiB; at least 102400);
 *                          files larger than one part go in parts.
 *
 * Prints progress on stderr and the stored object on stdout, exits 0; on
 * failure prints the error on stderr and exits 1 (3 when cancelled), 2 on a
 * usage error.
 *
 * Build: see Makefile or CMakeLists.txt beside this file.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_upload.h"

/* Set by Ctrl-C; the progress callback turns it into a cancel. */
static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* What the progress callback keeps between calls: here, the last tenth
 * printed. It gets this through user_data. */
struct progress_state {
    int last_tenth;
};

/* Runs on the thread that called ens_upload_file, never concurrently.
 * Returns non-zero to cancel. */
static int on_progress(uint64_t done, uint64_t total, void *user_data) {
    struct progress_state *p = (struct progress_state *)user_data;
    int tenth = total == 0 ? 10 : (int)(done * 10 / total);
    if (tenth != p->last_tenth) {
        p->last_tenth = tenth;
        fprintf(stderr, "upload: %3d%% (%" PRIu64 " of %" PRIu64 " bytes)\n", tenth * 10, done, total);
    }
    return interrupted ? 1 : 0;
}

static void print_error(const char *what, ens_status status, ens_error *err) {
    fprintf(stderr, "upload: %s failed: %s\n", what, ens_status_str(status));
    fprintf(stderr, "  message:    %s\n", ens_error_message(err));
    switch (ens_error_status(err)) {
    case ENS_ERR_API: /* ENS or OSS answered with an error */
        fprintf(stderr, "  http:       %u\n", (unsigned)ens_error_http_status(err));
        fprintf(stderr, "  code:       %s\n", ens_error_code(err));
        fprintf(stderr, "  request id: %s\n", ens_error_request_id(err));
        break;
    case ENS_ERR_CANCELLED:
        /* What the server stored: a resume with the checkpoint skips it. */
        fprintf(stderr, "  stored:     %" PRIu64 " of %" PRIu64 " bytes\n", ens_error_bytes_done(err),
                ens_error_bytes_total(err));
        break;
    case ENS_ERR_LOCAL_IO:
        fprintf(stderr, "  file:       %s (%s)\n", ens_error_path(err), ens_error_io_kind(err));
        break;
    default:
        break;
    }
    ens_error_free(err);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s BUCKET FILE KEY [CHECKPOINT]\n", argv[0]);
        return 2;
    }
    const char *bucket = argv[1], *file = argv[2], *key = argv[3];
    const char *checkpoint = argc == 5 ? argv[4] : NULL;

    /* The client, as in prepare_upload.c. */
    ens_client_builder *builder = ens_client_builder_new();
    if (builder == NULL) return 1;
    const char *endpoint = getenv("ENS_ENDPOINT");
    if (endpoint != NULL) ens_client_builder_set_endpoint(builder, endpoint);
    const char *id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
    const char *secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    if (id != NULL && secret != NULL)
        ens_client_builder_set_access_key(builder, id, secret, getenv("ALIBABA_CLOUD_SECURITY_TOKEN"));
    ens_client *client = NULL;
    ens_error *err = NULL;
    ens_status status = ens_client_builder_build(builder, &client, &err);
    if (status != ENS_OK) {
        print_error("configuration", status, err);
        return 1;
    }

    /* Options. Like the builder, a failed setter also fails the upload, so
     * checking ens_upload_file is enough. */
    ens_upload_options *options = ens_upload_options_new();
    const char *part_size = getenv("ENS_UPLOAD_PART_SIZE");
    if (part_size != NULL) {
        uint64_t bytes = strtoull(part_size, NULL, 10);
        ens_upload_options_set_part_size(options, bytes);
        ens_upload_options_set_multipart_threshold(options, bytes);
    }
    ens_upload_options_set_checkpoint(options, checkpoint); /* NULL: none */

    signal(SIGINT, on_sigint);
    struct progress_state progress = {-1};
    ens_upload_result *result = NULL;
    status = ens_upload_file(client, bucket, NULL, key, file, options, on_progress, &progress, &result, &err);
    ens_upload_options_free(options);
    if (status != ENS_OK) {
        int cancelled = status == ENS_ERR_CANCELLED;
        print_error("upload", status, err);
        if (cancelled && checkpoint != NULL) fprintf(stderr, "upload: run again with %s to resume\n", checkpoint);
        ens_client_free(client);
        return cancelled ? 3 : 1;
    }

    printf("bucket:        %s\n", ens_upload_result_bucket(result));
    printf("endpoint:      %s\n", ens_upload_result_endpoint(result));
    printf("key:           %s\n", ens_upload_result_key(result));
    printf("url:           %s\n", ens_upload_result_url(result));
    printf("size:          %" PRIu64 "\n", ens_upload_result_size(result));
    printf("crc64:         %016" PRIx64 "\n", ens_upload_result_crc64(result));
    printf("etag:          %s\n", ens_upload_result_etag(result));
    printf("parts:         %" PRIu32 " (%" PRIu32 " resumed)\n", ens_upload_result_parts(result),
           ens_upload_result_resumed_parts(result));
    printf("upload id:     %s\n", ens_upload_result_upload_id(result));
    printf("request ids:   %s (PrepareUpload), %s (OSS)\n", ens_upload_result_prepare_request_id(result),
           ens_upload_result_request_id(result));
    ens_upload_result_free(result);
    ens_client_free(client);
    return 0;
}
