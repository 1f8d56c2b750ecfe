//! The command line as clap sees it: raw arguments only. Values that can be checked
//! without touching any state (ids, enums, times, `KEY=VALUE` pairs) are parsed here, so a
//! malformed one is a usage error (exit 2) before anything is opened.

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, str::FromStr};

use bulwark_config::LoadOptions;
use bulwark_core::{AccountId, KeyId, KeyStatus, TenantId, Timestamp, Verification};
use clap::{
    Args, Parser, Subcommand, ValueEnum,
    builder::{PossibleValuesParser, TypedValueParser},
};

/// Bulwark: an OpenAI-compatible security gateway for AI APIs.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) log: LogArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Logging flags, accepted before or after the subcommand. Logs always go to stderr.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Log format [default: `log.format` from the configuration, else text]
    #[arg(long, global = true, value_enum)]
    pub(crate) log_format: Option<LogFormatArg>,
    /// Log filter such as `info` or `bulwark_gateway=debug,info` [default: `log.level`
    /// from the configuration, else info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Validate and print the effective configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run the simulated OpenAI-compatible upstream on its own.
    UpstreamSim(SimArgs),
    /// Create and list tenants.
    Tenants(TenantsCmd),
    /// Create and list accounts.
    Accounts(AccountsCmd),
    /// Create, list, suspend, resume and revoke API keys.
    Keys(KeysCmd),
    /// Export and import stored events as JSON lines.
    Events(EventsCmd),
    /// Export stored alerts as JSON lines.
    Alerts(AlertsCmd),
    /// Run exported events through the detectors, in event time, and write the alerts.
    Replay(crate::replay::ReplayArgs),
    /// Scan text with the moderation scanner: JSON lines from a file, or plain text from
    /// stdin.
    Scan(ScanArgs),
    /// Train and evaluate the moderation model.
    Model(crate::model::ModelCmd),
    /// Anomaly detection: run and score the univariate detector on NAB.
    Anomaly(crate::anomaly::AnomalyCmd),
}

impl Command {
    /// Where this command reads its configuration from, or `None` for commands that need
    /// none.
    pub(crate) fn load_options(&self) -> Option<LoadOptions> {
        let (config, listen, data_dir) = match self {
            Command::Serve(args)
            | Command::Config {
                action: ConfigAction::Check(args),
            } => (&args.config, args.listen.as_ref(), &args.data_dir),
            Command::UpstreamSim(_)
            | Command::Scan(_)
            | Command::Model(_)
            | Command::Anomaly(_) => return None,
            Command::Tenants(TenantsCmd { state, .. })
            | Command::Accounts(AccountsCmd { state, .. })
            | Command::Keys(KeysCmd { state, .. })
            | Command::Events(EventsCmd { state, .. })
            | Command::Alerts(AlertsCmd { state, .. }) => (&state.config, None, &state.data_dir),
            Command::Replay(args) => (&args.config, None, &args.data_dir),
        };
        Some(LoadOptions {
            file: config.clone(),
            listen: listen.map(ToString::to_string),
            data_dir: data_dir.clone(),
            ignore_env: false,
        })
    }
}

/// `serve` and `config check`: the same flags, so they validate the same thing.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file [default: ./bulwark.toml if present]
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Data directory (database and key pepper) [default: from the configuration, else
    /// ./bulwark-data]
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Validate the configuration exactly as `serve` does and print the effective
    /// settings (secrets masked).
    Check(ServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Address to listen on, e.g. 127.0.0.1:9090
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// Delay before each response, in milliseconds
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) latency_ms: u64,
    /// Delay between streamed chunks, in milliseconds
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) chunk_delay_ms: u64,
    /// Answer every prompt with the prompt itself
    #[arg(long)]
    pub(crate) echo: bool,
    /// Worker threads, each with its own event loop and listening socket [default: one
    /// per CPU]
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<NonZeroUsize>,
}

