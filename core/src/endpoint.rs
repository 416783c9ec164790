//! The endpoint socket: one `AF_UNIX`/`SOCK_SEQPACKET` fd per stream end.
//! Its first queued message is the hello (carrying the ring memfd by
//! `SCM_RIGHTS`); afterwards it carries one-byte doorbells, and its hang-up
//! is the lifeline that tells us the peer is gone.

use crate::mapping::Mapping;
use crate::sysfd;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

pub(crate) const HELLO_MAGIC: u32 = u32::from_le_bytes(*b"FSIN");
pub(crate) const HELLO_LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Reader = 1,
    Writer = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hello {
    pub version: u32,
    pub role: Role,
    pub capacity: u64,
    pub header_size: u32,
}

impl Hello {
    fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[0..4].copy_from_slice(&HELLO_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&(self.role as u32).to_le_bytes());
        b[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.capacity.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> io::Result<Hello> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        if b.len() != HELLO_LEN {
            return Err(bad(
                "not a FAASIN endpoint: its first message is not a FAASIN hello",
            ));
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if u32_at(0) != HELLO_MAGIC {
            return Err(bad("not a FAASIN endpoint: bad hello magic"));
        }
        let role = match u32_at(8) {
            1 => Role::Reader,
            2 => Role::Writer,
            _ => return Err(bad("FAASIN hello names an unknown role")),
        };
        Ok(Hello {
            version: u32_at(4),
            role,
            header_size: u32_at(12),
            capacity: u64::from_le_bytes(b[16..24].try_into().unwrap()),
        })
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A connected pair of close-on-exec SEQPACKET sockets.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded; both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn sockopt_int(fd: BorrowedFd<'_>, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: val/len are valid out-pointers of the advertised size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(val)
}

/// True when `fd` is an `AF_UNIX` `SOCK_SEQPACKET` socket: the only kind of
/// fd that can be a FAASIN endpoint. Any other fd is used with plain read/write.
pub(crate) fn is_seqpacket_unix(fd: BorrowedFd<'_>) -> bool {
    is_seqpacket(fd) && is_unix(fd)
}

/// True when `fd` is a `SOCK_SEQPACKET` socket, of any family. An end's
/// open asks only this before it looks for the hello: a hello that comes
/// with its memfd came over an `AF_UNIX` socket (no other family passes
/// fds), so the family needs asking only when there is none.
pub(crate) fn is_seqpacket(fd: BorrowedFd<'_>) -> bool {
    matches!(sockopt_int(fd, libc::SO_TYPE), Ok(t) if t == libc::SOCK_SEQPACKET)
}

/// True when `fd` is an `AF_UNIX` socket.
pub(crate) fn is_unix(fd: BorrowedFd<'_>) -> bool {
    matches!(sockopt_int(fd, libc::SO_DOMAIN), Ok(d) if d == libc::AF_UNIX)
}

/// Sends `payload` with the given fds attached (`SCM_RIGHTS`).
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    send_with_fds_flags(sock, payload, fds, 0)
}

/// [`send_with_fds`] with more `sendmsg` flags (`MSG_DONTWAIT`).
pub(crate) fn send_with_fds_flags(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<()> {
    assert!(fds.len() <= 4);
    // u64-aligned control buffer big enough for 4 fds.
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: payload.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure computation.
        let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        debug_assert!(space <= size_of::<[u64; 8]>());
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points to `space` writable, aligned bytes, so
        // the first header fits and CMSG_DATA has room for `data_len` bytes.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                data_len as usize,
            );
        }
    }
    // SAFETY: msg and everything it points to are valid for the call.
    let n = cvt_size(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | flags) })?;
    if n != payload.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short send on a SEQPACKET socket",
        ));
    }
    Ok(())
}

