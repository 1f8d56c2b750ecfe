//! `POST /v1/chat/completions`, plain and streamed.

use std::sync::Arc;

use axum::{
    Extension,
    extract::{State, rejection::BytesRejection},
    response::Response,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    answers,
    error::ApiError,
    overrides::Overrides,
    simulator::Shared,
    sse,
    tokens::{count_tokens, truncate},
    wire::{self, Content, StreamOptions, Usage},
};

const FINGERPRINT: &str = "fp_bulwark_sim";

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<&'a str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless the client asked for usage; then `null` on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// `POST /v1/chat/completions`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(overrides): Extension<Overrides>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ChatRequest = wire::parse_json(&wire::body(body)?)?;
    shared.check_model(&request.model)?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "[] is too short - 'messages'",
        ));
    }

    let texts: Vec<_> = request
        .messages
        .iter()
        .map(|m| m.content.as_ref().map(Content::text))
        .collect();
    let prompt_tokens = texts.iter().flatten().map(|t| count_tokens(t)).sum();
    // The prompt is the last user message; a conversation without one answers its last message.
    let prompt = request
        .messages
        .iter()
        .zip(&texts)
        .rev()
        .find(|(m, _)| m.role == "user")
        .or_else(|| request.messages.iter().zip(&texts).next_back())
        .and_then(|(_, text)| text.as_deref())
        .unwrap_or_default();

    let full = answers::answer(prompt, overrides.echo);
    let (content, truncated) = match request.max_completion_tokens.or(request.max_tokens) {
        Some(max) => truncate(full, max),
        None => (full, false),
    };
    let usage = Usage::new(prompt_tokens, count_tokens(content));
    let id = format!(
        "chatcmpl-{}",
        answers::id_hex(answers::hash(prompt.as_bytes()), shared.next_seq())
    );
    let answer = Answer {
        id: &id,
        created: wire::unix_now(),
        model: &request.model,
        content,
        finish_reason: wire::finish_reason(truncated),
        usage,
    };

    if request.stream.unwrap_or(false) {
        let include_usage = StreamOptions::include_usage(request.stream_options.as_ref());
        Ok(sse::response(answer.frames(include_usage)?, &overrides))
    } else {
        wire::json_response(&answer.completion(), &overrides)
    }
}

/// Everything about one answer that its JSON renderings need.
struct Answer<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    content: &'a str,
    finish_reason: &'static str,
    usage: Usage,
}

impl<'a> Answer<'a> {
    fn completion(&self) -> Completion<'a> {
        Completion {
            id: self.id,
            object: "chat.completion",
            created: self.created,
            model: self.model,
            system_fingerprint: FINGERPRINT,
            choices: [Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: self.content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: self.finish_reason,
            }],
            usage: self.usage,
        }
    }

    fn chunk<'b>(
        &'b self,
        choices: &'b [ChunkChoice<'b>],
        usage: Option<Option<Usage>>,
    ) -> Chunk<'b> {
        Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage,
        }
    }

    /// The stream: a role chunk, the content a few words at a time, the finish chunk, the
    /// usage chunk when asked for, then `[DONE]`.
    fn frames(&self, include_usage: bool) -> Result<Vec<Bytes>, serde_json::Error> {
        let pending_usage = include_usage.then_some(None);
        let pieces = answers::stream_pieces(self.content);
        let mut frames = Vec::with_capacity(pieces.len() + 4);
        let delta = |delta: Delta<'a>, finish_reason| {
            [ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }]
        };

        let role = delta(
            Delta {
                role: Some("assistant"),
                content: Some(""),
            },
            None,
        );
        frames.push(sse::data(&self.chunk(&role, pending_usage))?);
        for piece in pieces {
            let content = delta(
                Delta {
                    role: None,
                    content: Some(piece),
                },
                None,
            );
            frames.push(sse::data(&self.chunk(&content, pending_usage))?);
        }
        let finish = delta(Delta::default(), Some(self.finish_reason));
        frames.push(sse::data(&self.chunk(&finish, pending_usage))?);
        if include_usage {
            frames.push(sse::data(&self.chunk(&[], Some(Some(self.usage))))?);
        }
        frames.push(sse::DONE);
        Ok(frames)
    }
}
