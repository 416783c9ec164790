//! io::Error -> a JS `Error` with a Node-style `code`.
//!
//! napi-rs puts its `Status` name into `code`, which says nothing to a Node
//! user, so errors are thrown here with `napi_throw_error` (message + code)
//! and handed back to napi-rs as `PendingException`, which it leaves alone.

use napi::{Env, Status};
use std::io::{self, ErrorKind};

/// The Node `code` for an io::Error: the errno name a pipe would give.
pub fn code_of(e: &io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::BrokenPipe => "EPIPE",
        ErrorKind::WouldBlock => "EAGAIN",
        ErrorKind::InvalidInput => "EINVAL",
        ErrorKind::InvalidData => "EBADMSG",
        ErrorKind::TimedOut => "ETIMEDOUT",
        ErrorKind::NotFound => "ENOENT",
        ErrorKind::AlreadyExists => "EEXIST",
        ErrorKind::Interrupted => "EINTR",
        ErrorKind::PermissionDenied => "EACCES",
        ErrorKind::ConnectionReset => "ECONNRESET",
        _ => match e.raw_os_error() {
            Some(libc::EBADF) => "EBADF",
            Some(libc::EMFILE) => "EMFILE",
            Some(libc::ENFILE) => "ENFILE",
            Some(libc::ENOMEM) => "ENOMEM",
            Some(libc::ENOTSOCK) => "ENOTSOCK",
            _ => "EIO",
        },
    }
}

/// Throws `e` as a JS Error with its Node code; return the result as `Err`.
pub fn throw(env: &Env, e: io::Error) -> napi::Error {
    let code = code_of(&e);
    throw_code(env, code, &e.to_string())
}

/// Throws a JS Error with `code` and `msg`; return the result as `Err`.
pub fn throw_code(env: &Env, code: &str, msg: &str) -> napi::Error {
    // A message with an interior NUL cannot become a C string; say so rather
    // than losing the error.
    let msg = msg.replace('\0', "\\0");
    match env.throw_error(&msg, Some(code)) {
        Ok(()) => napi::Error::from_status(Status::PendingException),
        Err(e) => e,
    }
}

/// The error for any call on an end after `close()`.
pub fn closed(env: &Env, what: &str) -> napi::Error {
    throw_code(env, "EBADF", &format!("the FAASIN {what} is closed"))
}

/// Turns a JS number into a byte count, refusing what is not one.
pub fn byte_count(env: &Env, n: f64, what: &str) -> napi::Result<usize> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= (1u64 << 53) as f64 {
        Ok(n as usize)
    } else {
        Err(throw_code(
            env,
            "EINVAL",
            &format!("{what} must be a non-negative integer, got {n}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::code_of;
    use std::io::{Error, ErrorKind};

    #[test]
    fn kinds_map_to_node_codes() {
        for (kind, code) in [
            (ErrorKind::BrokenPipe, "EPIPE"),
            (ErrorKind::WouldBlock, "EAGAIN"),
            (ErrorKind::InvalidInput, "EINVAL"),
            (ErrorKind::InvalidData, "EBADMSG"),
            (ErrorKind::NotFound, "ENOENT"),
            (ErrorKind::Other, "EIO"),
        ] {
            assert_eq!(code_of(&Error::from(kind)), code, "{kind:?}");
        }
        assert_eq!(code_of(&Error::from_raw_os_error(libc::EBADF)), "EBADF");
        assert_eq!(code_of(&Error::from_raw_os_error(libc::EPIPE)), "EPIPE");
    }
}
