/* The header on its own: tests/c_api.rs compiles this file as C99 with
 * -pedantic -Werror and as C++ (-x c++), and links both against the static
 * library, which checks the include guard, the extern "C" guards (a C++
 * program would otherwise look for mangled names) and the version macros. */
#include "ens_upload.h"
#include "ens_upload.h" /* twice: the include guard must hold */

#include <stdio.h>
#include <string.h>

#if !defined(ENS_UPLOAD_VERSION_MAJOR) || !defined(ENS_UPLOAD_VERSION_MINOR) || \
    !defined(ENS_UPLOAD_VERSION_PATCH) || !defined(ENS_UPLOAD_VERSION_STRING)
#error "the version macros are missing"
#endif

/* Usable in #if, as version checks need. */
#if ENS_UPLOAD_VERSION_MAJOR < 0 || ENS_UPLOAD_VERSION_MINOR < 0 || ENS_UPLOAD_VERSION_PATCH < 0
#error "the version macros are not numbers"
#endif

int main(void) {
    int failures = 0;
    ens_param p = {"key", "value"};
    ens_error *err = NULL;
    ens_client *client = NULL;
    ens_client_builder *b = ens_client_builder_new();
    ens_status s;

    if (sizeof p != 2 * sizeof(const char *)) failures++;
    if (ENS_OK != 0 || ENS_ERR_INVALID_ARGUMENT != 10 || ENS_ERR_PANIC != 11) failures++;
    if (strcmp(ens_version(), ENS_UPLOAD_VERSION_STRING) != 0) failures++;

    /* One full round trip through the API without a server: a bad endpoint. */
    if (ens_client_builder_set_endpoint(b, "nope") != ENS_OK) failures++;
    if (ens_client_builder_set_access_key(b, p.key, p.value, NULL) != ENS_OK) failures++;
    s = ens_client_builder_build(b, &client, &err);
    if (s != ENS_ERR_CONFIG || client != NULL || ens_error_status(err) != ENS_ERR_CONFIG) failures++;
    if (strstr(ens_error_message(err), "endpoint") == NULL) failures++;
    ens_error_free(err);

#ifdef __cplusplus
    printf("test_header (C++): %s\n", failures ? "FAILED" : "ok");
#else
    printf("test_header (C): %s\n", failures ? "FAILED" : "ok");
#endif
    return failures ? 1 : 0;
}
