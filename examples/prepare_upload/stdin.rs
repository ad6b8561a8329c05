//! `--file -`: the upload's bytes from standard input. With `--size N` they
//! stream as they come (`Client::upload_reader`: each part buffered in
//! memory, so a failed part is resent); without it the size is unknown, so
//! they go to a temporary file first (created for this run only, readable
//! by this user only, removed afterwards) and upload from there.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use ens_upload::{Client, Error, PrepareUploadRequest, UploadOptions, UploadResult};

/// Uploads standard input as `key`: `size` bytes exactly, or all of it.
pub fn upload(
    client: &Client,
    request: &PrepareUploadRequest,
    key: &str,
    size: Option<u64>,
    options: &UploadOptions,
) -> Result<UploadResult, Error> {
    if let Some(size) = size {
        return client.upload_reader(request, key, io::stdin(), size, options);
    }
    let spool = Spool::create().map_err(|e| spool_error(&e))?;
    io::copy(&mut io::stdin().lock(), &mut spool.file()).map_err(|e| spool_error(&e))?;
    client.upload_file(request, key, &spool.path, options)
}

fn spool_error(e: &io::Error) -> Error {
    Error::config(format!(
        "cannot buffer standard input to a temporary file ({e}); give --size to stream it instead"
    ))
}

/// A temporary file that is removed when dropped.
struct Spool {
    path: PathBuf,
    file: File,
}

impl Spool {
    /// A new file in the temporary directory (`TMPDIR`), never an existing
    /// one, readable by this user only.
    fn create() -> io::Result<Spool> {
        let dir = std::env::temp_dir();
        let mut last = None;
        for attempt in 0..16u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = dir.join(format!(
                "prepare_upload-stdin-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            let mut open = OpenOptions::new();
            open.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
            match open.open(&path) {
                Ok(file) => return Ok(Spool { path, file }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
    }

    fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `--file` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}
