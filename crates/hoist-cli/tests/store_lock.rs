//! A command that has to wait for another hoist process using the same store says so instead of
//! hanging silently (issue 15, finding 6): `hoist prune` waiting for a writer's lease.

mod sandbox;

use std::time::Duration;

use hoist::store::ContentStore;
use sandbox::{stderr, Sandbox};

#[tokio::test]
async fn prune_waiting_for_a_writer_says_so_then_runs() {
    let sandbox = Sandbox::new();
    let content = ContentStore::open(&sandbox.root()).unwrap();
    // A writer (a pull, in another process) holds its lease on the store.
    let lease = content.lease().unwrap();
    let prune = tokio::spawn(async move {
        let out = sandbox.hoist(&["prune"]).await;
        (sandbox, out)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!prune.is_finished(), "prune waits for the writer");
    drop(lease);
    let (_sandbox, out) = tokio::time::timeout(Duration::from_secs(30), prune)
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for other hoist processes writing to this store"),
        "{}",
        stderr(&out)
    );
}
