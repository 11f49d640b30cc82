//! The few statistics the detector needs: the binomial log-likelihood ratio of a day, the
//! Kullback–Leibler divergence that turns an expected detection delay into a threshold, and
//! the Wilson score interval the tables report.

/// z for a two-sided 95% interval (the same as `ooni-aggregate`'s failure_rates).
const Z95: f64 = 1.959_963_984_540_054;

/// Log-likelihood ratio of `k` positives out of `n` under "blocked" (rate `p1`) against
/// "normal" (rate `p0`). Positive numbers are evidence of blocking; each positive adds
/// `ln(p1/p0)`, each negative adds `ln((1-p1)/(1-p0))`, so 1/1 is weak and 30/40 strong.
pub(crate) fn llr(k: u64, n: u64, p0: f64, p1: f64) -> f64 {
    let negatives = n.saturating_sub(k);
    // Counts as f64 are exact up to 2^53 measurements a day.
    k as f64 * (p1 / p0).ln() + negatives as f64 * ((1.0 - p1) / (1.0 - p0)).ln()
}

/// KL(Bernoulli(p1) ‖ Bernoulli(p0)) in nats: the mean evidence one measurement adds while
/// blocking is on. By Wald's approximation a CUSUM with threshold `h` alarms after about
/// `h / kl` blocked measurements, which is how the threshold follows from the expected
/// detection delay.
pub(crate) fn kl(p1: f64, p0: f64) -> f64 {
    p1 * (p1 / p0).ln() + (1.0 - p1) * ((1.0 - p1) / (1.0 - p0)).ln()
}

/// The rate `k/n` and its 95% Wilson score interval `(rate, low, high)`; `None` when
/// nothing was measured (an empty cell has no rate, it is not "0%").
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64, f64)> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let p = k as f64 / nf;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    // Exactly 0 with no positives and 1 with all positives, as failure_rates reports them.
    let low = if k == 0 { 0.0 } else { center - half };
    let high = if k == n { 1.0 } else { center + half };
    Some((p, low, high))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wilson_matches_the_reference_values() {
        // statsmodels proportion_confint(3, 10, method="wilson").
        let (p, low, high) = wilson(3, 10).unwrap();
        assert!((p - 0.3).abs() < 1e-12);
        assert!((low - 0.107_789).abs() < 1e-5);
        assert!((high - 0.603_222).abs() < 1e-5);
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(0, 4).unwrap().1, 0.0);
        assert_eq!(wilson(4, 4).unwrap().2, 1.0);
    }

    #[test]
    fn evidence_grows_with_the_counts_not_only_the_rate() {
        let weak = llr(1, 1, 0.05, 0.7);
        let strong = llr(30, 40, 0.05, 0.7);
        assert!(weak > 0.0 && strong > 10.0 * weak);
        assert!(llr(0, 1, 0.05, 0.7) < 0.0);
        assert!((kl(0.7, 0.05) - 1.5011).abs() < 1e-3);
    }
}
