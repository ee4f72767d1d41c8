//! Where log lines go: request threads append each line to a shared
//! buffer, and a thread of its own writes the buffer out in batches, so a
//! slow terminal or pipe never holds up a request.
//!
//! tracing-appender's non-blocking writer did this with a queue of lines:
//! every line was an allocation freed on another thread, and nearly every
//! line woke the writing thread (a futex call and a context switch on the
//! request's thread, and the writer's own wake-up and back-off), about a
//! tenth of a cached API call's CPU. Here a line is one copy under a lock,
//! and the writer is woken once per batch: by the first line after it
//! last wrote, after which it waits [`BATCH_DELAY`] for more to gather.
//!
//! Memory is bounded: at most [`HELD_AT_MOST`] bytes wait to be written.
//! Past that (the output is stuck), lines are dropped and counted, and
//! the count is written as soon as the output moves again.

use std::io::Write;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long the writer lets lines gather after the first one wakes it: a
/// line reaches the output within this, plus the time to write.
pub const BATCH_DELAY: Duration = Duration::from_millis(20);

/// Bytes waiting to be written, at most.
pub const HELD_AT_MOST: usize = 4 * 1024 * 1024;

/// What the writer's buffer keeps between batches; a larger one, grown by
/// a burst, is given back.
const KEPT_CAPACITY: usize = 64 * 1024;

/// How long dropping the [`Guard`] waits for the last lines to be written.
const LAST_WRITE_WAIT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    dropped: u64,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    held: Mutex<Held>,
    wake: Condvar,
}

impl Shared {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands out the sink each log line is written to (a
/// [`tracing_subscriber::fmt::MakeWriter`]).
#[derive(Clone)]
pub struct LogWriter(Arc<Shared>);

/// Writes what is still held, then stops the writing thread, when
/// dropped (waiting at most a second for a stuck output).
pub struct Guard {
    shared: Arc<Shared>,
    done: mpsc::Receiver<()>,
}

/// Starts the thread that writes lines to `out`.
pub fn spawn(out: impl Write + Send + 'static) -> std::io::Result<(LogWriter, Guard)> {
    let shared = Arc::new(Shared::default());
    let (finished, done) = mpsc::channel();
    let theirs = shared.clone();
    std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn(move || {
            write_batches(&theirs, out);
            let _ = finished.send(());
        })?;
    Ok((LogWriter(shared.clone()), Guard { shared, done }))
}

fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::with_capacity(KEPT_CAPACITY);
    loop {
        let mut held = shared.held();
        while held.bytes.is_empty() && held.dropped == 0 && !held.stopping {
            held = shared
                .wake
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !held.stopping {
            drop(held);
            std::thread::sleep(BATCH_DELAY);
            held = shared.held();
        }
        std::mem::swap(&mut held.bytes, &mut batch);
        let dropped = std::mem::take(&mut held.dropped);
        let stopping = held.stopping;
        drop(held);
        // A log that cannot be written has nowhere to say so: what fails
        // is let go.
        let _ = out.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "{dropped} log line(s) dropped: the log output did not keep up"
            );
        }
        let _ = out.flush();
        batch.clear();
        batch.shrink_to(KEPT_CAPACITY);
        if stopping {
            return;
        }
    }
}

/// One line's way into the buffer.
pub struct Sink<'a>(&'a Shared);

impl Write for Sink<'_> {
    /// tracing-subscriber writes each formatted line in one call.
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut held = self.0.held();
        if held.bytes.len() + line.len() > HELD_AT_MOST {
            held.dropped += 1;
            return Ok(line.len());
        }
        let first = held.bytes.is_empty() && held.dropped == 0;
        held.bytes.extend_from_slice(line);
        drop(held);
        if first {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Sink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Sink(&self.0)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.held().stopping = true;
        self.shared.wake.notify_one();
        let _ = self.done.recv_timeout(LAST_WRITE_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    /// An output the test can read, and hold still.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_reach_the_output_in_order_and_all_are_written_when_the_guard_drops() {
        let output = Output::default();
        let (writer, guard) = spawn(output.clone()).unwrap();
        for i in 0..1000 {
            writer
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(output.text(), expected);
    }

    #[test]
    fn a_line_is_written_without_waiting_for_more() {
        let output = Output::default();
        let (writer, _guard) = spawn(output.clone()).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while output.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line never came");
            std::thread::yield_now();
        }
        assert_eq!(output.text(), "alone\n");
    }

    #[test]
    fn while_the_output_is_stuck_lines_past_the_bound_are_dropped_and_counted() {
        let output = Output::default();
        // The output is held still: the writer blocks on its first batch.
        let stuck = output.0.lock().unwrap();
        let (writer, guard) = spawn(output.clone()).unwrap();
        let line = vec![b'x'; 1023];
        let line = [line, b"\n".to_vec()].concat();
        writer.make_writer().write_all(&line).unwrap();
        // Wait until the writer has taken the first line out to write it.
        while !writer.0.held().bytes.is_empty() {
            std::thread::yield_now();
        }
        let fits = HELD_AT_MOST / line.len();
        for _ in 0..fits + 10 {
            writer.make_writer().write_all(&line).unwrap();
        }
        assert_eq!(writer.0.held().bytes.len(), fits * line.len());
        assert_eq!(writer.0.held().dropped, 10);
        drop(stuck);
        drop(guard);
        let text = output.text();
        assert_eq!(
            text.lines().filter(|l| l.starts_with('x')).count(),
            fits + 1
        );
        assert!(text.ends_with("10 log line(s) dropped: the log output did not keep up\n"));
    }
}
