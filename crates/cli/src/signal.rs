//! Waiting for SIGINT or SIGTERM: how `serve` and `upstream-sim` are told to stop.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Both stop signals, installed once so that a second signal during shutdown is seen.
#[derive(Debug)]
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM and names it. A stream that ends (the
    /// runtime can no longer deliver that signal) is not a signal: without this, an ended
    /// stream read as a second SIGTERM at once and cut a graceful shutdown short.
    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            Some(()) = self.interrupt.recv() => "SIGINT",
            Some(()) = self.terminate.recv() => "SIGTERM",
            else => std::future::pending().await,
        }
    }
}
