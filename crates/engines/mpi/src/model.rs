//! Fellegi–Sunter parameters and their unsupervised estimation by EM.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::compare::NULL_LEVEL;

/// m and u probabilities of one comparison level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelParams {
    pub label: String,
    /// P(level | match)
    pub m: f64,
    /// P(level | non-match), estimated from random pairs
    pub u: f64,
}

impl LevelParams {
    /// log2 Bayes factor m / u.
    pub fn weight(&self) -> f64 {
        (self.m / self.u).log2()
    }
}

/// Parameters of one comparison (levels after `null`, ending with `else`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonParams {
    pub name: String,
    pub levels: Vec<LevelParams>,
}

/// A trained model: can be stored with the configuration and reused (online
/// matching, re-scoring) without retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub config_version: String,
    /// Prior probability that two random records match.
    pub lambda: f64,
    /// Estimated number of true matches per record (used to set the prior of
    /// the online index, whose size changes).
    pub matches_per_record: f64,
    pub comparisons: Vec<ComparisonParams>,
    pub em_iterations: usize,
    pub em_converged: bool,
}

impl TrainedModel {
    /// Serialise to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
    /// Parse from TOML.
    pub fn from_toml(s: &str) -> crate::Result<Self> {
        toml::from_str(s).map_err(|e| crate::Error::Config(e.to_string()))
    }
}

