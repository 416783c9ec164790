//! Waiting for fds and messages at once: [`poll_readable`], an eventfd
//! [`Bell`], and a [`Mailbox`] (an mpsc channel whose every send rings a
//! bell), so one `poll` waits for several instances' messages and their
//! return values on their connections together. A thread per connection
//! blocked in a read would be one more wake-up, and one more thread
//! hand-off, per function and invocation.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc};
use std::time::Duration;

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

/// The sending side of a [`Mailbox`]; clones send to the same one.
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    bell: Arc<Bell>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            bell: Arc::clone(&self.bell),
        }
    }
}

impl<T> Sender<T> {
    /// Sends `v` and rings the mailbox's bell; false once it is gone.
    pub fn send(&self, v: T) -> bool {
        let sent = self.tx.send(v).is_ok();
        self.bell.ring();
        sent
    }
}

/// A channel whose receiver can be waited for with `poll(2)`, beside fds:
/// every send rings its [`Bell`].
pub struct Mailbox<T> {
    rx: mpsc::Receiver<T>,
    bell: Arc<Bell>,
}

impl<T> Mailbox<T> {
    pub fn new() -> io::Result<(Sender<T>, Mailbox<T>)> {
        let bell = Arc::new(Bell::new()?);
        let (tx, rx) = mpsc::channel();
        let sender = Sender {
            tx,
            bell: Arc::clone(&bell),
        };
        Ok((sender, Mailbox { rx, bell }))
    }

    /// Readable while a message may be waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.bell.fd()
    }

    /// The next message, without waiting. The bell is cleared first, so a
    /// message sent after this looks rings it again: none is missed.
    pub fn take(&self) -> Option<T> {
        self.bell.clear();
        let v = self.rx.try_recv().ok();
        if v.is_some() {
            // More may be queued behind it.
            self.bell.ring();
        }
        v
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
    use std::time::Instant;

    #[test]
    fn a_mailbox_is_readable_while_messages_wait() {
        let (tx, mb) = Mailbox::<u32>::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        // Nothing there: the wait lasts its timeout, no longer.
        let t = Instant::now();
        let r = poll_readable(&[mb.fd(), b.as_fd()], Some(Duration::from_millis(50))).unwrap();
        assert_eq!(r, [false, false]);
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(mb.take().is_none());
        // A message from another thread ends a wait at once.
        let sender = std::thread::spawn({
            let tx = tx.clone();
            move || {
                std::thread::sleep(Duration::from_millis(30));
                assert!(tx.send(7));
                assert!(tx.send(8));
            }
        });
        let r = poll_readable(&[mb.fd(), b.as_fd()], Some(Duration::from_secs(10))).unwrap();
        assert_eq!(r, [true, false]);
        sender.join().unwrap();
        assert_eq!(mb.take(), Some(7));
        // Still readable: a second message waits.
        let r = poll_readable(&[mb.fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(r, [true]);
        assert_eq!(mb.take(), Some(8));
        assert_eq!(mb.take(), None);
        let r = poll_readable(&[mb.fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(r, [false]);
        // A readable fd and a hang-up count as readable.
        (&a).write_all(b"x").unwrap();
        assert_eq!(poll_readable(&[b.as_fd()], None).unwrap(), [true]);
        drop(a);
        assert_eq!(poll_readable(&[b.as_fd()], None).unwrap(), [true]);
        drop(mb);
        assert!(!tx.send(9), "the mailbox is gone");
    }
}
