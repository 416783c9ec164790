//! Each row of the semantics table (docs/design.md, "Semantics"), within
//! one process (threads).
//! Cross-process behaviour (death of a peer) is in `processes.rs`.

use faasin::{pipe, pipe_fds, Reader, Writer};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

const CAP: usize = 4096;

#[test]
fn read_returns_what_is_there_without_waiting_for_a_full_buffer() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    w.write_all(b"abc").unwrap();
    let mut buf = [0u8; 100];
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn read_blocks_until_data_then_returns_it() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        w.write_all(b"late").unwrap();
        w
    });
    let start = Instant::now();
    let mut buf = [0u8; 10];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"late");
    assert!(start.elapsed() >= Duration::from_millis(40));
    drop(t.join().unwrap());
}

#[test]
fn eof_only_after_every_committed_byte() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    w.write_all(&[7u8; 3000]).unwrap();
    w.close().unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all, vec![7u8; 3000]);
    assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0, "EOF stays EOF");
}

#[test]
fn close_wakes_a_blocked_reader_at_once() {
    let (mut r, w) = pipe(CAP).unwrap();
    r.set_spin(Duration::ZERO);
    let t = thread::spawn(move || {
        let start = Instant::now();
        let n = r.read(&mut [0u8; 8]).unwrap();
        (n, start.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    drop(w);
    let (n, waited) = t.join().unwrap();
    assert_eq!(n, 0);
    assert!(waited < Duration::from_secs(2), "woken late: {waited:?}");
}

/// A writer gone without closing (its end dropped unopened: no close
/// flag, only the hang-up) is EOF even to a read whose timeout passes
/// before it could sleep.
#[test]
fn a_hang_up_is_eof_even_with_a_timeout_already_passed() {
    let (r, w) = pipe_fds(4096).unwrap();
    drop(w);
    let mut reader = Reader::from_fd(r).unwrap();
    reader.set_timeout(Some(Duration::from_nanos(1)));
    assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn write_blocks_for_space_and_everything_arrives_in_order() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let expect = data.clone();
    let t = thread::spawn(move || {
        w.write_all(&data).unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect);
}

#[test]
fn write_after_reader_closed_is_broken_pipe() {
    let (r, mut w) = pipe(CAP).unwrap();
    drop(r);
    let e = w.write(b"x").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    // Nothing is pending, so nothing was lost: flush succeeds, as on a pipe.
    w.flush().unwrap();
}

#[test]
fn flush_reports_bytes_the_reader_left_unread() {
    let (r, mut w) = pipe(CAP).unwrap();
    w.write_all(b"never read").unwrap();
    drop(r);
    let e = w.flush().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    assert!(e.to_string().contains("10 committed bytes unread"), "{e}");
}

#[test]
fn flush_after_the_reader_read_everything_and_left_succeeds() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    w.write_all(b"all of it").unwrap();
    let mut s = [0u8; 9];
    r.read_exact(&mut s).unwrap();
    drop(r);
    w.flush().unwrap();
}

#[test]
fn reader_close_wakes_a_writer_blocked_on_a_full_ring() {
    let (r, mut w) = pipe(CAP).unwrap();
    w.set_spin(Duration::ZERO);
    let t = thread::spawn(move || w.write_all(&vec![1u8; CAP * 4]));
    thread::sleep(Duration::from_millis(100));
    drop(r);
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn nonblocking_read_and_write_would_block() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    r.set_nonblocking(true).unwrap();
    w.set_nonblocking(true).unwrap();
    assert_eq!(
        r.read(&mut [0u8; 4]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(
        w.write(&vec![0u8; CAP + 100]).unwrap(),
        CAP,
        "partial write of what fits"
    );
    assert_eq!(
        w.write(b"more").unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let mut buf = vec![0u8; CAP];
    assert_eq!(r.read(&mut buf).unwrap(), CAP);
    assert_eq!(w.write(b"more").unwrap(), 4);
}

/// With `set_nonblocking_spin`, a non-blocking read or write that would
/// wait spins first: what the peer publishes within the spin is returned
/// instead of `WouldBlock`; with nothing coming, `WouldBlock` comes after
/// about the spin budget, not at once and not never.
#[test]
fn nonblocking_spin_catches_what_comes_within_the_spin() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    r.set_nonblocking(true).unwrap();
    r.set_nonblocking_spin(true);
    r.set_spin(Duration::from_secs(5));
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        w.write_all(b"soon").unwrap();
        w
    });
    let mut buf = [0u8; 8];
    let n = r.read(&mut buf).expect("the spin catches the write");
    assert_eq!(&buf[..n], b"soon");
    let w = t.join().unwrap();

    // Nothing comes: WouldBlock once the budget is spent.
    r.set_spin(Duration::from_millis(30));
    let start = Instant::now();
    assert_eq!(
        r.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let spent = start.elapsed();
    assert!(
        spent >= Duration::from_millis(25),
        "gave up after {spent:?}"
    );
    assert!(spent < Duration::from_secs(3), "gave up after {spent:?}");

    drop((r, w));

    // The writer side: a full ring, then the reader frees space in time. A
    // new pipe: the reader above last waited on this thread's CPU, and a
    // wait does not spin for a peer that last ran on its own CPU.
    let (r, mut w) = pipe(CAP).unwrap();
    w.set_nonblocking(true).unwrap();
    w.set_nonblocking_spin(true);
    w.set_spin(Duration::from_secs(5));
    assert_eq!(w.write(&vec![1u8; CAP]).unwrap(), CAP);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let mut r = r;
        let mut buf = vec![0u8; CAP];
        r.read_exact(&mut buf).unwrap();
        r
    });
    assert_eq!(w.write(b"more").expect("the spin catches the space"), 4);
    drop(t.join().unwrap());
}

fn poll_readable(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn readiness_after_would_block_for_both_ends() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    r.set_nonblocking(true).unwrap();
    w.set_nonblocking(true).unwrap();
    assert!(r.read(&mut [0u8; 4]).is_err());
    assert!(!poll_readable(r.as_raw_fd(), 0), "nothing to read yet");
    w.write_all(b"hi").unwrap();
    assert!(
        poll_readable(r.as_raw_fd(), 1000),
        "data makes the read end readable"
    );
    assert_eq!(r.read(&mut [0u8; 4]).unwrap(), 2);

    w.write_all(&vec![0u8; CAP + 1]).unwrap_err(); // fills, then WouldBlock
    assert_eq!(w.write(b"x").unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(!poll_readable(w.as_raw_fd(), 0), "no space yet");
    assert_eq!(r.read(&mut [0u8; 100]).unwrap(), 100);
    assert!(
        poll_readable(w.as_raw_fd(), 1000),
        "freed space makes the write end readable"
    );
    assert_eq!(w.write(b"x").unwrap(), 1);
}

#[test]
fn readiness_on_close() {
    let (mut r, w) = pipe(CAP).unwrap();
    r.set_nonblocking(true).unwrap();
    assert!(r.read(&mut [0u8; 4]).is_err());
    drop(w);
    assert!(poll_readable(r.as_raw_fd(), 1000));
    assert_eq!(r.read(&mut [0u8; 4]).unwrap(), 0);
}

#[test]
fn fill_buf_is_one_contiguous_span_across_the_wrap() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    w.write_all(&vec![1u8; CAP - 100]).unwrap();
    let mut sink = vec![0u8; CAP - 100];
    r.read_exact(&mut sink).unwrap();
    // The next 300 bytes straddle the end of the data area.
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    w.write_all(&data).unwrap();
    let span = r.fill_buf().unwrap();
    assert_eq!(span, &data[..]);
    let n = span.len();
    r.consume(n);
}

#[test]
fn reserve_commit_and_dropped_grant_publishes_nothing() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    {
        let mut g = w.reserve(10).unwrap();
        assert!(g.len() >= 10);
        g[..5].copy_from_slice(b"lost!");
    } // dropped: nothing published
    let mut g = w.reserve(10).unwrap();
    g[..5].copy_from_slice(b"hello");
    g.commit(5).unwrap();
    r.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(r.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(
        w.reserve(CAP + 1).err().unwrap().kind(),
        io::ErrorKind::InvalidInput
    );
    w.reserve_slice(4).unwrap();
    assert_eq!(
        w.commit(CAP + 1).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn release_beyond_borrowed_is_an_error() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    w.write_all(b"abc").unwrap();
    assert_eq!(r.fill_buf().unwrap().len(), 3);
    assert_eq!(
        r.release(4).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    r.release(3).unwrap();
}

#[test]
fn timeout_gives_timed_out() {
    let (mut r, _w) = pipe(CAP).unwrap();
    r.set_timeout(Some(Duration::from_millis(30)));
    let e = r.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
}

#[test]
fn opening_the_wrong_role_is_refused_and_leaves_the_fd_usable() {
    let (rfd, wfd) = pipe_fds(CAP).unwrap();
    let e = Writer::from_fd(rfd.try_clone().unwrap()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("read end"), "{e}");
    let mut r = Reader::from_fd(rfd).unwrap();
    let mut w = Writer::from_fd(wfd).unwrap();
    w.write_all(b"ok").unwrap();
    drop(w);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "ok");
}

/// A pipe from pipe2(2): not a FAASIN endpoint, so both ends fall back.
fn plain_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds from pipe2.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[test]
fn fallback_to_plain_pipe_fds() {
    let (rfd, wfd) = plain_pipe();
    let mut r = Reader::from_fd(rfd).unwrap();
    let mut w = Writer::from_fd(wfd).unwrap();
    assert!(!r.is_ring() && !w.is_ring());
    let mut g = w.reserve(3).unwrap();
    g[..3].copy_from_slice(b"zc!");
    g.commit(3).unwrap();
    w.write_all(b" plain").unwrap();
    drop(w);
    assert_eq!(r.fill_buf().unwrap(), b"zc! plain");
    r.consume(3);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, " plain");
}

#[test]
fn fallback_reads_into_a_large_buffer_take_all_that_is_there_at_once() {
    let (rfd, wfd) = plain_pipe();
    // SAFETY: fcntl on our own pipe fd.
    let size = unsafe { libc::fcntl(wfd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    assert!(
        size >= 1 << 20,
        "F_SETPIPE_SZ: {}",
        io::Error::last_os_error()
    );
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut w = Writer::from_fd(wfd).unwrap();
    w.write_all(&data).unwrap();
    drop(w);
    let mut r = Reader::from_fd(rfd).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    // One read, not pieces the size of the end's own buffer: on a socket
    // between hosts, that many more reads and a copy more.
    let n = r.read(&mut buf).unwrap();
    assert_eq!(n, data.len());
    assert!(buf[..n] == data[..]);
    assert_eq!(r.read(&mut buf).unwrap(), 0);
}

#[test]
fn fallback_write_to_closed_pipe_is_broken_pipe_not_sigpipe() {
    let (rfd, wfd) = plain_pipe();
    drop(rfd);
    let mut w = Writer::from_fd(wfd).unwrap();
    assert_eq!(w.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn fallback_read_times_out_on_a_plain_pipe() {
    let (rfd, wfd) = plain_pipe();
    let mut r = Reader::from_fd(rfd).unwrap();
    r.set_timeout(Some(Duration::from_millis(30)));
    let t = Instant::now();
    let e = r.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(t.elapsed() >= Duration::from_millis(30));
    // Afterwards the end reads what comes, then EOF.
    let mut w = Writer::from_fd(wfd).unwrap();
    w.write_all(b"late").unwrap();
    let mut got = [0u8; 4];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"late");
    drop(w);
    assert_eq!(r.read(&mut got).unwrap(), 0);
}

#[test]
fn fallback_write_times_out_on_a_full_plain_pipe() {
    let (rfd, wfd) = plain_pipe();
    // SAFETY: F_GETPIPE_SZ on an open pipe fd.
    let pipe_size = unsafe { libc::fcntl(wfd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    let mut w = Writer::from_fd(wfd).unwrap();
    w.set_timeout(Some(Duration::from_millis(30)));
    // Writes move what fits until one finds no room within the timeout.
    let chunk = vec![7u8; 100_000];
    let mut written = 0;
    let t = Instant::now();
    let e = loop {
        match w.write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(written, pipe_size as usize, "the pipe was filled, no more");
    // A commit that finds no room times out too, and says how far it got.
    let mut g = w.reserve(10).unwrap();
    g[..10].fill(8);
    let e = g.commit(10).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("after 0 of 10"), "{e}");
    // Every byte written is there, and once there is room the end goes on.
    let mut r = Reader::from_fd(rfd).unwrap();
    let mut got = vec![0u8; written];
    r.read_exact(&mut got).unwrap();
    assert!(got.iter().all(|&b| b == 7));
    w.write_all(b"more").unwrap();
    drop(w);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"more");
}

#[test]
fn a_seqpacket_socket_without_hello_is_refused() {
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
    let (a, _b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let e = Reader::from_fd(a).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("not a FAASIN endpoint"), "{e}");
}

#[test]
fn bad_capacity_is_invalid_input() {
    assert_eq!(pipe(1000).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn probe_sees_both_positions_and_keeps_no_end_alive() {
    let (r, w, probe) = faasin::pipe_fds_probed(4096).unwrap();
    let mut r = faasin::Reader::from_fd(r).unwrap();
    let mut w = faasin::Writer::from_fd(w).unwrap();
    assert_eq!((probe.written(), probe.consumed()), (0, 0));
    w.write_all(&[7u8; 1000]).unwrap();
    let mut buf = [0u8; 300];
    r.read_exact(&mut buf).unwrap();
    assert_eq!((probe.written(), probe.consumed()), (1000, 300));
    drop(w);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap(); // EOF arrives although the probe lives
    assert_eq!(rest.len(), 700);
    assert_eq!(probe.consumed(), 1000);
}

#[test]
fn an_end_closed_before_it_was_opened_is_eof_or_broken_pipe_for_the_other() {
    use std::io::{Read, Write};
    let (r, w) = pipe_fds(CAP).unwrap();
    drop(w); // its hello unread: Linux reports ECONNRESET to the reader once
    let mut r = Reader::from_fd(r).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 0);

    let (r, w) = pipe_fds(CAP).unwrap();
    drop(r);
    let mut w = Writer::from_fd(w).unwrap();
    let e = w.write_all(b"x").and_then(|_| w.flush()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn a_forked_copy_dropped_in_the_child_leaves_the_stream_open() {
    let (mut r, mut w) = pipe(CAP).unwrap();
    // SAFETY: the child only drops values and calls _exit, no locks taken.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(w);
        drop(r);
        // SAFETY: terminate the forked child without running test harness code.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    w.write_all(b"still open").unwrap();
    r.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(r.read(&mut buf).unwrap(), 10);
    assert_eq!(
        r.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock,
        "no EOF: the parent's writer is open"
    );
    drop(w);
    assert_eq!(r.read(&mut buf).unwrap(), 0);
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for clock_gettime.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_blocking_wait_for_the_first_byte_does_not_spin() {
    // The writer comes after 100 ms: a reader spinning for its first byte
    // (5 s allowed) would burn those 100 ms of CPU; one that sleeps at once
    // burns a wake-up's worth. The second byte then comes within the spin.
    let (mut r, mut w) = pipe(CAP).unwrap();
    r.set_spin(Duration::from_secs(5));
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        w.write_all(b"a").unwrap();
        w
    });
    let before = thread_cpu_time();
    let mut buf = [0u8; 1];
    r.read_exact(&mut buf).unwrap();
    let spent = thread_cpu_time() - before;
    assert!(
        spent < Duration::from_millis(50),
        "the wait for the first byte spun: {spent:?} of CPU"
    );
    let mut w = writer.join().unwrap();
    w.write_all(b"b").unwrap();
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"b");
}

#[test]
fn a_reader_waiting_for_a_slow_writer_stops_spinning() {
    // One byte every 2 ms: every wait outlasts the 500 us spin. A fixed spin
    // would burn 100 x 500 us = 50 ms of the reader's CPU; the adaptive
    // budget halves down to MIN_ADAPTIVE_SPIN after a few misses (about
    // 1.2 ms of spinning in all, plus the CPU of 100 sleeps and wake-ups,
    // which a loaded machine makes a few ms).
    let spin = Duration::from_micros(500);
    let (mut r, mut w) = faasin::pipe(faasin::DEFAULT_CAPACITY).unwrap();
    r.set_spin(spin);
    const N: usize = 100;
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            std::thread::sleep(Duration::from_millis(2));
            w.write_all(&[i as u8]).unwrap();
        }
    });
    let before = thread_cpu_time();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    let spent = thread_cpu_time() - before;
    writer.join().unwrap();
    assert_eq!(got, (0..N).map(|i| i as u8).collect::<Vec<_>>());
    let fixed_spin = spin * N as u32;
    assert!(
        spent < fixed_spin / 4,
        "the reader used {spent:?} of CPU for {N} slow bytes (a fixed spin: {fixed_spin:?})"
    );
}

#[test]
fn one_large_write_and_read_stream_through_a_small_ring_without_spinning() {
    // Writes and reads larger than the ring go in steps, of which only some
    // may wake the peer; with no spinning at all, both ends sleep between
    // steps, so a step that left the peer asleep behind data would hang.
    let (mut r, mut w) = faasin::pipe(64 * 1024).unwrap();
    r.set_spin(Duration::ZERO);
    w.set_spin(Duration::ZERO);
    // A lost wake-up shows as a wait that only its timeout ends.
    r.set_timeout(Some(Duration::from_secs(5)));
    w.set_timeout(Some(Duration::from_secs(5)));
    let start = Instant::now();
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i * 31 + i / 7) as u8).collect();
    let expect = data.clone();
    let writer = thread::spawn(move || {
        for part in data.chunks(1 << 20) {
            w.write_all(part).unwrap();
        }
    });
    let mut got = Vec::with_capacity(expect.len());
    let mut buf = vec![0u8; 3 << 20];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    assert!(got == expect, "the bytes differ");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}: an end slept behind data until its timeout",
        start.elapsed()
    );
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within
    // it for cpu < CPU_SETSIZE (checked by the caller's choice of a CPU
    // from the current mask).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "sched_setaffinity: {}", io::Error::last_os_error());
    }
}

