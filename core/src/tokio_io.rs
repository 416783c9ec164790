//! tokio `AsyncRead`/`AsyncWrite` over the pollable endpoint fd (feature
//! `tokio`). Both ends are registered for *readable* interest: the doorbell
//! and the hang-up arrive as readability on the endpoint socket.

use crate::{Reader, Writer};
use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// An async read end. Create it inside a tokio runtime.
pub struct AsyncReader(AsyncFd<Reader>);

/// An async write end. Create it inside a tokio runtime.
pub struct AsyncWriter(AsyncFd<Writer>);

impl AsyncReader {
    pub fn new(mut r: Reader) -> io::Result<Self> {
        r.set_nonblocking(true)?;
        // SAFETY: a Reader owns its fd and never swaps or closes it while alive;
        // `as_raw_fd` always returns that same fd.
        let fd = unsafe { AsyncFd::register_with_interest(r, Interest::READABLE) };
        Ok(AsyncReader(fd.map_err(io::Error::from)?))
    }
    pub fn into_inner(self) -> Reader {
        self.0.into_inner()
    }
}

impl AsyncWriter {
    pub fn new(mut w: Writer) -> io::Result<Self> {
        w.set_nonblocking(true)?;
        let interest = if w.is_ring() {
            Interest::READABLE
        } else {
            Interest::WRITABLE
        };
        // SAFETY: as for AsyncReader: the Writer owns its fd for its lifetime.
        let fd = unsafe { AsyncFd::register_with_interest(w, interest) };
        Ok(AsyncWriter(fd.map_err(io::Error::from)?))
    }
    pub fn into_inner(self) -> Writer {
        self.0.into_inner()
    }
}

// The ring's readiness is armed by a `WouldBlock` (the end sets its waiting
// flag before failing), so each operation is tried first and the fd is waited
// for only after it would block. Readiness is cleared before each retry: a
// stale doorbell then costs one extra try, never a lost wake-up.

impl AsyncRead for AsyncReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.0.get_mut().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            ready!(this.0.poll_read_ready_mut(cx))?.clear_ready();
        }
    }
}

impl AsyncWrite for AsyncWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let ring = this.0.get_ref().is_ring();
        loop {
            match this.0.get_mut().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
            if ring {
                ready!(this.0.poll_read_ready_mut(cx))?.clear_ready();
            } else {
                ready!(this.0.poll_write_ready_mut(cx))?.clear_ready();
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().0.get_mut().flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
