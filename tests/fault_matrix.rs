//! Every fault the emulator can play, with the outcome the client must reach
//! (recovered after N attempts, or one specific typed error) within the time
//! its settings promise. No panic, no hang.
//!
//! Time bounds are what the client promises plus `common::MARGIN` (these
//! machines are shared and noisy); where a test shows that the client does
//! not wait for something, that something is made far longer than the bound.

mod common;

use std::time::{Duration, Instant};

use common::{within, MARGIN};
use ens_upload::emulator::{Emulator, Fault};
use ens_upload::{Client, ClientBuilder, Error, KnownCode, PrepareUploadRequest, TransportKind};

/// A client tuned for tests: quick backoff, short read timeout (see
/// [`PROMISED`]).
fn builder(emu: &Emulator) -> ClientBuilder {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .read_timeout(Duration::from_millis(400))
        .retries(3)
        .retry_base_delay(Duration::from_millis(20))
        .retry_max_delay(Duration::from_millis(100))
}

/// What a fault must lead to.
enum Expect {
    /// Success after this many requests reached the emulator.
    Recovered { requests: usize },
    /// This error, checked by the closure, after this many requests.
    Fails {
        requests: usize,
        check: fn(&Error) -> bool,
    },
}

/// The longest one call with [`builder`]'s settings may take: 4 attempts,
/// each cut by the 400 ms read timeout (once for the head, once for the
/// body), 3 backoffs of at most 100 ms, and the largest wait a case below
/// asks for (300 ms). Connections are to loopback.
const PROMISED: Duration = Duration::from_millis(4 * 2 * 400 + 3 * 100 + 300);

struct Case {
    name: &'static str,
    fault: Fault,
    times: usize,
    expect: Expect,
    /// The call must not end before this (a wait the server asked for, or
    /// a read timeout that must have fired).
    not_before: Duration,
}

fn run(case: &Case) {
    let emu = Emulator::start().unwrap();
    let client = builder(&emu).build().unwrap();
    emu.inject(case.fault.clone(), case.times);
    let started = Instant::now();
    // A hang (or a wait far past the promise) fails here.
    let result = within(PROMISED + MARGIN, move || {
        client.prepare_upload(&PrepareUploadRequest::new("test"))
    });
    let elapsed = started.elapsed();
    let seen = emu.requests();
    assert!(
        elapsed >= case.not_before,
        "{}: only {elapsed:?}",
        case.name
    );
    match (&case.expect, result) {
        (Expect::Recovered { requests }, Ok(out)) => {
            assert!(out.bucket_name.starts_with("test-"), "{}", case.name);
            assert_eq!(seen.len(), *requests, "{}: requests seen", case.name);
            assert_eq!(seen.last().unwrap().status, 200, "{}", case.name);
        }
        (Expect::Fails { requests, check }, Err(e)) => {
            assert!(check(&e), "{}: unexpected error {e:?}", case.name);
            assert_eq!(seen.len(), *requests, "{}: requests seen", case.name);
            assert_eq!(
                e.attempts() as usize,
                *requests,
                "{}: attempts in the error",
                case.name
            );
        }
        (_, other) => panic!("{}: unexpected outcome {other:?}", case.name),
    }
    // Every attempt was signed anew.
    let nonces: std::collections::HashSet<_> = seen
        .iter()
        .filter_map(|r| r.param("SignatureNonce"))
        .collect();
    assert_eq!(
        nonces.len(),
        seen.len(),
        "{}: a nonce was reused",
        case.name
    );
}

