//! Zero-copy views of the parts of OpenAI JSON bodies the gateway reads: the model and
//! stream flags of a request, the text a person or model wrote, token usage. Fields the
//! gateway does not read are skipped without being built (no `serde_json::Value` tree),
//! which matters on a path every request takes. Callers fall back to a full parse when a
//! view does not fit, to report precise errors.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
};

/// A list that is almost always one item long (a message's text, an answer's choice) or
/// two (a chat request's messages) and is kept inline up to that: a request read four of
/// them, each an allocation of its own.
pub(crate) type Few<T> = smallvec::SmallVec<[T; 2]>;

/// Every piece of text in a JSON value, by OpenAI's conventions: a string is text; in an
/// array every element is searched; in an object only `text`, `content` and `messages`
/// are searched (message contents, `{"type":"text","text":…}` parts, Responses API
/// items, the `{"messages": […]}` input of preference fine-tuning data). Numbers
/// (token arrays), image parts, tool arguments and everything else are skipped.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Texts<'a>(pub(crate) Few<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Texts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Few::new();
        d.deserialize_any(TextsVisitor { out: &mut out })?;
        Ok(Texts(out))
    }
}

struct TextsVisitor<'v, 'a> {
    out: &'v mut Few<Cow<'a, str>>,
}

/// One nested value searched with the same rules.
struct Nested<'v, 'a> {
    out: &'v mut Few<Cow<'a, str>>,
}

impl<'v, 'de: 'a, 'a> serde::de::DeserializeSeed<'de> for Nested<'v, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(TextsVisitor { out: self.out })
    }
}

impl<'v, 'de: 'a, 'a> Visitor<'de> for TextsVisitor<'v, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.out.push(Cow::Borrowed(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.push(Cow::Owned(v.to_owned()));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.out.push(Cow::Owned(v));
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Nested {
                out: &mut *self.out,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'_, str>>()? {
            if key == "text" || key == "content" || key == "messages" {
                map.next_value_seed(Nested {
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl Texts<'_> {
    /// What [`Texts::join_into`] appends at most: the pieces and a newline before each.
    pub(crate) fn joined_len(&self) -> usize {
        self.0.iter().map(|piece| piece.len() + 1).sum()
    }

    /// Appends every piece to `out`, separated by newlines.
    pub(crate) fn join_into(&self, out: &mut String) {
        for piece in &self.0 {
            if piece.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(piece);
        }
    }
}

/// An optional string that borrows from the input when it has no escapes. serde's own
/// `Cow<str>` borrows only as a field of its own, never inside an `Option`, and a copy
/// per field is an allocation per field on every request.
fn borrowed_str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct MaybeText;
    struct Text;

    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }

    impl<'de> Visitor<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text).map(Some)
        }
    }

    d.deserialize_option(MaybeText)
}

/// The request fields the gateway reads.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestView<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) stream: Option<bool>,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptionsView>,
    #[serde(default)]
    pub(crate) max_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) max_output_tokens: Option<u64>,
    #[serde(borrow, default)]
    pub(crate) instructions: Option<Texts<'a>>,
    #[serde(borrow, default)]
    pub(crate) messages: Option<Few<MessageView<'a>>>,
    #[serde(borrow, default)]
    pub(crate) prompt: Option<Texts<'a>>,
    #[serde(borrow, default)]
    pub(crate) input: Option<Texts<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptionsView {
    #[serde(default)]
    pub(crate) include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageView<'a> {
    #[serde(borrow, default)]
    pub(crate) content: Option<Texts<'a>>,
}

/// Token usage under either naming (chat/completions/embeddings, or Responses).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsageView {
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
}

impl UsageView {
    pub(crate) fn usage(&self) -> Option<bulwark_core::Usage> {
        let prompt = self.prompt_tokens.or(self.input_tokens)?;
        Some(bulwark_core::Usage {
            prompt_tokens: prompt,
            completion_tokens: self.completion_tokens.or(self.output_tokens).unwrap_or(0),
            estimated: false,
        })
    }
}

/// A choice of a chat or legacy completion, whole or as a stream chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct ChoiceView<'a> {
    #[serde(borrow, default)]
    pub(crate) message: Option<MessageView<'a>>,
    #[serde(borrow, default)]
    pub(crate) delta: Option<MessageView<'a>>,
    #[serde(borrow, default)]
    pub(crate) text: Option<Texts<'a>>,
    #[serde(default)]
    pub(crate) index: Option<u64>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) finish_reason: Option<Cow<'a, str>>,
}

/// A whole response or a stream chunk of chat, completions, embeddings or Responses.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseView<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) created: Option<serde_json::Number>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) system_fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) choices: Option<Few<ChoiceView<'a>>>,
    #[serde(default)]
    pub(crate) usage: Option<UsageView>,
    /// Responses API: the output items (whole response).
    #[serde(borrow, default)]
    pub(crate) output: Option<Vec<OutputItemView<'a>>>,
    /// Responses API stream: the event type.
    #[serde(borrow, default, deserialize_with = "borrowed_str", rename = "type")]
    pub(crate) kind: Option<Cow<'a, str>>,
    /// Responses API stream: the text delta.
    #[serde(borrow, default)]
    pub(crate) delta: Option<Texts<'a>>,
    /// Responses API stream: the response inside `response.created`, `response.completed`…
    #[serde(borrow, default)]
    pub(crate) response: Option<NestedResponseView<'a>>,
}

