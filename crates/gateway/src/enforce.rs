//! The moderation phases of the request pipeline: the prompt before it is forwarded, and
//! a whole (non-streamed) answer before it is returned. Streams are moderated as they are
//! relayed ([`crate::guard`]), uploads as they are forwarded ([`crate::upload`]).

use std::sync::Arc;

use bulwark_config::{Action, FailMode};
use bulwark_core::{Category, Decision};
use bulwark_moderation::Side;
use bytes::Bytes;
use serde_json::Value;

use crate::{
    endpoint::Endpoint,
    error::{Rejection, content_filter_result},
    guard::OutputGuard,
    moderate::{
        ScanFailure, Stage, blocked_categories, decide, merge_record, side_record, skipped_record,
    },
    record::RequestRecord,
    state::AppState,
    wire::ResponseView,
};

/// Whether the answers and prompts of this request are moderated.
pub(crate) fn applies(state: &AppState, endpoint: Endpoint) -> bool {
    state.moderation.enabled && endpoint.is_moderated()
}

/// The input phase: scans the prompt; a blocked prompt (or an unchecked one under
/// `fail_mode = "closed"`) never reaches the upstream.
pub(crate) async fn check_prompt(
    state: &AppState,
    record: &mut RequestRecord,
    text: &str,
) -> Result<(), Rejection> {
    if text.is_empty() {
        return Ok(());
    }
    let moderation = &state.moderation;
    let key = record.key.clone();
    let (fail_mode, policy) = moderation.for_tenant(key.as_ref().map(|k| &k.record.tenant));
    match moderation.scan(text, Side::Input, Stage::Input).await {
        Ok(verdict) => {
            let action = decide(&verdict, policy, Side::Input);
            record.moderation.input = Some(side_record(&verdict, action));
            if action == Action::Block {
                let blocked = blocked_categories(&verdict, policy, Side::Input);
                moderation.count_side_block(Side::Input, &blocked);
                return Err(Rejection::ContentFiltered {
                    detected: verdict.categories().collect(),
                    blocked,
                });
            }
            Ok(())
        }
        Err(_) => {
            record.moderation.input = Some(skipped_record());
            match fail_mode {
                FailMode::Open => Ok(()),
                FailMode::Closed => Err(Rejection::ModerationUnavailable),
            }
        }
    }
}

/// The guard for a streamed answer to this request.
pub(crate) fn stream_guard(state: &AppState, record: &RequestRecord) -> OutputGuard {
    let (fail_mode, policy) = state
        .moderation
        .for_tenant(record.key.as_ref().map(|k| &k.record.tenant));
    OutputGuard::new(
        Arc::clone(&state.moderation),
        *policy,
        fail_mode,
        record.endpoint,
    )
}

/// A choice that was blocked, with what was found in it.
struct Blocked {
    index: u64,
    detected: Vec<Category>,
    blocked: Vec<Category>,
}

/// The output phase of a whole answer: each choice is scanned; a blocked choice is
/// replaced by one with `finish_reason: "content_filter"` and no content (Responses API:
/// the response becomes `incomplete` with reason `content_filter` and no output).
pub(crate) async fn check_answer(
    state: &AppState,
    record: &mut RequestRecord,
    body: Bytes,
) -> Result<Bytes, Rejection> {
    let endpoint = record.endpoint;
    let moderation = &state.moderation;
    let key = record.key.clone();
    let (fail_mode, policy) = moderation.for_tenant(key.as_ref().map(|k| &k.record.tenant));
    // The view borrows the body; only the texts it yields outlive this line.
    let texts = ResponseView::parse(&body).map(|view| answer_texts(endpoint, &view));
    let texts = match texts {
        Ok(texts) => texts,
        // An answer the gateway cannot read cannot be checked: `fail_mode` decides.
        Err(_) => {
            moderation.count_skip(Stage::Output, ScanFailure::Panicked);
            record.moderation.output = Some(skipped_record());
            return match fail_mode {
                FailMode::Open => Ok(body),
                FailMode::Closed => Err(Rejection::ModerationUnavailable),
            };
        }
    };
    let mut blocked = Vec::new();
    for (index, text) in &texts {
        if text.is_empty() {
            continue;
        }
        match moderation.scan(text, Side::Output, Stage::Output).await {
            Ok(verdict) => {
                let action = decide(&verdict, policy, Side::Output);
                merge_record(&mut record.moderation.output, &verdict, action);
                if action == Action::Block {
                    let categories = blocked_categories(&verdict, policy, Side::Output);
                    moderation.count_side_block(Side::Output, &categories);
                    blocked.push(Blocked {
                        index: *index,
                        detected: verdict.categories().collect(),
                        blocked: categories,
                    });
                }
            }
            Err(_) => {
                record.moderation.output = Some(skipped_record());
                return match fail_mode {
                    FailMode::Open => Ok(body),
                    FailMode::Closed => Err(Rejection::ModerationUnavailable),
                };
            }
        }
    }
    if blocked.is_empty() {
        return Ok(body);
    }
    record.decision = Decision::Blocked;
    record.error = Some("content_filter");
    filtered_answer(endpoint, &body, &blocked)
}

