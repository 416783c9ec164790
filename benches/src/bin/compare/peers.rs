//! The peer shared-memory libraries, used as their documentation suggests:
//! iceoryx2 publish-subscribe of `[u8]` slices (one message per write, a
//! subscriber buffer of 1 MiB / write size so the window matches the ring),
//! and shmem-ipc's byte ring (`sharedring`, 1 MiB, eventfd wake-ups). In both,
//! the writer fills the loaned memory in place and the reader folds every
//! byte in place, as FAASIN's zero-copy path does.

use super::{err, timed_round_trips, timed_stream, ChildSide, Outcome, ROLE};
use faasin_benches::{self as fb, Peer, RING};
use iceoryx2::prelude::*;
use shmem_ipc::sharedring::{Receiver, Sender};
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

fn ice(e: impl std::fmt::Debug) -> String {
    format!("iceoryx2: {e:?}")
}

fn shm(e: impl std::fmt::Debug) -> String {
    format!("shmem-ipc: {e:?}")
}

type Node = iceoryx2::node::Node<ipc::Service>;
type PubSub =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;
type Event = iceoryx2::service::port_factory::event::PortFactory<ipc::Service>;

type Publisher = iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>;

/// Loans `len` bytes, lets `fill` write all of them, and sends; again while
/// the sample reached no subscriber. A new publisher's first sends can go to
/// nobody until both sides have seen each other's connection (observed: a
/// stream then lost its first samples and the reader waited forever).
fn ice_send(
    publisher: &Publisher,
    len: usize,
    fill: impl Fn(&mut [MaybeUninit<u8>]),
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut sample = publisher.loan_slice_uninit(len).map_err(ice)?;
        fill(sample.payload_mut());
        // SAFETY: `fill` wrote every element of the payload.
        let sample = unsafe { sample.assume_init() };
        if sample.send().map_err(ice)? > 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("iceoryx2: no subscriber connected after 5 s".into());
        }
        std::thread::yield_now();
    }
}

fn copy_into(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.write(*s);
    }
}

fn node() -> Result<Node, String> {
    // Its default warning that no config file exists would clutter the table.
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(ice)
}

/// Creates (`create`) or opens the slice service `name` with a subscriber
/// buffer of `depth` samples, without overflow: a full subscriber makes the
/// publisher retry, as a full ring makes a FAASIN writer wait.
fn pubsub(node: &Node, name: &str, depth: usize, create: bool) -> Result<PubSub, String> {
    let name: ServiceName = name.try_into().map_err(ice)?;
    let b = node
        .service_builder(&name)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(depth)
        .enable_safe_overflow(false)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1);
    if create {
        b.create().map_err(ice)
    } else {
        b.open().map_err(ice)
    }
}

fn event(node: &Node, name: &str, create: bool) -> Result<Event, String> {
    let name: ServiceName = name.try_into().map_err(ice)?;
    let b = node.service_builder(&name).event();
    if create {
        b.create().map_err(ice)
    } else {
        b.open().map_err(ice)
    }
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "faasin-bench/{}/{what}/{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn depth(size: usize) -> usize {
    (RING / size).max(1)
}

pub fn iceoryx2_stream(size: usize, total: u64) -> Outcome {
    let node = node()?;
    let name = unique("stream");
    let service = pubsub(&node, &name, depth(size), true)?;
    let mut peer = Peer::start(
        ROLE,
        "ice-sink",
        &[],
        &[("SIZE", size.to_string()), ("SERVICE", name)],
    )
    .map_err(err)?;
    peer.wait_ack().map_err(err)?;
    let publisher = service
        .publisher_builder()
        .initial_max_slice_len(size)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(ice)?;
    timed_stream(peer, size, total, |i| {
        ice_send(&publisher, size, |b| b.fill(MaybeUninit::new(i)))
    })
}

