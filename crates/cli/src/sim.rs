//! `bulwark upstream-sim`: the simulated upstream on its own port, for demos and load
//! benchmarks against a gateway configured with `[[upstreams]]`.

use std::time::Duration;

use anyhow::Context as _;
use bulwark_sim::{SimConfig, Simulator};
use tokio::net::TcpListener;

use crate::{cli::SimArgs, output, signal::Signals};

pub(crate) async fn run(args: &SimArgs) -> anyhow::Result<()> {
    let simulator = Simulator::new(SimConfig {
        latency: Duration::from_millis(args.latency_ms),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        echo: args.echo,
        ..SimConfig::default()
    });
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut signals = Signals::new()?;
    output::line(format_args!("bulwark-sim listening on http://{addr}"))?;
    tracing::warn!("this is a SIMULATED model: answers are canned, not from a real model");
    simulator
        .serve(listener, async move {
            let name = signals.next().await;
            tracing::info!(signal = name, "shutting down the simulator");
        })
        .await
        .context("the simulator failed")
}
