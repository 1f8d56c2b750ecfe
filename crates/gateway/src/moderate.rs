//! Content moderation on the request path: running the scanner within its time budget,
//! turning a verdict into the tenant's action, and recording what was done.
//!
//! Texts up to [`INLINE_LIMIT`] are scanned on the worker's own thread (tens of
//! microseconds to a few milliseconds) with scratch space reused per thread; longer ones
//! go to a blocking thread so the worker's event loop is never stalled, and are abandoned
//! when the budget runs out. A scan that panics or overruns its budget is not trusted:
//! the tenant's `fail_mode` decides.

use std::{
    cell::RefCell,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
    time::{Duration, Instant},
};

use bulwark_config::{Action, FailMode, ModerationConfig, Policy};
use bulwark_core::{Category, SideRecord, TenantId};
use bulwark_moderation::{ScanScratch, Scanner, Side, StreamScan, Verdict};

use crate::metrics::{ModerationMetrics, StageLabels};

/// Longest text scanned on the worker's thread; longer ones go to a blocking thread.
pub(crate) const INLINE_LIMIT: usize = 64 * 1024;

/// The `x-bulwark-moderation` response header, set to `skipped` when a check could not
/// be made and `fail_mode = "open"` let the call through (or `closed` refused it).
pub(crate) const HEADER: &str = "x-bulwark-moderation";

/// Where on the request path a scan happens: a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Input,
    Output,
    Upload,
    Api,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Output => "output",
            Stage::Upload => "upload",
            Stage::Api => "api",
        }
    }

    fn of(side: Side) -> Self {
        match side {
            Side::Input => Stage::Input,
            Side::Output => Stage::Output,
        }
    }
}

/// Why a scan gave no verdict that can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanFailure {
    /// The scanner panicked (a bug; caught and counted).
    Panicked,
    /// The scan overran `moderation.scan_timeout`.
    OverBudget,
}

impl ScanFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScanFailure::Panicked => "error",
            ScanFailure::OverBudget => "timeout",
        }
    }
}

thread_local! {
    /// Scratch space of the scans that run on this thread, reused from call to call.
    static SCRATCH: RefCell<ScanScratch> = RefCell::new(ScanScratch::new());
}

/// The scanner and the settings that decide what its verdicts mean.
#[derive(Debug)]
pub(crate) struct Moderation {
    pub(crate) enabled: bool,
    pub(crate) scanner: Scanner,
    config: ModerationConfig,
    pub(crate) metrics: ModerationMetrics,
}

impl Moderation {
    /// Applies the configured threshold overrides to `scanner`.
    pub(crate) fn new(
        config: &ModerationConfig,
        scanner: Scanner,
        metrics: ModerationMetrics,
    ) -> Self {
        let mut scanner = scanner;
        for side in [Side::Input, Side::Output] {
            let overrides = config.thresholds.side(side);
            if overrides.iter().any(Option::is_some) {
                let mut thresholds = *scanner.thresholds(side);
                for (t, o) in thresholds.iter_mut().zip(overrides) {
                    if let Some(o) = o {
                        *t = o;
                    }
                }
                scanner = scanner.with_thresholds(side, thresholds);
            }
        }
        Self {
            enabled: config.enabled,
            scanner,
            config: config.clone(),
            metrics,
        }
    }

    /// The fail mode and policy for calls by `tenant` (the default ones without a tenant).
    pub(crate) fn for_tenant(&self, tenant: Option<&TenantId>) -> (FailMode, &Policy) {
        match tenant {
            Some(t) => self.config.for_tenant(t),
            None => (self.config.fail_mode, &self.config.policy),
        }
    }

    pub(crate) fn budget(&self) -> Duration {
        self.config.scan_timeout
    }

    /// Characters held back per streamed choice.
    pub(crate) fn window(&self) -> usize {
        self.config.stream_window
    }

    pub(crate) fn upload_reject_share(&self) -> f64 {
        self.config.upload_reject_share
    }

    /// Scans `text` on this thread, within the budget.
    pub(crate) fn scan_here(
        &self,
        text: &str,
        side: Side,
        stage: Stage,
    ) -> Result<Verdict, ScanFailure> {
        let started = Instant::now();
        let result = scan_guarded(&self.scanner, text, side);
        self.observe(stage, started.elapsed(), result.is_ok());
        let verdict = result.map_err(|failure| self.skipped(stage, failure))?;
        if started.elapsed() > self.budget() {
            return Err(self.skipped(stage, ScanFailure::OverBudget));
        }
        Ok(verdict)
    }

