//! `bulwark serve`: run the gateway until SIGINT or SIGTERM, then drain and flush.

use anyhow::Context as _;
use bulwark_config::Config;

use crate::{output, signal};

pub(crate) async fn run(config: &Config) -> anyhow::Result<()> {
    // Installed before anything can be told to stop, so an early SIGTERM still drains.
    let mut signals = signal::Signals::new()?;
    let gateway = bulwark_gateway::start(config)
        .await
        .context("cannot start the gateway")?;
    // Scripts and tests wait for exactly this line.
    output::line(format_args!(
        "bulwark listening on http://{}",
        gateway.local_addr()
    ))?;

    // The gateway also stops on its own when a request worker fails; the process must
    // then end, with an error, rather than stay up serving nothing.
    let asked = tokio::select! {
        name = signals.next() => Some(name),
        () = gateway.stopping() => None,
    };
    match asked {
        Some(name) => tracing::info!(
            signal = name,
            "shutting down: draining in-flight requests and flushing events"
        ),
        None => tracing::error!(
            "a request worker failed: draining in-flight requests and flushing events"
        ),
    }
    gateway.shutdown();
    let report = tokio::select! {
        report = gateway.wait() => report,
        name = signals.next() => {
            // The operator asked twice: stop now; unwritten events are lost.
            anyhow::bail!("received {name} again during shutdown: stopped without draining");
        }
    };
    if report.failed_workers > 0 {
        anyhow::bail!(
            "stopped because {} request worker(s) failed (events written {}, dropped {}, failed {})",
            report.failed_workers,
            report.events_written,
            report.events_dropped,
            report.events_failed
        );
    }
    if report.events_dropped > 0 || report.events_failed > 0 || report.aborted_connections > 0 {
        tracing::warn!(
            events_written = report.events_written,
            events_dropped = report.events_dropped,
            events_failed = report.events_failed,
            aborted_connections = report.aborted_connections,
            "stopped, but not cleanly"
        );
    } else {
        tracing::info!(
            events_written = report.events_written,
            events_dropped = report.events_dropped,
            events_failed = report.events_failed,
            aborted_connections = report.aborted_connections,
            "stopped"
        );
    }
    Ok(())
}
