//! `bulwark replay`: exported events through the same detectors as the live server, in
//! event time, into alerts.
//!
//! Events may come in any order within the lateness bound (`--lateness`, default
//! `[detection] lateness`): a reorder buffer puts them back in event-time order, ties in
//! input order; an event later than the bound is run as it comes and counted. The output
//! is a function of the input alone: same events, same alerts, byte for byte.
//!
//! Events whose prompt or answer text was captured (`input.text`, `output.text`) but that
//! carry no `moderation` verdict are scanned first, as the gateway would have done (with
//! the configured model, the built-in one by default; verdicts record what was flagged,
//! not what a policy would have done). Events without text keep the `moderation` field
//! they were recorded with.
//!
//! The alerts file is written beside its target and renamed over it at the end: a bad
//! line (reported with its number) stops the replay with nothing written and nothing
//! stored. With `--data-dir` the alerts are also stored there as the server stores them
//! (already stored ids are skipped, so replaying twice stores once).

use std::{
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bulwark_config::Config;
use bulwark_core::{Alert, Event, EventBody, ModerationRecord, Side};
use bulwark_detect::{Reorder, usage::Engine};
use bulwark_moderation::{ScanScratch, Scanner};
use bulwark_store::Store;
use clap::Args;

use crate::{
    context,
    events::{Lines, open_input, parse_line, write_atomically},
    output::{self, Progress},
};

/// Events the reorder buffer holds at most, whatever the lateness.
const MAX_BUFFERED: usize = 1_000_000;
/// Alerts per `append_alerts` call when storing.
const STORE_BATCH: usize = 1000;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Events as JSON lines (schema v1), e.g. from `bulwark events export`; `-` reads
    /// stdin
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub(crate) events: PathBuf,
    /// Where the alerts go, one JSON line each (schema v1); replaced only once the replay
    /// succeeded
    #[arg(long, value_name = "ALERTS.jsonl")]
    pub(crate) alerts: PathBuf,
    /// Also store the alerts in this data directory, as the server would
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Configuration file whose `[detection]` (and `[moderation] model`) to use [default:
    /// ./bulwark.toml if present]
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// How late (in event time) an event may come and still be put in order, e.g. `30s`
    /// [default: `detection.lateness`, else 10s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) lateness: Option<Duration>,
}

/// What a replay did.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    scanned: u64,
    alerts: Vec<Alert>,
}

pub(crate) async fn run(config: &Config, args: &ReplayArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut input, name, size) = open_input(&args.events)?;
    let lateness = args.lateness.unwrap_or(config.detection.lateness);
    let lateness_ms = i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX);
    let mut engine = Engine::new(bulwark_gateway::engine_config(&config.detection));
    let mut reorder: Reorder<Event> = Reorder::new(lateness_ms, MAX_BUFFERED);
    let mut moderation = Moderation::new(config);
    let mut tally = Tally::default();
    let mut progress = Progress::new(size, "replaying");

    write_atomically(&args.alerts, async |out| {
        let mut lines = Lines::new(input.reader());
        while let Some((number, line)) = lines
            .next()
            .with_context(|| format!("cannot read {name}"))?
        {
            progress.advance(line.len() as u64 + 1);
            let Some(mut event) = parse_line(line).map_err(|reason| {
                anyhow::anyhow!("{name}, line {number}: {reason}; no alerts were written")
            })?
            else {
                continue;
            };
            tally.events += 1;
            tally.scanned += u64::from(moderation.fill(&mut event)?);
            reorder.push(event.ts.unix_millis(), event);
            while let Some(event) = reorder.pop() {
                run_one(&mut engine, &event, out, &mut tally.alerts)?;
            }
        }
        while let Some(event) = reorder.drain() {
            run_one(&mut engine, &event, out, &mut tally.alerts)?;
        }
        out.flush()?;
        Ok(())
    })
    .await?;
    progress.finish();

    let stored = match &args.data_dir {
        Some(_) => Some(store(config, &tally.alerts).await?),
        None => None,
    };
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let stats = engine.stats();
    #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
    let rate = tally.events as f64 / elapsed;
    let stored = stored.map_or_else(String::new, |(new, dir)| {
        format!("; {new} new alerts stored in `{}`", dir.display())
    });
    output::note(format_args!(
        "replayed {} events ({} requests) in {elapsed:.2} s: {rate:.0} events/s; {} alerts ({} deduplicated) written to `{}`{stored}; {} events later than the {} lateness bound; {} events scanned by moderation",
        tally.events,
        stats.requests,
        tally.alerts.len(),
        stats.deduplicated,
        args.alerts.display(),
        reorder.late(),
        humantime::format_duration(lateness),
        tally.scanned,
    ));
    Ok(())
}

/// Runs one event through the engine and writes the alerts it raised.
fn run_one(
    engine: &mut Engine,
    event: &Event,
    out: &mut impl Write,
    alerts: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let before = alerts.len();
    engine.observe(event, alerts);
    for alert in alerts.iter().skip(before) {
        out.write_all(alert.to_json().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Stores the alerts in the configured data directory; returns how many were new.
async fn store(config: &Config, alerts: &[Alert]) -> anyhow::Result<(usize, PathBuf)> {
    let store = context::open_store(config).await?;
    let mut new = 0;
    for batch in alerts.chunks(STORE_BATCH) {
        new += store.append_alerts(batch).await.with_context(|| {
            format!(
                "the alerts file was written, but storing alerts failed after {new} new ones (replaying again stores the rest)"
            )
        })?;
    }
    Ok((new, config.server.data_dir.clone()))
}

/// The moderation scanner, loaded on first need.
struct Moderation<'a> {
    config: &'a Config,
    scanner: Option<Scanner>,
    scratch: ScanScratch,
}

impl<'a> Moderation<'a> {
    fn new(config: &'a Config) -> Self {
        Self {
            config,
            scanner: None,
            scratch: ScanScratch::new(),
        }
    }

    /// Scans the captured text of a request that has no verdict; says whether it did.
    fn fill(&mut self, event: &mut Event) -> anyhow::Result<bool> {
        let EventBody::ApiRequest(request) = &mut event.body else {
            return Ok(false);
        };
        let input = request.input.as_ref().and_then(|d| d.text.as_deref());
        let output = request.output.as_ref().and_then(|d| d.text.as_deref());
        if request.moderation.is_some() || (input.is_none() && output.is_none()) {
            return Ok(false);
        }
        if self.scanner.is_none() {
            self.scanner = Some(
                bulwark_gateway::configured_scanner(self.config)
                    .context("cannot load the moderation scanner")?,
            );
        }
        let Some(scanner) = &self.scanner else {
            return Ok(false);
        };
        let mut scan = |text: Option<&str>, side| {
            text.map(|text| scanner.scan(text, side, &mut self.scratch).record())
        };
        let record = ModerationRecord {
            input: scan(input, Side::Input),
            output: scan(output, Side::Output),
            upload: None,
        };
        request.moderation = Some(record);
        Ok(true)
    }
}
