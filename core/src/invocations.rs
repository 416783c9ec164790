//! Warm functions: one process that serves many invocations, as a platform
//! keeps a function's container warm between calls.
//!
//! ```no_run
//! use std::io::{BufRead, Write};
//! for inv in faasin::invocations() {
//!     let mut inv = inv?;
//!     let mut n = 0;
//!     loop {
//!         let len = inv.input.fill_buf()?.len();
//!         if len == 0 { break; }
//!         inv.input.consume(len);
//!         n += len;
//!     }
//!     writeln!(inv.output, "{n} bytes")?;
//!     inv.finish(format!("{{\"bytes\": {n}}}").as_bytes())?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Started by `faasin run --warm N`, the loop runs N times, each time with
//! fresh streams handed over the handoff socket ([`crate::handoff`]), and
//! the invocation's parameters if the runner gives any
//! ([`Invocation::params`]). Started any other way (a one-shot chain, a
//! test), it runs once, on [`crate::input`] and [`crate::output`] with the
//! parameters of [`crate::params`], and `finish` prints the return value on
//! stdout, so the same function serves both.

use crate::handoff::{self, Reuse};
use crate::kept::Slot;
use crate::{Reader, Writer};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Env variable that makes [`invocations`] ask the handoff socket for one
/// invocation after another (set by `faasin run --warm`). `1`: a new
/// connection per invocation; [`WARM_STAYS`]: the next invocation comes on
/// the connection that carried the last return value.
pub const ENV_WARM: &str = "FAASIN_WARM";

/// The [`ENV_WARM`] value of a runner that keeps each warm function's
/// connection from one invocation to the next (see [`crate::handoff`]).
pub const WARM_STAYS: &str = "2";

/// Where a finished invocation leaves its connection for the next request.
type Kept = Arc<Mutex<Option<OwnedFd>>>;

/// One invocation's streams, and its parameters.
#[derive(Debug)]
pub struct Invocation {
    pub input: Reader,
    pub output: Writer,
    done: Completion,
}

impl Invocation {
    /// The parameters the runner gave this invocation (UTF-8, JSON by
    /// convention); `None` if it gave none. Not started warm, they are
    /// [`crate::params`].
    pub fn params(&self) -> Option<&str> {
        self.done.params()
    }

    /// Ends the invocation: closes both streams (the next function sees end
    /// of file), then hands `value` to the runner as the return value.
    /// An invocation dropped without `finish` is reported to a warm runner
    /// as broken off.
    pub fn finish(self, value: &[u8]) -> io::Result<()> {
        let (input, output, done) = self.into_parts();
        input.close()?;
        output.close()?;
        done.finish(value)
    }

    /// The streams and what finishes the invocation, apart (for bindings
    /// whose streams live in objects of their own); the parameters go with
    /// the [`Completion`]. Close both streams before [`Completion::finish`].
    pub fn into_parts(self) -> (Reader, Writer, Completion) {
        (self.input, self.output, self.done)
    }
}

/// Hands an invocation's return value to the runner; see
/// [`Invocation::into_parts`].
#[derive(Debug)]
pub struct Completion {
    /// Where the return value goes when warm; stdout otherwise.
    conn: Option<OwnedFd>,
    /// Where `conn` waits for the next invocation, if the runner keeps it.
    kept: Option<Kept>,
    /// Where this invocation's input and output ends are kept, if they are
    /// (see `kept`): the return value says whether they can restart.
    slots: [Arc<Slot>; 2],
    params: Option<String>,
}

impl Completion {
    /// The invocation's parameters, as [`Invocation::params`].
    pub fn params(&self) -> Option<&str> {
        self.params.as_deref()
    }

    /// Sends `value` as the return value: on the invocation's connection
    /// when warm, on stdout otherwise. Dropped unsent, the invocation is
    /// reported to a warm runner as broken off.
    pub fn finish(self, value: &[u8]) -> io::Result<()> {
        match (self.conn, self.kept) {
            (Some(c), Some(kept)) => {
                if self.slots.iter().all(|s| s.restartable()) {
                    handoff::send_result_restartable(c.as_fd(), value)?;
                } else {
                    handoff::send_result_and_stay(c.as_fd(), value)?;
                }
                *kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
                Ok(())
            }
            (Some(c), None) => handoff::send_result(c, value),
            (None, _) => {
                let mut out = io::stdout().lock();
                out.write_all(value)?;
                out.flush()
            }
        }
    }
}

enum State {
    Once,
    Warm {
        socket: PathBuf,
        token: String,
        /// Set when the runner keeps connections: the last one, once its
        /// invocation finished.
        kept: Option<Kept>,
    },
    Failed(io::Error),
    Done,
}

