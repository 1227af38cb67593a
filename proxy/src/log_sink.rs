//! Where log lines wait for stdout: any thread appends a whole line under a short lock,
//! one writer thread writes what has gathered in a single write(2).
//!
//! The writer wakes when the first line of a batch arrives, lets more lines gather for
//! up to [`GATHER`] (or until [`HIGH_WATER`] bytes are waiting), then writes them all.
//! Under load that is a few hundred writes a second whatever the request rate, and no
//! request thread makes a system call to log (the channel-based writer it replaces was
//! woken for, and wrote, nearly every line: at 45k API requests/s its thread took 12% of
//! the samples). Nothing is dropped: past [`CAP`] waiting bytes (stdout stalled), a
//! logging thread waits for the writer, as it did at the old channel's bound.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the first line of a batch may wait for others to join it.
pub const GATHER: Duration = Duration::from_millis(20);
/// Waiting bytes that start a write before [`GATHER`] is up.
pub const HIGH_WATER: usize = 64 * 1024;
/// Waiting bytes past which loggers wait for the writer (back-pressure, not loss).
pub const CAP: usize = 16 * 1024 * 1024;
/// Buffer capacity kept between batches (more is given back after a burst).
const KEEP_CAPACITY: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct State {
    lines: Vec<u8>,
    /// The writer sleeps until a batch starts (a line must wake it).
    idle: bool,
    /// The writer is letting a batch gather (only [`HIGH_WATER`] wakes it).
    gathering: bool,
    closing: bool,
}

#[derive(Debug, Default)]
pub struct Sink {
    state: Mutex<State>,
    /// The writer waits here.
    wake: Condvar,
    /// Loggers over [`CAP`] wait here.
    drained: Condvar,
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-append left whole lines or none: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line` (one or more whole lines) for the writer.
    pub fn append(&self, line: &[u8]) {
        let mut st = self.lock();
        while st.lines.len() >= CAP {
            if st.closing {
                // The process is exiting and the writer has stopped: nowhere to go.
                return;
            }
            st = self
                .drained
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let before = st.lines.len();
        st.lines.extend_from_slice(line);
        let wake = if st.idle {
            st.idle = false;
            true
        } else {
            st.gathering && before < HIGH_WATER && st.lines.len() >= HIGH_WATER
        };
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Asks the writer to write everything queued and stop.
    fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_one();
        self.drained.notify_all();
    }

    /// The writer thread's loop: until closed and empty.
    fn run(&self, out: &mut dyn Write) {
        let mut spare = Vec::new();
        loop {
            let mut st = self.lock();
            while st.lines.is_empty() && !st.closing {
                st.idle = true;
                st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            st.idle = false;
            let until = Instant::now() + GATHER;
            st.gathering = true;
            while !st.closing && st.lines.len() < HIGH_WATER {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                st = self
                    .wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            st.gathering = false;
            std::mem::swap(&mut st.lines, &mut spare);
            let done = st.closing && spare.is_empty();
            drop(st);
            self.drained.notify_all();
            if done {
                let _ = out.flush();
                return;
            }
            // A failed write (stdout closed, disk full) loses this batch, not the process.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
            // A burst (stdout stalled up to the cap) does not keep its memory.
            if spare.capacity() > KEEP_CAPACITY {
                spare.shrink_to(HIGH_WATER);
            }
        }
    }
}

/// The sink and its writer thread.
#[derive(Debug)]
pub struct Batched {
    sink: &'static Sink,
    writer: Option<JoinHandle<()>>,
}

impl Batched {
    /// Starts the writer thread on `out`.
    pub fn start(
        sink: &'static Sink,
        mut out: impl Write + Send + 'static,
    ) -> std::io::Result<Self> {
        let writer = std::thread::Builder::new()
            .name("agent5-log".to_owned())
            .spawn(move || sink.run(&mut out))?;
        Ok(Self {
            sink,
            writer: Some(writer),
        })
    }

    /// Writes everything queued and stops the writer (before the process exits).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.sink.close();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Batched {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `io::Write` into a sink, for `tracing_subscriber`'s formatter (which writes each
/// event with one `write_all`).
#[derive(Debug, Clone, Copy)]
pub struct SinkWriter(pub &'static Sink);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Collects what the writer writes, and how many writes it took.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Every line from every thread arrives whole, in each thread's order, in far fewer
    /// writes than lines; `finish` leaves nothing behind.
    #[test]
    fn lines_arrive_whole_in_order_and_batched() {
        let sink: &'static Sink = Box::leak(Box::default());
        let out = Collect::default();
        let batched = Batched::start(sink, out.clone()).expect("writer");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let mut w = SinkWriter(sink);
                        w.write_all(format!("{{\"t\":{t},\"i\":{i}}}\n").as_bytes())
                            .expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("logger");
        }
        batched.finish();
        let (bytes, writes) = out.0.lock().expect("collected").clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        let mut next = [0u32; 4];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("whole line");
            let t = usize::try_from(v["t"].as_u64().expect("t")).expect("index");
            assert_eq!(
                v["i"].as_u64(),
                Some(u64::from(next[t])),
                "thread {t} in order"
            );
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4]);
        assert!(writes < 2_000, "{writes} writes for 20,000 lines");
    }

    /// A stalled stdout holds loggers back at the cap; once it moves, every line is
    /// written.
    #[test]
    fn a_stalled_writer_holds_loggers_back_instead_of_dropping() {
        /// Blocks in its first write until `release` says so.
        struct Stalled(Collect, Option<std::sync::mpsc::Receiver<()>>);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if let Some(release) = self.1.take() {
                    let _ = release.recv();
                }
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink: &'static Sink = Box::leak(Box::default());
        let out = Collect::default();
        let (release, stalled) = std::sync::mpsc::channel();
        let batched = Batched::start(sink, Stalled(out.clone(), Some(stalled))).expect("writer");
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        let lines = CAP / 1024 * 2;
        let logger = std::thread::spawn(move || {
            for _ in 0..lines {
                sink.append(&line);
            }
        });
        // The writer took the first batch and is stuck writing it; the logger fills the
        // queue to the cap and must then wait.
        while sink.lock().lines.len() < CAP - 1024 {
            std::thread::yield_now();
        }
        assert!(!logger.is_finished(), "the logger waits at the cap");
        assert!(sink.lock().lines.len() <= CAP);
        release.send(()).expect("release");
        logger.join().expect("logger");
        batched.finish();
        let (bytes, _) = out.0.lock().expect("collected").clone();
        assert_eq!(bytes.len(), lines * 1024);
    }
}
