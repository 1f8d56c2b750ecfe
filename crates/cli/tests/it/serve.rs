//! `bulwark serve` end to end: keys made by the CLI while the server runs, requests through
//! the gateway, a suspension that takes effect live, a clean SIGTERM, and the events that
//! the calls left behind.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Sandbox, Server, str};

/// A prompt that must never reach the database: text is not captured by default.
const PROMPT: &str = "canary prompt 7f3a1c: please do not store me";

fn chat(
    client: &reqwest::blocking::Client,
    server: &Server,
    secret: &str,
) -> reqwest::blocking::Response {
    client
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(secret)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}))
        .send()
        .unwrap()
}

#[test]
fn serve_authenticates_cli_keys_suspends_live_and_records_events() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The CLI writes to the same data directory while the server runs.
    let (_, key) = sandbox.key();
    let (id, secret) = (str(&key["id"]).to_owned(), str(&key["secret"]).to_owned());

    let response = chat(&client, &server, &secret);
    assert_eq!(response.status(), 200, "stderr:\n{}", server.stderr_text());
    let body: Value = response.json().unwrap();
    assert!(
        !str(&body["choices"][0]["message"]["content"]).is_empty(),
        "{body}"
    );

    let health: Value = client
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");

    sandbox.ok(&["keys", "suspend", &id, "--reason", "test"]);
    let suspended_at = Instant::now();
    let mut allowed_after_suspend = 0;
    let refusal = loop {
        let response = chat(&client, &server, &secret);
        if response.status() == 403 {
            break response.json::<Value>().unwrap();
        }
        assert_eq!(response.status(), 200);
        allowed_after_suspend += 1;
        assert!(
            suspended_at.elapsed() < Duration::from_millis(1500),
            "the suspension did not reach the server within 1.5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refusal["error"]["code"], "key_suspended", "{refusal}");

    assert_eq!(server.stop(), 0, "serve exits 0 on SIGTERM");

    // The events of those calls were flushed before exit.
    let export = sandbox.ok(&["events", "export"]).stdout;
    assert!(
        !export.contains(PROMPT),
        "prompt text is not captured by default"
    );
    let requests: Vec<Value> = export
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["kind"] == "api.request" && event["endpoint"] == "chat.completions")
        .collect();
    assert_eq!(requests.len(), 2 + allowed_after_suspend, "{export}");
    assert!(requests.iter().all(|r| r["key"] == id.as_str()), "{export}");
    assert!(export.contains(&format!("\"key\":\"{id}\"")), "{export}");
    let first = &requests[0];
    assert_eq!(first["status"], 200);
    assert_eq!(first["decision"], "allowed");
    assert!(
        first["input"]["sha256"].is_string() && first["input"].get("text").is_none(),
        "{first}"
    );
    let last = requests.last().unwrap();
    assert_eq!(last["status"], 403);
    assert_eq!(last["decision"], "forbidden");
    assert!(!export.contains(&secret));

    // The export imports into a fresh data directory, once.
    let file = sandbox.path().join("events.jsonl");
    std::fs::write(&file, &export).unwrap();
    let total = export.lines().count();
    let fresh = Sandbox::new();
    let first = fresh.ok(&["events", "import", file.to_str().unwrap()]);
    assert!(
        first
            .stdout
            .contains(&format!("imported {total} events (0 already present)")),
        "{first}"
    );
    let second = fresh.ok(&["events", "import", file.to_str().unwrap()]);
    assert!(
        second
            .stdout
            .contains(&format!("imported 0 events ({total} already present)")),
        "{second}"
    );
}

#[test]
fn revoked_and_unknown_keys_are_refused() {
    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox);
    let client = reqwest::blocking::Client::new();
    let (_, key) = sandbox.key();
    let secret = str(&key["secret"]).to_owned();

    let unknown = chat(
        &client,
        &server,
        "bw-live-0000000000000000000000000000000000000000000",
    );
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.json::<Value>().unwrap()["error"]["code"],
        "invalid_api_key"
    );

    sandbox.ok(&["keys", "revoke", str(&key["id"])]);
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        let response = chat(&client, &server, &secret);
        if response.status() == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revocation did not reach the server within 1.5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.stop(), 0);
}

#[test]
fn upstream_sim_serves_until_sigterm() {
    let sandbox = Sandbox::new();
    let mut child = sandbox
        .command(&[
            "upstream-sim",
            "--listen",
            "127.0.0.1:0",
            "--echo",
            "--workers",
            "3",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("bulwark-sim listening on ")
        .unwrap_or_else(|| panic!("{line:?}"));

    // Each on a connection of its own, so that the kernel spreads them over the workers'
    // listening sockets.
    for n in 0..8 {
        let prompt = format!("echo me {n}");
        let body: Value = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
            .post(format!("{url}/v1/chat/completions"))
            .json(
                &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}),
            )
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], prompt, "{body}");
    }

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("upstream-sim did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
