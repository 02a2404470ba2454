//! The collector's background tasks (alert evaluation, retention, the slice ledger's upkeep, keeping standings,
//! the HTTP listener, configuration reloads): tracked, so that shutdown waits for them to finish, and watched, so
//! that one that ends or panics before shutdown stops the collector with its name and reason, instead of leaving
//! it running without that part.

use std::any::Any;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The tasks that run beside the gRPC server until `stop`.
pub struct Background {
    tracker: TaskTracker,
    stop: CancellationToken,
    failures: mpsc::UnboundedSender<String>,
}

impl Background {
    /// Tasks that run until `stop`; the receiver gets one line per task that ended before it.
    pub fn new(stop: CancellationToken) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (failures, failed) = mpsc::unbounded_channel();
        (Self { tracker: TaskTracker::new(), stop, failures }, failed)
    }

    /// Runs `task`, which should run until `stop`; `name` says what it is in the failure line (`the HTTP
    /// listener stopped`, `alert evaluation panicked: …`).
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        let failures = self.failures.clone();
        // The task runs on its own so that a panic ends it alone, and is seen here as a JoinError.
        let running = tokio::spawn(task);
        self.tracker.spawn(async move {
            let ended = running.await;
            if stop.is_cancelled() {
                return;
            }
            let how = match ended {
                Ok(()) => "stopped".to_owned(),
                Err(error) if error.is_panic() => format!("panicked: {}", panic_text(&error.into_panic())),
                Err(error) => format!("was cancelled: {error}"),
            };
            let _ = failures.send(format!("{name} {how}"));
        });
    }

    /// Waits at most `limit` for every task to finish (call after `stop`); false when some did not.
    pub async fn finish(self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait()).await.is_ok()
    }
}

fn panic_text(payload: &Box<dyn Any + Send>) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::Background;

    #[tokio::test]
    async fn a_task_that_ends_or_panics_before_stop_is_reported_by_name() {
        let stop = CancellationToken::new();
        let (background, mut failures) = Background::new(stop.clone());
        background.spawn("the HTTP listener", async {});
        assert_eq!(failures.recv().await.as_deref(), Some("the HTTP listener stopped"));
        background.spawn("alert evaluation", async { panic!("index out of bounds") });
        assert_eq!(failures.recv().await.as_deref(), Some("alert evaluation panicked: index out of bounds"));
        let waiting = stop.clone();
        background.spawn("retention", async move { waiting.cancelled().await });
        stop.cancel();
        assert!(background.finish(Duration::from_secs(5)).await, "every task finished after stop");
        assert_eq!(failures.recv().await, None, "a task ending at stop is no failure");
    }

    #[tokio::test]
    async fn finish_gives_up_on_a_task_that_ignores_stop() {
        let stop = CancellationToken::new();
        let (background, _failures) = Background::new(stop.clone());
        background.spawn("a stuck task", std::future::pending());
        stop.cancel();
        assert!(!background.finish(Duration::from_millis(200)).await);
    }
}
