//! Where log lines go: stderr, gathered in a buffer that is written out when it fills, every
//! [`FLUSH_EVERY`], at once for warnings and errors, before a panic's message, and when the
//! [`LogGuard`] is dropped.
//!
//! Why: every request logs one line, and writing each line straight to stderr was one system
//! call per request (the most frequent one beside the socket's; bench/README.md, run 11).
//! Access logs of busy servers are buffered the same way (nginx's `buffer=`/`flush=`); a
//! request's line appears at most [`FLUSH_EVERY`] late, and what goes wrong is never held back.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Buffered lines are written out once they reach this many bytes (about 150 request lines).
const FLUSH_AT: usize = 32 * 1024;

/// The longest a buffered line waits before it is written out.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Log lines on their way to a sink (stderr in the server); cheap to clone.
#[derive(Clone)]
pub struct LogBuffer {
    shared: Arc<Shared>,
}

struct Shared {
    /// The pending bytes and the sink, under one lock, so lines reach the sink in order.
    out: Mutex<Out>,
    stopped: AtomicBool,
}

struct Out {
    pending: Vec<u8>,
    sink: Box<dyn Write + Send>,
}

impl Out {
    /// Writes the pending bytes to the sink. A sink that fails loses them: logging must
    /// never fail a request.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.sink.write_all(&self.pending);
            let _ = self.sink.flush();
            self.pending.clear();
        }
    }
}

/// Flushes the buffer for good when dropped (keep it until the program's last log line).
#[must_use = "dropping the guard flushes the log and stops its flushing thread"]
pub struct LogGuard {
    buffer: LogBuffer,
}

impl LogBuffer {
    /// A buffer writing to `sink`, with a thread that flushes it every [`FLUSH_EVERY`] until
    /// the returned guard is dropped.
    pub fn start(sink: Box<dyn Write + Send>) -> io::Result<(Self, LogGuard)> {
        let buffer = Self {
            shared: Arc::new(Shared {
                out: Mutex::new(Out {
                    pending: Vec::with_capacity(FLUSH_AT * 2),
                    sink,
                }),
                stopped: AtomicBool::new(false),
            }),
        };
        let ticking = buffer.clone();
        std::thread::Builder::new()
            .name("log-flush".to_string())
            .spawn(move || {
                while !ticking.shared.stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(FLUSH_EVERY);
                    ticking.flush();
                }
            })?;
        let guard = LogGuard {
            buffer: buffer.clone(),
        };
        Ok((buffer, guard))
    }

    /// Writes out everything buffered so far.
    pub fn flush(&self) {
        self.out().flush();
    }

    /// [`flush`](Self::flush) unless another thread is writing (a panic's hook must not
    /// wait on a lock its own thread may hold).
    pub fn try_flush(&self) {
        if let Ok(mut out) = self.shared.out.try_lock() {
            out.flush();
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        // A panic while holding the lock leaves at worst a partial line: keep logging.
        self.shared
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.buffer.shared.stopped.store(true, Ordering::Relaxed);
        self.buffer.flush();
    }
}

/// One event's writer: `urgent` ones (warnings, errors) are written out at once, with
/// everything before them.
pub struct LineWriter<'a> {
    buffer: &'a LogBuffer,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut out = self.buffer.out();
        out.pending.extend_from_slice(bytes);
        if self.urgent || out.pending.len() >= FLUSH_AT {
            out.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buffer: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            buffer: self,
            // Levels compare by verbosity: WARN and ERROR are the ones at or below WARN.
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Shown(Arc<Mutex<Vec<u8>>>);

    impl Write for Shown {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shown {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Runs `log` with a subscriber writing plain lines into a buffer over `shown`.
    fn with_buffer(shown: &Shown, log: impl FnOnce(&LogBuffer)) -> LogGuard {
        let (buffer, guard) = LogBuffer::start(Box::new(shown.clone())).unwrap();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(buffer.clone())
                .with_ansi(false)
                .without_time(),
        );
        tracing::subscriber::with_default(subscriber, || log(&buffer));
        guard
    }

    #[test]
    fn lines_wait_until_the_buffer_fills_or_the_guard_goes() {
        let shown = Shown::default();
        let guard = with_buffer(&shown, |_| {
            tracing::info!(n = 1, "request");
            tracing::info!(n = 2, "request");
        });
        assert_eq!(shown.text(), "", "written before a flush");
        drop(guard);
        let text = shown.text();
        assert!(
            text.contains("n=1") && text.find("n=1") < text.find("n=2"),
            "{text}"
        );

        // A full buffer is written out without waiting.
        let shown = Shown::default();
        let _guard = with_buffer(&shown, |_| {
            let line = "x".repeat(200);
            for _ in 0..(FLUSH_AT / 200 + 1) {
                tracing::info!(%line, "request");
            }
        });
        assert!(shown.text().len() >= FLUSH_AT, "{}", shown.text().len());
    }

    #[test]
    fn warnings_and_errors_go_out_at_once_after_what_came_before() {
        let shown = Shown::default();
        let _guard = with_buffer(&shown, |_| {
            tracing::info!("first");
            tracing::warn!("second");
            let after_warning = shown.text();
            assert!(after_warning.contains("first"), "{after_warning}");
            assert!(after_warning.contains("second"), "{after_warning}");
            assert!(after_warning.find("first") < after_warning.find("second"));
            tracing::info!("third");
            assert!(!shown.text().contains("third"));
            tracing::error!("fourth");
            assert!(shown.text().contains("third") && shown.text().contains("fourth"));
        });
    }

    #[test]
    fn the_flushing_thread_writes_lines_out_within_its_period() {
        let shown = Shown::default();
        let _guard = with_buffer(&shown, |_| tracing::info!("waiting"));
        let deadline = std::time::Instant::now() + FLUSH_EVERY * 50;
        while !shown.text().contains("waiting") {
            assert!(
                std::time::Instant::now() < deadline,
                "never flushed by the thread"
            );
            std::thread::sleep(FLUSH_EVERY / 4);
        }
    }
}
