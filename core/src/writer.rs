//! The write end.

use crate::copy;
use crate::end::{shared_end_api, End, Inner};
use crate::endpoint::Role;
use crate::region::HeapBuf;
use crate::ring::{Producer, Side};
use crate::wait::Doorbell;
use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Size of the buffer a reservation on a plain fd gets at least.
const FALLBACK_BUF: usize = 64 * 1024;

/// The write end of a stream: a FAASIN ring, or any other writable fd.
///
/// Implements [`Write`]; every `write` is visible to the reader when it
/// returns, so [`Write::flush`] only checks that the reader is still there.
/// Zero-copy writing goes through [`Writer::reserve`].
pub struct Writer {
    end: End<Producer, ()>,
    /// Bytes handed out by the last `reserve_slice` and not yet committed.
    reserved: usize,
}

shared_end_api!(
    Writer,
    /// In non-blocking mode a write that would wait writes what fits, or fails
    /// with `WouldBlock` if nothing fits; the fd then polls *readable*
    /// (POLLIN, like the read end) once space frees or the reader leaves.
    set_nonblocking;
    /// In non-blocking mode, a write that finds the ring full first spins
    /// like a blocking one and fails with `WouldBlock` only if no space
    /// came; see [`Reader::set_nonblocking_spin`](crate::Reader::set_nonblocking_spin).
    set_nonblocking_spin;
    /// A blocking call that waits longer than `timeout` for space fails
    /// with `TimedOut` (like `SO_SNDTIMEO`); a write that moved some bytes
    /// first returns their count instead. On a ring, `write` and `reserve`
    /// wait for space; on a plain fd (a pipe or socket; a regular file never
    /// waits) `write` and `commit` do, since a commit writes its bytes then,
    /// and a commit that times out says how many of them went. `None`, the
    /// default, waits forever.
    set_timeout;
);

