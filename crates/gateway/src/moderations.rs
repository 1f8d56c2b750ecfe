//! `POST /v1/moderations`, answered by Bulwark's scanner in OpenAI's shapes, with
//! Bulwark's categories under their ids and the aggregate `cyber`.
//!
//! Each input is scored with the input-side thresholds; `flagged` is the scanner's
//! verdict, not the tenant's policy (this endpoint classifies, it does not enforce).

use bulwark_core::{CYBER, Category, SideRecord};
use bulwark_moderation::{Side, Verdict};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::{error::Rejection, moderate::Stage, record::RequestRecord, state::AppState};

/// The model named in answers when the request names none.
const DEFAULT_MODEL: &str = "bulwark-moderation";

fn param(name: &'static str, message: &str) -> Rejection {
    Rejection::InvalidParam {
        param: name,
        message: message.to_owned(),
    }
}

/// The texts to classify: one per result.
fn inputs(value: Option<&Value>) -> Result<Vec<String>, Rejection> {
    const SHAPE: &str = "`input` must be a string, an array of strings, or an array of \
                         `{\"type\": \"text\", \"text\": …}` parts";
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(param("input", "`input` must not be empty"))
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()),
        // Content parts make up one input, and one result.
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(s))) => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(s);
                    }
                    (Some("image_url"), _) => {
                        return Err(param(
                            "input",
                            "Bulwark moderates text only: image inputs are not supported",
                        ));
                    }
                    _ => return Err(param("input", SHAPE)),
                }
            }
            Ok(vec![text])
        }
        None | Some(Value::Null) => Err(param("input", "you must provide an `input` parameter")),
        Some(_) => Err(param("input", SHAPE)),
    }
}

fn score(value: f32) -> Value {
    let rounded = (f64::from(value) * 1e6).round() / 1e6;
    serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

/// One `results[]` entry.
fn result(verdict: &Verdict) -> Value {
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for category in Category::ALL {
        categories.insert(
            category.id().to_owned(),
            Value::Bool(
                verdict
                    .flagged
                    .get(category.index())
                    .copied()
                    .unwrap_or(false),
            ),
        );
        scores.insert(
            category.id().to_owned(),
            score(verdict.scores.get(category)),
        );
        applied.insert(category.id().to_owned(), json!(["text"]));
    }
    categories.insert(CYBER.to_owned(), Value::Bool(verdict.cyber_flagged()));
    scores.insert(CYBER.to_owned(), score(verdict.scores.cyber()));
    applied.insert(CYBER.to_owned(), json!(["text"]));
    json!({
        "flagged": verdict.is_flagged(),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}

/// Answers a `/v1/moderations` request body.
pub(crate) async fn answer(
    state: &AppState,
    record: &mut RequestRecord,
    body: &[u8],
) -> Result<Bytes, Rejection> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Rejection::InvalidJson(e.to_string()))?;
    let Value::Object(request) = value else {
        return Err(Rejection::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };
    let model = match request.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) if !m.is_empty() => Some(m.clone()),
        Some(_) => return Err(param("model", "`model` must be a non-empty string")),
    };
    record.model = model.clone();
    let texts = inputs(request.get("input"))?;
    record.input_text = Some(texts.join("\n"));

    let mut results = Vec::with_capacity(texts.len());
    let mut summary = SideRecord::default();
    for text in &texts {
        let verdict = state
            .moderation
            .scan(text, Side::Input, Stage::Api)
            .await
            .map_err(|_| Rejection::ModerationUnavailable)?;
        summary.flagged |= verdict.is_flagged();
        for category in verdict.categories() {
            if !summary.categories.contains(&category) {
                summary.categories.push(category);
            }
        }
        summary.max_score = summary.max_score.max(verdict.scores.max());
        results.push(result(&verdict));
    }
    summary.categories.sort();
    // A classification, not an enforcement: no action.
    record.moderation.input = Some(summary);

    let id = record.id.as_str();
    let body = json!({
        "id": format!("modr-{}", id.strip_prefix("evt_").unwrap_or(id)),
        "model": model.as_deref().unwrap_or(DEFAULT_MODEL),
        "results": results,
    });
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| Rejection::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        assert_eq!(inputs(Some(&json!("a"))).unwrap(), ["a"]);
        assert_eq!(inputs(Some(&json!(["a", "b"]))).unwrap(), ["a", "b"]);
        assert_eq!(
            inputs(Some(
                &json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
            ))
            .unwrap(),
            ["a\nb"]
        );
        for bad in [
            json!([]),
            json!(3),
            json!([{"type": "image_url", "image_url": {}}]),
            json!([1]),
        ] {
            assert_eq!(
                inputs(Some(&bad)).unwrap_err().code(),
                "invalid_value",
                "{bad}"
            );
        }
        assert!(inputs(None).is_err());
    }

    #[test]
    fn results_name_every_category_and_cyber() {
        let mut verdict = Verdict::default();
        verdict.flagged[Category::Malware.index()] = true;
        verdict.scores.0[Category::Malware.index()] = 0.875;
        let r = result(&verdict);
        assert_eq!(r["flagged"], true);
        assert_eq!(r["categories"]["cyber/malware"], true);
        assert_eq!(r["categories"]["cyber"], true);
        assert_eq!(r["categories"]["jailbreak"], false);
        assert_eq!(r["category_scores"]["cyber"], 0.875);
        assert_eq!(
            r["category_applied_input_types"]["illicit"],
            json!(["text"])
        );
        assert_eq!(
            r["categories"].as_object().unwrap().len(),
            Category::COUNT + 1
        );
    }
}
