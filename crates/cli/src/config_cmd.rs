//! `bulwark config check`: the validation `serve` runs, without starting anything.

use std::path::Path;

use bulwark_config::Config;

use crate::output;

/// Prints the effective configuration (secrets masked). Invalid configurations never get
/// here: `main` reports them (every error, exit 2) for `serve` and `config check` alike.
pub(crate) fn check(config: &Config, file: Option<&Path>) -> anyhow::Result<()> {
    let source = match file {
        Some(path) => format!(
            "# effective configuration: `{}`, BULWARK_* environment, flags",
            path.display()
        ),
        None => {
            "# effective configuration: defaults (no file), BULWARK_* environment, flags".to_owned()
        }
    };
    output::line(format_args!(
        "{source}\n{}\n# configuration is valid",
        config.to_toml().trim_end()
    ))?;
    Ok(())
}
