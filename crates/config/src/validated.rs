//! The validated configuration: typed, complete, consistent. Built only by
//! [`Config::from_raw`], so holding a `Config` means it passed every check.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;
use serde::Serialize;

use crate::{DetectionConfig, ModerationConfig, RawConfig, RawUpstream, Secret};

/// One thing wrong with a configuration. Messages name the field as it is written in the
/// file, e.g. "upstreams[1].base_url".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

pub(crate) fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub version: u32,
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub events: EventsConfig,
    pub log: LogConfig,
    /// Empty: the built-in simulator serves every model.
    pub upstreams: Vec<Upstream>,
    pub simulator: SimulatorConfig,
    pub moderation: ModerationConfig,
    pub detection: DetectionConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_body_bytes: u64,
    pub max_upload_bytes: u64,
    #[serde(with = "duration_text")]
    pub client_timeout: Duration,
    #[serde(with = "duration_text")]
    pub shutdown_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub allow_other_paths: bool,
    /// Request-handling threads; at least 1 (`0` in the file means one per CPU).
    pub workers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdminConfig {
    #[serde(serialize_with = "masked")]
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventsConfig {
    pub capture_text: bool,
    pub bus_capacity: usize,
    pub batch_size: usize,
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
    /// How long `api.request` events are kept; `None`: until pruned by hand.
    #[serde(serialize_with = "retention_text")]
    pub retention: Option<Duration>,
}

/// The shortest `events.retention`: anything shorter would prune the window that live
/// detection warms up from, and is more likely a typo (`30m` for `30d`) than a policy.
pub(crate) const MIN_RETENTION: Duration = Duration::from_secs(3_600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

/// How an upstream expects its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`
    #[serde(rename = "bearer")]
    Bearer,
    /// `api-key: <key>` (Azure OpenAI)
    #[serde(rename = "api-key")]
    ApiKey,
}

/// One model server behind the gateway.
#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    pub name: String,
    /// Without a trailing slash; request paths after `/v1` are appended to it.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// Read from `api_key_env` when the configuration was loaded.
    #[serde(serialize_with = "masked")]
    pub api_key: Option<Secret>,
    pub auth: AuthStyle,
    pub models: Vec<String>,
    #[serde(with = "duration_text")]
    pub connect_timeout: Duration,
    #[serde(with = "duration_text")]
    pub response_timeout: Duration,
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    pub stream_usage: bool,
}

