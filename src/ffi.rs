//! The C API (`include/ens_upload.h`). Work in progress.
