//! `MODEL_CARD.md`, written by `bulwark model train --config`: the data and their
//! licences, the method, per-category figures on the dev split (where the thresholds
//! were chosen; the honest figures are in the evaluation file `bulwark model eval
//! --compare` writes), and the known weaknesses.

use std::{collections::BTreeMap, fmt::Write as _};

use bulwark_core::{Category, Side};
use bulwark_moderation::{Model, Normalizer, Scratch};
use bulwark_semantic::SemanticModel;

use crate::{Corpus, Licence, Split, metrics::Metrics, plan::Plan, score, semantic, train::Sample};

/// Per category with a dev positive: the metrics at the input threshold.
pub fn dev_metrics(
    scores: &[[f32; Category::COUNT]],
    dev: &[Sample<'_>],
    thresholds: [f32; Category::COUNT],
) -> Vec<(Category, Metrics)> {
    Category::ALL
        .into_iter()
        .enumerate()
        .filter_map(|(c, category)| {
            let pairs: Vec<(f32, bool)> = scores
                .iter()
                .zip(dev)
                .map(|(s, d)| {
                    (
                        s.get(c).copied().unwrap_or(0.0),
                        d.labels.contains(category),
                    )
                })
                .collect();
            pairs.iter().any(|(_, y)| *y).then(|| {
                (
                    category,
                    Metrics::of(&pairs, thresholds.get(c).copied().unwrap_or(1.0)),
                )
            })
        })
        .collect()
}

/// Dev scores of the n-gram model and (if any) the semantic model.
pub fn dev_scores(
    ngram: &Model,
    semantic_model: Option<&SemanticModel>,
    dev: &[Sample<'_>],
) -> (
    Vec<[f32; Category::COUNT]>,
    Option<Vec<[f32; Category::COUNT]>>,
) {
    let normalizer = Normalizer::new();
    let mut scratch = Scratch::new();
    let mut sem = bulwark_semantic::Scratch::new();
    let n = dev
        .iter()
        .map(|s| score::scores(ngram, &normalizer, &mut scratch, s.text))
        .collect();
    let s = semantic_model.map(|m| {
        dev.iter()
            .map(|s| semantic::scores(m, &normalizer, &mut scratch, &mut sem, s.text))
            .collect()
    });
    (n, s)
}

fn table(out: &mut String, rows: &[(Category, Metrics)]) {
    let _ = writeln!(
        out,
        "| category | dev positives | threshold | precision | recall | AUPRC | TPR@1%FPR |\n|---|---|---|---|---|---|---|"
    );
    for (c, m) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            c.id(),
            m.positives,
            m.threshold,
            m.precision,
            m.recall,
            m.auprc,
            m.tpr_at_1pct_fpr
        );
    }
}

/// What the card describes: the models written and their figures.
#[derive(Debug, Clone, Copy)]
pub struct Models<'a> {
    pub ngram: &'a Model,
    /// The n-gram tier's dev figures ([`dev_metrics`]).
    pub ngram_dev: &'a [(Category, Metrics)],
    pub semantic: Option<&'a SemanticModel>,
    pub semantic_dev: &'a [(Category, Metrics)],
    /// The output side's phishing detector and its figures by source.
    pub detector: Option<(&'a Model, &'a [crate::phishing::DetectorSet])>,
    /// Per side: confusion at the shipped thresholds and misclassified examples.
    pub errors: &'a [crate::misclassified::SideReport],
}

