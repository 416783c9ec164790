//! `Native.pipe*`: new streams, as two unopened endpoint fds, each opened
//! here once or handed to a child process (`handoff`).

use crate::end;
use crate::guard::{entry, Fail, Result};
use crate::handle::{deref_handle, free_entry, into_handle};
use jni::sys::{jboolean, jint, jlong};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

/// The two unopened endpoint fds of a new stream; each is taken once, to be
/// opened here or handed to a child.
pub(crate) struct PipeFds {
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

    pub(crate) fn take(&self, write: bool) -> Result<OwnedFd> {
        let mut slot = self.slot(write).lock().unwrap_or_else(|p| p.into_inner());
        slot.take().ok_or_else(|| {
            let which = if write { "write" } else { "read" };
            Fail::State(format!(
                "the {which} end of this FaasinPipe was already opened, handed on or closed"
            ))
        })
    }

    pub(crate) fn is_there(&self, write: bool) -> bool {
        self.slot(write)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

pub(crate) fn pipe<'a>(h: jlong) -> Result<&'a PipeFds> {
    // SAFETY: Java passes the handle of a reachable FaasinPipe.
    unsafe { deref_handle(h) }
}

entry! {
    fn Java_io_faasin_Native_pipeCreate(capacity: jint) -> jlong = 0 => |_| {
        let capacity = usize::try_from(capacity)
            .map_err(|_| Fail::Arg(format!("negative pipe capacity {capacity}")))?;
        let (r, w) =
            faasin::pipe_fds(capacity).map_err(|e| Fail::invalid_input_as(e, Fail::Arg))?;
        Ok(into_handle(PipeFds {
            read: Mutex::new(Some(r)),
            write: Mutex::new(Some(w)),
        }))
    }
}

entry! {
    /// The raw fd of an unopened end, or -1 once it was taken.
    fn Java_io_faasin_Native_pipeFd(h: jlong, write: jboolean) -> jint = -1 => |_| {
        let slot = pipe(h)?
            .slot(write != 0)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(slot.as_ref().map_or(-1, |fd| fd.as_raw_fd()))
    }
}

entry! {
    /// Opens the read end (`write` false) or the write end here, once.
    fn Java_io_faasin_Native_pipeOpen(h: jlong, write: jboolean) -> jlong = 0 => |_| {
        end::open(pipe(h)?.take(write != 0)?, write != 0)
    }
}

entry! {
    /// Closes the ends not yet taken (idempotent).
    fn Java_io_faasin_Native_pipeClose(h: jlong) -> () = () => |_| {
        let p = pipe(h)?;
        drop(p.take(false).ok());
        drop(p.take(true).ok());
        Ok(())
    }
}

free_entry!(
    /// Frees a pipe (closing the ends not taken), from its Cleaner.
    Java_io_faasin_Native_pipeFree,
    PipeFds
);
