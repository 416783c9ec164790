//! The one wait loop of both ends, and the doorbell it sleeps on.
//!
//! An end that finds too little in the ring (data to read, space to write)
//! spins briefly, then marks itself waiting, looks again, and sleeps until
//! the peer's doorbell or hang-up; a timeout, non-blocking mode or a peer
//! that leaves ends the wait. Publishing and giving back bytes decide here
//! whether the peer must be woken, and how. All of it is written once,
//! generic over the side of the index protocol ([`Side`]: the reader's
//! `Consumer`, the writer's `Producer`) and over the [`Doorbell`], so that
//! the loom model at the end of this file checks this same code, with
//! condition variables in place of the endpoint socket and the pipe.

use crate::header::Header;
use crate::options::{Missed, Options, SpinBudget, SpinPhase};
use crate::ring::{Consumer, Producer, Side};
use crate::sysfd;
use std::io;
use std::time::Instant;

/// How a waiting end sleeps and how its peer wakes it: the only part of a
/// wait that makes system calls. A real end's is a `bell::Bell`: the
/// endpoint socket, which the caller's poll watches, and beside it the
/// pipe a reader that keeps blocking sleeps on. A wait arms its waiting
/// flag with the value [`Doorbell::arm_as`] gives, and the peer rings what
/// that value asks for; changing how ends sleep means changing the
/// implementation, not the wait loop.
pub(crate) trait Doorbell {
    /// The non-zero value a wait arms its waiting flag with, which tells
    /// the peer how to wake it: `polled` when the caller's own poll of the
    /// end's fd waits (non-blocking mode) rather than [`Doorbell::sleep`].
    /// It may first set up a faster way to be woken (the reader's pipe),
    /// which the peer learns of before it can see the value.
    fn arm_as(&self, polled: bool) -> u32;

    /// Wakes the peer, whose waiting flag held `armed`. Best effort: a full
    /// queue means that wake-ups are pending already, and a peer that hung
    /// up needs none. A value this doorbell does not know (a hostile
    /// peer's) gets the wake-up its caller's poll would see.
    fn ring(&self, armed: u32);

    /// Takes the pending wake-ups meant for the caller's poll without
    /// blocking; true if the peer hung up.
    fn drain(&self) -> io::Result<bool>;

    /// Sleeps until a wake-up (false) or the peer's hang-up (true) arrives,
    /// or, with a deadline, at most until then: `TimedOut` once it has
    /// passed. An interrupting signal is `Interrupted`. A wake-up may be
    /// stale: the caller looks at the ring again either way.
    fn sleep(&self, deadline: Option<Instant>, what: &str) -> io::Result<bool>;
}

/// A doorbell shared with whoever keeps it between streams (`kept`).
impl<D: Doorbell> Doorbell for std::sync::Arc<D> {
    fn arm_as(&self, polled: bool) -> u32 {
        (**self).arm_as(polled)
    }

    fn ring(&self, armed: u32) {
        (**self).ring(armed)
    }

    fn drain(&self) -> io::Result<bool> {
        (**self).drain()
    }

    fn sleep(&self, deadline: Option<Instant>, what: &str) -> io::Result<bool> {
        (**self).sleep(deadline, what)
    }
}

/// A byte that a spinning wait loads with each look at the peer's position.
/// The reader passes the first byte the writer will fill, so that the look
/// which sees the new write_pos has usually fetched that line in parallel,
/// instead of missing on it right after: one cache-line crossing less per
/// message on a spinning round trip.
#[derive(Clone, Copy)]
pub(crate) struct Touch(*const u8);

impl Touch {
    /// # Safety
    /// `byte` is valid for reads for as long as the `Touch` is used.
    pub(crate) unsafe fn new(byte: *const u8) -> Touch {
        Touch(byte)
    }

    fn load(self) {
        // SAFETY: valid for reads (the contract of `new`). The load may race
        // with the peer filling the byte (another process): it is volatile,
        // on a u8, and its value is thrown away.
        let _ = unsafe { std::ptr::read_volatile(self.0) };
    }
}