/// Receives one message and up to `max_fds` fds. Returns the payload length
/// (0 = peer hung up) and the fds, each owned. Extra fds are closed by the
/// kernel (MSG_CTRUNC); fds arriving with a message are never leaked.
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    flags: libc::c_int,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    assert!(max_fds <= 4);
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if max_fds > 0 {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: pure computation.
        msg.msg_controllen =
            unsafe { libc::CMSG_SPACE((max_fds * size_of::<RawFd>()) as u32) } as usize;
    }
    // SAFETY: msg and its buffers are valid for the call.
    let n = cvt_size(unsafe {
        libc::recvmsg(sock.as_raw_fd(), &mut msg, flags | libc::MSG_CMSG_CLOEXEC)
    })?;
    let mut fds = Vec::new();
    if max_fds > 0 {
        // SAFETY: the kernel filled msg_control with well-formed cmsgs up to
        // msg_controllen; the CMSG_* macros walk within it.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                    let count = bytes / size_of::<RawFd>();
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    for i in 0..count {
                        let fd = data.add(i).read_unaligned();
                        // The kernel installed this fd for us; we own it now.
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    Ok((n, fds))
}

/// Queues the hello for the end that will be opened from the peer socket.
pub(crate) fn send_hello(
    sock: BorrowedFd<'_>,
    hello: &Hello,
    memfd: BorrowedFd<'_>,
) -> io::Result<()> {
    send_with_fds(sock, &hello.encode(), &[memfd.as_raw_fd()])
}

/// `recv_with_fds` on a fresh endpoint, read on past one ECONNRESET.
///
/// A peer that closed its end without opening it (it died first) left its
/// own hello unread, so Linux reports ECONNRESET once, before our queued
/// hello; the report can come at the peek or, if the peer dies in between,
/// at the read that takes the hello. Either way the report is taken and the
/// hello read; the hang-up is seen later as EOF or EPIPE, as with a pipe
/// whose other end was closed.
fn recv_past_reset(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    flags: libc::c_int,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    match recv_with_fds(sock, buf, max_fds, flags) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            recv_with_fds(sock, buf, max_fds, flags)
        }
        other => other,
    }
}

/// Takes the hello off a fresh endpoint, after checking (without consuming
/// it) that it is meant for `role`, so a wrong-role open leaves the fd usable.
/// The look in place takes the memfd too (a peek installs a copy of the fds
/// a message carries); the read that then takes the hello off the queue
/// asks for no fds, and the kernel drops its own copy.
pub(crate) fn recv_hello(sock: BorrowedFd<'_>, role: Role) -> io::Result<(Hello, OwnedFd)> {
    let mut buf = [0u8; HELLO_LEN + 1];
    let first = recv_past_reset(sock, &mut buf, 1, libc::MSG_PEEK | libc::MSG_DONTWAIT);
    let (n, mut fds) = match first {
        Ok(got) => got,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a FAASIN endpoint: a SEQPACKET socket with no hello waiting (was it opened already?)",
            ))
        }
        Err(e) => return Err(e),
    };
    let hello = Hello::decode(&buf[..n])?;
    if hello.role != role {
        let (this, other) = match hello.role {
            Role::Reader => ("read", "Reader"),
            Role::Writer => ("write", "Writer"),
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("this fd is the {this} end of a FAASIN stream; open it as a {other}"),
        ));
    }
    if fds.len() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "FAASIN hello arrived without exactly one ring memfd",
        ));
    }
    let mut again = [0u8; HELLO_LEN + 1];
    let (m, _) = recv_past_reset(sock, &mut again, 0, libc::MSG_DONTWAIT)?;
    // Only a process sharing this fd could have read in between.
    if again[..m] != buf[..n] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the FAASIN hello was taken by someone else during the open (is the fd shared?)",
        ));
    }
    Ok((hello, fds.pop().unwrap()))
}

/// Takes the hello off a fresh endpoint and maps the ring it carries, after
/// checking the protocol version; everything else is checked by
/// [`Mapping::open`].
pub(crate) fn open_ring(sock: BorrowedFd<'_>, role: Role) -> io::Result<(Hello, Mapping)> {
    let (hello, memfd) = recv_hello(sock, role)?;
    if hello.version != crate::header::VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "FAASIN protocol version {} (this library speaks {})",
                hello.version,
                crate::header::VERSION
            ),
        ));
    }
    let capacity = usize::try_from(hello.capacity)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "ring capacity overflows usize"))?;
    let map = Mapping::open(&memfd, capacity, hello.header_size as usize)?;
    Ok((hello, map))
}

