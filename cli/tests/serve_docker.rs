//! `faasin serve` with containers: a chain that mixes a container, a
//! process and two languages; faulty containers leave none behind; a
//! SIGKILL of the service leaves none behind. Like docker.rs, these need a
//! Docker daemon and the faasin-tools image; cli/test.sh runs them.

mod common;
use common::service::*;
use common::*;
use std::time::Duration;

/// The names of containers of this test's service (they carry `tag`).
fn containers_named(tag: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
        .expect("docker ps");
    assert!(out.status.success(), "docker ps failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("faasin-") && l.contains(tag))
        .map(str::to_string)
        .collect()
}

fn container_fn(name: &str, argv: &[&str], extra: &str) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[function]]\nname = \"{name}\"\nimage = \"faasin-tools\"\ncommand = [{}]\n{extra}\n",
        argv.join(", ")
    )
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_chain_of_a_container_a_python_program_and_a_rust_process() {
    let defs = [
        container_fn("boxcat", &["/bin/peer", "warm", "cat"], "memory = \"256m\""),
        function(
            "upper",
            &[
                "python3",
                "-c",
                "import sys; sys.stdout.write(sys.stdin.read().upper())",
            ],
            "stdio = true",
        ),
        function("rustcat", &[faasin_bin().to_str().unwrap(), "cat"], ""),
        chain("mixed", &["boxcat", "upper", "rustcat"], ""),
    ]
    .concat();
    let mut s = Served::start("mixed", &defs);
    for round in 0..3 {
        let (status, out, report) =
            s.invoke("/chains/mixed", "through a container, python and rust");
        assert_eq!(status, 200, "{report}\n{}", s.log());
        assert_eq!(
            out, b"THROUGH A CONTAINER, PYTHON AND RUST",
            "round {round}"
        );
        assert_eq!(
            report["functions"][0]["return_value"]["bytes"], 36,
            "{report}"
        );
        assert_eq!(
            report["functions"][2]["return_value"]["bytes"], 36,
            "{report}"
        );
    }
    assert_eq!(
        containers_named("boxcat").len(),
        1,
        "one warm container serves them all"
    );
    assert!(s.stop(libc::SIGTERM, Duration::from_secs(30)).success());
    assert!(
        containers_named("boxcat").is_empty(),
        "{:?}",
        containers_named("boxcat")
    );
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn faulty_containers_are_replaced_and_none_is_left_behind() {
    let defs = [
        container_fn("boxcrash", &["/bin/peer", "warm", "crash", "0"], ""),
        container_fn("boxok", &["/bin/peer", "warm", "cat"], ""),
        chain("crash", &["boxok", "boxcrash"], ""),
        chain("ok", &["boxok"], ""),
    ]
    .concat();
    let mut s = Served::start("boxfaults", &defs);
    for k in 0..12 {
        let r = s.post("/chains/crash", "x");
        assert_eq!(r.status(), 502, "call {k}: {}", s.log());
        let e: serde_json::Value = r.json().unwrap();
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("function 2 (boxcrash)"),
            "{e}"
        );
    }
    assert_eq!(s.invoke("/chains/ok", "fine").1, b"fine");
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", containers_named("boxcrash")),
        || containers_named("boxcrash").is_empty(),
    );
    assert_eq!(
        containers_named("boxok").len(),
        1,
        "{:?}",
        containers_named("boxok")
    );
    // A service killed outright leaves no container either: the guard
    // removes them.
    s.stop(libc::SIGKILL, Duration::from_secs(5));
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", containers_named("box")),
        || containers_named("box").is_empty(),
    );
}
