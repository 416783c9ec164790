//! The index protocol of the ring: positions, their validation, and the
//! decision whether the other side must be woken. No syscalls and no data
//! copies live here, so the protocol can be model-checked with loom
//! (`tests/loom.rs`) on a heap-allocated [`Header`].
//!
//! Wake-up rule (a Dekker pattern without fences): a side about to sleep sets
//! its waiting flag with an AcqRel swap, then re-reads the other side's
//! position (Acquire); a side that publishes a position stores it (Release),
//! then clears the flag with an AcqRel swap. Every modification of a waiting
//! flag is a read-modify-write, so all of them form one release sequence.
//! Either the publisher's swap comes after the sleeper's in the flag's
//! modification order (it reads the flag set and rings the doorbell), or it
//! comes before, and then the sleeper's swap synchronizes with it, so the
//! sleeper's re-read sees the new position. No wake-up is lost.
//!
//! An earlier version used plain stores plus SeqCst fences. That is correct
//! in C++20 too, but loom 0.7 reports a false deadlock for it (its SC fences
//! mishandle a preceding RMW on the flag), so the model in this file could not
//! check it; the RMW-only protocol is checkable and costs the same on x86 (a
//! locked swap instead of mfence + load), since each waiting flag lives on a
//! line that only its publisher touches while data streams.

use crate::header::Header;
use crate::sync::Ordering;
use std::fmt;

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

/// The writer's private view of the ring. Only `write_pos` is ours; the
/// reader's position is a validated copy.
#[derive(Debug)]
pub(crate) struct Producer {
    capacity: u64,
    /// Bytes committed so far; the only value ever stored into
    /// `header.writer.write_pos`.
    write_pos: u64,
    /// The reader position last loaded and validated.
    /// Invariant: `seen_read_pos <= write_pos <= seen_read_pos + capacity`.
    seen_read_pos: u64,
}

impl Producer {
    pub(crate) fn new(capacity: u64, write_pos: u64, read_pos: u64) -> Self {
        debug_assert!(capacity.is_power_of_two());
        debug_assert!(read_pos <= write_pos && write_pos - read_pos <= capacity);
        Producer {
            capacity,
            write_pos,
            seen_read_pos: read_pos,
        }
    }

    /// Where the next byte goes in the data area (capacity is a power of
    /// two, checked when the ring was created or opened: a mask, not a
    /// division, on the per-message path).
    pub(crate) fn offset(&self) -> usize {
        (self.write_pos & (self.capacity - 1)) as usize
    }

    /// Free bytes according to the last reader position seen (no shared access).
    pub(crate) fn free_cached(&self) -> u64 {
        debug_assert!(self.write_pos - self.seen_read_pos <= self.capacity);
        self.capacity - (self.write_pos - self.seen_read_pos)
    }

    /// Loads and validates the reader's position; returns the free bytes.
    pub(crate) fn refresh(&mut self, h: &Header) -> Result<u64, Corrupt> {
        // SYNC POINT. Acquire: pairs with the Release store of read_pos in
        // `Consumer::release`: the reader has finished reading those bytes
        // before we may overwrite them.
        let r = h.reader.read_pos.load(Ordering::Acquire);
        if r < self.seen_read_pos {
            return Err(Corrupt::ReadBackwards {
                read_pos: r,
                last_seen: self.seen_read_pos,
            });
        }
        if r > self.write_pos {
            return Err(Corrupt::ReadAhead {
                read_pos: r,
                write_pos: self.write_pos,
            });
        }
        self.seen_read_pos = r;
        Ok(self.free_cached())
    }

    /// Publishes `n` more bytes to a reader that is not sleeping, without
    /// looking whether it is; the caller must `commit` (which wakes) before
    /// it waits or returns. See `Consumer::release_quietly`.
    pub(crate) fn commit_quietly(&mut self, h: &Header, n: u64) {
        debug_assert!(n <= self.free_cached(), "commit beyond free space");
        self.write_pos += n;
        // SYNC POINT. Release: as in `commit`.
        h.writer.write_pos.store(self.write_pos, Ordering::Release);
    }

    /// Publishes `n` more bytes. Returns true when the reader sleeps and must
    /// be woken (the flag is cleared here, so one commit wakes it once).
    pub(crate) fn commit(&mut self, h: &Header, n: u64) -> bool {
        debug_assert!(n <= self.free_cached(), "commit beyond free space");
        self.write_pos += n;
        // SYNC POINT. Release: pairs with the Acquire load of write_pos in
        // `Consumer::refresh`: the bytes copied in before are visible to the
        // reader once it sees this position.
        h.writer.write_pos.store(self.write_pos, Ordering::Release);
        take_flag(&h.to_reader.reader_waiting)
    }

