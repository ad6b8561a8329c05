//! Test helpers: an environment of the test's choosing, temporary homes,
//! and a fetch context without a client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Env, FetchContext};
use crate::http::{ProxySetting, RetryPolicy, Session};

/// Variables and a home directory, instead of the process's.
#[derive(Default)]
pub(crate) struct FakeEnv {
    pub(crate) vars: HashMap<&'static str, String>,
    pub(crate) home: Option<PathBuf>,
}

impl FakeEnv {
    pub(crate) fn new(vars: &[(&'static str, &str)], home: Option<PathBuf>) -> FakeEnv {
        FakeEnv {
            vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            home,
        }
    }

    pub(crate) fn set(&mut self, name: &'static str, value: &str) {
        self.vars.insert(name, value.to_owned());
    }
}

impl Env for FakeEnv {
    fn var_os(&self, name: &str) -> Option<std::ffi::OsString> {
        self.vars.get(name).map(Into::into)
    }
    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
}

/// An empty directory of its own under the temporary directory.
pub(crate) fn temp_home(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ens-upload-cred-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".alibabacloud")).unwrap();
    std::fs::create_dir_all(dir.join(".aliyun")).unwrap();
    dir
}

/// Runs `f` with a fetch context on a session of its own (no proxy).
pub(crate) fn with_context<T>(f: impl FnOnce(&FetchContext<'_>) -> T) -> T {
    let session = Session {
        agent: ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        ),
        clock: Default::default(),
        retry: RetryPolicy::default(),
        call_timeout: Duration::from_secs(5),
        proxy: ProxySetting::Off,
    };
    f(&FetchContext { session: &session })
}

/// A local HTTP server that answers every request with `status` and
/// `body`; the request lines it got come out of the receiver.
pub(crate) fn answering_server(
    status: u16,
    body: String,
) -> (String, std::sync::mpsc::Receiver<String>) {
    routing_server(move |_| (status, body.clone()))
}

/// A local HTTP server answering each request line with what `answer`
/// says; the request lines it got come out of the receiver.
pub(crate) fn routing_server(
    answer: impl Fn(&str) -> (u16, String) + Send + 'static,
) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let line = text.lines().next().unwrap_or_default().to_owned();
            let (status, body) = answer(&line);
            let _ = tx.send(line);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}
