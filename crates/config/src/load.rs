//! Reading the configuration: defaults < file < `BULWARK_` environment < command line.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};

use crate::{Config, ConfigError, RawConfig};

/// Environment variables starting with this prefix override file settings; `__` separates
/// nesting levels: `BULWARK_SERVER__LISTEN`, `BULWARK_ADMIN__TOKEN`. A variable that names
/// no setting is an error, like an unknown field in the file.
pub const ENV_PREFIX: &str = "BULWARK_";

/// The file read when `--config` is not given, if it exists.
const DEFAULT_FILE: &str = "bulwark.toml";

/// Where to read the configuration from, and the command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config FILE`: must exist. `None`: `./bulwark.toml` if present, else defaults.
    pub file: Option<PathBuf>,
    /// `--listen ADDR`
    pub listen: Option<String>,
    /// `--data-dir DIR`
    pub data_dir: Option<PathBuf>,
    /// Read `BULWARK_*` variables from the process environment (on by default in the
    /// binary; tests turn it off to stay deterministic).
    pub ignore_env: bool,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("configuration file `{0}` does not exist")]
    Missing(PathBuf),
    #[error("cannot read the configuration: {0}")]
    Parse(String),
    #[error("invalid configuration{}", .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Invalid(Vec<ConfigError>),
}

/// Loads, merges and validates. The returned `Config` is complete; nothing has been
/// started or bound.
pub fn load(options: &LoadOptions) -> Result<(Config, Option<PathBuf>), LoadError> {
    let file = match &options.file {
        Some(path) if !path.is_file() => return Err(LoadError::Missing(path.clone())),
        Some(path) => Some(path.clone()),
        None => Path::new(DEFAULT_FILE)
            .is_file()
            .then(|| PathBuf::from(DEFAULT_FILE)),
    };

    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    if let Some(path) = &file {
        figment = figment.merge(Toml::file(path));
    } else {
        // No file at all: an empty configuration is a valid version 1 configuration.
        figment = figment.merge(Serialized::default("version", 1));
    }
    if !options.ignore_env {
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
    }
    if let Some(listen) = &options.listen {
        figment = figment.merge(Serialized::default("server.listen", listen));
    }
    if let Some(dir) = &options.data_dir {
        figment = figment.merge(Serialized::default(
            "server.data_dir",
            dir.display().to_string(),
        ));
    }

    let raw: RawConfig = figment.extract().map_err(|e| {
        LoadError::Parse(
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let config =
        Config::from_raw(&raw, &|name| std::env::var(name).ok()).map_err(LoadError::Invalid)?;
    Ok((config, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(file: &Path) -> LoadOptions {
        LoadOptions {
            file: Some(file.to_owned()),
            ignore_env: true,
            ..Default::default()
        }
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(
            &path,
            "version = 1\n[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
        )
        .unwrap();
        let err = load(&options(&path)).unwrap_err().to_string();
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn command_line_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(
            &path,
            "version = 1\n[server]\nlisten = \"127.0.0.1:1\"\ndata_dir = \"/a\"\n",
        )
        .unwrap();
        let mut opts = options(&path);
        opts.listen = Some("127.0.0.1:9".into());
        let (config, file) = load(&opts).unwrap();
        assert_eq!(config.server.listen.port(), 9);
        assert_eq!(config.server.data_dir, PathBuf::from("/a"));
        assert_eq!(file.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = load(&options(Path::new("/nonexistent/bulwark.toml"))).unwrap_err();
        assert!(matches!(err, LoadError::Missing(_)));
    }

    #[test]
    fn moderation_section_is_optional_but_complete_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "version = 1\n").unwrap();
        let (config, _) = load(&options(&path)).unwrap();
        assert_eq!(config.moderation.from, "built-in default");
        std::fs::write(
            &path,
            "version = 1\n[moderation]\nstream_window = 16\n[moderation.policy]\ncyber = \"allow\"\n",
        )
        .unwrap();
        let err = load(&options(&path)).unwrap_err().to_string();
        assert!(err.contains("moderation.fail_mode"), "{err}");
        std::fs::write(
            &path,
            "version = 1\n[moderation]\nfail_mode = \"open\"\n[moderation.policy]\ncyber = { input = \"flag\" }\n",
        )
        .unwrap();
        let (config, _) = load(&options(&path)).unwrap();
        assert_eq!(config.moderation.fail_mode, crate::FailMode::Open);
    }

    #[test]
    fn file_without_version_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "[server]\n").unwrap();
        let err = load(&options(&path)).unwrap_err().to_string();
        assert!(err.contains("version"), "{err}");
    }
}
