//! The index protocol of the ring: positions, their validation, and the
//! decision whether the other side must be woken. No syscalls and no data
//! copies live here, so the protocol can be model-checked with loom on a
//! heap-allocated [`Header`], together with the wait loop that uses it
//! (`wait::loom_model`).
//!
//! Wake-up rule (a Dekker pattern without fences): a side about to sleep sets
//! its waiting flag with an AcqRel swap, then re-reads the other side's
//! position (Acquire); a side that publishes a position stores it (Release),
//! then clears the flag with an AcqRel swap. Every modification of a waiting
//! flag is a read-modify-write, so all of them form one release sequence.
//! Either the publisher's swap comes after the sleeper's in the flag's
//! modification order (it reads the flag set and rings the doorbell the
//! flag's value names: the sleeper's pipe or its socket, see `bell`), or it
//! comes before, and then the sleeper's swap synchronizes with it, so the
//! sleeper's re-read sees the new position. No wake-up is lost.
//!
//! Plain stores plus SeqCst fences would be correct in C++20 too, but loom
//! 0.7 reports a false deadlock for them (its SC fences mishandle a
//! preceding RMW on the flag), so the model could not check them; the
//! RMW-only protocol is checkable and costs the same on x86 (a locked swap
//! instead of mfence + load), since each waiting flag lives on a line that
//! only its publisher touches while data streams.

use crate::header::Header;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use std::fmt;
use std::io;

/// The peer broke a ring invariant. Reported as `io::ErrorKind::InvalidData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Corrupt {
    WriteAhead {
        write_pos: u64,
        read_pos: u64,
        capacity: u64,
    },
    WriteBackwards {
        write_pos: u64,
        last_seen: u64,
    },
    ReadBackwards {
        read_pos: u64,
        last_seen: u64,
    },
    ReadAhead {
        read_pos: u64,
        write_pos: u64,
    },
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Corrupt::WriteAhead { write_pos, read_pos, capacity } => write!(
                f,
                "corrupted ring: write_pos {write_pos} is ahead of read_pos {read_pos} by more than the capacity {capacity}"
            ),
            Corrupt::WriteBackwards { write_pos, last_seen } => write!(
                f,
                "corrupted ring: write_pos went backwards from {last_seen} to {write_pos}"
            ),
            Corrupt::ReadBackwards { read_pos, last_seen } => write!(
                f,
                "corrupted ring: read_pos went backwards from {last_seen} to {read_pos}"
            ),
            Corrupt::ReadAhead { read_pos, write_pos } => write!(
                f,
                "corrupted ring: read_pos {read_pos} is ahead of write_pos {write_pos}"
            ),
        }
    }
}

impl From<Corrupt> for std::io::Error {
    fn from(c: Corrupt) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, c.to_string())
    }
}

/// The reader closed its end: what a write, reserve or commit fails with.
pub(crate) fn broken_pipe() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "broken pipe: the FAASIN reader closed its end",
    )
}

/// One side's words in the shared header: the ones it stores, and the
/// peer's ones it loads. The protocol below is written once, against these;
/// the reader's are the writer's, mirrored.
pub(crate) struct Words<'h> {
    /// Our position (bytes committed, or consumed); only we store it.
    pos: &'h AtomicU64,
    peer_pos: &'h AtomicU64,
    /// Ours: set (armed) while we sleep; the peer takes it to wake us.
    waiting: &'h AtomicU32,
    peer_waiting: &'h AtomicU32,
    /// 1 + the CPU we last ran on (a hint, see `spin_may_help`).
    cpu: &'h AtomicU32,
    peer_cpu: &'h AtomicU32,
    /// Ours: 1 once we closed our end on purpose.
    closed: &'h AtomicU32,
    peer_closed: &'h AtomicU32,
}

impl<'h> Words<'h> {
    #[inline]
    fn writer(h: &'h Header) -> Self {
        Words {
            pos: &h.writer.write_pos,
            peer_pos: &h.reader.read_pos,
            waiting: &h.to_writer.writer_waiting,
            peer_waiting: &h.to_reader.reader_waiting,
            cpu: &h.writer.writer_cpu,
            peer_cpu: &h.reader.reader_cpu,
            closed: &h.to_writer.writer_closed,
            peer_closed: &h.to_reader.reader_closed,
        }
    }

