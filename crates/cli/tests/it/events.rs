//! `bulwark events export|import` without a server (management commands make the events).

use crate::support::{Sandbox, str};

/// A data directory with some events in it: tenant/account/key creations and status
/// changes. Returns the export.
fn sandbox_with_events() -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    for _ in 0..2 {
        let (_, key) = sandbox.key();
        sandbox.ok(&["keys", "suspend", str(&key["id"])]);
    }
    let export = sandbox.ok(&["events", "export"]).stdout;
    (sandbox, export)
}

#[test]
fn export_is_the_stored_json_lines_in_time_order() {
    let (sandbox, export) = sandbox_with_events();
    let lines: Vec<&str> = export.lines().collect();
    // account.created + key.created + key.status_changed, twice.
    assert_eq!(lines.len(), 6, "{export}");
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (str(&e["ts"]), str(&e["id"])))
        .collect();
    assert!(order.is_sorted(), "{order:?}");
    assert!(events.iter().all(|e| e["v"] == 1));

    // --output writes the same bytes; the summary goes to stderr.
    let file = sandbox.path().join("out.jsonl");
    let run = sandbox.ok(&["events", "export", "--output", file.to_str().unwrap()]);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.stderr.contains("exported 6 events"), "{run}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), export);

    // --since is inclusive, --until exclusive.
    let third = str(&events[2]["ts"]);
    let select = |keep: &dyn Fn(&str) -> bool| -> String {
        lines
            .iter()
            .zip(&events)
            .filter(|(_, e)| keep(str(&e["ts"])))
            .map(|(l, _)| format!("{l}\n"))
            .collect()
    };
    let since = sandbox.ok(&["events", "export", "--since", third]).stdout;
    assert_eq!(since, select(&|ts| ts >= third));
    assert!(since.contains(lines[2]));
    let until = sandbox.ok(&["events", "export", "--until", third]).stdout;
    assert_eq!(until, select(&|ts| ts < third));
    assert!(!until.contains(lines[2]));

    // Relative ages: everything happened within the last hour, nothing in the future.
    assert_eq!(
        sandbox.ok(&["events", "export", "--since", "1h"]).stdout,
        export
    );
    assert_eq!(
        sandbox.ok(&["events", "export", "--until", "1h"]).stdout,
        ""
    );
}

#[test]
fn import_round_trips_and_skips_what_is_present() {
    let (sandbox, export) = sandbox_with_events();
    let file = sandbox.path().join("events.jsonl");
    std::fs::write(&file, format!("\n{export}\n\n")).unwrap();
    let path = file.to_str().unwrap();

    let fresh = Sandbox::new();
    let first = fresh.ok(&["events", "import", path]);
    assert!(
        first
            .stdout
            .contains("imported 6 events (0 already present)"),
        "{first}"
    );
    assert_eq!(fresh.ok(&["events", "export"]).stdout, export);
    let second = fresh.ok(&["events", "import", path]);
    assert!(
        second
            .stdout
            .contains("imported 0 events (6 already present)"),
        "{second}"
    );

    // `-` reads stdin.
    let other = Sandbox::new();
    let mut command = other.command(&[
        "events",
        "import",
        "-",
        "--data-dir",
        other.data_dir().to_str().unwrap(),
    ]);
    let output = command
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("imported 6 events (0 already present)")
    );
}

#[test]
fn a_malformed_line_imports_nothing_and_is_named() {
    let (sandbox, export) = sandbox_with_events();
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    // Cut in half: not JSON any more.
    let half = lines[2].len() / 2;
    lines[2].truncate(half);
    let file = sandbox.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let fresh = Sandbox::new();
    let run = fresh.run(&["events", "import", file.to_str().unwrap()]);
    run.fails_with(1, "line 3");
    assert!(run.stderr.contains("nothing was imported"), "{run}");
    assert_eq!(
        fresh.ok(&["events", "export"]).stdout,
        "",
        "nothing was imported"
    );

    // A valid line of an unknown schema version is refused too.
    let future = export.lines().next().unwrap().replace("\"v\":1", "\"v\":2");
    std::fs::write(
        &file,
        format!("{}\n{future}\n", export.lines().next().unwrap()),
    )
    .unwrap();
    let run = fresh.run(&["events", "import", file.to_str().unwrap()]);
    run.fails_with(1, "line 2");
    assert!(run.stderr.contains("version 2"), "{run}");
    assert_eq!(
        fresh.ok(&["events", "export"]).stdout,
        "",
        "nothing was imported"
    );
}

#[test]
fn a_missing_import_file_is_an_error() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["events", "import", "does-not-exist.jsonl"])
        .fails_with(1, "does-not-exist.jsonl");
}

/// An `api.request` line stamped `ts`.
fn request_line(n: u32, ts: &str) -> String {
    serde_json::json!({
        "v": 1, "kind": "api.request", "id": format!("evt_01jd{n:022}"), "ts": ts,
        "tenant": null, "account": null, "key": "key_k",
        "client": {"ip": "203.0.113.7", "user_agent": null, "country": null, "asn": null},
        "endpoint": "chat.completions", "model": "gpt-4o-mini", "stream": false,
        "status": 200, "decision": "allowed", "latency_ms": 12.5, "upstream_ms": 12.0,
        "usage": {"prompt_tokens": 10, "completion_tokens": 20},
        "input": {"chars": 5, "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
        "output": null,
    })
    .to_string()
}

#[test]
fn prune_deletes_old_requests_and_keeps_the_audit_trail() {
    let (sandbox, management) = sandbox_with_events();
    let old: Vec<String> = (0..5)
        .map(|n| request_line(n, &format!("2026-01-0{}T00:00:00.000Z", n + 1)))
        .collect();
    let recent = request_line(9, "2026-06-01T00:00:00.000Z");
    let file = sandbox.path().join("requests.jsonl");
    std::fs::write(&file, format!("{}\n{recent}\n", old.join("\n"))).unwrap();
    sandbox.ok(&["events", "import", file.to_str().unwrap()]);

    let pruned = sandbox.json(&[
        "events",
        "prune",
        "--before",
        "2026-01-04T00:00:00Z",
        "--json",
    ]);
    assert_eq!(pruned["pruned"], 3, "{pruned}");
    assert_eq!(pruned["before"], "2026-01-04T00:00:00.000Z");
    let export = sandbox.ok(&["events", "export"]).stdout;
    let ids: Vec<String> = export
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            str(&event["id"]).to_owned()
        })
        .collect();
    for n in 0..10 {
        let id = format!("evt_01jd{n:022}");
        let kept = matches!(n, 3 | 4 | 9);
        assert_eq!(ids.contains(&id), kept, "{id}: {export}");
    }

    // An age: everything before an hour ago, that is every request; the account and key
    // events of the last minutes stay, as they would however old.
    let run = sandbox.ok(&["events", "prune", "--before", "1h"]);
    assert!(run.stdout.contains("pruned 3 request events"), "{run}");
    assert_eq!(sandbox.ok(&["events", "export"]).stdout, management);

    sandbox
        .run(&["events", "prune", "--before", "last tuesday"])
        .fails_with(2, "invalid value 'last tuesday' for '--before <T>'");
    sandbox
        .run(&["events", "prune"])
        .fails_with(2, "--before <T>");
}
