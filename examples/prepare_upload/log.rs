//! Log lines on stderr: `-v` shows info, `-vv` debug, `-vvv` trace; without
//! `-v`, `RUST_LOG` sets the level (`debug`, or `ens_upload=debug`, as
//! env_logger reads it, without its dependency). The library never logs a
//! secret, so nothing needs hiding here.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // The HTTP library's own lines only at trace (`-vvv`).
        metadata.level() <= log::max_level()
            && (metadata.target().starts_with("ens_upload")
                || log::max_level() == LevelFilter::Trace)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "prepare_upload: {:<5} {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger at the level `-v` flags (`verbose`) or
/// `RUST_LOG` ask for; does nothing when neither asks for any.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| level_for_crate(&v))
            .unwrap_or(LevelFilter::Off),
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if level != LevelFilter::Off && log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}

/// The level `RUST_LOG` gives this crate: a bare level (`debug`) or an
/// `ens_upload=level` directive (the last one wins); other targets' directives
/// are ignored.
fn level_for_crate(spec: &str) -> Option<LevelFilter> {
    let mut level = None;
    for directive in spec.split(',').map(str::trim) {
        match directive.split_once('=') {
            Some((target, l)) if target.trim() == "ens_upload" => level = l.trim().parse().ok(),
            Some(_) => {}
            None => {
                if let Ok(l) = directive.parse() {
                    level = Some(l);
                }
            }
        }
    }
    level
}