    /// The same words, seen from the other side.
    #[inline]
    fn mirrored(mut self) -> Self {
        std::mem::swap(&mut self.pos, &mut self.peer_pos);
        std::mem::swap(&mut self.waiting, &mut self.peer_waiting);
        std::mem::swap(&mut self.cpu, &mut self.peer_cpu);
        std::mem::swap(&mut self.closed, &mut self.peer_closed);
        self
    }
}

/// A side of the ring: the reader's [`Consumer`] or the writer's
/// [`Producer`], each of which waits for the other's position to move. The
/// required methods are where the two differ (what their counts mean and
/// how a peer position is checked); the provided ones are the protocol
/// itself, the same for both on their own [`Words`]. `wait::Link` is
/// written once against this.
pub(crate) trait Side: Sized {
    /// What this side waits to do, for errors: "read" or "write".
    const WHAT: &'static str;

    /// True for the reader's side: a kept ring's next stream starts where
    /// the reader stands, the writer's waits for it (see `kept`).
    const READS: bool;

    /// This side's view of a ring that may hold data already: it resumes
    /// where the positions stand, after checking them like every later load.
    fn open(h: &Header, capacity: u64) -> Result<Self, Corrupt>;

    /// This side's words in `h`.
    fn words(h: &Header) -> Words<'_>;

    /// Bytes this side may take (readable, or free) by the peer position
    /// last seen; no shared access.
    fn cached(&self) -> u64;

    /// Checks a peer position just loaded against what we know, and keeps
    /// it if it holds.
    fn see(&mut self, peer_pos: u64) -> Result<(), Corrupt>;

    /// Moves our private position on by `n` bytes (at most `cached`) and
    /// returns it.
    fn advance(&mut self, n: u64) -> u64;

    /// What a wait ends with once the peer is gone (it closed its end, or
    /// its lifeline hung up): the reader gets what is left, then EOF (0);
    /// the writer fails with `BrokenPipe`.
    fn after_peer(&mut self, h: &Header) -> io::Result<u64>;

    /// Where this side's next byte is in the data area. The capacity is a
    /// power of two, checked when the ring was created or opened: a mask,
    /// not a division, on the per-message path.
    fn offset(&self) -> usize;

    /// Which stream of the ring this side is on: 1 on a fresh endpoint,
    /// one more at each restart of a kept one (see `kept`). A close flag
    /// holds the last stream its end closed.
    fn stream(&self) -> u32;

    /// Puts this side on stream `stream` of a kept ring.
    fn set_stream(&mut self, stream: u32);

    /// Loads and validates the peer's position; returns the bytes this
    /// side may now take.
    fn refresh(&mut self, h: &Header) -> Result<u64, Corrupt> {
        // SYNC POINT. Acquire: pairs with the Release store in the peer's
        // `publish_quietly`: the bytes the writer copied in before it moved
        // write_pos are visible to the reader, and the reader is done with
        // the bytes below read_pos before the writer overwrites them.
        let p = Self::words(h).peer_pos.load(Ordering::Acquire);
        self.see(p)?;
        Ok(self.cached())
    }

    /// Moves our position on by `n` bytes (the writer commits them, the
    /// reader gives them back) without looking whether the peer sleeps: a
    /// spinning peer follows at once, a sleeping one is woken by the next
    /// `publish`, which the caller must make before it waits or returns.
    fn publish_quietly(&mut self, h: &Header, n: u64) {
        let pos = self.advance(n);
        // SYNC POINT. Release: pairs with the Acquire load in the peer's
        // `refresh`.
        Self::words(h).pos.store(pos, Ordering::Release);
    }

    /// Moves our position on by `n` bytes. Returns what the peer armed its
    /// waiting flag with, non-zero when it sleeps and must be woken (the
    /// flag is cleared here, so one publish wakes it once).
    fn publish(&mut self, h: &Header, n: u64) -> u32 {
        self.publish_quietly(h, n);
        take_flag(Self::words(h).peer_waiting)
    }

    /// Marks this side as waiting, with `how` (non-zero) to be woken (see
    /// `wait::Doorbell::arm_as`). The caller must `refresh` afterwards and
    /// sleep only if that still finds too little.
    fn arm(&self, h: &Header, how: u32) {
        debug_assert_ne!(how, 0);
        set_flag(Self::words(h).waiting, how);
    }

    fn disarm(&self, h: &Header) {
        set_flag(Self::words(h).waiting, 0);
    }

