//! Chain files (`faasin run --chain FILE`): any text. A file is read into a
//! chain whose every part was checked, or refused with an error that names
//! the file; never a panic.

#![no_main]

use faasin_runner::chain::{check_capacity, Command};
use faasin_runner::chain_file::parse;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|text: &str| {
    match parse(text, "fuzz.toml", 1 << 16) {
        Ok(chain) => {
            assert!(!chain.functions.is_empty(), "a chain without functions");
            let mut names = HashSet::new();
            for f in &chain.functions {
                assert!(!f.name.trim().is_empty(), "an empty name");
                assert!(names.insert(&f.name), "two functions named {:?}", f.name);
                check_capacity(f.capacity).unwrap();
                match &f.command {
                    Command::Shell(s) => assert!(!s.trim().is_empty()),
                    Command::Argv(v) => assert!(!v[0].is_empty()),
                }
                // `handoff` is for a process taking its ends from the
                // runner: not with stdio, not in a container.
                assert!(!f.handoff || (!f.stdio && f.image.is_none()));
                assert!(f.memory.is_none() || f.image.is_some());
            }
        }
        Err(e) => assert!(e.starts_with("fuzz.toml"), "{e}"),
    }
});
