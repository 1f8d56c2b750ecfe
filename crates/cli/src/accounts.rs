//! `bulwark accounts …`

use anyhow::bail;
use bulwark_config::Config;
use bulwark_core::{Account, Client};
use bulwark_identity::NewAccount;

use crate::{
    UsageError,
    cli::{AccountsAction, CreateAccountArgs},
    context,
    output::{self, Table, or_dash},
};

pub(crate) async fn run(config: &Config, action: AccountsAction) -> anyhow::Result<()> {
    let directory = context::open_directory(config).await?;
    match action {
        AccountsAction::Create(args) => {
            let json = args.json;
            let new = new_account(args)?;
            let (account, _event) = directory.create_account(new).await?;
            if json {
                output::json(&account)
            } else {
                output::line(format_args!(
                    "created account {} in tenant {}",
                    account.id, account.tenant
                ))?;
                Ok(table(&[account]).print("")?)
            }
        }
        AccountsAction::List { tenant, json } => {
            if let Some(id) = &tenant
                && directory.get_tenant(id).await?.is_none()
            {
                bail!("tenant `{id}` not found");
            }
            let accounts = directory.list_accounts(tenant.as_ref()).await?;
            if json {
                output::json(&accounts)
            } else {
                Ok(table(&accounts).print("no accounts")?)
            }
        }
    }
}

/// The account request; `--signal` pairs become the `account.created` event's `signals`.
fn new_account(args: CreateAccountArgs) -> anyhow::Result<NewAccount> {
    let mut signals = serde_json::Map::new();
    for (key, value) in args.signals {
        if signals.contains_key(&key) {
            return Err(UsageError(format!("`--signal {key}=…` is given twice")).into());
        }
        signals.insert(key, value.into());
    }
    Ok(NewAccount {
        tenant: args.tenant,
        name: args.name,
        verification: args.verification,
        client: Client {
            ip: args.client_ip,
            user_agent: args.user_agent,
            country: None,
            asn: None,
        },
        signals,
    })
}

fn table(accounts: &[Account]) -> Table {
    let mut table = Table::new(&["ID", "TENANT", "NAME", "VERIFICATION", "CREATED"]);
    for account in accounts {
        table.row(vec![
            account.id.to_string(),
            account.tenant.to_string(),
            or_dash(account.name.as_ref()),
            account.verification.to_string(),
            account.created_at.to_string(),
        ]);
    }
    table
}
