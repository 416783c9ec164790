//! A hostile or buggy peer: this test plays the other side by hand, building
//! its own ring memfd and hello byte by byte, then scribbling over the shared
//! header. Whatever it does, our end must answer with data, `WouldBlock`, EOF
//! or a clear error (`InvalidData`, `BrokenPipe`), never crash, read or write
//! out of bounds, or hang.

use faasin::{Reader, Writer};
use proptest::prelude::*;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const PAGE: usize = 4096;
const CAP: usize = 4096;

// Offsets of the header in docs/design.md, as a foreign implementation
// would use them.
const OFF_MAGIC: usize = 0;
const OFF_CAPACITY: usize = 8;
const OFF_VERSION: usize = 16;
const OFF_HEADER_SIZE: usize = 20;
const OFF_WRITE_POS: usize = 128;
const OFF_READ_POS: usize = 256;
const OFF_READER_WAITING: usize = 384;
const OFF_READER_CLOSED: usize = 388;
const OFF_WRITER_CLOSED: usize = 516;

#[derive(Debug, Clone)]
struct Craft {
    hello_magic: u32,
    hello_version: u32,
    hello_role: u32,
    hello_header: u32,
    hello_capacity: u64,
    magic: u64,
    version: u32,
    capacity: u64,
    header_size: u32,
    file_size: usize,
    seals: i32,
    send_memfd: bool,
}

impl Craft {
    fn good(role: u32) -> Craft {
        Craft {
            hello_magic: u32::from_le_bytes(*b"FSIN"),
            hello_version: 3,
            hello_role: role,
            hello_header: PAGE as u32,
            hello_capacity: CAP as u64,
            magic: u64::from_le_bytes(*b"FAASRING"),
            version: 3,
            capacity: CAP as u64,
            header_size: PAGE as u32,
            file_size: PAGE + CAP,
            seals: libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            send_memfd: true,
        }
    }
}

/// The hostile side: our own mapping of the ring and the peer socket.
struct Peer {
    map: *mut u8,
    len: usize,
    _sock: OwnedFd,
}

impl Peer {
    fn put_u64(&self, off: usize, v: u64) {
        // SAFETY: off + 8 <= len for every offset used; the pointer is
        // 8-aligned (page-aligned base, 8-aligned offsets). Volatile, since
        // the other end reads it concurrently through atomics.
        unsafe { self.map.add(off).cast::<u64>().write_volatile(v) }
    }
    fn put_u32(&self, off: usize, v: u32) {
        // SAFETY: as in put_u64.
        unsafe { self.map.add(off).cast::<u32>().write_volatile(v) }
    }
    fn get_u64(&self, off: usize) -> u64 {
        // SAFETY: as in put_u64.
        unsafe { self.map.add(off).cast::<u64>().read_volatile() }
    }
    fn fill_data(&self, byte: u8) {
        // SAFETY: the data area is PAGE..PAGE + CAP inside our mapping.
        unsafe { std::ptr::write_bytes(self.map.add(PAGE), byte, CAP) }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `craft`.
        unsafe { libc::munmap(self.map.cast(), self.len) };
    }
}

