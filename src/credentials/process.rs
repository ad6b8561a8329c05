//! Credentials from an external process (the aliyun CLI's `External`
//! mode): a command that prints a JSON profile on its standard output.
//!
//! The command's output holds secrets, and its standard error may: neither
//! ever reaches `Debug`, `Display`, an error or a log (its standard error
//! is discarded). Errors name the program only, never its arguments.

use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};

use super::{Credentials, CredentialsProvider, FetchContext};

/// How long the command may run by default (as the official libraries).
pub const DEFAULT_PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of the command's output that is read; a profile is far smaller.
const MAX_OUTPUT_BYTES: u64 = 64 << 10;
/// How often a running command is checked on.
const POLL: Duration = Duration::from_millis(10);

/// Credentials printed by a command, run again before they expire.
///
/// The command (`process_command` in `config.json`) is split into a
/// program and its arguments as the aliyun CLI does on Unix (spaces
/// separate, quotes group, backslash escapes; no shell). It gets no
/// standard input, the environment of this process, and
/// [`DEFAULT_PROCESS_TIMEOUT`] (killed when over). It must exit 0 and
/// print one JSON object:
/// `{"mode": "StsToken", "access_key_id": "...", "access_key_secret": "...",
/// "sts_token": "...", "expiration": "2026-01-02T03:04:05Z"}` (`mode`
/// `AK` without `sts_token`; `expiration` optional: credentials without
/// it are kept until a server refuses them).
///
/// ```
/// use ens_upload::ExternalProcessProvider;
/// use std::time::Duration;
/// let p = ExternalProcessProvider::new("/usr/local/bin/fetch-creds --role uploader")
///     .timeout(Duration::from_secs(10));
/// let client = ens_upload::Client::builder().credentials_provider(p).build()?;
/// # Ok::<(), ens_upload::Error>(())
/// ```
#[derive(Clone)]
pub struct ExternalProcessProvider {
    command: String,
    timeout: Duration,
}

impl fmt::Debug for ExternalProcessProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The arguments may carry a secret: the program only.
        f.debug_struct("ExternalProcessProvider")
            .field("program", &self.program())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExternalProcessProvider {
    /// Runs `command` (program and arguments in one string, as
    /// `process_command`).
    pub fn new(command: impl Into<String>) -> ExternalProcessProvider {
        ExternalProcessProvider {
            command: command.into(),
            timeout: DEFAULT_PROCESS_TIMEOUT,
        }
    }

    /// How long the command may run before it is killed (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The program, for errors and descriptions.
    fn program(&self) -> String {
        match split_command(&self.command) {
            Ok(words) => words.into_iter().next().unwrap_or_default(),
            Err(_) => "(a process_command that cannot be split)".to_owned(),
        }
    }

    /// Runs the command; its standard output, or an error that shows
    /// neither the output nor the arguments.
    fn run(&self, place: &str) -> Result<Vec<u8>> {
        let words = split_command(&self.command)
            .map_err(|why| Error::credentials(format!("{place}: process_command {why}")))?;
        let mut child = Command::new(&words[0])
            .args(&words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::credentials(format!("{place}: cannot run it: {e}")))?;
        let deadline = crate::clock::instant_after(self.timeout);
        // Read in a thread so a command that prints much cannot block on
        // a full pipe; the thread ends when the pipe closes.
        let (tx, rx) = mpsc::channel();
        if let Some(mut stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let read = (&mut stdout)
                    .take(MAX_OUTPUT_BYTES + 1)
                    .read_to_end(&mut out);
                // Whatever is left goes nowhere, so the command can finish.
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                let _ = tx.send(read.map(|_| out));
            });
        }
        let timed_out = || {
            Error::credentials(format!(
                "{place}: the command did not finish within {} ms and was killed",
                self.timeout.as_millis()
            ))
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(timed_out());
                }
                Ok(None) => std::thread::sleep(POLL),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::credentials(format!(
                        "{place}: cannot wait for the command: {e}"
                    )));
                }
            }
        };
        if !status.success() {
            return Err(Error::credentials(format!(
                "{place}: the command failed ({status})"
            )));
        }
        // A child it left behind may still hold the pipe open.
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Ok(out)) if out.len() as u64 <= MAX_OUTPUT_BYTES => Ok(out),
            Ok(Ok(_)) => Err(Error::credentials(format!(
                "{place}: the command's output is larger than {MAX_OUTPUT_BYTES} bytes"
            ))),
            Ok(Err(e)) => Err(Error::credentials(format!(
                "{place}: cannot read the command's output: {e}"
            ))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out()),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(Vec::new()),
        }
    }
}

