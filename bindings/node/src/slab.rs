//! Slabs: the memory behind the Buffers that stream reads hand out.
//!
//! A stream read copies ring bytes into memory the consumer then owns. Fresh
//! memory is what made that slow: every page the process had not touched
//! lately costs a page fault and a zeroing on the first write (on this
//! project's VM a first touch of a new 4 KiB page costs more than the copy
//! itself; see the README), and Node also joined buffered chunks into new
//! Buffers. Here a stream read copies into a slice of a big slab instead
//! (`index.js` cuts the chunk Buffers out of it with `subarray`, the way
//! Node's own 8 KiB Buffer pool works), and slabs are recycled: when V8 has
//! freed a slab's backing store (the slab Buffer and every chunk cut from
//! it are unreachable), its finalizer puts the memory, still faulted in,
//! back into a small process-wide pool for the next slab. A big slab is
//! mapped 2 MiB-aligned with `MADV_HUGEPAGE`, so a new one faults once per
//! 2 MiB; a reader starts with small ones (see `index.js`), so that a
//! stream of small messages does not pin megabytes per kept chunk.
//!
//! The trade-off: a chunk the consumer keeps keeps its whole slab alive.
//! Memory held: the slabs V8 has not collected yet (it is prompted to, see
//! `prompt_young_gc` in lib.rs) plus at most `POOL_LIMIT` bytes in the pool,
//! which is emptied `GRACE` after the last reader closed.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Transparent huge page size on x86_64 and the unit of big slab sizes.
pub const HUGE_PAGE: usize = 2 << 20;

/// The unit of small slab sizes.
const PAGE: usize = 4096;

/// Slab size unless a reader's read size needs more: four 1 MiB reads.
pub const DEFAULT_SLAB_SIZE: usize = 2 * HUGE_PAGE;

/// At most this many bytes of free slabs wait in the pool; beyond it a
/// returned slab is unmapped.
pub const POOL_LIMIT: usize = 8 * DEFAULT_SLAB_SIZE;

/// How long the pool outlives the last open reader: a process that opens
/// streams one after another keeps its warm memory, one that is done with
/// its streams gets it back.
pub const GRACE: Duration = Duration::from_secs(2);

/// Slabs mapped now (in use or pooled), for tests and diagnostics.
static MAPPED: AtomicUsize = AtomicUsize::new(0);
/// Slabs ever mapped, and ever handed out, for tests and diagnostics.
static MAPS: AtomicUsize = AtomicUsize::new(0);
static TAKES: AtomicUsize = AtomicUsize::new(0);

struct Pool {
    /// Slabs no JS object can reach: each came back through `recycle`.
    free: Vec<Slab>,
    /// Open readers.
    users: usize,
    /// When `users` last dropped to 0 (None while a reader is open).
    idle_since: Option<Instant>,
}

