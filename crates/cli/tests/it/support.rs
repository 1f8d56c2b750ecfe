//! Running the real `bulwark` binary: one-shot commands, and `serve` as a child process.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;
use tempfile::TempDir;

/// A scratch directory: the working directory of every command (so no `./bulwark.toml`
/// from elsewhere is read) holding the data directory `data/`.
pub(crate) struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `bulwark ARGS…` in this sandbox, with no `BULWARK_*` variable inherited.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        command
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BULWARK_") {
                command.env_remove(name);
            }
        }
        command
    }

    /// Runs `bulwark ARGS… --data-dir DATA` to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let data = self.data_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", data.to_str().unwrap()]);
        Run::from(self.command(&all).output().unwrap(), &all)
    }

    /// Like [`Sandbox::run`], and the command must succeed.
    pub(crate) fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{run}");
        run
    }

    /// Like [`Sandbox::ok`], parsing stdout as JSON.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        self.ok(args).json()
    }

    /// A tenant, an account in it and a key for it: `(account id, key JSON with secret)`.
    pub(crate) fn key(&self) -> (String, Value) {
        let tenant = self.json(&["tenants", "create", "--name", "Acme", "--json"]);
        let account = self.json(&[
            "accounts",
            "create",
            "--tenant",
            str(&tenant["id"]),
            "--json",
        ]);
        let account = str(&account["id"]).to_owned();
        let key = self.json(&["keys", "create", "--account", &account, "--json"]);
        (account, key)
    }
}

/// A finished command.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) args: String,
}

impl Run {
    fn from(output: Output, args: &[&str]) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
            args: args.join(" "),
        }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    /// Asserts a failure with `code` whose stderr mentions `text`.
    pub(crate) fn fails_with(&self, code: i32, text: &str) {
        assert_eq!(self.code, code, "{self}");
        assert!(self.stderr.contains(text), "stderr lacks {text:?}: {self}");
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`bulwark {}` exited {}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

/// A JSON string field, or a failed test.
pub(crate) fn str(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// `bulwark serve` running in the background; killed if the test ends without
/// [`Server::stop`].
pub(crate) struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub(crate) url: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `bulwark serve --listen 127.0.0.1:0 --data-dir DATA` (no configuration file:
    /// the built-in simulator) and waits for its `listening on` line.
    pub(crate) fn start(sandbox: &Sandbox) -> Self {
        let data = sandbox.data_dir();
        let mut child = sandbox
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // Drain stderr on a thread so the server never blocks on a full pipe; keep it for
        // failure messages.
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (line_tx, line_rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            let _ = line_tx.send(lines.next().and_then(Result::ok));
            // Anything more on stdout breaks the one-line contract; keep reading so it shows.
            for line in lines.map_while(Result::ok) {
                eprintln!("unexpected stdout from serve: {line}");
            }
        });
        let mut server = Self {
            child: Some(child),
            url: String::new(),
            stderr,
        };
        let line = match line_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(line)) => line,
            other => panic!(
                "no `listening on` line ({other:?}); stderr:\n{}",
                server.stderr_text()
            ),
        };
        let url = line
            .strip_prefix("bulwark listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        server.url = url.to_owned();
        server
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What the server logged so far.
    pub(crate) fn stderr_text(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Sends SIGTERM and returns the exit code (waiting at most 30 s).
    pub(crate) fn stop(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // `None` means a signal ended it: the handler did not run.
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "serve did not exit within 30 s of SIGTERM; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every file under `dir`, recursively.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
