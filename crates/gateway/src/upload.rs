//! Moderation of fine-tuning and batch uploads (`POST /v1/files`, `purpose` `fine-tune`
//! or `batch`) as they stream to the upstream, in bounded memory.
//!
//! The multipart body is forwarded as it arrives, but always one frame behind: the last
//! frame (with the closing boundary) is held until the whole file has been scanned. The
//! scan runs on a blocking thread, fed through a bounded channel (so a slow scan slows
//! the upload instead of buffering it): an incremental multipart parser finds the
//! `purpose` and the `file` part, the file is split into lines, and each JSONL line's
//! texts are scanned — prompts (system, user, tool messages, `prompt`, batch request
//! bodies) on the input side, answers (assistant messages, `completion`, preference
//! outputs) on the output side. If the share of blocked lines is above
//! `moderation.upload_reject_share`, the held frame is never sent: the body fails, the
//! upstream receives an incomplete request it discards, and the client gets a 400 naming
//! the offending lines. The scan may lag the upload by at most `moderation.scan_timeout`
//! after the last byte; beyond, `fail_mode` decides.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bulwark_config::{Action, FailMode, Policy};
use bulwark_core::{Category, UploadRecord};
use bulwark_moderation::{Scanner, Side};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::{sync::mpsc, task::JoinHandle, time::Sleep};
use tokio_util::sync::PollSender;

use crate::{
    error::{MAX_LISTED_LINES, Rejection, UploadVerdict},
    moderate::{Moderation, ScanFailure, Stage},
    wire::Texts,
};

/// Frames queued for the scanning thread before the upload waits for it.
const QUEUE: usize = 16;

/// Longest line scanned; the rest of a longer line is not (the scanner's own bound on
/// one text).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Longest multipart part header block, and `purpose` value, read.
const MAX_HEADERS: usize = 16 * 1024;
const MAX_PURPOSE: usize = 64;

/// What the pipeline learns once the upload body has been sent (or refused).
#[derive(Debug, Default)]
pub(crate) struct UploadOutcome {
    /// The event's record; `None` when the upload was not one that is moderated.
    pub(crate) record: Option<UploadRecord>,
    /// Why the upload was refused, if it was.
    pub(crate) rejection: Option<Rejection>,
}

/// The shared slot the body fills in.
pub(crate) type OutcomeSlot = Arc<Mutex<UploadOutcome>>;

/// The multipart boundary of a `multipart/form-data` request, if it is one.
pub(crate) fn boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let (kind, params) = value.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

enum Phase {
    /// Forwarding frames, one behind, while the scanner reads them.
    Streaming,
    /// The client's body has ended: waiting (within the budget) for the scan's result.
    Judging(Pin<Box<Sleep>>),
    /// Decided: the held frame (if any) goes, then the end.
    Release,
    /// Refused or failed: nothing more.
    Done,
}

/// The upload body, moderated on its way to the upstream.
pub(crate) struct ModeratedUpload<B> {
    inner: B,
    sender: Option<PollSender<Bytes>>,
    to_scan: Option<Bytes>,
    held: Option<Bytes>,
    /// Trailers, if the client sent any: they go after the held frame.
    trailers: Option<HeaderMap>,
    scan: Option<JoinHandle<Result<Report, ScanFailure>>>,
    phase: Phase,
    moderation: Arc<Moderation>,
    fail_mode: FailMode,
    outcome: OutcomeSlot,
}

impl<B> std::fmt::Debug for ModeratedUpload<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModeratedUpload").finish_non_exhaustive()
    }
}

impl<B> ModeratedUpload<B> {
    /// Wraps `inner` and starts the scanning thread.
    pub(crate) fn new(
        inner: B,
        boundary: &str,
        moderation: Arc<Moderation>,
        policy: Policy,
        fail_mode: FailMode,
    ) -> (Self, OutcomeSlot) {
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let scanner = moderation.scanner.clone();
        let mut parser = Multipart::new(boundary, LineScan::new(scanner, policy));
        let scan = tokio::task::spawn_blocking(move || {
            let mut rx = rx;
            while let Some(chunk) = rx.blocking_recv() {
                parser.feed(&chunk)?;
            }
            parser.finish()
        });
        let outcome = OutcomeSlot::default();
        let body = Self {
            inner,
            sender: Some(PollSender::new(tx)),
            to_scan: None,
            held: None,
            trailers: None,
            scan: Some(scan),
            phase: Phase::Streaming,
            moderation,
            fail_mode,
            outcome: Arc::clone(&outcome),
        };
        (body, outcome)
    }