impl Upstream {
    /// Whether this upstream serves `model`.
    pub fn serves(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|p| bulwark_core::model_matches(p, model))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimulatorConfig {
    #[serde(with = "duration_text")]
    pub latency: Duration,
    #[serde(with = "duration_text")]
    pub chunk_delay: Duration,
    pub echo: bool,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

impl Config {
    /// Validates a raw configuration. `env` looks up environment variables (upstream API
    /// keys); it is a parameter so that validation is testable and deterministic.
    /// Collects every problem rather than stopping at the first.
    pub fn from_raw(
        raw: &RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();

        let version = match raw.version {
            Some(1) => 1,
            Some(v) => {
                errors.push(err(
                    "version",
                    format!("unsupported version {v}: this build reads version 1"),
                ));
                1
            }
            None => {
                errors.push(err(
                    "version",
                    "missing: write `version = 1` at the top of the file",
                ));
                1
            }
        };

        let s = &raw.server;
        let listen_text = s.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(err(
                "server.listen",
                format!("`{listen_text}` is not an address such as `127.0.0.1:8080`"),
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let data_dir = PathBuf::from(s.data_dir.as_deref().unwrap_or("./bulwark-data"));
        if data_dir.as_os_str().is_empty() {
            errors.push(err("server.data_dir", "must not be empty"));
        }
        let max_body_bytes = bounded(
            &mut errors,
            "server.max_body_bytes",
            s.max_body_bytes,
            4 * MIB,
            KIB,
            GIB,
        );
        let max_upload_bytes = bounded(
            &mut errors,
            "server.max_upload_bytes",
            s.max_upload_bytes,
            512 * MIB,
            KIB,
            64 * GIB,
        );
        let client_timeout = duration(
            &mut errors,
            "server.client_timeout",
            s.client_timeout.as_deref(),
            "30s",
            true,
        );
        let shutdown_timeout = duration(
            &mut errors,
            "server.shutdown_timeout",
            s.shutdown_timeout.as_deref(),
            "30s",
            false,
        );
        let workers = match s.workers.unwrap_or(0) {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n if n > 256 => {
                errors.push(err("server.workers", format!("{n} is more than 256")));
                1
            }
            n => n,
        };
        let mut trusted_proxies = Vec::new();
        for (i, text) in s.trusted_proxies.iter().flatten().enumerate() {
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => trusted_proxies.push(net),
                Err(_) => errors.push(err(
                    format!("server.trusted_proxies[{i}]"),
                    format!("`{text}` is not an IP address or CIDR such as `10.0.0.0/8`"),
                )),
            }
        }

        let token = raw.admin.token.as_ref().map(|t| t.trim().to_owned());
        let token = match token {
            Some(t) if t.is_empty() => {
                errors.push(err("admin.token", "must not be empty when set"));
                None
            }
            Some(t) if t.len() < 16 => {
                errors.push(err(
                    "admin.token",
                    "is too short: use at least 16 random characters",
                ));
                None
            }
            Some(t) => Some(Secret::new(t)),
            None => None,
        };
        if token.is_none() && !listen.ip().is_loopback() && raw.admin.token.is_none() {
            errors.push(err(
                "admin.token",
                format!(
                    "required because `server.listen` ({listen}) is not a loopback address: \
                     set `BULWARK_ADMIN__TOKEN` or `[admin] token`"
                ),
            ));
        }

        let e = &raw.events;
        let bus_capacity = bounded(
            &mut errors,
            "events.bus_capacity",
            e.bus_capacity.map(|v| v as u64),
            65_536,
            16,
            1 << 24,
        ) as usize;
        let batch_size = bounded(
            &mut errors,
            "events.batch_size",
            e.batch_size.map(|v| v as u64),
            1000,
            1,
            100_000,
        ) as usize;
        let flush_interval = duration(
            &mut errors,
            "events.flush_interval",
            e.flush_interval.as_deref(),
            "20ms",
            true,
        );

        let retention = match e.retention.as_deref() {
            None | Some("forever") => None,
            Some(text) => {
                let before = errors.len();
                let retention = duration(&mut errors, "events.retention", Some(text), "", false);
                if errors.len() == before && retention < MIN_RETENTION {
                    errors.push(err(
                        "events.retention",
                        format!(
                            "`{text}` is shorter than the minimum of {}; leave it out (or \
                             `forever`) to keep events until pruned by hand",
                            humantime::format_duration(MIN_RETENTION)
                        ),
                    ));
                }
                Some(retention)
            }
        };

        let format = match raw.log.format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                errors.push(err(
                    "log.format",
                    format!("`{other}` is not `text` or `json`"),
                ));
                LogFormat::Text
            }
        };
        let level = raw.log.level.clone().unwrap_or_else(|| "info".to_owned());

        let mut upstreams: Vec<Upstream> = Vec::new();
        for (i, u) in raw.upstreams.iter().enumerate() {
            if let Some(up) = upstream(&mut errors, i, u, env) {
                if upstreams.iter().any(|other| other.name == up.name) {
                    errors.push(err(
                        format!("upstreams[{i}].name"),
                        format!("`{}` is used twice", up.name),
                    ));
                }
                upstreams.push(up);
            }
        }

        let sim = &raw.simulator;
        let simulator = SimulatorConfig {
            latency: duration(
                &mut errors,
                "simulator.latency",
                sim.latency.as_deref(),
                "0ms",
                false,
            ),
            chunk_delay: duration(
                &mut errors,
                "simulator.chunk_delay",
                sim.chunk_delay.as_deref(),
                "0ms",
                false,
            ),
            echo: sim.echo.unwrap_or(false),
        };

        let moderation = crate::moderation::validate(&mut errors, raw.moderation.as_ref());
        let detection = crate::detection::validate(&mut errors, &raw.detection);

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            version,
            server: ServerConfig {
                listen,
                data_dir,
                max_body_bytes,
                max_upload_bytes,
                client_timeout,
                shutdown_timeout,
                trusted_proxies,
                allow_other_paths: s.allow_other_paths.unwrap_or(false),
                workers,
            },
            admin: AdminConfig { token },
            events: EventsConfig {
                capture_text: e.capture_text.unwrap_or(false),
                bus_capacity,
                batch_size,
                flush_interval,
                retention,
            },
            log: LogConfig { format, level },
            upstreams,
            simulator,
            moderation,
            detection,
        })
    }

    /// The effective configuration as TOML, secrets masked: what `config check` prints.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

