//! `bulwark tenants …`

use bulwark_config::Config;
use bulwark_core::Tenant;

use crate::{
    cli::TenantsAction,
    context,
    output::{self, Table},
};

pub(crate) async fn run(config: &Config, action: TenantsAction) -> anyhow::Result<()> {
    let directory = context::open_directory(config).await?;
    match action {
        TenantsAction::Create { name, json } => {
            let tenant = directory.create_tenant(name).await?;
            if json {
                output::json(&tenant)
            } else {
                output::line(format_args!("created tenant {}", tenant.id))?;
                Ok(table(&[tenant]).print("")?)
            }
        }
        TenantsAction::List { json } => {
            let tenants = directory.list_tenants().await?;
            if json {
                output::json(&tenants)
            } else {
                Ok(table(&tenants).print("no tenants")?)
            }
        }
    }
}

fn table(tenants: &[Tenant]) -> Table {
    let mut table = Table::new(&["ID", "NAME", "CREATED"]);
    for tenant in tenants {
        table.row(vec![
            tenant.id.to_string(),
            if tenant.name.is_empty() {
                "-".to_owned()
            } else {
                tenant.name.clone()
            },
            tenant.created_at.to_string(),
        ]);
    }
    table
}