/// Output of [`em`].
#[derive(Debug, Clone)]
pub struct EmResult {
    /// `m[c][level]`, index 0 (null) unused.
    pub m: Vec<Vec<f64>>,
    /// `u[c][level]` among candidate pairs.
    pub u: Vec<Vec<f64>>,
    /// Share of matches among the pairs.
    pub lambda: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Settings of [`em`].
#[derive(Debug, Clone, Copy)]
pub struct EmSettings {
    pub max_iterations: usize,
    pub tolerance: f64,
    pub fix_u: bool,
    pub min_probability: f64,
}

/// Aggregate comparison vectors (`n_comp` bytes per pair) into distinct patterns.
pub fn patterns(gammas: &[u8], n_comp: usize) -> Vec<(Vec<u8>, f64)> {
    let mut map: HashMap<&[u8], f64> = HashMap::new();
    if n_comp == 0 {
        return vec![];
    }
    for g in gammas.chunks_exact(n_comp) {
        *map.entry(g).or_default() += 1.0;
    }
    let mut v: Vec<(Vec<u8>, f64)> = map.into_iter().map(|(k, c)| (k.to_vec(), c)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Expectation–maximisation for the two-class Fellegi–Sunter mixture on
/// aggregated patterns (pattern, count). Null levels contribute nothing.
pub fn em(
    pats: &[(Vec<u8>, f64)],
    m0: Vec<Vec<f64>>,
    u0: Vec<Vec<f64>>,
    lambda0: f64,
    s: EmSettings,
) -> EmResult {
    let mut m = m0;
    let mut u = u0;
    let mut lambda = lambda0.clamp(1e-9, 1.0 - 1e-9);
    let n_comp = m.len();
    let mut iterations = 0;
    let mut converged = false;
    let total: f64 = pats.iter().map(|p| p.1).sum();
    if total == 0.0 {
        return EmResult {
            m,
            u,
            lambda,
            iterations,
            converged: true,
        };
    }
    let mut post = vec![0.0f64; pats.len()];
    while iterations < s.max_iterations {
        iterations += 1;
        // E step
        let mut sum_w = 0.0;
        for (k, (g, _)) in pats.iter().enumerate() {
            let mut pm = lambda;
            let mut pu = 1.0 - lambda;
            for c in 0..n_comp {
                let l = g[c] as usize;
                if l != NULL_LEVEL as usize {
                    pm *= m[c][l];
                    pu *= u[c][l];
                }
            }
            let w = if pm + pu > 0.0 { pm / (pm + pu) } else { 0.0 };
            post[k] = w;
            sum_w += w * pats[k].1;
        }
        // M step
        let new_lambda = (sum_w / total).clamp(1e-9, 1.0 - 1e-9);
        let mut nm: Vec<Vec<f64>> = m.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut nu: Vec<Vec<f64>> = u.iter().map(|v| vec![0.0; v.len()]).collect();
        for (k, (g, cnt)) in pats.iter().enumerate() {
            let w = post[k] * cnt;
            let wu = (1.0 - post[k]) * cnt;
            for c in 0..n_comp {
                let l = g[c] as usize;
                nm[c][l] += w;
                nu[c][l] += wu;
            }
        }
        let mut delta: f64 = (new_lambda - lambda).abs();
        for c in 0..n_comp {
            normalise(&mut nm[c], s.min_probability);
            normalise(&mut nu[c], s.min_probability);
            for l in 1..nm[c].len() {
                delta = delta.max((nm[c][l] - m[c][l]).abs());
                if !s.fix_u {
                    delta = delta.max((nu[c][l] - u[c][l]).abs());
                }
            }
        }
        m = nm;
        if !s.fix_u {
            u = nu;
        }
        lambda = new_lambda;
        if delta < s.tolerance {
            converged = true;
            break;
        }
    }
    EmResult {
        m,
        u,
        lambda,
        iterations,
        converged,
    }
}

/// Normalise levels 1.. to sum 1 (index 0 = null kept at 1.0), with a floor.
pub fn normalise(v: &mut [f64], floor: f64) {
    let s: f64 = v[1..].iter().sum();
    if s <= 0.0 {
        let n = (v.len() - 1) as f64;
        for x in v[1..].iter_mut() {
            *x = 1.0 / n;
        }
    } else {
        for x in v[1..].iter_mut() {
            *x = (*x / s).max(floor);
        }
        let s2: f64 = v[1..].iter().sum();
        for x in v[1..].iter_mut() {
            *x /= s2;
        }
    }
    v[0] = 1.0;
}

/// Default starting m for a comparison with `n` levels (null, levels…, else):
/// most mass on the first level, little on else.
pub fn initial_m(n: usize) -> Vec<f64> {
    let k = n - 1; // non-null levels including else
    let mut v = vec![1.0; n];
    if k == 1 {
        v[1] = 1.0;
        return v;
    }
    if k == 2 {
        v[1] = 0.9;
        v[2] = 0.1;
        return v;
    }
    v[1] = 0.8;
    let mid = 0.15 / (k - 2) as f64;
    for x in v.iter_mut().take(k).skip(2) {
        *x = mid;
    }
    v[k] = 0.05;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Simulate data from a known model and check EM recovers it.
    #[test]
    fn em_recovers_known_parameters() {
        let true_m = [
            vec![1.0, 0.9, 0.07, 0.03],
            vec![1.0, 0.85, 0.15],
            vec![1.0, 0.95, 0.05],
        ];
        let true_u = [
            vec![1.0, 0.01, 0.04, 0.95],
            vec![1.0, 0.1, 0.9],
            vec![1.0, 0.02, 0.98],
        ];
        let lambda = 0.05;
        let mut rng = Rng::new(7);
        let n = 200_000;
        let mut gam = Vec::with_capacity(n * 3);
        for _ in 0..n {
            let is_m = rng.chance(lambda);
            for c in 0..3 {
                let p = if is_m { &true_m[c] } else { &true_u[c] };
                let mut r = rng.f64();
                let mut lvl = p.len() - 1;
                for (l, pl) in p.iter().enumerate().skip(1) {
                    if r < *pl {
                        lvl = l;
                        break;
                    }
                    r -= pl;
                }
                gam.push(lvl as u8);
            }
        }
        let pats = patterns(&gam, 3);
        let m0 = vec![initial_m(4), initial_m(3), initial_m(3)];
        let u0: Vec<Vec<f64>> = m0
            .iter()
            .map(|v| {
                let mut u = vec![1.0; v.len()];
                let k = v.len() - 1;
                for x in u.iter_mut().skip(1) {
                    *x = 0.1 / (k - 1).max(1) as f64;
                }
                u[k] = 0.9;
                u
            })
            .collect();
        let r = em(
            &pats,
            m0,
            u0,
            0.2,
            EmSettings {
                max_iterations: 500,
                tolerance: 1e-8,
                fix_u: false,
                min_probability: 1e-9,
            },
        );
        assert!(r.converged, "EM did not converge");
        assert!((r.lambda - lambda).abs() < 0.005, "lambda {}", r.lambda);
        for c in 0..3 {
            for l in 1..true_m[c].len() {
                assert!(
                    (r.m[c][l] - true_m[c][l]).abs() < 0.03,
                    "m[{c}][{l}] = {}",
                    r.m[c][l]
                );
                assert!(
                    (r.u[c][l] - true_u[c][l]).abs() < 0.01,
                    "u[{c}][{l}] = {}",
                    r.u[c][l]
                );
            }
        }
    }

    #[test]
    fn initial_m_sums_to_one() {
        for n in 3..10 {
            let v = initial_m(n);
            let s: f64 = v[1..].iter().sum();
            assert!((s - 1.0).abs() < 1e-9);
        }
    }
}
