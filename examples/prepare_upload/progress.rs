//! The progress line on stderr (a terminal): one line, redrawn in place,
//! never wider than the terminal, so a narrow pane does not scroll a line
//! per update. What fits, most important first:
//!
//! ```text
//!  45% 12.0/26.7 MiB 3.2 MiB/s 0:04 left [##########            ]
//! ```
//!
//! The bar goes first when space runs short, then the rate, then the sizes.

use std::io::Write;
use std::time::{Duration, Instant};

/// Redraws at most this often (and always for the last count).
const REDRAW_EVERY: Duration = Duration::from_millis(100);

pub struct Bar {
    width: usize,
    started: Instant,
    /// The count at the first call: what a resumed upload had sent already.
    first: Option<u64>,
    last_draw: Option<Instant>,
    /// The last count heard.
    pub done: u64,
    pub total: u64,
}

impl Bar {
    /// A bar for a terminal `columns` wide.
    pub fn new(columns: usize) -> Bar {
        Bar {
            width: columns.max(10),
            started: Instant::now(),
            first: None,
            last_draw: None,
            done: 0,
            total: 0,
        }
    }

    /// Hears a count and redraws when it is time.
    pub fn update(&mut self, done: u64, total: u64) {
        self.first.get_or_insert(done);
        self.done = done;
        self.total = total;
        let now = Instant::now();
        let due = self
            .last_draw
            .is_none_or(|t| now.duration_since(t) >= REDRAW_EVERY);
        if due || done >= total {
            self.last_draw = Some(now);
            let line = self.line(now.duration_since(self.started));
            let mut err = std::io::stderr().lock();
            // \r: back to the start; ESC[K: clear what a longer line left.
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
        }
    }

    /// Ends the line the bar was drawn on.
    pub fn finish(&self) {
        if self.last_draw.is_some() {
            eprintln!();
        }
    }

    /// The line for the current count, at most `width - 1` characters (the
    /// last column left free: some terminals wrap on writing it).
    fn line(&self, elapsed: Duration) -> String {
        let (done, total) = (self.done, self.total);
        let percent = (done.saturating_mul(100)).checked_div(total).unwrap_or(100);
        let sent_now = done.saturating_sub(self.first.unwrap_or(done));
        let secs = elapsed.as_secs_f64();
        // A rate only once there is something to measure.
        let rate = (secs >= 0.5 && sent_now > 0).then(|| sent_now as f64 / secs);
        let left = rate.map(|r| total.saturating_sub(done) as f64 / r);
        let pct = format!("{percent:3}%");
        let sizes = format!("{}/{}", number(done, total), size(total, total));
        let rate_text = rate.map(|r| format!("{}/s", size(r as u64, r as u64)));
        let left_text = match left {
            Some(s) => format!("{} left", clock(s)),
            None => "--:-- left".to_owned(),
        };
        let room = self.width - 1;
        // Most important first; each optional piece is kept if it fits.
        let mut line = pct;
        for piece in [Some(left_text), Some(sizes), rate_text]
            .into_iter()
            .flatten()
        {
            if line.len() + 1 + piece.len() <= room {
                line.push(' ');
                line.push_str(&piece);
            }
        }
        // The bar fills what is left, when at least 10 columns are.
        let bar_room = room.saturating_sub(line.len() + 1);
        if bar_room >= 10 {
            let inner = (bar_room - 2) as u64;
            let filled = (done.saturating_mul(inner))
                .checked_div(total)
                .unwrap_or(inner)
                .min(inner);
            line.push_str(&format!(
                " [{}{}]",
                "#".repeat(filled as usize),
                " ".repeat((inner - filled) as usize)
            ));
        }
        line
    }
}

/// Bytes in the unit `scale` calls for: `12.0 MiB`, `340 KiB`, `512 B`.
pub fn size(bytes: u64, scale: u64) -> String {
    format!("{} {}", number(bytes, scale), unit(scale))
}

/// The number of [`size`], without its unit.
fn number(bytes: u64, scale: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if scale >= 1 << 30 {
        format!("{:.2}", b / (KIB * KIB * KIB))
    } else if scale >= 1 << 20 {
        format!("{:.1}", b / (KIB * KIB))
    } else if scale >= 1 << 10 {
        format!("{:.0}", b / KIB)
    } else {
        bytes.to_string()
    }
}

fn unit(scale: u64) -> &'static str {
    if scale >= 1 << 30 {
        "GiB"
    } else if scale >= 1 << 20 {
        "MiB"
    } else if scale >= 1 << 10 {
        "KiB"
    } else {
        "B"
    }
}

/// Seconds as `m:ss` or `h:mm:ss`.
fn clock(secs: f64) -> String {
    let s = secs.round().min(359_999.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The terminal's width: `COLUMNS` when set, else what `stty size` says of
/// the terminal, else 80.
pub fn terminal_columns() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return n;
    }
    let tty = std::fs::File::open("/dev/tty").ok();
    let asked = tty.and_then(|tty| {
        std::process::Command::new("stty")
            .arg("size")
            .stdin(tty)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
    });
    asked
        .and_then(|o| {
            String::from_utf8(o.stdout)
                .ok()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(width: usize, first: u64, done: u64, total: u64) -> Bar {
        let mut b = Bar::new(width);
        b.first = Some(first);
        b.done = done;
        b.total = total;
        b
    }

    #[test]
    fn the_line_fits_the_terminal_and_drops_the_least_important_first() {
        let mib = 1u64 << 20;
        for width in [10, 20, 30, 40, 60, 80, 200] {
            let b = bar(width, 0, 12 * mib, 27 * mib);
            let line = b.line(Duration::from_secs(4));
            assert!(line.len() < width, "{width}: {line:?} ({})", line.len());
            assert!(line.starts_with(" 44%"), "{line:?}");
        }
        let wide = bar(80, 0, 12 * mib, 27 * mib).line(Duration::from_secs(4));
        let inside = format!("{}{}", "#".repeat(16), " ".repeat(22));
        assert_eq!(
            wide,
            format!(" 44% 0:05 left 12.0/27.0 MiB 3.0 MiB/s [{inside}]")
        );
        let narrow = bar(40, 0, 12 * mib, 27 * mib).line(Duration::from_secs(4));
        assert_eq!(narrow, " 44% 0:05 left 12.0/27.0 MiB 3.0 MiB/s");
        let tiny = bar(20, 0, 12 * mib, 27 * mib).line(Duration::from_secs(4));
        assert_eq!(tiny, " 44% 0:05 left");
    }

    #[test]
    fn the_rate_counts_only_what_this_run_sent() {
        let mib = 1u64 << 20;
        // Resumed at 20 MiB; 4 MiB sent in 2 s.
        let line = bar(80, 20 * mib, 24 * mib, 30 * mib).line(Duration::from_secs(2));
        assert!(
            line.contains("2.0 MiB/s") && line.contains("0:03 left"),
            "{line}"
        );
        // Too early to tell.
        let line = bar(80, 0, 0, 30 * mib).line(Duration::from_millis(10));
        assert!(line.contains("--:-- left"), "{line}");
    }

    #[test]
    fn sizes_and_clocks() {
        assert_eq!(size(512, 512), "512 B");
        assert_eq!(size(340 << 10, 1 << 20), "0.3 MiB");
        assert_eq!(size(340 << 10, 340 << 10), "340 KiB");
        assert_eq!(size(3 << 30, 3 << 30), "3.00 GiB");
        assert_eq!(clock(65.0), "1:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
