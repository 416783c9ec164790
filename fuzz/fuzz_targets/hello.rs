//! The hello and what an end accepts with it: a peer queues fuzzed messages
//! (a hello with any field honest or not, or raw bytes, with any fds
//! attached) ahead of a ring memfd of fuzzed size, seals and static line,
//! and may hang up first; then our end opens as a Reader or a Writer.
//!
//! It must accept exactly an honest ring (every field as the protocol
//! says), refuse anything else with `InvalidData` or `InvalidInput`, leak
//! no fd that came with a message, and an end it accepts must work.

#![no_main]

use arbitrary::Arbitrary;
use faasin::{Reader, Writer};
use faasin_fuzz::{
    add_seals, hello, memfd, send, seqpacket_pair, without_fd_leak, write_static_line, Attach,
    HELLO_MAGIC, PAGE, REQUIRED_SEALS, RING_MAGIC, VERSION,
};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};

/// A field as the protocol says, or any other value.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field<T> {
    Honest,
    Is(T),
}

impl<T: PartialEq + Copy> Field<T> {
    fn get(self, honest: T) -> T {
        match self {
            Field::Honest => honest,
            Field::Is(v) => v,
        }
    }

    fn is_honest(self, honest: T) -> bool {
        self.get(honest) == honest
    }
}

#[derive(Arbitrary, Debug)]
enum Size {
    /// A page of header and the capacity.
    Honest,
    /// A page and what the hello says (even if that is a lie).
    AsHelloSays,
    Bytes(u32),
}

#[derive(Arbitrary, Debug)]
struct Ring {
    size: Size,
    sealable: bool,
    /// Bits: shrink, grow, seal, write, future write.
    seals: u8,
    magic: Field<u64>,
    capacity: Field<u64>,
    version: Field<u32>,
    header_size: Field<u32>,
}

#[derive(Arbitrary, Debug)]
struct Hello {
    magic: Field<u32>,
    version: Field<u32>,
    /// Honest: the role opened.
    role: Field<u32>,
    header_size: Field<u32>,
    capacity: Field<u64>,
}

/// A hello's fields: magic, version, role, header size, capacity.
type HelloFields = (u32, u32, u32, u32, u64);

impl Hello {
    fn fields(&self, role: u32, capacity: u64) -> HelloFields {
        (
            self.magic.get(HELLO_MAGIC),
            self.version.get(VERSION),
            self.role.get(role),
            self.header_size.get(PAGE as u32),
            self.capacity.get(capacity),
        )
    }