#[test]
fn the_fault_matrix() {
    let cases = [
        Case {
            name: "500 InternalError twice",
            fault: Fault::InternalError,
            times: 2,
            expect: Expect::Recovered { requests: 3 },
            not_before: Duration::ZERO,
        },
        Case {
            name: "503 ServiceUnavailable twice",
            fault: Fault::ServiceUnavailable,
            times: 2,
            expect: Expect::Recovered { requests: 3 },
            not_before: Duration::ZERO,
        },
        Case {
            name: "400 Throttling.User with retry-after 300 ms",
            fault: Fault::Throttling {
                retry_after_ms: 300,
            },
            times: 1,
            expect: Expect::Recovered { requests: 2 },
            not_before: Duration::from_millis(300),
        },
        Case {
            name: "connection reset twice",
            fault: Fault::ConnectionReset,
            times: 2,
            expect: Expect::Recovered { requests: 3 },
            not_before: Duration::ZERO,
        },
        Case {
            name: "slow answer past the read timeout",
            fault: Fault::Slow(Duration::from_secs(2)),
            times: 1,
            expect: Expect::Recovered { requests: 2 },
            not_before: Duration::from_millis(400),
        },
        Case {
            name: "200 with a non-JSON body",
            fault: Fault::NonJson,
            times: 1,
            expect: Expect::Fails {
                requests: 1,
                check: |e| matches!(e, Error::Decode { status: 200, body_prefix, .. } if body_prefix.contains("not JSON")),
            },
            not_before: Duration::ZERO,
        },
        Case {
            name: "truncated body",
            fault: Fault::TruncatedBody,
            times: 1,
            expect: Expect::Recovered { requests: 2 },
            not_before: Duration::ZERO,
        },
        Case {
            name: "502 HTML page twice",
            fault: Fault::BadGatewayHtml,
            times: 2,
            expect: Expect::Recovered { requests: 3 },
            not_before: Duration::ZERO,
        },
        Case {
            name: "502 HTML page every time",
            fault: Fault::BadGatewayHtml,
            times: 10,
            expect: Expect::Fails {
                requests: 4,
                check: |e| matches!(e, Error::Decode { status: 502, body_prefix, .. } if body_prefix.contains("Bad Gateway")),
            },
            not_before: Duration::ZERO,
        },
        Case {
            name: "50 MB body",
            fault: Fault::HugeBody(50 << 20),
            times: 1,
            expect: Expect::Fails {
                requests: 1,
                check: |e| {
                    matches!(
                        e,
                        Error::ResponseTooLarge {
                            status: 200,
                            limit: 1_048_576,
                            ..
                        }
                    )
                },
            },
            not_before: Duration::ZERO,
        },
        Case {
            name: "500 every time",
            fault: Fault::InternalError,
            times: 10,
            expect: Expect::Fails {
                requests: 4,
                check: |e| {
                    e.code() == Some("InternalError") && e.to_string().contains("after 4 attempts")
                },
            },
            not_before: Duration::ZERO,
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn non_retryable_errors_return_at_once() {
    let emu = Emulator::start().unwrap();
    let client = builder(&emu).build().unwrap();
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("missing"))
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucket"));
    assert_eq!(e.attempts(), 1);
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn retries_zero_turns_retries_off() {
    let emu = Emulator::start().unwrap();
    let client = builder(&emu).retries(0).build().unwrap();
    emu.inject(Fault::ServiceUnavailable, 1);
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert_eq!(e.api().unwrap().known_code(), KnownCode::ServiceUnavailable);
    assert_eq!((e.attempts(), emu.requests().len()), (1, 1));
}

#[test]
fn the_call_timeout_covers_every_attempt_and_sleep() {
    let emu = Emulator::start().unwrap();
    // 100 attempts of 400 ms each would take 40 s: only the 1 s call
    // timeout ends the call within the bound.
    let call_timeout = Duration::from_secs(1);
    let client = builder(&emu)
        .retries(100)
        .call_timeout(call_timeout)
        .build()
        .unwrap();
    emu.inject(Fault::Slow(Duration::from_secs(3)), 101);
    let e = within(call_timeout + MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.attempts() >= 2, "{e:?}");
}

#[test]
fn the_call_timeout_cuts_an_attempt_short() {
    let emu = Emulator::start().unwrap();
    // The read timeout would wait for the answer, 3 s late; the call
    // timeout (1 s) must not.
    let client = builder(&emu)
        .read_timeout(Duration::from_secs(20))
        .retries(0)
        .call_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    emu.inject(Fault::Slow(Duration::from_secs(3)), 1);
    let e = within(Duration::from_secs(1) + MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.attempts(), 1, "{e:?}");
}

#[test]
fn a_retry_after_beyond_the_deadline_is_not_slept() {
    let emu = Emulator::start().unwrap();
    // Sleeping until the deadline would take twice the bound below.
    let client = builder(&emu).call_timeout(2 * MARGIN).build().unwrap();
    emu.inject(
        Fault::Throttling {
            retry_after_ms: 60_000,
        },
        1,
    );
    let e = within(MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert_eq!(e.api().unwrap().known_code(), KnownCode::Throttling);
    assert_eq!(e.attempts(), 1);
}

/// Two attempts with [`builder`]'s 400 ms read timeout.
const TWO_ATTEMPTS: Duration = Duration::from_millis(2 * 2 * 400);

/// A client whose backoff, were it used, would be drawn below 10 minutes
/// (and cut to the 30 s call timeout): a corrected timestamp must be sent
/// at once, so a call that backs off almost surely overruns
/// `TWO_ATTEMPTS + MARGIN`.
fn no_backoff_expected(b: ClientBuilder) -> Client {
    b.retry_base_delay(Duration::from_secs(600))
        .retry_max_delay(Duration::from_secs(600))
        .build()
        .unwrap()
}

#[test]
fn a_server_clock_hours_ahead_is_learned_once_and_kept() {
    let skew = 3 * 3600;
    let emu = Emulator::builder().clock_skew_secs(skew).start().unwrap();
    // Even with retries off, a corrected timestamp is tried once.
    let client = no_backoff_expected(builder(&emu).retries(0));
    assert_eq!(client.clock_offset(), 0);
    let c = client.clone();
    within(TWO_ATTEMPTS + MARGIN, move || {
        c.prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap()
    });
    let seen = emu.requests();
    assert_eq!(seen.len(), 2, "one refused, one corrected");
    assert_eq!(seen[0].code.as_deref(), Some("InvalidTimeStamp.Expired"));
    assert!(
        (client.clock_offset() - skew).abs() <= 2,
        "{}",
        client.clock_offset()
    );

    // Kept for later calls and shared by clones: no more refusals.
    let clone = client.clone();
    std::thread::spawn(move || {
        clone
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap()
    })
    .join()
    .unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(emu.requests().len(), 4);
}

#[test]
fn a_server_clock_behind_is_learned_too() {
    let emu = Emulator::builder()
        .clock_skew_secs(-2 * 3600)
        .start()
        .unwrap();
    let client = no_backoff_expected(builder(&emu));
    let c = client.clone();
    within(TWO_ATTEMPTS + MARGIN, move || {
        c.prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap()
    });
    assert!((client.clock_offset() + 2 * 3600).abs() <= 2);
    assert_eq!(emu.requests().len(), 2);
}

#[test]
fn a_small_skew_within_tolerance_is_noticed_without_a_refusal() {
    // 10 minutes: accepted by the server (15-minute window), but past the
    // client's 5-minute threshold, so the offset is learned from Date.
    let emu = Emulator::builder().clock_skew_secs(600).start().unwrap();
    let client = builder(&emu).build().unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(emu.requests().len(), 1);
    assert!((client.clock_offset() - 600).abs() <= 2);
}

#[test]
fn eight_threads_share_one_client_for_four_thousand_calls() {
    let emu = Emulator::start().unwrap();
    let client = builder(&emu)
        .read_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    c.prepare_upload(&PrepareUploadRequest::new("test"))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Every call succeeded once; a retry (a request slowed past the read
    // timeout on a loaded machine) is allowed, but signed anew like any
    // other request.
    let seen = emu.requests();
    let ok = seen.iter().filter(|r| r.status == 200).count();
    assert!(ok >= 4000 && seen.len() >= ok, "{ok} of {}", seen.len());
    let nonces: std::collections::HashSet<_> = seen
        .iter()
        .map(|r| r.param("SignatureNonce").unwrap())
        .collect();
    assert_eq!(nonces.len(), seen.len(), "reused nonces");
}

#[test]
fn eight_threads_meeting_a_skewed_clock_at_once_all_recover() {
    // Every thread signs with the uncorrected clock before any answer has
    // come back; whichever answer corrects the offset first, the others
    // must still retry their refused timestamp once (the offset is not
    // the one they signed with), with retries otherwise off.
    let skew = 3 * 3600;
    let emu = Emulator::builder().clock_skew_secs(skew).start().unwrap();
    let client = no_backoff_expected(builder(&emu).retries(0));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (c, b) = (client.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                c.prepare_upload(&PrepareUploadRequest::new("test"))
            })
        })
        .collect();
    // The calls run side by side: two attempts each.
    within(TWO_ATTEMPTS + MARGIN, move || {
        for t in threads {
            let out = t.join().unwrap();
            assert!(out.is_ok(), "{out:?}");
        }
    });
    assert!((client.clock_offset() - skew).abs() <= 2);
    let seen = emu.requests();
    let refused = seen.iter().filter(|r| r.status != 200).count();
    assert_eq!(seen.len() - refused, 8, "eight successes");
    assert!(refused <= 8, "at most one refusal per thread: {refused}");
}

#[test]
fn an_absurd_retry_after_is_cut_to_the_deadline_not_a_panic() {
    let emu = Emulator::start().unwrap();
    // Sleeping until the deadline would take twice the bound below.
    let client = builder(&emu).call_timeout(2 * MARGIN).build().unwrap();
    emu.inject(
        Fault::Throttling {
            retry_after_ms: u64::MAX,
        },
        1,
    );
    let e = within(MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert_eq!(e.api().unwrap().known_code(), KnownCode::Throttling);
    assert_eq!(e.attempts(), 1, "the wait would pass the deadline");
}