    /// Records the CPU we run on (1 + its number, 0 if unknown), for the
    /// peer's decision whether to spin (see `spin_may_help`).
    fn note_cpu(&self, h: &Header, cpu: u32) {
        // Relaxed: a hint that orders nothing; a stale or hostile value only
        // makes the peer spin or not.
        Self::words(h).cpu.store(cpu, Ordering::Relaxed);
    }

    /// Whether spinning for the peer can help (see `spin_may_help`).
    fn spin_may_help(&self, h: &Header, here: u32) -> bool {
        // Relaxed: a hint, as in `note_cpu`.
        spin_may_help(here, Self::words(h).peer_cpu.load(Ordering::Relaxed))
    }

    /// Whether the peer closed its end on purpose. The reader must
    /// `refresh` after a true answer: every byte committed before the close
    /// is then visible.
    fn peer_closed(&self, h: &Header) -> bool {
        self.peer_closed_from(h, self.stream())
    }

    /// Whether the peer closed stream `stream` (or a later one).
    fn peer_closed_from(&self, h: &Header, stream: u32) -> bool {
        // SYNC POINT. Acquire: pairs with the Release store in `close`.
        closed_since(Self::words(h).peer_closed.load(Ordering::Acquire), stream)
    }

    /// Marks our end closed. Returns what the peer armed its waiting flag
    /// with, non-zero when it sleeps and must be woken.
    fn close(&self, h: &Header) -> u32 {
        let w = Self::words(h);
        // SYNC POINT. Release: pairs with the Acquire load in `peer_closed`:
        // a peer that sees the flag also sees every position we stored
        // before it, so the reader's EOF comes only after all data.
        w.closed.store(self.stream(), Ordering::Release);
        take_flag(w.peer_waiting)
    }
}

/// Whether a close flag holding `flag` says that stream `stream` is closed:
/// the flag names it or a later one. Streams count on by one per restart,
/// so the difference, taken modulo 2^32, is small either way; a hostile
/// value only ends the stream early, as a hostile close does.
#[inline]
fn closed_since(flag: u32, stream: u32) -> bool {
    (flag.wrapping_sub(stream) as i32) >= 0
}

/// How far position `to` is past position `from`. Positions are byte
/// counters that wrap at 2^64, so a ring that a peer started near the top
/// of the range streams on across the wrap instead of overflowing.
#[inline]
fn ahead(to: u64, from: u64) -> u64 {
    to.wrapping_sub(from)
}

/// The writer's private view of the ring. Only `write_pos` is ours; the
/// reader's position is a validated copy.
#[derive(Debug)]
pub(crate) struct Producer {
    capacity: u64,
    /// Bytes committed so far; the only value ever stored into
    /// `header.writer.write_pos`.
    write_pos: u64,
    /// The reader position last loaded and validated.
    /// Invariant: `ahead(write_pos, seen_read_pos) <= capacity`.
    seen_read_pos: u64,
    /// See `Side::stream`.
    stream: u32,
}

impl Producer {
    pub(crate) fn new(capacity: u64, write_pos: u64, read_pos: u64) -> Self {
        debug_assert!(capacity.is_power_of_two());
        debug_assert!(ahead(write_pos, read_pos) <= capacity);
        Producer {
            capacity,
            write_pos,
            seen_read_pos: read_pos,
            stream: 1,
        }
    }
}

impl Side for Producer {
    const WHAT: &'static str = "write";
    const READS: bool = false;

    fn open(h: &Header, capacity: u64) -> Result<Self, Corrupt> {
        // SYNC POINT. Acquire: pairs with the Release store of write_pos in
        // `publish_quietly` by an earlier writer of this ring, whose bytes
        // we follow.
        let write_pos = h.writer.write_pos.load(Ordering::Acquire);
        // SYNC POINT. Acquire: as in `refresh`.
        let read_pos = h.reader.read_pos.load(Ordering::Acquire);
        if ahead(write_pos, read_pos) > capacity {
            // Read_pos is past write_pos, or write_pos too far past it.
            return Err(if ahead(read_pos, write_pos) <= capacity {
                Corrupt::ReadAhead {
                    read_pos,
                    write_pos,
                }
            } else {
                Corrupt::WriteAhead {
                    write_pos,
                    read_pos,
                    capacity,
                }
            });
        }
        Ok(Producer::new(capacity, write_pos, read_pos))
    }

