//! Progress of a command that asks many servers (`consumerProgress` over
//! every group, `resetOffsetByTime` over every broker): a bar on a terminal
//! (indicatif), plain `done/total` lines on stderr with `--progress`, and
//! nothing otherwise, so scripts reading stdout see only the result.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static FORCED: AtomicBool = AtomicBool::new(false);

/// `--progress`: report even when stderr is not a terminal.
pub fn force_lines() {
    FORCED.store(true, Ordering::Relaxed);
}

/// One long operation's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    what: String,
    total: u64,
    done: u64,
}

impl Progress {
    pub fn new(what: &str, total: usize) -> Progress {
        let total = total as u64;
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_string());
            bar
        });
        Progress {
            bar,
            lines: !terminal && FORCED.load(Ordering::Relaxed),
            what: what.to_string(),
            total,
            done: 0,
        }
    }

    /// One more step done; `item` names it.
    pub fn step(&mut self, item: &str) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.lines {
            eprintln!("{} {}/{} {item}", self.what, self.done, self.total);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
