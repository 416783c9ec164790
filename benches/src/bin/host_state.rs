//! `host_state`: prints the bare cache-line round trip between CPU 0 and
//! CPU 1, in ns, and the state it means (`near` or `far`, see
//! `faasin_benches::host_state`), as `RTT_NS STATE` on one line. For the
//! Java and Node benchmarks, which run it before and after each measurement.

fn main() -> std::process::ExitCode {
    match faasin_benches::host_state::probe() {
        Ok(ns) => {
            let state = faasin_benches::host_state::HostState::of(ns);
            println!("{ns:.0} {}", state.name());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("host_state: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
