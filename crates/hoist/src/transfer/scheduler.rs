//! The one scheduler: runs transfer jobs (one per blob or manifest) a bounded number at a
//! time, each retried with backoff, with docker's `Preparing`, `Waiting` and `Retrying in N
//! seconds` lines. Pull, push and copy all run their blobs through it; only its
//! [`TransferConfig`] differs ([`TransferConfig::downloads`], [`TransferConfig::uploads`]).
//!
//! Corresponds to docker's `distribution/xfer` `LayerDownloadManager` and
//! `LayerUploadManager` (`max-concurrent-downloads` default 3, `max-concurrent-uploads`
//! default 5, 5 attempts each): what one job does (existence checks, mounts, the bytes) is
//! the caller's [`TransferJob`] — the copy engine's blob and manifest jobs (`crate::copy`),
//! which pull and push use too — as docker's `UploadDescriptor.Upload` is
//! `v2PushDescriptor`'s and `DownloadDescriptor.Download` is `v2LayerDescriptor`'s. The bytes
//! themselves are sent by the sink's one blob writer (`crate::copy::remote_upload` for a
//! registry), for a blob as stored and a layer compressed on its way (`crate::copy`'s
//! compression step) alike.
//!
//! # Behaviour
//! - Every job is announced `Preparing` at once; a job that cannot get one of the
//!   [`TransferConfig::max_concurrent`] slots straight away is `Waiting` until it does. A job
//!   keeps its slot across its retries, as docker's transfer does.
//! - A failed attempt is retried as the one [`RetryPolicy`] says ([`Retryable::is_retryable`],
//!   docker's `xfer.DoNotRetry` being the opposite), up to [`TransferConfig::max_attempts`]
//!   attempts, after [`Backoff::delay`] (docker: 5 s × attempts) or the server's `Retry-After`
//!   if longer (cut to [`TransferConfig::max_retry_after`]), counted down by whole seconds in
//!   `Retrying in N seconds` lines. The job object lives across attempts, so an attempt can resume what the
//!   previous one left (an open upload session, the digests already checked).
//! - [`Scheduler::run_all`] fails fast: the first error drops the other jobs (docker cancels
//!   the push's context), so nothing is pushed after a failure is known.
//!
//! Jobs run inside the caller's task (no spawn): they may borrow, and dropping the future
//! cancels them.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::try_join_all;
use tokio::sync::Semaphore;

use super::retry::{count_down, Retryable};
use super::TransferConfig;
use crate::digest::Digest;
use crate::progress::{ProgressEvent, ProgressSink, Status};

/// One job of the scheduler (docker's `xfer.UploadDescriptor` / `DownloadDescriptor`).
pub trait TransferJob: Send {
    /// What a successful job yields (for a layer: the blob now in the registry).
    type Output: Send;
    /// Why an attempt failed.
    type Error: Retryable + Send;

    /// The digest whose short id names the job's progress lines (docker: the layer's diffID),
    /// or `None` for a job that prints no lines (the config blob).
    fn progress_id(&self) -> Option<&Digest>;

    /// One attempt. Called again after a retryable failure, on the same job.
    fn attempt(&mut self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Runs [`TransferJob`]s: docker's `LayerUploadManager` and `LayerDownloadManager`. Cheap to
/// clone; clones share the concurrency limit.
#[doc(
    alias = "LayerUploadManager",
    alias = "LayerDownloadManager",
    alias = "UploadManager"
)]
#[derive(Debug, Clone)]
pub struct Scheduler {
    config: TransferConfig,
    slots: Arc<Semaphore>,
}

impl Scheduler {
    /// A scheduler with `config`; limits below 1 are raised to 1.
    pub fn new(config: TransferConfig) -> Scheduler {
        let config = TransferConfig {
            max_concurrent: config.max_concurrent.max(1),
            max_attempts: config.max_attempts.max(1),
            ..config
        };
        Scheduler {
            slots: Arc::new(Semaphore::new(config.max_concurrent)),
            config,
        }
    }

    /// The limits in effect.
    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// Runs every job concurrently (within the limit) and returns their outputs in order, or
    /// the first error, dropping the jobs still running.
    pub async fn run_all<J: TransferJob>(
        &self,
        jobs: Vec<J>,
        progress: &dyn ProgressSink,
    ) -> Result<Vec<J::Output>, J::Error> {
        for job in &jobs {
            if let Some(id) = job.progress_id() {
                progress.emit(ProgressEvent::new(id, Status::Preparing));
            }
        }
        self.run_all_announced(jobs, progress).await
    }

    /// [`Scheduler::run_all`] for jobs the caller has already announced in its own words
    /// (a copy into the store says `Pulling fs layer`, as docker's pull does): no `Preparing`
    /// line; `Waiting` and `Retrying in N seconds` as usual.
    pub async fn run_all_announced<J: TransferJob>(
        &self,
        jobs: Vec<J>,
        progress: &dyn ProgressSink,
    ) -> Result<Vec<J::Output>, J::Error> {
        try_join_all(jobs.into_iter().map(|job| self.run_prepared(job, progress))).await
    }