    /// Marks the writer as waiting for space. The caller must `refresh`
    /// afterwards and sleep only if there is still no space.
    pub(crate) fn arm(&self, h: &Header) {
        set_flag(&h.to_writer.writer_waiting, 1);
    }

    pub(crate) fn disarm(&self, h: &Header) {
        set_flag(&h.to_writer.writer_waiting, 0);
    }

    /// Records the CPU we run on (1 + its number, 0 if unknown), for the
    /// reader's decision whether to spin (see `spin_may_help`).
    pub(crate) fn note_cpu(&self, h: &Header, cpu: u32) {
        // Relaxed: a hint that orders nothing; a stale or hostile value only
        // makes the reader spin or not.
        h.writer.writer_cpu.store(cpu, Ordering::Relaxed);
    }

    /// Whether spinning for the reader can help (see `spin_may_help`).
    pub(crate) fn spin_may_help(&self, h: &Header, here: u32) -> bool {
        // Relaxed: a hint, as in `note_cpu`.
        spin_may_help(here, h.reader.reader_cpu.load(Ordering::Relaxed))
    }

    /// Whether the reader closed its end on purpose.
    pub(crate) fn peer_closed(&self, h: &Header) -> bool {
        // Relaxed: no data is published with this flag; it only stops writes.
        h.to_reader.reader_closed.load(Ordering::Relaxed) != 0
    }

    /// Marks our end closed. Returns true when the reader sleeps.
    pub(crate) fn close(&self, h: &Header) -> bool {
        // SYNC POINT. Release: pairs with the Acquire load of writer_closed in
        // `Consumer::peer_closed`: a reader that sees the flag also sees every
        // write_pos stored before it, so EOF comes only after all data.
        h.to_writer.writer_closed.store(1, Ordering::Release);
        take_flag(&h.to_reader.reader_waiting)
    }
}

/// The most one copy moves before it is published (write) or given back
/// (read). A 1 MiB write into an empty 1 MiB ring would otherwise reach the
/// reader only when all of it is copied, and the reader would give the space
/// back only when it has copied all of it out: the two copies would take
/// turns instead of overlapping (measured: 1 MiB writes between two
/// processes went from 7.4 to 13-17 GiB/s with 64 KiB steps).
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
    /// Invariant: `read_pos <= seen_write_pos <= read_pos + capacity`.
    seen_write_pos: u64,
}

