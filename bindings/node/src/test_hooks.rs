//! Functions only the tests call, built with the `test-hooks` feature
//! (test.sh builds the addon the tests load with it; `build.sh`, which
//! `npm install` runs, without).

use crate::slab;
use napi::{Env, JsObject};
use napi_derive::napi;

/// Slab counters: `{ mapped, pooled, maps, takes }` (see `slab::Stats`).
#[napi(js_name = "_slabStats")]
pub fn slab_stats(env: Env) -> napi::Result<JsObject> {
    let s = slab::stats();
    let mut o = env.create_object()?;
    o.set("mapped", s.mapped as f64)?;
    o.set("pooled", s.pooled as f64)?;
    o.set("maps", s.maps as f64)?;
    o.set("takes", s.takes as f64)?;
    Ok(o)
}

/// Panics on purpose, so the tests can check that a Rust panic becomes a JS
/// Error instead of aborting the process.
#[napi(js_name = "_panicForTest", catch_unwind)]
pub fn panic_for_test(message: String) {
    panic!("{message}");
}
