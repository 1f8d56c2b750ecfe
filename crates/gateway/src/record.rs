//! Turning a request into its usage event. A [`RequestRecord`] collects facts as the
//! request moves through the pipeline; the [`ResponseBody`] that carries the answer to the
//! client publishes the event when the last byte has gone out, when the client goes away,
//! or when the upstream breaks mid-stream: exactly once, in every case.
//!
//! The client never waits for its event. Digesting the prompt and the answer, reading
//! the answer's usage, the metrics and building and publishing the event are deferred to
//! the worker's [`LaterRunner`], which runs them once the connection has written the
//! response and yielded; a job dropped unrun (the loop shutting down) does the work in
//! its `Drop`, so no event is lost.

use std::{
    cell::RefCell,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
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
    observe::{SseRelay, TextAccumulator, observe_json},
    ratelimit::{KeyLimits, LimitState},
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
    /// The prompt text, digested when the event is built.
    pub(crate) input_text: Option<String>,
    pub(crate) upstream: Option<String>,
    pub(crate) upstream_started: Option<Instant>,
    /// Tokens reserved against the key's per-minute budget, settled at the end.
    pub(crate) reserved_tokens: u64,
    /// The key's buckets the tokens were reserved in.
    pub(crate) key_limits: KeyLimits,
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
        path: String,
        client: Client,
    ) -> Self {
        Self {
            id: EventId::generate(),
            started: Instant::now(),
            ts: Timestamp::now(),
            endpoint,
            method: method.as_str().to_owned(),
            path,
            client,
            key: None,
            model: None,
            stream: false,
            input_text: None,
            upstream: None,
            upstream_started: None,
            reserved_tokens: 0,
            key_limits: KeyLimits::default(),
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
    /// Boxed from the request's start (`proxy::handle_from`): the record (544 bytes) rides
    /// along through the response body, its end and the deferred job, and a pointer is
    /// all that each of those moves copies.
    record: Box<RequestRecord>,
}

impl Finisher {
    pub(crate) fn new(state: Arc<AppState>, record: Box<RequestRecord>) -> Self {
        state.metrics.in_flight.inc();
        Self { state, record }
    }

    /// Ends the request: what the client waits for is done, the rest (digests, usage,
    /// metrics, the event) is left to [`Deferred`].
    fn finish(self, ended: Ended) {
        let job = Deferred(Some((self, ended)));
        // A worker's loop runs a [`LaterRunner`]; anywhere else (the admin router's
        // runtime, tests) the job becomes a task of its own, or runs here.
        let Some(job) = later(job) else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { drop(job) });
            }
            Err(_) => drop(job),
        }
    }

    fn publish(self, ended: Ended) {
        let Finisher { state, record } = self;
        let mut record = *record;
        let Ended {
            ending,
            at,
            observed,
            moderated,
        } = ended;
        let (output, usage) = observed.read(state.settings.capture_text);
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
        let latency = at.saturating_duration_since(record.started);
        let upstream_elapsed = record
            .upstream_started
            .map(|t| at.saturating_duration_since(t));
        let input = record
            .input_text
            .take()
            .map(|text| TextDigest::of_owned(text, state.settings.capture_text));
        let usage = usage.or_else(|| estimated_usage(&record, input.as_ref(), output.as_ref()));

        if let Some(key) = &record.key {
            // A request that failed consumed nothing: its reservation is refunded.
            let used = usage.map_or(0, |u| u.prompt_tokens + u.completion_tokens);
            record
                .key_limits
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
        if let Some(elapsed) = upstream_elapsed
            && let Some(upstream) = record.upstream.take()
        {
            // The name moves through the labels and on into the event: no copy.
            let labels = UpstreamLabels { upstream };
            state
                .metrics
                .upstream_latency
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
            record.upstream = Some(labels.upstream);
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
                input,
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

/// How a response ended and what it carried, as the response body saw it.
struct Ended {
    ending: Ending,
    /// When it ended: the latencies end here, not when the event is built.
    at: Instant,
    observed: Observed,
    moderated: Option<StreamModeration>,
}

/// The second half of finishing a request, run after the response has been written.
/// Exactly once: when its task runs, or when the task is dropped unrun.
struct Deferred(Option<(Finisher, Ended)>);

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some((finisher, ended)) = self.0.take() {
            finisher.publish(ended);
        }
    }
}

/// This thread's deferred jobs, for its [`LaterRunner`].
struct Later {
    jobs: Vec<Deferred>,
    /// The runner's waker while it waits for jobs.
    waker: Option<Waker>,
    /// Whether a runner serves this thread.
    open: bool,
}

thread_local! {
    static LATER: RefCell<Later> = const {
        RefCell::new(Later {
            jobs: Vec::new(),
            waker: None,
            open: false,
        })
    };
}

/// Queues `job` for this thread's runner; gives it back when the thread has none.
fn later(job: Deferred) -> Option<Deferred> {
    let mut job = Some(job);
    let waker = LATER
        .try_with(|later| {
            let mut later = later.borrow_mut();
            if !later.open {
                return None;
            }
            later.jobs.extend(job.take());
            later.waker.take()
        })
        .ok()
        .flatten();
    // Outside the borrow: on a current-thread loop this only queues the runner.
    if let Some(waker) = waker {
        waker.wake();
    }
    job
}

/// Runs the deferred half of the requests of a worker's event loop: one per worker,
/// spawned on its loop, so a request's event is built right after its connection has
/// written the response and yielded, with no task or allocation per request. Dropped
/// with the loop, it runs what is still queued and lets later jobs run where they end.
pub(crate) struct LaterRunner {
    /// The batch being run, kept to reuse its allocation.
    spare: Vec<Deferred>,
}

impl LaterRunner {
    pub(crate) fn new() -> Self {
        let _ = LATER.try_with(|later| later.borrow_mut().open = true);
        Self { spare: Vec::new() }
    }
}

impl Future for LaterRunner {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut batch = std::mem::take(&mut self.spare);
            let swapped = LATER.try_with(|later| {
                let mut later = later.borrow_mut();
                if later.jobs.is_empty() {
                    later.waker = Some(cx.waker().clone());
                    false
                } else {
                    std::mem::swap(&mut later.jobs, &mut batch);
                    true
                }
            });
            if swapped != Ok(true) {
                self.spare = batch;
                return Poll::Pending;
            }
            // Each job publishes as it drops.
            batch.clear();
            self.spare = batch;
        }
    }
}