/// Flags of every command that opens the data directory. Global within the group, so
/// `bulwark keys --data-dir D list` and `bulwark keys list --data-dir D` both work.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// Configuration file [default: ./bulwark.toml if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory [default: from the configuration, else ./bulwark-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TenantsCmd {
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(subcommand)]
    pub(crate) action: TenantsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantsAction {
    /// Create a tenant.
    Create {
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// Print the tenant as JSON
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AccountsCmd {
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(subcommand)]
    pub(crate) action: AccountsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountsAction {
    /// Create an account in a tenant.
    Create(CreateAccountArgs),
    /// List accounts.
    List {
        /// Only accounts of this tenant
        #[arg(long, value_name = "TENANT")]
        tenant: Option<TenantId>,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateAccountArgs {
    /// The tenant (`ten_…`)
    #[arg(long, value_name = "TENANT")]
    pub(crate) tenant: TenantId,
    /// Display name
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// How far the account's identity has been verified
    #[arg(long, default_value = "none", value_parser = enum_parser(Verification::ALL, Verification::as_str))]
    pub(crate) verification: Verification,
    /// A sign-up signal for fake-account detection, e.g. `email_domain=example.com`,
    /// `device_id=…`, `payment_fingerprint=…` (repeatable)
    #[arg(long = "signal", value_name = "KEY=VALUE", value_parser = parse_signal)]
    pub(crate) signals: Vec<(String, String)>,
    /// The sign-up's client IP address, when known
    #[arg(long, value_name = "IP")]
    pub(crate) client_ip: Option<std::net::IpAddr>,
    /// The sign-up's user agent, when known
    #[arg(long, value_name = "UA")]
    pub(crate) user_agent: Option<String>,
    /// Print the account as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct KeysCmd {
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(subcommand)]
    pub(crate) action: KeysAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysAction {
    /// Create an API key; its secret is printed once and never again.
    Create(CreateKeyArgs),
    /// List keys (never their secrets).
    List {
        /// Only keys of this tenant
        #[arg(long, value_name = "TENANT")]
        tenant: Option<TenantId>,
        /// Only keys of this account
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<AccountId>,
        /// Only keys with this status
        #[arg(long, value_parser = enum_parser(KeyStatus::ALL, KeyStatus::as_str))]
        status: Option<KeyStatus>,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key for good (401 from then on); cannot be undone.
    Revoke(ChangeKeyArgs),
    /// Suspend a key (403 `key_suspended` until resumed).
    Suspend(ChangeKeyArgs),
    /// Resume a suspended key.
    Resume(ChangeKeyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateKeyArgs {
    /// The account that owns the key (`acct_…`)
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) account: AccountId,
    /// Display name
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Model patterns the key may use (`gpt-4o`, `gpt-4o-*`); repeatable or
    /// comma-separated. None: any model
    #[arg(long = "models", value_name = "M", value_delimiter = ',')]
    pub(crate) models: Vec<String>,
    /// Requests per minute [default: unlimited]
    #[arg(long, value_name = "N")]
    pub(crate) rpm: Option<u32>,
    /// Tokens per minute [default: unlimited]
    #[arg(long, value_name = "N")]
    pub(crate) tpm: Option<u32>,
    /// Print the key as JSON, with its `secret`
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ChangeKeyArgs {
    /// The key's public id (`key_…`)
    #[arg(value_name = "KEY")]
    pub(crate) key: KeyId,
    /// Why, for the audit trail
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Print the key as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EventsCmd {
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(subcommand)]
    pub(crate) action: EventsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsAction {
    /// Write stored events as JSON lines, oldest first.
    Export(ExportArgs),
    /// Read JSON-line events (as `export` writes them) into the store; all or nothing on
    /// a malformed line, events already present are skipped.
    Import {
        /// The file to read; `-` reads stdin
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete stored request events older than T, oldest first, in batches (safe while the
    /// server runs). Account and key events, the audit trail, are kept. The server does
    /// this on its own with `events.retention`.
    Prune {
        /// Delete request events stamped before T: RFC 3339 (`2026-11-01T00:00:00Z`) or an
        /// age such as `30d`
        #[arg(long, value_name = "T", value_parser = parse_time)]
        before: Timestamp,
        /// Print `{"pruned": N, "before": T}`
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AlertsCmd {
    #[command(flatten)]
    pub(crate) state: StateArgs,
    #[command(subcommand)]
    pub(crate) action: AlertsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsAction {
    /// Write stored alerts as JSON lines (schema v1), oldest first.
    Export(ExportArgs),
}

/// `events export` and `alerts export`: a time window and a destination.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only records at or after T: RFC 3339 (`2026-11-28T10:00:00Z`) or an age such as
    /// `15m`, `24h`, `7d`
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) since: Option<Timestamp>,
    /// Only records before T: RFC 3339 or an age
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) until: Option<Timestamp>,
    /// Write to FILE instead of stdout (replaced only once the export succeeded)
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// A clap parser for one of bulwark-core's closed string enums: lists the accepted values
/// in `--help` and in the error, and yields the typed value.
fn enum_parser<T>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Copy + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(|s| s.parse::<T>())
}

/// `KEY=VALUE`, with a non-empty key.
fn parse_signal(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not KEY=VALUE, e.g. `email_domain=example.com`"
        )),
    }
}

/// RFC 3339, or an age (`15m`, `24h`, `7d`) meaning that long before now.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = Timestamp::parse(text) {
        return Ok(ts);
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is neither an RFC 3339 time such as `2026-11-28T10:00:00Z` nor an age such as `15m`, `24h` or `7d`")
    })?;
    let age = chrono::Duration::from_std(age).map_err(|_| format!("`{text}` is too long ago"))?;
    Ok(Timestamp::now().offset(-age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn times_are_rfc3339_or_ages() {
        assert_eq!(
            parse_time("2026-11-28T10:00:00Z").unwrap().to_string(),
            "2026-11-28T10:00:00.000Z"
        );
        let before = Timestamp::now().unix_millis();
        let t = parse_time("7d").unwrap().unix_millis();
        let week = 7 * 24 * 3600 * 1000;
        assert!(
            (before - week - 1000..=before - week + 1000).contains(&t),
            "{t}"
        );
        assert!(parse_time("15m").is_ok());
        let err = parse_time("yesterday").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn signals_are_key_value_pairs() {
        assert_eq!(
            parse_signal("device_id=a=b").unwrap(),
            ("device_id".to_owned(), "a=b".to_owned())
        );
        assert!(parse_signal("=x").is_err());
        assert!(parse_signal("nothing").is_err());
    }

    #[test]
    fn models_accept_repeats_and_commas() {
        let cli = Cli::try_parse_from([
            "bulwark",
            "keys",
            "create",
            "--account",
            "acct_1",
            "--models",
            "a,b",
            "--models",
            "c",
        ])
        .unwrap();
        let Command::Keys(KeysCmd {
            action: KeysAction::Create(args),
            ..
        }) = cli.command
        else {
            panic!("not keys create");
        };
        assert_eq!(args.models, ["a", "b", "c"]);
    }

    #[test]
    fn state_flags_go_before_or_after_the_action() {
        for args in [
            ["bulwark", "keys", "--data-dir", "/d", "list"],
            ["bulwark", "keys", "list", "--data-dir", "/d"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let options = cli.command.load_options().unwrap();
            assert_eq!(
                options.data_dir.as_deref(),
                Some(std::path::Path::new("/d"))
            );
        }
    }
}

/// `bulwark scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// JSON lines, each an object with a `text` field [default: plain text from stdin,
    /// with a readable verdict]
    #[arg(long, value_name = "IN.jsonl")]
    pub(crate) input: Option<PathBuf>,
    /// Where the annotated lines go [default: stdout]; needs `--input`
    #[arg(long, value_name = "OUT.jsonl", requires = "input")]
    pub(crate) output: Option<PathBuf>,
    /// Which side of a call the texts are: prompts or completions
    #[arg(long, value_enum, default_value = "input")]
    pub(crate) side: SideArg,
    /// An n-gram model file to use instead of the built-in model (alone, unless
    /// `--semantic-model` is given too)
    #[arg(long, value_name = "FILE")]
    pub(crate) model: Option<PathBuf>,
    /// A semantic model file (`.bsm`) to fuse with the n-gram model [default: the built-in
    /// one when `--model` is not given]
    #[arg(long, value_name = "FILE")]
    pub(crate) semantic_model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SideArg {
    Input,
    Output,
}

impl From<SideArg> for bulwark_core::Side {
    fn from(side: SideArg) -> Self {
        match side {
            SideArg::Input => Self::Input,
            SideArg::Output => Self::Output,
        }
    }
}