/// An end's link to its peer: its side of the index protocol, the doorbell
/// between them, and what it has learnt about the peer and about spinning.
pub(crate) struct Link<S, B> {
    pub(crate) side: S,
    pub(crate) bell: B,
    /// The lifeline hung up: the peer is gone, whatever the header says.
    pub(crate) peer_gone: bool,
    /// How long the next wait spins (adapts; see `DEFAULT_SPIN`).
    pub(crate) spin: SpinBudget,
    /// Bytes have come to this side (data, or room to write) since the end
    /// opened. Until then a blocking wait does not spin: a reader waiting
    /// for its first byte waits for a writer that may not have started, or
    /// that waits in turn for the functions before it in a chain; spinning
    /// for it takes a CPU that they, or the reader's own reader, need. (A
    /// non-blocking wait spins only when its caller asked for that.)
    flowed: bool,
}

/// How the spin phase of a wait ended.
enum Spun {
    /// It found this many bytes, enough.
    Got(u64),
    /// The peer closed its end on purpose.
    PeerClosed,
    /// Nothing came: sleep. `Some(when)` if the budget ran out then (the
    /// sleep that follows tunes it, see `SpinBudget::slept`).
    Sleep(Option<Instant>),
}

impl<S: Side, B: Doorbell> Link<S, B> {
    pub(crate) fn new(side: S, bell: B) -> Self {
        Link {
            side,
            bell,
            peer_gone: false,
            spin: SpinBudget::new(),
            flowed: false,
        }
    }

    /// The bytes this side may take now (by the cached position, refreshed
    /// if that shows fewer than `min`, or none), waiting for at least `min`
    /// if there are fewer, until the peer is gone (`Side::after_peer`).
    /// `min == 0` never waits. The reader's 0 is EOF.
    #[inline]
    pub(crate) fn take(
        &mut self,
        h: &Header,
        min: u64,
        opts: &Options,
        touch: Option<Touch>,
    ) -> io::Result<u64> {
        self.spin.settle(opts.spin);
        let n = self.look(h, min)?;
        if n >= min {
            self.flowed |= n > 0;
            return Ok(n);
        }
        let n = self.wait(h, min, opts, touch)?;
        self.flowed |= n > 0;
        Ok(n)
    }

    /// The bytes this side may take: the cached count, refreshed if it is
    /// below `min` or zero.
    #[inline]
    fn look(&mut self, h: &Header, min: u64) -> io::Result<u64> {
        let n = self.side.cached();
        if n >= min.max(1) {
            return Ok(n);
        }
        Ok(self.side.refresh(h)?)
    }

    /// The slow path of `take`: waits until at least `min` (>= 1) bytes
    /// can be taken, or the peer is gone.
    fn wait(
        &mut self,
        h: &Header,
        min: u64,
        opts: &Options,
        touch: Option<Touch>,
    ) -> io::Result<u64> {
        let mut phase = SpinPhase::new(self.spin.get(opts.spin));
        let gave_up = match self.spin_phase(h, min, opts, &mut phase, touch)? {
            Spun::Got(n) => return Ok(n),
            Spun::PeerClosed => return self.side.after_peer(h),
            Spun::Sleep(gave_up) => gave_up,
        };
        if !phase.noted() {
            self.side.note_cpu(h, sysfd::current_cpu());
        }
        self.sleep_phase(h, min, opts, gave_up)
    }

    /// The spin phase: looks at the peer's position until `min` bytes
    /// are there, the peer closes, or the budget says stop. Skipped in
    /// non-blocking mode unless `nonblocking_spin`, with no spin set, in a
    /// blocking wait for the first bytes (see `Link::flowed`), and once the
    /// peer is gone.
    fn spin_phase(
        &mut self,
        h: &Header,
        min: u64,
        opts: &Options,
        phase: &mut SpinPhase,
        touch: Option<Touch>,
    ) -> io::Result<Spun> {
        let spins = (!opts.nonblocking || opts.nonblocking_spin) && !opts.spin.is_zero();
        if !spins || self.peer_gone || (!self.flowed && !opts.nonblocking) {
            return Ok(Spun::Sleep(None));
        }
        loop {
            if let Some(t) = touch {
                t.load();
            }
            let n = self.side.refresh(h)?;
            if n >= min {
                self.spin.served(opts.spin);
                return Ok(Spun::Got(n));
            }
            let side = &self.side;
            match phase.missed(
                || side.peer_closed(h),
                |here| {
                    side.note_cpu(h, here);
                    side.spin_may_help(h, here)
                },
            ) {
                Missed::Spin => {}
                Missed::PeerClosed => return Ok(Spun::PeerClosed),
                Missed::Stop(at) => return Ok(Spun::Sleep(at)),
            }
        }
    }

