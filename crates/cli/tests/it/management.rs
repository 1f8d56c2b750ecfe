//! Tenants, accounts and keys through the CLI.

use crate::support::{Sandbox, contains_bytes, files_under, str};

#[test]
fn tenants_accounts_and_keys_print_their_json_shapes() {
    let sandbox = Sandbox::new();
    let tenant = sandbox.json(&["tenants", "create", "--name", "Acme", "--json"]);
    assert!(str(&tenant["id"]).starts_with("ten_"), "{tenant}");
    assert_eq!(tenant["name"], "Acme");
    assert!(tenant["created_at"].is_string());

    let account = sandbox.json(&[
        "accounts",
        "create",
        "--tenant",
        str(&tenant["id"]),
        "--name",
        "alice",
        "--verification",
        "phone",
        "--signal",
        "email_domain=example.com",
        "--signal",
        "device_id=d-1",
        "--json",
    ]);
    assert!(str(&account["id"]).starts_with("acct_"), "{account}");
    assert_eq!(account["tenant"], tenant["id"]);
    assert_eq!(account["name"], "alice");
    assert_eq!(account["verification"], "phone");

    let key = sandbox.json(&[
        "keys",
        "create",
        "--account",
        str(&account["id"]),
        "--name",
        "ci",
        "--models",
        "gpt-4o,gpt-4o-mini",
        "--models",
        "text-embedding-*",
        "--rpm",
        "60",
        "--tpm",
        "10000",
        "--json",
    ]);
    assert!(str(&key["id"]).starts_with("key_"), "{key}");
    assert_eq!(key["account"], account["id"]);
    assert_eq!(key["tenant"], tenant["id"]);
    assert_eq!(key["status"], "active");
    assert_eq!(
        key["models"],
        serde_json::json!(["gpt-4o", "gpt-4o-mini", "text-embedding-*"])
    );
    assert_eq!(key["rpm"], 60);
    assert_eq!(key["tpm"], 10000);
    let secret = str(&key["secret"]);
    assert!(
        secret.starts_with("bw-live-") && secret.len() >= 51,
        "{secret}"
    );
    assert!(secret.starts_with(str(&key["prefix"])), "{key}");

    let tenants = sandbox.json(&["tenants", "list", "--json"]);
    assert_eq!(tenants.as_array().unwrap().len(), 1);
    assert_eq!(tenants[0]["id"], tenant["id"]);
    let accounts = sandbox.json(&["accounts", "list", "--tenant", str(&tenant["id"]), "--json"]);
    assert_eq!(accounts[0]["id"], account["id"]);
    let keys = sandbox.json(&["keys", "list", "--account", str(&account["id"]), "--json"]);
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["id"], key["id"]);

    // The signals end up in the account.created event.
    let export = sandbox.ok(&["events", "export"]).stdout;
    let created = export
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["kind"] == "account.created")
        .unwrap();
    assert_eq!(
        created["signals"],
        serde_json::json!({"email_domain": "example.com", "device_id": "d-1"})
    );
    assert_eq!(created["verification"], "phone");
}

#[test]
fn a_key_secret_is_shown_once_and_stored_nowhere() {
    let sandbox = Sandbox::new();
    let (account, key) = sandbox.key();
    let secret = str(&key["secret"]).to_owned();

    let list = sandbox.ok(&["keys", "list", "--json"]);
    assert!(!list.stdout.contains(&secret), "{list}");
    assert!(list.json()[0].get("secret").is_none(), "{list}");
    let text = sandbox.ok(&["keys", "list"]);
    assert!(
        !text.stdout.contains(&secret) && !text.stderr.contains(&secret),
        "{text}"
    );
    let export = sandbox.ok(&["events", "export"]);
    assert!(!export.stdout.contains(&secret), "{export}");

    // Not in the database, its WAL, the pepper, or anything else in the data directory.
    let files = files_under(&sandbox.data_dir());
    assert!(files.iter().any(|f| f.ends_with("bulwark.db")), "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains_bytes(&bytes, secret.as_bytes()),
            "the secret is stored in {}",
            file.display()
        );
    }

    // The human form shows it once, says so, and logs nothing of it.
    let created = sandbox.ok(&["keys", "create", "--account", &account]);
    assert!(created.stdout.contains("bw-live-"), "{created}");
    assert!(
        created.stdout.contains("will not be shown again"),
        "{created}"
    );
    assert!(!created.stderr.contains("bw-live-"), "{created}");
}