fn upstream(
    errors: &mut Vec<ConfigError>,
    i: usize,
    u: &RawUpstream,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Upstream> {
    let field = |name: &str| format!("upstreams[{i}].{name}");
    let before = errors.len();
    let name = u.name.clone().unwrap_or_default();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        errors.push(err(
            field("name"),
            format!("`{name}` must be non-empty letters, digits, `-` or `_`"),
        ));
    }
    let base_url = u
        .base_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    match base_url.parse::<http::Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && uri.query().is_none() => {}
        _ => errors.push(err(
            field("base_url"),
            format!("`{base_url}` is not an http(s) URL without a query, e.g. `https://api.openai.com/v1`"),
        )),
    }
    let api_key = match &u.api_key_env {
        Some(var) => match env(var) {
            Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_owned())),
            _ => {
                errors.push(err(
                    field("api_key_env"),
                    format!("environment variable `{var}` is not set"),
                ));
                None
            }
        },
        None => None,
    };
    let auth = match u.auth.as_deref().unwrap_or("bearer") {
        "bearer" => AuthStyle::Bearer,
        "api-key" => AuthStyle::ApiKey,
        other => {
            errors.push(err(
                field("auth"),
                format!("`{other}` is not `bearer` or `api-key`"),
            ));
            AuthStyle::Bearer
        }
    };
    let models = u.models.clone().unwrap_or_else(|| vec!["*".to_owned()]);
    if models.is_empty() || models.iter().any(|m| m.trim().is_empty()) {
        errors.push(err(
            field("models"),
            "must list at least one non-empty model pattern",
        ));
    }
    let connect_timeout = duration(
        errors,
        &field("connect_timeout"),
        u.connect_timeout.as_deref(),
        "5s",
        true,
    );
    let response_timeout = duration(
        errors,
        &field("response_timeout"),
        u.response_timeout.as_deref(),
        "300s",
        true,
    );
    let idle_timeout = duration(
        errors,
        &field("idle_timeout"),
        u.idle_timeout.as_deref(),
        "120s",
        true,
    );
    if errors.len() > before {
        return None;
    }
    Some(Upstream {
        name,
        base_url,
        api_key_env: u.api_key_env.clone(),
        api_key,
        auth,
        models,
        connect_timeout,
        response_timeout,
        idle_timeout,
        stream_usage: u.stream_usage.unwrap_or(true),
    })
}

fn bounded(
    errors: &mut Vec<ConfigError>,
    field: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> u64 {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        errors.push(err(
            field,
            format!("{v} is outside the allowed range {min}..={max}"),
        ));
        return default;
    }
    v
}

pub(crate) fn duration(
    errors: &mut Vec<ConfigError>,
    field: &str,
    value: Option<&str>,
    default: &str,
    positive: bool,
) -> Duration {
    let text = value.unwrap_or(default);
    match humantime::parse_duration(text) {
        Ok(d) if positive && d.is_zero() => {
            errors.push(err(field, "must be greater than zero"));
            Duration::from_secs(1)
        }
        Ok(d) => d,
        Err(_) => {
            errors.push(err(
                field,
                format!("`{text}` is not a duration such as `30s` or `250ms`"),
            ));
            Duration::from_secs(1)
        }
    }
}