/// Renders the card.
pub fn render(plan: &Plan, corpus: &Corpus, models: &Models<'_>, command: &str) -> String {
    let Models {
        ngram,
        ngram_dev,
        semantic: semantic_model,
        semantic_dev,
        detector,
        errors,
    } = *models;
    let mut out = String::new();
    let _ = writeln!(out, "# Model card: `{}`", ngram.name());
    if let Some(s) = semantic_model {
        let _ = writeln!(out, "\nwith the semantic tier `{}`.", s.name());
    }
    let _ = writeln!(
        out,
        "\nWritten by `{command}`; the same command, data and seed reproduce the model \
         files byte for byte. Figures on sources the models never saw are in \
         [EVALUATION.md](EVALUATION.md) (`bulwark model eval --data {} --compare --markdown \
         models/EVALUATION.md`).",
        plan.data.display()
    );

    let _ = writeln!(out, "\n## Data\n");
    let _ = writeln!(
        out,
        "| source | licence | train | dev | test | evaluation only |\n|---|---|---|---|---|---|"
    );
    let mut per: BTreeMap<(&str, Licence), [usize; 4]> = BTreeMap::new();
    for item in &corpus.items {
        let source = item.example.source.as_str();
        let source = source
            .split('/')
            .next()
            .filter(|s| *s == "jailbreak_llms")
            .unwrap_or(source);
        let k = match item.split {
            Split::Train => 0,
            Split::Dev => 1,
            Split::Test => 2,
            Split::EvalOnly => 3,
        };
        if let Some(n) = per
            .entry((source, item.example.licence))
            .or_default()
            .get_mut(k)
        {
            *n += 1;
        }
    }
    for ((source, licence), n) in &per {
        let licence = match licence {
            Licence::Train => "allows training",
            Licence::EvalOnly => "evaluation only (non-commercial or unstated terms)",
        };
        let _ = writeln!(
            out,
            "| {source} | {licence} | {} | {} | {} | {} |",
            n[0], n[1], n[2], n[3]
        );
    }
    let _ = writeln!(
        out,
        "\n{} exact duplicates (after folding) were merged before splitting. The shipped \
         models are trained on the train split of the sources whose terms allow it, and \
         calibrated on its dev split; evaluation-only sources are never trained on. Label \
         mapping and licences per source: `docs/model-card.md` (Data).",
        corpus.duplicates
    );

    let f = &plan.ngram.features;
    let _ = writeln!(out, "\n## Method\n");
    let _ = writeln!(
        out,
        "- **n-gram tier** (`{}`): hashed word unigrams, bigrams and byte {}–{}-grams of \
         the folded text into 2^{} buckets; one logistic regression per category over \
         windows of {} tokens (hop {}), multiple-instance learning, {} epochs of AdaGrad; \
         `i8` weights; Platt calibration and thresholds on dev.",
        ngram.name(),
        f.char_min,
        f.char_max,
        f.bucket_bits,
        f.window_tokens,
        f.hop_tokens,
        plan.ngram.epochs
    );
    if let (Some(s), Some(sp)) = (semantic_model, &plan.semantic) {
        let p = s.pooling();
        let _ = writeln!(
            out,
            "- **semantic tier** (`{}`): all-MiniLM-L6-v2 distilled into a static table of \
             {} WordPiece tokens × {} dimensions (`i8`, one scale per row; see \
             `crates/training/src/distil.rs`); a text's rows are averaged over windows of \
             {} tokens (hop {}, shorter windows divided by at least {}); one linear head \
             per category, trained as the n-gram tier is ({} epochs); Platt calibration \
             and thresholds on dev.",
            s.name(),
            s.table().rows(),
            s.table().dim(),
            p.window_tokens,
            p.hop_tokens,
            p.norm_floor,
            sp.config.epochs
        );
    }
    let _ = writeln!(
        out,
        "- **thresholds**: per category, the lowest with dev precision ≥ {:.0}% and dev \
         false-positive rate ≤ {:.0}%, never below 0.5.",
        plan.ngram.input.precision * 100.0,
        plan.ngram.input.max_fpr * 100.0
    );

    let _ = writeln!(
        out,
        "\n## Dev figures (where thresholds were chosen: optimistic by construction)\n"
    );
    let _ = writeln!(out, "### n-gram tier\n");
    table(&mut out, ngram_dev);
    if semantic_model.is_some() {
        let _ = writeln!(out, "\n### semantic tier\n");
        table(&mut out, semantic_dev);
    }
    if let Some(s) = semantic_model.filter(|s| !s.fusion().is_empty()) {
        let _ = writeln!(
            out,
            "\n## Combined tier\n\nPer category, `p = sigmoid(a · n-gram logit + b · semantic \
             logit + c)`, fitted on the dev split (logistic regression with a ridge on `a`, \
             `b`); input thresholds on dev{}.\n",
            match plan.traffic_budget {
                Some(b) => format!(
                    ", then raised until at most {:.2}% of the development half of ShareGPT \
                     first turns is flagged per category (ShareGPT's terms allow evaluation \
                     and development, not training: no weight was fitted on it; the other \
                     half is only ever reported); output thresholds start at the dev ones and \
                     are raised until at most {:.2}% of the same half, streamed word by word \
                     on the output side, is ever flagged per category",
                    b * 100.0,
                    b * 100.0
                ),
                None => String::new(),
            }
        );
        let _ = writeln!(
            out,
            "| category | a (n-gram) | b (semantic) | c | input | output |\n|---|---|---|---|---|---|"
        );
        for (f, category) in s.fusion().iter().zip(Category::ALL) {
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                category.id(),
                f.ngram,
                f.semantic,
                f.bias,
                f.threshold_input,
                f.threshold_output
            );
        }
    }
    let _ = writeln!(out, "\n## Thresholds of each tier alone (input / output)\n");
    let _ = writeln!(out, "| category | n-gram | semantic |\n|---|---|---|");
    let (ni, no) = (
        ngram.thresholds(Side::Input),
        ngram.thresholds(Side::Output),
    );
    for (c, category) in Category::ALL.into_iter().enumerate() {
        let sem = semantic_model.map_or_else(
            || "-".to_owned(),
            |s| {
                format!(
                    "{:.3} / {:.3}",
                    s.thresholds(Side::Input).get(c).copied().unwrap_or(1.0),
                    s.thresholds(Side::Output).get(c).copied().unwrap_or(1.0)
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {:.3} / {:.3} | {} |",
            category.id(),
            ni.get(c).copied().unwrap_or(1.0),
            no.get(c).copied().unwrap_or(1.0),
            sem
        );
    }
    if let Some((model, sets)) = detector {
        let _ = writeln!(
            out,
            "\n## Output-side phishing detector (`{}`)\n\nOn the output side (completions) \
             the scanner's `cyber/phishing` score is this detector's and its threshold is \
             {:.3}; rules still raise the score and flag. An n-gram model as above (2^{} buckets, {} \
             epochs), trained on mail and mail-like text only: `{}` as phishing against `{}` \
             (train split; subject, body and link targets, never headers or dates), Platt \
             calibration and the threshold on the dev split of those sources, then raised \
             until at most the traffic budget of ShareGPT's development half is flagged. \
             phishing_pot (honeypot phishing 2023–25, non-commercial terms) was never trained \
             on: it is the held-out corpus. Output-side `cyber/phishing` flagged, with the \
             detector and without it (the fused tiers and rules, as before):\n",
            model.name(),
            model
                .thresholds(Side::Output)
                .get(Category::Phishing.index())
                .copied()
                .unwrap_or(1.0),
            model.config().bucket_bits,
            plan.output_phishing.as_ref().map_or(0, |d| d.config.epochs),
            crate::phishing::POSITIVE_SOURCES.join("`, `"),
            crate::phishing::NEGATIVE_SOURCES.join("`, `"),
        );
        let _ = writeln!(
            out,
            "| set | pos | neg | detector: recall | detector: FP | without: recall | without: FP | without, raised to the budget: recall | FP |\n|---|---|---|---|---|---|---|---|---|"
        );
        let pct = |r: Option<f64>, digits: usize| {
            r.map_or_else(|| "-".to_owned(), |r| format!("{:.*}%", digits, r * 100.0))
        };
        for set in sets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1}% | {:.2}% | {:.1}% | {:.2}% | {} | {} |",
                set.name,
                set.positives,
                set.negatives,
                set.with_detector.recall * 100.0,
                set.with_detector.fpr * 100.0,
                set.without.recall * 100.0,
                set.without.fpr * 100.0,
                pct(set.without_at_budget.map(|r| r.recall), 1),
                pct(set.without_at_budget.map(|r| r.fpr), 2),
            );
        }
    }
    if !errors.is_empty() {
        misclassified(&mut out, errors);
    }
    let _ = writeln!(out, "\n## Known weaknesses\n");
    out.push_str(KNOWN_WEAKNESSES);
    out
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Input => "input",
        Side::Output => "output",
    }
}

