//! Serializing a typical `api.request` event: `Event::write_json` (the store's and the
//! export's path) against `serde_json::to_writer` on the same event, in the same run.
//!
//! `cargo bench -p bulwark-core --bench event_json`

use std::hint::black_box;

use bulwark_core::{
    AccountId, ApiRequest, Client, Decision, Event, EventBody, KeyId, TenantId, TextDigest, Usage,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn typical() -> Event {
    Event::new(
        Some(TenantId::generate()),
        Some(AccountId::generate()),
        Some(KeyId::generate()),
        EventBody::ApiRequest(ApiRequest {
            client: Client {
                ip: Some([203, 0, 113, 7].into()),
                user_agent: Some("OpenAI/Python 1.51.0".into()),
                country: None,
                asn: None,
            },
            endpoint: "chat.completions".into(),
            model: Some("gpt-4o-mini".into()),
            stream: false,
            status: 200,
            decision: Decision::Allowed,
            latency_ms: 0.412,
            upstream_ms: Some(0.310),
            usage: Some(Usage {
                prompt_tokens: 212,
                completion_tokens: 93,
                estimated: false,
            }),
            input: Some(TextDigest::of(&"a support question ".repeat(50), false)),
            output: Some(TextDigest::of(&"an answer ".repeat(48), false)),
            method: Some("POST".into()),
            path: Some("/v1/chat/completions".into()),
            upstream: Some("sim".into()),
            error: None,
            moderation: None,
        }),
    )
}

fn event_json(c: &mut Criterion) {
    let event = typical();
    let mut out = Vec::with_capacity(2048);
    let mut group = c.benchmark_group("api.request");
    group.bench_function("write_json", |b| {
        b.iter(|| {
            out.clear();
            black_box(&event).write_json(&mut out);
            black_box(out.len())
        });
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(&event)).ok();
            black_box(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, event_json);
criterion_main!(benches);