impl Pool {
    /// Whether a returned slab may wait here for the next reader.
    fn keeps_memory(&self) -> bool {
        self.users > 0 || self.idle_since.is_some_and(|t| t.elapsed() < GRACE)
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    users: 0,
    idle_since: None,
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // A panic while holding the lock leaves a Vec that is still valid.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A private anonymous mapping of `len` bytes: whole huge pages, 2 MiB-
/// aligned, from `HUGE_PAGE` up; whole pages below. Unmapped on drop.
pub struct Slab {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Slab owns its mapping exclusively; the memory is plain bytes that
// any thread may unmap or hand on.
unsafe impl Send for Slab {}

impl Slab {
    /// A slab of `len` bytes: whole huge pages, 2 MiB-aligned and advised
    /// to use them, from `HUGE_PAGE` up; plain pages below.
    fn map(len: usize) -> io::Result<Slab> {
        let huge = len >= HUGE_PAGE;
        debug_assert!(len > 0 && len % if huge { HUGE_PAGE } else { PAGE } == 0);
        // Room to cut a 2 MiB-aligned span out of.
        let span = if huge { len + HUGE_PAGE } else { len };
        // SAFETY: a new anonymous mapping; no existing memory is named.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                span,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ptr = raw.cast::<u8>();
        if huge {
            let start = raw as usize;
            let aligned = (start + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
            let head = aligned - start;
            let tail = span - head - len;
            // SAFETY: head and tail are the page-aligned ends of the mapping
            // just made, outside [aligned, aligned + len); nothing uses them.
            unsafe {
                if head > 0 {
                    libc::munmap(raw, head);
                }
                if tail > 0 {
                    libc::munmap((aligned + len) as *mut libc::c_void, tail);
                }
            }
            ptr = aligned as *mut u8;
            // SAFETY: advice on our own mapping; a kernel without THP refuses
            // it with EINVAL and the slab just uses small pages.
            unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
        }
        MAPPED.fetch_add(1, Ordering::Relaxed);
        MAPS.fetch_add(1, Ordering::Relaxed);
        Ok(Slab {
            // SAFETY: mmap succeeded, so the address is not null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            len,
        })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing refers to it any more (the
        // JS Buffer over it is gone: see `recycle`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        MAPPED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The largest slab: a reader whose reads may be larger than a quarter of
/// this gets shorter reads at the end of each slab instead.
pub const MAX_SLAB_SIZE: usize = 4 * HUGE_PAGE;

/// The slab size for a reader whose reads yield up to `max_read` bytes:
/// room for four reads, at least `DEFAULT_SLAB_SIZE`, at most
/// `MAX_SLAB_SIZE`, in whole huge pages.
pub fn slab_size_for(max_read: usize) -> usize {
    let want = max_read
        .saturating_mul(4)
        .clamp(DEFAULT_SLAB_SIZE, MAX_SLAB_SIZE);
    want.div_ceil(HUGE_PAGE) * HUGE_PAGE
}

/// A slab of `len` bytes: a pooled one if there is one of that size, else
/// a new mapping if `may_map`, else `None`.
pub fn take(len: usize, may_map: bool) -> io::Result<Option<Slab>> {
    if len > MAX_SLAB_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("slab size {len} is above the {MAX_SLAB_SIZE}-byte limit"),
        ));
    }
    let unit = if len >= HUGE_PAGE { HUGE_PAGE } else { PAGE };
    let len = len.max(1).div_ceil(unit) * unit;
    {
        let mut p = pool();
        if let Some(i) = p.free.iter().rposition(|s| s.len == len) {
            TAKES.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(p.free.swap_remove(i)));
        }
    }
    if !may_map {
        return Ok(None);
    }
    TAKES.fetch_add(1, Ordering::Relaxed);
    Slab::map(len).map(Some)
}

/// Called when V8 has freed the Buffer backing store over `slab`: no JS
/// object can reach its bytes any more, so they may be reused.
pub fn recycle(slab: Slab) {
    let mut p = pool();
    let pooled: usize = p.free.iter().map(|s| s.len).sum();
    if p.keeps_memory() && pooled + slab.len <= POOL_LIMIT {
        p.free.push(slab);
        return;
    }
    drop(p);
    drop(slab);
}

/// Empties the pool if no reader has been open for `GRACE`. Returns how
/// long to wait before asking again: zero when there is nothing left to
/// do (emptied, or a reader is open and will ask when it closes).
pub fn trim() -> Duration {
    let mut p = pool();
    match p.idle_since.map(|t| GRACE.checked_sub(t.elapsed())) {
        None => Duration::ZERO,
        Some(Some(left)) if !left.is_zero() => left,
        Some(_) => {
            let free = std::mem::take(&mut p.free);
            drop(p);
            drop(free);
            Duration::ZERO
        }
    }
}

/// Registers an open reader for as long as this value lives.
pub struct User(());

impl User {
    pub fn new() -> User {
        let mut p = pool();
        p.users += 1;
        p.idle_since = None;
        User(())
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let mut p = pool();
        p.users -= 1;
        if p.users == 0 {
            p.idle_since = Some(Instant::now());
        }
    }
}

/// Slab counters, for the tests.
#[cfg(feature = "test-hooks")]
pub struct Stats {
    /// Mapped now, in use or pooled.
    pub mapped: usize,
    /// Waiting in the pool.
    pub pooled: usize,
    /// Ever mapped.
    pub maps: usize,
    /// Ever handed out (mapped or from the pool).
    pub takes: usize,
}

#[cfg(feature = "test-hooks")]
pub fn stats() -> Stats {
    let pooled = pool().free.len();
    Stats {
        mapped: MAPPED.load(Ordering::Relaxed),
        pooled,
        maps: MAPS.load(Ordering::Relaxed),
        takes: TAKES.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_sizes_hold_four_reads_within_bounds() {
        assert_eq!(slab_size_for(1), DEFAULT_SLAB_SIZE);
        assert_eq!(slab_size_for(1 << 20), 4 << 20);
        assert_eq!(slab_size_for((1 << 20) + 1), 6 << 20, "whole huge pages");
        assert_eq!(slab_size_for(2 << 20), MAX_SLAB_SIZE);
        assert_eq!(slab_size_for(usize::MAX), MAX_SLAB_SIZE);
    }

    #[test]
    fn big_slabs_are_huge_page_aligned_small_ones_page_aligned() {
        for (len, align) in [(4 << 20, HUGE_PAGE), (64 << 10, PAGE)] {
            let s = Slab::map(len).unwrap();
            assert_eq!(s.ptr() as usize % align, 0, "{len}");
            assert_eq!(s.len(), len);
            // SAFETY: the slab owns len writable bytes.
            let bytes = unsafe { std::slice::from_raw_parts_mut(s.ptr(), s.len()) };
            bytes[0] = 1;
            bytes[len - 1] = 2;
            assert_eq!(bytes[0] + bytes[len - 1], 3);
        }
    }

    #[test]
    fn oversized_slabs_are_refused() {
        let e = take(MAX_SLAB_SIZE + 1, true).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