fn masked<S: serde::Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("********"),
        None => s.serialize_str("(not set)"),
    }
}

fn retention_text<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&humantime::format_duration(*d)),
        None => s.serialize_str("forever"),
    }
}

pub(crate) mod duration_text {
    use std::time::Duration;

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> RawConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let config = Config::from_raw(&parse("version = 1"), &no_env).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.max_body_bytes, 4 * MIB);
        assert!(!config.events.capture_text);
        assert!(config.upstreams.is_empty());
    }

    #[test]
    fn collects_every_error_with_its_field() {
        let raw = parse(
            r#"
            version = 2
            [server]
            listen = "nowhere"
            client_timeout = "soon"
            [[upstreams]]
            name = "a"
            base_url = "ftp://x"
            api_key_env = "NOT_SET_ANYWHERE"
            "#,
        );
        let errors = Config::from_raw(&raw, &no_env).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "version",
            "server.listen",
            "server.client_timeout",
            "upstreams[0].base_url",
            "upstreams[0].api_key_env",
        ] {
            assert!(
                fields.contains(&expected),
                "missing {expected} in {errors:?}"
            );
        }
    }

    #[test]
    fn retention_is_a_duration_of_an_hour_or_more() {
        let retention = |value: &str| {
            let text = format!("version = 1\n[events]\nretention = \"{value}\"");
            Config::from_raw(&parse(&text), &no_env).map(|config| config.events.retention)
        };
        let config = Config::from_raw(&parse("version = 1"), &no_env).unwrap();
        assert_eq!(config.events.retention, None, "kept until pruned by hand");
        assert_eq!(retention("forever").unwrap(), None);
        assert_eq!(
            retention("30d").unwrap(),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(retention("1h").unwrap(), Some(MIN_RETENTION));
        for bad in ["30m", "0s", "a month"] {
            let errors = retention(bad).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert_eq!(errors[0].field, "events.retention");
        }
        let printed = toml::to_string(&config.events).unwrap();
        assert!(printed.contains("retention = \"forever\""), "{printed}");
    }

    #[test]
    fn public_listen_requires_admin_token() {
        let raw = parse("version = 1\n[server]\nlisten = \"0.0.0.0:8080\"");
        let errors = Config::from_raw(&raw, &no_env).unwrap_err();
        assert_eq!(errors[0].field, "admin.token");
        let raw = parse(
            "version = 1\n[server]\nlisten = \"0.0.0.0:8080\"\n[admin]\ntoken = \"0123456789abcdef0\"",
        );
        assert!(Config::from_raw(&raw, &no_env).is_ok());
    }

    #[test]
    fn upstream_key_comes_from_env_and_is_masked() {
        let raw = parse(
            r#"
            version = 1
            [[upstreams]]
            name = "openai"
            base_url = "https://api.openai.com/v1/"
            api_key_env = "OPENAI_API_KEY"
            models = ["gpt-4o*"]
            "#,
        );
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-very-secret".to_owned());
        let config = Config::from_raw(&raw, &env).unwrap();
        let up = &config.upstreams[0];
        assert_eq!(up.base_url, "https://api.openai.com/v1");
        assert_eq!(up.api_key.as_ref().unwrap().expose(), "sk-very-secret");
        assert!(up.serves("gpt-4o-mini") && !up.serves("claude"));
        let text = config.to_toml();
        assert!(!text.contains("sk-very-secret"), "{text}");
        assert!(text.contains("api_key = \"********\""), "{text}");
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }

    #[test]
    fn duplicate_upstream_names_are_rejected() {
        let raw = parse(
            "version = 1\n[[upstreams]]\nname = \"a\"\nbase_url = \"http://x/v1\"\n[[upstreams]]\nname = \"a\"\nbase_url = \"http://y/v1\"",
        );
        let errors = Config::from_raw(&raw, &no_env).unwrap_err();
        assert!(
            errors.iter().any(|e| e.field == "upstreams[1].name"),
            "{errors:?}"
        );
    }
}
