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
        agent: ureq::Agent::new_with_defaults(),
        clock: Default::default(),
        retry: RetryPolicy::default(),
        call_timeout: Duration::from_secs(5),
        proxy: ProxySetting::Off,
    };
    f(&FetchContext { session: &session })
}