    /// Applies the scan's result; returns whether the held frame may go.
    fn judge(&mut self, result: Result<Report, ScanFailure>) -> bool {
        let mut outcome = self.outcome.lock();
        let report = match result {
            Ok(report) => report,
            Err(_) => {
                outcome.record = Some(UploadRecord {
                    skipped: true,
                    ..UploadRecord::default()
                });
                return match self.fail_mode {
                    FailMode::Open => true,
                    FailMode::Closed => {
                        outcome.rejection = Some(Rejection::ModerationUnavailable);
                        false
                    }
                };
            }
        };
        if !report.applies {
            return true;
        }
        self.moderation
            .count_scans(Stage::Upload, report.record.lines);
        let share = if report.record.lines == 0 {
            0.0
        } else {
            report.blocked_lines as f64 / report.record.lines as f64
        };
        let rejected = report.blocked_lines > 0 && share > self.moderation.upload_reject_share();
        let mut record = report.record;
        record.rejected = rejected;
        outcome.record = Some(record);
        if rejected {
            self.moderation
                .count_block(Stage::Upload, &report.blocked_categories);
            outcome.rejection = Some(Rejection::UploadFiltered(Box::new(UploadVerdict {
                lines: outcome.record.as_ref().map_or(0, |r| r.lines),
                blocked_lines: report.blocked_lines,
                reject_share: self.moderation.upload_reject_share(),
                offending: report.offending,
                categories: report.blocked_categories,
            })));
        }
        !rejected
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for ModeratedUpload<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match &mut this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Release => {
                    if let Some(last) = this.held.take() {
                        return Poll::Ready(Some(Ok(Frame::data(last))));
                    }
                    this.phase = Phase::Done;
                    if let Some(trailers) = this.trailers.take() {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    return Poll::Ready(None);
                }
                Phase::Judging(deadline) => {
                    let Some(scan) = this.scan.as_mut() else {
                        this.phase = Phase::Release;
                        continue;
                    };
                    let result = match Pin::new(scan).poll(cx) {
                        Poll::Ready(Ok(result)) => result,
                        Poll::Ready(Err(_)) => Err(ScanFailure::Panicked),
                        Poll::Pending => {
                            if deadline.as_mut().poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            Err(ScanFailure::OverBudget)
                        }
                    };
                    this.scan = None;
                    if let Err(failure) = &result {
                        this.moderation.count_skip(Stage::Upload, *failure);
                    }
                    if this.judge(result) {
                        this.phase = Phase::Release;
                        continue;
                    }
                    this.phase = Phase::Done;
                    this.held = None;
                    return Poll::Ready(Some(Err(
                        "the upload was refused by content moderation".into()
                    )));
                }
                Phase::Streaming => {
                    // What was read last goes to the scanner before anything more is read.
                    if let Some(chunk) = this.to_scan.take()
                        && let Some(sender) = &mut this.sender
                    {
                        match sender.poll_reserve(cx) {
                            Poll::Pending => {
                                this.to_scan = Some(chunk);
                                return Poll::Pending;
                            }
                            Poll::Ready(Ok(())) => {
                                // The scanner may have stopped (a failed scan ended it
                                // early): its result says so.
                                let _ = sender.send_item(chunk);
                            }
                            Poll::Ready(Err(_)) => this.sender = None,
                        }
                    }
                    match Pin::new(&mut this.inner).poll_frame(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(Err(error))) => {
                            this.phase = Phase::Done;
                            this.sender = None;
                            return Poll::Ready(Some(Err(error.into())));
                        }
                        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                            Ok(data) => {
                                this.to_scan = Some(data.clone());
                                if let Some(previous) = this.held.replace(data) {
                                    return Poll::Ready(Some(Ok(Frame::data(previous))));
                                }
                            }
                            // Trailers end a body: keep them for after the held frame.
                            Err(frame) => {
                                if let Ok(trailers) = frame.into_trailers() {
                                    this.trailers = Some(trailers);
                                }
                            }
                        },
                        Poll::Ready(None) => {
                            // Every chunk read has been handed to the scanner (that
                            // happens before the next read); closing the channel lets the scanner finish.
                            this.sender = None;
                            this.phase = Phase::Judging(Box::pin(tokio::time::sleep(
                                this.moderation.budget(),
                            )));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn size_hint(&self) -> SizeHint {
        // The same bytes go through, unless the upload is refused.
        self.inner.size_hint()
    }
}

/// What the scan of one upload found.
#[derive(Debug, Default)]
struct Report {
    /// The purpose is `fine-tune` or `batch`.
    applies: bool,
    record: UploadRecord,
    blocked_lines: u64,
    offending: Vec<(u64, Vec<Category>)>,
    blocked_categories: Vec<Category>,
}

/// An incremental `multipart/form-data` parser that hands the `file` part to a
/// [`LineScan`] and remembers the `purpose`.
struct Multipart {
    /// `\r\n--boundary`
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    state: PartState,
    part: Part,
    purpose: Option<String>,
    lines: LineScan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartState {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: `--` ends the body, `\r\n` starts a part.
    AfterDelimiter,
    Headers,
    Body,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Purpose,
    File,
    Other,
}

impl Multipart {
    fn new(boundary: &str, lines: LineScan) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Self {
            delimiter,
            // The first delimiter has no line break before it; pretend it has.
            buf: b"\r\n".to_vec(),
            state: PartState::Preamble,
            part: Part::Other,
            purpose: None,
            lines,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), ScanFailure> {
        if self.state == PartState::End {
            return Ok(());
        }
        self.buf.extend_from_slice(chunk);
        loop {
            match self.state {
                PartState::End => {
                    self.buf.clear();
                    return Ok(());
                }
                PartState::Preamble | PartState::Body => {
                    match find(&self.buf, &self.delimiter) {
                        Some(at) => {
                            let data = self.buf.get(..at).unwrap_or_default().to_vec();
                            if self.state == PartState::Body {
                                self.part_data(&data)?;
                                if self.part == Part::File {
                                    self.lines.end_of_file()?;
                                }
                            }
                            self.buf.drain(..at + self.delimiter.len());
                            self.state = PartState::AfterDelimiter;
                        }
                        None => {
                            // Keep what could be the start of a delimiter.
                            let keep = self.delimiter.len().saturating_sub(1);
                            let cut = self.buf.len().saturating_sub(keep);
                            if self.state == PartState::Body && cut > 0 {
                                let data: Vec<u8> = self.buf.drain(..cut).collect();
                                self.part_data(&data)?;
                            } else {
                                self.buf.drain(..cut);
                            }
                            return Ok(());
                        }
                    }
                }
                PartState::AfterDelimiter => {
                    let Some(two) = self.buf.get(..2) else {
                        return Ok(());
                    };
                    if two == b"--" {
                        self.state = PartState::End;
                    } else {
                        self.state = PartState::Headers;
                    }
                }
                PartState::Headers => {
                    let Some(at) = find(&self.buf, b"\r\n\r\n") else {
                        if self.buf.len() > MAX_HEADERS {
                            self.part = Part::Other;
                            self.state = PartState::Preamble;
                        }
                        return Ok(());
                    };
                    let headers = String::from_utf8_lossy(self.buf.get(..at).unwrap_or_default())
                        .into_owned();
                    self.buf.drain(..at + 4);
                    self.part = match part_name(&headers).as_deref() {
                        Some("purpose") => {
                            self.purpose = Some(String::new());
                            Part::Purpose
                        }
                        Some("file") => Part::File,
                        _ => Part::Other,
                    };
                    self.state = PartState::Body;
                }
            }
        }
    }

    fn part_data(&mut self, data: &[u8]) -> Result<(), ScanFailure> {
        match self.part {
            Part::Purpose => {
                if let Some(purpose) = &mut self.purpose
                    && purpose.len() < MAX_PURPOSE
                {
                    purpose.push_str(&String::from_utf8_lossy(data));
                }
                Ok(())
            }
            Part::File => {
                // A purpose read before the file that is not moderated: skip the scan.
                if self
                    .purpose
                    .as_deref()
                    .is_some_and(|p| !moderated_purpose(p))
                {
                    return Ok(());
                }
                self.lines.feed(data)
            }
            Part::Other => Ok(()),
        }
    }

    fn finish(mut self) -> Result<Report, ScanFailure> {
        if self.state == PartState::Body && self.part == Part::File {
            self.lines.end_of_file()?;
        }
        let applies = self.purpose.as_deref().is_some_and(moderated_purpose);
        let mut report = self.lines.report;
        report.applies = applies;
        Ok(report)
    }
}

fn moderated_purpose(purpose: &str) -> bool {
    matches!(purpose.trim(), "fine-tune" | "batch")
}

/// The `name` of a part, from its `Content-Disposition` header.
fn part_name(headers: &str) -> Option<String> {
    let disposition = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    disposition.split(';').find_map(|param| {
        let (key, value) = param.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + offset;
        match haystack.get(at..at + needle.len()) {
            Some(window) if window == needle => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

/// Splits a JSONL file into lines and scans each.
struct LineScan {
    scanner: Scanner,
    policy: Policy,
    line: Vec<u8>,
    /// The current line is longer than [`MAX_LINE`]: the rest of it is not kept.
    overlong: bool,
    number: u64,
    input: String,
    output: String,
    report: Report,
}

/// One JSONL line of a fine-tuning or batch file: the fields that carry text.
#[derive(Debug, Default, Deserialize)]
struct LineView<'a> {
    #[serde(borrow, default)]
    messages: Option<Vec<RoleMessage<'a>>>,
    #[serde(borrow, default)]
    prompt: Option<Texts<'a>>,
    #[serde(borrow, default)]
    completion: Option<Texts<'a>>,
    #[serde(borrow, default)]
    input: Option<Texts<'a>>,
    #[serde(borrow, default)]
    instructions: Option<Texts<'a>>,
    #[serde(borrow, default)]
    preferred_output: Option<Vec<RoleMessage<'a>>>,
    #[serde(borrow, default)]
    non_preferred_output: Option<Vec<RoleMessage<'a>>>,
    /// A batch line's request.
    #[serde(borrow, default)]
    body: Option<Box<LineView<'a>>>,
}

#[derive(Debug, Deserialize)]
struct RoleMessage<'a> {
    #[serde(borrow, default)]
    role: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Texts<'a>>,
}

impl LineView<'_> {
    /// Prompt texts to `input`, answer texts to `output`.
    fn texts(&self, input: &mut String, output: &mut String) {
        for message in self.messages.iter().flatten() {
            if let Some(content) = &message.content {
                if message.role.as_deref() == Some("assistant") {
                    content.join_into(output);
                } else {
                    content.join_into(input);
                }
            }
        }
        for texts in [&self.prompt, &self.input, &self.instructions]
            .into_iter()
            .flatten()
        {
            texts.join_into(input);
        }
        if let Some(completion) = &self.completion {
            completion.join_into(output);
        }
        // Preference data: both outputs are answers the model is trained on or against.
        for message in self
            .preferred_output
            .iter()
            .chain(&self.non_preferred_output)
            .flatten()
        {
            if let Some(content) = &message.content {
                content.join_into(output);
            }
        }
        if let Some(body) = &self.body {
            body.texts(input, output);
        }
    }
}

impl LineScan {
    fn new(scanner: Scanner, policy: Policy) -> Self {
        Self {
            scanner,
            policy,
            line: Vec::new(),
            overlong: false,
            number: 0,
            input: String::new(),
            output: String::new(),
            report: Report::default(),
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), ScanFailure> {
        while let Some(at) = data.iter().position(|b| *b == b'\n') {
            let (head, rest) = data.split_at(at);
            self.append(head);
            self.end_line()?;
            data = rest.get(1..).unwrap_or_default();
        }
        self.append(data);
        Ok(())
    }

    fn append(&mut self, piece: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        if piece.len() > room {
            self.overlong = true;
        }
        self.line
            .extend_from_slice(piece.get(..piece.len().min(room)).unwrap_or_default());
    }

    fn end_of_file(&mut self) -> Result<(), ScanFailure> {
        if !self.line.is_empty() {
            self.end_line()?;
        }
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), ScanFailure> {
        self.number += 1;
        let line = std::mem::take(&mut self.line);
        self.overlong = false;
        let result = self.scan_line(&line);
        // Keep the buffer's capacity for the next line.
        self.line = line;
        self.line.clear();
        result
    }

    fn scan_line(&mut self, line: &[u8]) -> Result<(), ScanFailure> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return Ok(());
        }
        self.report.record.lines += 1;
        self.input.clear();
        self.output.clear();
        // A line that is not JSON has no texts Bulwark can read; the upstream refuses
        // such files anyway.
        if let Ok(view) = serde_json::from_slice::<LineView<'_>>(trimmed) {
            view.texts(&mut self.input, &mut self.output);
        }
        let mut flagged = [false; Category::COUNT];
        let mut blocked = [false; Category::COUNT];
        for (text, side) in [(&self.input, Side::Input), (&self.output, Side::Output)] {
            if text.is_empty() {
                continue;
            }
            let verdict = crate::moderate::scan_once(&self.scanner, text, side)?;
            for category in verdict.categories() {
                let action = self.policy.action(category, side);
                if let Some(slot) = flagged.get_mut(category.index()) {
                    *slot |= action != Action::Allow;
                }
                if let Some(slot) = blocked.get_mut(category.index()) {
                    *slot |= action == Action::Block;
                }
            }
        }
        if flagged.iter().any(|f| *f) {
            self.report.record.flagged_lines += 1;
            for category in Category::ALL {
                if flagged.get(category.index()).copied().unwrap_or(false) {
                    *self.report.record.categories.entry(category).or_insert(0) += 1;
                }
            }
        }
        if blocked.iter().any(|b| *b) {
            self.report.blocked_lines += 1;
            let categories: Vec<Category> = Category::ALL
                .into_iter()
                .filter(|c| blocked.get(c.index()).copied().unwrap_or(false))
                .collect();
            for category in &categories {
                if !self.report.blocked_categories.contains(category) {
                    self.report.blocked_categories.push(*category);
                }
            }
            if self.report.offending.len() < MAX_LISTED_LINES {
                self.report.offending.push((self.number, categories));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_boundary() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=\"abc\"".parse().unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("abc"));
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        assert_eq!(boundary(&h), None);
    }

    fn form(purpose_first: bool, lines: &str) -> Vec<u8> {
        let purpose =
            "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n";
        let file = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n{lines}\r\n"
        );
        let body = if purpose_first {
            format!("{purpose}{file}--XyZ--\r\n")
        } else {
            format!("{file}{purpose}--XyZ--\r\n")
        };
        body.into_bytes()
    }

    /// A policy that blocks everything and a scanner that flags nothing: only line
    /// counting and parsing are under test here (verdicts are tested end to end).
    fn parse(body: &[u8], piece: usize) -> Report {
        let mut parser = Multipart::new(
            "XyZ",
            LineScan::new(
                crate::moderate::test_scanner(bulwark_moderation::RulePack::empty()),
                Policy::BLOCK_ALL,
            ),
        );
        for chunk in body.chunks(piece) {
            parser.feed(chunk).unwrap();
        }
        parser.finish().unwrap()
    }

    #[test]
    fn parses_parts_and_lines_whatever_the_chunking() {
        let lines = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n\n{\"prompt\":\"a\",\"completion\":\"b\"}";
        for purpose_first in [true, false] {
            let body = form(purpose_first, lines);
            for piece in [1, 2, 3, 7, 64, body.len()] {
                let report = parse(&body, piece);
                assert!(report.applies, "piece {piece}");
                assert_eq!(report.record.lines, 2, "piece {piece}");
            }
        }
    }

    #[test]
    fn other_purposes_are_not_moderated() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n{\"prompt\":\"x\"}\r\n--XyZ--\r\n";
        let report = parse(body, 5);
        assert!(!report.applies);
        assert_eq!(report.record.lines, 0);
    }

    #[test]
    fn line_texts_by_side() {
        let line = br#"{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"u"}]},{"role":"assistant","content":"a"}]}}"#;
        let view: LineView<'_> = serde_json::from_slice(line).unwrap();
        let (mut input, mut output) = (String::new(), String::new());
        view.texts(&mut input, &mut output);
        assert_eq!(input, "s\nu");
        assert_eq!(output, "a");
        let pref = br#"{"input":{"messages":[{"role":"user","content":"q"}]},"preferred_output":[{"role":"assistant","content":"good"}],"non_preferred_output":[{"role":"assistant","content":"bad"}]}"#;
        let view: LineView<'_> = serde_json::from_slice(pref).unwrap();
        let (mut input, mut output) = (String::new(), String::new());
        view.texts(&mut input, &mut output);
        assert_eq!(input, "q");
        assert_eq!(output, "good\nbad");
    }

    #[test]
    fn find_works_across_candidates() {
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"a", b"ab"), None);
        assert_eq!(find(b"xxabab", b"abab"), Some(2));
    }
}