    /// The sleep phase: arm, look again, and sleep on the doorbell until
    /// `min` bytes are there, the peer is gone, or the options end the
    /// wait (`WouldBlock`, `TimedOut`).
    fn sleep_phase(
        &mut self,
        h: &Header,
        min: u64,
        opts: &Options,
        gave_up: Option<Instant>,
    ) -> io::Result<u64> {
        let deadline = opts.deadline();
        let how = self.bell.arm_as(opts.nonblocking);
        // Stale doorbells are drained where they would make a later poll
        // return at once (non-blocking readiness, timed waits), which also
        // sees a hang-up before a deadline that has passed; a plain
        // blocking wait just consumes them one by one below, each costing
        // one more look at the ring instead of a syscall now.
        let polls = opts.nonblocking || deadline.is_some();
        loop {
            if polls && !self.peer_gone && self.bell.drain()? {
                self.peer_gone = true;
            }
            self.side.arm(h, how);
            match self.side.refresh(h) {
                Ok(n) if n >= min => {
                    self.side.disarm(h);
                    if let Some(t) = gave_up {
                        self.spin.slept(t.elapsed(), opts.spin);
                    }
                    return Ok(n);
                }
                Ok(_) => {}
                Err(e) => {
                    self.side.disarm(h);
                    return Err(e.into());
                }
            }
            if self.peer_gone || self.side.peer_closed(h) {
                self.side.disarm(h);
                return self.side.after_peer(h);
            }
            if opts.nonblocking {
                // Stays armed: the doorbell then makes the fd readable.
                if let Some(t) = gave_up {
                    self.spin.gave_up_nonblocking(t);
                }
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.bell.sleep(deadline, S::WHAT) {
                Ok(hung_up) => {
                    self.peer_gone |= hung_up;
                    // The wake-up may have moved us (see `spin_may_help`).
                    self.side.note_cpu(h, sysfd::current_cpu());
                }
                Err(e) => {
                    // After a timeout or EINTR nobody waits here any more:
                    // disarm, so the peer does not ring for nobody.
                    self.side.disarm(h);
                    return Err(e);
                }
            }
        }
    }

    /// Moves our position on by `n` bytes (the writer commits them, the
    /// reader gives them back) and wakes the peer if it sleeps, noting our
    /// CPU first (see `ring::spin_may_help`).
    #[inline]
    pub(crate) fn publish(&mut self, h: &Header, n: u64) {
        if n == 0 {
            return;
        }
        let armed = self.side.publish(h, n);
        if armed != 0 {
            self.side.note_cpu(h, sysfd::current_cpu());
            self.bell.ring(armed);
        }
    }

    /// Marks our end closed, and wakes the peer if it sleeps.
    pub(crate) fn close(&self, h: &Header) {
        let armed = self.side.close(h);
        if armed != 0 {
            self.bell.ring(armed);
        }
    }

    /// Waits until the peer has closed stream `stream` of a kept ring (see
    /// `kept`): a restarted writer must not write before the reader is
    /// done with the last stream. The peer's hang-up ends the wait with
    /// `BrokenPipe`.
    pub(crate) fn await_peer_close(&mut self, h: &Header, stream: u32) -> io::Result<()> {
        let how = self.bell.arm_as(false);
        loop {
            self.side.arm(h, how);
            if self.side.peer_closed_from(h, stream) {
                self.side.disarm(h);
                return Ok(());
            }
            match self.bell.sleep(None, S::WHAT) {
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(true) => {
                    self.side.disarm(h);
                    self.peer_gone = true;
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the peer of a kept FAASIN stream end is gone",
                    ));
                }
                Err(e) => {
                    self.side.disarm(h);
                    return Err(e);
                }
            }
        }
    }

    /// Whether this end may carry the next stream of a kept ring once it
    /// closes: its peer did not hang up, and a reader read its stream to
    /// the end (the writer closed it and nothing is left), so that the
    /// next stream starts where it stands.
    pub(crate) fn done_cleanly(&mut self, h: &Header) -> bool {
        if self.peer_gone {
            return false;
        }
        if !S::READS {
            return true;
        }
        // The close flag first: once it is seen, so is every commit before it.
        self.side.peer_closed(h) && matches!(self.side.refresh(h), Ok(0))
    }
}

