//! Credentials that last: the client's cache fetches once for many
//! threads, refreshes before expiry, keeps valid credentials when a
//! refresh fails, and never signs with expired ones. Time bounds here are
//! the cache's documented rule (refresh with less than half of a short
//! lifetime left), with seconds of margin.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime};

use ens_upload::emulator::{Emulator, TEST_SECURITY_TOKEN, TEST_STS_ACCESS_KEY_SECRET};
use ens_upload::{Credentials, CredentialsProvider, Error, FetchContext, Result};

/// Hands out the emulator's STS credentials with a chosen lifetime, counts
/// its fetches, and fails the fetches it is told to fail.
#[derive(Debug)]
struct Scripted {
    creds: Credentials,
    lifetime: Duration,
    fetch_delay: Duration,
    fetches: AtomicUsize,
    /// Fetch numbers (1-based) that fail.
    failing: Mutex<Vec<usize>>,
}

impl Scripted {
    fn new(emu: &Emulator, lifetime: Duration) -> Arc<Scripted> {
        Arc::new(Scripted {
            creds: emu.sts_credentials(),
            lifetime,
            fetch_delay: Duration::ZERO,
            fetches: AtomicUsize::new(0),
            failing: Mutex::new(Vec::new()),
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl CredentialsProvider for Scripted {
    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::sleep(self.fetch_delay);
        if self.failing.lock().unwrap().contains(&n) {
            return Err(Error::credentials(format!("vault unreachable (fetch {n})")));
        }
        Ok(self
            .creds
            .clone()
            .with_expiration(SystemTime::now() + self.lifetime)
            .with_source(format!("scripted fetch {n}")))
    }

    fn describe(&self) -> String {
        "scripted vault".into()
    }
}

use common::{client_with_provider as client, prepare_test as prepare};

#[test]
fn eight_threads_meeting_no_credentials_cause_one_fetch() {
    let emu = Emulator::start().unwrap();
    let mut scripted = Scripted::new(&emu, Duration::from_secs(3600));
    Arc::get_mut(&mut scripted).unwrap().fetch_delay = Duration::from_millis(300);
    let client = client(&emu, scripted.clone());
    assert_eq!(client.credentials_source(), "scripted vault");
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (client, barrier) = (client.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                prepare(&client)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("every thread's call succeeds");
    }
    assert_eq!(scripted.fetches(), 1, "one fetch for eight threads");
    // And later calls reuse it.
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 1);
}

#[test]
fn credentials_are_refreshed_before_they_expire() {
    let emu = Emulator::start().unwrap();
    // 6 s: the refresh is due with 3 s left (half the lifetime).
    let scripted = Scripted::new(&emu, Duration::from_secs(6));
    let client = client(&emu, scripted.clone());
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 1);
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 1, "not due yet");
    std::thread::sleep(Duration::from_millis(4200));
    // Due (under 3 s left) but still valid: refreshed by this call.
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 2);
    let current = client.current_credentials().unwrap();
    assert_eq!(current.source(), "scripted fetch 2");
    assert!(current.expiration().unwrap() > SystemTime::now());
}

#[test]
fn a_failed_refresh_keeps_valid_credentials_and_expired_ones_are_never_used() {
    let emu = Emulator::start().unwrap();
    let scripted = Scripted::new(&emu, Duration::from_secs(6));
    *scripted.failing.lock().unwrap() = vec![2, 3, 4, 5, 6, 7, 8];
    let client = client(&emu, scripted.clone());
    prepare(&client).unwrap();
    std::thread::sleep(Duration::from_millis(4200));
    // The refresh fails; the credentials in hand are still valid.
    prepare(&client).expect("still valid: the old credentials sign");
    assert_eq!(scripted.fetches(), 2);
    // Backoff: the next call does not ask again at once.
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 2, "a failed refresh backs off");
    assert_eq!(
        client.current_credentials().unwrap().source(),
        "scripted fetch 1"
    );
    // Past the expiry: never signed with; the error names the provider
    // and the last failure.
    std::thread::sleep(Duration::from_millis(2500));
    let requests_before = emu.requests().len();
    let e = prepare(&client).unwrap_err();
    assert!(matches!(e, Error::Credentials { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("scripted vault"), "{text}");
    assert!(text.contains("vault unreachable"), "{text}");
    assert_eq!(
        emu.requests().len(),
        requests_before,
        "nothing is sent with expired credentials"
    );
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn a_first_fetch_that_fails_is_a_credentials_error_and_is_retried_later() {
    let emu = Emulator::start().unwrap();
    let scripted = Scripted::new(&emu, Duration::from_secs(3600));
    *scripted.failing.lock().unwrap() = vec![1];
    let client = client(&emu, scripted.clone());
    let e = prepare(&client).unwrap_err();
    assert!(e.to_string().contains("vault unreachable (fetch 1)"), "{e}");
    // Within the backoff the same failure comes back without a fetch.
    let e = prepare(&client).unwrap_err();
    assert!(e.to_string().contains("fetch 1"), "{e}");
    assert_eq!(scripted.fetches(), 1);
    std::thread::sleep(Duration::from_millis(1200));
    prepare(&client).unwrap();
    assert_eq!(scripted.fetches(), 2);
}

#[test]
fn fixed_credentials_and_providers_never_show_secrets() {
    let emu = Emulator::start().unwrap();
    let scripted = Scripted::new(&emu, Duration::from_secs(3600));
    let client = client(&emu, scripted);
    prepare(&client).unwrap();
    let shown = format!(
        "{client:?} {:?} {:?}",
        client.current_credentials().unwrap(),
        client.credentials()
    );
    assert!(!shown.contains(TEST_STS_ACCESS_KEY_SECRET), "{shown}");
    assert!(!shown.contains(TEST_SECURITY_TOKEN), "{shown}");
    // A provider's client has no fixed key to show.
    assert_eq!(client.credentials().access_key_id(), "");
    assert_eq!(client.credentials().source(), "scripted vault");
}
