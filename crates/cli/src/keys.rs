//! `bulwark keys …`: the only place a key's secret is ever shown, once, at creation.

use anyhow::bail;
use bulwark_config::Config;
use bulwark_core::{KeyRecord, KeyStatus};
use bulwark_identity::{Directory, DirectoryError, NewKey};
use bulwark_store::{KeyFilter, StoreError};

use crate::{
    cli::{ChangeKeyArgs, CreateKeyArgs, KeysAction},
    context,
    output::{self, Table, or_dash},
};

/// Recorded as the actor of status changes made here.
const ACTOR: &str = "cli";

pub(crate) async fn run(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    let directory = context::open_directory(config).await?;
    match action {
        KeysAction::Create(args) => create(&directory, args).await,
        KeysAction::List {
            tenant,
            account,
            status,
            json,
        } => {
            if let Some(id) = &tenant
                && directory.get_tenant(id).await?.is_none()
            {
                bail!("tenant `{id}` not found");
            }
            if let Some(id) = &account
                && directory.get_account(id).await?.is_none()
            {
                bail!("account `{id}` not found");
            }
            let keys = directory
                .list_keys(&KeyFilter {
                    tenant,
                    account,
                    status,
                })
                .await?;
            if json {
                output::json(&keys)
            } else {
                Ok(table(&keys).print("no keys")?)
            }
        }
        KeysAction::Revoke(args) => change(&directory, KeyStatus::Revoked, args).await,
        KeysAction::Suspend(args) => change(&directory, KeyStatus::Suspended, args).await,
        KeysAction::Resume(args) => change(&directory, KeyStatus::Active, args).await,
    }
}

async fn create(directory: &Directory, args: CreateKeyArgs) -> anyhow::Result<()> {
    let models = args
        .models
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let created = directory
        .create_key(NewKey {
            account: Some(args.account),
            name: args.name,
            models,
            rpm: args.rpm,
            tpm: args.tpm,
        })
        .await?;
    let record = &created.record;
    let secret = created.secret.expose();
    if args.json {
        return output::json_with(record, &[("secret", secret)]);
    }
    let text = format!(
        "created key {id} for account {account} (tenant {tenant})\n\
         \n    {secret}\n\n\
         Copy this secret now: it will not be shown again (Bulwark stores only a keyed hash of it).\n\
         From now on, refer to the key by its id: {id}\n\
         \n{table}",
        id = record.id,
        account = record.account,
        tenant = record.tenant,
        table = table(std::slice::from_ref(record)).render(""),
    );
    output::line(text.trim_end())?;
    Ok(())
}

async fn change(directory: &Directory, to: KeyStatus, args: ChangeKeyArgs) -> anyhow::Result<()> {
    let outcome = match directory
        .set_key_status(args.key, to, args.reason, ACTOR)
        .await
    {
        Ok(outcome) => outcome,
        Err(error @ DirectoryError::Store(StoreError::InvalidTransition { .. })) => {
            bail!("{error} (revocation is final: create a new key instead)")
        }
        Err(error) => return Err(error.into()),
    };
    let record = &outcome.record;
    if args.json {
        return output::json(record);
    }
    if outcome.event.is_none() {
        output::line(format_args!(
            "key {} is already {}: nothing changed",
            record.id, record.status
        ))?;
    } else {
        output::line(format_args!("key {} is now {}", record.id, record.status))?;
    }
    Ok(())
}

fn table(keys: &[KeyRecord]) -> Table {
    let mut table = Table::new(&[
        "ID", "ACCOUNT", "NAME", "PREFIX", "STATUS", "MODELS", "RPM", "TPM", "CREATED",
    ]);
    for key in keys {
        table.row(vec![
            key.id.to_string(),
            key.account.to_string(),
            or_dash(key.name.as_ref()),
            format!("{}…", key.prefix),
            key.status.to_string(),
            if key.models.is_empty() {
                "*".to_owned()
            } else {
                key.models.join(",")
            },
            or_dash(key.rpm),
            or_dash(key.tpm),
            key.created_at.to_string(),
        ]);
    }
    table
}