impl<B: Doorbell> Link<Consumer, B> {
    /// Copies `n` readable bytes out and gives them back, in steps of at
    /// most `step` so that a spinning writer refills behind the copy:
    /// `copy(done, k)` copies the `k` bytes at `done` from the read offset.
    /// Only the last step may wake a sleeping writer (a wake-up per step
    /// would cost more than the overlap gains).
    pub(crate) fn copy_out(
        &mut self,
        h: &Header,
        n: usize,
        step: usize,
        mut copy: impl FnMut(usize, usize),
    ) {
        let mut done = 0;
        while n - done > step {
            copy(done, step);
            self.side.publish_quietly(h, step as u64);
            done += step;
        }
        copy(done, n - done);
        self.publish(h, (n - done) as u64);
    }
}

impl<B: Doorbell> Link<Producer, B> {
    /// `BrokenPipe` once the reader is gone (its close flag or hang-up).
    pub(crate) fn check_open(&self, h: &Header) -> io::Result<()> {
        if self.peer_gone || self.side.peer_closed(h) {
            return Err(crate::ring::broken_pipe());
        }
        Ok(())
    }

    /// Writes `len` bytes into the ring as space comes, in steps of at most
    /// `step`: `copy(off, done, k)` copies the `k` bytes at `done` of the
    /// caller's buffer to the data offset `off`, into free space. Returns
    /// the count written: all of it in blocking mode, what fitted in
    /// non-blocking mode; an error after some bytes is reported by the next
    /// call instead, as with write(2).
    pub(crate) fn write(
        &mut self,
        h: &Header,
        len: usize,
        step: usize,
        opts: &Options,
        mut copy: impl FnMut(usize, usize, usize),
    ) -> io::Result<usize> {
        self.check_open(h)?;
        let mut done = 0usize;
        while done < len {
            if done > 0 && opts.nonblocking && self.look(h, 1)? == 0 {
                break;
            }
            let free = match self.take(h, 1, opts, None) {
                Ok(free) => free,
                // Reported by the next call.
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            };
            let n = (free as usize).min(len - done).min(step);
            copy(self.side.offset(), done, n);
            // A step with more to come right away only moves write_pos: a
            // spinning reader follows it, and a sleeping one is woken once,
            // by the last step of the call or the step that fills the ring
            // (after which we may wait), never left asleep behind data.
            if done + n < len && free > n as u64 {
                self.side.publish_quietly(h, n as u64);
            } else {
                self.publish(h, n as u64);
            }
            done += n;
        }
        Ok(done)
    }
}

/// A doorbell for tests: the endpoint socket and the reader's wake-up pipe
/// as far as waking is concerned, on a mutex and a condition variable
/// (loom's in the model). Like `bell::Bell`, it queues one wake-up per
/// `ring`, on the pipe or the socket as the armed value asks; the reader
/// sleeps on its socket until it has slept there once, then offers a pipe
/// (a message queued on the socket, taken by the writer wherever it reads
/// its socket or when it first rings the pipe) and sleeps on that; the
/// writer sleeps on its socket, a caller's poll watches the socket, and
/// dropping an end is the hang-up its peer sees on both.
#[cfg(test)]
pub(crate) mod test_bell {
    use super::Doorbell;
    use crate::bell::{ON_PIPE, ON_SOCKET};
    use crate::sync::{Arc, Condvar, Mutex};
    use std::cell::Cell;
    use std::io;
    use std::time::Instant;

