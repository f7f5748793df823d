//! Progress on stderr for analyses that take longer than about a second: a bar with the
//! percentage, bytes and time left for an uncompressed file (the library publishes the bytes
//! consumed, `Analyzer::progress`), a spinner with the bytes read for compressed files and
//! standard input (whose total is not known). Hidden when stderr is not a terminal, and never
//! shown for quick inputs.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shown after this long.
const DELAY: Duration = Duration::from_millis(1000);
/// Redrawn this often.
const TICK: Duration = Duration::from_millis(120);

#[derive(Debug)]
pub struct Progress {
    /// The channel that stops the drawing thread, and the thread.
    running: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Starts the timer for reading `name`; `consumed` is the counter the analyzer updates;
    /// `total` the size of an uncompressed file (`None`: compressed or a stream).
    pub fn start(name: &str, total: Option<u64>, consumed: Arc<AtomicU64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { running: None };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let name = name.to_string();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(DELAY) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => {
                    "{msg} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {elapsed} (eta {eta})"
                }
                None => "{spinner} {msg} {bytes} read {elapsed}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            let bar = bar.with_elapsed(DELAY);
            bar.set_message(format!("analysing {name}"));
            loop {
                bar.set_position(consumed.load(Ordering::Relaxed));
                bar.tick();
                match rx.recv_timeout(TICK) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
            bar.finish_and_clear();
        });
        Progress {
            running: Some((tx, thread)),
        }
    }
}

impl Drop for Progress {
    /// Stops the bar and clears its line before anything else is printed.
    fn drop(&mut self) {
        if let Some((done, thread)) = self.running.take() {
            drop(done);
            let _ = thread.join();
        }
    }
}

/// The size of `path` if it is an uncompressed capture (its first bytes are not the gzip or
/// zstd magic), the total a progress bar can count to.
pub fn plain_size(path: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    let compressed =
        (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd]);
    if compressed {
        None
    } else {
        f.metadata().ok().map(|m| m.len())
    }
}
