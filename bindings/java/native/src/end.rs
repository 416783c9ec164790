//! `Native.end*`: the stream end behind a `FaasinInputStream` or a
//! `FaasinOutputStream`, and what both have (open, fd, ring or not,
//! capacity, timeout, close, free): one entry point each for both kinds.
//! The wait slices of the blocking calls are cut here ([`End::blocking`]).

use crate::guard::{entry, Fail, Result};
use crate::handle::{deref_handle, free_entry, into_handle};
use crate::WAIT_SLICE;
use faasin::{Reader, Writer};
use jni::sys::{jboolean, jint, jlong};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// An open end of either kind.
pub(crate) enum Stream {
    Read(Reader),
    Write(Writer),
}

/// Runs `$body` with `$e` bound to the reader or the writer in `$stream`.
macro_rules! either {
    ($stream:expr, $e:ident => $body:expr) => {
        match $stream {
            Stream::Read($e) => $body,
            Stream::Write($e) => $body,
        }
    };
}
pub(crate) use either;

impl Stream {
    pub(crate) fn is_read(&self) -> bool {
        matches!(self, Stream::Read(_))
    }
}

struct State {
    /// `None` once closed.
    stream: Option<Stream>,
    /// The user's timeout (`setTimeout`); `None` waits forever.
    timeout: Option<Duration>,
}

/// The object behind a stream's handle. The mutex makes a Java object
/// usable from several threads; the blocking calls hold it for at most one
/// wait slice.
pub(crate) struct End {
    state: Mutex<State>,
    what: &'static str,
}

/// One wait of a blocking call.
pub(crate) struct Slice {
    /// This is the last wait the user's timeout allows.
    last: bool,
}

impl Slice {
    /// True when `e` only ends this slice (core's timeout, or a signal): the
    /// Java caller checks for interruption and calls again. On the last
    /// slice core's `TimedOut` is the user's timeout, and goes to Java.
    pub(crate) fn retries(&self, e: &io::Error) -> bool {
        match e.kind() {
            io::ErrorKind::Interrupted => true,
            io::ErrorKind::TimedOut => !self.last,
            _ => false,
        }
    }
}

impl End {
    pub(crate) fn boxed(stream: Stream) -> jlong {
        let what = if stream.is_read() {
            "FAASIN input stream"
        } else {
            "FAASIN output stream"
        };
        into_handle(End {
            state: Mutex::new(State {
                stream: Some(stream),
                timeout: None,
            }),
            what,
        })
    }

    /// The end behind a handle from Java.
    pub(crate) fn get<'a>(h: jlong) -> Result<&'a End> {
        // SAFETY: Java passes the handle of a reachable FaasinInputStream
        // or FaasinOutputStream (handle module docs).
        unsafe { deref_handle(h) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while locked (already reported to Java) leaves the end in
        // a state that core keeps memory-safe; go on using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open<'s>(&self, st: &'s mut State) -> Result<&'s mut Stream> {
        st.stream.as_mut().ok_or(Fail::Closed(self.what))
    }

    /// Runs `f` on the open end, or fails with "... closed".
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Stream) -> Result<R>) -> Result<R> {
        f(self.open(&mut self.lock())?)
    }

    /// Runs one wait slice of a blocking call: core's timeout is set to the
    /// slice, or to what is left of the user's timeout after `waited` (how
    /// long the Java call has waited so far) when that is shorter.
    pub(crate) fn blocking<R>(
        &self,
        waited: jlong,
        f: impl FnOnce(&mut Stream, &Slice) -> Result<R>,
    ) -> Result<R> {
        let mut st = self.lock();
        let (wait, last) = match st.timeout {
            None => (WAIT_SLICE, false),
            Some(t) => {
                let left = t.saturating_sub(Duration::from_nanos(waited.max(0) as u64));
                (left.min(WAIT_SLICE), left <= WAIT_SLICE)
            }
        };
        let stream = self.open(&mut st)?;
        either!(&mut *stream, e => e.set_timeout(Some(wait)));
        f(stream, &Slice { last })
    }

    /// The error for an entry point of the other kind of end.
    pub(crate) fn wrong_kind(&self) -> Fail {
        Fail::State(format!("not a handle of a {}", self.what))
    }
}

