//! What the engine asks of Docker besides `docker run`: that every image is
//! here before anything starts, and that no container outlives its run.

use crate::chain::{Chain, Function};
use crate::options::SetupError;
use std::process::{Command, Stdio};

/// The container name of function `i` of run `run_id`, if it runs in one
/// (the guard and the Docker tests find a run's containers by it).
pub fn name(f: &Function, run_id: &str, i: usize) -> Option<String> {
    f.image
        .as_ref()
        .map(|_| format!("faasin-{run_id}-{}", i + 1))
}

/// Every image must exist here: nothing can be pulled, and failing before
/// anything runs is clearer than a container failing in the middle.
pub fn check_images(chain: &Chain, docker: &str) -> Result<(), SetupError> {
    for f in &chain.functions {
        let Some(image) = &f.image else { continue };
        let out = Command::new(docker)
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                SetupError(format!(
                    "function {:?} runs in a container, but {docker:?} cannot be run: {e}",
                    f.name
                ))
            })?;
        if out.status.success() {
            continue;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("Cannot connect") || err.contains("daemon") && !err.contains("No such") {
            return Err(SetupError(format!(
                "function {:?} runs in a container, but the Docker daemon is not reachable: {}",
                f.name,
                err.trim()
            )));
        }
        return Err(SetupError(format!(
            "function {:?}: image {image:?} does not exist locally (nothing is pulled; build it first, e.g. with cli/images/build.sh)",
            f.name
        )));
    }
    Ok(())
}

/// `docker rm -f` of these containers (each may be gone already): the
/// `docker run` client dying does not stop its container.
pub fn remove(names: &[&str], docker: &str) {
    if names.is_empty() {
        return;
    }
    let _ = Command::new(docker)
        .args(["rm", "-f"])
        .args(names)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
