//! `bulwark alerts export`: stored alerts as JSON lines (schema v1, `docs/alerts.md`), one
//! alert per line, in `(ts, id)` order, exactly as they were stored.

use bulwark_config::Config;
use bulwark_store::{AlertQuery, SqliteStore, Store};

use crate::{cli::ExportArgs, events::export_pages};

pub(crate) async fn export(config: &Config, args: &ExportArgs) -> anyhow::Result<()> {
    export_pages(
        config,
        args,
        "alerts",
        async |store: &SqliteStore, query: &AlertQuery| store.alerts_page(query).await,
    )
    .await
}
