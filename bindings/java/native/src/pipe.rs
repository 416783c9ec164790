//! `Native.pipe*` and `Native.handoff*`: new streams, and handing their ends
//! to child processes.
//!
//! A JVM cannot let a child inherit an fd (its process launcher closes
//! every fd above 2), so ends go to children the way they go into
//! containers: the child gets `FAASIN_SOCKET` + `FAASIN_TOKEN`, connects, and
//! receives its ends by `SCM_RIGHTS` (core's `handoff` module).

use crate::guard::{guard, Fail, Result};
use crate::handle::{deref_handle, free_handle, into_handle};
use crate::{poll_fd, reader, writer, WAIT_SLICE};
use faasin::{handoff, Reader, Writer};
use jni::objects::{JClass, JString};
use jni::sys::{jboolean, jint, jlong, jstring};
use jni::JNIEnv;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The two unopened endpoint fds of a new stream; each is taken once, to be
/// opened here or handed to a child.
struct PipeFds {
    read: Mutex<Option<OwnedFd>>,
    write: Mutex<Option<OwnedFd>>,
}

impl PipeFds {
    fn slot(&self, write: bool) -> &Mutex<Option<OwnedFd>> {
        if write {
            &self.write
        } else {
            &self.read
        }
    }

    fn take(&self, write: bool) -> Result<OwnedFd> {
        let mut slot = self.slot(write).lock().unwrap_or_else(|p| p.into_inner());
        slot.take().ok_or_else(|| {
            let which = if write { "write" } else { "read" };
            Fail::State(format!(
                "the {which} end of this FaasinPipe was already opened, handed on or closed"
            ))
        })
    }

    fn is_there(&self, write: bool) -> bool {
        self.slot(write)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

fn pipe<'a>(h: jlong) -> Result<&'a PipeFds> {
    // SAFETY: Java passes the handle of a reachable FaasinPipe.
    unsafe { deref_handle(h) }
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeCreate(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    capacity: jint,
) -> jlong {
    guard(&mut env, 0, |_| {
        let capacity = usize::try_from(capacity)
            .map_err(|_| Fail::Arg(format!("negative pipe capacity {capacity}")))?;
        let (r, w) = faasin::pipe_fds(capacity).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                Fail::Arg(e.to_string())
            } else {
                Fail::Io(e)
            }
        })?;
        Ok(into_handle(PipeFds {
            read: Mutex::new(Some(r)),
            write: Mutex::new(Some(w)),
        }))
    })
}

/// The raw fd of an unopened end, or -1 once it was taken.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeFd(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    write: jboolean,
) -> jint {
    guard(&mut env, -1, |_| {
        let slot = pipe(h)?
            .slot(write != 0)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(slot.as_ref().map_or(-1, |fd| fd.as_raw_fd()))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeOpenReader(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jlong {
    guard(&mut env, 0, |_| {
        let fd = pipe(h)?.take(false)?;
        Ok(reader::open(Reader::from_fd(fd)?))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeOpenWriter(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jlong {
    guard(&mut env, 0, |_| {
        let fd = pipe(h)?.take(true)?;
        Ok(writer::open(Writer::from_fd(fd)?))
    })
}

/// Closes the ends not yet taken (idempotent).
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeClose(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        let p = pipe(h)?;
        drop(p.take(false).ok());
        drop(p.take(true).ok());
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_pipeFree(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: called once, by the Cleaner of the unreachable FaasinPipe.
        unsafe { free_handle::<PipeFds>(h) };
        Ok(())
    })
}

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

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffListen<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    path: JString<'l>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let path: String = env.get_string(&path)?.into();
        let sock = handoff::listen(&PathBuf::from(path))?;
        Ok(into_handle(Listener {
            sock: Mutex::new(Some(sock)),
        }))
    })
}

/// Waits one slice for a client; returns a connection handle (whose token
/// was read), or 0 if none came. A client that connects but sends no
/// request within `request_ms` fails this call with a timeout.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffAccept(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    request_ms: jint,
) -> jlong {
    guard(&mut env, 0, |_| {
        let l = listener(h)?;
        let slot = l.sock.lock().unwrap_or_else(|p| p.into_inner());
        let sock = slot.as_ref().ok_or(Fail::Closed("FAASIN handoff server"))?;
        if !poll_fd(sock.as_fd(), libc::POLLIN, WAIT_SLICE) {
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
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffToken<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    c: jlong,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        Ok(env.new_string(&conn(c)?.token)?.into_raw())
    })
}

/// Sends the client its streams: the read end of pipe `input` as its
/// faasin, the write end of pipe `output` as its faasout (0 = none). The
/// ends leave this process: our copies are closed once sent.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffGrant(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    c: jlong,
    input: jlong,
    output: jlong,
) {
    guard(&mut env, (), |_| {
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
        )?;
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffRefuse<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    c: jlong,
    reason: JString<'l>,
) {
    guard(&mut env, (), |env| {
        let reason: String = env.get_string(&reason)?.into();
        handoff::refuse(conn(c)?.sock.as_fd(), &reason)?;
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffConnFree(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    c: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: called once, when the Java Request is done or collected.
        unsafe { free_handle::<Conn>(c) };
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffClose(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        drop(
            listener(h)?
                .sock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_handoffFree(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: called once, by the Cleaner of the unreachable server.
        unsafe { free_handle::<Listener>(h) };
        Ok(())
    })
}
