//! Turning a request into its usage event. A [`RequestRecord`] collects facts as the
//! request moves through the pipeline; the [`ResponseBody`] that carries the answer to the
//! client publishes the event when the last byte has gone out, when the client goes away,
//! or when the upstream breaks mid-stream: exactly once, in every case.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bulwark_bus::Publish;
use bulwark_core::{
    ApiRequest, Client, Decision, Event, EventBody, EventId, ModerationRecord, SideRecord,
    TextDigest, Timestamp, Usage,
};
use bulwark_store::StoredKey;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::{
    endpoint::Endpoint,
    metrics::{EndpointLabels, RequestLabels, UpstreamLabels},
    observe::SseRelay,
    ratelimit::LimitState,
    state::AppState,
    upstream::UpstreamBody,
};

/// Facts about one request, filled in phase by phase.
#[derive(Debug)]
pub(crate) struct RequestRecord {
    pub(crate) id: EventId,
    started: Instant,
    ts: Timestamp,
    pub(crate) endpoint: Endpoint,
    method: String,
    path: String,
    client: Client,
    pub(crate) key: Option<Arc<StoredKey>>,
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    pub(crate) input: Option<TextDigest>,
    pub(crate) upstream: Option<String>,
    pub(crate) upstream_started: Option<Instant>,
    /// Tokens reserved against the key's per-minute budget, settled at the end.
    pub(crate) reserved_tokens: u64,
    pub(crate) limits: LimitState,
    pub(crate) status: u16,
    pub(crate) decision: Decision,
    pub(crate) error: Option<&'static str>,
    /// What content moderation found and did.
    pub(crate) moderation: ModerationRecord,
}

impl RequestRecord {
    /// Whether a check was skipped (the scanner failed or ran out of time).
    pub(crate) fn moderation_skipped(&self) -> bool {
        let skipped = |side: &Option<SideRecord>| {
            side.as_ref()
                .is_some_and(|s| s.action.as_deref() == Some("skipped"))
        };
        skipped(&self.moderation.input)
            || skipped(&self.moderation.output)
            || self.moderation.upload.as_ref().is_some_and(|u| u.skipped)
    }

    pub(crate) fn start(
        endpoint: Endpoint,
        method: &http::Method,
        path: &str,
        client: Client,
    ) -> Self {
        Self {
            id: EventId::generate(),
            started: Instant::now(),
            ts: Timestamp::now(),
            endpoint,
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            client,
            key: None,
            model: None,
            stream: false,
            input: None,
            upstream: None,
            upstream_started: None,
            reserved_tokens: 0,
            limits: LimitState::default(),
            status: 200,
            decision: Decision::Allowed,
            error: None,
            moderation: ModerationRecord::default(),
        }
    }
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every byte was handed to the connection.
    Complete,
    /// The client went away before the end.
    ClientGone,
    /// The upstream failed or went silent mid-response; the code says which.
    UpstreamBroke(&'static str),
}

/// Publishes a record's event, once.
#[derive(Debug)]
pub(crate) struct Finisher {
    state: Arc<AppState>,
    record: RequestRecord,
}

impl Finisher {
    pub(crate) fn new(state: Arc<AppState>, record: RequestRecord) -> Self {
        state.metrics.in_flight.inc();
        Self { state, record }
    }

