//! Shared plumbing of the FAASIN benchmarks: fd pairs for each transport, and
//! a child process (this same binary re-executed) that gets the data fds at
//! 3, 4, ... plus a control pipe pair for "move N bytes" orders and
//! acknowledgements. The criterion bench is `benches/transports.rs`, the
//! one-run side-by-side comparison is `src/bin/compare.rs`.

pub mod host_state;

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The FAASIN ring size used by every benchmark, and the window given to the
/// peer shared-memory libraries.
pub const RING: usize = 1 << 20;

/// The zero-copy rows publish and give back at most this much at a time:
/// a producer filling a 1 MiB grant in place commits as it goes, and a
/// consumer gives back what it has read, so that the two overlap, as
/// core's copy path does inside `write`/`read` (`ring::copy_step`, 64 KiB
/// for a 1 MiB ring). Without it a 1 MiB write into a 1 MiB ring and its
/// read would take turns.
pub const ZERO_COPY_STEP: usize = 64 * 1024;

/// The `main` of a benchmark that re-executes itself as its own child
/// ([`Peer::start`]): `child` when `role_var` is set, otherwise `run`, whose
/// error is printed after `name`.
pub fn main_or_child(
    role_var: &str,
    name: &str,
    child: impl FnOnce(),
    run: impl FnOnce() -> io::Result<()>,
) -> ExitCode {
    if std::env::var_os(role_var).is_some() {
        child();
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A plain pipe, both ends close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fds from pipe2, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe enlarged to 1 MiB with `F_SETPIPE_SZ`, the same window as the ring.
pub fn big_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe()?;
    // SAFETY: fcntl on our own pipe fd.
    let got = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, RING as libc::c_int) };
    if got < RING as libc::c_int {
        return Err(io::Error::other(format!(
            "F_SETPIPE_SZ to 1 MiB failed ({}); is fs.pipe-max-size smaller?",
            io::Error::last_os_error()
        )));
    }
    Ok((r, w))
}

/// A connected unix stream socket pair.
pub fn unix_stream() -> io::Result<(OwnedFd, OwnedFd)> {
    // socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC).
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    Ok((a.into(), b.into()))
}

/// A connected TCP pair on 127.0.0.1 (Nagle off on both ends, so that small
/// round trips are not delayed).
pub fn tcp_loopback() -> io::Result<(OwnedFd, OwnedFd)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let a = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (b, _) = listener.accept()?;
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    Ok((OwnedFd::from(a), OwnedFd::from(b)))
}

/// A FAASIN ring of [`RING`] bytes: (read end, write end).
pub fn faasin_fds() -> io::Result<(OwnedFd, OwnedFd)> {
    faasin::pipe_fds(RING)
}

/// A running child with its control pipes.
pub struct Peer {
    child: Child,
    orders: std::fs::File,
    acks: std::fs::File,
}