    /// Scans `text`: here when it is short, on a blocking thread when it is long (given up
    /// on when the budget runs out; the thread finishes the scan and discards it).
    pub(crate) async fn scan(
        &self,
        text: &str,
        side: Side,
        stage: Stage,
    ) -> Result<Verdict, ScanFailure> {
        if text.len() <= INLINE_LIMIT {
            return self.scan_here(text, side, stage);
        }
        let scanner = self.scanner.clone();
        let owned: Arc<str> = Arc::from(text);
        let started = Instant::now();
        let task = tokio::task::spawn_blocking(move || scan_guarded(&scanner, &owned, side));
        match tokio::time::timeout(self.budget(), task).await {
            Ok(Ok(Ok(verdict))) => {
                self.observe(stage, started.elapsed(), true);
                Ok(verdict)
            }
            Ok(Ok(Err(failure))) => {
                self.observe(stage, started.elapsed(), false);
                Err(self.skipped(stage, failure))
            }
            Ok(Err(_)) => Err(self.skipped(stage, ScanFailure::Panicked)),
            Err(_) => Err(self.skipped(stage, ScanFailure::OverBudget)),
        }
    }

    /// Feeds the next piece of a stream to its scan, within the budget; the verdict so far
    /// is then [`StreamScan::verdict`].
    pub(crate) fn push_stream(
        &self,
        scan: &mut StreamScan,
        piece: &str,
    ) -> Result<(), ScanFailure> {
        self.step_stream(scan, |s| {
            s.push(piece);
        })
    }

    /// Checks what is left of a stream, within the budget.
    pub(crate) fn finish_stream(&self, scan: &mut StreamScan) -> Result<(), ScanFailure> {
        self.step_stream(scan, |s| {
            s.finish();
        })
    }

    fn step_stream(
        &self,
        scan: &mut StreamScan,
        step: impl FnOnce(&mut StreamScan),
    ) -> Result<(), ScanFailure> {
        let started = Instant::now();
        let result =
            catch_unwind(AssertUnwindSafe(|| step(scan))).map_err(|_| ScanFailure::Panicked);
        let elapsed = started.elapsed();
        self.observe(Stage::Output, elapsed, result.is_ok());
        match result {
            Err(failure) => Err(self.skipped(Stage::Output, failure)),
            Ok(()) if elapsed > self.budget() => {
                Err(self.skipped(Stage::Output, ScanFailure::OverBudget))
            }
            Ok(()) => Ok(()),
        }
    }

    fn observe(&self, stage: Stage, elapsed: Duration, counted: bool) {
        let labels = StageLabels {
            stage: stage.as_str(),
        };
        if counted {
            self.metrics.scans.get_or_create(&labels).inc();
        }
        self.metrics
            .scan_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    fn skipped(&self, stage: Stage, failure: ScanFailure) -> ScanFailure {
        self.metrics
            .skipped
            .get_or_create(&crate::metrics::SkipLabels {
                stage: stage.as_str(),
                reason: failure.as_str(),
            })
            .inc();
        if failure == ScanFailure::Panicked {
            tracing::error!(stage = stage.as_str(), "the moderation scanner panicked");
        }
        failure
    }

    /// Counts scans made elsewhere (an upload's lines, on the scanning thread).
    pub(crate) fn count_scans(&self, stage: Stage, scans: u64) {
        self.metrics
            .scans
            .get_or_create(&StageLabels {
                stage: stage.as_str(),
            })
            .inc_by(scans);
    }

    /// Counts a check that could not be made.
    pub(crate) fn count_skip(&self, stage: Stage, failure: ScanFailure) {
        self.skipped(stage, failure);
    }

    /// Counts the categories a block was for.
    pub(crate) fn count_block(&self, stage: Stage, categories: &[Category]) {
        for category in categories {
            self.metrics
                .blocks
                .get_or_create(&crate::metrics::BlockLabels {
                    stage: stage.as_str(),
                    category: category.id(),
                })
                .inc();
        }
    }

    /// Counts a side's block under its stage.
    pub(crate) fn count_side_block(&self, side: Side, categories: &[Category]) {
        self.count_block(Stage::of(side), categories);
    }
}

/// One scan with this thread's scratch space, a panic turned into a failure (no budget,
/// no metrics: for scans already off the event loop, such as an upload's lines).
pub(crate) fn scan_once(scanner: &Scanner, text: &str, side: Side) -> Result<Verdict, ScanFailure> {
    scan_guarded(scanner, text, side)
}

/// One scan with this thread's scratch space, a panic turned into a failure.
fn scan_guarded(scanner: &Scanner, text: &str, side: Side) -> Result<Verdict, ScanFailure> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => scanner.scan(text, side, &mut scratch),
            // Only reachable if a scan re-entered this thread's scan; stay correct anyway.
            Err(_) => scanner.scan(text, side, &mut ScanScratch::new()),
        })
    }));
    result.map_err(|_| {
        // The scratch space may be half-written: start the next scan from a clean one.
        SCRATCH.with(|cell| {
            if let Ok(mut scratch) = cell.try_borrow_mut() {
                *scratch = ScanScratch::new();
            }
        });
        ScanFailure::Panicked
    })
}