pub fn iceoryx2_rtt(spin: bool, n: u64) -> Outcome {
    let node = node()?;
    let base = unique("rtt");
    let ping = pubsub(&node, &format!("{base}/ping"), 16, true)?;
    let pong = pubsub(&node, &format!("{base}/pong"), 16, true)?;
    let ping_ev = event(&node, &format!("{base}/ping-ev"), true)?;
    let pong_ev = event(&node, &format!("{base}/pong-ev"), true)?;
    let mut peer = Peer::start(
        ROLE,
        "ice-rtt",
        &[],
        &[("SERVICE", base), ("SPIN", u8::from(spin).to_string())],
    )
    .map_err(err)?;
    peer.wait_ack().map_err(err)?;
    let publisher = ping
        .publisher_builder()
        .initial_max_slice_len(64)
        .create()
        .map_err(ice)?;
    let subscriber = pong.subscriber_builder().create().map_err(ice)?;
    let notifier = ping_ev.notifier_builder().create().map_err(ice)?;
    let listener = pong_ev.listener_builder().create().map_err(ice)?;
    let msg = [7u8; 64];
    timed_round_trips(peer, n, || {
        ice_send(&publisher, 64, |b| copy_into(b, &msg))?;
        if !spin {
            notifier.notify().map_err(ice)?;
        }
        loop {
            if let Some(s) = subscriber.receive().map_err(ice)? {
                std::hint::black_box(s.payload());
                return Ok(());
            }
            if spin {
                std::hint::spin_loop();
            } else {
                listener.blocking_wait(|_| {}).map_err(ice)?;
            }
        }
    })
}

/// The shmem-ipc sender's three fds (memfd, "not empty" eventfd, "not full"
/// eventfd), duplicated to pass to the child.
fn shm_fds(s: &Sender<u8>) -> Result<[OwnedFd; 3], String> {
    let dup = |f: &File| f.try_clone().map(OwnedFd::from).map_err(err);
    Ok([
        dup(s.memfd().as_file())?,
        dup(s.empty_signal())?,
        dup(s.full_signal())?,
    ])
}

fn shm_open_receiver(side: &ChildSide, first: usize) -> Receiver<u8> {
    let f = |i| File::from(side.take(first + i));
    Receiver::open(RING, f(0), f(1), f(2)).expect("shmem-ipc Receiver::open")
}

fn shm_open_sender(side: &ChildSide, first: usize) -> Sender<u8> {
    let f = |i| File::from(side.take(first + i));
    Sender::open(RING, f(0), f(1), f(2)).expect("shmem-ipc Sender::open")
}

/// Writes `len` bytes of value `v` into the ring, blocking (eventfd) while
/// it is full.
fn shm_fill(s: &mut Sender<u8>, len: usize, v: u8) -> Result<(), String> {
    let mut todo = len;
    while todo > 0 {
        let mut wrote = 0;
        // SAFETY: this ring is shared with exactly one Receiver (the child),
        // set up by Receiver::open on the same memfd.
        unsafe {
            s.send_trusted(|buf| {
                wrote = buf.len().min(todo);
                buf[..wrote].fill(v);
                wrote
            })
        }
        .map_err(shm)?;
        todo -= wrote;
        if wrote == 0 {
            s.block_until_writable().map_err(shm)?;
        }
    }
    Ok(())
}

/// Reads up to `want` bytes in place, handing each span to `f`; spins or
/// blocks (eventfd) while the ring is empty. Returns the bytes taken.
fn shm_take(
    r: &mut Receiver<u8>,
    want: usize,
    spin: bool,
    f: &mut impl FnMut(&[u8]),
) -> Result<usize, String> {
    loop {
        let mut got = 0;
        // SAFETY: this ring is shared with exactly one Sender, set up by
        // Sender::new / Sender::open on the same memfd.
        unsafe {
            r.receive_trusted(|buf| {
                got = buf.len().min(want);
                f(&buf[..got]);
                got
            })
        }
        .map_err(shm)?;
        if got > 0 {
            return Ok(got);
        }
        if spin {
            std::hint::spin_loop();
        } else {
            r.block_until_readable().map_err(shm)?;
        }
    }
}

pub fn shmem_stream(size: usize, total: u64) -> Outcome {
    let mut s: Sender<u8> = Sender::new(RING).map_err(shm)?;
    let fds = shm_fds(&s)?;
    let mut peer = Peer::start(
        ROLE,
        "shm-sink",
        &[&fds[0], &fds[1], &fds[2]],
        &[("SIZE", size.to_string())],
    )
    .map_err(err)?;
    drop(fds);
    peer.wait_ack().map_err(err)?;
    timed_stream(peer, size, total, |i| shm_fill(&mut s, size, i))
}

