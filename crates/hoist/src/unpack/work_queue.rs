//! A scoped pool of worker threads for a tree walk whose tasks discover more tasks (one task
//! per directory, each pushing its subdirectories): [`run`].
//!
//! Tasks are taken last-in first-out, so the walk goes depth first and the queue stays about
//! as long as the directories being listed. The first error stops every worker (tasks already
//! running finish) and is returned; the others are dropped. A task that panics is counted as
//! finished, so the other workers never wait for it, and the panic is re-raised by
//! `std::thread::scope`.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

/// The queue a running task pushes new tasks into.
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    tasks: Vec<T>,
    /// Tasks taken and not yet finished.
    active: usize,
    failed: Option<io::Error>,
}

impl<T> Queue<T> {
    /// Adds a task; an idle worker picks it up.
    pub(crate) fn push(&self, task: T) {
        self.lock().tasks.push(task);
        self.ready.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next task, or `None` when the walk is over (every task done, or one failed).
    fn take(&self) -> Option<Running<'_, T>> {
        let mut state = self.lock();
        loop {
            if state.failed.is_some() {
                return None;
            }
            if let Some(task) = state.tasks.pop() {
                state.active += 1;
                return Some(Running { queue: self, task });
            }
            if state.active == 0 {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A task taken from the queue; finishing it (even by a panic) wakes the waiting workers
/// when the walk may be over.
struct Running<'q, T> {
    queue: &'q Queue<T>,
    task: T,
}

impl<T> Running<'_, T> {
    fn finish(self, result: io::Result<()>) {
        if let Err(e) = result {
            self.queue.lock().failed.get_or_insert(e);
        }
    }
}

impl<T> Drop for Running<'_, T> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.active -= 1;
        let over = state.failed.is_some() || (state.tasks.is_empty() && state.active == 0);
        drop(state);
        if over {
            self.queue.ready.notify_all();
        }
    }
}

/// Runs `work` on `first` and on every task it pushes, on `workers` threads (the caller's
/// included), until none is left or one fails.
pub(crate) fn run<T, F>(first: T, workers: usize, work: F) -> io::Result<()>
where
    T: Send,
    F: Fn(&mut T, &Queue<T>) -> io::Result<()> + Sync,
{
    let queue = Queue {
        state: Mutex::new(State {
            tasks: vec![first],
            active: 0,
            failed: None,
        }),
        ready: Condvar::new(),
    };
    let worker = || {
        while let Some(mut running) = queue.take() {
            let result = work(&mut running.task, &queue);
            running.finish(result);
        }
    };
    thread::scope(|scope| {
        for _ in 1..workers.max(1) {
            scope.spawn(worker);
        }
        worker();
    });
    let failed = queue.lock().failed.take();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_pushed_task_runs_once() {
        let seen = AtomicUsize::new(0);
        // A binary tree of depth 10: 2^11 - 1 tasks.
        run(0u32, 4, |depth, queue| {
            seen.fetch_add(1, Ordering::Relaxed);
            if *depth < 10 {
                queue.push(*depth + 1);
                queue.push(*depth + 1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 2047);
    }

    #[test]
    fn the_first_error_stops_the_walk_and_is_returned() {
        let seen = AtomicUsize::new(0);
        let err = run(0u32, 2, |n, queue| {
            seen.fetch_add(1, Ordering::Relaxed);
            if *n == 3 {
                return Err(io::Error::other("task 3 failed"));
            }
            queue.push(*n + 1);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "task 3 failed");
        assert_eq!(seen.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn one_worker_is_enough() {
        let seen = AtomicUsize::new(0);
        run(0u32, 0, |n, queue| {
            seen.fetch_add(1, Ordering::Relaxed);
            if *n < 100 {
                queue.push(*n + 1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 101);
    }
}
