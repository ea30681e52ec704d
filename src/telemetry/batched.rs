//! A log writer that never makes the logging thread wait on its output: a line is copied into
//! a shared buffer (a lock held for a `memcpy`), and a background thread writes what has
//! gathered every [`FLUSH_EVERY`], or sooner once [`EARLY_FLUSH_BYTES`] are waiting: one
//! `write` per batch instead of one per line, and no thread wake-up per line. When the output
//! cannot keep up and [`MAX_PENDING_BYTES`] are waiting, new lines are dropped and their number
//! is written once the output catches up.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait for its batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Waiting bytes that make the writer flush before its time.
pub const EARLY_FLUSH_BYTES: usize = 64 * 1024;
/// Waiting bytes beyond which new lines are dropped.
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    dropped: u64,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands lines to the background writer; cheap to clone.
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

/// Writes what is buffered and stops the background writer when dropped: keep it for the
/// life of the process.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Batched {
    /// Starts the background thread writing to `out`.
    pub fn new<W: Write + Send + 'static>(out: W) -> std::io::Result<(Batched, FlushGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(EARLY_FLUSH_BYTES * 2),
                ..Pending::default()
            }),
            wake: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || write_batches(&shared, out)
            })?;
        Ok((
            Batched {
                shared: Arc::clone(&shared),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    fn push(&self, line: &[u8]) {
        let mut p = self.shared.lock();
        if p.buf.len() + line.len() > MAX_PENDING_BYTES {
            p.dropped += 1;
            return;
        }
        let was_below = p.buf.len() < EARLY_FLUSH_BYTES;
        p.buf.extend_from_slice(line);
        if was_below && p.buf.len() >= EARLY_FLUSH_BYTES {
            self.shared.wake.notify_one();
        }
    }
}

/// The background thread: takes the whole buffer at once (swapping in an empty one of the
/// same capacity) and writes it outside the lock.
fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::with_capacity(EARLY_FLUSH_BYTES * 2);
    loop {
        let (dropped, closed) = {
            let mut p = shared.lock();
            if !p.closed && p.buf.len() < EARLY_FLUSH_BYTES {
                p = shared
                    .wake
                    .wait_timeout(p, FLUSH_EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut p.buf, &mut batch);
            (std::mem::take(&mut p.dropped), p.closed)
        };
        if !batch.is_empty() {
            // Nowhere to report a failing log output: the lines are lost.
            let _ = out.write_all(&batch);
            batch.clear();
        }
        if dropped > 0 {
            let _ = writeln!(
                out,
                "{dropped} log lines dropped: the log output could not keep up"
            );
        }
        let _ = out.flush();
        if closed {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One formatted line (tracing writes each event with one `write_all`).
pub struct Line<'a>(&'a Batched);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = Batched::new(sink.clone()).expect("thread");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let line = format!("t{t} line {i}\n");
                        w.make_writer().write_all(line.as_bytes()).expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            assert_eq!(mine.len(), 1000);
            for (i, l) in mine.iter().enumerate() {
                assert_eq!(*l, format!("t{t} line {i}"));
            }
        }
    }

    #[test]
    fn lines_reach_the_output_without_a_flush_from_the_logger() {
        let sink = Sink::default();
        let (writer, _guard) = Batched::new(sink.clone()).expect("thread");
        writeln!(writer.make_writer(), "soon").expect("write");
        let mut seen = false;
        for _ in 0..200 {
            if sink.0.lock().expect("sink").starts_with(b"soon\n") {
                seen = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(seen, "the background writer wrote the line by itself");
    }

    /// An output that blocks until released: lines beyond the limit are dropped, counted,
    /// and the count is written once it moves again.
    #[test]
    fn a_stuck_output_drops_new_lines_and_says_how_many() {
        #[derive(Clone)]
        struct Stuck(Sink, Arc<(Mutex<bool>, Condvar)>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let (released, cv) = &*self.1;
                let mut r = released.lock().expect("gate");
                while !*r {
                    r = cv.wait(r).expect("gate");
                }
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let (writer, guard) = Batched::new(Stuck(sink.clone(), Arc::clone(&gate))).expect("t");
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        // The first batch leaves the buffer and blocks in the output; then fill the buffer.
        writeln!(writer.make_writer(), "first").expect("write");
        std::thread::sleep(FLUSH_EVERY * 3);
        let lines = MAX_PENDING_BYTES / 1024 + 10;
        for _ in 0..lines {
            writer.make_writer().write_all(&line).expect("write");
        }
        *gate.0.lock().expect("gate") = true;
        gate.1.notify_all();
        drop(guard);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        assert!(text.starts_with("first\n"), "{}", &text[..20]);
        assert!(text.contains(" log lines dropped"), "the drop is reported");
        let kept = text.lines().filter(|l| l.len() == 1023).count();
        assert!(
            kept < lines,
            "some lines were dropped ({kept} of {lines} kept)"
        );
        assert!(kept > 0);
    }
}
