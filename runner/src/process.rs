//! Starting a function's process (directly, or `docker run` for a container)
//! and what the engine needs of it afterwards: its exit, its peak memory, its
//! return value on stdout, and killing what it left behind.

use crate::chain::Function;
use crate::guard::Guard;
use crate::handoff_server;
use crate::options::MAX_RETURN;
use std::io::{self, Read};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Instant;

/// Where a function finds the handoff socket, and the token it presents.
pub struct HandoffAt<'a> {
    /// The socket's directory (bind-mounted into a container).
    pub dir: &'a Path,
    /// The socket's path on the host.
    pub socket: &'a Path,
    pub token: &'a str,
}

/// The command that runs `f`: `docker run` in container `container` for a
/// function with an image, else its own argv.
pub fn command(
    f: &Function,
    container: Option<&str>,
    handoff: Option<HandoffAt<'_>>,
    docker: &str,
) -> Command {
    match (&f.image, container) {
        (Some(image), Some(name)) => docker_run(f, image, name, handoff, docker),
        _ => {
            let argv = f.command.argv();
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            // A nested runner's variables must not leak into its functions.
            for v in [
                faasin::ENV_INPUT_FD,
                faasin::ENV_OUTPUT_FD,
                faasin::handoff::ENV_SOCKET,
                faasin::handoff::ENV_TOKEN,
                faasin::ENV_PARAMS,
            ] {
                c.env_remove(v);
            }
            c.envs(&f.env);
            if let Some(at) = handoff {
                c.env(faasin::handoff::ENV_SOCKET, at.socket);
                c.env(faasin::handoff::ENV_TOKEN, at.token);
            }
            c
        }
    }
}

fn docker_run(
    f: &Function,
    image: &str,
    name: &str,
    handoff: Option<HandoffAt<'_>>,
    docker: &str,
) -> Command {
    let mut c = Command::new(docker);
    c.arg("run").args([
        "--rm",
        "--name",
        name,
        "--network",
        "none",
        "--pull",
        "never",
    ]);
    if f.stdio {
        c.arg("-i");
    }
    if let Some(m) = &f.memory {
        c.arg("--memory").arg(m);
    }
    for (k, v) in &f.env {
        c.arg("-e").arg(format!("{k}={v}"));
    }
    // After the user's env, so that these win.
    if let Some(at) = handoff {
        let inside = handoff_server::CONTAINER_DIR;
        c.arg("-v").arg(format!("{}:{inside}", at.dir.display()));
        c.arg("-e").arg(format!(
            "{}={inside}/{}",
            faasin::handoff::ENV_SOCKET,
            handoff_server::SOCKET_NAME
        ));
        c.arg("-e")
            .arg(format!("{}={}", faasin::handoff::ENV_TOKEN, at.token));
    }
    c.arg(image).args(f.command.argv());
    c
}

/// How a function's main process ended.
pub struct Exit {
    pub status: io::Result<ExitStatus>,
    /// Peak resident memory (wait4's ru_maxrss).
    pub max_rss: Option<u64>,
    pub at: Instant,
}

