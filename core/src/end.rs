//! What the read end and the write end share: opening one from an fd, the
//! ring or plain-fd state behind it, its options, and closing it.

use crate::bell::Bell;
use crate::endpoint::{self, Role};
use crate::handoff::Reuse;
use crate::kept::{KeptRing, Slot};
use crate::mapping::Mapping;
use crate::options::Options;
use crate::region::{HeapBuf, Keepalive, Region};
use crate::ring::{self, Side};
use crate::sysfd::{self, PlainFd};
use crate::wait::Link;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// One end: the reader's with `S = Consumer`, the writer's with
/// `S = Producer`; `X` is what its plain-fd fallback keeps besides the fd
/// and its buffer.
pub(crate) struct End<S: Side, X> {
    pub(crate) inner: Inner<S, X>,
    pub(crate) opts: Options,
}

pub(crate) enum Inner<S: Side, X> {
    Ring(RingEnd<S>),
    Fd(FdEnd<X>),
}

/// An end on a FAASIN ring.
pub(crate) struct RingEnd<S: Side> {
    pub(crate) map: Arc<Mapping>,
    pub(crate) capacity: u64,
    /// See `ring::copy_step`.
    pub(crate) step: usize,
    /// The process that opened this end. A forked copy that is dropped in
    /// another process must not mark the stream closed, just as closing an
    /// inherited pipe fd leaves the parent's copy open.
    owner_pid: u32,
    /// The index protocol, the doorbell, and the wait loop.
    pub(crate) link: Link<S, Arc<Bell>>,
    /// Where the end goes when it closes, if it is kept for the next
    /// stream (see `kept`).
    keep: Option<Arc<Slot>>,
}

/// An end on any other fd, used with plain `read(2)`/`write(2)`.
pub(crate) struct FdEnd<X> {
    pub(crate) fd: PlainFd,
    /// The bytes between the fd and the caller: read ahead, or reserved.
    pub(crate) buf: Arc<HeapBuf>,
    pub(crate) rest: X,
}

impl<S: Side, X: Default> End<S, X> {
    /// Opens the `role` end on `fd`: a FAASIN endpoint (whose hello is taken
    /// off it here), or any other fd, with a fallback buffer of `buf` bytes.
    /// The side resumes where the ring's positions stand, so an end can be
    /// opened after data was written; they are checked like every later load.
    pub(crate) fn open(fd: OwnedFd, role: Role, buf: usize) -> io::Result<Self> {
        let opts = Options::from_env();
        let plain = |fd| {
            let inner = Inner::Fd(FdEnd {
                fd: PlainFd::new(fd),
                buf: HeapBuf::new(buf),
                rest: X::default(),
            });
            Ok(End { inner, opts })
        };
        if !endpoint::is_seqpacket(fd.as_fd()) {
            return plain(fd);
        }
        let (hello, map) = match endpoint::open_ring(fd.as_fd(), role) {
            Ok(opened) => opened,
            // A SEQPACKET socket of another family (SCTP) is no endpoint;
            // only a hello that came with its memfd says AF_UNIX already.
            Err(_) if !endpoint::is_unix(fd.as_fd()) => return plain(fd),
            Err(e) => return Err(e),
        };
        let side = S::open(map.header(), hello.capacity)?;
        let link = Link::new(side, Arc::new(Bell::new(fd, role)));
        Ok(End::on_ring(
            Arc::new(map),
            hello.capacity,
            link,
            opts,
            None,
        ))
    }

    /// [`End::open`] of an end to keep in `slot` once it closes (see
    /// `kept`). An fd that is no FAASIN endpoint opens as usual, and leaves
    /// the slot unfit for a restart.
    fn open_kept(fd: OwnedFd, role: Role, buf: usize, slot: Arc<Slot>) -> io::Result<Self> {
        let mut end = Self::open(fd, role, buf)?;
        match &mut end.inner {
            Inner::Ring(r) => {
                slot.hold();
                r.keep = Some(slot);
            }
            Inner::Fd(_) => slot.give_back(None),
        }
        Ok(end)
    }