/// The text of each choice of a whole answer, by choice index.
fn answer_texts(endpoint: Endpoint, view: &ResponseView<'_>) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    let mut add = |index: u64, piece: &str| {
        if piece.is_empty() {
            return;
        }
        match out.iter_mut().find(|(i, _)| *i == index) {
            Some((_, text)) => {
                text.push('\n');
                text.push_str(piece);
            }
            None => out.push((index, piece.to_owned())),
        }
    };
    match endpoint {
        Endpoint::Responses => {
            for item in view.output.iter().flatten() {
                for part in item.content.iter().flatten() {
                    if part.kind.as_deref() == Some("output_text")
                        && let Some(text) = &part.text
                    {
                        add(0, text);
                    }
                }
            }
        }
        _ => {
            for (position, choice) in view.choices.iter().flatten().enumerate() {
                let index = choice.index.unwrap_or(position as u64);
                let message = choice.message.as_ref().or(choice.delta.as_ref());
                for texts in message
                    .and_then(|m| m.content.as_ref())
                    .into_iter()
                    .chain(choice.text.as_ref())
                {
                    for piece in &texts.0 {
                        add(index, piece);
                    }
                }
            }
        }
    }
    out
}

/// The answer with its blocked choices replaced.
fn filtered_answer(
    endpoint: Endpoint,
    body: &[u8],
    blocked: &[Blocked],
) -> Result<Bytes, Rejection> {
    // The answer was parsed once already; failing now would be a bug. Never let the
    // blocked text through because of it.
    let unreadable = || Rejection::Internal("cannot rewrite a blocked answer".to_owned());
    let mut value: Value = serde_json::from_slice(body).map_err(|_| unreadable())?;
    let object = value.as_object_mut().ok_or_else(unreadable)?;
    if endpoint == Endpoint::Responses {
        object.insert("status".to_owned(), "incomplete".into());
        object.insert(
            "incomplete_details".to_owned(),
            serde_json::json!({"reason": "content_filter"}),
        );
        object.insert("output".to_owned(), Value::Array(Vec::new()));
        object.remove("output_text");
    } else if let Some(Value::Array(choices)) = object.get_mut("choices") {
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let Some(found) = blocked.iter().find(|b| b.index == index) else {
                continue;
            };
            let Some(choice) = choice.as_object_mut() else {
                continue;
            };
            choice.insert("finish_reason".to_owned(), "content_filter".into());
            if let Some(Value::Object(message)) = choice.get_mut("message") {
                message.insert("content".to_owned(), Value::Null);
                message.remove("tool_calls");
                message.remove("function_call");
                message.remove("audio");
            }
            if choice.contains_key("text") {
                choice.insert("text".to_owned(), Value::String(String::new()));
            }
            choice.insert("logprobs".to_owned(), Value::Null);
            choice.insert(
                "content_filter_results".to_owned(),
                content_filter_result(&found.detected, &found.blocked),
            );
        }
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|_| unreadable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_choices_lose_their_content_and_keep_their_shape() {
        let body = br#"{"id":"c","object":"chat.completion","choices":[
            {"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"},
            {"index":1,"message":{"role":"assistant","content":"bad","tool_calls":[]},"finish_reason":"stop"}]}"#;
        let blocked = [Blocked {
            index: 1,
            detected: vec![Category::Phishing],
            blocked: vec![Category::Phishing],
        }];
        let out = filtered_answer(Endpoint::ChatCompletions, body, &blocked).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "fine");
        assert_eq!(v["choices"][1]["finish_reason"], "content_filter");
        assert_eq!(v["choices"][1]["message"]["content"], Value::Null);
        assert!(v["choices"][1]["message"].get("tool_calls").is_none());
        assert_eq!(
            v["choices"][1]["content_filter_results"]["cyber/phishing"]["filtered"],
            true
        );

        let body = br#"{"object":"text_completion","choices":[{"text":"bad","index":0,"finish_reason":"stop"}]}"#;
        let blocked = [Blocked {
            index: 0,
            detected: vec![],
            blocked: vec![],
        }];
        let v: Value = serde_json::from_slice(
            &filtered_answer(Endpoint::Completions, body, &blocked).unwrap(),
        )
        .unwrap();
        assert_eq!(v["choices"][0]["text"], "");
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    }

    #[test]
    fn answer_texts_by_choice() {
        let body = br#"{"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":[{"type":"text","text":"a"}]}}]}"#;
        let view: ResponseView<'_> = serde_json::from_slice(body).unwrap();
        let texts = answer_texts(Endpoint::ChatCompletions, &view);
        assert_eq!(texts, [(1, "b".to_owned()), (0, "a".to_owned())]);
    }
}
