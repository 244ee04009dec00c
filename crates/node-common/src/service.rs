//! A running service (validator, compute node, router): its task and its stop switch.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// The stop switch and task of a running service.
#[derive(Debug)]
pub struct Service {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Service {
    /// Spawns `run(stop)`; the service stops when `stop` turns true.
    pub fn spawn<F, Fut>(run: F) -> Service
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(run(stop).in_current_span());
        Service { shutdown, task }
    }

    /// A service of a task already spawned with `shutdown`'s receiver.
    pub fn from_parts(shutdown: watch::Sender<bool>, task: JoinHandle<()>) -> Service {
        Service { shutdown, task }
    }

    /// A receiver that turns true when the service is asked to stop (for companion tasks).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Asks it to stop without waiting.
    pub fn signal_stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Stops it and waits for its task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
