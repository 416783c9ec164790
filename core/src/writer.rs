//! The write end.

use crate::copy;
use crate::endpoint::{self, Role};
use crate::mapping::Mapping;
use crate::options::{Missed, Options, SpinBudget, SpinPhase};
use crate::region::{HeapBuf, Keepalive, Region};
use crate::ring::Producer;
use crate::sysfd::{self, PlainFd};
use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FALLBACK_BUF: usize = 64 * 1024;

/// The write end of a stream: a FAASIN ring, or any other writable fd.
///
/// Implements [`Write`]; every `write` is visible to the reader when it
/// returns, so [`Write::flush`] only checks that the reader is still there.
/// Zero-copy writing goes through [`Writer::reserve`].
pub struct Writer {
    inner: Inner,
    opts: Options,
    /// Bytes handed out by the last `reserve_slice` and not yet committed.
    reserved: usize,
}

enum Inner {
    Ring(RingWriter),
    Fd(FdWriter),
}

struct RingWriter {
    sock: OwnedFd,
    map: Arc<Mapping>,
    prod: Producer,
    capacity: u64,
    peer_gone: bool,
    /// The process that opened this end. A forked copy that is dropped in
    /// another process must not mark the stream closed, just as closing an
    /// inherited pipe fd leaves the parent's copy open.
    owner_pid: u32,
    /// How long the next wait spins (adapts; see `DEFAULT_SPIN`).
    spin: SpinBudget,
    /// See `ring::copy_step`.
    step: usize,
}

struct FdWriter {
    fd: PlainFd,
    buf: Arc<HeapBuf>,
}

fn broken_pipe() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "broken pipe: the FAASIN reader closed its end",
    )
}

