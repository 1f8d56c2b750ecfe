//! Calibration: Platt scaling of a category's raw logits, and the choice of its threshold.

use crate::train::Targets;

/// No threshold is below an even calibrated probability. The dev split is far richer in
/// abuse than real traffic, so a lower threshold would flag texts the calibration itself
/// calls more likely benign; in practice it keeps featureless texts ("hi") from crossing
/// a threshold that the dev split happened to allow.
pub const MIN_THRESHOLD: f32 = 0.5;

/// Fits `p = sigmoid(a·z + b)` to `(z, is_positive)` pairs by Newton's method on the log
/// loss, with Platt's smoothed targets (`(N₊+1)/(N₊+2)` and `1/(N₋+2)`) against
/// overconfidence. `a` is kept positive (scores rise with logits); with no positives or no
/// negatives the identity `(1, 0)` is returned.
pub fn fit_platt(pairs: &[(f32, bool)]) -> (f32, f32) {
    let positives = pairs.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return (1.0, 0.0);
    }
    let hi = (positives + 1.0) / (positives + 2.0);
    let lo = 1.0 / (negatives + 2.0);
    let data: Vec<(f64, f64)> = pairs
        .iter()
        .map(|&(z, y)| (f64::from(z.clamp(-1e4, 1e4)), if y { hi } else { lo }))
        .collect();
    let loss = |a: f64, b: f64| -> f64 {
        data.iter()
            .map(|&(z, t)| {
                let f = a * z + b;
                // log(1 + e^f) - t·f, computed stably.
                let softplus = if f > 0.0 {
                    f + (-f).exp().ln_1p()
                } else {
                    f.exp().ln_1p()
                };
                softplus - t * f
            })
            .sum()
    };
    let (mut a, mut b) = (1.0f64, 0.0f64);
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for &(z, t) in &data {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let d = p - t;
            let w = p * (1.0 - p);
            ga += d * z;
            gb += d;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-8 {
            let (na, nb) = (a - step * da, b - step * db);
            let next = loss(na, nb);
            if next < current - 1e-12 {
                (a, b, current) = (na, nb, next);
                improved = true;
                break;
            }
            step /= 2.0;
        }
        if !improved {
            break;
        }
    }
    if !(a.is_finite() && b.is_finite()) || a <= 1e-4 {
        return (1.0, 0.0);
    }
    (a as f32, b as f32)
}

/// The lowest threshold (the most recall) at which `scored` meets both targets: precision
/// at least `targets.precision` and false-positive rate at most `targets.max_fpr`, and
/// never below [`MIN_THRESHOLD`]. With none, just above the highest negative score (capped
/// at 1).
pub fn pick_threshold(scored: &[(f32, bool)], targets: Targets) -> f32 {
    let mut sorted: Vec<(f32, bool)> = scored.to_vec();
    sorted.sort_by(|x, y| y.0.total_cmp(&x.0));
    let negatives = sorted.iter().filter(|(_, y)| !*y).count().max(1) as f64;
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut best: Option<f32> = None;
    let mut i = 0;
    while i < sorted.len() {
        let Some(&(score, _)) = sorted.get(i) else {
            break;
        };
        // Everything scoring exactly `score` is flagged together.
        while let Some(&(s, y)) = sorted.get(i) {
            if s != score {
                break;
            }
            if y {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let precision = tp as f64 / (tp + fp) as f64;
        let fpr = fp as f64 / negatives;
        if tp > 0 && precision >= targets.precision && fpr <= targets.max_fpr {
            best = Some(score);
        }
    }
    best.unwrap_or_else(|| {
        let top_negative = sorted.iter().find(|(_, y)| !*y).map_or(0.0, |(s, _)| *s);
        (top_negative + 1e-6).min(1.0)
    })
    .clamp(MIN_THRESHOLD, 1.0)
}

/// One category's calibration: Platt's `(a, b)` and the input and output thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub platt_a: f32,
    pub platt_b: f32,
    pub threshold_input: f32,
    pub threshold_output: f32,
}

/// Calibrates every category on dev logits (`missing` stands in for a category a logit
/// row lacks): Platt scaling, then a threshold per side.
pub fn calibrate_categories(
    dev_logits: &[[f32; bulwark_core::Category::COUNT]],
    labels: &[crate::Labels],
    missing: f32,
    input: Targets,
    output: Targets,
) -> [Calibration; bulwark_core::Category::COUNT] {
    std::array::from_fn(|c| {
        let category = bulwark_core::Category::ALL
            .get(c)
            .copied()
            .unwrap_or(bulwark_core::Category::Illicit);
        let pairs: Vec<(f32, bool)> = dev_logits
            .iter()
            .zip(labels)
            .map(|(l, y)| (l.get(c).copied().unwrap_or(missing), y.contains(category)))
            .collect();
        let (a, b) = fit_platt(&pairs);
        let scored: Vec<(f32, bool)> = pairs
            .iter()
            .map(|&(l, y)| (crate::train::sigmoid(a * l + b), y))
            .collect();
        Calibration {
            platt_a: a,
            platt_b: b,
            threshold_input: pick_threshold(&scored, input),
            threshold_output: pick_threshold(&scored, output),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_orders_and_calibrates() {
        let mut pairs = Vec::new();
        for i in 0..200 {
            let z = i as f32 / 20.0 - 5.0;
            pairs.push((z, i % 10 < i / 20));
        }
        let (a, b) = fit_platt(&pairs);
        assert!(a > 0.0, "{a} {b}");
        assert_eq!(fit_platt(&[(1.0, true)]), (1.0, 0.0));
    }

    #[test]
    fn threshold_meets_the_targets() {
        let targets = Targets {
            precision: 0.9,
            max_fpr: 0.5,
        };
        let scored = [
            (0.9, true),
            (0.8, true),
            (0.7, false),
            (0.6, true),
            (0.1, false),
        ];
        assert_eq!(pick_threshold(&scored, targets), 0.8);
        let low = [(0.3, true), (0.2, false)];
        assert_eq!(pick_threshold(&low, targets), MIN_THRESHOLD);
        let none = [(0.9, false), (0.1, true)];
        assert!(pick_threshold(&none, targets) > 0.9);
    }
}
