//! `Native.handoff*`: handing stream ends to child processes.
//!
//! A JVM cannot let a child inherit an fd (its process launcher closes
//! every fd above 2), so ends go to children the way they go into
//! containers: the child gets `FAASIN_SOCKET` + `FAASIN_TOKEN`, connects, and
//! receives its ends by `SCM_RIGHTS` (core's `handoff` module).

use crate::guard::{entry, Fail, Result};
use crate::handle::{deref_handle, free_entry, into_handle};
use crate::pipe::pipe;
use crate::WAIT_SLICE;
use faasin::handoff;
use jni::objects::JString;
use jni::sys::{jint, jlong, jstring};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// A listening handoff socket, `None` once closed.
struct Listener {
    sock: Mutex<Option<OwnedFd>>,
}

/// An accepted handoff connection and the token its client presented.
struct Conn {
    sock: OwnedFd,
    token: String,
}

fn listener<'a>(h: jlong) -> Result<&'a Listener> {
    // SAFETY: Java passes the handle of a reachable FaasinHandoffServer.
    unsafe { deref_handle(h) }
}

fn conn<'a>(h: jlong) -> Result<&'a Conn> {
    // SAFETY: Java passes the handle of a reachable handoff Request.
    unsafe { deref_handle(h) }
}

entry! {
    fn Java_io_faasin_Native_handoffListen(path: JString<'_>) -> jlong = 0 => |env| {
        let path: String = env.get_string(&path)?.into();
        let sock = handoff::listen(&PathBuf::from(path))?;
        Ok(into_handle(Listener {
            sock: Mutex::new(Some(sock)),
        }))
    }
}

entry! {
    /// Waits one slice for a client; returns a connection handle (whose token
    /// was read), or 0 if none came. A client that connects but sends no
    /// request within `request_ms` fails this call with a timeout.
    fn Java_io_faasin_Native_handoffAccept(h: jlong, request_ms: jint) -> jlong = 0 => |_| {
        let l = listener(h)?;
        let slot = l.sock.lock().unwrap_or_else(|p| p.into_inner());
        let sock = slot.as_ref().ok_or(Fail::Closed("FAASIN handoff server"))?;
        if !wait_readable(sock.as_fd(), WAIT_SLICE) {
            return Ok(0);
        }
        let c = handoff::accept(sock.as_fd())?;
        drop(slot);
        let wait = Duration::from_millis(request_ms.max(1) as u64);
        let token = handoff::read_request(c.as_fd(), wait).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("a handoff client sent no request within {wait:?}"),
            ),
            _ => e,
        })?;
        Ok(into_handle(Conn { sock: c, token }))
    }
}

entry! {
    fn Java_io_faasin_Native_handoffToken(c: jlong) -> jstring = std::ptr::null_mut() => |env| {
        Ok(env.new_string(&conn(c)?.token)?.into_raw())
    }
}

entry! {
    /// Sends the client its streams: the read end of pipe `input` as its
    /// faasin, the write end of pipe `output` as its faasout (0 = none). The
    /// ends leave this process: our copies are closed once sent.
    fn Java_io_faasin_Native_handoffGrant(c: jlong, input: jlong, output: jlong) -> () = () => |_| {
        let c = conn(c)?;
        let input = if input != 0 { Some(pipe(input)?) } else { None };
        let output = if output != 0 {
            Some(pipe(output)?)
        } else {
            None
        };
        // Check both before taking either, so a refused grant loses nothing.
        for (p, write) in [(input, false), (output, true)] {
            if let Some(p) = p {
                if !p.is_there(write) {
                    p.take(write)?;
                }
            }
        }
        let in_fd = input.map(|p| p.take(false)).transpose()?;
        let out_fd = output.map(|p| p.take(true)).transpose()?;
        handoff::grant(
            c.sock.as_fd(),
            in_fd.as_ref().map(|f| f.as_fd()),
            out_fd.as_ref().map(|f| f.as_fd()),
            // A child started from Java takes its parameters from its env.
            b"",
        )?;
        Ok(())
    }
}

entry! {
    fn Java_io_faasin_Native_handoffRefuse(c: jlong, reason: JString<'_>) -> () = () => |env| {
        let reason: String = env.get_string(&reason)?.into();
        handoff::refuse(conn(c)?.sock.as_fd(), &reason)?;
        Ok(())
    }
}

free_entry!(
    /// Frees a handoff connection, when its Java Request is done or collected.
    Java_io_faasin_Native_handoffConnFree,
    Conn
);

entry! {
    fn Java_io_faasin_Native_handoffClose(h: jlong) -> () = () => |_| {
        drop(
            listener(h)?
                .sock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        Ok(())
    }
}

free_entry!(
    /// Frees a handoff server, from the Cleaner of the unreachable server.
    Java_io_faasin_Native_handoffFree,
    Listener
);

/// Waits up to `timeout` until `fd` polls readable; false on timeout or
/// signal.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let n = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    n > 0
}
