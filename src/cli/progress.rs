//! The progress bar of long runs, and the log writer that keeps log lines
//! and the bar apart.
//!
//! The bar is drawn on stderr only when stderr is a terminal and nobody
//! asked for quiet (`-q`) or for logs (`-v`, `RUST_LOG`): in a CI log it
//! would be noise. While a bar is shown, every log line and every message
//! goes through [`with_stderr`], which hides the bar, writes, and draws it
//! again, so lines are never garbled.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use msp_retarget::bulk::{FileOutcome, FileReport, Progress};

/// The bar on screen, if any.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `f` on stderr, with the bar (if one is shown) hidden meanwhile.
pub fn with_stderr<T>(f: impl FnOnce(&mut io::StderrLock<'_>) -> T) -> T {
    let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    match active.as_ref() {
        Some(bar) => bar.suspend(|| f(&mut io::stderr().lock())),
        None => f(&mut io::stderr().lock()),
    }
}

/// The `tracing` writer: stderr, around the progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log event being written.
#[derive(Debug)]
pub struct LogLine;

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        with_stderr(|err| err.write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine
    }
}

/// Whether a bar should be drawn: stderr is a terminal, and neither quiet
/// output nor logs were asked for.
pub fn wanted(verbose: u8, quiet: bool) -> bool {
    !quiet && verbose == 0 && std::env::var_os("RUST_LOG").is_none() && io::stderr().is_terminal()
}

/// Progress of a bulk run: a bar (files done / total, bytes, the file
/// being worked on) when `show`, and a line on stderr for each file that
/// was refused or failed, always.
#[derive(Debug)]
pub struct BulkProgress {
    show: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    bar: Option<ProgressBar>,
    files: usize,
    done: usize,
}

impl BulkProgress {
    /// A progress reporter; draws a bar only when `show`.
    pub fn new(show: bool) -> BulkProgress {
        BulkProgress {
            show,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for BulkProgress {
    fn start(&self, files: usize, bytes: u64) {
        if !self.show || files == 0 {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>13} [{bar:28}] {binary_bytes}/{binary_total_bytes} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("0/{files} files"));
        bar.enable_steady_tick(Duration::from_millis(200));
        let mut state = self.state();
        state.files = files;
        state.bar = Some(bar.clone());
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    fn file_started(&self, input: &Path) {
        if let Some(bar) = &self.state().bar {
            bar.set_message(input.display().to_string());
        }
    }

    fn file_finished(&self, file: &FileReport, bytes: u64) {
        {
            let mut state = self.state();
            state.done += 1;
            let (done, files) = (state.done, state.files);
            if let Some(bar) = &state.bar {
                bar.inc(bytes);
                bar.set_prefix(format!("{done}/{files} files"));
            }
        }
        if matches!(file.outcome, FileOutcome::Refused | FileOutcome::Error)
            && let Some(e) = &file.error
        {
            with_stderr(|err| {
                writeln!(err, "{} {}", crate::cli::color::error_prefix(), e.message).ok()
            });
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.state().bar.take() {
            *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
            bar.finish_and_clear();
        }
    }
}