    #[inline]
    fn words(h: &Header) -> Words<'_> {
        Words::writer(h)
    }

    /// Free bytes.
    fn cached(&self) -> u64 {
        debug_assert!(ahead(self.write_pos, self.seen_read_pos) <= self.capacity);
        self.capacity - ahead(self.write_pos, self.seen_read_pos)
    }

    fn see(&mut self, read_pos: u64) -> Result<(), Corrupt> {
        // The reader may have moved on from where we saw it up to
        // write_pos, no further and not back.
        if ahead(read_pos, self.seen_read_pos) > ahead(self.write_pos, self.seen_read_pos) {
            return Err(if ahead(read_pos, self.write_pos) <= self.capacity {
                Corrupt::ReadAhead {
                    read_pos,
                    write_pos: self.write_pos,
                }
            } else {
                Corrupt::ReadBackwards {
                    read_pos,
                    last_seen: self.seen_read_pos,
                }
            });
        }
        self.seen_read_pos = read_pos;
        Ok(())
    }

    fn advance(&mut self, n: u64) -> u64 {
        debug_assert!(n <= self.cached(), "commit beyond free space");
        self.write_pos = self.write_pos.wrapping_add(n);
        self.write_pos
    }

    fn after_peer(&mut self, _h: &Header) -> io::Result<u64> {
        Err(broken_pipe())
    }

    fn offset(&self) -> usize {
        (self.write_pos & (self.capacity - 1)) as usize
    }

    fn stream(&self) -> u32 {
        self.stream
    }

    fn set_stream(&mut self, stream: u32) {
        self.stream = stream;
    }
}

/// The most one copy moves before it is published (write) or given back
/// (read). A large write into an empty ring would otherwise reach the
/// reader only when all of it is copied, and the reader would give the
/// space back only when it has copied all of it out: the two copies would
/// take turns instead of overlapping.
pub(crate) fn copy_step(capacity: u64) -> usize {
    (capacity as usize / 4).clamp(4096, 64 * 1024)
}

/// The reader's private view of the ring.
#[derive(Debug)]
pub(crate) struct Consumer {
    capacity: u64,
    /// Bytes consumed so far; the only value ever stored into
    /// `header.reader.read_pos`.
    read_pos: u64,
    /// The writer position last loaded and validated.
    /// Invariant: `ahead(seen_write_pos, read_pos) <= capacity`.
    seen_write_pos: u64,
    /// See `Side::stream`.
    stream: u32,
}

impl Consumer {
    pub(crate) fn new(capacity: u64, start: u64) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Consumer {
            capacity,
            read_pos: start,
            seen_write_pos: start,
            stream: 1,
        }
    }
}

impl Side for Consumer {
    const WHAT: &'static str = "read";
    const READS: bool = true;

    fn open(h: &Header, capacity: u64) -> Result<Self, Corrupt> {
        // SYNC POINT. Acquire: pairs with the Release store of read_pos in
        // `publish_quietly` by an earlier reader of this ring.
        let start = h.reader.read_pos.load(Ordering::Acquire);
        let mut c = Consumer::new(capacity, start);
        c.refresh(h)?;
        Ok(c)
    }

    #[inline]
    fn words(h: &Header) -> Words<'_> {
        Words::writer(h).mirrored()
    }

    /// Readable bytes.
    fn cached(&self) -> u64 {
        debug_assert!(ahead(self.seen_write_pos, self.read_pos) <= self.capacity);
        ahead(self.seen_write_pos, self.read_pos)
    }

    fn see(&mut self, write_pos: u64) -> Result<(), Corrupt> {
        // The writer may have moved on from where we saw it, up to a full
        // ring past our position, not back.
        if ahead(write_pos, self.read_pos) > self.capacity
            || ahead(write_pos, self.read_pos) < self.cached()
        {
            return Err(if ahead(self.seen_write_pos, write_pos) <= self.capacity {
                Corrupt::WriteBackwards {
                    write_pos,
                    last_seen: self.seen_write_pos,
                }
            } else {
                Corrupt::WriteAhead {
                    write_pos,
                    read_pos: self.read_pos,
                    capacity: self.capacity,
                }
            });
        }
        self.seen_write_pos = write_pos;
        Ok(())
    }

    fn advance(&mut self, n: u64) -> u64 {
        debug_assert!(n <= self.cached(), "release beyond readable bytes");
        self.read_pos = self.read_pos.wrapping_add(n);
        self.read_pos
    }

    /// What is left, then EOF: every commit happened before the close flag
    /// (Acquire in `peer_closed`) or the hang-up.
    fn after_peer(&mut self, h: &Header) -> io::Result<u64> {
        Ok(self.refresh(h)?)
    }

    fn offset(&self) -> usize {
        (self.read_pos & (self.capacity - 1)) as usize
    }

    fn stream(&self) -> u32 {
        self.stream
    }

    fn set_stream(&mut self, stream: u32) {
        self.stream = stream;
    }
}