    /// The socket sleeps after which the test reader offers its pipe (the
    /// real one waits longer; one is enough to check both ways and the
    /// switch between them).
    const SOCKET_SLEEPS: u32 = 1;

    /// Wake-ups sent to one end and not yet taken, the reader's offer of
    /// its pipe if it is queued (for the writer), and whether the peer hung
    /// up.
    #[derive(Default)]
    struct State {
        socket: usize,
        offer: bool,
        pipe: usize,
        hung_up: bool,
    }

    struct Queue {
        state: Mutex<State>,
        cv: Condvar,
    }

    impl Queue {
        fn new() -> Arc<Queue> {
            Arc::new(Queue {
                state: Mutex::new(State::default()),
                cv: Condvar::new(),
            })
        }

        fn update(&self, f: impl FnOnce(&mut State)) {
            f(&mut self.state.lock().unwrap());
            self.cv.notify_all();
        }

        /// Blocks until `pending` finds a wake-up (or, for the writer, the
        /// offer, which it takes first, as a message) or the hang-up comes.
        /// False for a wake-up, true for the hang-up.
        fn wait(
            &self,
            mut pending: impl FnMut(&mut State) -> &mut usize,
            took_offer: Option<&Cell<bool>>,
        ) -> bool {
            let mut s = self.state.lock().unwrap();
            while *pending(&mut s) == 0 && !s.hung_up && !(s.offer && took_offer.is_some()) {
                s = self.cv.wait(s).unwrap();
            }
            if let Some(piped) = took_offer.filter(|_| s.offer) {
                s.offer = false;
                piped.set(true);
                return false;
            }
            let n = pending(&mut s);
            if *n > 0 {
                *n -= 1;
                return false;
            }
            true
        }
    }

    /// One end of a doorbell pair.
    pub(crate) struct TestBell {
        mine: Arc<Queue>,
        peer: Arc<Queue>,
        reader: bool,
        /// The reader offered its pipe; the writer took the offer.
        piped: Cell<bool>,
        /// The reader's sleeps on the socket.
        sleeps: Cell<u32>,
    }

    /// The writer's end and the reader's, connected.
    pub(crate) fn pair() -> (TestBell, TestBell) {
        let (w, r) = (Queue::new(), Queue::new());
        let end = |mine, peer, reader| TestBell {
            mine,
            peer,
            reader,
            piped: Cell::new(false),
            sleeps: Cell::new(0),
        };
        (end(w.clone(), r.clone(), false), end(r, w, true))
    }

    impl TestBell {
        /// What an event loop does between non-blocking calls: waits until
        /// the socket polls readable (a wake-up or the hang-up), taking
        /// nothing.
        pub(crate) fn poll(&self) {
            let mut s = self.mine.state.lock().unwrap();
            while s.socket == 0 && !s.hung_up {
                s = self.mine.cv.wait(s).unwrap();
            }
        }

        /// The writer's reads of its socket: every doorbell, and the offer.
        fn take_messages(&self) -> bool {
            let mut s = self.mine.state.lock().unwrap();
            s.socket = 0;
            if std::mem::take(&mut s.offer) {
                self.piped.set(true);
            }
            s.hung_up
        }
    }

    impl Doorbell for TestBell {
        fn arm_as(&self, polled: bool) -> u32 {
            if !self.reader || polled {
                return ON_SOCKET;
            }
            if !self.piped.get() && self.sleeps.get() >= SOCKET_SLEEPS {
                self.peer.update(|s| s.offer = true);
                self.piped.set(true);
            }
            match self.piped.get() {
                true => ON_PIPE,
                false => ON_SOCKET,
            }
        }

        fn ring(&self, armed: u32) {
            let on_pipe = armed == ON_PIPE && !self.reader && {
                if !self.piped.get() {
                    self.take_messages();
                }
                self.piped.get()
            };
            self.peer.update(|s| match on_pipe {
                true => s.pipe += 1,
                false => s.socket += 1,
            });
        }