/// A started function process: its pid (the leader of its process group)
/// and the pipes the caller asked for.
pub struct Spawned {
    pub pid: i32,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// Spawns `cmd` as a function of this run: in a process group of its own,
/// marked for the guard, killed by the kernel if the runner dies, and waited
/// for by a thread that hands its [`Exit`] to `on_exit`.
pub fn spawn(
    mut cmd: Command,
    guard: &mut Guard,
    container: Option<&str>,
    on_exit: impl FnOnce(Exit) + Send + 'static,
) -> io::Result<Spawned> {
    cmd.process_group(0);
    // Marks every process of this run, descendants included, so the guard
    // finds them even if the runner dies before naming the group.
    guard.mark(&mut cmd);
    die_with_runner(&mut cmd);
    let mut child = keeper_spawn(cmd)?;
    let pid = child.id() as i32;
    guard.group(pid);
    if let Some(name) = container {
        guard.container(name);
    }
    let spawned = Spawned {
        pid,
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
    };
    std::thread::spawn(move || {
        let (status, max_rss) = wait_rusage(pid);
        // Reaped by wait4: `child` must not be waited for again.
        drop(child);
        on_exit(Exit {
            status,
            max_rss,
            at: Instant::now(),
        });
    });
    Ok(spawned)
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` on the keeper, a thread that lives as long as the process:
/// the kernel's parent-death signal (`die_with_runner`) follows the thread
/// that forked a child, not the process, so a child forked by a thread that
/// ends (a pool's worker, an async runtime's blocking thread) would be
/// killed with it.
fn keeper_spawn(cmd: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        let started = std::thread::Builder::new()
            .name("faasin-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("faasin: cannot start the thread that starts functions: {e}");
        }
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    let sent = keeper
        .lock()
        .map_err(|_| io::Error::other("the keeper thread's channel is poisoned"))?
        .send((cmd, tx));
    if sent.is_err() {
        return Err(io::Error::other("the thread that starts functions is gone"));
    }
    rx.recv()
        .map_err(|_| io::Error::other("the thread that starts functions is gone"))?
}

/// Waits for a child and tells its exit status and peak resident memory.
fn wait_rusage(pid: i32) -> (io::Result<ExitStatus>, Option<u64>) {
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; both pointers are to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return (
                Ok(ExitStatus::from_raw(status)),
                Some(ru.ru_maxrss as u64 * 1024),
            );
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return (Err(e), None);
        }
    }
}

/// A runner killed by SIGKILL cannot clean up: its direct children get
/// SIGKILL from the kernel then (PR_SET_PDEATHSIG), so that at least they
/// are not left running. Their own children and containers are the guard's.
/// The signal comes when the *thread* that forked the child ends, hence
/// [`keeper_spawn`].
fn die_with_runner(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl
    // and getppid, which are async-signal-safe; it allocates nothing.
    unsafe {
        let runner = libc::getpid();
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            // The runner may have died before the prctl took effect.
            if libc::getppid() != runner {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Puts the function's ends at fds 3 (input) and 4 (output) in the child,
/// and says so in its environment.
pub fn place_ends(cmd: &mut Command, input: RawFd, output: RawFd) {
    cmd.env(faasin::ENV_INPUT_FD, "3")
        .env(faasin::ENV_OUTPUT_FD, "4");
    // SAFETY: the closure runs between fork and exec and only calls fcntl
    // and dup2, which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // First out of the way of 3 and 4 (either end may sit there),
            // then into place; dup2 clears close-on-exec on the new fd.
            let a = libc::fcntl(input, libc::F_DUPFD_CLOEXEC, 10);
            let b = libc::fcntl(output, libc::F_DUPFD_CLOEXEC, 10);
            if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends `sig` to a function's whole process group.
pub fn signal_group(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) on the process group the function leads (spawn made
    // it its leader); a group that is gone gives ESRCH, nothing else.
    unsafe { libc::kill(-pid, sig) };
}

/// SIGKILLs what is left in a function's process group: whatever it left
/// running would hold its ends open, and its neighbours would wait for EOF
/// forever. True if anything was left.
pub fn kill_leftovers(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the group has members.
    if unsafe { libc::kill(-pid, 0) } != 0 {
        return false;
    }
    signal_group(pid, libc::SIGKILL);
    true
}

/// A function's return value as it came on its stdout, cut at [`MAX_RETURN`].
pub struct Returned {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// Reads a return value to EOF; what is over [`MAX_RETURN`] is read and
/// dropped, so the function never blocks on a full stdout.
pub fn read_return(src: &mut dyn Read) -> Returned {
    let mut kept = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_RETURN - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Returned {
        bytes: kept,
        truncated,
    }
}

/// A duplicate of this process's fd 0, 1 or 2.
pub fn dup_std(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: 0, 1 and 2 are open for the life of the process (or dup fails).
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    b.try_clone_to_owned()
}

/// Peak resident memory (VmHWM) of a process, this one for `None`. Unlike
/// getrusage's ru_maxrss it does not carry over what an exec'ing parent had.
pub fn peak_rss(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_value_is_cut_and_the_rest_drained() {
        let big = vec![b'x'; MAX_RETURN + 10];
        let r = read_return(&mut &big[..]);
        assert!(r.truncated);
        assert_eq!(r.bytes.len(), MAX_RETURN);
        let r = read_return(&mut &b"{\"a\": 1}"[..]);
        assert!(!r.truncated);
        assert_eq!(r.bytes, b"{\"a\": 1}");
    }

    #[test]
    fn peak_memory_is_read_for_self() {
        assert!(peak_rss(None).is_some_and(|b| b > 0));
        assert!(peak_rss(Some(std::process::id())).is_some());
    }
}