impl Drop for LaterRunner {
    fn drop(&mut self) {
        let queued = LATER
            .try_with(|later| {
                let mut later = later.borrow_mut();
                later.open = false;
                later.waker = None;
                std::mem::take(&mut later.jobs)
            })
            .unwrap_or_default();
        drop(queued);
    }
}

/// What the answer said, for the event: read as it was relayed, or still to be read.
#[derive(Debug)]
pub(crate) enum Observed {
    /// Already read (streams, errors, answers the gateway wrote itself).
    Read {
        output: Option<TextDigest>,
        usage: Option<Usage>,
    },
    /// A whole JSON answer from the upstream, read for its text and usage once it has
    /// been sent.
    Json { endpoint: Endpoint, body: Bytes },
}

impl Observed {
    /// Nothing to observe.
    pub(crate) const NOTHING: Self = Self::Read {
        output: None,
        usage: None,
    };

    fn read(self, capture: bool) -> (Option<TextDigest>, Option<Usage>) {
        match self {
            Self::Read { output, usage } => (output, usage),
            Self::Json { endpoint, body } => {
                let mut text = TextAccumulator::new(capture);
                let usage = observe_json(endpoint, &body, &mut text);
                (text.finish(), usage)
            }
        }
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// When the upstream answered a generation request but reported no usage, estimate it
/// (four characters a token) and say so.
fn estimated_usage(
    record: &RequestRecord,
    input: Option<&TextDigest>,
    output: Option<&TextDigest>,
) -> Option<Usage> {
    if record.upstream_started.is_none()
        || !record.endpoint.is_generation()
        || !matches!(record.decision, Decision::Allowed | Decision::Blocked)
    {
        return None;
    }
    let chars = |d: Option<&TextDigest>| d.map_or(0, |d| d.chars);
    Some(Usage {
        prompt_tokens: chars(input).div_ceil(4),
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
    /// Boxed: streams only, and the relay (its digest state, its pending bytes) would
    /// otherwise make every response body twice as large to move.
    relay: Option<Box<SseRelay>>,
    observed: Option<Observed>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    finisher: Option<Finisher>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// A body already in memory, with what was (or is to be) observed in it.
    pub(crate) fn ready(bytes: Bytes, finisher: Finisher, observed: Observed) -> Self {
        Self {
            source: Source::Ready(Some(bytes)),
            relay: None,
            observed: Some(observed),
            idle: None,
            finisher: Some(finisher),
        }
    }

    /// The upstream's body, relayed as it arrives.
    pub(crate) fn relay(
        body: UpstreamBody,
        relay: Option<Box<SseRelay>>,
        idle_timeout: Duration,
        finisher: Finisher,
    ) -> Self {
        Self {
            source: Source::Upstream(body),
            relay,
            observed: None,
            idle: Some((idle_timeout, Box::pin(tokio::time::sleep(idle_timeout)))),
            finisher: Some(finisher),
        }
    }

    fn end(&mut self, ending: Ending) {
        if let Some(finisher) = self.finisher.take() {
            let at = Instant::now();
            let (observed, moderated) = match self.relay.take() {
                Some(relay) => (
                    Observed::Read {
                        output: relay.output.finish(),
                        usage: relay.usage,
                    },
                    relay.guard.map(|g| StreamModeration {
                        record: g.record,
                        blocked: g.blocked,
                    }),
                ),
                None => (self.observed.take().unwrap_or(Observed::NOTHING), None),
            };
            finisher.finish(Ended {
                ending,
                at,
                observed,
                moderated,
            });
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
                                if this.relay.as_deref().is_some_and(SseRelay::is_cut) {
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
                            .map(|relay| relay.finish())
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