/// The invocations this process serves; see the module documentation.
pub struct Invocations {
    state: State,
    /// The spin budgets of the last invocation's read and write ends, for
    /// the next one's (see `SpinBudget::share`).
    budgets: [Arc<AtomicU64>; 2],
    /// Where the input and output ends are kept between invocations when
    /// the runner asks (see `kept`).
    slots: [Arc<Slot>; 2],
}

/// The invocations this process serves: many when the runner started it
/// warm (`FAASIN_WARM` with `FAASIN_SOCKET`), else exactly one.
pub fn invocations() -> Invocations {
    let warm_var = std::env::var_os(ENV_WARM);
    let warm = warm_var.as_ref().is_some_and(|v| !v.is_empty() && v != "0");
    let state = match (warm, std::env::var_os(handoff::ENV_SOCKET)) {
        (false, _) => State::Once,
        (true, Some(socket)) => {
            // Each invocation's streams come on the same ring memory as the
            // last one's (the runner keeps it): keep their mappings too.
            crate::mapping::keep_mappings();
            State::Warm {
                socket: socket.into(),
                token: std::env::var(handoff::ENV_TOKEN).unwrap_or_default(),
                kept: (warm_var.is_some_and(|v| v == WARM_STAYS)).then(Kept::default),
            }
        }
        (true, None) => State::Failed(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{ENV_WARM} is set but {} is not: a warm function gets its invocations from the runner's handoff socket",
                handoff::ENV_SOCKET
            ),
        )),
    };
    Invocations {
        state,
        budgets: Default::default(),
        slots: [Slot::new(), Slot::new()],
    }
}

impl Iterator for Invocations {
    type Item = io::Result<Invocation>;

    /// The next invocation; after an error, the iteration ends.
    fn next(&mut self) -> Option<io::Result<Invocation>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => None,
            State::Failed(e) => Some(Err(e)),
            State::Once => Some(crate::input().and_then(|input| {
                Ok(Invocation {
                    input,
                    output: crate::output()?,
                    done: Completion {
                        conn: None,
                        kept: None,
                        slots: self.slots.clone(),
                        params: crate::params(),
                    },
                })
            })),
            State::Warm {
                socket,
                token,
                kept,
            } => {
                // The last invocation's connection, if it finished and the
                // runner keeps connections; else a new one.
                let last = kept
                    .as_ref()
                    .and_then(|k| k.lock().unwrap_or_else(|p| p.into_inner()).take());
                let asked = match last {
                    Some(conn) => handoff::next_invocation(conn),
                    None => handoff::request_invocation(&socket, &token),
                };
                let (streams, conn) = match asked {
                    Ok(Some(granted)) => granted,
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                };
                // A fresh end gets a fresh slot: an end of the last
                // invocation still open gives its ring back to its own.
                for (slot, reuse) in self.slots.iter_mut().zip(streams.reuse) {
                    if reuse != Reuse::Restart {
                        *slot = Slot::new();
                    }
                }
                let [in_slot, out_slot] = self.slots.clone();
                let [in_reuse, out_reuse] = streams.reuse;
                let inv = (|| {
                    let mut input = Reader::granted(streams.input, in_reuse, in_slot)?;
                    let mut output = Writer::granted(streams.output, out_reuse, out_slot)?;
                    input.share_spin_budget(Arc::clone(&self.budgets[0]));
                    output.share_spin_budget(Arc::clone(&self.budgets[1]));
                    Ok(Invocation {
                        input,
                        output,
                        done: Completion {
                            conn: Some(conn),
                            kept: kept.clone(),
                            slots: self.slots.clone(),
                            params: streams.params,
                        },
                    })
                })();
                if inv.is_ok() {
                    self.state = State::Warm {
                        socket,
                        token,
                        kept,
                    };
                }
                Some(inv)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    /// A runner's side in a thread: serves a request per payload with a
    /// fresh ring pair each and the parameters that go with the payload,
    /// feeds the payload and collects the output and the return value, then
    /// answers END. With `stays`, the function must wait on its connection
    /// for the next reply (`FAASIN_WARM=2`), and is accepted once; without,
    /// it must connect for every request.
    fn serve(
        listener: OwnedFd,
        payloads: Vec<(Vec<u8>, &'static str)>,
        stays: bool,
    ) -> std::thread::JoinHandle<Vec<(Vec<u8>, Vec<u8>)>> {
        let accept = move |listener: &OwnedFd| {
            let conn = handoff::accept(listener.as_fd()).unwrap();
            assert_eq!(
                handoff::read_request(conn.as_fd(), std::time::Duration::from_secs(5)).unwrap(),
                "tok"
            );
            conn
        };
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut last: Option<OwnedFd> = None;
            for (p, params) in payloads {
                let conn = match last.take() {
                    Some(c) => c,
                    None => accept(&listener),
                };
                let (in_r, in_w) = crate::pipe_fds(4096).unwrap();
                let (out_r, out_w) = crate::pipe_fds(4096).unwrap();
                handoff::grant(
                    conn.as_fd(),
                    Some(in_r.as_fd()),
                    Some(out_w.as_fd()),
                    params.as_bytes(),
                )
                .unwrap();
                drop((in_r, out_w));
                let mut w = Writer::from_fd(in_w).unwrap();
                w.write_all(&p).unwrap();
                drop(w);
                let mut out = Vec::new();
                Reader::from_fd(out_r)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                let ret = handoff::read_result(conn.as_fd(), 1 << 20).unwrap();
                assert!(!ret.cut);
                assert_eq!(ret.stays, stays, "the function's end marker");
                if ret.stays {
                    last = Some(conn);
                }
                got.push((out, ret.value));
            }
            let conn = match last.take() {
                Some(c) => c,
                None => accept(&listener),
            };
            handoff::end(conn.as_fd()).unwrap();
            got
        })
    }