fn misclassified(out: &mut String, reports: &[crate::misclassified::SideReport]) {
    use crate::misclassified::{PER_KIND, QUOTABLE_SOURCES, QUOTE_CHARS};
    let _ = writeln!(
        out,
        "\n## Per-category confusion at the shipped thresholds\n\nThe shipped scanner \
         (fused tiers and rule pack{}) at its shipped thresholds: a category is flagged \
         when its score reaches the threshold or a rule of it fired. A text counts as \
         positive for a category when it is labelled with it; a text with several labels \
         counts in each.",
        if reports.iter().any(|r| r.side == Side::Output) {
            "; on the output side with the phishing detector"
        } else {
            ""
        }
    );
    for r in reports {
        let _ = writeln!(
            out,
            "\n### {} side: {}\n\n| category | TP | FP | FN | TN |\n|---|---|---|---|---|",
            side_name(r.side),
            r.set
        );
        for (c, m) in &r.confusion {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                c.id(),
                m.tp,
                m.fp,
                m.fn_,
                m.tn
            );
        }
    }
    let _ = writeln!(
        out,
        "\n## Misclassified examples\n\nUp to {PER_KIND} false positives and {PER_KIND} \
         false negatives per side, from the same sets, picked in the order of a fixed hash \
         of the text (deterministic, and blind to the score). A false positive is a benign \
         text flagged in some category (shown: the flagged category with the highest \
         score); a false negative is a labelled text flagged in none of its own categories \
         (shown: its own category with the highest score). Texts are cut to {QUOTE_CHARS} \
         characters. Only sources whose licence allows quoting are printed (`{}`); the \
         others are counted. The notes are written by hand \
         (`models/misclassified_notes.toml`, keyed by the hash shown).",
        QUOTABLE_SOURCES.join("`, `")
    );
    for r in reports {
        let side = side_name(r.side);
        pick_section(
            out,
            &format!("{side} side: false positives"),
            &r.false_positives,
        );
        if let Some((fold, p)) = &r.fold_false_positives {
            let _ = writeln!(
                out,
                "\nFewer than {PER_KIND} quotable false positives at the shipped thresholds \
                 ({}): the next {} come from a leave-one-source-out fold, whose model and \
                 thresholds are not the shipped ones.",
                r.false_positives.quotable,
                p.shown.len()
            );
            pick_section(
                out,
                &format!("{side} side: false positives of a leave-one-source-out fold ({fold})"),
                p,
            );
        }
        pick_section(
            out,
            &format!("{side} side: false negatives"),
            &r.false_negatives,
        );
        let shown = r.false_positives.shown.len()
            + r.false_negatives.shown.len()
            + r.fold_false_positives
                .as_ref()
                .map_or(0, |(_, p)| p.shown.len());
        if shown == 0 {
            let _ = writeln!(
                out,
                "\nNone of the {side} side's misclassified texts may be quoted (every one \
                 comes from a corpus whose terms do not allow it), so the examples printed \
                 are the other side's only."
            );
        }
    }
}