impl Peer {
    /// Re-executes this binary with `role_var=role` and the extra `env`, the
    /// `fds` placed at 3, 4, ... in order, then the order pipe's read end and
    /// the ack pipe's write end (see [`ChildSide::take`]).
    pub fn start(
        role_var: &str,
        role: &str,
        fds: &[&OwnedFd],
        env: &[(&str, String)],
    ) -> io::Result<Peer> {
        let (order_r, order_w) = pipe()?;
        let (ack_r, ack_w) = pipe()?;
        let mut all: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        all.push(order_r.as_raw_fd());
        all.push(ack_w.as_raw_fd());
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env(role_var, role)
            .env("FAASIN_BENCH_NFDS", fds.len().to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe fcntl/dup2 after fork. Sources are
        // first moved above 100 so that no dup2 target clobbers a source; dup2
        // clears close-on-exec on the targets, so exactly these survive exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut moved = [0 as libc::c_int; 32];
                if all.len() > moved.len() {
                    return Err(io::Error::from(io::ErrorKind::InvalidInput));
                }
                for (i, fd) in all.iter().enumerate() {
                    let m = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100 + i as libc::c_int);
                    if m < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    moved[i] = m;
                }
                for (i, m) in moved[..all.len()].iter().enumerate() {
                    if libc::dup2(*m, 3 + i as libc::c_int) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(Peer {
            child,
            orders: order_w.into(),
            acks: ack_r.into(),
        })
    }

    /// Tells the child to move `n` units (bytes or round trips).
    pub fn order(&mut self, n: u64) -> io::Result<()> {
        self.orders.write_all(&n.to_le_bytes())
    }

    /// Waits for the child's next acknowledgement; EOF means it died.
    pub fn wait_ack(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.acks
            .read_exact(&mut b)
            .map_err(|e| io::Error::new(e.kind(), format!("benchmark child gave no ack: {e}")))?;
        Ok(b[0])
    }

    /// Asks the child to exit and reaps it; kills it if it takes more than
    /// `grace` (so that libraries which clean up on exit get the chance).
    pub fn finish(mut self, grace: Duration) {
        let _ = self.orders.write_all(&u64::MAX.to_le_bytes());
        let deadline = Instant::now() + grace;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        // Stops a child that outstayed its grace; a no-op once it is reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Reached only when `finish` was not called (a panic): never leave
        // a child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child's view: its data fds and the control pipes.
pub struct ChildSide {
    nfds: usize,
    orders: std::fs::File,
    /// Where the child acknowledges a finished order.
    pub acks: std::fs::File,
}

impl ChildSide {
    /// Takes the control pipes placed by [`Peer::start`].
    pub fn new() -> ChildSide {
        let nfds: usize = std::env::var("FAASIN_BENCH_NFDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("FAASIN_BENCH_NFDS not set: not started by Peer::start");
        ChildSide {
            nfds,
            // SAFETY: Peer::start placed the order pipe here; we own it now.
            orders: unsafe { std::fs::File::from_raw_fd(3 + nfds as RawFd) },
            // SAFETY: Peer::start placed the ack pipe here; we own it now.
            acks: unsafe { std::fs::File::from_raw_fd(4 + nfds as RawFd) },
        }
    }

    /// Takes data fd number `i` (0-based; at 3 + i).
    pub fn take(&self, i: usize) -> OwnedFd {
        assert!(i < self.nfds, "data fd {i} was not passed");
        // SAFETY: Peer::start placed data fd i at 3 + i; each is taken once
        // (callers take each index once).
        unsafe { OwnedFd::from_raw_fd(3 + i as RawFd) }
    }

    /// The next order, or None when the parent asks us to exit.
    pub fn next_order(&mut self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.orders.read_exact(&mut b).ok()?;
        Some(u64::from_le_bytes(b)).filter(|n| *n != u64::MAX)
    }

    /// Acknowledges with one byte.
    pub fn ack(&mut self, b: u8) {
        self.acks
            .write_all(&[b])
            .expect("parent closed the ack pipe");
    }
}

impl Default for ChildSide {
    fn default() -> Self {
        ChildSide::new()
    }
}

/// The zero-copy producer of both benches: writes `size` bytes of value
/// `v` in place, in grants of at most [`ZERO_COPY_STEP`].
pub fn produce_in_place(w: &mut faasin::Writer, size: usize, v: u8) -> io::Result<()> {
    let mut left = size;
    while left > 0 {
        let mut grant = w.reserve(1)?;
        let k = grant.len().min(left).min(ZERO_COPY_STEP);
        grant[..k].fill(v);
        grant.commit(k)?;
        left -= k;
    }
    Ok(())
}

/// The zero-copy consumer of both benches: reads `n` bytes in place,
/// folding every byte into `fold` (as a consumer of the data would), and
/// gives back at most [`ZERO_COPY_STEP`] at a time.
pub fn consume_in_place(r: &mut faasin::Reader, mut n: u64, mut fold: u64) -> io::Result<u64> {
    use std::io::BufRead;
    while n > 0 {
        let span = r.fill_buf()?;
        let k = span.len().min(n as usize).min(ZERO_COPY_STEP);
        if k == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        fold = fold_bytes(fold, &span[..k]);
        r.consume(k);
        n -= k as u64;
    }
    Ok(fold)
}

/// Reads every byte of `span` (a consumer that actually looks at the data),
/// folded into `acc` so the compiler cannot skip it.
pub fn fold_bytes(acc: u64, span: &[u8]) -> u64 {
    // Four independent XOR lanes: the compiler turns this into vector loads,
    // so the fold runs at memory speed. (A single rotate-and-xor chain is
    // latency-bound at a few bytes per cycle and made the zero-copy rows
    // measure the fold instead of the transport.)
    let mut lanes = [0u64; 4];
    let mut chunks = span.chunks_exact(32);
    for c in &mut chunks {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            *lane ^= u64::from_ne_bytes(w.try_into().expect("8-byte word"));
        }
    }
    let mut acc = acc
        ^ lanes[0]
        ^ lanes[1].rotate_left(16)
        ^ lanes[2].rotate_left(32)
        ^ lanes[3].rotate_left(48);
    for b in chunks.remainder() {
        acc = acc.rotate_left(8) ^ u64::from(*b);
    }
    acc
}

/// What [`Shm::at`] may hand out: values made of atomics only.
pub trait SharedCell: sealed::Sealed {}
impl SharedCell for AtomicU32 {}
impl SharedCell for AtomicU64 {}
impl SharedCell for [AtomicU64; 8] {}
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::AtomicU32 {}
    impl Sealed for super::AtomicU64 {}
    impl Sealed for [super::AtomicU64; 8] {}
}

/// Shared memory for bare ping-pongs: a page with two counter lines (the
/// floor for a spinning round trip) and two 64-byte payload lines (the floor
/// for a round trip that moves 64 bytes plus a position), then one
/// [`ROTATION`]-byte area per direction whose 64-byte lines the payload moves
/// through one message after another, as a ring's data does.
pub struct Shm {
    ptr: *mut u8,
}

/// The bytes per direction that [`Shm::respond_msg`] with `rotate` moves its
/// payload through: a FAASIN ring's default capacity.
pub const ROTATION: usize = 1 << 20;
const SHM_LEN: usize = 4096 + 2 * ROTATION;

impl Shm {
    /// New shared memory (`SHM_LEN` bytes) and its fd (to pass to the peer).
    pub fn create() -> io::Result<(Shm, OwnedFd)> {
        // SAFETY: literal name, valid flags.
        let fd = unsafe { libc::memfd_create(c"pingpong".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fd from memfd_create.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: valid fd, plain size.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), SHM_LEN as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let shm = Shm::open(fd.try_clone()?)?;
        Ok((shm, fd))
    }

    /// Maps the memory behind `fd` (made by [`Shm::create`]), its page
    /// tables filled at once (`MAP_POPULATE`), so that no measurement
    /// takes the page faults of the rotation areas' first lap.
    pub fn open(fd: OwnedFd) -> io::Result<Shm> {
        // SAFETY: a new shared mapping of a SHM_LEN-byte memfd; we never
        // unmap it, so references handed out below live as long as the
        // process.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SHM_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Shm { ptr: p.cast() })
    }

    /// The shared `T` at byte `off`: a benchmark's own layout in the part
    /// of the first page that the ping-pongs here leave alone (from
    /// [`Shm::FREE`] to 4096).
    pub fn at<T: SharedCell>(&self, off: usize) -> &T {
        assert!(
            off + std::mem::size_of::<T>() <= SHM_LEN
                && off.is_multiple_of(std::mem::align_of::<T>()),
            "no room for the value at {off}"
        );
        // SAFETY: `off` (+ the size of T) lies inside the mapping and is
        // aligned for T (checked); the mapping lives for the whole process;
        // T is made of atomics (SharedCell), which tolerate sharing.
        unsafe { &*self.ptr.add(off).cast::<T>() }
    }

    /// Where the first page is free for [`Shm::at`].
    pub const FREE: usize = 3072;

    /// The counter the initiator bumps.
    pub fn ping(&self) -> &AtomicU64 {
        self.at(0)
    }

    /// The counter the responder bumps (its own cache line).
    pub fn pong(&self) -> &AtomicU64 {
        self.at(128)
    }

    /// The 64-byte payload line of direction `i` (0: to the responder, 1:
    /// back) for message `k`, as eight words so that both processes may
    /// touch it at once: always the same line, or with `rotate` the `k`th
    /// line of the direction's rotation area (wrapping around).
    fn payload(&self, i: usize, k: u64, rotate: bool) -> &[AtomicU64; 8] {
        let off = if rotate {
            4096 + i * ROTATION + (k as usize % (ROTATION / 64)) * 64
        } else {
            1024 * (i + 1)
        };
        self.at(off)
    }

    /// Responder loop for `n` round trips that each move 64 bytes each way:
    /// wait for the counter, read the payload line, write it back into the
    /// other direction's payload line, then bump the other counter. With
    /// `rotate`, each message uses the next line of the rotation areas.
    pub fn respond_msg(&self, n: u64, rotate: bool) {
        // Acquire: pairs with our own earlier Release stores (same process).
        let base = self.pong().load(Ordering::Acquire);
        for i in 1..=n {
            let inbox = self.payload(0, base + i, rotate);
            let outbox = self.payload(1, base + i, rotate);
            // Acquire: pairs with the Release store of ping in `initiate_msg`:
            // the payload stored before it is visible.
            while self.ping().load(Ordering::Acquire) != base + i {
                std::hint::spin_loop();
            }
            for (o, w) in outbox.iter().zip(inbox) {
                o.store(w.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            // Release: pairs with the Acquire load of pong in `initiate_msg`.
            self.pong().store(base + i, Ordering::Release);
        }
    }

    /// Initiator loop for `n` 64-byte round trips (see `respond_msg`);
    /// returns a fold of the bytes that came back (so that no load can be
    /// skipped).
    pub fn initiate_msg(&self, n: u64, rotate: bool) -> u64 {
        let base = self.ping().load(Ordering::Relaxed);
        let mut fold = 0;
        for i in 1..=n {
            let outbox = self.payload(0, base + i, rotate);
            let inbox = self.payload(1, base + i, rotate);
            for w in outbox {
                w.store(i, Ordering::Relaxed);
            }
            // Release: pairs with the Acquire load of ping in `respond_msg`.
            self.ping().store(base + i, Ordering::Release);
            // Acquire: pairs with the Release store of pong in `respond_msg`.
            while self.pong().load(Ordering::Acquire) != base + i {
                std::hint::spin_loop();
            }
            fold = inbox
                .iter()
                .fold(fold, |a, w| a ^ w.load(Ordering::Relaxed));
        }
        fold
    }

    /// Responder loop for `n` round trips.
    pub fn respond(&self, n: u64) {
        // Acquire: pairs with our own earlier Release stores (same process).
        let base = self.pong().load(Ordering::Acquire);
        for i in 1..=n {
            // Acquire: pairs with the Release store of ping in `initiate`.
            while self.ping().load(Ordering::Acquire) != base + i {
                std::hint::spin_loop();
            }
            // Release: pairs with the Acquire load of pong in `initiate`.
            self.pong().store(base + i, Ordering::Release);
        }
    }

    /// Initiator loop for `n` round trips.
    pub fn initiate(&self, n: u64) {
        let base = self.ping().load(Ordering::Relaxed);
        for i in 1..=n {
            // Release: pairs with the Acquire load of ping in `respond`.
            self.ping().store(base + i, Ordering::Release);
            // Acquire: pairs with the Release store of pong in `respond`.
            while self.pong().load(Ordering::Acquire) != base + i {
                std::hint::spin_loop();
            }
        }
    }

    /// The producer of a bare stream, the cross-core ceiling of every
    /// shared-memory transport: writes `total` bytes (`v`, except that each
    /// chunk of 8 bytes or more starts with its number, as a little-endian
    /// u64) in `step`-byte chunks through direction 0's [`ROTATION`]-byte
    /// area, each chunk published by storing the byte count into the `ping` line, and waits
    /// for space by watching the `pong` line. No validation, no wake-ups:
    /// both sides spin. The counters must be 0 (fresh memory).
    pub fn stream_send(&self, total: u64, step: usize, v: u8) {
        assert!(step > 0 && step <= ROTATION && ROTATION.is_multiple_of(step));
        let area = self.area();
        let mut sent = 0u64;
        while sent < total {
            let k = (step as u64).min(total - sent);
            // Acquire: pairs with the Release store of pong in
            // `stream_receive`: the consumer is done with the space.
            while sent + k - self.pong().load(Ordering::Acquire) > ROTATION as u64 {
                std::hint::spin_loop();
            }
            let off = (sent % ROTATION as u64) as usize;
            // SAFETY: off + k <= ROTATION (both divide it, k <= step), so the
            // span lies in direction 0's area of the mapping; the consumer
            // does not read it until the ping store below.
            unsafe { std::ptr::write_bytes(area.add(off), v, k as usize) };
            if k >= 8 {
                let number = sent / step as u64;
                // SAFETY: the first 8 bytes of the span written above.
                unsafe { area.add(off).cast::<u64>().write_unaligned(number.to_le()) };
            }
            sent += k;
            // Release: pairs with the Acquire load of ping in
            // `stream_receive`: the bytes written above are visible.
            self.ping().store(sent, Ordering::Release);
        }
    }

    /// The consumer of [`Shm::stream_send`]: reads `total` bytes in place,
    /// folding every byte into the result (see [`fold_bytes`]), and gives
    /// each chunk back by storing the count into the `pong` line.
    pub fn stream_receive(&self, total: u64, step: usize, mut fold: u64) -> u64 {
        let area = self.area();
        let mut got = 0u64;
        while got < total {
            // Acquire: pairs with the Release store of ping in
            // `stream_send`.
            let mut ready = self.ping().load(Ordering::Acquire);
            while ready == got {
                std::hint::spin_loop();
                ready = self.ping().load(Ordering::Acquire);
            }
            let off = (got % ROTATION as u64) as usize;
            let k = (ready - got).min(step as u64).min((ROTATION - off) as u64) as usize;
            // SAFETY: [off, off + k) lies in direction 0's area and was
            // published (ready > got); the producer does not reuse it until
            // the pong store below.
            let span = unsafe { std::slice::from_raw_parts(area.add(off), k) };
            fold = fold_bytes(fold, span);
            got += k as u64;
            // Release: pairs with the Acquire load of pong in `stream_send`:
            // we are done reading the span.
            self.pong().store(got, Ordering::Release);
        }
        fold
    }

    /// Direction 0's rotation area, as bytes.
    fn area(&self) -> *mut u8 {
        // SAFETY: offset 4096 is inside the SHM_LEN-byte mapping.
        unsafe { self.ptr.add(4096) }
    }
}

/// Median of a non-empty sample (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Smallest and largest value of a sample.
pub fn min_max(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a second mapping of `shm`'s memory in another thread.
    fn peer<T: Send + 'static>(
        fd: &OwnedFd,
        f: impl FnOnce(Shm) -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let fd = fd.try_clone().unwrap();
        std::thread::spawn(move || f(Shm::open(fd).unwrap()))
    }

    #[test]
    fn bare_stream_delivers_every_byte_through_the_wrapping_area() {
        // 2.5 areas' worth in 4 KiB chunks, with a short last chunk.
        let total = (5 * ROTATION / 2 + 1000) as u64;
        let (shm, fd) = Shm::create().unwrap();
        let sink = peer(&fd, move |s| s.stream_receive(total, 4096, 0));
        shm.stream_send(total, 4096, 0x3C);
        let got = sink.join().unwrap();
        // The receiver folds at most a chunk at a time and chunks never
        // straddle the area's end, so its spans are the chunks; fold them
        // here too. A lost, repeated or reordered chunk changes the fold.
        let mut want = 0;
        let mut left = total as usize;
        let mut number = 0u64;
        while left > 0 {
            let k = left.min(4096);
            let mut chunk = vec![0x3Cu8; k];
            chunk[..8].copy_from_slice(&number.to_le_bytes());
            want = fold_bytes(want, &chunk);
            left -= k;
            number += 1;
        }
        assert_ne!(want, 0, "the fold must see the chunk numbers");
        assert_eq!(got, want);
        assert_eq!(shm.pong().load(Ordering::Relaxed), total);
    }

    #[test]
    fn rotating_ping_pong_returns_each_message() {
        for rotate in [false, true] {
            let (shm, fd) = Shm::create().unwrap();
            // More messages than the area has lines, so that it wraps.
            let n = (ROTATION / 64 + 100) as u64;
            let echo = peer(&fd, move |s| s.respond_msg(n, rotate));
            shm.initiate_msg(n, rotate);
            echo.join().unwrap();
            assert_eq!(shm.pong().load(Ordering::Relaxed), n);
            // Each message is eight copies of its number, echoed into the
            // answer's line: with `rotate` the area holds the last lap of
            // answers, each in its own line; without, only the last one.
            let lap = if rotate { (ROTATION / 64) as u64 } else { 1 };
            for k in n - lap + 1..=n {
                for w in shm.payload(1, k, rotate) {
                    assert_eq!(
                        w.load(Ordering::Relaxed),
                        k,
                        "rotate = {rotate}, message {k}"
                    );
                }
            }
        }
    }
}
