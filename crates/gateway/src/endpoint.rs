//! Which OpenAI endpoint a path is, and what the gateway knows how to inspect in it.

/// The OpenAI endpoints the gateway recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    Models,
    Responses,
    Files,
    FineTuningJobs,
    /// `/v1/moderations`: answered by Bulwark's own scanner, never forwarded.
    Moderations,
    /// Any other `/v1/*` path; forwarded only when `server.allow_other_paths` is set.
    Other,
}

impl Endpoint {
    /// Classifies a path that starts with `/v1/`.
    pub(crate) fn from_path(path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix("/v1/")?;
        let first = |name: &str| rest == name || rest.starts_with(&format!("{name}/"));
        Some(if first("chat/completions") {
            Endpoint::ChatCompletions
        } else if first("completions") {
            Endpoint::Completions
        } else if first("embeddings") {
            Endpoint::Embeddings
        } else if first("models") {
            Endpoint::Models
        } else if first("responses") {
            Endpoint::Responses
        } else if first("files") {
            Endpoint::Files
        } else if first("fine_tuning/jobs") {
            Endpoint::FineTuningJobs
        } else if rest == "moderations" {
            Endpoint::Moderations
        } else {
            Endpoint::Other
        })
    }

    /// The name used in events and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Models => "models",
            Endpoint::Responses => "responses",
            Endpoint::Files => "files",
            Endpoint::FineTuningJobs => "fine_tuning.jobs",
            Endpoint::Moderations => "moderations",
            Endpoint::Other => "other",
        }
    }

    /// Endpoints whose POST body is a JSON request that names a model and carries text
    /// the gateway digests (and, later, moderates). Their request bodies are read whole,
    /// within `max_body_bytes`; every other body is streamed through.
    pub(crate) fn is_generation(self) -> bool {
        matches!(
            self,
            Endpoint::ChatCompletions
                | Endpoint::Completions
                | Endpoint::Embeddings
                | Endpoint::Responses
        )
    }
}

impl Endpoint {
    /// Endpoints whose prompts and answers content moderation checks: those that
    /// generate text. Embeddings produce no text, and embedding abusive text is what spam
    /// and phishing filters do, so they are not moderated.
    pub(crate) fn is_moderated(self) -> bool {
        matches!(
            self,
            Endpoint::ChatCompletions | Endpoint::Completions | Endpoint::Responses
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert_eq!(
            Endpoint::from_path("/v1/chat/completions"),
            Some(Endpoint::ChatCompletions)
        );
        assert_eq!(
            Endpoint::from_path("/v1/completions"),
            Some(Endpoint::Completions)
        );
        assert_eq!(
            Endpoint::from_path("/v1/models/gpt-4o"),
            Some(Endpoint::Models)
        );
        assert_eq!(
            Endpoint::from_path("/v1/fine_tuning/jobs/ftjob-1/cancel"),
            Some(Endpoint::FineTuningJobs)
        );
        assert_eq!(
            Endpoint::from_path("/v1/files/file-1/content"),
            Some(Endpoint::Files)
        );
        assert_eq!(
            Endpoint::from_path("/v1/audio/speech"),
            Some(Endpoint::Other)
        );
        assert_eq!(
            Endpoint::from_path("/v1/completionsx"),
            Some(Endpoint::Other)
        );
        assert_eq!(Endpoint::from_path("/v2/models"), None);
        assert_eq!(
            Endpoint::from_path("/v1/moderations"),
            Some(Endpoint::Moderations)
        );
    }
}
