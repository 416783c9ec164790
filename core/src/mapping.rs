//! The ring's memory: one sealed memfd holding a header page and the data
//! area, mapped with the data area twice back to back so that every readable
//! or writable span is one contiguous slice.

use crate::header::{Header, MAGIC, VERSION};
use crate::sync::Ordering;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

/// Smallest and largest ring the library creates or accepts.
pub const MIN_CAPACITY: usize = 4096;
pub const MAX_CAPACITY: usize = 1 << 32;

const REQUIRED_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p <= 0 {
        4096
    } else {
        p as usize
    }
}

/// Checks a requested capacity: a power of two, a multiple of the page size,
/// within bounds.
pub(crate) fn check_capacity(capacity: usize) -> io::Result<()> {
    let page = page_size();
    if !capacity.is_power_of_two()
        || capacity < MIN_CAPACITY.max(page)
        || capacity > MAX_CAPACITY
        || capacity % page != 0
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ring capacity {capacity} must be a power of two between {} and {MAX_CAPACITY} bytes",
                MIN_CAPACITY.max(page)
            ),
        ));
    }
    Ok(())
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Bytes of the header's static line as written by `create_memfd`: magic,
/// capacity (u64 each), version, header size (u32 each), native endian.
const STATIC_LINE_LEN: usize = 24;

#[cfg(not(loom))]
const _: () = {
    use crate::header::StaticLine;
    assert!(core::mem::offset_of!(StaticLine, magic) == 0);
    assert!(core::mem::offset_of!(StaticLine, capacity) == 8);
    assert!(core::mem::offset_of!(StaticLine, version) == 16);
    assert!(core::mem::offset_of!(StaticLine, header_size) == 20);
};

/// Creates the ring memfd: sized, header written, sealed against shrink,
/// grow and further seals. The caller hands it to both ends.
pub(crate) fn create_memfd(capacity: usize) -> io::Result<OwnedFd> {
    check_capacity(capacity)?;
    let header_size = page_size();
    // SAFETY: the name is a NUL-terminated literal; flags are valid.
    let raw = cvt(unsafe {
        libc::memfd_create(
            c"faasin-ring".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    })?;
    // SAFETY: memfd_create just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let total = (header_size + capacity) as libc::off_t;
    // SAFETY: fd is a valid memfd we own.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), total) })?;
    // The static line, written through the fd: nobody has the memfd mapped
    // yet, and mapping it here only to write 24 bytes would add three mmaps,
    // a munmap and a page fault to every ring's setup.
    let mut line = [0u8; STATIC_LINE_LEN];
    line[0..8].copy_from_slice(&MAGIC.to_ne_bytes());
    line[8..16].copy_from_slice(&(capacity as u64).to_ne_bytes());
    line[16..20].copy_from_slice(&VERSION.to_ne_bytes());
    line[20..24].copy_from_slice(&(header_size as u32).to_ne_bytes());
    // SAFETY: fd is our memfd; line is a valid buffer of its length.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), line.as_ptr().cast(), line.len(), 0) };
    if n != line.len() as isize {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a valid memfd created with MFD_ALLOW_SEALING.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, REQUIRED_SEALS) })?;
    Ok(fd)
}

