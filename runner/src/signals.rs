//! SIGINT/SIGTERM/SIGHUP on the runner: recorded here, acted on by the main
//! loop (stop every function and container, then exit).

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

// Relaxed: the main loop polls these every tick; nothing else is published
// through them.
static LAST: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomics: async-signal-safe.
    LAST.store(sig, Ordering::Relaxed);
    COUNT.fetch_add(1, Ordering::Relaxed);
}

pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: all-zero is a valid sigaction; the handler only touches
        // atomics, and no SA_RESTART keeps blocking calls interruptible.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// How many signals arrived so far.
pub fn count() -> u32 {
    COUNT.load(Ordering::Relaxed)
}

/// The last signal received, if any.
pub fn received() -> Option<i32> {
    match LAST.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

pub fn name(sig: i32) -> String {
    let known = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => "",
    };
    if known.is_empty() {
        format!("signal {sig}")
    } else {
        format!("signal {sig} ({known})")
    }
}
