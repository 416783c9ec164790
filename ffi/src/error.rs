//! One place where Rust results become C results: the panic guard every
//! exported function runs in, the `io::ErrorKind` -> errno mapping, and the
//! thread-local text of the last error.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// errno for a Rust panic caught at the boundary: the object it happened on
/// may be half-updated, so the caller should only close it.
pub(crate) const PANIC_ERRNO: c_int = libc::ENOTRECOVERABLE;

thread_local! {
    /// Text of the last error on this thread (`faasin_last_error`).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Storage behind `faasin_strerror` for codes without a static text.
    static STRERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// A C return type with a value that means "failed, see errno".
pub(crate) trait Failure {
    fn failure() -> Self;
}

impl Failure for c_int {
    fn failure() -> Self {
        -1
    }
}

impl Failure for libc::ssize_t {
    fn failure() -> Self {
        -1
    }
}

/// For the text functions, which must never return NULL: a static "".
impl Failure for *const c_char {
    fn failure() -> Self {
        c"".as_ptr()
    }
}

impl<T> Failure for Option<Box<T>> {
    fn failure() -> Self {
        None
    }
}

/// Runs the body of an exported function: `Ok` is returned as is; an error
/// or a panic sets errno (and the last-error text) and returns the type's
/// failure value. A panic never unwinds into C.
pub(crate) fn guard<T: Failure>(body: impl FnOnce() -> io::Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            fail(errno_of(&e), &e.to_string());
            T::failure()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            fail(
                PANIC_ERRNO,
                &format!("internal error in libfaasin (caught panic: {what})"),
            );
            T::failure()
        }
    }
}

fn fail(code: c_int, text: &str) {
    set_errno(code);
    let text = CString::new(text.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = text);
}

pub(crate) fn set_errno(code: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the life of the thread.
    unsafe { *libc::__errno_location() = code };
}

/// An `EINVAL` error with a message, for bad arguments.
pub(crate) fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

/// The errno that tells a C caller what happened. An OS error keeps its
/// own code; the kinds core produces get the code a pipe user expects.
pub(crate) fn errno_of(e: &io::Error) -> c_int {
    if let Some(code) = e.raw_os_error() {
        return code;
    }
    use io::ErrorKind::*;
    match e.kind() {
        BrokenPipe => libc::EPIPE,
        WouldBlock => libc::EAGAIN,
        InvalidInput => libc::EINVAL,
        // A corrupted ring or a malformed endpoint.
        InvalidData => libc::EBADMSG,
        TimedOut => libc::ETIMEDOUT,
        Interrupted => libc::EINTR,
        NotFound => libc::ENOENT,
        AlreadyExists => libc::EEXIST,
        PermissionDenied => libc::EACCES,
        ConnectionReset => libc::ECONNRESET,
        Unsupported => libc::ENOTSUP,
        OutOfMemory => libc::ENOMEM,
        WriteZero | UnexpectedEof => libc::EIO,
        _ => libc::EIO,
    }
}

/// Static FAASIN-specific texts for the codes this library sets itself.
fn faasin_text(err: c_int) -> Option<&'static CStr> {
    Some(match err {
        0 => c"success",
        libc::EPIPE => c"broken pipe: the reader closed its end or exited",
        libc::EAGAIN => {
            c"would block (non-blocking mode): poll the end's fd for POLLIN, then retry"
        }
        libc::EBADMSG => c"corrupted FAASIN ring or malformed endpoint",
        libc::EINVAL => {
            c"invalid argument (NULL pointer, bad size, or the wrong end of a stream)"
        }
        libc::ETIMEDOUT => c"timed out waiting for the peer (see faasin_*_set_timeout)",
        libc::ENOENT => c"no FAASIN stream: run the function in a chain (`faasin run ...`) or set FAASIN_FD / FAASOUT_FD",
        libc::EEXIST => c"the function's stream was already taken in this process",
        PANIC_ERRNO => c"internal error in libfaasin; close the object",
        _ => return None,
    })
}

/// Text for `err`: a static string for FAASIN's own codes, otherwise the
/// system's text kept in thread-local storage until the next call.
pub(crate) fn strerror(err: c_int) -> *const c_char {
    if let Some(text) = faasin_text(err) {
        return text.as_ptr();
    }
    let text = io::Error::from_raw_os_error(err).to_string();
    STRERROR.with(|s| {
        *s.borrow_mut() = CString::new(text).unwrap_or_default();
        s.borrow().as_ptr()
    })
}

/// The last error text of this thread, valid until the next failing call.
pub(crate) fn last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> c_int {
        // SAFETY: this thread's errno slot.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn panic_becomes_error_code() {
        let r: c_int = guard(|| panic!("boom"));
        assert_eq!(r, -1);
        assert_eq!(errno(), PANIC_ERRNO);
        // SAFETY: last_error points at a NUL-terminated thread-local string.
        let text = unsafe { CStr::from_ptr(last_error()) }.to_str().unwrap();
        assert!(text.contains("boom"), "{text}");
        let p: Option<Box<u8>> = guard(|| panic!("{}", String::from("owned")));
        assert!(p.is_none());
        assert_eq!(errno(), PANIC_ERRNO);
    }

    #[test]
    fn kinds_map_to_errno() {
        use io::ErrorKind::*;
        for (kind, code) in [
            (BrokenPipe, libc::EPIPE),
            (WouldBlock, libc::EAGAIN),
            (InvalidInput, libc::EINVAL),
            (InvalidData, libc::EBADMSG),
            (TimedOut, libc::ETIMEDOUT),
            (Interrupted, libc::EINTR),
        ] {
            assert_eq!(errno_of(&io::Error::new(kind, "x")), code, "{kind:?}");
        }
        let raw = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(errno_of(&raw), libc::EMFILE);
        let r: libc::ssize_t = guard(|| Err(io::ErrorKind::BrokenPipe.into()));
        assert_eq!((r, errno()), (-1, libc::EPIPE));
    }

    #[test]
    fn strerror_texts() {
        // SAFETY: strerror returns NUL-terminated strings.
        let s = |e| unsafe { CStr::from_ptr(strerror(e)) }.to_str().unwrap();
        assert!(s(libc::EPIPE).contains("reader"));
        assert!(s(libc::EMFILE)
            .to_lowercase()
            .contains("too many open files"));
    }
}
