//! `bulwark config check`: the same validation as `serve`, exit 2 when it fails.

use crate::support::Sandbox;

fn check(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> crate::support::Run {
    let mut command = sandbox.command(&[&["config", "check"], args].concat());
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    crate::support::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        args: format!("config check {}", args.join(" ")),
    }
}

#[test]
fn defaults_are_valid_and_printed() {
    let sandbox = Sandbox::new();
    let run = check(&sandbox, &[], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("listen = \"127.0.0.1:8080\""), "{run}");
    assert!(
        run.stdout.contains("data_dir = \"./bulwark-data\""),
        "{run}"
    );
    assert!(
        run.stdout.trim_end().ends_with("# configuration is valid"),
        "{run}"
    );
}

#[test]
fn an_unknown_field_is_named() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("bulwark.toml");
    std::fs::write(
        &file,
        "version = 1\n[server]\nlisten = \"127.0.0.1:8080\"\nlisten_port = 3\n",
    )
    .unwrap();
    check(&sandbox, &["--config", file.to_str().unwrap()], &[]).fails_with(2, "listen_port");
    // ./bulwark.toml is read without --config, and `serve` refuses it the same way.
    check(&sandbox, &[], &[]).fails_with(2, "listen_port");
    let serve = sandbox.run(&["serve", "--listen", "127.0.0.1:0"]);
    serve.fails_with(2, "listen_port");
    assert!(!serve.stdout.contains("listening"), "{serve}");
}

#[test]
fn a_public_listen_address_needs_an_admin_token() {
    let sandbox = Sandbox::new();
    let run = check(&sandbox, &["--listen", "0.0.0.0:8080"], &[]);
    run.fails_with(2, "admin.token");
    assert!(run.stdout.is_empty(), "{run}");

    let token = "0123456789abcdef-not-a-real-token";
    let run = check(
        &sandbox,
        &["--listen", "0.0.0.0:8080"],
        &[("BULWARK_ADMIN__TOKEN", token)],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stdout.contains(token), "the token is masked: {run}");
}

#[test]
fn every_error_is_listed() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("many.toml");
    std::fs::write(
        &file,
        "version = 1\n[server]\nlisten = \"0.0.0.0:8080\"\nclient_timeout = \"soon\"\n[log]\nformat = \"xml\"\n",
    )
    .unwrap();
    let run = check(&sandbox, &["--config", file.to_str().unwrap()], &[]);
    for field in ["admin.token", "server.client_timeout", "log.format"] {
        run.fails_with(2, field);
    }
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("b.toml");
    std::fs::write(
        &file,
        "version = 1\n[server]\nlisten = \"127.0.0.1:7000\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();

    let run = check(
        &sandbox,
        &["--config", config],
        &[("BULWARK_SERVER__LISTEN", "127.0.0.1:7001")],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("listen = \"127.0.0.1:7001\""), "{run}");
    assert!(run.stdout.contains("b.toml"), "names its file: {run}");

    let run = check(
        &sandbox,
        &["--config", config, "--listen", "127.0.0.1:7002"],
        &[("BULWARK_SERVER__LISTEN", "127.0.0.1:7001")],
    );
    assert!(run.stdout.contains("listen = \"127.0.0.1:7002\""), "{run}");
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let sandbox = Sandbox::new();
    check(&sandbox, &["--config", "nope.toml"], &[]).fails_with(2, "nope.toml");
    sandbox
        .run(&["tenants", "list", "--config", "nope.toml"])
        .fails_with(2, "does not exist");
}

#[test]
fn a_bad_log_filter_is_a_usage_error() {
    let sandbox = Sandbox::new();
    check(&sandbox, &["--log-level", "bulwark=loud"], &[]).fails_with(2, "log level");
}

#[test]
fn logs_go_to_stderr_in_the_format_asked_for() {
    let sandbox = Sandbox::new();
    // Opening a fresh data directory migrates its schema, which is logged at info.
    let run = sandbox.ok(&["tenants", "create", "--json", "--log-format", "json"]);
    assert!(
        run.json()["id"].is_string(),
        "stdout holds only the result: {run}"
    );
    let logs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!logs.is_empty(), "{run}");
    assert!(logs.iter().all(|l| l["level"].is_string()), "{run}");

    // `[log]` in the configuration is the default; the flag overrides it.
    let file = sandbox.path().join("quiet.toml");
    std::fs::write(&file, "version = 1\n[log]\nlevel = \"error\"\n").unwrap();
    let other = Sandbox::new();
    let run = other.ok(&["tenants", "list", "--config", file.to_str().unwrap()]);
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn moderation_defaults_are_shown_and_a_section_must_state_its_fail_mode() {
    let sandbox = Sandbox::new();
    let run = check(&sandbox, &[], &[]);
    assert_eq!(run.code, 0, "{run}");
    for line in [
        "[moderation]",
        "from = \"built-in default\"",
        "fail_mode = \"closed\"",
        "\"cyber/phishing\" = \"block\"",
    ] {
        assert!(run.stdout.contains(line), "missing {line}: {run}");
    }

    let file = sandbox.path().join("bulwark.toml");
    std::fs::write(
        &file,
        "version = 1\n[moderation]\n[moderation.policy]\ncyber = \"allow\"\n",
    )
    .unwrap();
    check(&sandbox, &[], &[]).fails_with(2, "moderation.fail_mode");
    // The environment can state it, like any other setting.
    let run = check(&sandbox, &[], &[("BULWARK_MODERATION__FAIL_MODE", "open")]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("\"cyber/malware\" = \"allow\""),
        "{run}"
    );

    // The example file is valid and means what no section means.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bulwark.example.toml");
    let run = check(&sandbox, &["--config", example], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("from = \"configuration\""), "{run}");
}