    /// Runs one job: waits for a slot, then attempts it until it succeeds, fails permanently,
    /// or runs out of attempts.
    pub async fn run<J: TransferJob>(
        &self,
        job: J,
        progress: &dyn ProgressSink,
    ) -> Result<J::Output, J::Error> {
        if let Some(id) = job.progress_id() {
            progress.emit(ProgressEvent::new(id, Status::Preparing));
        }
        self.run_prepared(job, progress).await
    }

    async fn run_prepared<J: TransferJob>(
        &self,
        mut job: J,
        progress: &dyn ProgressSink,
    ) -> Result<J::Output, J::Error> {
        let id = job.progress_id().cloned();
        let _slot = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                if let Some(id) = &id {
                    progress.emit(ProgressEvent::new(id, Status::Waiting));
                }
                // The semaphore is never closed, so acquiring can only fail if it were; then
                // the job runs without a slot rather than not at all.
                Arc::clone(&self.slots).acquire_owned().await.ok()
            }
        };
        let policy = self.config.retry_policy();
        let mut failures = 0;
        loop {
            let error = match job.attempt().await {
                Ok(output) => return Ok(output),
                Err(e) => e,
            };
            failures += 1;
            let Some(delay) = policy.next_wait(failures, &error) else {
                return Err(error);
            };
            tracing::warn!(error = %error, attempt = failures, "upload failed, retrying");
            count_down(delay, |seconds| {
                if let Some(id) = &id {
                    progress.emit(ProgressEvent::new(id, Status::RetryingIn { seconds }));
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use std::time::Duration;

    use super::*;
    use crate::transfer::Backoff;

    #[derive(Debug, thiserror::Error)]
    #[error("fake failure (retryable: {0})")]
    struct Fake(bool);

    impl Retryable for Fake {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    /// Fails `failures` times with `retryable`, then succeeds; counts concurrent runs.
    struct Job {
        id: Digest,
        failures: u32,
        retryable: bool,
        attempts: Arc<AtomicUsize>,
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    impl Job {
        fn new(name: &str, failures: u32, retryable: bool) -> Job {
            Job {
                id: Digest::sha256_of(name.as_bytes()),
                failures,
                retryable,
                attempts: Arc::default(),
                running: Arc::default(),
                peak: Arc::default(),
            }
        }
    }

    impl TransferJob for Job {
        type Output = u32;
        type Error = Fake;

        fn progress_id(&self) -> Option<&Digest> {
            Some(&self.id)
        }

        async fn attempt(&mut self) -> Result<u32, Fake> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            let n = self.attempts.fetch_add(1, Ordering::SeqCst) as u32;
            if n < self.failures {
                Err(Fake(self.retryable))
            } else {
                Ok(n + 1)
            }
        }
    }

    #[derive(Default)]
    struct Events(Mutex<Vec<ProgressEvent>>);

    impl ProgressSink for Events {
        fn emit(&self, event: ProgressEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn fast(max_concurrent: usize) -> Scheduler {
        Scheduler::new(TransferConfig {
            max_concurrent,
            backoff: Backoff::Linear {
                step: Duration::from_millis(5),
            },
            ..TransferConfig::uploads()
        })
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_until_success() {
        let events = Events::default();
        let out = fast(1).run(Job::new("a", 2, true), &events).await.unwrap();
        assert_eq!(out, 3);
        let statuses: Vec<Status> = events
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.status.clone())
            .collect();
        assert_eq!(statuses[0], Status::Preparing);
        let retries = statuses
            .iter()
            .filter(|s| matches!(s, Status::RetryingIn { seconds: 1 }))
            .count();
        assert_eq!(retries, 2);
    }

    #[tokio::test]
    async fn permanent_failure_is_not_retried() {
        let job = Job::new("a", 3, false);
        let attempts = Arc::clone(&job.attempts);
        let err = fast(1).run(job, &Events::default()).await.unwrap_err();
        assert!(!err.0);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_stop_at_the_configured_maximum() {
        let job = Job::new("a", 10, true);
        let attempts = Arc::clone(&job.attempts);
        fast(1).run(job, &Events::default()).await.unwrap_err();
        assert_eq!(attempts.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn concurrency_is_limited_and_extra_jobs_wait() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<Job> = (0..6)
            .map(|i| Job {
                running: Arc::clone(&running),
                peak: Arc::clone(&peak),
                ..Job::new(&i.to_string(), 0, true)
            })
            .collect();
        let events = Events::default();
        let outputs = fast(2).run_all(jobs, &events).await.unwrap();
        assert_eq!(outputs.len(), 6);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        let waiting = events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.status == Status::Waiting)
            .count();
        assert_eq!(waiting, 4);
    }

    #[tokio::test]
    async fn run_all_returns_the_first_permanent_error() {
        let jobs = vec![Job::new("ok", 0, true), Job::new("bad", 1, false)];
        let err = fast(5).run_all(jobs, &Events::default()).await.unwrap_err();
        assert!(!err.0);
    }
}