/// The first CPU this thread may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: as in `pin_to`; sched_getaffinity fills the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(rc, 0, "sched_getaffinity: {}", io::Error::last_os_error());
        (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &set))
            .expect("no allowed CPU")
    }
}

#[test]
fn ends_sharing_one_cpu_do_not_spin_for_each_other() {
    // Both ends pinned to one CPU, with a spin far longer than a wait: a peer
    // on our CPU cannot run while we spin, so once each end has recorded its
    // CPU in the header (at its first wait), every wait sleeps at once
    // instead of spinning until the scheduler preempts it.
    let cpu = first_allowed_cpu();
    let spin = Duration::from_millis(20);
    let (mut r, mut w) = pipe(64 * 1024).unwrap();
    r.set_spin(spin);
    w.set_spin(spin);
    const TOTAL: usize = 32 << 20;
    let writer = thread::spawn(move || {
        pin_to(cpu);
        let chunk = vec![0x5au8; 16 * 1024];
        for _ in 0..TOTAL / chunk.len() {
            w.write_all(&chunk).unwrap();
        }
        thread_cpu_time()
    });
    pin_to(cpu);
    let start = Instant::now();
    let before = thread_cpu_time();
    let mut buf = vec![0u8; 16 * 1024];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    let spent = thread_cpu_time() - before + writer.join().unwrap();
    let wall = start.elapsed();
    assert_eq!(got, TOTAL);
    // The copies take a few ms; spinning until preempted would cost up to a
    // time slice (ms) for each of the hundreds of waits.
    assert!(
        spent < Duration::from_millis(400),
        "32 MiB through a 64 KiB ring on one CPU used {spent:?} of CPU ({wall:?} wall)"
    );
}
