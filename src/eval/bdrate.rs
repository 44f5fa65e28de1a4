//! Bjøntegaard delta rate (BD-rate): how many more or fewer bits (%) one rate-distortion
//! curve needs than another for the same PSNR, averaged over the PSNR range both curves
//! cover. log10(bitrate) is interpolated as a function of PSNR with monotone piecewise
//! cubic Hermite interpolation (PCHIP, Fritsch-Carlson), as in the common test conditions
//! of JVET/VCEG since the original cubic fit of VCEG-M33: it works from two points
//! (then linear), does not overshoot between points, and gives the exact answer for
//! curves that differ by a constant rate factor.

/// BD-rate of `test` against `anchor` in percent (negative: `test` needs fewer bits).
/// Points are (kbit/s, PSNR dB). `None` when either curve has fewer than two usable
/// points (finite, rate > 0, distinct PSNR) or the PSNR ranges do not overlap.
pub fn bd_rate(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let a = Pchip::new(anchor)?;
    let t = Pchip::new(test)?;
    let lo = a.x[0].max(t.x[0]);
    let hi = a.x[a.x.len() - 1].min(t.x[t.x.len() - 1]);
    if hi - lo <= 1e-9 {
        return None;
    }
    let mean_log_diff = (t.integral(lo, hi) - a.integral(lo, hi)) / (hi - lo);
    Some((10f64.powf(mean_log_diff) - 1.0) * 100.0)
}

/// log10(rate) as a function of PSNR.
struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    /// Derivatives at the points.
    m: Vec<f64>,
}

impl Pchip {
    fn new(points: &[(f64, f64)]) -> Option<Pchip> {
        let mut p: Vec<(f64, f64)> = points
            .iter()
            .filter(|(r, q)| r.is_finite() && *r > 0.0 && q.is_finite())
            .map(|&(r, q)| (q, r.log10()))
            .collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        if p.len() < 2 || p.windows(2).any(|w| w[1].0 - w[0].0 <= 1e-12) {
            return None;
        }
        let (x, y): (Vec<f64>, Vec<f64>) = p.into_iter().unzip();
        let n = x.len();
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let d: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut m = vec![0.0; n];
        if n == 2 {
            m = vec![d[0], d[0]];
        } else {
            for k in 1..n - 1 {
                if d[k - 1] * d[k] > 0.0 {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k]);
                }
            }
            m[0] = end_slope(h[0], h[1], d[0], d[1]);
            m[n - 1] = end_slope(h[n - 2], h[n - 3], d[n - 2], d[n - 3]);
        }
        Some(Pchip { x, y, m })
    }

    fn eval(&self, v: f64) -> f64 {
        let k = match self.x.iter().rposition(|&xk| xk <= v) {
            Some(k) => k.min(self.x.len() - 2),
            None => 0,
        };
        let h = self.x[k + 1] - self.x[k];
        let s = (v - self.x[k]) / h;
        let (s2, s3) = (s * s, s * s * s);
        (2.0 * s3 - 3.0 * s2 + 1.0) * self.y[k]
            + (s3 - 2.0 * s2 + s) * h * self.m[k]
            + (-2.0 * s3 + 3.0 * s2) * self.y[k + 1]
            + (s3 - s2) * h * self.m[k + 1]
    }

    /// Integral over [lo, hi] (inside the points' range): composite Simpson on each
    /// piece, exact for cubics.
    fn integral(&self, lo: f64, hi: f64) -> f64 {
        let mut cuts = vec![lo];
        cuts.extend(self.x.iter().copied().filter(|&v| v > lo && v < hi));
        cuts.push(hi);
        cuts.windows(2).map(|w| (w[1] - w[0]) / 6.0 * (self.eval(w[0]) + 4.0 * self.eval(0.5 * (w[0] + w[1])) + self.eval(w[1]))).sum()
    }
}

/// Shape-preserving three-point end derivative (Fritsch-Carlson / SciPy's PCHIP).
fn end_slope(h0: f64, h1: f64, d0: f64, d1: f64) -> f64 {
    let m = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
    if m.signum() != d0.signum() {
        0.0
    } else if d0.signum() != d1.signum() && m.abs() > 3.0 * d0.abs() {
        3.0 * d0
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR: [(f64, f64); 4] = [(100.0, 30.0), (180.0, 32.5), (330.0, 35.1), (600.0, 37.4)];

    #[test]
    fn constant_rate_factor_is_exact() {
        let test: Vec<(f64, f64)> = ANCHOR.iter().map(|&(r, q)| (r * 0.8, q)).collect();
        assert!((bd_rate(&ANCHOR, &test).unwrap() + 20.0).abs() < 1e-9);
        assert!((bd_rate(&test, &ANCHOR).unwrap() - 25.0).abs() < 1e-9);
        assert!(bd_rate(&ANCHOR, &ANCHOR).unwrap().abs() < 1e-12);
    }

    #[test]
    fn higher_quality_at_the_same_rates_saves_bits() {
        let better: Vec<(f64, f64)> = ANCHOR.iter().map(|&(r, q)| (r, q + 0.5)).collect();
        let v = bd_rate(&ANCHOR, &better).unwrap();
        assert!(v < -5.0 && v > -30.0, "{v}");
    }

    /// Three points (CRF 18/23/28), unsorted input, two-point curves, and no overlap.
    #[test]
    fn few_points_order_and_overlap() {
        let three = [(330.0, 35.1), (100.0, 30.0), (180.0, 32.5)];
        let half: Vec<(f64, f64)> = three.iter().map(|&(r, q)| (r * 0.5, q)).collect();
        assert!((bd_rate(&three, &half).unwrap() + 50.0).abs() < 1e-9);
        let two = [(100.0, 30.0), (200.0, 33.0)];
        let two_b = [(150.0, 30.0), (300.0, 33.0)];
        assert!((bd_rate(&two, &two_b).unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(bd_rate(&two, &[(50.0, 20.0), (60.0, 25.0)]), None);
        assert_eq!(bd_rate(&two, &[(50.0, 31.0)]), None);
        assert_eq!(bd_rate(&two, &[(50.0, 31.0), (60.0, 31.0)]), None);
        assert_eq!(bd_rate(&[(0.0, 30.0), (f64::NAN, 31.0), (10.0, 32.0)], &two), None);
    }

    /// Values computed independently with SciPy 1.17.1 (`PchipInterpolator` of log10 rate
    /// over PSNR, its exact `integrate` over the common range).
    #[test]
    fn matches_scipy_pchip() {
        let test = [(90.0, 30.4), (150.0, 32.1), (290.0, 34.9), (640.0, 38.0)];
        let v = bd_rate(&ANCHOR, &test).unwrap();
        assert!((v - -9.02375185285682).abs() < 1e-9, "{v}");
        let a3 = [(100.0, 30.0), (180.0, 32.5), (330.0, 35.1)];
        let t3 = [(120.0, 30.9), (160.0, 32.0), (400.0, 35.8)];
        let v = bd_rate(&a3, &t3).unwrap();
        assert!((v - 1.148435813269133).abs() < 1e-9, "{v}");
    }

    /// The interpolant goes through the points and stays monotone between them.
    #[test]
    fn pchip_interpolates_monotonically() {
        let p = Pchip::new(&ANCHOR).unwrap();
        for &(r, q) in &ANCHOR {
            assert!((p.eval(q) - r.log10()).abs() < 1e-12);
        }
        let mut last = f64::MIN;
        for i in 0..=740 {
            let v = p.eval(30.0 + i as f64 * 0.01);
            assert!(v >= last - 1e-12, "not monotone at {i}");
            last = v;
        }
    }
}