impl Consumer {
    pub(crate) fn new(capacity: u64, start: u64) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Consumer {
            capacity,
            read_pos: start,
            seen_write_pos: start,
        }
    }

    /// Where the next unread byte is in the data area (see
    /// `Producer::offset`).
    pub(crate) fn offset(&self) -> usize {
        (self.read_pos & (self.capacity - 1)) as usize
    }

    /// Readable bytes according to the last writer position seen.
    pub(crate) fn available_cached(&self) -> u64 {
        debug_assert!(self.seen_write_pos - self.read_pos <= self.capacity);
        self.seen_write_pos - self.read_pos
    }

    /// Loads and validates the writer's position; returns the readable bytes.
    pub(crate) fn refresh(&mut self, h: &Header) -> Result<u64, Corrupt> {
        // SYNC POINT. Acquire: pairs with the Release store of write_pos in
        // `Producer::commit`: the bytes below it are visible.
        let w = h.writer.write_pos.load(Ordering::Acquire);
        if w < self.seen_write_pos {
            return Err(Corrupt::WriteBackwards {
                write_pos: w,
                last_seen: self.seen_write_pos,
            });
        }
        if w - self.read_pos > self.capacity {
            return Err(Corrupt::WriteAhead {
                write_pos: w,
                read_pos: self.read_pos,
                capacity: self.capacity,
            });
        }
        self.seen_write_pos = w;
        Ok(self.available_cached())
    }

    /// Gives `n` bytes back to a writer that is not sleeping, without looking
    /// whether it is: a spinning writer sees the space at once, a sleeping
    /// one is woken by the next `release`, which the caller must make soon
    /// (`Reader::read` ends every copy with one).
    pub(crate) fn release_quietly(&mut self, h: &Header, n: u64) {
        debug_assert!(
            n <= self.available_cached(),
            "release beyond readable bytes"
        );
        self.read_pos += n;
        // SYNC POINT. Release: as in `release`.
        h.reader.read_pos.store(self.read_pos, Ordering::Release);
    }

    /// Gives `n` bytes back to the writer. Returns true when the writer sleeps
    /// and must be woken.
    pub(crate) fn release(&mut self, h: &Header, n: u64) -> bool {
        debug_assert!(
            n <= self.available_cached(),
            "release beyond readable bytes"
        );
        self.read_pos += n;
        // SYNC POINT. Release: pairs with the Acquire load of read_pos in
        // `Producer::refresh`: we are done reading the bytes before the writer
        // reuses their space.
        h.reader.read_pos.store(self.read_pos, Ordering::Release);
        take_flag(&h.to_writer.writer_waiting)
    }

    /// Marks the reader as waiting for data; the caller re-checks afterwards.
    pub(crate) fn arm(&self, h: &Header) {
        set_flag(&h.to_reader.reader_waiting, 1);
    }

    pub(crate) fn disarm(&self, h: &Header) {
        set_flag(&h.to_reader.reader_waiting, 0);
    }

    /// Records the CPU we run on; mirror of `Producer::note_cpu`.
    pub(crate) fn note_cpu(&self, h: &Header, cpu: u32) {
        // Relaxed: a hint, as in `Producer::note_cpu`.
        h.reader.reader_cpu.store(cpu, Ordering::Relaxed);
    }

    /// Whether spinning for the writer can help (see `spin_may_help`).
    pub(crate) fn spin_may_help(&self, h: &Header, here: u32) -> bool {
        // Relaxed: a hint, as in `Producer::note_cpu`.
        spin_may_help(here, h.writer.writer_cpu.load(Ordering::Relaxed))
    }

    /// Whether the writer closed its end on purpose. Call `refresh` after a
    /// true answer: every byte committed before the close is then visible.
    pub(crate) fn peer_closed(&self, h: &Header) -> bool {
        // SYNC POINT. Acquire: pairs with the Release store in `Producer::close`.
        h.to_writer.writer_closed.load(Ordering::Acquire) != 0
    }

    /// Marks our end closed. Returns true when the writer sleeps.
    pub(crate) fn close(&self, h: &Header) -> bool {
        // Release: the writer needs no data from us, but the flag must not
        // be reordered before our last release of read_pos.
        h.to_reader.reader_closed.store(1, Ordering::Release);
        take_flag(&h.to_writer.writer_waiting)
    }
}

/// A wait spins only if the peer may be running on another CPU: one that
/// last ran where we run now (`here` and `peer` are 1 + a CPU number, 0 if
/// unknown) can only be queued behind us on this CPU, and every look we take
/// delays it. This happens whenever other load leaves the two ends one CPU
/// (README "Where we depart" has the measurements). Each end records its CPU
/// when a wait does not end within its first looks (64, a few us; a wait
/// the peer ends at once costs no `sched_getcpu`), when it wakes from a
/// sleep, and when it rings the peer, so a stale guess costs one sleep and
/// is corrected by the doorbell that ends it.
fn spin_may_help(here: u32, peer: u32) -> bool {
    here == 0 || here != peer
}

/// Clears a waiting flag; true if it was set (the caller rings the doorbell).
fn take_flag(flag: &crate::sync::AtomicU32) -> bool {
    // SYNC POINT. AcqRel swap: pairs with the AcqRel swap in `set_flag` (the
    // sleeper's arm). It must be an RMW even when nobody sleeps: a plain load
    // could read a stale 0 and lose the wake-up (see the module comment).
    flag.swap(0, Ordering::AcqRel) != 0
}

/// Arms or disarms a waiting flag; an RMW so the flag's release sequence,
/// which carries the publisher's position to the sleeper, is never broken.
fn set_flag(flag: &crate::sync::AtomicU32, v: u32) {
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
        assert_eq!(p.free_cached(), 64);
        assert!(!p.commit(&h, 40));
        assert_eq!(c.refresh(&h).unwrap(), 40);
        assert!(!c.release(&h, 10));
        assert_eq!(p.free_cached(), 24, "cached view is stale until refresh");
        assert_eq!(p.refresh(&h).unwrap(), 34);
    }

    #[test]
    fn waiting_reader_is_woken_once() {
        let h = Header::new(64, 4096);
        let mut p = Producer::new(64, 0, 0);
        let c = Consumer::new(64, 0);
        c.arm(&h);
        assert!(p.commit(&h, 1));
        assert!(!p.commit(&h, 1), "the flag is taken by the first wake-up");
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
                if p.free_cached() == 0 && p.refresh(&hw).unwrap() == 0 {
                    std::thread::yield_now();
                    continue;
                }
                let slot = &dw.0[p.offset()];
                // SAFETY: the slot is free (we refreshed read_pos with Acquire).
                unsafe { *slot.get() = (i % 251) as u8 };
                p.commit(&hw, 1);
                i += 1;
            }
        });
        let mut c = Consumer::new(CAP, 0);
        let mut i = 0u64;
        while i < N {
            if c.available_cached() == 0 && c.refresh(&h).unwrap() == 0 {
                std::thread::yield_now();
                continue;
            }
            let slot = &data.0[c.offset()];
            // SAFETY: the byte was committed (we loaded write_pos with Acquire).
            let b = unsafe { *slot.get() };
            assert_eq!(b, (i % 251) as u8);
            c.release(&h, 1);
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

    #[test]
    fn hostile_read_pos_is_rejected() {
        let h = Header::new(64, 4096);
        let mut p = Producer::new(64, 0, 0);
        p.commit(&h, 20);
        h.reader.read_pos.store(21, Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadAhead { .. })));
        h.reader.read_pos.store(5, Ordering::Relaxed);
        assert_eq!(p.refresh(&h).unwrap(), 49);
        h.reader.read_pos.store(4, Ordering::Relaxed);
        assert!(matches!(p.refresh(&h), Err(Corrupt::ReadBackwards { .. })));
    }
}

