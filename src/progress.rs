//! Progress bars on stderr, only when stderr is a terminal: nothing is printed into
//! pipes or logs.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A message-and-bytes progress bar that does nothing when hidden.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
    total_bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Progress {
    /// A bar for `total` messages of `bytes` bytes, shown only if `show` is true and
    /// stderr is a terminal.
    pub fn new(what: &str, total: u64, bytes: u64, show: bool) -> Self {
        if !show || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = format!(
            "{what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} msgs \
             {{per_sec}} ETA {{eta}} {{msg}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.set_message(format!("of {}", human_bytes(bytes)));
        Progress {
            bar,
            total_bytes: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(bytes)),
        }
    }

    /// A bar counting `total` things other than messages (`unit`: "users"), shown only
    /// if `show` is true and stderr is a terminal.
    pub fn counting(what: &str, unit: &str, total: u64, show: bool) -> Self {
        if !show || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template =
            format!("{what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} {{msg}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Progress {
            bar,
            total_bytes: Default::default(),
        }
    }

    /// A bar that never draws.
    pub fn hidden() -> Self {
        Progress {
            bar: ProgressBar::hidden(),
            total_bytes: Default::default(),
        }
    }

    /// Count `n` more messages done.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Add `msgs` messages of `bytes` bytes to the expected total.
    pub fn extend(&self, msgs: u64, bytes: u64) {
        self.bar.inc_length(msgs);
        let total = self
            .total_bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        self.bar.set_message(format!("of {}", human_bytes(total)));
    }

    /// Replace the trailing message (e.g. the current user).
    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Remove the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Bytes in binary units for people (`12.3 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(420 * 1024 * 1024), "420.0 MiB");
    }
}