    fn is_honest(&self, role: u32, capacity: u64) -> bool {
        self.fields(role, capacity) == (HELLO_MAGIC, VERSION, role, PAGE as u32, capacity)
    }
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Hello(Hello),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Message {
    payload: Payload,
    fds: Vec<Attach>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// The end opened: Reader (true) or Writer.
    reader: bool,
    /// The ring's capacity: 4 KiB << (this % 5).
    capacity_shift: u8,
    ring: Ring,
    messages: Vec<Message>,
    /// The peer closes its socket before our end opens, having left a
    /// message of ours unread (the kernel then reports ECONNRESET once) or not.
    hang_up: Option<bool>,
}

const SEALS: [i32; 5] = [
    libc::F_SEAL_SHRINK,
    libc::F_SEAL_GROW,
    libc::F_SEAL_SEAL,
    libc::F_SEAL_WRITE,
    libc::F_SEAL_FUTURE_WRITE,
];

fn run(input: &Input) {
    let capacity = (PAGE as u64) << (input.capacity_shift % 5);
    let role = if input.reader { 1 } else { 2 };
    let r = &input.ring;

    // What the first message's hello announces (the capacity the ring's size
    // may follow).
    let announced = match input.messages.first().map(|m| &m.payload) {
        Some(Payload::Hello(h)) => h.fields(role, capacity).4,
        _ => capacity,
    };
    let size = match r.size {
        Size::Honest => PAGE as u64 + capacity,
        Size::AsHelloSays => (PAGE as u64).saturating_add(announced),
        Size::Bytes(b) => u64::from(b),
    };
    let seals = SEALS
        .iter()
        .enumerate()
        .filter(|(i, _)| r.seals & (1 << i) != 0)
        .fold(0, |a, (_, s)| a | s);
    let ring = memfd(size, r.sealable);
    write_static_line(
        ring.as_fd(),
        r.magic.get(RING_MAGIC),
        r.capacity.get(capacity),
        r.version.get(VERSION),
        r.header_size.get(PAGE as u32),
    );
    add_seals(ring.as_fd(), seals);

    let (ours, theirs) = seqpacket_pair();
    for m in input.messages.iter().take(4) {
        let payload = match &m.payload {
            Payload::Hello(h) => {
                let (magic, version, role, header_size, capacity) = h.fields(role, capacity);
                hello(magic, version, role, header_size, capacity)
            }
            Payload::Raw(b) => b.clone(),
        };
        let fds: Vec<_> = m
            .fds
            .iter()
            .take(6)
            .map(|a| a.open(Some(ring.as_fd())))
            .collect();
        let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        // A message the kernel refuses (too many fds, say) is not queued.
        let _ = send(theirs.as_fd(), &payload, &raw);
    }
    let theirs = match input.hang_up {
        None => Some(theirs),
        Some(unread) => {
            if unread {
                let _ = send(ours.as_fd(), b"x", &[]);
            }
            drop(theirs);
            None
        }
    };

    // Honest: the first message is the hello for this role with every field
    // as the protocol says, carrying exactly this ring, which is honest too.
    let honest_hello = match input.messages.first() {
        Some(Message {
            payload: Payload::Hello(h),
            fds,
        }) => {
            h.is_honest(role, capacity)
                && match fds.as_slice() {
                    [Attach::Ring] => true,
                    // An honest ring of its own, of one page.
                    [Attach::OtherMemfd] => capacity == PAGE as u64,
                    _ => false,
                }
        }
        _ => false,
    };
    let other_ring = matches!(input.messages.first(), Some(m) if m.fds == [Attach::OtherMemfd]);
    let honest_ring = other_ring
        || (size == PAGE as u64 + capacity
            && r.sealable
            && seals & REQUIRED_SEALS == REQUIRED_SEALS
            && seals & (libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) == 0
            && r.magic.is_honest(RING_MAGIC)
            && r.capacity.is_honest(capacity)
            && r.version.is_honest(VERSION)
            && r.header_size.is_honest(PAGE as u32));
    let honest = honest_hello && honest_ring;

    // An empty message after the hello reads as the hang-up (a SEQPACKET
    // recv returns 0 for both).
    let empty_after = input
        .messages
        .iter()
        .take(4)
        .skip(1)
        .any(|m| match &m.payload {
            Payload::Raw(b) => b.is_empty(),
            Payload::Hello(_) => false,
        });
    let fd = ours;
    let opened = if input.reader {
        Reader::from_fd(fd).map(|mut r| {
            r.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 16];
            // A fresh ring is empty: nothing yet, or EOF once the peer is gone.
            match r.read(&mut buf) {
                Ok(0) => assert!(
                    theirs.is_none() || empty_after,
                    "EOF while the writer is there"
                ),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("read from a fresh ring: {other:?}"),
            }
        })
    } else {
        Writer::from_fd(fd).map(|mut w| {
            w.set_nonblocking(true).unwrap();
            // A fresh ring has room: the write takes, even after a hang-up
            // (which a write sees only once it has to wait).
            assert_eq!(w.write(b"0123456789").unwrap(), 10);
        })
    };
    match opened {
        Ok(()) => assert!(honest, "accepted a ring that is not honest"),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
                ),
                "refused with {:?}: {e}",
                e.kind()
            );
            assert!(!honest, "refused an honest ring: {e}");
        }
    }
}

fuzz_target!(|input: Input| {
    without_fd_leak(|| run(&input));
});