/// Builds an endpoint fd for our side from `c`; returns it with the peer.
fn craft(c: &Craft) -> (OwnedFd, Option<Peer>) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two ints.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: fresh fds.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: literal name, valid flags.
    let raw = unsafe {
        libc::memfd_create(
            c"hostile".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    assert!(raw >= 0);
    // SAFETY: fresh fd.
    let memfd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: valid fd.
    let rc = unsafe { libc::ftruncate(raw, c.file_size as libc::off_t) };
    assert_eq!(rc, 0);
    let len = c.file_size.max(PAGE);
    // SAFETY: a fresh shared mapping of our memfd; MAP_SHARED of a smaller
    // file only faults beyond EOF, and we touch the first page only when the
    // file is at least one page long.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            raw,
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    let peer = Peer {
        map: map.cast(),
        len,
        _sock: theirs,
    };
    if c.file_size >= PAGE {
        peer.put_u64(OFF_MAGIC, c.magic);
        peer.put_u64(OFF_CAPACITY, c.capacity);
        peer.put_u32(OFF_VERSION, c.version);
        peer.put_u32(OFF_HEADER_SIZE, c.header_size);
    }
    if c.seals != 0 {
        // SAFETY: valid memfd; the seal set may be refused, which is fine.
        unsafe { libc::fcntl(raw, libc::F_ADD_SEALS, c.seals) };
    }
    let mut hello = Vec::new();
    hello.extend_from_slice(&c.hello_magic.to_le_bytes());
    hello.extend_from_slice(&c.hello_version.to_le_bytes());
    hello.extend_from_slice(&c.hello_role.to_le_bytes());
    hello.extend_from_slice(&c.hello_header.to_le_bytes());
    hello.extend_from_slice(&c.hello_capacity.to_le_bytes());
    let memfd = [memfd.as_raw_fd()];
    send(&peer._sock, &hello, if c.send_memfd { &memfd } else { &[] });
    (ours, Some(peer))
}

fn send(sock: &OwnedFd, payload: &[u8], fds: &[i32]) {
    assert!(fds.len() <= 2);
    let mut cbuf = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: payload.len(),
    };
    // SAFETY: zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let bytes = 4 * fds.len() as u32;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: pure computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(bytes) } as usize;
        // SAFETY: the control buffer is large and aligned enough for two
        // fds, and they fill exactly `bytes` of it.
        unsafe {
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(bytes) as usize;
            let data = libc::CMSG_DATA(cm).cast::<i32>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(*fd);
            }
        }
    }
    // SAFETY: msg is valid for the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    assert_eq!(n as usize, payload.len());
}

fn assert_clean_error(e: &io::Error) {
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
        ),
        "unexpected error kind {:?}: {e}",
        e.kind()
    );
}

#[test]
fn the_honest_crafted_endpoint_works() {
    // The crafting code itself is right: an honest peer is accepted.
    let (fd, peer) = craft(&Craft::good(1));
    let peer = peer.unwrap();
    let mut r = Reader::from_fd(fd).unwrap();
    peer.fill_data(b'z');
    peer.put_u64(OFF_WRITE_POS, 10);
    let mut buf = [0u8; 64];
    assert_eq!(r.read(&mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], b"zzzzzzzzzz");
}

/// A hostile reader that asks to be woken on a pipe (its waiting flag)
/// without offering one, or after offering fds that are not a pipe's two
/// ends: our writer neither fails nor crashes, and rings the socket. An
/// honest offer after them is taken: the next wake-up goes to the pipe.
#[test]
fn a_writer_rings_the_socket_for_a_reader_whose_pipe_offer_is_bad() {
    let (fd, peer) = craft(&Craft::good(2));
    let peer = peer.unwrap();
    let mut w = Writer::from_fd(fd).unwrap();
    let sock = peer._sock.as_raw_fd();
    let mut pipe = [0; 2];
    // SAFETY: pipe has room for two ints.
    let rc = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0);
    // SAFETY: fresh fds, owned here.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let readable = |fd: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    };
    let take_doorbells = || {
        let mut b = [0u8; 64];
        // SAFETY: b is valid for 64 bytes.
        while unsafe { libc::recv(sock, b.as_mut_ptr().cast(), 64, libc::MSG_DONTWAIT) } > 0 {}
    };
    let bad: &[(&[u8], &[i32])] = &[
        (b"P", &[]),
        (b"P", &[sock, sock]),
        (b"P", &[tx.as_raw_fd()]),
    ];
    for (payload, fds) in bad {
        if !fds.is_empty() {
            send(&peer._sock, payload, fds);
        }
        peer.put_u32(OFF_READER_WAITING, 2);
        w.write_all(b"x").unwrap();
        assert!(readable(sock), "{fds:?}: rung on the socket");
        assert!(!readable(rx.as_raw_fd()));
        take_doorbells();
    }
    send(&peer._sock, b"P", &[tx.as_raw_fd(), rx.as_raw_fd()]);
    peer.put_u32(OFF_READER_WAITING, 2);
    w.write_all(b"x").unwrap();
    assert!(readable(rx.as_raw_fd()), "rung on the pipe");
    assert!(!readable(sock));
}

