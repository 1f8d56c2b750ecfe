//! Ranking and threshold metrics of one category's scores.

use serde::Serialize;

/// The figures of one category on one set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub positives: usize,
    pub negatives: usize,
    /// The threshold the precision, recall and F1 are taken at.
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Share of negatives at or above the threshold.
    pub fpr: f64,
    /// Area under the precision–recall curve (average precision).
    pub auprc: f64,
    /// The highest recall at a false-positive rate of at most 1%.
    pub tpr_at_1pct_fpr: f64,
}

impl Metrics {
    /// Computes the metrics of `(score, is_positive)` pairs at `threshold`.
    pub fn of(scored: &[(f32, bool)], threshold: f32) -> Self {
        let positives = scored.iter().filter(|(_, y)| *y).count();
        let negatives = scored.len() - positives;
        let tp = scored.iter().filter(|(s, y)| *y && *s >= threshold).count();
        let fp = scored
            .iter()
            .filter(|(s, y)| !*y && *s >= threshold)
            .count();
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, positives);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        let (auprc, tpr_at_1pct_fpr) = ranking(scored, positives, negatives);
        Self {
            positives,
            negatives,
            threshold,
            precision,
            recall,
            f1,
            fpr: ratio(fp, negatives),
            auprc,
            tpr_at_1pct_fpr,
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Average precision and TPR at ≤ 1% FPR; tied scores are taken together.
fn ranking(scored: &[(f32, bool)], positives: usize, negatives: usize) -> (f64, f64) {
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut ap, mut last_recall, mut tpr) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while let Some(&(score, _)) = sorted.get(i) {
        while let Some(&(s, y)) = sorted.get(i) {
            if s != score {
                break;
            }
            if y {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        let recall = ratio(tp, positives);
        ap += (recall - last_recall) * ratio(tp, tp + fp);
        last_recall = recall;
        if negatives == 0 || fp as f64 <= 0.01 * negatives as f64 {
            tpr = recall;
        }
    }
    (ap, tpr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_rankings() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        let m = Metrics::of(&perfect, 0.5);
        assert_eq!(
            (m.precision, m.recall, m.f1, m.auprc, m.tpr_at_1pct_fpr),
            (1.0, 1.0, 1.0, 1.0, 1.0)
        );
        let inverted = [(0.1, true), (0.2, true), (0.8, false), (0.9, false)];
        let m = Metrics::of(&inverted, 0.5);
        assert_eq!(
            (m.precision, m.recall, m.fpr, m.tpr_at_1pct_fpr),
            (0.0, 0.0, 1.0, 0.0)
        );
        assert!((m.auprc - 0.5).abs() < 0.2);
    }

    #[test]
    fn ties_count_together() {
        let tied = [(0.5, true), (0.5, false)];
        let m = Metrics::of(&tied, 0.5);
        assert_eq!(m.auprc, 0.5);
        assert_eq!(m.tpr_at_1pct_fpr, 0.0);
    }
}