/// What the tenant's policy makes of a verdict on `side`: the most severe action of the
/// flagged categories, `allow` when none is flagged.
pub(crate) fn decide(verdict: &Verdict, policy: &Policy, side: Side) -> Action {
    verdict
        .categories()
        .map(|c| policy.action(c, side))
        .max()
        .unwrap_or(Action::Allow)
}

/// The categories of a verdict that `policy` blocks on `side`.
pub(crate) fn blocked_categories(verdict: &Verdict, policy: &Policy, side: Side) -> Vec<Category> {
    verdict
        .categories()
        .filter(|c| policy.action(*c, side) == Action::Block)
        .collect()
}

/// The event's record of a checked side.
pub(crate) fn side_record(verdict: &Verdict, action: Action) -> SideRecord {
    let mut record = verdict.record();
    record.action = Some(action.as_str().to_owned());
    record
}

/// The event's record of a side that could not be checked.
pub(crate) fn skipped_record() -> SideRecord {
    SideRecord {
        flagged: false,
        categories: Vec::new(),
        max_score: 0.0,
        action: Some("skipped".to_owned()),
    }
}

/// Merges a later verdict on the same side into a record (streams and multi-choice
/// answers): categories united, the highest score and the most severe action kept.
pub(crate) fn merge_record(into: &mut Option<SideRecord>, verdict: &Verdict, action: Action) {
    let Some(record) = into else {
        *into = Some(side_record(verdict, action));
        return;
    };
    record.flagged |= verdict.is_flagged();
    for category in verdict.categories() {
        if !record.categories.contains(&category) {
            record.categories.push(category);
        }
    }
    record.categories.sort();
    record.max_score = record.max_score.max(verdict.scores.max());
    let current = match record.action.as_deref() {
        Some("block") => Action::Block,
        Some("flag") => Action::Flag,
        _ => Action::Allow,
    };
    if record.action.as_deref() != Some("skipped") {
        record.action = Some(current.max(action).as_str().to_owned());
    }
}

/// A scanner whose model scores nothing, with `rules`: deterministic verdicts for tests.
#[cfg(test)]
pub(crate) fn test_scanner(rules: bulwark_moderation::RulePack) -> Scanner {
    use bulwark_moderation::{FeatureConfig, Head, Model};
    let config = FeatureConfig {
        bucket_bits: 8,
        ..FeatureConfig::default()
    };
    let head = Head {
        bias: -30.0,
        scale: 1.0,
        platt_a: 1.0,
        platt_b: 0.0,
        threshold_input: 0.5,
        threshold_output: 0.5,
    };
    #[allow(clippy::expect_used, reason = "tests")]
    let model = Model::from_parts(
        "test-null".into(),
        config,
        [head; Category::COUNT],
        vec![[0; Category::COUNT]; config.buckets()],
    )
    .expect("a valid null model");
    Scanner::new(model, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_severe_action_wins() {
        let mut verdict = Verdict::default();
        assert_eq!(
            decide(&verdict, &Policy::BLOCK_ALL, Side::Input),
            Action::Allow
        );
        verdict.flagged[Category::Phishing.index()] = true;
        assert_eq!(
            decide(&verdict, &Policy::BLOCK_ALL, Side::Input),
            Action::Block
        );
        assert_eq!(
            blocked_categories(&verdict, &Policy::BLOCK_ALL, Side::Output),
            [Category::Phishing]
        );
    }

    #[test]
    fn records_merge() {
        let mut record = None;
        let mut v = Verdict::default();
        v.flagged[Category::Jailbreak.index()] = true;
        v.scores.0[Category::Jailbreak.index()] = 0.7;
        merge_record(&mut record, &v, Action::Flag);
        let mut w = Verdict::default();
        w.flagged[Category::Phishing.index()] = true;
        w.scores.0[Category::Phishing.index()] = 0.9;
        merge_record(&mut record, &w, Action::Block);
        let record = record.unwrap();
        assert_eq!(record.categories, [Category::Phishing, Category::Jailbreak]);
        assert_eq!(record.action.as_deref(), Some("block"));
        assert!((record.max_score - 0.9).abs() < 1e-6);
    }
}