#[test]
fn each_malformed_open_is_refused_with_a_clear_error() {
    type Tweak = fn(&mut Craft);
    let cases: &[(&str, Tweak)] = &[
        ("hello magic", |c| c.hello_magic = 0),
        ("hello role", |c| c.hello_role = 9),
        ("hello version", |c| c.hello_version = 99),
        ("an end of protocol version 1", |c| {
            c.hello_version = 1;
            c.version = 1
        }),
        ("an end of protocol version 2", |c| {
            c.hello_version = 2;
            c.version = 2
        }),
        ("hello capacity not a power of two", |c| {
            c.hello_capacity = 5000
        }),
        ("hello capacity huge", |c| c.hello_capacity = u64::MAX),
        ("hello header size", |c| c.hello_header = 64),
        ("header magic", |c| c.magic = 1),
        ("header version", |c| c.version = 4),
        ("header capacity", |c| c.capacity = 8192),
        ("header size field", |c| c.header_size = 0),
        ("file too small", |c| c.file_size = PAGE + CAP / 2),
        ("file too big", |c| c.file_size = PAGE + 2 * CAP),
        ("unsealed", |c| c.seals = 0),
        ("not sealed against grow", |c| {
            c.seals = libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL
        }),
        ("sealed against writes", |c| c.seals |= libc::F_SEAL_WRITE),
        ("no memfd", |c| c.send_memfd = false),
    ];
    for (what, tweak) in cases {
        let mut c = Craft::good(1);
        tweak(&mut c);
        let (fd, _peer) = craft(&c);
        match Reader::from_fd(fd) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => assert_clean_error(&e),
        }
    }
}

