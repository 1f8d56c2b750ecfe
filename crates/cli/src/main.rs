//! `bulwark`, the command line of the Bulwark gateway: `serve` runs the OpenAI-compatible
//! gateway, `config check` validates its configuration, `tenants` / `accounts` / `keys`
//! manage who may call it, `events` exports and imports the usage trail, `alerts` exports
//! what the detectors raised, `replay` runs exported events through the detectors, and
//! `upstream-sim` runs the simulated model server on its own.
//!
//! This file only parses arguments, sets up logging, dispatches and maps errors to exit
//! codes: 0 success, 1 failure (`error: …` on stderr), 2 bad usage or an invalid
//! configuration. The work is done by the library crates; each command group has a module
//! here that turns their results into output (`--json` for scripts, text for people).

#![allow(
    clippy::print_stdout,
    reason = "a CLI's results are its stdout; they are written in output.rs, through a locked handle"
)]

mod accounts;
mod alerts;
mod anomaly;
mod cli;
mod config_cmd;
mod context;
mod events;
mod keys;
mod logging;
mod model;
mod model_semantic;
mod output;
mod replay;
mod scan;
mod serve;
mod signal;
mod sim;
mod tenants;

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use bulwark_config::Config;
use clap::Parser;

use crate::cli::{AlertsAction, Cli, Command, ConfigAction, EventsAction};

/// mimalloc: the gateway allocates small, short-lived buffers per request from several
/// threads; glibc's allocator spent a sixth of the gateway's CPU under load. Its v2 line
/// (the `v2` feature), not v3: the request workers spent 6-7% of their samples in it
/// against 9-9.5% with v3 (perf, 64 connections, interleaved runs, 2026-11-30), most of the
/// difference in collecting blocks that other threads freed (an event's strings are freed
/// by whichever of the store writer and the detection thread drops it last).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bad usage or an invalid configuration, as clap itself reports usage errors.
const EXIT_USAGE: u8 = 2;

/// An argument combination clap cannot check on its own (`--since` after `--until`, a
/// repeated `--signal`): exits with [`EXIT_USAGE`] like clap's own errors.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();

    // The configuration is validated before anything is opened or bound, and its `[log]`
    // settings are the defaults for the logging flags.
    let loaded = match cli
        .command
        .load_options()
        .map(|options| bulwark_config::load(&options))
    {
        None => None,
        Some(Ok(loaded)) => Some(loaded),
        Some(Err(error)) => {
            let _ = logging::init(&cli.log, None);
            return fail(&anyhow::Error::new(error), EXIT_USAGE);
        }
    };
    if let Err(logging::BadFilter(message)) =
        logging::init(&cli.log, loaded.as_ref().map(|(c, _)| &c.log))
    {
        return fail(&anyhow::anyhow!(message), EXIT_USAGE);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(
                &anyhow::Error::new(error).context("cannot start the async runtime"),
                1,
            );
        }
    };
    match runtime.block_on(run(cli.command, loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`bulwark events export | head`): nothing left to say.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<UsageError>().is_some() => fail(&error, EXIT_USAGE),
        Err(error) => fail(&error, 1),
    }
}

async fn run(command: Command, loaded: Option<(Config, Option<PathBuf>)>) -> anyhow::Result<()> {
    let command = match command {
        Command::UpstreamSim(args) => return sim::run(&args).await,
        Command::Model(cmd) => return model::run(cmd),
        Command::Anomaly(cmd) => return anomaly::run(cmd),
        Command::Scan(args) => {
            return scan::run(&scan::ScanOptions {
                input: args.input.as_deref(),
                output: args.output.as_deref(),
                side: args.side.into(),
                model: args.model.as_deref(),
                semantic_model: args.semantic_model.as_deref(),
            });
        }
        other => other,
    };
    let Some((config, file)) = loaded else {
        bail!("no configuration was loaded (this is a bug: please report it)");
    };
    match command {
        Command::Serve(_) => serve::run(&config).await,
        Command::Config {
            action: ConfigAction::Check(_),
        } => config_cmd::check(&config, file.as_deref()),
        Command::UpstreamSim(args) => sim::run(&args).await,
        Command::Model(_) => {
            bail!("`model` needs no configuration (this is a bug: please report it)")
        }
        Command::Anomaly(_) => {
            bail!("`anomaly` needs no configuration (this is a bug: please report it)")
        }
        Command::Scan(_) => {
            bail!("`scan` needs no configuration (this is a bug: please report it)")
        }
        Command::Tenants(cmd) => tenants::run(&config, cmd.action).await,
        Command::Accounts(cmd) => accounts::run(&config, cmd.action).await,
        Command::Keys(cmd) => keys::run(&config, cmd.action).await,
        Command::Events(cmd) => match cmd.action {
            EventsAction::Export(args) => events::export(&config, &args).await,
            EventsAction::Import { file } => events::import(&config, &file).await,
            EventsAction::Prune { before, json } => events::prune(&config, before, json).await,
        },
        Command::Alerts(cmd) => match cmd.action {
            AlertsAction::Export(args) => alerts::export(&config, &args).await,
        },
        Command::Replay(args) => replay::run(&config, &args).await,
    }
}

fn fail(error: &anyhow::Error, code: u8) -> ExitCode {
    // `{:#}` prints the whole chain: "cannot open the store in `d`: database error: …".
    output::note(format_args!("error: {error:#}"));
    ExitCode::from(code)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
