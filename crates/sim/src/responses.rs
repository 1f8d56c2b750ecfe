//! `POST /v1/responses`, the Responses API: one assistant message as output, plain or as
//! the semantic event stream (`response.created` … `response.completed`).
//!
//! Unlike chat streams, these events are named (`event:` lines), numbered by
//! `sequence_number`, and end with the final response object instead of `[DONE]`.

use std::sync::Arc;

use axum::{
    Extension,
    extract::{State, rejection::BytesRejection},
    response::Response,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    answers,
    error::ApiError,
    overrides::Overrides,
    simulator::Shared,
    sse,
    tokens::{count_tokens, truncate},
    wire::{self, Content},
};

#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    model: String,
    input: Input,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<Item>),
}

/// An input item. Messages carry `role` and `content`; other items (tool outputs,
/// references) have neither and add nothing to the prompt.
#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Content>,
}

/// `POST /v1/responses`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(overrides): Extension<Overrides>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ResponsesRequest = wire::parse_json(&wire::body(body)?)?;
    shared.check_model(&request.model)?;

    let (prompt, input_tokens) = match &request.input {
        Input::Text(text) => (text.clone(), count_tokens(text)),
        Input::Items(items) => {
            let texts: Vec<_> = items
                .iter()
                .map(|i| i.content.as_ref().map(Content::text))
                .collect();
            let tokens = texts.iter().flatten().map(|t| count_tokens(t)).sum::<u32>();
            let prompt = items
                .iter()
                .zip(&texts)
                .rev()
                .find(|(item, text)| item.role.as_deref() == Some("user") && text.is_some())
                .or_else(|| {
                    items
                        .iter()
                        .zip(&texts)
                        .rev()
                        .find(|(_, text)| text.is_some())
                })
                .and_then(|(_, text)| text.as_deref())
                .unwrap_or_default()
                .to_owned();
            (prompt, tokens)
        }
    };
    let input_tokens =
        input_tokens.saturating_add(request.instructions.as_deref().map_or(0, count_tokens));

    let full = answers::answer(&prompt, overrides.echo);
    let (text, truncated) = match request.max_output_tokens {
        Some(max) => truncate(full, max),
        None => (full, false),
    };
    let hex = answers::id_hex(answers::hash(prompt.as_bytes()), shared.next_seq());
    let answer = Answer {
        request: &request,
        id: format!("resp_{hex}"),
        message_id: format!("msg_{hex}"),
        created_at: wire::unix_now(),
        text,
        truncated,
        input_tokens,
        output_tokens: count_tokens(text),
    };

    if request.stream.unwrap_or(false) {
        Ok(sse::response(answer.events()?, &overrides))
    } else {
        wire::json_response(&answer.response(true), &overrides)
    }
}

/// One answer and the request it answers, from which every JSON shape is rendered.
struct Answer<'a> {
    request: &'a ResponsesRequest,
    id: String,
    message_id: String,
    created_at: u64,
    text: &'a str,
    truncated: bool,
    input_tokens: u32,
    output_tokens: u32,
}

impl Answer<'_> {
    fn status(&self) -> &'static str {
        if self.truncated {
            "incomplete"
        } else {
            "completed"
        }
    }

    fn part(&self, text: &str) -> Value {
        json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
    }

    /// The output message, finished (with its text) or just opened (empty).
    fn message(&self, finished: bool) -> Value {
        let (status, content) = if finished {
            (self.status(), json!([self.part(self.text)]))
        } else {
            ("in_progress", json!([]))
        };
        json!({
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        })
    }

    /// The response object: final, or as it stands before any output.
    fn response(&self, finished: bool) -> Value {
        let (status, output, usage, incomplete) = if finished {
            let usage = json!({
                "input_tokens": self.input_tokens,
                "input_tokens_details": { "cached_tokens": 0 },
                "output_tokens": self.output_tokens,
                "output_tokens_details": { "reasoning_tokens": 0 },
                "total_tokens": self.input_tokens.saturating_add(self.output_tokens),
            });
            let incomplete = if self.truncated {
                json!({ "reason": "max_output_tokens" })
            } else {
                Value::Null
            };
            (
                self.status(),
                json!([self.message(true)]),
                usage,
                incomplete,
            )
        } else {
            ("in_progress", json!([]), Value::Null, Value::Null)
        };
        let request = self.request;
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": false,
            "error": null,
            "incomplete_details": incomplete,
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "model": request.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": { "effort": null, "summary": null },
            "store": true,
            "temperature": request.temperature.unwrap_or(1.0),
            "text": { "format": { "type": "text" } },
            "tool_choice": "auto",
            "tools": [],
            "top_p": request.top_p.unwrap_or(1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": null,
            "metadata": request.metadata.clone().unwrap_or_else(|| json!({})),
        })
    }

    /// The event stream, each event numbered by `sequence_number` from 0.
    fn events(&self) -> Result<Vec<Bytes>, serde_json::Error> {
        let pieces = answers::stream_pieces(self.text);
        let mut events = Vec::with_capacity(pieces.len() + 8);
        let mut push = |name: &str, mut payload: Value| -> Result<(), serde_json::Error> {
            if let Value::Object(fields) = &mut payload {
                fields.insert("type".to_owned(), Value::from(name));
                fields.insert("sequence_number".to_owned(), Value::from(events.len()));
            }
            events.push(sse::event(name, &payload)?);
            Ok(())
        };
        let item = &self.message_id;
        let at = |extra: Value| {
            let mut fields = json!({ "item_id": item, "output_index": 0, "content_index": 0 });
            if let (Value::Object(fields), Value::Object(extra)) = (&mut fields, extra) {
                fields.extend(extra);
            }
            fields
        };

        push(
            "response.created",
            json!({ "response": self.response(false) }),
        )?;
        push(
            "response.in_progress",
            json!({ "response": self.response(false) }),
        )?;
        push(
            "response.output_item.added",
            json!({ "output_index": 0, "item": self.message(false) }),
        )?;
        push(
            "response.content_part.added",
            at(json!({ "part": self.part("") })),
        )?;
        for delta in pieces {
            push(
                "response.output_text.delta",
                at(json!({ "delta": delta, "logprobs": [] })),
            )?;
        }
        push(
            "response.output_text.done",
            at(json!({ "text": self.text, "logprobs": [] })),
        )?;
        push(
            "response.content_part.done",
            at(json!({ "part": self.part(self.text) })),
        )?;
        push(
            "response.output_item.done",
            json!({ "output_index": 0, "item": self.message(true) }),
        )?;
        let last = if self.truncated {
            "response.incomplete"
        } else {
            "response.completed"
        };
        push(last, json!({ "response": self.response(true) }))?;
        Ok(events)
    }
}
