//! Opening the data directory the way the server does, so that the CLI and a running
//! gateway share one database and one pepper (SQLite in WAL mode serves both processes).

use std::sync::Arc;

use anyhow::Context as _;
use bulwark_config::Config;
use bulwark_identity::{Directory, KeyHasher, Pepper};
use bulwark_store::SqliteStore;

/// Opens (creating if needed) the store in `config.server.data_dir`.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    let dir = config.server.data_dir.clone();
    let shown = dir.display().to_string();
    // Opening migrates the schema: blocking work, kept off the runtime threads.
    tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .context("the store task failed")?
        .with_context(|| format!("cannot open the store in `{shown}`"))
}

/// The tenant / account / key operations on the configured data directory.
pub(crate) async fn open_directory(config: &Config) -> anyhow::Result<Directory> {
    let store = open_store(config).await?;
    let pepper = Pepper::load_or_create(&config.server.data_dir)?;
    Ok(Directory::new(Arc::new(store), KeyHasher::new(&pepper)))
}