/// A wait spins only if the peer may be running on another CPU: one that
/// last ran where we run now (`here` and `peer` are 1 + a CPU number, 0 if
/// unknown) can only be queued behind us on this CPU, and every look we take
/// delays it. This happens whenever other load leaves the two ends one CPU.
/// Each end records its CPU when a wait does not end within its first looks
/// (64, a few microseconds; a wait the peer ends at once costs no
/// `sched_getcpu`), when it wakes from a sleep, and when it rings the peer,
/// so a stale guess costs one sleep and is corrected by the doorbell that
/// ends it.
fn spin_may_help(here: u32, peer: u32) -> bool {
    here == 0 || here != peer
}

/// Clears a waiting flag; returns what it held (non-zero: the caller rings
/// the doorbell the value asks for).
fn take_flag(flag: &AtomicU32) -> u32 {
    // SYNC POINT. AcqRel swap: pairs with the AcqRel swap in `set_flag` (the
    // sleeper's arm). It must be an RMW even when nobody sleeps: a plain load
    // could read a stale 0 and lose the wake-up (see the module comment).
    flag.swap(0, Ordering::AcqRel)
}

/// Arms or disarms a waiting flag; an RMW so the flag's release sequence,
/// which carries the publisher's position to the sleeper, is never broken.
fn set_flag(flag: &AtomicU32, v: u32) {
    // SYNC POINT. AcqRel swap: pairs with the AcqRel swap in `take_flag`.
    flag.swap(v, Ordering::AcqRel);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let h = Header::new(64, 4096);
        let mut p = Producer::new(64, 0, 0);
        let mut c = Consumer::new(64, 0);
        assert_eq!(p.cached(), 64);
        assert_eq!(p.publish(&h, 40), 0);
        assert_eq!(c.refresh(&h).unwrap(), 40);
        assert_eq!(c.publish(&h, 10), 0);
        assert_eq!(p.cached(), 24, "cached view is stale until refresh");
        assert_eq!(p.refresh(&h).unwrap(), 34);
    }

    #[test]
    fn waiting_reader_is_woken_once() {
        let h = Header::new(64, 4096);
        let mut p = Producer::new(64, 0, 0);
        let c = Consumer::new(64, 0);
        c.arm(&h, 2);
        assert_eq!(p.publish(&h, 1), 2, "the wake-up the reader asked for");
        assert_eq!(
            p.publish(&h, 1),
            0,
            "the flag is taken by the first wake-up"
        );
    }

    /// Two threads stream bytes through a heap ring with this protocol alone
    /// (spinning, no doorbell). Under Miri this checks that every data byte
    /// is published and reclaimed through the Release/Acquire pairs: a
    /// missing edge is reported as a data race.
    #[test]
    fn threads_stream_through_a_heap_ring() {
        use std::sync::Arc;
        const CAP: u64 = 16;
        const N: u64 = if cfg!(miri) { 300 } else { 20_000 };
        struct Data(Box<[std::cell::UnsafeCell<u8>]>);
        // SAFETY: each byte is written only while the producer owns its slot
        // and read only while the consumer does; the protocol hands them over.
        unsafe impl Sync for Data {}
        let h = Arc::new(Header::new(CAP, 4096));
        let data = Arc::new(Data(
            (0..CAP).map(|_| std::cell::UnsafeCell::new(0)).collect(),
        ));
        let (hw, dw) = (h.clone(), data.clone());
        let writer = std::thread::spawn(move || {
            let mut p = Producer::new(CAP, 0, 0);
            let mut i = 0u64;
            while i < N {
                if p.cached() == 0 && p.refresh(&hw).unwrap() == 0 {
                    std::thread::yield_now();
                    continue;
                }
                let slot = &dw.0[p.offset()];
                // SAFETY: the slot is free (we refreshed read_pos with Acquire).
                unsafe { *slot.get() = (i % 251) as u8 };
                p.publish(&hw, 1);
                i += 1;
            }
        });
        let mut c = Consumer::new(CAP, 0);
        let mut i = 0u64;
        while i < N {
            if c.cached() == 0 && c.refresh(&h).unwrap() == 0 {
                std::thread::yield_now();
                continue;
            }
            let slot = &data.0[c.offset()];
            // SAFETY: the byte was committed (we loaded write_pos with Acquire).
            let b = unsafe { *slot.get() };
            assert_eq!(b, (i % 251) as u8);
            c.publish(&h, 1);
            i += 1;
        }
        writer.join().unwrap();
    }

    #[test]
    fn hostile_write_pos_is_rejected() {
        let h = Header::new(64, 4096);
        let mut c = Consumer::new(64, 0);
        h.writer.write_pos.store(65, Ordering::Relaxed);
        assert!(matches!(c.refresh(&h), Err(Corrupt::WriteAhead { .. })));
        h.writer.write_pos.store(10, Ordering::Relaxed);
        assert_eq!(c.refresh(&h).unwrap(), 10);
        h.writer.write_pos.store(9, Ordering::Relaxed);
        assert!(matches!(c.refresh(&h), Err(Corrupt::WriteBackwards { .. })));
        h.writer.write_pos.store(u64::MAX, Ordering::Relaxed);
        assert!(c.refresh(&h).is_err());
    }

    /// A ring whose positions a peer started near the top of their range
    /// streams on across the wrap, and the checks still hold there (the
    /// `ring` fuzz target found the writer's position overflowing).
    #[test]
    fn positions_wrap_at_the_top_of_their_range() {
        let h = Header::new(64, 4096);
        let start = u64::MAX - 100;
        h.writer.write_pos.store(start, Ordering::Relaxed);
        h.reader.read_pos.store(start, Ordering::Relaxed);
        let mut p = Producer::open(&h, 64).unwrap();
        let mut c = Consumer::open(&h, 64).unwrap();
        for lap in 0..4u64 {
            assert_eq!(p.refresh(&h).unwrap(), 64, "lap {lap}");
            p.publish(&h, 64);
            assert_eq!(c.refresh(&h).unwrap(), 64, "lap {lap}");
            assert_eq!(c.offset() as u64, start.wrapping_add(lap * 64) % 64);
            c.publish(&h, 64);
        }
        // Past the wrap, 24 bytes in the ring.
        assert_eq!(p.refresh(&h).unwrap(), 64);
        p.publish(&h, 24);
        assert_eq!(c.refresh(&h).unwrap(), 24);
        let write_pos = h.writer.write_pos.load(Ordering::Relaxed);
        assert!(write_pos < start, "wrapped");
        h.writer
            .write_pos
            .store(write_pos.wrapping_add(41), Ordering::Relaxed);
        assert!(matches!(c.refresh(&h), Err(Corrupt::WriteAhead { .. })));
        h.writer
            .write_pos
            .store(write_pos.wrapping_sub(1), Ordering::Relaxed);
        assert!(matches!(c.refresh(&h), Err(Corrupt::WriteBackwards { .. })));
        let read_pos = h.reader.read_pos.load(Ordering::Relaxed);
        h.reader
            .read_pos
            .store(write_pos.wrapping_add(1), Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadAhead { .. })));
        h.reader
            .read_pos
            .store(read_pos.wrapping_sub(1), Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadBackwards { .. })));
        // At open, the invariant is checked across the wrap too.
        h.writer.write_pos.store(write_pos, Ordering::Relaxed);
        h.reader
            .read_pos
            .store(write_pos.wrapping_sub(65), Ordering::Relaxed);
        assert!(matches!(
            Producer::open(&h, 64),
            Err(Corrupt::WriteAhead { .. })
        ));
        h.reader
            .read_pos
            .store(write_pos.wrapping_add(1), Ordering::Relaxed);
        assert!(matches!(
            Producer::open(&h, 64),
            Err(Corrupt::ReadAhead { .. })
        ));
    }

    #[test]
    fn hostile_read_pos_is_rejected() {
        let h = Header::new(64, 4096);
        let mut p = Producer::new(64, 0, 0);
        p.publish(&h, 20);
        h.reader.read_pos.store(21, Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadAhead { .. })));
        h.reader.read_pos.store(5, Ordering::Relaxed);
        assert_eq!(p.refresh(&h).unwrap(), 49);
        h.reader.read_pos.store(4, Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadBackwards { .. })));
    }
}