    fn finish(
        self,
        ending: Ending,
        output: Option<TextDigest>,
        usage: Option<Usage>,
        moderated: Option<StreamModeration>,
    ) {
        let Finisher { state, mut record } = self;
        if let Some(moderated) = moderated {
            if moderated.record.is_some() {
                record.moderation.output = moderated.record;
            }
            if moderated.blocked {
                record.decision = Decision::Blocked;
                record.error = Some("content_filter");
            }
        }
        state.metrics.in_flight.dec();
        match ending {
            Ending::Complete => {}
            Ending::ClientGone => {
                if record.error.is_none() {
                    record.error = Some("client_disconnected");
                }
            }
            Ending::UpstreamBroke(code) => {
                record.decision = Decision::UpstreamError;
                record.error = Some(code);
            }
        }
        let latency = record.started.elapsed();
        let upstream_elapsed = record.upstream_started.map(|t| t.elapsed());
        let usage = usage.or_else(|| estimated_usage(&record, output.as_ref()));

        if let Some(key) = &record.key {
            // A request that failed consumed nothing: its reservation is refunded.
            let used = usage.map_or(0, |u| u.prompt_tokens + u.completion_tokens);
            state
                .limiter
                .settle_tokens(&key.record, record.reserved_tokens, used);
        }

        let endpoint = record.endpoint.as_str();
        state
            .metrics
            .requests
            .get_or_create(&RequestLabels {
                endpoint,
                status: record.status,
                decision: record.decision.as_str(),
            })
            .inc();
        state
            .metrics
            .latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(latency.as_secs_f64());
        if let (Some(name), Some(elapsed)) = (&record.upstream, upstream_elapsed) {
            state
                .metrics
                .upstream_latency
                .get_or_create(&UpstreamLabels {
                    upstream: name.clone(),
                })
                .observe(elapsed.as_secs_f64());
        }

        let (tenant, account, key) = match &record.key {
            Some(k) => (
                Some(k.record.tenant.clone()),
                Some(k.record.account.clone()),
                Some(k.record.id.clone()),
            ),
            None => (None, None, None),
        };
        let event = Event {
            v: bulwark_core::SCHEMA_VERSION,
            id: record.id,
            ts: record.ts,
            tenant,
            account,
            key,
            body: EventBody::ApiRequest(ApiRequest {
                client: record.client,
                endpoint: endpoint.to_owned(),
                model: record.model,
                stream: record.stream,
                status: record.status,
                decision: record.decision,
                latency_ms: millis(latency),
                upstream_ms: upstream_elapsed.map(millis),
                usage,
                input: record.input,
                output,
                method: Some(record.method),
                path: Some(record.path),
                upstream: record.upstream,
                error: record.error.map(str::to_owned),
                moderation: (record.moderation != ModerationRecord::default())
                    .then_some(record.moderation),
            }),
        };
        state.bus.publish(event);
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// When the upstream answered a generation request but reported no usage, estimate it
/// (four characters a token) and say so.
fn estimated_usage(record: &RequestRecord, output: Option<&TextDigest>) -> Option<Usage> {
    if record.upstream_started.is_none()
        || !record.endpoint.is_generation()
        || !matches!(record.decision, Decision::Allowed | Decision::Blocked)
    {
        return None;
    }
    let chars = |d: Option<&TextDigest>| d.map_or(0, |d| d.chars);
    Some(Usage {
        prompt_tokens: chars(record.input.as_ref()).div_ceil(4),
        completion_tokens: chars(output).div_ceil(4),
        estimated: true,
    })
}

/// What output moderation of a stream recorded.
#[derive(Debug)]
pub(crate) struct StreamModeration {
    record: Option<SideRecord>,
    blocked: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

enum Source {
    /// A body already in memory (errors, buffered completions); `None` once sent.
    Ready(Option<Bytes>),
    /// The upstream's body, relayed frame by frame.
    Upstream(UpstreamBody),
    /// Ended (after an error).
    Done,
}

/// The body of every response on `/v1/*`. It relays the upstream body frame by frame
/// (optionally through an [`SseRelay`]), enforces the upstream idle timeout, and
/// finishes the request record when it ends or is dropped.
pub(crate) struct ResponseBody {
    source: Source,
    relay: Option<SseRelay>,
    output: Option<TextDigest>,
    usage: Option<Usage>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    finisher: Option<Finisher>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// A body already in memory, with what was observed in it.
    pub(crate) fn ready(
        bytes: Bytes,
        finisher: Finisher,
        output: Option<TextDigest>,
        usage: Option<Usage>,
    ) -> Self {
        Self {
            source: Source::Ready(Some(bytes)),
            relay: None,
            output,
            usage,
            idle: None,
            finisher: Some(finisher),
        }
    }

    /// The upstream's body, relayed as it arrives.
    pub(crate) fn relay(
        body: UpstreamBody,
        relay: Option<SseRelay>,
        idle_timeout: Duration,
        finisher: Finisher,
    ) -> Self {
        Self {
            source: Source::Upstream(body),
            relay,
            output: None,
            usage: None,
            idle: Some((idle_timeout, Box::pin(tokio::time::sleep(idle_timeout)))),
            finisher: Some(finisher),
        }
    }

    fn end(&mut self, ending: Ending) {
        if let Some(finisher) = self.finisher.take() {
            let (output, usage, moderated) = match self.relay.take() {
                Some(relay) => (
                    relay.output.finish(),
                    relay.usage,
                    relay.guard.map(|g| StreamModeration {
                        record: g.record,
                        blocked: g.blocked,
                    }),
                ),
                None => (self.output.take(), self.usage.take(), None),
            };
            finisher.finish(ending, output, usage, moderated);
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.end(Ending::ClientGone);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match &mut this.source {
                Source::Ready(bytes) => {
                    // The last bytes are handed to the connection: the response is
                    // complete. hyper stops polling a body once it has written the
                    // length announced in `size_hint`, so this is the last chance to
                    // say so before `Drop` would record the client as gone.
                    let last = bytes.take();
                    this.source = Source::Done;
                    this.end(Ending::Complete);
                    return match last {
                        Some(b) if !b.is_empty() => Poll::Ready(Some(Ok(Frame::data(b)))),
                        _ => Poll::Ready(None),
                    };
                }
                Source::Done => return Poll::Ready(None),
                Source::Upstream(body) => match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => {
                        if let Some((_, sleep)) = &mut this.idle
                            && sleep.as_mut().poll(cx).is_ready()
                        {
                            this.source = Source::Done;
                            this.end(Ending::UpstreamBroke("upstream_idle_timeout"));
                            return Poll::Ready(Some(Err(
                                "the upstream went silent mid-response".into()
                            )));
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some((timeout, sleep)) = &mut this.idle {
                            sleep.as_mut().reset(tokio::time::Instant::now() + *timeout);
                        }
                        match frame.into_data() {
                            Ok(data) => {
                                let out = match &mut this.relay {
                                    Some(relay) => relay.push(&data),
                                    None => data,
                                };
                                if this.relay.as_ref().is_some_and(SseRelay::is_cut) {
                                    // Moderation ended the answer: stop reading the
                                    // upstream (dropping its body closes the connection)
                                    // and send the ending.
                                    this.idle = None;
                                    this.source = Source::Ready(Some(out));
                                    continue;
                                }
                                if out.is_empty() {
                                    continue;
                                }
                                return Poll::Ready(Some(Ok(Frame::data(out))));
                            }
                            Err(frame) => return Poll::Ready(Some(Ok(frame))),
                        }
                    }
                    Poll::Ready(Some(Err(error))) => {
                        this.source = Source::Done;
                        this.end(Ending::UpstreamBroke("upstream_stream_error"));
                        return Poll::Ready(Some(Err(error.into())));
                    }
                    Poll::Ready(None) => {
                        let rest = this
                            .relay
                            .as_mut()
                            .map(SseRelay::finish)
                            .unwrap_or_default();
                        this.idle = None;
                        this.source = Source::Ready(Some(rest));
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.source, Source::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Ready(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Source::Ready(None) | Source::Done => SizeHint::with_exact(0),
            // The relay may drop events, so the upstream's length no longer holds.
            Source::Upstream(_) if self.relay.is_some() => SizeHint::default(),
            Source::Upstream(body) => body.size_hint(),
        }
    }
}
