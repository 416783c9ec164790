//! `faasin serve --config FILE`: any text. A file is read into functions and
//! chains whose every field was checked (names usable in URLs and metrics,
//! positive durations, chains of deployed functions within their instance
//! limits, valid ring capacities), or refused with an error that names the
//! file; never a panic.

#![no_main]

use faasin_platform::config::parse;
use faasin_runner::chain::check_capacity;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fn good_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fuzz_target!(|text: &str| {
    let c = match parse(text, "fuzz.toml") {
        Ok(c) => c,
        Err(e) => return assert!(e.starts_with("fuzz.toml: "), "{e}"),
    };
    assert!(!c.service.drain.is_zero() && !c.service.queue_wait.is_zero());
    let mut max_of = HashMap::new();
    for f in &c.functions {
        assert!(good_name(&f.name), "{:?}", f.name);
        assert!(max_of.insert(f.name.as_str(), f.max_instances).is_none());
        assert!(f.max_instances >= 1);
        assert!(!f.timeout.is_zero() && !f.idle.is_zero());
    }
    let mut chains = HashMap::new();
    for ch in &c.chains {
        assert!(good_name(&ch.name), "{:?}", ch.name);
        assert!(chains.insert(ch.name.as_str(), ()).is_none());
        assert!(!ch.functions.is_empty());
        assert_eq!(ch.functions.len(), ch.capacities.len());
        for cap in &ch.capacities {
            check_capacity(*cap).unwrap();
        }
        for f in &ch.functions {
            let uses = ch.functions.iter().filter(|g| *g == f).count();
            assert!(uses <= max_of[f.as_str()], "{f:?} used {uses} times");
        }
    }
});
