//! The read end.

use crate::copy;
use crate::end::{shared_end_api, End, Inner};
use crate::endpoint::Role;
use crate::ring::{Consumer, Side};
use crate::sysfd;
use crate::wait::Touch;
use std::io::{self, BufRead, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Size of the buffer used when the fd is not a FAASIN endpoint.
const FALLBACK_BUF: usize = 64 * 1024;

/// The read end of a stream: a FAASIN ring, or any other readable fd.
///
/// Implements [`Read`] and [`BufRead`]; [`BufRead::fill_buf`] is the
/// zero-copy borrow: it returns the readable bytes as one contiguous slice
/// that points straight into the ring, and [`BufRead::consume`] (or
/// [`Reader::release`]) gives bytes back to the writer. As with any
/// `BufRead`, a span not yet consumed is returned again as it was: the
/// ring is looked at anew once it is used up, so bytes the writer added
/// meanwhile come with a later call.
pub struct Reader {
    end: End<Consumer, Unread>,
    /// Bytes handed out by the last `fill_buf` and not yet released.
    borrowed: usize,
}

/// The unread part of the fallback buffer: `pos..end`.
#[derive(Default)]
struct Unread {
    pos: usize,
    end: usize,
}

shared_end_api!(
    Reader,
    /// In non-blocking mode a read that would wait fails with `WouldBlock`
    /// instead, and that failure arms readiness: the fd ([`AsFd`]) then polls
    /// readable (POLLIN) once data or EOF arrives. So, as with edge-triggered
    /// epoll, always try the read first and poll only after `WouldBlock`; a
    /// readable fd may also be a stale wake-up, after which the read simply
    /// fails with `WouldBlock` again.
    set_nonblocking;
    /// In non-blocking mode, a read that finds the ring empty first spins
    /// like a blocking one (within the same adaptive budget, see
    /// [`Reader::set_spin`]) and fails with `WouldBlock` only if nothing
    /// came. Off by default. For event loops: there `WouldBlock` starts a
    /// readiness round trip through the kernel and back (a thread wake-up
    /// or two), far dearer than the microseconds in which a streaming
    /// writer usually ends the wait. The call then holds its thread for at
    /// most the spin budget; the time until the next call tunes the budget
    /// as a sleep does for a blocking read.
    set_nonblocking_spin;
    /// A blocking read that waits longer than `timeout` fails with
    /// `TimedOut` (like `SO_RCVTIMEO`), on a ring and on a plain fd (a pipe
    /// or socket; a regular file never waits). `None`, the default, waits
    /// forever.
    set_timeout;
);

impl Reader {
    /// Opens the read end from an fd: a FAASIN endpoint (whose hello is
    /// taken off it here), or any other fd, used with plain `read(2)`.
    ///
    /// Errors: `InvalidInput` if the fd is the write end of a FAASIN stream,
    /// `InvalidData` if the endpoint or its ring is malformed. The fd is
    /// closed on error, but a wrong-role refusal takes nothing off the socket:
    /// a duplicate of the fd (made before the call) still opens as the other
    /// end (the Python and Node bindings open through such a duplicate).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Reader> {
        Ok(Reader {
            end: End::open(fd, Role::Reader, FALLBACK_BUF)?,
            borrowed: 0,
        })
    }

    /// The input end a warm function was granted (see `End::granted`).
    pub(crate) fn granted(
        fd: Option<OwnedFd>,
        reuse: crate::handoff::Reuse,
        slot: std::sync::Arc<crate::kept::Slot>,
    ) -> io::Result<Reader> {
        Ok(Reader {
            end: End::granted(fd, reuse, (Role::Reader, FALLBACK_BUF), slot, "input")?,
            borrowed: 0,
        })
    }

    /// Bytes that can be read now without waiting.
    pub fn available(&mut self) -> io::Result<usize> {
        match &mut self.end.inner {
            Inner::Ring(r) => Ok(r.link.side.refresh(r.map.header())? as usize),
            Inner::Fd(f) => Ok(f.rest.end - f.rest.pos + sysfd::bytes_readable(f.fd.as_fd())),
        }
    }

    /// Gives `n` bytes of the last [`BufRead::fill_buf`] back to the writer.
    /// Unlike `consume`, an `n` beyond what was borrowed is an error.
    #[inline]
    pub fn release(&mut self, n: usize) -> io::Result<()> {
        self.unborrow(n)?;
        match &mut self.end.inner {
            Inner::Ring(r) => r.link.publish(r.map.header(), n as u64),
            Inner::Fd(f) => f.rest.pos += n,
        }
        Ok(())
    }

    /// Gives `n` bytes of the last [`BufRead::fill_buf`] back like
    /// [`Reader::release`], but without looking whether the writer sleeps:
    /// a spinning writer sees the space at once, a sleeping one is not woken.
    /// For copying a long span out piece by piece so that the writer refills
    /// behind the copy (as `read` does) without a wake-up per piece. The
    /// caller must give back the span's last bytes with `release` or
    /// `consume` (of at least one byte), which wakes a sleeping writer,
    /// before it waits or returns.
    pub fn release_quietly(&mut self, n: usize) -> io::Result<()> {
        self.unborrow(n)?;
        match &mut self.end.inner {
            Inner::Ring(r) => r.link.side.publish_quietly(r.map.header(), n as u64),
            Inner::Fd(f) => f.rest.pos += n,
        }
        Ok(())
    }

    /// Ends the borrow of `n` bytes; more than were borrowed is an error.
    #[inline]
    fn unborrow(&mut self, n: usize) -> io::Result<()> {
        if n > self.borrowed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "release of {n} bytes, but only {} are borrowed",
                    self.borrowed
                ),
            ));
        }
        self.borrowed -= n;
        Ok(())
    }

    /// Closes the end: the writer's next write fails with `BrokenPipe`, and a
    /// writer blocked for space is woken at once. Dropping does the same.
    pub fn close(self) -> io::Result<()> {
        drop(self);
        Ok(())
    }

    /// The readable span: waits for data (or EOF, an empty span) first.
    fn fill(&mut self) -> io::Result<(*const u8, usize)> {
        let opts = self.end.opts;
        match &mut self.end.inner {
            Inner::Ring(r) => {
                let data = r.map.data();
                // SAFETY: offset < capacity, so the byte lies inside the data
                // mapping, which `r.map` keeps mapped while the wait runs.
                let touch = unsafe { Touch::new(data.add(r.link.side.offset())) };
                let avail = r.link.take(r.map.header(), 1, &opts, Some(touch))?;
                // SAFETY: offset < capacity and avail <= capacity, so the
                // span lies within the 2 * capacity mirrored data mapping.
                let ptr = unsafe { data.add(r.link.side.offset()) };
                Ok((ptr, avail as usize))
            }
            Inner::Fd(f) => {
                let at = &mut f.rest;
                if at.pos == at.end {
                    // SAFETY: buf is an allocation of len bytes that only
                    // this end writes to.
                    let n = unsafe { f.fd.read(f.buf.ptr(), f.buf.len(), opts.deadline()) }?;
                    *at = Unread { pos: 0, end: n };
                }
                // SAFETY: pos <= end <= len of the buffer.
                Ok((unsafe { f.buf.ptr().add(at.pos) }, at.end - at.pos))
            }
        }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let opts = self.end.opts;
        if let Inner::Fd(f) = &mut self.end.inner {
            if f.rest.pos == f.rest.end && buf.len() >= f.buf.len() {
                // Nothing read ahead, and the caller's buffer is at least
                // as large as ours: straight into it, as std's `BufReader`
                // does, saving a copy and (on a socket) most of the reads.
                self.borrowed = 0;
                // SAFETY: `buf` is valid for buf.len() writable bytes.
                return unsafe { f.fd.read(buf.as_mut_ptr(), buf.len(), opts.deadline()) };
            }
        }
        let (ptr, avail) = self.fill()?;
        let n = avail.min(buf.len());
        let dst = buf.as_mut_ptr();
        // `ptr` is valid for `avail` >= n readable bytes (see `fill`), which
        // the writer does not touch until we release them; `buf` is a
        // distinct, exclusive buffer of >= n bytes.
        match &mut self.end.inner {
            Inner::Ring(r) => {
                let h = r.map.header();
                // SAFETY: as above; `copy_out` passes spans within 0..n.
                let copy = |at, k| unsafe { copy::copy(ptr.add(at), dst.add(at), k) };
                r.link.copy_out(h, n, r.step, copy);
            }
            Inner::Fd(f) => {
                // SAFETY: as above.
                unsafe { copy::copy(ptr, dst, n) };
                f.rest.pos += n;
            }
        }
        // Whatever the last `fill_buf` lent is given back or void now.
        self.borrowed = 0;
        Ok(n)
    }
}

impl BufRead for Reader {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (ptr, avail) = self.fill()?;
        self.borrowed = avail;
        // SAFETY: valid for `avail` bytes that stay untouched by the writer
        // until released, and the borrow of `self` stops any release while
        // the slice lives.
        Ok(unsafe { std::slice::from_raw_parts(ptr, avail) })
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.borrowed);
        self.release(amt)
            .expect("release within the borrowed span cannot fail");
    }
}

impl AsFd for Reader {
    /// The fd to poll for readability: the endpoint socket (a doorbell or
    /// hang-up makes it readable), or the fallback fd itself.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }
}