    /// A listening handoff socket in a fresh directory (removed by the
    /// caller), and the warm iteration that asks it.
    fn warm(tag: &str, stays: bool) -> (PathBuf, OwnedFd, Invocations) {
        let dir = std::env::temp_dir().join(format!("faasin-warm-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.sock");
        let listener = handoff::listen(&path).unwrap();
        let it = Invocations {
            state: State::Warm {
                socket: path,
                token: "tok".into(),
                kept: stays.then(Kept::default),
            },
            budgets: Default::default(),
            slots: [Slot::new(), Slot::new()],
        };
        (dir, listener, it)
    }

    #[test]
    fn a_warm_function_serves_invocations_until_the_runner_says_end() {
        for stays in [false, true] {
            serve_three(stays);
        }
    }

    fn serve_three(stays: bool) {
        let (dir, listener, mut it) = warm(&format!("serve-{stays}"), stays);
        // Larger than a ring and than one result message.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let payloads = vec![
            (b"abc".to_vec(), ""),
            (vec![], "{\"query\": {\"q\": \"ä\"}}"),
            (big.clone(), "x"),
        ];
        let server = serve(listener, payloads, stays);
        let mut served = 0;
        let mut params = Vec::new();
        for inv in &mut it {
            let mut inv = inv.unwrap();
            params.push(inv.params().map(str::to_owned));
            let mut data = Vec::new();
            inv.input.read_to_end(&mut data).unwrap();
            inv.output.write_all(&data).unwrap();
            let ret = format!("{{\"n\": {}}}", data.len()).repeat(5000);
            inv.finish(ret.as_bytes()).unwrap();
            served += 1;
        }
        assert_eq!(served, 3);
        assert_eq!(
            params,
            [
                None,
                Some("{\"query\": {\"q\": \"ä\"}}".into()),
                Some("x".into())
            ]
        );
        assert!(it.next().is_none(), "stays ended");
        let got = server.join().unwrap();
        assert_eq!(got[0].0, b"abc");
        assert!(got[1].0.is_empty());
        assert_eq!(got[2].0, big);
        assert_eq!(got[2].1, "{\"n\": 100000}".repeat(5000).into_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_invocation_dropped_without_finish_is_reported_as_broken_off() {
        let (dir, listener, mut it) = warm("drop", true);
        let t = std::thread::spawn(move || {
            let conn = handoff::accept(listener.as_fd()).unwrap();
            handoff::read_request(conn.as_fd(), std::time::Duration::from_secs(5)).unwrap();
            let (in_r, _in_w) = crate::pipe_fds(4096).unwrap();
            let (_out_r, out_w) = crate::pipe_fds(4096).unwrap();
            handoff::grant(conn.as_fd(), Some(in_r.as_fd()), Some(out_w.as_fd()), b"").unwrap();
            let broken = handoff::read_result(conn.as_fd(), 1024);
            // Nothing stays on a connection whose invocation broke off: the
            // function asks again on a new one.
            let again = handoff::accept(listener.as_fd()).unwrap();
            handoff::read_request(again.as_fd(), std::time::Duration::from_secs(5)).unwrap();
            handoff::end(again.as_fd()).unwrap();
            broken
        });
        drop(it.next().unwrap().unwrap());
        assert!(it.next().is_none(), "END on the new connection");
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_runner_that_goes_away_ends_the_iteration_with_an_error() {
        let (dir, listener, mut it) = warm("gone", true);
        let t = std::thread::spawn(move || {
            let conn = handoff::accept(listener.as_fd()).unwrap();
            handoff::read_request(conn.as_fd(), std::time::Duration::from_secs(5)).unwrap();
            // Closes without answering.
        });
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted, "{e}");
        assert!(it.next().is_none());
        t.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
