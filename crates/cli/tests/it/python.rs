//! The official `openai` Python package against `bulwark serve`: the compatibility that
//! matters to users. Needs `pip install -r tests/python/requirements.txt`; without it the
//! test fails rather than passing silently.

use std::process::Command;

use crate::support::{Sandbox, Server, str};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/python/openai_client.py"
);

/// The interpreter: `$PYTHON` when set (a virtualenv's), else `python3` from `PATH`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[test]
fn the_openai_python_client_works_through_the_gateway() {
    let probe = Command::new(python())
        .args(["-c", "import openai"])
        .output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "install the Python test dependencies: pip install -r tests/python/requirements.txt\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => {
            panic!(
                "install the Python test dependencies: pip install -r tests/python/requirements.txt ({error})"
            )
        }
    }

    let sandbox = Sandbox::new();
    let server = Server::start(&sandbox);
    let (_, key) = sandbox.key();

    let output = Command::new(python())
        .arg(SCRIPT)
        .arg(format!("{}/v1", server.url))
        .arg(str(&key["secret"]))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openai_client.py failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{}",
        output.status,
        server.stderr_text()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert_eq!(server.stop(), 0);
}
