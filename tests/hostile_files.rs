//! Local files the library did not create: a FIFO or a directory where a
//! file to upload belongs fails at once, before anything is sent.

use std::sync::mpsc;
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::{Client, Error, PrepareUploadRequest, UploadOptions};

#[test]
fn a_fifo_to_upload_fails_at_once_with_local_io_and_nothing_sent() {
    let emu = Emulator::start().unwrap();
    let fifo = std::env::temp_dir().join(format!("ens-upload-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let r = client.upload_file(
            &PrepareUploadRequest::new("test"),
            "k",
            &path,
            &UploadOptions::new(),
        );
        let _ = tx.send(r);
    });
    // Blocking in open() was the bug: a hang fails the test instead.
    let r = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("upload_file blocked on a FIFO");
    let e = r.unwrap_err();
    assert!(matches!(e, Error::LocalIo { .. }), "{e:?}");
    assert!(e.to_string().contains("regular file"), "{e}");
    assert_eq!(emu.requests().len(), 0, "nothing sent");
    std::fs::remove_file(&fifo).unwrap();
}

#[test]
fn a_credentials_file_that_is_a_fifo_or_huge_fails_build_at_once_naming_it() {
    let dir = std::env::temp_dir();
    let fifo = dir.join(format!("ens-upload-creds-fifo-{}", std::process::id()));
    let huge = dir.join(format!("ens-upload-creds-huge-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(&huge, vec![b'#'; 2 << 20]).unwrap();
    for (path, why) in [(&fifo, "regular file"), (&huge, "limit")] {
        // The only test in this binary that reads the environment.
        std::env::set_var("ALIBABA_CLOUD_CREDENTIALS_FILE", path);
        // config.json comes before the credentials file: not this home's.
        std::env::set_var("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true");
        std::env::remove_var("ALIBABA_CLOUD_ACCESS_KEY_ID");
        std::env::remove_var("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Client::builder().build().map(|_| ()));
        });
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("build() blocked on the credentials file")
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains(why),
            "{text}"
        );
    }
    std::env::remove_var("ALIBABA_CLOUD_CREDENTIALS_FILE");
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(&huge).unwrap();
}

/// Uploads a 2 MiB file that `change` alters from the progress callback
/// once some bytes are sent; returns the upload's outcome.
fn upload_while_changing(
    options: UploadOptions,
    change: impl Fn(&std::path::Path) + Send + 'static,
) -> Result<ens_upload::UploadResult, Error> {
    let emu = Emulator::start().unwrap();
    let path = std::env::temp_dir().join(format!(
        "ens-upload-changing-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::write(&path, vec![b'a'; 2 << 20]).unwrap();
    // The first body's answer comes late, so the change surely lands
    // while that request is still open (progress may lag the transfer).
    emu.inject(
        ens_upload::emulator::Fault::OssSlow(Duration::from_millis(500)),
        1,
    );
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let target = path.clone();
    let mut changed = false;
    let options = options.on_progress(move |done, _total| {
        if !changed && done > 0 {
            changed = true;
            change(&target);
        }
        ens_upload::ProgressAction::Continue
    });
    let r = client.upload_file(
        &PrepareUploadRequest::new("test"),
        "changing",
        &path,
        &options,
    );
    std::fs::remove_file(&path).unwrap();
    r
}

/// Alters the file being uploaded.
type Change = fn(&std::path::Path);

fn rewrite(p: &std::path::Path) {
    std::fs::write(p, vec![b'b'; 2 << 20]).unwrap();
}

fn grow(p: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(b"more").unwrap();
}

#[test]
fn a_file_rewritten_or_grown_during_the_upload_is_never_reported_as_uploaded() {
    let single = || UploadOptions::new().multipart_threshold(8 << 20);
    let multi = || {
        UploadOptions::new()
            .multipart_threshold(100 * 1024)
            .part_size(256 * 1024)
            .threads(1)
    };
    let cases: [(&str, UploadOptions, Change); 4] = [
        ("rewritten, one PutObject", single(), rewrite),
        ("grown, one PutObject", single(), grow),
        ("rewritten, multipart", multi(), rewrite),
        ("grown, multipart", multi(), grow),
    ];
    for (what, options, change) in cases {
        let e = upload_while_changing(options, change).unwrap_err();
        assert!(matches!(e, Error::LocalIo { .. }), "{what}: {e:?}");
        // A rewrite truncates the file first: a body still being read then
        // finds it short, before the change of identity is checked.
        let message = e.to_string();
        assert!(
            message.contains("changed while") || message.contains("did it shrink"),
            "{what}: {e}"
        );
    }
}

#[test]
fn errors_give_their_underlying_io_error_as_source() {
    use std::error::Error as _;
    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let missing = std::env::temp_dir().join("ens-upload-no-such-file-at-all");
    let e = client
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "k",
            &missing,
            &UploadOptions::new(),
        )
        .unwrap_err();
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("LocalIo has an io::Error source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    // A refused connection: a Transport error with the io::Error under it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = Client::builder()
        .endpoint(url)
        .credentials(emu.credentials())
        .retries(0)
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(e.source().is_some(), "{e:?}");
    // An API error's source is the ApiError.
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("no-such-bucket"))
        .unwrap_err();
    assert!(e
        .source()
        .is_some_and(|s| s.downcast_ref::<ens_upload::ApiError>().is_some()));
}
