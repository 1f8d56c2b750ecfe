//! Principal components of a set of rows (for reducing the distilled table): the
//! covariance matrix's eigenvectors by cyclic Jacobi rotations, in `f64`. The matrices
//! here are small (384 × 384), where Jacobi is simple, exact to rounding and
//! deterministic.

/// The top components of some rows.
#[derive(Debug, Clone)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// `k` unit vectors of the input width, by decreasing variance.
    pub components: Vec<Vec<f64>>,
    /// The variance along each component.
    pub variances: Vec<f64>,
    /// The total variance of the rows.
    pub total_variance: f64,
}

impl Pca {
    /// Fits `k` components to `rows` (all of one width).
    pub fn fit(rows: &[Vec<f32>], k: usize) -> Self {
        let n = rows.first().map_or(0, Vec::len);
        let count = rows.len().max(1) as f64;
        let mut mean = vec![0f64; n];
        for row in rows {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += f64::from(*v) / count;
            }
        }
        let mut cov = vec![0f64; n * n];
        let mut centred = vec![0f64; n];
        for row in rows {
            for ((c, v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(*v) - m;
            }
            for (i, ci) in centred.iter().enumerate() {
                if let Some(out) = cov.get_mut(i * n..(i + 1) * n) {
                    for (o, cj) in out.iter_mut().zip(&centred) {
                        *o += ci * cj / count;
                    }
                }
            }
        }
        let total_variance = (0..n)
            .map(|i| cov.get(i * n + i).copied().unwrap_or(0.0))
            .sum();
        let (values, vectors) = jacobi(cov, n);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let va = values.get(a).copied().unwrap_or(0.0);
            let vb = values.get(b).copied().unwrap_or(0.0);
            vb.total_cmp(&va)
        });
        let mut components = Vec::with_capacity(k);
        let mut variances = Vec::with_capacity(k);
        for &j in order.iter().take(k) {
            // Column j of the eigenvector matrix; its sign fixed so the largest entry is
            // positive (determinism across platforms does not depend on it, readability does).
            let mut v: Vec<f64> = (0..n)
                .map(|i| vectors.get(i * n + j).copied().unwrap_or(0.0))
                .collect();
            let big = v
                .iter()
                .copied()
                .fold(0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            components.push(v);
            variances.push(values.get(j).copied().unwrap_or(0.0));
        }
        Self {
            mean,
            components,
            variances,
            total_variance,
        }
    }

    /// The coordinates of `row` along the components.
    pub fn project(&self, row: &[f32]) -> Vec<f32> {
        self.components
            .iter()
            .map(|c| {
                c.iter()
                    .zip(row)
                    .zip(&self.mean)
                    .map(|((c, v), m)| c * (f64::from(*v) - m))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// Share of the total variance the components keep.
    pub fn explained(&self) -> f64 {
        if self.total_variance > 0.0 {
            self.variances.iter().sum::<f64>() / self.total_variance
        } else {
            0.0
        }
    }
}

/// Eigenvalues and eigenvectors (columns of a row-major `n × n` matrix) of the symmetric
/// matrix `a`.
#[allow(
    clippy::indexing_slicing,
    reason = "a numeric kernel over an n × n matrix whose every index is below n by its loop bounds"
)]
fn jacobi(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    if a.len() != n * n {
        return (vec![0.0; n], v);
    }
    for _sweep in 0..50 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-22 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let app = a[p * n + p];
                let aqq = a[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_direction_of_most_variance() {
        // Points along (1, 1) with a little noise along (1, -1).
        let rows: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                let t = i as f32 / 10.0 - 5.0;
                let e = if i % 2 == 0 { 0.1 } else { -0.1 };
                vec![t + e, t - e]
            })
            .collect();
        let pca = Pca::fit(&rows, 1);
        let c = &pca.components[0];
        assert!((c[0] - c[1]).abs() < 1e-2 && c[0] > 0.7, "{c:?}");
        assert!(pca.explained() > 0.99);
        let p = pca.project(&[1.0, 1.0]);
        // The mean is (-0.05, -0.05): (1, 1) is 1.05 · √2 along the component.
        assert!((p[0] - 1.05 * 2f32.sqrt()).abs() < 1e-2, "{p:?}");
    }
}