/// Rings the peer's doorbell. A full socket buffer means doorbells are
/// already pending, and a hung-up peer needs no wake-up: both are ignored.
pub(crate) fn ring(sock: BorrowedFd<'_>) {
    let b = [1u8];
    // SAFETY: b is a valid 1-byte buffer.
    unsafe {
        libc::send(
            sock.as_raw_fd(),
            b.as_ptr().cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// Drains pending doorbells without blocking. Returns true if the peer hung up.
pub(crate) fn drain(sock: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: buf is valid for 64 bytes. Any fds a hostile peer attached
        // are closed by the kernel since we pass no control buffer.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n == 0 {
            return Ok(true);
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(false),
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::ConnectionReset => Ok(true),
                _ => Err(e),
            };
        }
    }
}

/// A reader's sleep on the socket: without a deadline, one blocking `recv`
/// of a doorbell (one syscall per wake-up); with one, a `poll` bounded by
/// what is left of it, then `TimedOut` once it has passed. Returns true if
/// the peer hung up.
pub(crate) fn sleep(
    sock: BorrowedFd<'_>,
    deadline: Option<Instant>,
    what: &str,
) -> io::Result<bool> {
    let Some(deadline) = deadline else {
        return recv_doorbell(sock);
    };
    sysfd::poll(sock, libc::POLLIN, Some(sysfd::time_left(deadline, what)?))?;
    Ok(false)
}

/// Blocks for one doorbell. Returns true if the peer hung up instead.
/// `EINTR` is returned as `Interrupted`.
pub(crate) fn recv_doorbell(sock: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 64];
    // SAFETY: buf is valid for 64 bytes; attached fds, if a hostile peer
    // sends any, are closed by the kernel since we pass no control buffer.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n > 0 {
        return Ok(false);
    }
    if n == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::ConnectionReset => Ok(true),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn hello_round_trip_and_role_check() {
        let (a, b) = seqpacket_pair().unwrap();
        let memfd = crate::mapping::create_memfd(4096).unwrap();
        let h = Hello {
            version: crate::header::VERSION,
            role: Role::Reader,
            capacity: 4096,
            header_size: 4096,
        };
        send_hello(b.as_fd(), &h, memfd.as_fd()).unwrap();
        let e = recv_hello(a.as_fd(), Role::Writer).unwrap_err();
        assert!(e.to_string().contains("read end"), "{e}");
        let (got, _fd) = recv_hello(a.as_fd(), Role::Reader).unwrap();
        assert_eq!(got, h);
        let e = recv_hello(a.as_fd(), Role::Reader).unwrap_err();
        assert!(e.to_string().contains("no hello"), "{e}");
    }

    /// The peer dies, its own hello unread, after our end was peeked: the
    /// read that takes our hello gets the one ECONNRESET, which must not
    /// fail the open (a function downstream of one that crashed at once, as
    /// in the runner's crash test, would otherwise exit with an error
    /// instead of reading EOF).
    #[test]
    fn a_peer_dying_between_peek_and_read_does_not_fail_the_open() {
        let hello_pair = || {
            let (r, w) = crate::pipe_fds(4096).unwrap();
            let mut buf = [0u8; HELLO_LEN + 1];
            recv_with_fds(r.as_fd(), &mut buf, 0, libc::MSG_PEEK | libc::MSG_DONTWAIT).unwrap();
            drop(w);
            r
        };
        // What the kernel does: the plain read reports the reset once.
        let r = hello_pair();
        let mut buf = [0u8; HELLO_LEN + 1];
        let e = recv_with_fds(r.as_fd(), &mut buf, 1, libc::MSG_DONTWAIT).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        // What the open does: reads on past it and takes the hello.
        let r = hello_pair();
        let (n, fds) = recv_past_reset(r.as_fd(), &mut buf, 1, libc::MSG_DONTWAIT).unwrap();
        assert_eq!(Hello::decode(&buf[..n]).unwrap().role, Role::Reader);
        assert_eq!(fds.len(), 1);
        // And the whole open, with the writer gone before it: EOF, not an error.
        let (r, w) = crate::pipe_fds(4096).unwrap();
        drop(w);
        let mut reader = crate::Reader::from_fd(r).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn drain_sees_hang_up() {
        let (a, b) = seqpacket_pair().unwrap();
        ring(b.as_fd());
        ring(b.as_fd());
        assert!(!drain(a.as_fd()).unwrap());
        drop(b);
        assert!(drain(a.as_fd()).unwrap());
    }
}
