//! Regenerates `include/ens_upload.h` when the `cbindgen` feature is on.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
