//! Logs go to stderr, as text or JSON lines; stdout is for results.

use std::io::IsTerminal;

use bulwark_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormatArg};

/// An unusable `--log-level` / `log.level` filter.
#[derive(Debug)]
pub(crate) struct BadFilter(pub(crate) String);

/// Installs the global subscriber: flags first, then the configuration, then text at
/// `info`.
pub(crate) fn init(args: &LogArgs, config: Option<&LogConfig>) -> Result<(), BadFilter> {
    let level = args
        .log_level
        .clone()
        .or_else(|| config.map(|c| c.level.clone()))
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&level)
        .map_err(|e| BadFilter(format!("invalid log level filter `{level}`: {e}")))?;
    let json = match args.log_format {
        Some(format) => format == LogFormatArg::Json,
        None => config.is_some_and(|c| c.format == LogFormat::Json),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!json && std::io::stderr().is_terminal());
    // A second initialisation can only happen in tests; the first subscriber stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}