pub fn shmem_rtt(spin: bool, n: u64) -> Outcome {
    let mut ping: Sender<u8> = Sender::new(RING).map_err(shm)?;
    let pong: Sender<u8> = Sender::new(RING).map_err(shm)?;
    let a = shm_fds(&ping)?;
    let b = shm_fds(&pong)?;
    let mut peer = Peer::start(
        ROLE,
        "shm-rtt",
        &[&a[0], &a[1], &a[2], &b[0], &b[1], &b[2]],
        &[("SPIN", u8::from(spin).to_string())],
    )
    .map_err(err)?;
    // The parent reads pong through a Receiver over the same memfd.
    let mut back: Receiver<u8> = Receiver::open(
        RING,
        File::from(b[0].try_clone().map_err(err)?),
        File::from(b[1].try_clone().map_err(err)?),
        File::from(b[2].try_clone().map_err(err)?),
    )
    .map_err(shm)?;
    drop((a, b));
    peer.wait_ack().map_err(err)?;
    let mut sink = |span: &[u8]| {
        std::hint::black_box(span);
    };
    let secs = timed_round_trips(peer, n, || {
        shm_fill(&mut ping, 64, 7)?;
        let mut left = 64;
        while left > 0 {
            left -= shm_take(&mut back, left, spin, &mut sink)?;
        }
        Ok(())
    });
    // The ring the child wrote through lives until here.
    drop(pong);
    secs
}

pub fn child(role: &str, side: &mut ChildSide) {
    let size = super::env_size();
    let spin = super::env_num("SPIN", 0) == 1;
    match role {
        "ice-sink" => {
            let node = node().expect("node");
            let name = std::env::var("SERVICE").expect("SERVICE");
            let service = pubsub(&node, &name, depth(size), false).expect("open service");
            let subscriber = service.subscriber_builder().create().expect("subscriber");
            let mut fold = 0u64;
            side.ack(b'r');
            while let Some(mut n) = side.next_order() {
                while n > 0 {
                    match subscriber.receive().expect("receive") {
                        Some(sample) => {
                            fold = fb::fold_bytes(fold, sample.payload());
                            n -= sample.payload().len() as u64;
                        }
                        // No wake-up needed on the publisher side: its
                        // RetryUntilDelivered loop polls our buffer.
                        None => std::thread::yield_now(),
                    }
                }
                side.ack(fold as u8 | 1);
            }
        }
        "ice-rtt" => {
            let node = node().expect("node");
            let base = std::env::var("SERVICE").expect("SERVICE");
            let ping = pubsub(&node, &format!("{base}/ping"), 16, false).expect("ping");
            let pong = pubsub(&node, &format!("{base}/pong"), 16, false).expect("pong");
            let ping_ev = event(&node, &format!("{base}/ping-ev"), false).expect("ping-ev");
            let pong_ev = event(&node, &format!("{base}/pong-ev"), false).expect("pong-ev");
            let subscriber = ping.subscriber_builder().create().expect("subscriber");
            let publisher = pong
                .publisher_builder()
                .initial_max_slice_len(64)
                .create()
                .expect("publisher");
            let listener = ping_ev.listener_builder().create().expect("listener");
            let notifier = pong_ev.notifier_builder().create().expect("notifier");
            let mut msg = [0u8; 64];
            side.ack(b'r');
            while let Some(n) = side.next_order() {
                for _ in 0..n {
                    loop {
                        if let Some(s) = subscriber.receive().expect("receive") {
                            msg.copy_from_slice(s.payload());
                            break;
                        }
                        if spin {
                            std::hint::spin_loop();
                        } else {
                            listener.blocking_wait(|_| {}).expect("wait");
                        }
                    }
                    ice_send(&publisher, 64, |b| copy_into(b, &msg)).expect("send");
                    if !spin {
                        notifier.notify().expect("notify");
                    }
                }
                side.ack(b'k');
            }
        }
        "shm-sink" => {
            let mut r = shm_open_receiver(side, 0);
            let mut fold = 0u64;
            side.ack(b'r');
            while let Some(mut n) = side.next_order() {
                let mut f = |span: &[u8]| fold = fb::fold_bytes(fold, span);
                while n > 0 {
                    n -= shm_take(&mut r, n as usize, false, &mut f).expect("take") as u64;
                }
                side.ack(fold as u8 | 1);
            }
        }
        "shm-rtt" => {
            let mut r = shm_open_receiver(side, 0);
            let mut w = shm_open_sender(side, 3);
            let mut msg = [0u8; 64];
            side.ack(b'r');
            while let Some(n) = side.next_order() {
                for _ in 0..n {
                    let mut got = 0;
                    while got < 64 {
                        let off = got;
                        let mut copy =
                            |span: &[u8]| msg[off..off + span.len()].copy_from_slice(span);
                        got += shm_take(&mut r, 64 - got, spin, &mut copy).expect("take");
                    }
                    shm_fill(&mut w, 64, msg[0]).expect("fill");
                }
                side.ack(b'k');
            }
        }
        other => panic!("unknown child role {other}"),
    }
}
