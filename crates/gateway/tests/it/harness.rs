use std::{sync::Arc, time::Duration};

use bulwark_config::{Config, RawConfig, RawUpstream};
use bulwark_core::Event;
use bulwark_gateway::RunningGateway;
use bulwark_identity::NewKey;
use bulwark_moderation::Scanner;
use bulwark_sim::{SimConfig, Simulator};
use bulwark_store::{EventQuery, SqliteStore, Store};
use tempfile::TempDir;

pub(crate) const UPSTREAM_KEY: &str = "sk-upstream-secret-for-tests";
pub(crate) const ADMIN_TOKEN: &str = "admin-token-0123456789";

pub(crate) struct Harness {
    pub gw: Option<RunningGateway>,
    pub sim: Simulator,
    pub dir: TempDir,
    pub http: reqwest::Client,
    pub base: String,
    pub secret: String,
    pub key_id: String,
    pub tenant_id: String,
    /// The validated configuration the gateway runs with, and its scanner, for restarts.
    config: Config,
    scanner: Option<Scanner>,
}

/// Options a test may change before the gateway starts.
pub(crate) struct Setup {
    pub raw: RawConfig,
    pub key: NewKey,
    pub sim: SimConfig,
    /// The upstream that points at the simulator (its `base_url` and key are filled in).
    pub upstream: RawUpstream,
    /// Upstreams placed before the simulator's, so they win routing.
    pub before: Vec<RawUpstream>,
    /// A scanner to moderate with instead of the built-in one.
    pub scanner: Option<Scanner>,
}

pub(crate) async fn start() -> Harness {
    start_with(|_| {}).await
}

pub(crate) async fn start_with(customise: impl FnOnce(&mut Setup)) -> Harness {
    let mut setup = Setup {
        raw: RawConfig {
            version: Some(1),
            ..Default::default()
        },
        key: NewKey::default(),
        sim: SimConfig {
            require_key: Some(UPSTREAM_KEY.to_owned()),
            ..SimConfig::default()
        },
        upstream: RawUpstream {
            name: Some("sim".into()),
            ..Default::default()
        },
        before: Vec::new(),
        scanner: None,
    };
    setup.raw.admin.token = Some(ADMIN_TOKEN.to_owned());
    setup.raw.events.flush_interval = Some("20ms".into());
    customise(&mut setup);

    let sim = Simulator::new(setup.sim);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = listener.local_addr().unwrap();
    tokio::spawn(sim.clone().serve(listener, std::future::pending()));

    let dir = tempfile::tempdir().unwrap();
    let raw = &mut setup.raw;
    raw.server.listen = Some("127.0.0.1:0".into());
    raw.server.data_dir = Some(dir.path().display().to_string());
    let mut upstream = setup.upstream;
    upstream.base_url = Some(format!("http://{sim_addr}/v1"));
    upstream.api_key_env = Some("TEST_UPSTREAM_KEY".into());
    raw.upstreams = setup.before;
    raw.upstreams.push(upstream);
    let env = |name: &str| (name == "TEST_UPSTREAM_KEY").then(|| UPSTREAM_KEY.to_owned());
    let config = Config::from_raw(raw, &env).unwrap();
    let gw = launch(&config, setup.scanner.clone()).await;

    let directory = gw.directory();
    let tenant = directory.create_tenant(Some("acme".into())).await.unwrap();
    let (account, _) = directory
        .create_account(bulwark_identity::NewAccount {
            tenant: tenant.id.clone(),
            name: Some("alice".into()),
            verification: bulwark_core::Verification::Email,
            client: Default::default(),
            signals: Default::default(),
        })
        .await
        .unwrap();
    let mut new_key = setup.key;
    new_key.account = Some(account.id);
    let created = directory.create_key(new_key).await.unwrap();

    Harness {
        tenant_id: tenant.id.to_string(),
        config,
        scanner: setup.scanner,
        base: format!("http://{}", gw.local_addr()),
        gw: Some(gw),
        sim,
        dir,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        secret: created.secret.expose().to_owned(),
        key_id: created.record.id.to_string(),
    }
}

async fn launch(config: &Config, scanner: Option<Scanner>) -> RunningGateway {
    match scanner {
        Some(scanner) => bulwark_gateway::start_with_scanner(config, scanner)
            .await
            .unwrap(),
        None => bulwark_gateway::start(config).await.unwrap(),
    }
}

impl Harness {
    /// Stops the gateway and starts it again on the same data (tenants, keys, events)
    /// with the moderation configuration changed, e.g. to name a tenant created by the
    /// first run.
    pub(crate) async fn restart_with(&mut self, moderation: &str) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown();
            gw.wait().await;
        }
        let raw = bulwark_config::RawConfig {
            version: Some(1),
            moderation: Some(toml::from_str(moderation).unwrap()),
            ..Default::default()
        };
        let parsed = Config::from_raw(&raw, &|_| None).unwrap();
        self.config.moderation = parsed.moderation;
        let gw = launch(&self.config, self.scanner.clone()).await;
        self.base = format!("http://{}", gw.local_addr());
        self.gw = Some(gw);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The gateway's `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub(crate) fn gw(&self) -> &RunningGateway {
        self.gw.as_ref().unwrap()
    }

    /// POST JSON with the test key.
    pub(crate) async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.secret)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn chat(&self, content: &str) -> reqwest::Response {
        self.post("/v1/chat/completions", chat_body(content, false))
            .await
    }

    pub(crate) async fn admin_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Stops the gateway (flushing events) and returns every stored event.
    pub(crate) async fn stop_and_read_events(&mut self) -> Vec<Event> {
        if let Some(gw) = self.gw.take() {
            gw.shutdown();
            gw.wait().await;
        }
        read_events(self.dir.path()).await
    }
}

pub(crate) async fn read_events(dir: &std::path::Path) -> Vec<Event> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .events_page(&EventQuery {
                since: None,
                until: None,
                after: after.clone(),
                limit: 500,
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.ts, last.id.clone()));
        events.extend(page.iter().map(|row| Event::from_json(&row.json).unwrap()));
    }
    events
}

pub(crate) fn chat_body(content: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": content}]
    })
}

/// Asserts an OpenAI-shaped error body with this code and returns it.
pub(crate) async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some(),
        "param present (null or a name): {body}"
    );
    body
}
