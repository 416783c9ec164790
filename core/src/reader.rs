//! The read end.

use crate::copy;
use crate::endpoint::{self, Role};
use crate::mapping::Mapping;
use crate::options::{Missed, Options, SpinBudget, SpinPhase};
use crate::region::{HeapBuf, Keepalive, Region};
use crate::ring::Consumer;
use crate::sysfd::{self, PlainFd};
use std::io::{self, BufRead, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Size of the buffer used when the fd is not a FAASIN endpoint.
const FALLBACK_BUF: usize = 64 * 1024;

/// The read end of a stream: a FAASIN ring, or any other readable fd.
///
/// Implements [`Read`] and [`BufRead`]; [`BufRead::fill_buf`] is the
/// zero-copy borrow: it returns every readable byte as one contiguous slice
/// that points straight into the ring, and [`BufRead::consume`] (or
/// [`Reader::release`]) gives bytes back to the writer.
pub struct Reader {
    inner: Inner,
    opts: Options,
    /// Bytes handed out by the last `fill_buf` and not yet released.
    borrowed: usize,
}

enum Inner {
    Ring(RingReader),
    Fd(FdReader),
}

struct RingReader {
    sock: OwnedFd,
    map: Arc<Mapping>,
    cons: Consumer,
    capacity: u64,
    /// The lifeline hung up: the writer is gone, whatever the header says.
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

struct FdReader {
    fd: PlainFd,
    buf: Arc<HeapBuf>,
    pos: usize,
    end: usize,
}

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
        let opts = Options::from_env();
        if !endpoint::is_seqpacket_unix(fd.as_fd()) {
            let buf = HeapBuf::new(FALLBACK_BUF);
            return Ok(Reader {
                inner: Inner::Fd(FdReader {
                    fd: PlainFd::new(fd),
                    buf,
                    pos: 0,
                    end: 0,
                }),
                opts,
                borrowed: 0,
            });
        }
        let (hello, map) = endpoint::open_ring(fd.as_fd(), Role::Reader)?;
        // Resume where the ring stands, so an endpoint can be opened after
        // data was written. Validated like every later load.
        let h = map.header();
        let start = h.reader.read_pos.load(crate::sync::Ordering::Acquire);
        let mut cons = Consumer::new(hello.capacity, start);
        cons.refresh(h)?;
        Ok(Reader {
            inner: Inner::Ring(RingReader {
                sock: fd,
                map: Arc::new(map),
                cons,
                capacity: hello.capacity,
                step: crate::ring::copy_step(hello.capacity),
                peer_gone: false,
                owner_pid: std::process::id(),
                spin: SpinBudget::new(),
            }),
            opts,
            borrowed: 0,
        })
    }

    /// True when this end reads from a shared-memory ring, false when it
    /// falls back to plain reads on an ordinary fd.
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

    /// In non-blocking mode a read that would wait fails with `WouldBlock`
    /// instead, and that failure arms readiness: the fd ([`AsFd`]) then polls
    /// readable (POLLIN) once data or EOF arrives. So, as with edge-triggered
    /// epoll, always try the read first and poll only after `WouldBlock`; a
    /// readable fd may also be a stale wake-up, after which the read simply
    /// fails with `WouldBlock` again.
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

    /// In non-blocking mode, a read that finds the ring empty first spins
    /// like a blocking one (within the same adaptive budget, see
    /// [`Reader::set_spin`]) and fails with `WouldBlock` only if nothing
    /// came. Off by default. For event loops: there `WouldBlock` starts a
    /// readiness round trip through the kernel and back (a thread wake-up
    /// or two, 35-55 us each on the machines we target) that a streaming
    /// writer would have ended within microseconds. The call then holds its
    /// thread for at most the spin budget; the time until the next call
    /// tunes the budget as a sleep does for a blocking read.
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

    /// How long a waiting read spins before it sleeps in the kernel
    /// (default [`crate::DEFAULT_SPIN`], or `FAASIN_SPIN_US`).
    /// This is the most a wait spins: the budget adapts below it (see
    /// [`crate::DEFAULT_SPIN`]); setting it starts the budget afresh.
    pub fn set_spin(&mut self, spin: Duration) {
        self.opts.spin = spin;
        if let Inner::Ring(r) = &mut self.inner {
            r.spin.restart();
        }
    }

    /// A blocking read that waits longer than `timeout` fails with
    /// `TimedOut` (like `SO_RCVTIMEO`), on a ring and on a plain fd (a pipe
    /// or socket; a regular file never waits). `None`, the default, waits
    /// forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.opts.timeout = timeout;
    }

    /// Bytes that can be read now without waiting.
    pub fn available(&mut self) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Ring(r) => Ok(r.cons.refresh(r.map.header())? as usize),
            Inner::Fd(f) => Ok(f.end - f.pos + sysfd::bytes_readable(f.fd.as_fd())),
        }
    }

    /// Gives `n` bytes of the last [`BufRead::fill_buf`] back to the writer.
    /// Unlike `consume`, an `n` beyond what was borrowed is an error.
    #[inline]
    pub fn release(&mut self, n: usize) -> io::Result<()> {
        self.unborrow(n)?;
        match &mut self.inner {
            Inner::Ring(r) => {
                if n > 0 && r.cons.release(r.map.header(), n as u64) {
                    r.cons.note_cpu(r.map.header(), sysfd::current_cpu());
                    endpoint::ring(r.sock.as_fd());
                }
            }
            Inner::Fd(f) => f.pos += n,
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
        match &mut self.inner {
            Inner::Ring(r) => r.cons.release_quietly(r.map.header(), n as u64),
            Inner::Fd(f) => f.pos += n,
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

    /// A handle that keeps the memory behind borrowed slices mapped, for
    /// bindings whose views may outlive this end.
    pub fn keepalive(&self) -> Keepalive {
        Keepalive::new(match &self.inner {
            Inner::Ring(r) => Region::Ring(r.map.clone()),
            Inner::Fd(f) => Region::Heap(f.buf.clone()),
        })
    }

    fn fill(&mut self) -> io::Result<(*const u8, usize)> {
        let opts = self.opts;
        match &mut self.inner {
            Inner::Ring(r) => {
                r.spin.settle(opts.spin);
                let h = r.map.header();
                let mut avail = r.cons.available_cached();
                if avail == 0 {
                    avail = r.cons.refresh(h)?;
                }
                if avail == 0 {
                    avail = r.wait_data(&opts)?;
                }
                let off = r.cons.offset();
                // SAFETY: off < capacity and avail <= capacity, so the span
                // lies within the 2 * capacity mirrored data mapping.
                let ptr = unsafe { r.map.data().add(off) };
                Ok((ptr, avail as usize))
            }
            Inner::Fd(f) => {
                if f.pos == f.end {
                    // SAFETY: buf is an exclusively owned allocation of len bytes.
                    let n = unsafe { f.fd.read(f.buf.ptr(), f.buf.len(), opts.deadline()) }?;
                    f.pos = 0;
                    f.end = n;
                }
                // SAFETY: pos <= end <= len of the buffer.
                Ok((unsafe { f.buf.ptr().add(f.pos) }, f.end - f.pos))
            }
        }
    }
}

impl RingReader {
    /// Waits until data is readable or the writer is gone; 0 means EOF.
    fn wait_data(&mut self, opts: &Options) -> io::Result<u64> {
        let h = self.map.header();
        // When the spin gave up: how long the sleep after it lasted tunes the
        // next spin (see `SpinBudget::slept`).
        let mut gave_up = None;
        let mut phase = SpinPhase::new(self.spin.get(opts.spin));
        if (!opts.nonblocking || opts.nonblocking_spin) && !opts.spin.is_zero() && !self.peer_gone {
            // Each look also loads the first data line the writer will fill,
            // so that the look which sees the new write_pos has usually
            // fetched that line in parallel, instead of missing on it right
            // after (one cache-line crossing less per message on a spinning
            // round trip; measured in README "Where we depart").
            // SAFETY: offset < capacity, so the byte lies inside the data
            // mapping, which stays mapped while `self` lives.
            let next = unsafe { self.map.data().add(self.cons.offset()) };
            loop {
                // SAFETY: `next` is mapped (above). The load may race with the
                // writer filling the byte (another process): it is volatile,
                // on a u8, and its value is thrown away.
                let _ = unsafe { std::ptr::read_volatile(next) };
                let a = self.cons.refresh(h)?;
                if a > 0 {
                    self.spin.served(opts.spin);
                    return Ok(a);
                }
                let cons = &self.cons;
                match phase.missed(
                    || cons.peer_closed(h),
                    |here| {
                        cons.note_cpu(h, here);
                        cons.spin_may_help(h, here)
                    },
                ) {
                    Missed::Spin => {}
                    // The sleep loop below returns what is left, then EOF.
                    Missed::PeerClosed => break,
                    Missed::Stop(at) => {
                        gave_up = at;
                        break;
                    }
                }
            }
        }
        if !phase.noted() {
            self.cons.note_cpu(h, sysfd::current_cpu());
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
            self.cons.arm(h);
            let a = self.cons.refresh(h);
            if !matches!(a, Ok(0)) {
                self.cons.disarm(h);
                if let (Ok(_), Some(t)) = (&a, gave_up) {
                    self.spin.slept(t.elapsed(), opts.spin);
                }
                return a.map_err(Into::into);
            }
            if self.peer_gone || self.cons.peer_closed(h) {
                self.cons.disarm(h);
                // Every commit happened before the close flag or hang-up.
                return Ok(self.cons.refresh(h)?);
            }
            if opts.nonblocking {
                if let Some(t) = gave_up {
                    self.spin.gave_up_nonblocking(t);
                }
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // After a timeout or EINTR nobody waits here any more: disarm,
            // so the peer does not ring for nobody.
            match endpoint::sleep(self.sock.as_fd(), deadline, "read") {
                Ok(hung_up) => {
                    self.peer_gone |= hung_up;
                    // The wake-up may have moved us (see `spin_may_help`).
                    self.cons.note_cpu(h, sysfd::current_cpu());
                }
                Err(e) => {
                    self.cons.disarm(h);
                    return Err(e);
                }
            }
        }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (ptr, avail) = self.fill()?;
        let n = avail.min(buf.len());
        // Given back step by step, so that a spinning writer refills behind
        // us; only the last step may wake a sleeping one (a wake-up per step
        // would cost more than the overlap gains).
        let mut done = 0;
        if let Inner::Ring(r) = &mut self.inner {
            while n - done > r.step {
                let k = r.step;
                // SAFETY: `ptr` is valid for `avail` >= n readable bytes (see
                // `fill`); the writer does not touch them until we release
                // them; `buf` is a distinct, exclusive buffer of >= n bytes.
                unsafe { copy::copy(ptr.add(done), buf.as_mut_ptr().add(done), k) };
                r.cons.release_quietly(r.map.header(), k as u64);
                done += k;
            }
        }
        // SAFETY: as above, for the rest of the n bytes.
        unsafe { copy::copy(ptr.add(done), buf.as_mut_ptr().add(done), n - done) };
        self.borrowed = n - done;
        self.release(n - done)?;
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

impl Drop for Reader {
    fn drop(&mut self) {
        if let Inner::Ring(r) = &self.inner {
            if r.owner_pid == std::process::id() && r.cons.close(r.map.header()) {
                endpoint::ring(r.sock.as_fd());
            }
        }
    }
}

impl AsFd for Reader {
    /// The fd to poll for readability: the endpoint socket (a doorbell or
    /// hang-up makes it readable), or the fallback fd itself.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Ring(r) => r.sock.as_fd(),
            Inner::Fd(f) => f.fd.as_fd(),
        }
    }
}

impl AsRawFd for Reader {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("fd", &self.as_raw_fd())
            .field("ring", &self.is_ring())
            .field("capacity", &self.capacity())
            .finish()
    }
}