#[test]
fn keys_are_suspended_resumed_and_revoked_for_good() {
    let sandbox = Sandbox::new();
    let (_, key) = sandbox.key();
    let id = str(&key["id"]);

    let suspended = sandbox.json(&[
        "keys",
        "suspend",
        id,
        "--reason",
        "resold on a forum",
        "--json",
    ]);
    assert_eq!(suspended["id"], key["id"]);
    assert_eq!(suspended["status"], "suspended");
    assert!(suspended.get("secret").is_none());
    let listed = sandbox.json(&["keys", "list", "--status", "suspended", "--json"]);
    assert_eq!(listed[0]["id"], key["id"]);
    assert_eq!(
        sandbox.json(&["keys", "list", "--status", "active", "--json"]),
        serde_json::json!([])
    );

    let resumed = sandbox.json(&["keys", "resume", id, "--json"]);
    assert_eq!(resumed["status"], "active");
    let text = sandbox.ok(&["keys", "suspend", id]);
    assert!(text.stdout.contains("suspended"), "{text}");

    let revoked = sandbox.json(&["keys", "revoke", id, "--reason", "leaked", "--json"]);
    assert_eq!(revoked["status"], "revoked");
    sandbox
        .run(&["keys", "resume", id])
        .fails_with(1, "revoked");
    sandbox
        .run(&["keys", "suspend", id])
        .fails_with(1, "cannot become suspended");
    assert_eq!(
        sandbox.json(&["keys", "list", "--json"])[0]["status"],
        "revoked"
    );

    // Every change is in the audit trail, made by the CLI.
    let export = sandbox.ok(&["events", "export"]).stdout;
    let changes: Vec<serde_json::Value> = export
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["kind"] == "key.status_changed")
        .collect();
    let steps: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (str(&c["from"]), str(&c["to"])))
        .collect();
    assert_eq!(
        steps,
        [
            ("active", "suspended"),
            ("suspended", "active"),
            ("active", "suspended"),
            ("suspended", "revoked")
        ]
    );
    assert!(changes.iter().all(|c| c["actor"] == "cli"));
    assert_eq!(changes[0]["reason"], "resold on a forum");
}

#[test]
fn unknown_ids_are_not_found() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["keys", "create", "--account", "acct_01doesnotexist"])
        .fails_with(1, "not found");
    sandbox
        .run(&["accounts", "create", "--tenant", "ten_01doesnotexist"])
        .fails_with(1, "not found");
    sandbox
        .run(&["keys", "suspend", "key_01doesnotexist"])
        .fails_with(1, "not found");
    sandbox
        .run(&["keys", "list", "--account", "acct_01doesnotexist"])
        .fails_with(1, "not found");
    sandbox
        .run(&["accounts", "list", "--tenant", "ten_01doesnotexist"])
        .fails_with(1, "not found");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let sandbox = Sandbox::new();
    let tenant = sandbox.json(&["tenants", "create", "--json"]);
    let id = str(&tenant["id"]);
    sandbox
        .run(&[
            "accounts",
            "create",
            "--tenant",
            id,
            "--verification",
            "passport",
        ])
        .fails_with(2, "passport");
    sandbox
        .run(&[
            "accounts",
            "create",
            "--tenant",
            id,
            "--signal",
            "no-equals-sign",
        ])
        .fails_with(2, "KEY=VALUE");
    sandbox
        .run(&["keys", "create", "--account", "ten_wrong_kind"])
        .fails_with(2, "acct_");
    sandbox
        .run(&["keys", "list", "--status", "paused"])
        .fails_with(2, "paused");
    sandbox
        .run(&["events", "export", "--since", "last tuesday"])
        .fails_with(2, "RFC 3339");
}

#[test]
fn human_output_is_aligned_text() {
    let sandbox = Sandbox::new();
    let empty = sandbox.ok(&["keys", "list"]);
    assert_eq!(empty.stdout, "no keys\n");
    sandbox.key();
    let list = sandbox.ok(&["keys", "list"]);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].starts_with("ID "), "{list}");
    // Columns line up on screen (in characters: the prefix ends in `…`): the STATUS
    // header sits above `active`.
    let column = lines[0].find("STATUS").unwrap();
    let below: String = lines[1].chars().skip(column).take(6).collect();
    assert_eq!(below, "active", "{list}");
}
