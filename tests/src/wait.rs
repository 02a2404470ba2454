//! Waiting for something a real process does: poll a condition until it holds, or fail the test saying what
//! was awaited and for how long.

use std::time::Duration;

/// Polls `done` every 100 ms until it holds; fails the test after `limit` naming `what`.
#[track_caller]
pub fn until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) -> impl Future<Output = ()> {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = tokio::time::Instant::now() + limit;
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what} ({caller})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Like [`until`], for a test thread that blocks (polls every 50 ms; call it inside `block_in_place` from an
/// async test).
#[track_caller]
pub fn blocking(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
