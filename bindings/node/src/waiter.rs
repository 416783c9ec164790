//! Readiness waiting off the event loop.
//!
//! napi has no uv_poll, so each end that ever had to wait gets one thread
//! that blocks in poll(2) on the end's fd and, when it turns ready, calls a JS
//! function through a threadsafe function (a uv_async under the hood). The
//! thread sleeps on a condvar between waits, and an eventfd stops it while
//! it is inside poll, so closing an end never waits on the peer.
//!
//! The threadsafe function keeps the event loop alive only while a wait is
//! armed (like a libuv handle with a pending read), so an idle end never
//! holds a process open.

use napi::threadsafe_function::{
    ErrorStrategy, ThreadSafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, JsFunction};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    armed: bool,
    stop: bool,
    /// When the armed wait gives up.
    deadline: Option<Instant>,
    /// The last wait ran out of time rather than seeing the fd ready.
    timed_out: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    /// Written once to pull the thread out of poll(2) when the end closes.
    stop_fd: OwnedFd,
}

pub struct Waiter {
    shared: Arc<Shared>,
    tsfn: Option<ThreadsafeFunction<(), ErrorStrategy::CalleeHandled>>,
    thread: Option<JoinHandle<()>>,
}

type RawTsfn = napi::sys::napi_threadsafe_function;

impl Waiter {
    /// A waiter that polls `fd` for `events` and calls `callback` (with no
    /// useful argument) each time a wait it was armed for completes.
    ///
    /// The caller must keep `fd` open until this waiter is dropped or
    /// [`Waiter::stop`]ped: the thread polls it by number.
    pub fn new(env: &Env, callback: &JsFunction, fd: RawFd, events: i16) -> napi::Result<Waiter> {
        // SAFETY: eventfd has no memory arguments; a negative result is an error.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io_to_napi(io::Error::last_os_error()));
        }
        // SAFETY: eventfd just returned this fd, and nothing else owns it.
        let stop_fd = unsafe { OwnedFd::from_raw_fd(efd) };
        // The call_js callback drops the loop reference that `arm` took; it
        // needs the raw handle, known only after creation.
        let raw: Arc<AtomicPtr<napi::sys::napi_threadsafe_function__>> =
            Arc::new(AtomicPtr::new(std::ptr::null_mut()));
        let raw_cb = raw.clone();
        let tsfn =
            env.create_threadsafe_function(callback, 0, move |ctx: ThreadSafeCallContext<()>| {
                let t: RawTsfn = raw_cb.load(Ordering::Acquire);
                if !t.is_null() {
                    // SAFETY: on the JS thread (call_js), with a live tsfn
                    // (calls are dropped once it is aborted); uv_unref is
                    // idempotent, so a stale call is harmless.
                    unsafe { napi::sys::napi_unref_threadsafe_function(ctx.env.raw(), t) };
                }
                Ok(Vec::<()>::new())
            })?;
        // Release: pairs with the Acquire load in the call_js callback above.
        raw.store(tsfn.raw(), Ordering::Release);
        // SAFETY: on the JS thread with a live tsfn; idle until armed.
        unsafe { napi::sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) };

        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            stop_fd,
        });
        let t_shared = shared.clone();
        let t_tsfn = tsfn.clone();
        let thread = std::thread::Builder::new()
            .name("faasin-wait".into())
            .spawn(move || run(&t_shared, &t_tsfn, fd, events))
            .map_err(io_to_napi)?;
        Ok(Waiter {
            shared,
            tsfn: Some(tsfn),
            thread: Some(thread),
        })
    }

    /// Starts one wait: the callback runs once the fd is ready, or once
    /// `timeout` has passed. Call it only after the operation failed with
    /// WouldBlock (that armed the ring's doorbell), never twice before the
    /// callback ran.
    pub fn arm(&self, env: &Env, timeout: Option<Duration>) {
        if let Some(t) = &self.tsfn {
            // SAFETY: on the JS thread with a live (not yet aborted) tsfn.
            unsafe { napi::sys::napi_ref_threadsafe_function(env.raw(), t.raw()) };
        }
        let mut s = lock(&self.shared.state);
        s.armed = true;
        s.deadline = timeout.map(|t| Instant::now() + t);
        s.timed_out = false;
        self.shared.cv.notify_one();
    }

    /// True once after a wait that ran out of time.
    pub fn take_timed_out(&self) -> bool {
        std::mem::take(&mut lock(&self.shared.state).timed_out)
    }

    /// Stops and joins the thread; afterwards the fd may be closed.
    pub fn stop(&mut self) {
        {
            let mut s = lock(&self.shared.state);
            s.stop = true;
            self.shared.cv.notify_one();
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe {
            libc::write(
                self.shared.stop_fd.as_raw_fd(),
                (&one as *const u64).cast(),
                8,
            )
        };
        if let Some(t) = self.thread.take() {
            // The thread only blocks in poll (which the eventfd ends) or on
            // the condvar (which `stop` ends), so this join is short.
            let _ = t.join();
        }
        if let Some(t) = self.tsfn.take() {
            // Abort drops a callback still queued for an end that is gone.
            let _ = t.abort();
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // The state is flags and a deadline, valid whatever a panicking holder
    // did.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run(
    shared: &Shared,
    tsfn: &ThreadsafeFunction<(), ErrorStrategy::CalleeHandled>,
    fd: RawFd,
    events: i16,
) {
    loop {
        let deadline = {
            let mut s = lock(&shared.state);
            while !s.armed && !s.stop {
                s = shared.cv.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.stop {
                return;
            }
            s.armed = false;
            s.deadline
        };
        let mut fds = [
            libc::pollfd {
                fd,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: shared.stop_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            let ms = deadline.map_or(-1, |d| {
                // Rounded up: a wait must not end before its timeout.
                let left = d.saturating_duration_since(Instant::now());
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            });
            // SAFETY: `fds` is a live array of two pollfd structs.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if r == 0 {
                lock(&shared.state).timed_out = true;
                break;
            }
            if r > 0 {
                break;
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // poll itself failed (not the fd: that shows in revents);
                // wake JS anyway, whose retry reports the real state.
                break;
            }
        }
        if fds[1].revents != 0 {
            return;
        }
        tsfn.call(Ok(()), ThreadsafeFunctionCallMode::NonBlocking);
    }
}

fn io_to_napi(e: io::Error) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, e.to_string())
}