impl Writer {
    /// Opens the write end from an fd: a FAASIN endpoint, or any other fd,
    /// used with plain `write(2)`. See [`crate::Reader::from_fd`] for errors.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Writer> {
        Ok(Writer {
            end: End::open(fd, Role::Writer, 0)?,
            reserved: 0,
        })
    }

    /// The output end a warm function was granted (see `End::granted`).
    pub(crate) fn granted(
        fd: Option<OwnedFd>,
        reuse: crate::handoff::Reuse,
        slot: std::sync::Arc<crate::kept::Slot>,
    ) -> io::Result<Writer> {
        Ok(Writer {
            end: End::granted(fd, reuse, (Role::Writer, 0), slot, "output")?,
            reserved: 0,
        })
    }

    /// Reserves at least `min` writable bytes (up to all free space) and
    /// returns them as a grant. Fill it, then [`WriteGrant::commit`] the bytes
    /// to publish; dropping the grant publishes nothing.
    ///
    /// `min` larger than the capacity is `InvalidInput`; `min == 0` never waits.
    #[inline]
    pub fn reserve(&mut self, min: usize) -> io::Result<WriteGrant<'_>> {
        let slice = self.reserve_slice(min)?;
        let (ptr, len) = (slice.as_mut_ptr(), slice.len());
        Ok(WriteGrant {
            writer: self,
            ptr,
            len,
        })
    }

    /// The lower half of [`Writer::reserve`], for bindings: returns the
    /// reserved span; a later [`Writer::commit`] publishes part of it.
    #[inline]
    pub fn reserve_slice(&mut self, min: usize) -> io::Result<&mut [u8]> {
        let opts = self.end.opts;
        self.reserved = 0;
        let (ptr, len) = match &mut self.end.inner {
            Inner::Ring(r) => {
                if min as u64 > r.capacity {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "reserve of {min} bytes exceeds the ring capacity {}",
                            r.capacity
                        ),
                    ));
                }
                let h = r.map.header();
                r.link.check_open(h)?;
                let free = r.link.take(h, min as u64, &opts, None)?;
                let off = r.link.side.offset();
                r.map.populate_ahead(off, min.max(1));
                // SAFETY: off < capacity, free <= capacity: inside the
                // mirrored 2 * capacity data mapping.
                (unsafe { r.map.data().add(off) }, free as usize)
            }
            Inner::Fd(f) => {
                let want = min.max(FALLBACK_BUF);
                if f.buf.len() < want {
                    f.buf = HeapBuf::new(want);
                }
                (f.buf.ptr(), f.buf.len())
            }
        };
        self.reserved = len;
        // SAFETY: the span is ours alone until committed (the reader does not
        // read past write_pos), and the `&mut self` borrow stops any other
        // use of the writer while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Publishes the first `n` bytes of the last reservation.
    #[inline]
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        if n > self.reserved {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "commit of {n} bytes, but only {} are reserved",
                    self.reserved
                ),
            ));
        }
        self.reserved = 0;
        let opts = self.end.opts;
        match &mut self.end.inner {
            Inner::Ring(r) => {
                let h = r.map.header();
                r.link.check_open(h)?;
                r.link.publish(h, n as u64);
                Ok(())
            }
            Inner::Fd(f) => {
                // SAFETY: n <= reserved <= buf.len().
                let data = unsafe { std::slice::from_raw_parts(f.buf.ptr(), n) };
                f.fd.write_all(data, opts.deadline())
            }
        }
    }

    /// Closes the end: the reader gets EOF after every committed byte, and
    /// a reader blocked for data is woken at once. Dropping does the same.
    pub fn close(self) -> io::Result<()> {
        drop(self);
        Ok(())
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.reserved = 0;
        let opts = self.end.opts;
        match &mut self.end.inner {
            Inner::Ring(r) => {
                let (map, src) = (&r.map, buf.as_ptr());
                let copy = |off: usize, at: usize, n: usize| {
                    map.populate_ahead(off, n);
                    // SAFETY: `write` passes a span [off, off + n) of free
                    // space (off < capacity, n <= capacity), which lies in
                    // the mirrored data mapping and which the reader does
                    // not read, and at + n <= buf.len().
                    unsafe { copy::copy(src.add(at), map.data().add(off), n) };
                };
                r.link.write(map.header(), buf.len(), r.step, &opts, copy)
            }
            Inner::Fd(f) => f.fd.write(buf, opts.deadline()),
        }
    }

    /// Every write is already visible to the reader when it returns; flush
    /// reports loss: `BrokenPipe` if the reader closed or died leaving
    /// committed bytes unread. With nothing pending it succeeds even after
    /// the reader left, as flushing an unbuffered pipe does (so closing an
    /// `ObjectOutputStream` or a `BufWriter` after the reader finished works).
    fn flush(&mut self) -> io::Result<()> {
        let Inner::Ring(r) = &mut self.end.inner else {
            return Ok(());
        };
        let (h, link) = (r.map.header(), &mut r.link);
        // Nothing left unread is nothing lost, whatever became of the
        // reader: no need to ask the socket (a system call) whether it hung up.
        if link.side.refresh(h)? == r.capacity {
            return Ok(());
        }
        if !link.peer_gone && link.bell.drain()? {
            link.peer_gone = true;
        }
        if link.peer_gone || link.side.peer_closed(h) {
            let free = link.side.refresh(h)?;
            if free < r.capacity {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!(
                        "broken pipe: the FAASIN reader left {} committed bytes unread",
                        r.capacity - free
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl AsFd for Writer {
    /// The fd to poll: for a ring it polls *readable* when space frees or the
    /// reader leaves (the doorbell), for the fallback it is the fd itself.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }
}

/// Writable bytes reserved in the ring. Dropping it publishes nothing.
pub struct WriteGrant<'a> {
    writer: &'a mut Writer,
    ptr: *mut u8,
    len: usize,
}

impl WriteGrant<'_> {
    /// Publishes the first `n` bytes (`n <= len`).
    #[inline]
    pub fn commit(self, n: usize) -> io::Result<()> {
        self.writer.commit(n)
    }
}

impl Deref for WriteGrant<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr/len are the reservation, exclusively ours while the
        // grant borrows the writer mutably.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for WriteGrant<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}