/// Loom model of the index and wake-up protocol: a writer and a reader move
/// bytes through a 2-byte ring, sleeping on a modelled doorbell (the socket)
/// exactly when the real ends would. A lost wake-up shows up as a deadlock,
/// a broken invariant as a failed refresh. Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p faasin --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::{Arc, Condvar, Mutex};

    /// The endpoint socket as far as waking is concerned: pending doorbells.
    struct Bell {
        pending: Mutex<usize>,
        cv: Condvar,
    }

    impl Bell {
        fn new() -> Bell {
            Bell {
                pending: Mutex::new(0),
                cv: Condvar::new(),
            }
        }
        fn ring(&self) {
            *self.pending.lock().unwrap() += 1;
            self.cv.notify_all();
        }
        fn drain(&self) {
            *self.pending.lock().unwrap() = 0;
        }
        fn wait(&self) {
            let mut g = self.pending.lock().unwrap();
            while *g == 0 {
                g = self.cv.wait(g).unwrap();
            }
        }
    }

    const CAP: u64 = 2;
    const TOTAL: u64 = 3;

    #[test]
    fn no_lost_wakeups_and_eof_after_all_data() {
        loom::model(|| {
            let h = Arc::new(Header::new(CAP, 4096));
            let to_reader = Arc::new(Bell::new());
            let to_writer = Arc::new(Bell::new());

            let (hw, bell_r, bell_w) = (h.clone(), to_reader.clone(), to_writer.clone());
            let writer = loom::thread::spawn(move || {
                let mut p = Producer::new(CAP, 0, 0);
                let mut sent = 0;
                while sent < TOTAL {
                    let mut free = p.free_cached();
                    if free == 0 {
                        free = p.refresh(&hw).unwrap();
                    }
                    if free == 0 {
                        bell_w.drain();
                        p.arm(&hw);
                        if p.refresh(&hw).unwrap() > 0 {
                            p.disarm(&hw);
                        } else {
                            bell_w.wait();
                        }
                        continue;
                    }
                    // As `Writer::write` steps: a step with more to come
                    // and space left only moves write_pos.
                    if sent + 1 < TOTAL && free > 1 {
                        p.commit_quietly(&hw, 1);
                    } else if p.commit(&hw, 1) {
                        bell_r.ring();
                    }
                    sent += 1;
                }
                if p.close(&hw) {
                    bell_r.ring();
                }
            });

            let mut c = Consumer::new(CAP, 0);
            let mut got = 0;
            loop {
                let mut a = c.available_cached();
                if a == 0 {
                    a = c.refresh(&h).unwrap();
                }
                if a == 0 {
                    to_reader.drain();
                    c.arm(&h);
                    if c.refresh(&h).unwrap() > 0 {
                        c.disarm(&h);
                        continue;
                    }
                    if c.peer_closed(&h) {
                        c.disarm(&h);
                        if c.refresh(&h).unwrap() == 0 {
                            break;
                        }
                        continue;
                    }
                    to_reader.wait();
                    continue;
                }
                // As `Reader::read` steps: every readable byte, all but the
                // last given back quietly.
                for _ in 1..a {
                    c.release_quietly(&h, 1);
                    got += 1;
                }
                if c.release(&h, 1) {
                    to_writer.ring();
                }
                got += 1;
            }
            assert_eq!(got, TOTAL, "EOF before every committed byte was read");
            writer.join().unwrap();
        });
    }
}
