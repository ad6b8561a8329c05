//! Opening local files the library did not create: a FIFO, a device or a
//! directory given where a file belongs must fail at once, not block in
//! `open()`, and a file is never read past a cap.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// `O_NONBLOCK` where its value is known: opening a FIFO with it returns at
/// once instead of waiting for a writer. It has no effect on regular files.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
const O_NONBLOCK: i32 = 0x0004;

/// Opens `path` for reading if it is a regular file (a symbolic link to
/// one is fine), without blocking on anything else: the type is checked
/// before opening and again on the opened handle (it may have been
/// swapped in between).
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let not_regular = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (a FIFO, device or directory cannot be read here)",
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(any(
        all(
            target_os = "linux",
            any(
                target_arch = "x86",
                target_arch = "x86_64",
                target_arch = "arm",
                target_arch = "aarch64",
                target_arch = "riscv64"
            )
        ),
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Reads a regular file whole, refusing one larger than `max` bytes
/// (checked on what is read, not only on the size it claims).
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is larger than the {max}-byte limit for this file"),
        )
    };
    if file.metadata()?.len() > max {
        return Err(too_big());
    }
    let mut out = Vec::new();
    file.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ens-upload-files-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_fifo_fails_at_once_instead_of_blocking() {
        let fifo = temp("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            // mkfifo is in coreutils on every machine this runs on.
            panic!("mkfifo failed");
        }
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(read_capped(&fifo, 10).is_err());
        assert!(open_regular(&std::env::temp_dir()).is_err(), "a directory");
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn reads_are_capped() {
        let f = temp("capped");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_capped(&f, 10).unwrap().len(), 10);
        let e = read_capped(&f, 9).unwrap_err();
        assert!(e.to_string().contains("9-byte limit"), "{e}");
        std::fs::remove_file(&f).unwrap();
    }
}