    /// The end a warm function was granted (see `handoff::Reuse`): `fd`
    /// opened, and kept in `slot` if the runner asks; or, for a restart, the
    /// next stream on what `slot` kept. `what` names the end for the error
    /// of a grant without its fd.
    pub(crate) fn granted(
        fd: Option<OwnedFd>,
        reuse: Reuse,
        (role, buf): (Role, usize),
        slot: Arc<Slot>,
        what: &str,
    ) -> io::Result<Self> {
        match (reuse, fd) {
            (Reuse::Restart, _) => Self::restart(slot),
            (Reuse::No, Some(fd)) => Self::open(fd, role, buf),
            (Reuse::Keep, Some(fd)) => Self::open_kept(fd, role, buf, slot),
            (_, None) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the FAASIN runner handed this invocation no {what} stream"),
            )),
        }
    }

    /// The next stream on the end kept in `slot`. A writer first waits
    /// until the reader closed the last stream.
    fn restart(slot: Arc<Slot>) -> io::Result<Self> {
        let KeptRing {
            map,
            bell,
            capacity,
            stream,
        } = slot.take()?;
        let mut link = match S::open(map.header(), capacity) {
            Ok(side) => Link::new(side, bell),
            Err(e) => {
                slot.give_back(None);
                return Err(e.into());
            }
        };
        link.side.set_stream(stream.wrapping_add(1));
        if !S::READS {
            if let Err(e) = link.await_peer_close(map.header(), stream) {
                slot.give_back(None);
                return Err(e);
            }
        }
        Ok(End::on_ring(
            map,
            capacity,
            link,
            Options::from_env(),
            Some(slot),
        ))
    }

    fn on_ring(
        map: Arc<Mapping>,
        capacity: u64,
        link: Link<S, Arc<Bell>>,
        opts: Options,
        keep: Option<Arc<Slot>>,
    ) -> Self {
        let inner = Inner::Ring(RingEnd {
            map,
            capacity,
            step: ring::copy_step(capacity),
            owner_pid: own_pid(),
            link,
            keep,
        });
        End { inner, opts }
    }
}

impl<S: Side, X> End<S, X> {
    pub(crate) fn is_ring(&self) -> bool {
        matches!(self.inner, Inner::Ring(_))
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        match &self.inner {
            Inner::Ring(r) => Some(r.capacity as usize),
            Inner::Fd(_) => None,
        }
    }

    pub(crate) fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        if let Inner::Fd(f) = &self.inner {
            sysfd::set_nonblocking(f.fd.as_fd(), on)?;
        }
        self.opts.nonblocking = on;
        Ok(())
    }

    pub(crate) fn set_spin(&mut self, spin: Duration) {
        self.opts.spin = spin;
        if let Inner::Ring(r) = &mut self.inner {
            r.link.spin.restart();
        }
    }

    pub(crate) fn share_spin_budget(&mut self, cell: Arc<AtomicU64>) {
        if let Inner::Ring(r) = &mut self.inner {
            r.link.spin.share(cell);
        }
    }

    pub(crate) fn keepalive(&self) -> Keepalive {
        Keepalive::new(match &self.inner {
            Inner::Ring(r) => Region::Ring(r.map.clone()),
            Inner::Fd(f) => Region::Heap(f.buf.clone()),
        })
    }

    /// The endpoint socket, or the fallback fd itself.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Ring(r) => r.link.bell.sock(),
            Inner::Fd(f) => f.fd.as_fd(),
        }
    }

    pub(crate) fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("fd", &self.fd().as_raw_fd())
            .field("ring", &self.is_ring())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// This process's id. `getpid` is a system call on every use; an end asks