impl<'a> ResponseView<'a> {
    /// Reads a whole response body. Its UTF-8 is checked once, for the whole body: serde's
    /// reader of byte slices checks every string on its own (22 times for a chat answer,
    /// keys included), which cost more than the check of the whole. A body that is not
    /// UTF-8 goes to that reader, which reads what it can as before.
    pub(crate) fn parse(body: &'a [u8]) -> serde_json::Result<Self> {
        match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct OutputItemView<'a> {
    #[serde(borrow, default)]
    pub(crate) content: Option<Vec<OutputPartView<'a>>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OutputPartView<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_str", rename = "type")]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) text: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NestedResponseView<'a> {
    #[serde(default)]
    pub(crate) usage: Option<UsageView>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub(crate) model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) created_at: Option<serde_json::Number>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(json: &str) -> Vec<String> {
        serde_json::from_str::<Texts<'_>>(json)
            .unwrap()
            .0
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn finds_text_by_openai_conventions() {
        assert_eq!(texts(r#""hi""#), ["hi"]);
        assert_eq!(texts(r#"["a", "b", [1, 2], 3]"#), ["a", "b"]);
        assert_eq!(
            texts(
                r#"[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"http://u"}}]"#
            ),
            ["x"]
        );
        assert_eq!(
            texts(
                r#"[{"role":"user","content":[{"type":"input_text","text":"q"}]},{"role":"assistant","content":"a"}]"#
            ),
            ["q", "a"]
        );
        assert_eq!(
            texts(r#"{"name":"fn","arguments":"{\"x\":1}"}"#),
            Vec::<String>::new()
        );
        assert_eq!(texts(r#""esc\"aped""#), ["esc\"aped"]);
        assert_eq!(texts("null"), Vec::<String>::new());
    }

    #[test]
    fn optional_strings_borrow_unless_escaped() {
        let v: ResponseView<'_> = serde_json::from_str(
            r#"{"id":"chatcmpl-1","model":"m\u00e9","system_fingerprint":null,
                "choices":[{"index":0,"finish_reason":"stop","message":{"content":"x"}}]}"#,
        )
        .unwrap();
        assert!(matches!(v.id, Some(Cow::Borrowed("chatcmpl-1"))));
        assert!(matches!(v.model.as_deref(), Some("m\u{e9}")));
        assert!(matches!(v.model, Some(Cow::Owned(_))));
        assert!(v.system_fingerprint.is_none());
        let choice = v.choices.as_deref().and_then(<[_]>::first).unwrap();
        assert!(matches!(choice.finish_reason, Some(Cow::Borrowed("stop"))));
        let bad = serde_json::from_str::<ResponseView<'_>>(r#"{"id":7}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn request_view_skips_what_it_does_not_read() {
        let v: RequestView<'_> = serde_json::from_str(
            r#"{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{}}}],
                "messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":5}"#,
        )
        .unwrap();
        assert_eq!(v.model.as_deref(), Some("m"));
        assert_eq!(v.stream, Some(true));
        assert_eq!(v.max_tokens, Some(5));
        assert_eq!(v.messages.unwrap().len(), 1);
    }

    #[test]
    fn a_response_reads_the_same_whether_its_utf8_is_checked_whole_or_by_string() {
        let body = r#"{"id":"c-1","model":"m\u00e9","choices":[{"index":0,"finish_reason":"stop",
            "message":{"role":"assistant","content":"grüße \"quoted\""}}],
            "usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let whole = ResponseView::parse(body.as_bytes()).unwrap();
        let by_string: ResponseView<'_> = serde_json::from_slice(body.as_bytes()).unwrap();
        assert_eq!(format!("{whole:?}"), format!("{by_string:?}"));
        let content = |v: &ResponseView<'_>| {
            v.choices
                .as_deref()
                .and_then(<[_]>::first)
                .and_then(|c| c.message.as_ref())
                .and_then(|m| m.content.as_ref())
                .map(|t| t.0.concat())
        };
        assert_eq!(content(&whole).as_deref(), Some("grüße \"quoted\""));

        // Not UTF-8 where nothing is read: read as before, by the slice reader.
        let mut odd = br#"{"id":"c-2","object":""#.to_vec();
        odd.extend_from_slice(&[0xff, 0xfe]);
        odd.extend_from_slice(br#"","choices":[]}"#);
        assert_eq!(
            ResponseView::parse(&odd)
                .map(|v| v.id.map(Cow::into_owned))
                .ok(),
            serde_json::from_slice::<ResponseView<'_>>(&odd)
                .map(|v| v.id.map(Cow::into_owned))
                .ok()
        );
    }
}
