//! Waiting for fds and messages at once: [`poll_readable`], an eventfd
//! [`Bell`], and a channel whose receiver waits for its next message and for
//! fds together (an mpsc channel plus a bell that every send rings). The warm runner's
//! main thread waits on it for its helper threads' events (a function asked
//! for an invocation, a function exited) and for the functions' return
//! values on their connections, which it reads itself: a thread per
//! connection blocked in a read would be one more wake-up, and one more
//! thread hand-off, per function and invocation.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// An eventfd to wake a thread that waits in `poll(2)`.
pub struct Bell(OwnedFd);

impl Bell {
    pub fn new() -> io::Result<Bell> {
        // SAFETY: plain eventfd(2) call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd that nothing else owns.
        Ok(Bell(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the fd readable until [`Bell::clear`].
    pub fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live array to our eventfd. A full
        // counter (EAGAIN) still leaves the eventfd readable.
        unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    pub fn clear(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live array from our
        // non-blocking eventfd (resets its counter).
        unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    wake: Arc<Bell>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            wake: Arc::clone(&self.wake),
        }
    }
}

impl<T> Sender<T> {
    /// Sends `v` and wakes the receiver; false once the receiver is gone.
    pub fn send(&self, v: T) -> bool {
        let sent = self.tx.send(v).is_ok();
        self.wake.ring();
        sent
    }
}

pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    wake: Arc<Bell>,
}

/// What [`Receiver::wait`] found first.
pub enum Ready<T> {
    Message(T),
    /// The fd at this index is readable, or hung up.
    Fd(usize),
    Timeout,
    /// Every sender is gone (and no fd was asked for).
    Disconnected,
}

pub fn channel<T>() -> io::Result<(Sender<T>, Receiver<T>)> {
    let wake = Arc::new(Bell::new()?);
    let (tx, rx) = mpsc::channel();
    Ok((
        Sender {
            tx,
            wake: Arc::clone(&wake),
        },
        Receiver { rx, wake },
    ))
}

impl<T> Receiver<T> {
    /// The next message if one is there or comes within `timeout`, else the
    /// first of `fds` that becomes readable; messages first.
    pub fn wait(&self, fds: &[BorrowedFd<'_>], timeout: Duration) -> Ready<T> {
        let until = Instant::now() + timeout;
        loop {
            match self.rx.try_recv() {
                Ok(v) => return Ready::Message(v),
                Err(mpsc::TryRecvError::Disconnected) if fds.is_empty() => {
                    return Ready::Disconnected
                }
                Err(_) => {}
            }
            let all: Vec<BorrowedFd<'_>> = std::iter::once(self.wake.fd())
                .chain(fds.iter().copied())
                .collect();
            let left = until.saturating_duration_since(Instant::now());
            // An error cannot happen with valid fds; the caller's loop retries.
            let Ok(ready) = poll_readable(&all, Some(left)) else {
                return Ready::Timeout;
            };
            if ready[0] {
                self.wake.clear();
            }
            if let Some(k) = ready[1..].iter().position(|r| *r) {
                if !ready[0] {
                    return Ready::Fd(k);
                }
                // A message came too: it goes first (loop), and the fd
                // stays readable for the next call.
            }
            if !ready.contains(&true) && Instant::now() >= until {
                return Ready::Timeout;
            }
        }
    }

    /// As `mpsc::Receiver::recv_timeout` (for waits without fds).
    pub fn recv_timeout(&self, t: Duration) -> Result<T, mpsc::RecvTimeoutError> {
        self.rx.recv_timeout(t)
    }
}

/// Which of `fds` are readable (or hung up), after waiting up to `timeout`
/// (forever for `None`) for at least one.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Rounded up, so that a wait for what is due soon does not spin.
    let ms = timeout.map_or(-1, |d| {
        d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
    });
    // SAFETY: `pfds` is a valid array of pfds.len() pollfds that outlives
    // the call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(pfds.iter().map(|p| r > 0 && p.revents != 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn messages_fds_and_timeouts_each_end_a_wait() {
        let (tx, rx) = channel::<u32>().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();

        // Nothing there: the wait lasts its timeout, no longer.
        let t = Instant::now();
        assert!(matches!(
            rx.wait(&[b.as_fd(), d.as_fd()], Duration::from_millis(50)),
            Ready::Timeout
        ));
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(t.elapsed() < Duration::from_secs(2));

        // A message from another thread ends a wait on fds at once.
        let sender = std::thread::spawn({
            let tx = tx.clone();
            move || {
                std::thread::sleep(Duration::from_millis(30));
                assert!(tx.send(7));
            }
        });
        let t = Instant::now();
        assert!(matches!(
            rx.wait(&[b.as_fd(), d.as_fd()], Duration::from_secs(10)),
            Ready::Message(7)
        ));
        assert!(t.elapsed() < Duration::from_secs(5));
        sender.join().unwrap();

        // A readable fd is named by its index.
        (&c).write_all(b"x").unwrap();
        assert!(matches!(
            rx.wait(&[b.as_fd(), d.as_fd()], Duration::from_secs(10)),
            Ready::Fd(1)
        ));
        // A message that is there goes before a readable fd.
        assert!(tx.send(8));
        assert!(matches!(
            rx.wait(&[b.as_fd(), d.as_fd()], Duration::from_secs(10)),
            Ready::Message(8)
        ));
        // A hang-up counts as readable.
        drop(a);
        assert!(matches!(
            rx.wait(&[b.as_fd()], Duration::from_secs(10)),
            Ready::Fd(0)
        ));

        // Every sender gone and no fd to wait for: said so.
        drop(tx);
        assert!(matches!(
            rx.wait(&[], Duration::from_secs(10)),
            Ready::Disconnected
        ));
    }
}
