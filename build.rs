//! Regenerates `include/ens_upload.h` when the `cbindgen` feature is on.
//! Without the feature it does nothing, so Rust users never build cbindgen.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cbindgen")]
    header::generate();
}

#[cfg(feature = "cbindgen")]
mod header {
    use std::env;
    use std::path::PathBuf;

    /// Writes the header from `src/ffi/` and `cbindgen.toml`, adding the
    /// version macros from Cargo.toml. cbindgen starts at `src/ffi/mod.rs`
    /// and follows its `mod` lines, in their order. The file is rewritten
    /// only when its content changes, so a second run leaves it untouched.
    pub fn generate() {
        let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
        // A directory is watched whole: a change to any file in it reruns this.
        for input in ["src/ffi", "cbindgen.toml", "Cargo.toml"] {
            println!("cargo:rerun-if-changed={}", dir.join(input).display());
        }
        let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
            .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
        config.after_includes = Some(version_block());
        let bindings = cbindgen::Builder::new()
            .with_config(config)
            .with_src(dir.join("src").join("ffi").join("mod.rs"))
            .generate()
            .unwrap_or_else(|e| panic!("cbindgen could not generate include/ens_upload.h: {e}"));
        std::fs::create_dir_all(dir.join("include")).expect("create include/");
        bindings.write_to_file(dir.join("include").join("ens_upload.h"));
    }

    fn version_block() -> String {
        let var = |k: &str| env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
        format!(
            "\n/**\n * The version of this header, from Cargo.toml. Compare\n \
             * ENS_UPLOAD_VERSION_STRING with ens_version() to catch a header used\n \
             * with a library of another version.\n */\n\
             #define ENS_UPLOAD_VERSION_MAJOR {}\n\
             #define ENS_UPLOAD_VERSION_MINOR {}\n\
             #define ENS_UPLOAD_VERSION_PATCH {}\n\
             #define ENS_UPLOAD_VERSION_STRING \"{}\"",
            var("CARGO_PKG_VERSION_MAJOR"),
            var("CARGO_PKG_VERSION_MINOR"),
            var("CARGO_PKG_VERSION_PATCH"),
            var("CARGO_PKG_VERSION"),
        )
    }
}