/// Opens `fd` as a stream end (a FAASIN endpoint, or any fd for the plain
/// fallback) and returns its handle.
pub(crate) fn open(fd: OwnedFd, write: bool) -> Result<jlong> {
    let stream = if write {
        Stream::Write(Writer::from_fd(fd)?)
    } else {
        Stream::Read(Reader::from_fd(fd)?)
    };
    Ok(End::boxed(stream))
}

/// Duplicates an fd the Java caller owns (close-on-exec), so that opening
/// a stream end from it leaves the caller's fd to the caller.
fn dup_fd(fd: jint) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any int is safe: a bad fd gives EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        let e = io::Error::last_os_error();
        // EBADF is the caller's bad fd: InvalidInput, as core reports a
        // wrong-role fd (both become FaasinBadFdException).
        let kind = match e.raw_os_error() {
            Some(libc::EBADF) => io::ErrorKind::InvalidInput,
            _ => e.kind(),
        };
        return Err(io::Error::new(
            kind,
            format!("fd {fd} cannot be opened as a FAASIN stream end: {e}"),
        ));
    }
    // SAFETY: fcntl just made this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

entry! {
    /// The function's own input (`write` false) or output stream.
    fn Java_io_faasin_Native_endOpen(write: jboolean) -> jlong = 0 => |_| {
        let stream = if write != 0 {
            Stream::Write(faasin::output()?)
        } else {
            Stream::Read(faasin::input()?)
        };
        Ok(End::boxed(stream))
    }
}

entry! {
    /// Opens a duplicate of the caller's `fd` as a read or write end.
    fn Java_io_faasin_Native_endFromFd(fd: jint, write: jboolean) -> jlong = 0 => |_| {
        open(dup_fd(fd)?, write != 0)
    }
}

entry! {
    fn Java_io_faasin_Native_endFd(h: jlong) -> jint = -1 => |_| {
        End::get(h)?.with(|s| Ok(either!(s, e => e.as_raw_fd())))
    }
}

entry! {
    fn Java_io_faasin_Native_endIsRing(h: jlong) -> jboolean = 0 => |_| {
        End::get(h)?.with(|s| Ok(either!(s, e => e.is_ring()) as jboolean))
    }
}

entry! {
    /// The ring capacity, or -1 for the plain-fd fallback.
    fn Java_io_faasin_Native_endCapacity(h: jlong) -> jlong = -1 => |_| {
        End::get(h)?.with(|s| Ok(either!(s, e => e.capacity()).map_or(-1, |c| c as jlong)))
    }
}

entry! {
    /// Sets the user's timeout of blocking calls; `nanos` <= 0 waits forever.
    fn Java_io_faasin_Native_endSetTimeout(h: jlong, nanos: jlong) -> () = () => |_| {
        let end = End::get(h)?;
        let mut st = end.lock();
        end.open(&mut st)?;
        st.timeout = (nanos > 0).then(|| Duration::from_nanos(nanos as u64));
        Ok(())
    }
}

entry! {
    /// Closes the end: a writer sees `BrokenPipe`, a reader EOF after every
    /// committed byte. A second close is a no-op.
    fn Java_io_faasin_Native_endClose(h: jlong) -> () = () => |_| {
        let stream = End::get(h)?.lock().stream.take();
        if let Some(s) = stream {
            either!(s, e => e.close())?;
        }
        Ok(())
    }
}

free_entry!(
    /// Frees an end, from the Cleaner of its unreachable Java stream.
    Java_io_faasin_Native_endFree,
    End
);
