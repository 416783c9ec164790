//! The shared-memory header at the start of every ring memfd.
//!
//! Everything in here is readable and writable by the peer, which may be buggy
//! or hostile. So every field is an atomic (no torn or "racy" plain reads), no
//! field is a pointer or an fd, and each side keeps private copies of what it
//! must trust (capacity, its own position) and validates what it must read
//! (the peer's position) on every load.

use crate::sync::{AtomicU32, AtomicU64};

/// "FAASRING" in little-endian bytes.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"FAASRING");
/// Version of the ring layout and of the hello message; both sides must
/// agree. 3: a waiting flag says whether to wake its end on the socket or
/// on the pipe the reader offered over it (`bell`); an end of an earlier
/// version would ring the socket of a reader asleep on its pipe, or close
/// the offer unread (end of file for that reader), so it is refused.
pub(crate) const VERSION: u32 = 3;

/// One 128-byte line: two adjacent 64-byte cache lines, so that neither false
/// sharing nor the adjacent-line prefetcher couples two groups.
#[repr(C, align(128))]
pub(crate) struct StaticLine {
    pub magic: AtomicU64,
    pub capacity: AtomicU64,
    pub version: AtomicU32,
    pub header_size: AtomicU32,
}

#[repr(C, align(128))]
pub(crate) struct WriterLine {
    /// Bytes ever committed by the writer, modulo 2^64 (a ring may start
    /// anywhere and wraps on). Monotonic; only the writer stores it.
    /// Invariant (checked by the reader on every load): `write_pos -
    /// read_pos`, wrapping, is in `0..=capacity`.
    pub write_pos: AtomicU64,
    /// 1 + the CPU the writer last ran on when it started a wait, woke from
    /// one, or rang the reader's doorbell; 0 if unknown. A hint only (see
    /// `ring::Side::note_cpu`); any value is safe.
    pub writer_cpu: AtomicU32,
}

#[repr(C, align(128))]
pub(crate) struct ReaderLine {
    /// Bytes ever consumed by the reader, modulo 2^64. Monotonic; only the
    /// reader stores it.
    /// Invariant (checked by the writer on every load): it never moves
    /// backwards and never passes `write_pos`.
    pub read_pos: AtomicU64,
    /// 1 + the CPU the reader last ran on; mirror of `WriterLine::writer_cpu`.
    pub reader_cpu: AtomicU32,
}

/// The reader's wake-up word and close flag. The writer swaps
/// `reader_waiting` at every commit, so this line lives in the writer's cache
/// while data streams; the reader writes it only to sleep or close.
#[repr(C, align(128))]
pub(crate) struct ToReaderLine {
    /// Non-zero while the reader sleeps (or has armed readiness) waiting for
    /// data: how to wake it (`bell::ON_PIPE` or `bell::ON_SOCKET`).
    /// Modified only by read-modify-writes (see `ring.rs`).
    pub reader_waiting: AtomicU32,
    /// 1 once the reader closed its end on purpose.
    pub reader_closed: AtomicU32,
}

/// The writer's wake-up word and close flag; mirror of [`ToReaderLine`].
#[repr(C, align(128))]
pub(crate) struct ToWriterLine {
    /// Non-zero while the writer sleeps (or has armed readiness) waiting for
    /// space: how to wake it, as `reader_waiting`. Modified only by
    /// read-modify-writes.
    pub writer_waiting: AtomicU32,
    /// 1 once the writer closed its end on purpose.
    pub writer_closed: AtomicU32,
}

#[repr(C)]
pub(crate) struct Header {
    pub fixed: StaticLine,
    pub writer: WriterLine,
    pub reader: ReaderLine,
    pub to_reader: ToReaderLine,
    pub to_writer: ToWriterLine,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Header>() == 640);
    assert!(core::mem::align_of::<Header>() == 128);
    assert!(core::mem::offset_of!(Header, writer) == 128);
    assert!(core::mem::offset_of!(Header, reader) == 256);
    assert!(core::mem::offset_of!(Header, to_reader) == 384);
    assert!(core::mem::offset_of!(Header, to_writer) == 512);
};

impl Header {
    /// A zeroed header whose static line says `capacity` (for tests and loom
    /// models that keep the ring on the heap).
    #[cfg(any(test, loom))]
    pub(crate) fn new(capacity: u64, header_size: u32) -> Self {
        Header {
            fixed: StaticLine {
                magic: AtomicU64::new(MAGIC),
                capacity: AtomicU64::new(capacity),
                version: AtomicU32::new(VERSION),
                header_size: AtomicU32::new(header_size),
            },
            writer: WriterLine {
                write_pos: AtomicU64::new(0),
                writer_cpu: AtomicU32::new(0),
            },
            reader: ReaderLine {
                read_pos: AtomicU64::new(0),
                reader_cpu: AtomicU32::new(0),
            },
            to_reader: ToReaderLine {
                reader_waiting: AtomicU32::new(0),
                reader_closed: AtomicU32::new(0),
            },
            to_writer: ToWriterLine {
                writer_waiting: AtomicU32::new(0),
                writer_closed: AtomicU32::new(0),
            },
        }
    }
}