fn pick_section(out: &mut String, title: &str, p: &crate::misclassified::Picked) {
    let _ = writeln!(
        out,
        "\n### {title}\n\n{} misclassified, {} of them quotable ({} shown).",
        p.total,
        p.quotable,
        p.shown.len()
    );
    if !p.unquotable.is_empty() {
        let counts: Vec<String> = p
            .unquotable
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let _ = writeln!(out, "Not quotable, counted only: {}.", counts.join(", "));
    }
    if p.shown.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n| # | key | source | category | score / threshold | text | note |\n|---|---|---|---|---|---|---|"
    );
    for (n, e) in p.shown.iter().enumerate() {
        let rules = if e.rules.is_empty() {
            String::new()
        } else {
            format!(" (rules: {})", e.rules.join(", "))
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.3} / {:.3}{} | {} | {} |",
            n + 1,
            e.key,
            e.source,
            e.category.id(),
            e.score,
            e.threshold,
            rules,
            cell(&e.quote),
            e.note
                .as_deref()
                .map_or_else(|| "(no note yet)".to_owned(), cell),
        );
    }
}

/// Text safe inside a Markdown table cell: no pipes, no HTML, no code spans.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
        .replace('*', "\\*")
        .replace('_', "\\_")
}

const KNOWN_WEAKNESSES: &str = "\
- **No licence-clean everyday chat corpus.** ShareGPT (real traffic) may not be trained \
on, so role-play and \"act as\" prompts look like jailbreaks to both tiers; see the \
ShareGPT false-positive rate in EVALUATION.md.
- **Sources never seen generalise poorly.** Recall on a left-out source is far below the \
random-split figures; the leave-one-source-out table in EVALUATION.md is the number to \
trust, not the dev table above.
- **Labels come partly from keyword lists** (AdvBench, StrongREJECT, Do-Not-Answer: \
`crates/training/src/labels.rs`), so the per-category split of cyber requests is noisy; \
the `any` recall counts a request caught in any category.
- **The semantic table is static.** A token's row is its average meaning; negation, word \
order and who is asking are lost, which is why it is combined with the n-gram tier and \
not used alone.
- **Few positives** for `cyber/credentials` and `cyber/social_engineering`: their \
figures are unstable.
- **Traffic calibration meets label noise.** About 0.7% of ShareGPT first turns are \
jailbreaks; a 0.25% budget therefore puts the fused `jailbreak` and `prompt_injection` \
thresholds near 1 (input) and at 1 (output, streamed): the models alone rarely flag \
those categories. The rule pack does: a rule that fires flags its category whatever the \
threshold (the score stays the models' or the rule's, whichever is higher), so a jailbreak \
or an injection that a rule names is flagged and one that no rule names passes unless the \
models are sure. `BW-PI-001` leaves out prompts that open with \"please ignore all \
previous instructions\" and then give the model a role or a task (templates that real \
users paste, 0.35% of ShareGPT's development half). Tenants that want the models' recall \
back can lower those thresholds in the configuration.
- **Non-English requests pass.** Both tiers and the rule pack know English only: \
hand-written German, French, Spanish, Russian, Greek and Chinese translations of attack \
requests that English flags, or fires a rule on, are neither flagged in their category \
nor matched by any rule (the scenario report in EVALUATION.md). The normaliser keeps \
Cyrillic, Greek and CJK words in their own script, so such text never trips an English \
rule.
- **Only Latin script is scored.** The licence-clean training data has no benign text in \
any other script (its Chinese, Korean, Cyrillic, Greek, Arabic and Hebrew letters are in \
phishing mail and jailbreaks only), so both tiers read the letters of other scripts as \
spaces, in training and in scoring (`bulwark_core::script`): before, they had learnt the \
script itself, and benign Chinese and Korean prompts reached 0.98 on `cyber/phishing`. \
Such text is scored on its Latin parts alone; the verdict's coverage says how much was \
skipped, and its scores say nothing about those words (EVALUATION.md, \"Non-English \
traffic\"). A licence-clean corpus of benign non-English prompts would let the models \
read them.
- **Cover stories the rules do not name.** On the hand-written scenarios, requests whose \
harm is in a feature the rules do not list (a crypto miner installed \"quietly\", an app \
that forwards every SMS), that claim detection as their purpose, or that deceive without \
impersonating anyone (tailgating, talking a registrar's support round) still pass; see \
EVALUATION.md.
- **The output-side phishing detector has seen only Nazario's phishing (2015–22).** On \
honeypot phishing of 2023–25 it catches little (table above), though more than the fused \
tiers at a like false-positive rate.
";
