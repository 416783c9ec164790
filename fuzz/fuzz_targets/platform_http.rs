//! What the platform's HTTP side reads from a client: a function or chain
//! definition sent to the admin API (JSON, checked as `PUT /functions/NAME`
//! and `PUT /chains/NAME` do), and the query string an invocation passes
//! to its functions. The first byte picks which; the rest is the input.
//!
//! A definition is accepted only if every field holds, or refused naming a
//! field; a query string always decodes (each component is the inverse of
//! its percent-encoding); never a panic.

#![no_main]

use faasin_platform::config::{ChainSpec, FunctionSpec};
use faasin_platform::front::query_params;
use faasin_runner::chain::check_capacity;
use libfuzzer_sys::fuzz_target;

/// The functions deployed when a chain is checked, with their instance
/// limits.
const DEPLOYED: [(&str, usize); 3] = [("up", 1), ("cat", 2), ("wc", 4)];

fn max_instances(name: &str) -> Option<usize> {
    DEPLOYED.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// Percent-encodes every byte.
fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    // The path's name: a fixed one, or none (as in a config file).
    let path = (pick & 4 == 0).then_some("fn-1");
    match pick % 3 {
        0 => {
            let Ok(spec) = serde_json::from_slice::<FunctionSpec>(rest) else {
                return;
            };
            match spec.check(path) {
                Ok(def) => {
                    assert!(path.is_none_or(|p| p == def.name));
                    assert!(def.max_instances >= 1);
                    assert!(!def.timeout.is_zero() && !def.idle.is_zero());
                    assert_eq!(def.name, def.function.name);
                }
                Err(e) => assert!(!e.field.is_empty() && !e.reason.is_empty()),
            }
        }
        1 => {
            let Ok(spec) = serde_json::from_slice::<ChainSpec>(rest) else {
                return;
            };
            match spec.check(path, &max_instances) {
                Ok(def) => {
                    assert!(!def.functions.is_empty());
                    assert_eq!(def.functions.len(), def.capacities.len());
                    for f in &def.functions {
                        let uses = def.functions.iter().filter(|g| *g == f).count();
                        assert!(uses <= max_instances(f).expect("deployed"));
                    }
                    for c in &def.capacities {
                        check_capacity(*c).unwrap();
                    }
                }
                Err(e) => assert!(!e.field.is_empty() && !e.reason.is_empty()),
            }
        }
        _ => {
            let Ok(query) = std::str::from_utf8(rest) else {
                return;
            };
            let map = query_params(query);
            // Every pair of the string is a key (a later one of the same
            // name wins), and a key encoded whole decodes back.
            assert!(map.len() <= query.split('&').filter(|kv| !kv.is_empty()).count());
            let value = query_params(&format!("k={}", encode(query)));
            assert_eq!(value["k"], query, "a value encoded whole");
            let key = query_params(&format!("{}=v", encode(query)));
            assert_eq!(key[query], "v", "a key encoded whole");
        }
    }
});