        fn drain(&self) -> io::Result<bool> {
            Ok(match self.reader {
                true => {
                    let mut s = self.mine.state.lock().unwrap();
                    s.socket = 0;
                    s.hung_up
                }
                false => self.take_messages(),
            })
        }

        fn sleep(&self, deadline: Option<Instant>, _what: &str) -> io::Result<bool> {
            assert!(deadline.is_none(), "the test doorbell keeps no time");
            Ok(match (self.reader, self.piped.get()) {
                (true, true) => self.mine.wait(|s| &mut s.pipe, None),
                (true, false) => {
                    self.sleeps.set(self.sleeps.get() + 1);
                    self.mine.wait(|s| &mut s.socket, None)
                }
                (false, _) => self.mine.wait(|s| &mut s.socket, Some(&self.piped)),
            })
        }
    }

    impl Drop for TestBell {
        fn drop(&mut self) {
            self.peer.update(|s| s.hung_up = true);
        }
    }
}

/// What the tests and the model stream: a writer and a reader that move
/// `total` bytes through a heap ring of `cap` bytes with the shipped code
/// (`Link::write`, `Link::take`, `Link::copy_out`), in steps of one byte,
/// sleeping on a [`test_bell`] doorbell whenever the real ends would, or,
/// for the reader's non-blocking calls, waiting in a poll of its socket.
#[cfg(test)]
mod harness {
    use super::test_bell::{self, TestBell};
    use super::Link;
    use crate::header::Header;
    use crate::options::Options;
    use crate::ring::{Consumer, Producer, Side};
    use crate::sync::Arc;
    use std::time::Duration;

    /// Blocking, without spinning: every wait goes to sleep on the
    /// doorbell, the path where a wake-up can be lost.
    pub(crate) const OPTS: Options = Options {
        nonblocking: false,
        nonblocking_spin: false,
        spin: Duration::ZERO,
        timeout: None,
    };

    /// Non-blocking, without spinning: a wait arms readiness and fails
    /// with `WouldBlock`, and the caller polls the socket.
    pub(crate) const POLLED: Options = Options {
        nonblocking: true,
        ..OPTS
    };

    pub(crate) struct Ring {
        pub(crate) h: Arc<Header>,
        pub(crate) cap: u64,
    }

    impl Ring {
        pub(crate) fn new(cap: u64) -> (Ring, Link<Producer, TestBell>, Link<Consumer, TestBell>) {
            let (bw, br) = test_bell::pair();
            let ring = Ring {
                h: Arc::new(Header::new(cap, 4096)),
                cap,
            };
            let w = Link::new(Producer::new(cap, 0, 0), bw);
            let r = Link::new(Consumer::new(cap, 0), br);
            (ring, w, r)
        }

