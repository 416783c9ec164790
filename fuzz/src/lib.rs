//! What the fuzz targets share: the other side of a FAASIN endpoint, built
//! by hand from system calls as a foreign or hostile peer would build it
//! (socket pairs, memfds, messages with fds attached, a mapping of the
//! ring), and the open-fd count by which a target sees a leak.
//!
//! Nothing here may block: a message that does not fit is a failed send
//! (the targets queue a few small ones), so a hang is always the library's.

use arbitrary::Arbitrary;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64};

pub const PAGE: usize = 4096;

/// Offsets in the ring header (docs/design.md, "The ring").
pub mod off {
    pub const MAGIC: usize = 0;
    pub const CAPACITY: usize = 8;
    pub const VERSION: usize = 16;
    pub const HEADER_SIZE: usize = 20;
    pub const WRITE_POS: usize = 128;
    pub const WRITER_CPU: usize = 136;
    pub const READ_POS: usize = 256;
    pub const READER_CPU: usize = 264;
    pub const READER_WAITING: usize = 384;
    pub const READER_CLOSED: usize = 388;
    pub const WRITER_WAITING: usize = 512;
    pub const WRITER_CLOSED: usize = 516;
}

pub const RING_MAGIC: u64 = u64::from_le_bytes(*b"FAASRING");
pub const HELLO_MAGIC: u32 = u32::from_le_bytes(*b"FSIN");
pub const VERSION: u32 = 3;
pub const REQUIRED_SEALS: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// How many fds this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Panics if `body` leaves more or fewer fds open than it found.
pub fn without_fd_leak<T>(body: impl FnOnce() -> T) -> T {
    let before = open_fds();
    let out = body();
    let after = open_fds();
    assert_eq!(before, after, "fds open before and after one input");
    out
}

/// A connected `AF_UNIX` pair of `SOCK_SEQPACKET` sockets, as the library
/// makes for a stream.
pub fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    socket_pair(libc::SOCK_SEQPACKET)
}

fn socket_pair(kind: libc::c_int) -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })
    .expect("socketpair");
    // SAFETY: both fds are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Sends one message with `fds` attached (any number the kernel takes),
/// without waiting for room.
pub fn send(sock: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    // u64s, for the alignment of a cmsghdr.
    let mut control = vec![0u64; 4 + fds.len()];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: payload.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let bytes = std::mem::size_of_val(fds) as u32;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: a pure computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(bytes) } as usize;
        // SAFETY: the control buffer holds CMSG_SPACE(bytes) aligned bytes
        // (8 per fd plus 32 is more), so the header and its data fit.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(c),
                bytes as usize,
            );
        }
    }
    // SAFETY: msg and all it points to live across the call.
    let n = unsafe {
        libc::sendmsg(
            sock.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A memfd of `size` bytes; sealable if `sealable`.
pub fn memfd(size: u64, sealable: bool) -> OwnedFd {
    let flags = libc::MFD_CLOEXEC | if sealable { libc::MFD_ALLOW_SEALING } else { 0 };
    // SAFETY: a NUL-terminated name and valid flags.
    let raw = check(unsafe { libc::memfd_create(c"faasin-fuzz".as_ptr(), flags) }).expect("memfd");
    // SAFETY: new, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: a valid fd; a size the kernel refuses is left at 0.
    unsafe { libc::ftruncate(raw, size.min(i64::MAX as u64) as libc::off_t) };
    fd
}

/// Writes the header's static line through the fd (a memfd sealed against
/// writes cannot be mapped writable, so nothing is mapped for it).
pub fn write_static_line(fd: BorrowedFd<'_>, magic: u64, capacity: u64, version: u32, header: u32) {
    let mut line = [0u8; 24];
    line[0..8].copy_from_slice(&magic.to_ne_bytes());
    line[8..16].copy_from_slice(&capacity.to_ne_bytes());
    line[16..20].copy_from_slice(&version.to_ne_bytes());
    line[20..24].copy_from_slice(&header.to_ne_bytes());
    // SAFETY: a valid buffer of its length; a file too short just grows
    // (or, sealed, refuses), which the end under test must cope with.
    unsafe { libc::pwrite(fd.as_raw_fd(), line.as_ptr().cast(), line.len(), 0) };
}

/// Adds seals; refused seals (an unsealable memfd) are what the test wants.
pub fn add_seals(fd: BorrowedFd<'_>, seals: i32) {
    // SAFETY: fcntl on a valid fd.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
}

/// The hello message of docs/design.md, from its fields.
pub fn hello(magic: u32, version: u32, role: u32, header: u32, capacity: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&magic.to_le_bytes());
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&role.to_le_bytes());
    b.extend_from_slice(&header.to_le_bytes());
    b.extend_from_slice(&capacity.to_le_bytes());
    b
}

/// An fd a hostile peer may attach to a message.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// The ring memfd of this input, if it has one.
    Ring,
    /// Another, honest-looking ring memfd of one page plus one page.
    OtherMemfd,
    PipeRead,
    PipeWrite,
    DevNull,
    /// One end of a new seqpacket pair (an endpoint with no hello).
    Socket,
    /// One end of a stream socket pair.
    StreamSocket,
}

impl Attach {
    /// Opens the fd; `ring` stands in for `Attach::Ring`.
    pub fn open(self, ring: Option<BorrowedFd<'_>>) -> OwnedFd {
        match self {
            Attach::Ring => match ring {
                Some(r) => r.try_clone_to_owned().expect("dup"),
                None => Attach::DevNull.open(None),
            },
            Attach::OtherMemfd => {
                let fd = memfd((2 * PAGE) as u64, true);
                write_static_line(fd.as_fd(), RING_MAGIC, PAGE as u64, VERSION, PAGE as u32);
                add_seals(fd.as_fd(), REQUIRED_SEALS);
                fd
            }
            Attach::PipeRead | Attach::PipeWrite => {
                let mut p = [0; 2];
                // SAFETY: room for two fds.
                check(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }).expect("pipe");
                // SAFETY: both new and ours.
                let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
                if self == Attach::PipeRead {
                    r
                } else {
                    w
                }
            }
            Attach::DevNull => std::fs::File::open("/dev/null").expect("/dev/null").into(),
            Attach::Socket => seqpacket_pair().0,
            Attach::StreamSocket => socket_pair(libc::SOCK_STREAM).0,
        }
    }
}

/// The peer's own mapping of a ring memfd: header page and data area, once
/// (it handles the wrap itself, as a foreign implementation might).
pub struct PeerMap {
    base: *mut u8,
    len: usize,
}

impl PeerMap {
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> PeerMap {
        // SAFETY: a new shared mapping at an address of the kernel's choice.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap of the peer's ring");
        PeerMap {
            base: base.cast(),
            len,
        }
    }

    /// The u64 header field at `offset`.
    pub fn u64_at(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= PAGE);
        // SAFETY: inside the mapped header page, 8-aligned (page-aligned
        // base); the end under test accesses the same word atomically.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
    }

    /// The u32 header field at `offset`.
    pub fn u32_at(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= PAGE);
        // SAFETY: as in `u64_at`.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    /// Byte `i` of the data area (`i < len - PAGE`).
    pub fn data(&self, i: usize) -> *mut u8 {
        assert!(PAGE + i < self.len);
        // SAFETY: inside the mapping, by the assertion.
        unsafe { self.base.add(PAGE + i) }
    }
}

impl Drop for PeerMap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
