//! Fixtures: a store in a temporary directory and builders for its objects.

use bulwark_core::{
    Account, AccountCreated, AccountId, ApiRequest, Client, Decision, Event, EventBody, EventId,
    KeyCreated, KeyHash, KeyId, KeyRecord, KeyStatus, Tenant, TenantId, Timestamp, Verification,
};
use bulwark_store::{EventQuery, EventRow, SqliteStore, Store, StoredKey};
use tempfile::TempDir;

/// A store on a fresh directory; keep the `TempDir` alive as long as the store.
pub(crate) fn store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, store)
}

pub(crate) fn tenant(name: &str) -> Tenant {
    Tenant {
        id: TenantId::generate(),
        name: name.to_owned(),
        created_at: Timestamp::now(),
    }
}

pub(crate) fn account(tenant: &TenantId) -> (Account, Event) {
    let account = Account {
        id: AccountId::generate(),
        tenant: tenant.clone(),
        name: Some("build bot".to_owned()),
        verification: Verification::Email,
        created_at: Timestamp::now(),
    };
    let mut signals = serde_json::Map::new();
    signals.insert("email_domain".to_owned(), "example.com".into());
    let event = Event::new(
        Some(tenant.clone()),
        Some(account.id.clone()),
        None,
        EventBody::AccountCreated(AccountCreated {
            verification: account.verification,
            client: Client::default(),
            signals,
        }),
    );
    (account, event)
}

pub(crate) fn key(account: &Account) -> (StoredKey, Event) {
    let now = Timestamp::now();
    let record = KeyRecord {
        id: KeyId::generate(),
        tenant: account.tenant.clone(),
        account: account.id.clone(),
        name: Some("ci".to_owned()),
        prefix: "bw-live-AbCd".to_owned(),
        models: vec!["gpt-4o".to_owned(), "gpt-4o-*".to_owned()],
        rpm: Some(60),
        tpm: Some(100_000),
        status: KeyStatus::Active,
        created_at: now,
        updated_at: now,
        // Ignored by the store, which assigns its own.
        version: 999,
    };
    let event = key_created(&record);
    (
        StoredKey {
            record,
            hash: KeyHash(rand::random()),
        },
        event,
    )
}

pub(crate) fn key_created(record: &KeyRecord) -> Event {
    Event::new(
        Some(record.tenant.clone()),
        Some(record.account.clone()),
        Some(record.id.clone()),
        EventBody::KeyCreated(KeyCreated {
            name: record.name.clone(),
            models: record.models.clone(),
            rpm: record.rpm,
            tpm: record.tpm,
        }),
    )
}

/// A tenant with one account, stored.
pub(crate) async fn seed(store: &SqliteStore) -> (Tenant, Account) {
    let tenant = tenant("acme");
    store.create_tenant(&tenant).await.unwrap();
    let (account, event) = account(&tenant.id);
    store.create_account(&account, &event).await.unwrap();
    (tenant, account)
}

/// A stored key of `account`, with its assigned version.
pub(crate) async fn seed_key(store: &SqliteStore, account: &Account) -> KeyRecord {
    let (key, event) = key(account);
    store.create_key(&key, &event).await.unwrap()
}

/// A small `api.request` event at `ts_ms`.
pub(crate) fn api_event(ts_ms: i64) -> Event {
    Event {
        v: bulwark_core::SCHEMA_VERSION,
        id: EventId::generate(),
        ts: Timestamp::from_unix_millis(ts_ms).unwrap(),
        tenant: Some(TenantId::parse("ten_t").unwrap()),
        account: Some(AccountId::parse("acct_a").unwrap()),
        key: Some(KeyId::parse("key_k").unwrap()),
        body: EventBody::ApiRequest(ApiRequest {
            client: Client::default(),
            endpoint: "chat.completions".to_owned(),
            model: Some("gpt-4o-mini".to_owned()),
            stream: false,
            status: 200,
            decision: Decision::Allowed,
            latency_ms: 12.5,
            upstream_ms: Some(11.0),
            usage: None,
            input: None,
            output: None,
            method: None,
            path: None,
            upstream: None,
            error: None,
            moderation: None,
        }),
    }
}

/// Every stored event in `[since, until)`, read page by page until an empty one.
pub(crate) async fn read_all(
    store: &SqliteStore,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    page: usize,
) -> Vec<EventRow> {
    let mut out: Vec<EventRow> = Vec::new();
    loop {
        let query = EventQuery {
            since,
            until,
            after: out.last().map(|row| (row.ts, row.id.clone())),
            limit: page,
        };
        let rows = store.events_page(&query).await.unwrap();
        assert!(rows.len() <= page);
        // A short page is not proof of the end: the store may cap the page size.
        if rows.is_empty() {
            return out;
        }
        out.extend(rows);
    }
}

/// The stored events, parsed.
pub(crate) async fn stored_events(store: &SqliteStore) -> Vec<Event> {
    read_all(store, None, None, 1000)
        .await
        .iter()
        .map(|row| Event::from_json(&row.json).unwrap())
        .collect()
}