        /// Reads until EOF; returns the byte count. `check(i, off)` is
        /// called for the `i`-th byte, at data offset `off`. The `k`-th
        /// call that takes bytes (or EOF) is non-blocking, and waits in a
        /// poll of the socket after `WouldBlock`, if `polled(k)`.
        pub(crate) fn read_to_end(
            &self,
            r: &mut Link<Consumer, TestBell>,
            polled: impl Fn(u64) -> bool,
            mut check: impl FnMut(u64, usize),
        ) -> u64 {
            let (mut got, mut k) = (0, 0);
            loop {
                let opts = if polled(k) { POLLED } else { OPTS };
                k += 1;
                let n = loop {
                    match r.take(&self.h, 1, &opts, None) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => r.bell.poll(),
                        n => break n.unwrap(),
                    }
                };
                if n == 0 {
                    return got;
                }
                let off = r.side.offset();
                r.copy_out(&self.h, n as usize, 1, |done, k| {
                    for i in done..done + k {
                        check(got + i as u64, (off + i) % self.cap as usize);
                    }
                });
                got += n;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::harness::{Ring, OPTS};
    use crate::ring::Side;
    use std::cell::UnsafeCell;

    /// Two threads stream through a heap ring with the shipped wait loop,
    /// sleeping on the test doorbell. Under Miri this also checks that the
    /// bytes are handed over through the protocol's Release/Acquire pairs.
    #[test]
    fn threads_stream_through_the_wait_loop() {
        const CAP: u64 = 8;
        const N: usize = if cfg!(miri) { 200 } else { 20_000 };
        struct Data([UnsafeCell<u8>; CAP as usize]);
        // SAFETY: each byte is written only while the writer owns its slot
        // and read only while the reader does; the protocol hands them over.
        unsafe impl Sync for Data {}
        let data = std::sync::Arc::new(Data(Default::default()));
        let (ring, mut w, mut r) = Ring::new(CAP);
        let ring = std::sync::Arc::new(ring);
        let (ring_w, data_w) = (ring.clone(), data.clone());
        let writer = std::thread::spawn(move || {
            let n = w.write(&ring_w.h, N, 3, &OPTS, |off, done, k| {
                for i in 0..k {
                    let slot = &data_w.0[(off + i) % CAP as usize];
                    // SAFETY: the span is free space, ours until committed.
                    unsafe { *slot.get() = ((done + i) % 251) as u8 };
                }
            });
            assert_eq!(n.unwrap(), N);
            w.close(&ring_w.h);
        });
        // Every third read goes through a poll of the socket, the others
        // sleep on the pipe.
        let got = ring.read_to_end(
            &mut r,
            |k| k % 3 == 1,
            |i, off| {
                // SAFETY: the byte was committed and is ours until released.
                let b = unsafe { *data.0[off].get() };
                assert_eq!(b, (i % 251) as u8, "byte {i}");
            },
        );
        writer.join().unwrap();
        assert_eq!(got, N as u64);
        assert_eq!(r.side.cached(), 0);
    }
}

/// Loom model of the wait loop over the index and wake-up protocol: a
/// writer and a reader move bytes through a 2-byte ring with the shipped
/// code, sleeping on the test doorbell exactly when the real ends would. A
/// lost wake-up shows up as a deadlock, a broken invariant as a failed
/// refresh, a missing happens-before edge as a data race on a slot. Run
/// with `RUSTFLAGS="--cfg loom" cargo test -p faasin --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::harness::{Ring, OPTS};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    const CAP: u64 = 2;

    /// The ring's data area, as cells loom tracks for racing accesses.
    fn slots() -> Arc<[UnsafeCell<u8>; CAP as usize]> {
        Arc::new([UnsafeCell::new(0), UnsafeCell::new(0)])
    }

    /// The writer moves `TOTAL` bytes, the reader reads them to EOF, its
    /// `k`-th call non-blocking and polling if `polled(k)`.
    fn stream(polled: fn(u64) -> bool) {
        const TOTAL: usize = 5;
        loom::model(move || {
            let (ring, mut w, mut r) = Ring::new(CAP);
            let data = slots();
            let (h, data_w) = (ring.h.clone(), data.clone());
            let writer = loom::thread::spawn(move || {
                let n = w.write(&h, TOTAL, 1, &OPTS, |off, done, _| {
                    // SAFETY: free space, ours until committed (loom
                    // reports the race if the protocol does not order it).
                    data_w[off % CAP as usize].with_mut(|p| unsafe { *p = done as u8 });
                });
                assert_eq!(n.unwrap(), TOTAL);
                w.close(&h);
            });
            let got = ring.read_to_end(&mut r, polled, |i, off| {
                // SAFETY: committed, ours until released (as above).
                let b = data[off].with(|p| unsafe { *p });
                assert_eq!(u64::from(b), i);
            });
            assert_eq!(
                got, TOTAL as u64,
                "EOF before every committed byte was read"
            );
            writer.join().unwrap();
        });
    }

    #[test]
    fn no_lost_wakeups_and_eof_after_all_data() {
        stream(|_| false);
    }

    /// A reader that waits now on its pipe, now in a poll of its socket
    /// (an event loop between non-blocking calls): the writer must ring
    /// what each wait armed for.
    #[test]
    fn no_lost_wakeups_whichever_way_the_reader_waits() {
        stream(|k| k % 2 == 0);
    }