/// A peer that starts a ring's positions at the top of their range: both
/// ends stream on across the wrap (the `ring` fuzz target found the
/// writer's position overflowing there).
#[test]
fn positions_at_the_top_of_their_range_wrap() {
    // Our writer, the peer reading.
    let (fd, peer) = craft(&Craft::good(2));
    let peer = peer.unwrap();
    peer.put_u64(OFF_WRITE_POS, u64::MAX);
    peer.put_u64(OFF_READ_POS, u64::MAX);
    let mut w = Writer::from_fd(fd).unwrap();
    w.set_nonblocking(true).unwrap();
    for lap in 1..=3u64 {
        let mut g = w.reserve(CAP).unwrap();
        g.fill(lap as u8);
        g.commit(CAP).unwrap();
        let e = w.write(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        let pos = peer.get_u64(OFF_WRITE_POS);
        assert_eq!(pos, u64::MAX.wrapping_add(lap * CAP as u64));
        // The peer reads it all.
        peer.put_u64(OFF_READ_POS, pos);
    }

    // Our reader, the peer writing.
    let (fd, peer) = craft(&Craft::good(1));
    let peer = peer.unwrap();
    let start = u64::MAX - 9;
    peer.put_u64(OFF_WRITE_POS, start);
    peer.put_u64(OFF_READ_POS, start);
    let mut r = Reader::from_fd(fd).unwrap();
    r.set_nonblocking(true).unwrap();
    peer.fill_data(7);
    peer.put_u64(OFF_WRITE_POS, start.wrapping_add(CAP as u64));
    let mut buf = vec![0u8; 2 * CAP];
    let mut got = 0;
    while got < CAP {
        got += r.read(&mut buf[got..]).unwrap();
    }
    assert!(buf[..CAP].iter().all(|b| *b == 7));
    assert_eq!(peer.get_u64(OFF_READ_POS), start.wrapping_add(CAP as u64));
}

#[derive(Debug, Clone)]
enum Scribble {
    WritePos(u64),
    WritePosDelta(i64),
    ReadPos(u64),
    ReaderClosed(u32),
    WriterClosed(u32),
    Capacity(u64),
    Magic(u64),
}

fn scribble() -> impl Strategy<Value = Scribble> {
    prop_oneof![
        any::<u64>().prop_map(Scribble::WritePos),
        (-10_000i64..10_000).prop_map(Scribble::WritePosDelta),
        any::<u64>().prop_map(Scribble::ReadPos),
        any::<u32>().prop_map(Scribble::ReaderClosed),
        any::<u32>().prop_map(Scribble::WriterClosed),
        any::<u64>().prop_map(Scribble::Capacity),
        any::<u64>().prop_map(Scribble::Magic),
    ]
}

fn apply(peer: &Peer, s: &Scribble, last_write: &mut u64) {
    match *s {
        Scribble::WritePos(v) => {
            *last_write = v;
            peer.put_u64(OFF_WRITE_POS, v)
        }
        Scribble::WritePosDelta(d) => {
            *last_write = last_write.wrapping_add(d as u64);
            peer.put_u64(OFF_WRITE_POS, *last_write)
        }
        Scribble::ReadPos(v) => peer.put_u64(OFF_READ_POS, v),
        Scribble::ReaderClosed(v) => peer.put_u32(OFF_READER_CLOSED, v),
        Scribble::WriterClosed(v) => peer.put_u32(OFF_WRITER_CLOSED, v),
        Scribble::Capacity(v) => peer.put_u64(OFF_CAPACITY, v),
        Scribble::Magic(v) => peer.put_u64(OFF_MAGIC, v),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn reader_survives_a_hostile_writer(ops in proptest::collection::vec(scribble(), 1..40)) {
        let (fd, peer) = craft(&Craft::good(1));
        let peer = peer.unwrap();
        peer.fill_data(0xEE);
        let mut r = Reader::from_fd(fd).unwrap();
        r.set_nonblocking(true).unwrap();
        let mut last = 0u64;
        let mut buf = vec![0u8; 3 * CAP];
        for op in &ops {
            apply(&peer, op, &mut last);
            match r.read(&mut buf) {
                Ok(n) => {
                    prop_assert!(n <= CAP);
                    prop_assert!(buf[..n].iter().all(|b| *b == 0xEE));
                }
                Err(e) => prop_assert!(
                    matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::WouldBlock),
                    "unexpected {:?}: {}", e.kind(), e
                ),
            }
        }
    }

    #[test]
    fn writer_survives_a_hostile_reader(ops in proptest::collection::vec(scribble(), 1..40)) {
        let (fd, peer) = craft(&Craft::good(2));
        let peer = peer.unwrap();
        let mut w = Writer::from_fd(fd).unwrap();
        w.set_nonblocking(true).unwrap();
        let mut last = 0u64;
        let data = vec![0x11u8; CAP / 3];
        for op in &ops {
            apply(&peer, op, &mut last);
            match w.write(&data) {
                Ok(n) => prop_assert!(n <= data.len()),
                Err(e) => prop_assert!(
                    matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::WouldBlock | io::ErrorKind::BrokenPipe),
                    "unexpected {:?}: {}", e.kind(), e
                ),
            }
            if let Ok(mut g) = w.reserve(0) {
                let n = g.len();
                prop_assert!(n <= CAP);
                g.fill(0x22); // must stay inside our mapping
            }
        }
    }

    #[test]
    fn open_survives_random_hello_and_header(
        hello_version in prop_oneof![Just(3u32), any::<u32>()],
        hello_role in 0u32..4,
        hello_header in prop_oneof![Just(PAGE as u32), any::<u32>()],
        hello_capacity in prop_oneof![Just(CAP as u64), any::<u64>(), (0u32..40).prop_map(|s| 1u64 << s)],
        magic in prop_oneof![Just(u64::from_le_bytes(*b"FAASRING")), any::<u64>()],
        capacity in prop_oneof![Just(CAP as u64), any::<u64>()],
        file_size in prop_oneof![Just(PAGE + CAP), 0usize..(4 * PAGE + 4 * CAP)],
    ) {
        let c = Craft {
            hello_version, hello_role, hello_header, hello_capacity, magic, capacity, file_size,
            ..Craft::good(1)
        };
        let (fd, _peer) = craft(&c);
        let ok = Reader::from_fd(fd);
        let honest = hello_version == 3 && hello_role == 1 && hello_header == PAGE as u32
            && hello_capacity == CAP as u64 && magic == Craft::good(1).magic
            && capacity == CAP as u64 && file_size == PAGE + CAP;
        match ok {
            Ok(_) => prop_assert!(honest, "accepted a malformed ring: {:?}", c),
            Err(e) => {
                prop_assert!(!honest, "refused an honest ring: {}", e);
                assert_clean_error(&e);
            }
        }
    }
}
