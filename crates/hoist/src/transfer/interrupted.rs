//! [`Interrupted`]: work that ended abnormally — a blocking task that panicked or was
//! cancelled when the runtime shut down, a stream that stopped before its end, a step that
//! lost what the step before it made. One type and one sentence (`TASK was interrupted:
//! REASON`), shared by [`crate::transfer::TransferError`], [`crate::copy::CopyError`] and
//! [`crate::pull::PullError`], so the sentence is written once (issue 10 item 6). Copy
//! retries it: what was interrupted may well finish the next time.
//!
//! [`blocking`] is the one way the engine runs blocking work (store, files, metadata) from
//! async code: tokio's blocking pool, with a failed join turned into [`Interrupted`].

/// Work that ended abnormally; says what (`task`) and why (`reason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{task} was interrupted: {reason}")]
pub struct Interrupted {
    /// What was interrupted, as a sentence begins: `the pull`, `the copy`, `the download of
    /// sha256:…`.
    pub task: String,
    /// What happened.
    pub reason: String,
}

impl Interrupted {
    /// `task` was interrupted because of `reason`.
    pub fn new(task: impl Into<String>, reason: impl Into<String>) -> Interrupted {
        Interrupted {
            task: task.into(),
            reason: reason.into(),
        }
    }
}

/// Runs `f` on tokio's blocking pool. A panic in `f`, or the runtime shutting down before it
/// ran, is [`Interrupted`] naming `task`.
pub async fn blocking<T, F>(task: &str, f: F) -> Result<T, Interrupted>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Interrupted::new(task, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_names_the_task_and_the_reason() {
        let e = Interrupted::new("the copy", "task 7 panicked");
        assert_eq!(e.to_string(), "the copy was interrupted: task 7 panicked");
    }

    #[tokio::test]
    async fn a_panicking_blocking_task_is_interrupted_not_a_panic() {
        let e = blocking("the pull", || -> u32 { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(e.task, "the pull");
        assert!(e.reason.contains("panicked"), "{}", e.reason);
        assert_eq!(blocking("the pull", || 4).await, Ok(4));
    }
}
