//! `bulwark upstream-sim`: the simulated upstream on its own port, for demos and load
//! benchmarks against a gateway configured with `[[upstreams]]`.
//!
//! Served as the gateway serves: one thread per worker, each with its own single-threaded
//! event loop and its own listening socket on the shared address. On one work-stealing
//! runtime the simulator's cost per request depended on how its client paced requests
//! (idle workers woke each other to steal every few requests), which a load benchmark
//! then charged to whatever proxy sat in front of it.

use std::{num::NonZeroUsize, thread, time::Duration};

use anyhow::Context as _;
use bulwark_sim::{SimConfig, Simulator};
use tokio::{net::TcpListener, sync::watch};

use crate::{cli::SimArgs, output, signal::Signals};

pub(crate) async fn run(args: &SimArgs) -> anyhow::Result<()> {
    let simulator = Simulator::new(SimConfig {
        latency: Duration::from_millis(args.latency_ms),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        echo: args.echo,
        ..SimConfig::default()
    });
    let workers = args.workers.map_or_else(
        || thread::available_parallelism().map_or(1, NonZeroUsize::get),
        NonZeroUsize::get,
    );
    let (listeners, addr) = bulwark_gateway::bind_listeners(args.listen, workers)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut signals = Signals::new()?;
    let (stop, stopped) = watch::channel(false);
    let threads = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let simulator = simulator.clone();
            let stopped = stopped.clone();
            thread::Builder::new()
                .name(format!("bulwark-sim-{index}"))
                .spawn(move || serve_worker(simulator, listener, stopped))
                .context("cannot start a simulator worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    output::line(format_args!("bulwark-sim listening on http://{addr}"))?;
    tracing::warn!("this is a SIMULATED model: answers are canned, not from a real model");

    let name = signals.next().await;
    tracing::info!(signal = name, "shutting down the simulator");
    let _ = stop.send(true);
    let results = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a simulator worker panicked")))
            })
            .collect::<Vec<_>>()
    })
    .await
    .context("cannot wait for the simulator workers")?;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

/// One worker: its own event loop serving `listener` until `stopped` turns true, then
/// letting in-flight responses finish.
fn serve_worker(
    simulator: Simulator,
    listener: std::net::TcpListener,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a simulator worker's event loop")?;
    runtime.block_on(async move {
        let listener =
            TcpListener::from_std(listener).context("cannot register the listening socket")?;
        simulator
            .serve(listener, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
            .context("the simulator failed")
    })
}