/// Zeroes the header's position and flag lines (everything after the static
/// line's group), through the fd, for a new stream on a used ring memfd.
pub(crate) fn reset_positions(fd: &OwnedFd) -> io::Result<()> {
    const FROM: usize = core::mem::offset_of!(Header, writer);
    const LEN: usize = core::mem::size_of::<Header>() - FROM;
    let zeros = [0u8; LEN];
    // SAFETY: fd is a ring memfd; zeros is a valid buffer of its length.
    let n = unsafe {
        libc::pwrite(
            fd.as_raw_fd(),
            zeros.as_ptr().cast(),
            LEN,
            FROM as libc::off_t,
        )
    };
    if n != LEN as isize {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A live double mapping of a ring memfd. Unmapped on drop, or kept for
/// the next stream on the same memfd (see [`keep_mappings`]).
#[derive(Debug)]
pub(crate) struct Mapping {
    base: *mut u8,
    len: usize,
    header_size: usize,
    /// The memfd's (device, inode) when this mapping may be kept.
    id: Option<(u64, u64)>,
    /// Bytes of the data area, from its start, whose page tables this
    /// process has filled (see `populate_ahead`); kept with the mapping.
    populated: AtomicUsize,
}

/// Mappings whose end closed, kept for the next stream on the same memfd;
/// `None` while keeping is off (the default).
static KEPT: Mutex<Option<Vec<Mapping>>> = Mutex::new(None);
/// At most this many mappings, and this many bytes of them, are kept.
const KEEP_COUNT: usize = 8;
const KEEP_BYTES: usize = 64 << 20;

/// From now on, a mapping whose end closes is kept (up to 8 of them and
/// 64 MiB, oldest unmapped first) and used again when this
/// process is handed the same memfd again. A warm function is handed the
/// same ring memory invocation after invocation (the runner's
/// `RingMemory`): a new mapping of it takes a page fault per 4 KiB and an
/// unmap at the end, which for a short stream cost more than the stream
/// itself (see BENCHMARKS.md); a kept one takes neither. A memfd cannot be
/// freed, so its inode number not reused, while a mapping of it lives.
///
/// Process-wide and for good: `invocations()` switches it on in a warm
/// function, and the warm runner for its own ends of each invocation's
/// first and last stream. A process should switch it on only if every
/// ring it is handed again comes from the same party (a kept mapping can
/// read whatever later flows through that memory).
pub fn keep_mappings() {
    let mut k = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    k.get_or_insert_with(Vec::new);
}

/// A kept mapping of the memfd `id`, of `len` bytes, if there is one.
fn take_kept(id: (u64, u64), len: usize) -> Option<Mapping> {
    let mut k = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    let kept = k.as_mut()?;
    let at = kept.iter().position(|m| m.id == Some(id) && m.len == len)?;
    Some(kept.remove(at))
}

// SAFETY: the mapping is plain shared memory; all shared state in it is
// accessed through atomics or through spans that the ring protocol gives to
// exactly one side at a time.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out `&Header` (atomics) and raw
// pointers whose use is governed by the owning Reader or Writer.
unsafe impl Sync for Mapping {}

/// Refuses a ring fd that is not a memfd sealed against shrink, grow and
/// further seals, or that is sealed against writes.
fn check_seals(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on any fd number is memory-safe; errors are reported.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(invalid(format!(
            "the ring fd is not a sealable memfd ({})",
            io::Error::last_os_error()
        )));
    }
    if seals & REQUIRED_SEALS != REQUIRED_SEALS {
        return Err(invalid(
            "the ring memfd is not sealed against shrink, grow and further seals",
        ));
    }
    if seals & (libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) != 0 {
        return Err(invalid("the ring memfd is sealed against writes"));
    }
    Ok(())
}

impl Mapping {
    /// Validates a memfd received from the peer and maps it. `capacity` and
    /// `header_size` are what the hello announced; the memfd's seals, size and
    /// static header must all agree with them.
    pub(crate) fn open(fd: &OwnedFd, capacity: usize, header_size: usize) -> io::Result<Mapping> {
        check_capacity(capacity)
            .map_err(|e| invalid(format!("hello announces a bad ring: {e}")))?;
        if header_size != page_size() {
            return Err(invalid(format!(
                "hello announces a header of {header_size} bytes, expected one page ({})",
                page_size()
            )));
        }
        // SAFETY: all-zero is a valid `stat`; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return Err(invalid("the ring fd is not a regular memfd"));
        }
        if st.st_size as u64 != (header_size + capacity) as u64 {
            return Err(invalid(format!(
                "the ring memfd is {} bytes, the hello announces {}",
                st.st_size,
                header_size + capacity
            )));
        }
        let id = (st.st_dev, st.st_ino);
        // A kept mapping's memfd had its seals checked when it was first
        // mapped, and one of them forbids any change to them since.
        let map = match take_kept(id, header_size + 2 * capacity) {
            Some(m) => m,
            None => {
                check_seals(fd)?;
                let keeping = KEPT.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                let mut m = Mapping::map_raw(fd, header_size, capacity)?;
                m.id = keeping.then_some(id);
                m
            }
        };
        // A kept mapping is checked again: the static line is shared memory.
        let h = map.header();
        let magic = h.fixed.magic.load(Ordering::Relaxed);
        let version = h.fixed.version.load(Ordering::Relaxed);
        let hcap = h.fixed.capacity.load(Ordering::Relaxed);
        let hsize = h.fixed.header_size.load(Ordering::Relaxed);
        if magic != MAGIC {
            return Err(invalid(format!("bad ring magic {magic:#x}")));
        }
        if version != VERSION {
            return Err(invalid(format!(
                "ring version {version}, this library speaks {VERSION}"
            )));
        }
        if hcap != capacity as u64 || hsize as usize != header_size {
            return Err(invalid(format!(
                "ring header says capacity {hcap} and header {hsize}, the hello says {capacity} and {header_size}"
            )));
        }
        Ok(map)
    }

    /// Maps header + data, then the data again right after it: one mapping
    /// of the memfd as long as header + twice the data (its last part lies
    /// past the end of the file and is never touched), whose last part is
    /// then replaced by a second mapping of the data. Two mmaps, no
    /// separate reservation.
    fn map_raw(fd: &OwnedFd, header_size: usize, capacity: usize) -> io::Result<Mapping> {
        let len = header_size + 2 * capacity;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a new shared mapping at an address of the kernel's choice;
        // no existing memory is touched. The part past the end of the file
        // would fault if touched; it is replaced below before any use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // From here on, dropping `map` unmaps the whole range.
        let map = Mapping {
            base: base.cast(),
            len,
            header_size,
            id: None,
            populated: AtomicUsize::new(0),
        };
        // SAFETY: `base + header_size + capacity .. + capacity` lies inside the
        // mapping of `len` bytes.
        let second_addr = unsafe { map.base.add(header_size + capacity) };
        // SAFETY: MAP_FIXED over the tail of our own mapping only; the offset
        // is the start of the data area, page-aligned since header_size is a
        // page.
        let second = unsafe {
            libc::mmap(
                second_addr.cast(),
                capacity,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd.as_raw_fd(),
                header_size as libc::off_t,
            )
        };
        if second == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(map)
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: base is page-aligned (so 128-aligned), the mapping is at
        // least one page (>= size_of::<Header>()), lives as long as `self`,
        // and Header consists only of atomics, for which any bit pattern is
        // valid and concurrent access from the peer is allowed.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// Start of the data area; `2 * capacity` bytes are mapped from here, the
    /// second half mirroring the first.
    pub(crate) fn data(&self) -> *mut u8 {
        // SAFETY: header_size < len, so the result stays inside the mapping.
        unsafe { self.base.add(self.header_size) }
    }

    /// Before a write end's bytes go to data offsets `[off, off + n)` of the
    /// first half: on this mapping's first lap, fills the page tables ahead
    /// with one `madvise` instead of taking a page fault per 4 KiB (each a
    /// trip into the kernel, dearer still in a VM, and a new ring, or a new
    /// mapping of reused ring memory, takes one per page). The spans double,
    /// so a short stream fills little; a kept mapping remembers how far it
    /// got. A kernel without `MADV_POPULATE_WRITE` (before 5.14) takes the
    /// faults.
    pub(crate) fn populate_ahead(&self, off: usize, n: usize) {
        // Relaxed: a note of this process's own page tables, used by the
        // one end that owns the mapping; it orders nothing.
        let done = self.populated.load(std::sync::atomic::Ordering::Relaxed);
        let cap = (self.len - self.header_size) / 2;
        if done >= cap || off + n <= done {
            return;
        }
        let to = (off + n)
            .max(2 * done)
            .min(cap)
            .next_multiple_of(page_size());
        // SAFETY: [done, to) lies in the first half of the data area (to <=
        // capacity, a page multiple); the advice maps the pages writable
        // without touching their bytes, so bytes the reader has yet to read
        // stay as they are.
        let r = unsafe {
            libc::madvise(
                self.data().add(done).cast(),
                to - done,
                libc::MADV_POPULATE_WRITE,
            )
        };
        let now = if r == 0 { to } else { cap };
        // Relaxed: as above.
        self.populated
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut k = KEPT.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(kept) = k.as_mut().filter(|_| self.len <= KEEP_BYTES) {
                // The range moves into the kept list; `self` no longer
                // owns it.
                kept.push(Mapping {
                    base: self.base,
                    len: self.len,
                    header_size: self.header_size,
                    id: Some(id),
                    populated: AtomicUsize::new(*self.populated.get_mut()),
                });
                let mut over = Vec::new();
                while kept.len() > KEEP_COUNT
                    || kept.iter().map(|m| m.len).sum::<usize>() > KEEP_BYTES
                {
                    over.push(kept.remove(0));
                }
                drop(k);
                // Unmapped outside the lock (their id is still set, so
                // each would try to be kept: clear it first).
                for mut m in over {
                    m.id = None;
                    drop(m);
                }
                return;
            }
        }
        // SAFETY: base/len are exactly the range mapped in map_raw, which
        // nobody else unmaps; no reference into it outlives `self` (borrowed
        // views in bindings hold an Arc of this Mapping).
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_area_is_mirrored() {
        let fd = create_memfd(4096).unwrap();
        let map = Mapping::open(&fd, 4096, page_size()).unwrap();
        // SAFETY: both offsets are inside the 2 * capacity data mapping.
        unsafe {
            map.data().add(10).write(0xAB);
            assert_eq!(map.data().add(4096 + 10).read(), 0xAB);
            map.data().add(4096 + 4095).write(0xCD);
            assert_eq!(map.data().add(4095).read(), 0xCD);
        }
    }

    /// Page tables are filled ahead in doubling spans up to the capacity,
    /// the bytes stay as they were, and a mapping that has been populated
    /// is not asked again.
    #[test]
    fn populate_ahead_doubles_up_to_the_capacity_and_keeps_the_bytes() {
        let cap = 64 * 4096;
        let fd = create_memfd(cap).unwrap();
        let map = Mapping::open(&fd, cap, page_size()).unwrap();
        // SAFETY: offsets inside the data mapping.
        unsafe { map.data().add(5000).write(0x5A) };
        let done = || map.populated.load(std::sync::atomic::Ordering::Relaxed);
        map.populate_ahead(0, 1);
        assert_ne!(
            done(),
            cap,
            "MADV_POPULATE_WRITE refused (a kernel before 5.14?): rings fall back to page faults"
        );
        assert_eq!(done(), 4096, "the first span: the page written");
        map.populate_ahead(1, 10 * 1024);
        assert_eq!(done(), 12 * 1024, "the written range, in pages");
        map.populate_ahead(12 * 1024, 1);
        assert_eq!(done(), 24 * 1024, "twice what was done");
        map.populate_ahead(0, 100);
        assert_eq!(done(), 24 * 1024, "nothing new for a span already done");
        map.populate_ahead(cap - 10, 20);
        assert_eq!(done(), cap, "never past the first half");
        // SAFETY: as above.
        assert_eq!(unsafe { map.data().add(5000).read() }, 0x5A);
    }

    #[test]
    fn bad_capacities_are_refused() {
        for cap in [0, 1000, 4097, 3 * 4096, MAX_CAPACITY * 2] {
            let e = create_memfd(cap).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "capacity {cap}");
        }
    }

    #[test]
    fn unsealed_or_wrong_size_memfd_is_refused() {
        // SAFETY: plain memfd_create with a literal name.
        let raw = unsafe { libc::memfd_create(c"x".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: valid fd.
        assert_eq!(unsafe { libc::ftruncate(raw, 8192) }, 0);
        let e = Mapping::open(&fd, 4096, 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("sealed"), "{e}");

        let fd = create_memfd(4096).unwrap();
        let e = Mapping::open(&fd, 8192, 4096).err().unwrap();
        assert!(e.to_string().contains("bytes"), "{e}");
    }

    #[test]
    fn bad_magic_is_refused() {
        let fd = create_memfd(4096).unwrap();
        {
            let map = Mapping::open(&fd, 4096, 4096).unwrap();
            map.header().fixed.magic.store(7, Ordering::Relaxed);
        }
        let e = Mapping::open(&fd, 4096, 4096).err().unwrap();
        assert!(e.to_string().contains("magic"), "{e}");
    }
}