impl Writer {
    /// Opens the write end from an fd: a FAASIN endpoint, or any other fd,
    /// used with plain `write(2)`. See [`crate::Reader::from_fd`] for errors.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Writer> {
        let opts = Options::from_env();
        if !endpoint::is_seqpacket_unix(fd.as_fd()) {
            let buf = HeapBuf::new(0);
            return Ok(Writer {
                inner: Inner::Fd(FdWriter {
                    fd: PlainFd::new(fd),
                    buf,
                }),
                opts,
                reserved: 0,
            });
        }
        let (hello, map) = endpoint::open_ring(fd.as_fd(), Role::Writer)?;
        let h = map.header();
        let start = h.writer.write_pos.load(crate::sync::Ordering::Acquire);
        // Resume where the ring stands: read_pos must be at most write_pos
        // and within capacity of it.
        let r = h.reader.read_pos.load(crate::sync::Ordering::Acquire);
        if r > start || start - r > hello.capacity {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupted ring: read_pos {r} and write_pos {start} are inconsistent"),
            ));
        }
        let prod = Producer::new(hello.capacity, start, r);
        Ok(Writer {
            inner: Inner::Ring(RingWriter {
                sock: fd,
                map: Arc::new(map),
                prod,
                capacity: hello.capacity,
                step: crate::ring::copy_step(hello.capacity),
                peer_gone: false,
                owner_pid: std::process::id(),
                spin: SpinBudget::new(),
            }),
            opts,
            reserved: 0,
        })
    }

    /// See [`crate::Reader::is_ring`].
    pub fn is_ring(&self) -> bool {
        matches!(self.inner, Inner::Ring(_))
    }

    /// The ring's capacity in bytes, or `None` for the fd fallback.
    pub fn capacity(&self) -> Option<usize> {
        match &self.inner {
            Inner::Ring(r) => Some(r.capacity as usize),
            Inner::Fd(_) => None,
        }
    }

    /// In non-blocking mode a write that would wait writes what fits, or fails
    /// with `WouldBlock` if nothing fits; the fd then polls *readable*
    /// (POLLIN, like the read end) once space frees or the reader leaves.
    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        if let Inner::Fd(f) = &self.inner {
            sysfd::set_nonblocking(f.fd.as_fd(), on)?;
        }
        self.opts.nonblocking = on;
        Ok(())
    }

    pub fn is_nonblocking(&self) -> bool {
        self.opts.nonblocking
    }

    /// In non-blocking mode, a write that finds the ring full first spins
    /// like a blocking one and fails with `WouldBlock` only if no space
    /// came; see [`Reader::set_nonblocking_spin`](crate::Reader::set_nonblocking_spin).
    pub fn set_nonblocking_spin(&mut self, on: bool) {
        self.opts.nonblocking_spin = on;
    }

    /// Starts this end's spin budget from `cell` and keeps it there, for
    /// the next end in the same role (see `SpinBudget::share`).
    pub(crate) fn share_spin_budget(&mut self, cell: Arc<AtomicU64>) {
        if let Inner::Ring(r) = &mut self.inner {
            r.spin.share(cell);
        }
    }

    /// See [`crate::Reader::set_spin`].
    pub fn set_spin(&mut self, spin: Duration) {
        self.opts.spin = spin;
        if let Inner::Ring(r) = &mut self.inner {
            r.spin.restart();
        }
    }

    /// A blocking call that waits longer than `timeout` for space fails
    /// with `TimedOut` (like `SO_SNDTIMEO`); a write that moved some bytes
    /// first returns their count instead. On a ring, `write` and `reserve`
    /// wait for space; on a plain fd (a pipe or socket; a regular file never
    /// waits) `write` and `commit` do, since a commit writes its bytes then,
    /// and a commit that times out says how many of them went. `None`, the
    /// default, waits forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.opts.timeout = timeout;
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
        let opts = self.opts;
        self.reserved = 0;
        let (ptr, len) = match &mut self.inner {
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
                r.check_open()?;
                r.spin.settle(opts.spin);
                let h = r.map.header();
                let mut free = r.prod.free_cached();
                if free < min as u64 || free == 0 {
                    free = r.prod.refresh(h)?;
                }
                if free < min as u64 {
                    free = r.wait_space(min as u64, &opts)?;
                }
                let off = r.prod.offset();
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
        let opts = self.opts;
        match &mut self.inner {
            Inner::Ring(r) => {
                r.check_open()?;
                if n > 0 {
                    r.publish(n as u64);
                }
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

    /// See [`crate::Reader::keepalive`].
    pub fn keepalive(&self) -> Keepalive {
        Keepalive::new(match &self.inner {
            Inner::Ring(r) => Region::Ring(r.map.clone()),
            Inner::Fd(f) => Region::Heap(f.buf.clone()),
        })
    }
}

impl RingWriter {
    /// Publishes `n` more bytes and, if the reader sleeps, notes our CPU
    /// (see `ring::spin_may_help`) and rings its doorbell.
    fn publish(&mut self, n: u64) {
        if self.prod.commit(self.map.header(), n) {
            self.prod.note_cpu(self.map.header(), sysfd::current_cpu());
            endpoint::ring(self.sock.as_fd());
        }
    }

    fn check_open(&mut self) -> io::Result<()> {
        if self.peer_gone || self.prod.peer_closed(self.map.header()) {
            return Err(broken_pipe());
        }
        Ok(())
    }

    /// Waits until at least `min` bytes are free (`min >= 1`).
    fn wait_space(&mut self, min: u64, opts: &Options) -> io::Result<u64> {
        let min = min.max(1);
        let h = self.map.header();
        // When the spin gave up: how long the sleep after it lasted tunes the
        // next spin (see `SpinBudget::slept`).
        let mut gave_up = None;
        let mut phase = SpinPhase::new(self.spin.get(opts.spin));
        if (!opts.nonblocking || opts.nonblocking_spin) && !opts.spin.is_zero() {
            loop {
                let f = self.prod.refresh(h)?;
                if f >= min {
                    self.spin.served(opts.spin);
                    return Ok(f);
                }
                let prod = &self.prod;
                match phase.missed(
                    || prod.peer_closed(h),
                    |here| {
                        prod.note_cpu(h, here);
                        prod.spin_may_help(h, here)
                    },
                ) {
                    Missed::Spin => {}
                    Missed::PeerClosed => return Err(broken_pipe()),
                    Missed::Stop(at) => {
                        gave_up = at;
                        break;
                    }
                }
            }
        }
        if !phase.noted() {
            self.prod.note_cpu(h, sysfd::current_cpu());
        }
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        loop {
            // Stale doorbells are drained where they would make a later
            // poll return at once (non-blocking readiness, timed waits); a
            // plain blocking wait just consumes them one by one below, each
            // costing one more look at the ring instead of a syscall now.
            let polls = opts.nonblocking || deadline.is_some();
            if polls && !self.peer_gone && endpoint::drain(self.sock.as_fd())? {
                self.peer_gone = true;
            }
            self.prod.arm(h);
            let f = self.prod.refresh(h);
            match f {
                Ok(f) if f >= min => {
                    self.prod.disarm(h);
                    if let Some(t) = gave_up {
                        self.spin.slept(t.elapsed(), opts.spin);
                    }
                    return Ok(f);
                }
                Ok(_) => {}
                Err(e) => {
                    self.prod.disarm(h);
                    return Err(e.into());
                }
            }
            if self.peer_gone || self.prod.peer_closed(h) {
                self.prod.disarm(h);
                return Err(broken_pipe());
            }
            if opts.nonblocking {
                if let Some(t) = gave_up {
                    self.spin.gave_up_nonblocking(t);
                }
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // After a timeout or EINTR nobody waits here any more: disarm,
            // so the peer does not ring for nobody.
            match endpoint::sleep(self.sock.as_fd(), deadline, "write") {
                Ok(hung_up) => {
                    self.peer_gone |= hung_up;
                    // The wake-up may have moved us (see `spin_may_help`).
                    self.prod.note_cpu(h, sysfd::current_cpu());
                }
                Err(e) => {
                    self.prod.disarm(h);
                    return Err(e);
                }
            }
        }
    }

    fn write(&mut self, buf: &[u8], opts: &Options) -> io::Result<usize> {
        self.check_open()?;
        self.spin.settle(opts.spin);
        let mut done = 0usize;
        while done < buf.len() {
            let mut free = self.prod.free_cached();
            if free == 0 {
                free = self.prod.refresh(self.map.header())?;
            }
            if free == 0 {
                if done > 0 && opts.nonblocking {
                    break;
                }
                match self.wait_space(1, opts) {
                    Ok(f) => free = f,
                    // A partial write is reported as such; the error comes
                    // back on the next call, as with write(2).
                    Err(_) if done > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            let n = (free as usize).min(buf.len() - done).min(self.step);
            let off = self.prod.offset();
            self.map.populate_ahead(off, n);
            // SAFETY: [off, off + n) lies in the mirrored data mapping (off <
            // capacity, n <= free <= capacity); the span is free, so the
            // reader does not read it; `buf[done..done + n]` is in bounds.
            unsafe { copy::copy(buf.as_ptr().add(done), self.map.data().add(off), n) };
            // A step with more to come right away only moves write_pos: a
            // spinning reader follows it, and a sleeping one is woken once,
            // by the last step of the call or the step that fills the ring
            // (after which we may wait), never left asleep behind data.
            let more = done + n < buf.len() && free > n as u64;
            if more {
                self.prod.commit_quietly(self.map.header(), n as u64);
            } else {
                self.publish(n as u64);
            }
            done += n;
        }
        Ok(done)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.reserved = 0;
        let opts = self.opts;
        match &mut self.inner {
            Inner::Ring(r) => r.write(buf, &opts),
            Inner::Fd(f) => f.fd.write(buf, opts.deadline()),
        }
    }

    /// Every write is already visible to the reader when it returns; flush
    /// reports loss: `BrokenPipe` if the reader closed or died leaving
    /// committed bytes unread. With nothing pending it succeeds even after
    /// the reader left, as flushing an unbuffered pipe does (so closing an
    /// `ObjectOutputStream` or a `BufWriter` after the reader finished works).
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Ring(r) => {
                if !r.peer_gone && endpoint::drain(r.sock.as_fd())? {
                    r.peer_gone = true;
                }
                if r.peer_gone || r.prod.peer_closed(r.map.header()) {
                    let free = r.prod.refresh(r.map.header())?;
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
            Inner::Fd(_) => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Inner::Ring(r) = &self.inner {
            if r.owner_pid == std::process::id() && r.prod.close(r.map.header()) {
                endpoint::ring(r.sock.as_fd());
            }
        }
    }
}

impl AsFd for Writer {
    /// The fd to poll: for a ring it polls *readable* when space frees or the
    /// reader leaves (the doorbell), for the fallback it is the fd itself.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Ring(r) => r.sock.as_fd(),
            Inner::Fd(f) => f.fd.as_fd(),
        }
    }
}

impl AsRawFd for Writer {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("fd", &self.as_raw_fd())
            .field("ring", &self.is_ring())
            .field("capacity", &self.capacity())
            .finish()
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