/// at its open and at its close, on every stream of a warm function, so the
/// id is cached, and forgotten in the child of a `fork` (an atfork handler
/// runs there before anything else can), where an end inherited from the
/// parent must see that it is not its owner. Without the handler (its
/// registration failed) every call asks the kernel.
fn own_pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static CACHES: OnceLock<bool> = OnceLock::new();
    extern "C" fn forget() {
        // Relaxed: the child runs this on its only thread, before it returns
        // from fork.
        PID.store(0, Ordering::Relaxed);
    }
    let caches = *CACHES.get_or_init(|| {
        // SAFETY: registers a handler that only stores to an atomic, which
        // is async-signal-safe, as a forked child of a threaded parent needs.
        unsafe { libc::pthread_atfork(None, None, Some(forget)) == 0 }
    });
    if !caches {
        return std::process::id();
    }
    // Relaxed: the value is this process's own id, the same from every
    // thread; a stale 0 only costs a system call.
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

impl<S: Side, X> Drop for End<S, X> {
    /// Closes the end: the peer sees the close flag, and is woken if it
    /// sleeps; then the socket and the pipe, if any, close (the hang-up),
    /// unless the end is kept for the next stream: then they go back to
    /// its slot with the mapping, if the stream was done with cleanly.
    fn drop(&mut self) {
        if let Inner::Ring(r) = &mut self.inner {
            if r.owner_pid == own_pid() {
                let h = r.map.header();
                let clean = r.keep.is_some() && r.link.done_cleanly(h);
                r.link.close(h);
                if let Some(slot) = &r.keep {
                    slot.give_back(clean.then(|| KeptRing {
                        map: r.map.clone(),
                        bell: r.link.bell.clone(),
                        capacity: r.capacity,
                        stream: r.link.side.stream(),
                    }));
                }
            }
        }
    }
}

/// The public methods and impls that `Reader` and `Writer` share word for
/// word, delegating to their `end` field.
macro_rules! shared_end_api {
    (
        $ty:ident,
        $(#[$nonblocking:meta])* set_nonblocking;
        $(#[$spin:meta])* set_nonblocking_spin;
        $(#[$timeout:meta])* set_timeout;
    ) => {
        impl $ty {
            $(#[$nonblocking])*
            pub fn set_nonblocking(&mut self, on: bool) -> ::std::io::Result<()> {
                self.end.set_nonblocking(on)
            }

            $(#[$spin])*
            pub fn set_nonblocking_spin(&mut self, on: bool) {
                self.end.opts.nonblocking_spin = on;
            }

            $(#[$timeout])*
            pub fn set_timeout(&mut self, timeout: Option<::std::time::Duration>) {
                self.end.opts.timeout = timeout;
            }

            /// True when this end is on a shared-memory ring, false when it
            /// falls back to plain `read(2)`/`write(2)` on an ordinary fd.
            pub fn is_ring(&self) -> bool {
                self.end.is_ring()
            }

            /// The ring's capacity in bytes, or `None` for the fd fallback.
            pub fn capacity(&self) -> Option<usize> {
                self.end.capacity()
            }

            pub fn is_nonblocking(&self) -> bool {
                self.end.opts.nonblocking
            }

            /// How long a waiting call spins before it sleeps in the kernel
            /// (default [`DEFAULT_SPIN`](crate::DEFAULT_SPIN), or
            /// `FAASIN_SPIN_US`). This is the most a wait spins: the budget
            /// adapts below it (see [`DEFAULT_SPIN`](crate::DEFAULT_SPIN)),
            /// and a blocking wait for a stream's first bytes does not spin;
            /// setting it starts the budget afresh.
            pub fn set_spin(&mut self, spin: ::std::time::Duration) {
                self.end.set_spin(spin);
            }

            /// Starts this end's spin budget from `cell` and keeps it there,
            /// for the next end in the same role (see `SpinBudget::share`).
            pub(crate) fn share_spin_budget(
                &mut self,
                cell: ::std::sync::Arc<::std::sync::atomic::AtomicU64>,
            ) {
                self.end.share_spin_budget(cell);
            }

            /// A handle that keeps the memory behind borrowed or reserved
            /// slices mapped, for bindings whose views may outlive this end.
            pub fn keepalive(&self) -> $crate::Keepalive {
                self.end.keepalive()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.end.fd())
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.end.debug(stringify!($ty), f)
            }
        }
    };
}
pub(crate) use shared_end_api;
