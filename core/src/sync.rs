//! The one place atomics come from, so that `cfg(loom)` can swap in loom's
//! model-checked types for the whole protocol. The model is
//! `wait::loom_model`; run it with
//! `RUSTFLAGS="--cfg loom" cargo test -p faasin --lib --release loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
/// For the doorbell that stands in for the endpoint socket and pipe in tests.
#[cfg(all(test, loom))]
pub(crate) use loom::sync::{Arc, Condvar, Mutex};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(all(test, not(loom)))]
pub(crate) use std::sync::{Arc, Condvar, Mutex};
