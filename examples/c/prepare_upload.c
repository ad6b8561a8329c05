/*
 * prepare_upload: asks Alibaba Cloud ENS where to upload, with the ens-upload
 * C API.
 *
 *   usage: prepare_upload BUCKET [CLIENT_IP]
 *
 * Environment:
 *   ENS_ENDPOINT                      the API endpoint (default https://ens.aliyuncs.com;
 *                                     e.g. http://127.0.0.1:PORT for the emulator)
 *   ALIBABA_CLOUD_ACCESS_KEY_ID       the AccessKey pair; with
 *   ALIBABA_CLOUD_ACCESS_KEY_SECRET   ALIBABA_CLOUD_SECURITY_TOKEN too for STS.
 *   ALIBABA_CLOUD_SECURITY_TOKEN      Unset: the default chain looks in the
 *                                     credentials file and the aliyun CLI config.
 *
 * Prints the bucket, endpoint and request id on success and exits 0; prints
 * the error on stderr and exits 1 on failure, 2 on a usage error.
 *
 * Build: see Makefile or CMakeLists.txt beside this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_upload.h"

/* Prints an error with everything a support ticket needs, then frees it. */
static void print_error(const char *what, ens_status status, ens_error *err) {
    fprintf(stderr, "prepare_upload: %s failed: %s\n", what, ens_status_str(status));
    fprintf(stderr, "  message:    %s\n", ens_error_message(err));
    if (ens_error_status(err) == ENS_ERR_API) {
        /* The server answered: quote the code and request id to support. */
        fprintf(stderr, "  http:       %u\n", (unsigned)ens_error_http_status(err));
        fprintf(stderr, "  code:       %s\n", ens_error_code(err));
        fprintf(stderr, "  request id: %s\n", ens_error_request_id(err));
    }
    ens_error_free(err); /* NULL is fine too */
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s BUCKET [CLIENT_IP]\n", argv[0]);
        return 2;
    }
    const char *bucket = argv[1];
    const char *client_ip = argc == 3 ? argv[2] : NULL; /* NULL: leave it out */

    /* A header from one version with a library from another is a build
     * mistake worth catching at start-up. */
    if (strcmp(ens_version(), ENS_UPLOAD_VERSION_STRING) != 0) {
        fprintf(stderr, "prepare_upload: header %s but library %s\n", ENS_UPLOAD_VERSION_STRING,
                ens_version());
        return 1;
    }

    /* 1. Configure. Setters copy their strings; a failed setter is also
     *    reported by ens_client_builder_build, so checking build is enough. */
    ens_client_builder *builder = ens_client_builder_new();
    if (builder == NULL) return 1;
    const char *endpoint = getenv("ENS_ENDPOINT");
    if (endpoint != NULL) ens_client_builder_set_endpoint(builder, endpoint);
    const char *id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
    const char *secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    if (id != NULL && secret != NULL) {
        /* Keys kept on the device go here; the token may be NULL (no STS). */
        ens_client_builder_set_access_key(builder, id, secret, getenv("ALIBABA_CLOUD_SECURITY_TOKEN"));
    }
    ens_client_builder_set_timeout_ms(builder, 15000); /* whole call, retries included */

    /* 2. Build: consumes the builder, whatever the result. */
    ens_client *client = NULL;
    ens_error *err = NULL;
    ens_status status = ens_client_builder_build(builder, &client, &err);
    if (status != ENS_OK) {
        print_error("configuration", status, err);
        return 1;
    }

    /* 3. Call. One client can serve many threads; keep it for the program's life. */
    ens_prepare_upload_result *result = NULL;
    status = ens_prepare_upload(client, bucket, client_ip, &result, &err);
    if (status != ENS_OK) {
        print_error("PrepareUpload", status, err);
        ens_client_free(client);
        return 1;
    }

    /* 4. Use the answer: these strings live until the result is freed. */
    printf("bucket:     %s\n", ens_prepare_upload_result_bucket_name(result));
    printf("endpoint:   %s\n", ens_prepare_upload_result_endpoint(result));
    printf("request id: %s\n", ens_prepare_upload_result_request_id(result));

    /* 5. Free everything. */
    ens_prepare_upload_result_free(result);
    ens_client_free(client);
    return 0;
}
