//! Generates `include/faasin.h` from the `faasin-ffi` crate.
//!
//! `faasin-ffi-header [OUT]` writes the header to OUT (default: the
//! committed `include/faasin.h`). The cbindgen version is pinned by
//! Cargo.lock, so the output is the same on every machine, which is what
//! lets CI compare it with the committed file.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ffi = root.join("ffi");
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("include/faasin.h"));
    let config = match cbindgen::Config::from_file(ffi.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faasin-ffi-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cbindgen::Builder::new()
        .with_crate(&ffi)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(&out);
            eprintln!("faasin-ffi-header: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("faasin-ffi-header: {e}");
            ExitCode::FAILURE
        }
    }
}
