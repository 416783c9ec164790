//! A fixed set of threads that run blocking jobs (feeding an invocation,
//! draining its output, the stored transports' copies), so that an
//! invocation does not pay for starting threads on its critical path:
//! handing a job to a waiting worker costs a fraction of a thread spawn.

use std::sync::{mpsc, Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Workers {
    jobs: mpsc::Sender<Job>,
}

impl Workers {
    /// `n` worker threads. A job that waits for another job to finish must
    /// have enough workers for both: the warm runner starts at most one
    /// invocation's jobs at a time and has one worker per job of it.
    pub fn new(n: usize) -> std::io::Result<Workers> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for k in 0..n.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("faasin-worker-{k}"))
                .spawn(move || loop {
                    // The lock is held only while taking a job, not while
                    // running it.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        // Every sender is gone: the runner is done.
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Workers { jobs })
    }

    /// Runs `job` on the next free worker.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        // The workers outlive every sender, so the send cannot fail while
        // `self` lives.
        let _ = self.jobs.send(Box::new(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn jobs_run_concurrently_on_as_many_workers() {
        let w = Workers::new(3).unwrap();
        let (tx, rx) = mpsc::channel();
        // Three jobs that each wait for the one after it: they only finish
        // if all three run at once.
        let (a_tx, a_rx) = mpsc::channel::<()>();
        let (b_tx, b_rx) = mpsc::channel::<()>();
        let t = tx.clone();
        w.run(move || {
            a_rx.recv().unwrap();
            t.send(1).unwrap();
        });
        let t = tx.clone();
        w.run(move || {
            b_rx.recv().unwrap();
            a_tx.send(()).unwrap();
            t.send(2).unwrap();
        });
        w.run(move || {
            b_tx.send(()).unwrap();
            tx.send(3).unwrap();
        });
        let mut got: Vec<i32> = (0..3)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("a job is stuck")
            })
            .collect();
        got.sort();
        assert_eq!(got, [1, 2, 3]);
    }
}
