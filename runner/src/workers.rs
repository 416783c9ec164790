//! Threads that run blocking jobs (feeding an invocation, draining its
//! output, the stored transports' copies), so that an invocation does not
//! pay for starting threads on its critical path: handing a job to a waiting
//! worker costs a fraction of a thread spawn. The set grows when every
//! worker is busy, so a job never waits behind another (jobs of one
//! invocation wait for each other) and many invocations can run at once.

use std::sync::{mpsc, Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

struct Shared {
    jobs: Mutex<mpsc::Receiver<Job>>,
    /// Workers waiting for a job and not yet promised one.
    idle: Mutex<usize>,
}

#[derive(Clone)]
pub struct Workers {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl Workers {
    /// Starts `n` workers; more are started as jobs need them.
    pub fn new(n: usize) -> std::io::Result<Workers> {
        let (tx, rx) = mpsc::channel::<Job>();
        let w = Workers {
            tx,
            shared: Arc::new(Shared {
                jobs: Mutex::new(rx),
                idle: Mutex::new(0),
            }),
        };
        for _ in 0..n {
            w.spawn_worker()?;
            *w.idle() += 1;
        }
        Ok(w)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, usize> {
        self.shared.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn_worker(&self) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name("faasin-worker".into())
            .spawn(move || loop {
                // The lock is held only while taking a job, not while
                // running it.
                let job = match shared.jobs.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    // Every sender is gone: the runner is done.
                    Err(_) => return,
                }
                *shared.idle.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            })?;
        Ok(())
    }

    /// Runs `job` on a free worker, or on a new one if none is free (or,
    /// if no thread can be started, after the jobs before it).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        {
            let mut idle = self.idle();
            if *idle > 0 {
                // Every queued job has a worker promised to it.
                *idle -= 1;
            } else {
                let _ = self.spawn_worker();
            }
        }
        // The workers outlive every sender, so the send cannot fail while
        // `self` lives.
        let _ = self.tx.send(Box::new(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn jobs_that_wait_for_each_other_all_run() {
        // One worker to begin with: the others are started as needed.
        let w = Workers::new(1).unwrap();
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