    /// A writer that dies without closing: its hang-up alone must end the
    /// reader's wait, after the bytes it committed, whether the reader
    /// sleeps or polls (`polled`, as in `stream`).
    fn hang_up(polled: fn(u64) -> bool) {
        loom::model(move || {
            let (ring, mut w, mut r) = Ring::new(CAP);
            let h = ring.h.clone();
            let writer = loom::thread::spawn(move || {
                assert_eq!(w.write(&h, 1, 1, &OPTS, |_, _, _| {}).unwrap(), 1);
                drop(w);
            });
            assert_eq!(ring.read_to_end(&mut r, polled, |_, _| {}), 1);
            writer.join().unwrap();
        });
    }

    #[test]
    fn a_hang_up_ends_the_wait_after_all_data() {
        hang_up(|_| false);
    }

    #[test]
    fn a_hang_up_ends_a_poll_after_all_data() {
        hang_up(|_| true);
    }

    /// A kept ring carries a second stream (see `kept`): the restarted
    /// writer waits for the reader's close of the first, so that no byte
    /// of the second is read as part of the first and the first's EOF
    /// comes where its writer closed it; the reader, which read the first
    /// to its end, starts the second where it stands.
    #[test]
    fn a_restarted_stream_follows_the_last_without_mixing_or_losing_a_wakeup() {
        use super::Link;
        use crate::ring::{Consumer, Producer, Side};
        loom::model(|| {
            let (ring, mut w, mut r) = Ring::new(CAP);
            let data = slots();
            let (h, data_w) = (ring.h.clone(), data.clone());
            let writer = loom::thread::spawn(move || {
                let fill = |v: u8| {
                    let data_w = data_w.clone();
                    move |off: usize, done: usize, _| {
                        // SAFETY: free space, ours until committed.
                        data_w[off % CAP as usize].with_mut(|p| unsafe { *p = v + done as u8 });
                    }
                };
                assert_eq!(w.write(&h, 2, 1, &OPTS, fill(0)).unwrap(), 2);
                w.close(&h);
                let mut side = Producer::open(&h, CAP).unwrap();
                side.set_stream(2);
                let mut w = Link::new(side, w.bell);
                w.await_peer_close(&h, 1).unwrap();
                assert_eq!(w.write(&h, 1, 1, &OPTS, fill(7)).unwrap(), 1);
                w.close(&h);
            });
            let read = |r: &mut Link<Consumer, _>, first: u64| {
                ring.read_to_end(
                    r,
                    |_| false,
                    |i, off| {
                        // SAFETY: committed, ours until released.
                        let b = data[off].with(|p| unsafe { *p });
                        assert_eq!(u64::from(b), first + i);
                    },
                )
            };
            assert_eq!(read(&mut r, 0), 2, "the first stream's bytes, then its EOF");
            assert!(r.done_cleanly(&ring.h));
            r.close(&ring.h);
            let mut side = Consumer::open(&ring.h, CAP).unwrap();
            side.set_stream(2);
            let mut r = Link::new(side, r.bell);
            assert_eq!(read(&mut r, 7), 1, "the second stream's byte, then its EOF");
            writer.join().unwrap();
        });
    }

    /// A reader that closes while the writer waits for space: the writer
    /// must be woken and fail with `BrokenPipe`, not sleep for ever.
    #[test]
    fn a_reader_that_leaves_wakes_a_waiting_writer() {
        loom::model(|| {
            let (ring, mut w, r) = Ring::new(CAP);
            let h = ring.h.clone();
            let writer = loom::thread::spawn(move || {
                let first = w.write(&h, 3, 1, &OPTS, |_, _, _| {});
                // The ring takes two bytes; the third waits for space that
                // never comes: a short count, then the error, or the error.
                if let Ok(n) = first {
                    assert_eq!(n, 2);
                }
                let e = w.write(&h, 1, 1, &OPTS, |_, _, _| {}).unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
            });
            r.close(&ring.h);
            drop(r);
            writer.join().unwrap();
        });
    }
}