/// What the command prints: an aliyun CLI profile's credential fields.
#[derive(Deserialize)]
struct Printed {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
    #[serde(default)]
    expiration: String,
}

impl CredentialsProvider for ExternalProcessProvider {
    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        let place = self.describe();
        let out = self.run(&place)?;
        let not_json = || {
            Error::credentials(format!(
                "{place}: the command's output is not the expected JSON \
                 (an object with access_key_id, access_key_secret and, for mode StsToken, sts_token)"
            ))
        };
        // Never serde's message: it may quote the output.
        let printed: Printed = serde_json::from_slice(&out).map_err(|_| not_json())?;
        if printed.access_key_id.is_empty() || printed.access_key_secret.is_empty() {
            return Err(not_json());
        }
        let creds = match printed.mode.to_ascii_lowercase().as_str() {
            "ststoken" if printed.sts_token.is_empty() => {
                return Err(Error::credentials(format!(
                    "{place}: the command printed mode StsToken without sts_token"
                )))
            }
            "ak" | "ststoken" | "" => {
                if printed.sts_token.is_empty() {
                    Credentials::access_key(printed.access_key_id, printed.access_key_secret)
                } else {
                    Credentials::sts(
                        printed.access_key_id,
                        printed.access_key_secret,
                        printed.sts_token,
                    )
                }
            }
            _ => {
                return Err(Error::credentials(format!(
                    "{place}: the command printed a mode other than AK or StsToken"
                )))
            }
        };
        let creds = creds.with_source(place.clone());
        if printed.expiration.is_empty() {
            return Ok(creds);
        }
        match crate::clock::parse_iso8601_utc(&printed.expiration) {
            Some(unix) => Ok(creds.with_expiration_unix(unix)),
            None => Err(Error::credentials(format!(
                "{place}: the command printed an expiration that is not an ISO 8601 UTC time \
                 (such as 2026-01-02T03:04:05Z)"
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("external process {}", self.program())
    }
}

/// Splits a command line into words as a POSIX shell would, without
/// running one: whitespace separates words; `'...'` is literal; `"..."`
/// keeps spaces, with `\` escaping `"`, `\`, `$` and `` ` ``; outside
/// quotes `\` escapes the next character; backslash-newline joins lines.
/// The error says what is wrong, never quoting the command.
pub(crate) fn split_command(command: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("has an unclosed quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some('\n') => {
                                chars.next();
                            }
                            Some(&n @ ('"' | '\\' | '$' | '`')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(c) => word.push(c),
                        None => return Err("has an unclosed quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    in_word = true;
                    word.push(n);
                }
                None => return Err("ends with a backslash"),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    match words.first() {
        Some(program) if !program.is_empty() => Ok(words),
        _ => Err("is empty"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    #[test]
    fn commands_split_as_the_aliyun_cli_does() {
        let ok = |s: &str| split_command(s).unwrap();
        assert_eq!(ok("tool a  b"), ["tool", "a", "b"]);
        assert_eq!(ok("  'my tool' \"x y\" z"), ["my tool", "x y", "z"]);
        assert_eq!(ok(r#"t "a\"b" 'c\d' e\ f"#), ["t", "a\"b", "c\\d", "e f"]);
        assert_eq!(ok(r#"t "a\qb""#), ["t", "a\\qb"]);
        assert_eq!(ok("t \"\" x"), ["t", "", "x"]);
        assert_eq!(ok("t a\\\nb"), ["t", "ab"]);
        assert_eq!(ok("t\ta\nb"), ["t", "a", "b"]);
        for bad in ["", "   ", "t 'open", "t \"open", "t \\", "'' x"] {
            assert!(split_command(bad).is_err(), "{bad:?}");
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ens-upload-proc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn script(dir: &Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn fetch(p: &ExternalProcessProvider) -> Result<Credentials> {
        crate::credentials::fake_env::with_context(|ctx| p.fetch(ctx))
    }

    #[test]
    fn sts_from_a_script_with_its_expiration() {
        let dir = temp_dir("ok");
        let s = script(
            &dir,
            "creds.sh",
            r#"test "$1" = "--role" && test "$2" = "up loader" || exit 9
echo 'noise on stderr SECRET-STDERR' >&2
printf '{"mode":"StsToken","access_key_id":"STS.x","access_key_secret":"S1","sts_token":"T1","expiration":"2030-01-02T03:04:05Z"}'"#,
        );
        let p = ExternalProcessProvider::new(format!("{s} --role 'up loader'"));
        let c = fetch(&p).unwrap();
        assert_eq!(c.access_key_id(), "STS.x");
        assert_eq!((c.secret(), c.security_token()), ("S1", Some("T1")));
        assert_eq!(
            c.expires_at(),
            crate::clock::parse_iso8601_utc("2030-01-02T03:04:05Z")
        );
        assert_eq!(c.source(), format!("external process {s}"));
        assert_eq!(p.describe(), format!("external process {s}"));
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("up loader") && shown.contains("creds.sh"),
            "{shown}"
        );

        let ak = script(
            &dir,
            "ak.sh",
            r#"echo '{"mode":"AK","access_key_id":"LTAI1","access_key_secret":"S2"}'"#,
        );
        let c = fetch(&ExternalProcessProvider::new(ak)).unwrap();
        assert!(!c.is_sts() && c.expires_at().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_slow_command_is_killed_at_the_timeout() {
        let dir = temp_dir("slow");
        let pid_file = dir.join("pid");
        let s = script(
            &dir,
            "slow.sh",
            &format!("echo $$ > {}\nexec sleep 30", pid_file.display()),
        );
        let p = ExternalProcessProvider::new(s).timeout(Duration::from_millis(300));
        let started = Instant::now();
        let e = fetch(&p).unwrap_err();
        assert!(
            e.to_string().contains("did not finish within 300 ms"),
            "{e}"
        );
        // Generous: the promise is "about the timeout", not thirty seconds.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
        assert!(!proc_dir.exists(), "the command was killed and reaped");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_output_and_failures_never_show_the_output() {
        let dir = temp_dir("bad");
        let cases = [
            (
                "notjson.sh",
                "echo 'SECRET-OUT not json'",
                "not the expected JSON",
            ),
            (
                "noid.sh",
                r#"echo '{"access_key_secret":"SECRET-OUT"}'"#,
                "not the expected JSON",
            ),
            (
                "ststoken.sh",
                r#"echo '{"mode":"StsToken","access_key_id":"a","access_key_secret":"SECRET-OUT"}'"#,
                "without sts_token",
            ),
            (
                "badexp.sh",
                r#"echo '{"access_key_id":"a","access_key_secret":"SECRET-OUT","expiration":"tomorrow"}'"#,
                "ISO 8601",
            ),
            (
                "fails.sh",
                "echo SECRET-OUT; echo SECRET-OUT >&2; exit 3",
                "exit status: 3",
            ),
        ];
        for (name, body, want) in cases {
            let s = script(&dir, name, body);
            let p = ExternalProcessProvider::new(format!("{s} SECRET-ARG"));
            let e = fetch(&p).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(want), "{name}: {shown}");
            assert!(!shown.contains("SECRET-"), "{name}: {shown}");
        }
        let e = fetch(&ExternalProcessProvider::new(
            "/nonexistent/tool SECRET-ARG",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tool"), "{e}");
        assert!(!e.to_string().contains("SECRET-ARG"), "{e}");
        let e = fetch(&ExternalProcessProvider::new("tool 'SECRET-ARG")).unwrap_err();
        assert!(e.to_string().contains("unclosed quote"), "{e}");
        assert!(!format!("{e} {e:?}").contains("SECRET-ARG"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
