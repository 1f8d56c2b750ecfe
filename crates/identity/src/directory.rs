use std::sync::Arc;

use bulwark_core::{
    Account, AccountCreated, AccountId, Client, Event, EventBody, KeyCreated, KeyId, KeyRecord,
    KeyStatus, Tenant, TenantId, Timestamp, Verification,
};
use bulwark_store::{KeyFilter, StatusChange, StatusChangeOutcome, Store, StoreError, StoredKey};

use crate::{KeyHasher, KeySecret};

/// Why a directory operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The request itself is unacceptable (a bad name, an empty model pattern).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new account's details.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub tenant: TenantId,
    pub name: Option<String>,
    pub verification: Verification,
    /// Where the sign-up came from, as the operator reports it.
    pub client: Client,
    /// Sign-up signals (`email_domain`, `device_id`, `payment_fingerprint`, …).
    pub signals: serde_json::Map<String, serde_json::Value>,
}

/// A new key's details.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub account: Option<AccountId>,
    pub name: Option<String>,
    pub models: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// A key that was just created: the only moment its secret exists outside its owner.
#[derive(Debug)]
pub struct CreatedKey {
    pub record: KeyRecord,
    pub secret: KeySecret,
    /// The `key.created` event, already stored; publish it for live subscribers.
    pub event: Event,
}

const MAX_NAME: usize = 200;
const MAX_MODELS: usize = 64;
const MAX_SIGNALS: usize = 64;

/// The management operations shared by the CLI and the admin API.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    hasher: KeyHasher,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, hasher: KeyHasher) -> Self {
        Self { store, hasher }
    }

    /// The store behind this directory.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub async fn create_tenant(&self, name: Option<String>) -> Result<Tenant, DirectoryError> {
        let name = check_name(name)?.unwrap_or_default();
        let tenant = Tenant {
            id: TenantId::generate(),
            name,
            created_at: Timestamp::now(),
        };
        self.store.create_tenant(&tenant).await?;
        Ok(tenant)
    }

    /// Creates an account and returns it with its stored `account.created` event.
    pub async fn create_account(
        &self,
        new: NewAccount,
    ) -> Result<(Account, Event), DirectoryError> {
        let name = check_name(new.name)?;
        if new.signals.len() > MAX_SIGNALS {
            return Err(DirectoryError::Invalid(format!(
                "at most {MAX_SIGNALS} sign-up signals"
            )));
        }
        let account = Account {
            id: AccountId::generate(),
            tenant: new.tenant,
            name,
            verification: new.verification,
            created_at: Timestamp::now(),
        };
        let event = Event::new(
            Some(account.tenant.clone()),
            Some(account.id.clone()),
            None,
            EventBody::AccountCreated(AccountCreated {
                verification: account.verification,
                client: new.client,
                signals: new.signals,
            }),
        );
        self.store.create_account(&account, &event).await?;
        Ok((account, event))
    }

    /// Mints a key for an account. The secret is in the result and nowhere else.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey, DirectoryError> {
        let name = check_name(new.name)?;
        let account_id = new
            .account
            .ok_or_else(|| DirectoryError::Invalid("an account is required".into()))?;
        if new.models.len() > MAX_MODELS
            || new
                .models
                .iter()
                .any(|m| m.trim().is_empty() || m.len() > 200)
        {
            return Err(DirectoryError::Invalid(format!(
                "models must be at most {MAX_MODELS} non-empty patterns such as `gpt-4o` or `gpt-4o-*`"
            )));
        }
        if new.rpm == Some(0) || new.tpm == Some(0) {
            return Err(DirectoryError::Invalid(
                "rpm and tpm must be positive; omit them for no limit".into(),
            ));
        }
        let account = self
            .store
            .get_account(&account_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account `{account_id}`")))?;
        let secret = KeySecret::generate();
        let now = Timestamp::now();
        let record = KeyRecord {
            id: KeyId::generate(),
            tenant: account.tenant.clone(),
            account: account.id.clone(),
            name,
            prefix: secret.visible_prefix(),
            models: new.models.iter().map(|m| m.trim().to_owned()).collect(),
            rpm: new.rpm,
            tpm: new.tpm,
            status: KeyStatus::Active,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let event = Event::new(
            Some(record.tenant.clone()),
            Some(record.account.clone()),
            Some(record.id.clone()),
            EventBody::KeyCreated(KeyCreated {
                name: record.name.clone(),
                models: record.models.clone(),
                rpm: record.rpm,
                tpm: record.tpm,
            }),
        );
        let stored = StoredKey {
            hash: self.hasher.hash(secret.expose()),
            record,
        };
        let record = self.store.create_key(&stored, &event).await?;
        Ok(CreatedKey {
            record,
            secret,
            event,
        })
    }

    /// Suspends, resumes or revokes a key; revocation is final.
    pub async fn set_key_status(
        &self,
        key: KeyId,
        to: KeyStatus,
        reason: Option<String>,
        actor: &str,
    ) -> Result<StatusChangeOutcome, DirectoryError> {
        let reason = check_name(reason)?;
        Ok(self
            .store
            .set_key_status(&StatusChange {
                key,
                to,
                reason,
                actor: actor.to_owned(),
            })
            .await?)
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, DirectoryError> {
        Ok(self.store.list_tenants().await?)
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DirectoryError> {
        Ok(self.store.get_tenant(id).await?)
    }

    pub async fn list_accounts(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<Account>, DirectoryError> {
        Ok(self.store.list_accounts(tenant).await?)
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError> {
        Ok(self.store.get_account(id).await?)
    }

    pub async fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, DirectoryError> {
        Ok(self.store.list_keys(filter).await?)
    }

    pub async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, DirectoryError> {
        Ok(self.store.get_key(id).await?)
    }
}

fn check_name(name: Option<String>) -> Result<Option<String>, DirectoryError> {
    match name.map(|n| n.trim().to_owned()) {
        Some(n) if n.chars().count() > MAX_NAME => Err(DirectoryError::Invalid(format!(
            "names and reasons are at most {MAX_NAME} characters"
        ))),
        Some(n) if n.chars().any(char::is_control) => Err(DirectoryError::Invalid(
            "names and reasons must not contain control characters".into(),
        )),
        Some(n) if n.is_empty() => Ok(None),
        other => Ok(other),
    }
}
