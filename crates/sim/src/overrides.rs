//! Per-request behaviour chosen by `x-sim-*` headers, on top of the [`SimConfig`] defaults.
//!
//! The gateway forwards these headers untouched, so a test drives one request through the
//! whole stack and decides how the upstream misbehaves for that request only.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::config::SimConfig;

/// `x-sim-latency-ms: N` — wait N ms before the response headers.
pub(crate) const LATENCY_MS: &str = "x-sim-latency-ms";
/// `x-sim-chunk-delay-ms: N` — wait N ms between streamed chunks.
pub(crate) const CHUNK_DELAY_MS: &str = "x-sim-chunk-delay-ms";
/// `x-sim-echo: 1|0` — answer with the prompt itself, or not.
pub(crate) const ECHO: &str = "x-sim-echo";
/// `x-sim-status: 4xx|5xx` — answer at once with that status and an OpenAI error body.
pub(crate) const STATUS: &str = "x-sim-status";
/// `x-sim-fail: close|midstream` — break the connection before or during the answer.
pub(crate) const FAIL: &str = "x-sim-fail";

/// The longest wait a header may ask for, so a typo cannot hang a test run for hours.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// How the simulator breaks a response on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Send nothing and drop the connection.
    Close,
    /// Send the start of the answer, then break the body.
    Midstream,
}

/// The behaviour of one request: config defaults with the request's headers applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overrides {
    pub(crate) latency: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) echo: bool,
    pub(crate) status: Option<StatusCode>,
    pub(crate) fail: Option<Fail>,
}

impl Overrides {
    /// The config defaults, with no header applied.
    pub(crate) fn defaults(config: &SimConfig) -> Self {
        Self {
            latency: config.latency,
            chunk_delay: config.chunk_delay,
            echo: config.echo,
            status: None,
            fail: None,
        }
    }

    /// Applies the `x-sim-*` headers to the config defaults. A header whose value does not
    /// parse is ignored, so a request never fails because of a test knob.
    pub(crate) fn from_headers(config: &SimConfig, headers: &HeaderMap) -> Self {
        let mut this = Self::defaults(config);
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let millis = |name: &str| {
            text(name)
                .and_then(|v| v.parse::<u64>().ok())
                .map(|ms| Duration::from_millis(ms).min(MAX_WAIT))
        };
        if let Some(latency) = millis(LATENCY_MS) {
            this.latency = latency;
        }
        if let Some(delay) = millis(CHUNK_DELAY_MS) {
            this.chunk_delay = delay;
        }
        match text(ECHO) {
            Some("1" | "true" | "yes" | "on") => this.echo = true,
            Some("0" | "false" | "no" | "off") => this.echo = false,
            _ => {}
        }
        this.status = text(STATUS)
            .and_then(|v| v.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .filter(|status| status.is_client_error() || status.is_server_error());
        this.fail = match text(FAIL) {
            Some(v) if v.eq_ignore_ascii_case("close") => Some(Fail::Close),
            Some(v) if v.eq_ignore_ascii_case("midstream") => Some(Fail::Midstream),
            _ => None,
        };
        this
    }

    /// Whether the body should break after the first part of the answer.
    pub(crate) fn midstream(&self) -> bool {
        self.fail == Some(Fail::Midstream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn no_headers_means_config_defaults() {
        let config = SimConfig {
            echo: true,
            latency: Duration::from_millis(5),
            ..SimConfig::default()
        };
        assert_eq!(
            Overrides::from_headers(&config, &HeaderMap::new()),
            Overrides::defaults(&config)
        );
    }

    #[test]
    fn headers_override_the_config() {
        let config = SimConfig {
            echo: true,
            ..SimConfig::default()
        };
        let o = Overrides::from_headers(
            &config,
            &headers(&[
                (LATENCY_MS, "20"),
                (CHUNK_DELAY_MS, " 7 "),
                (ECHO, "0"),
                (STATUS, "503"),
                (FAIL, "midstream"),
            ]),
        );
        assert_eq!(o.latency, Duration::from_millis(20));
        assert_eq!(o.chunk_delay, Duration::from_millis(7));
        assert!(!o.echo);
        assert_eq!(o.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert!(o.midstream());
        let o = Overrides::from_headers(&config, &headers(&[(FAIL, "CLOSE")]));
        assert_eq!(o.fail, Some(Fail::Close));
    }

    #[test]
    fn unusable_values_are_ignored() {
        let config = SimConfig::default();
        let o = Overrides::from_headers(
            &config,
            &headers(&[
                (LATENCY_MS, "soon"),
                (STATUS, "200"),
                (FAIL, "explode"),
                (ECHO, "maybe"),
            ]),
        );
        assert_eq!(o, Overrides::defaults(&config));
        let o = Overrides::from_headers(&config, &headers(&[(LATENCY_MS, "99999999999")]));
        assert_eq!(o.latency, MAX_WAIT);
    }
}
