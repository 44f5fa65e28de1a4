//! Frame quality metrics on packed 8-bit RGB frames (the form imsm-eval collects from
//! its pipelines): PSNR from the mean squared error, and SSIM on luma.

/// Sum of squared differences and sample count of two equally sized RGB frames.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SquaredError {
    pub sum: f64,
    pub count: u64,
}

impl SquaredError {
    pub fn of(a: &[u8], b: &[u8]) -> Self {
        assert_eq!(a.len(), b.len(), "frames differ in size");
        let sum: u64 = a.iter().zip(b).map(|(&x, &y)| {
            let d = x as i32 - y as i32;
            (d * d) as u64
        }).sum();
        Self { sum: sum as f64, count: a.len() as u64 }
    }

    pub fn add(&mut self, other: SquaredError) {
        self.sum += other.sum;
        self.count += other.count;
    }

    pub fn mse(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// PSNR in dB for 8-bit peak 255; infinite for identical frames, `None` for no samples.
    pub fn psnr(&self) -> Option<f64> {
        self.mse().map(psnr_from_mse)
    }
}

pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// BT.601 luma of packed RGB, as floats in 0..255.
fn luma(rgb: &[u8]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect()
}

/// Separable 11-tap Gaussian (sigma 1.5) blur with edge clamping.
///
/// Interior pixels skip the clamping; taps are summed in the same order everywhere, so
/// the result is bit-identical to clamping every tap.
fn gaussian_blur(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    const R: usize = 5;
    const TAPS: usize = 2 * R + 1;
    let kernel: [f32; TAPS] = {
        let mut k = [0f32; TAPS];
        for (j, v) in k.iter_mut().enumerate() {
            let i = j as f32 - R as f32;
            *v = (-(i * i) / (2.0 * 1.5 * 1.5)).exp();
        }
        let s: f32 = k.iter().sum();
        k.map(|v| v / s)
    };
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    // One tap sum over `get(0..TAPS)`, in tap order.
    let sum = |get: &dyn Fn(usize) -> f32| {
        let mut acc = 0f32;
        for (j, k) in kernel.iter().enumerate() {
            acc += k * get(j);
        }
        acc
    };
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for x in 0..w {
            out[x] = if x >= R && x + R < w {
                let win = &row[x - R..x + R + 1];
                let mut acc = 0f32;
                for j in 0..TAPS {
                    acc += kernel[j] * win[j];
                }
                acc
            } else {
                sum(&|j| row[clamp(x as isize + j as isize - R as isize, w)])
            };
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        if y >= R && y + R < h {
            // Accumulate whole rows tap by tap (same per-pixel order as above).
            let o = &mut out[y * w..(y + 1) * w];
            for j in 0..TAPS {
                let k = kernel[j];
                let r = &tmp[(y + j - R) * w..(y + j - R + 1) * w];
                if j == 0 {
                    for (d, s) in o.iter_mut().zip(r) {
                        *d = 0.0 + k * s;
                    }
                } else {
                    for (d, s) in o.iter_mut().zip(r) {
                        *d += k * s;
                    }
                }
            }
        } else {
            for x in 0..w {
                out[y * w + x] = sum(&|j| tmp[clamp(y as isize + j as isize - R as isize, h) * w + x]);
            }
        }
    }
    out
}

/// Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) of the
/// luma of two packed RGB frames of `w` x `h`.
pub fn ssim(a: &[u8], b: &[u8], w: usize, h: usize) -> f64 {
    assert_eq!(a.len(), w * h * 3);
    assert_eq!(b.len(), w * h * 3);
    let (ya, yb) = (luma(a), luma(b));
    let product = |p: &[f32], q: &[f32]| p.iter().zip(q).map(|(x, y)| x * y).collect::<Vec<f32>>();
    let (mu_a, mu_b) = (gaussian_blur(&ya, w, h), gaussian_blur(&yb, w, h));
    let aa = gaussian_blur(&product(&ya, &ya), w, h);
    let bb = gaussian_blur(&product(&yb, &yb), w, h);
    let ab = gaussian_blur(&product(&ya, &yb), w, h);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0f64;
    for i in 0..w * h {
        let (ma, mb) = (mu_a[i] as f64, mu_b[i] as f64);
        let va = (aa[i] as f64 - ma * ma).max(0.0);
        let vb = (bb[i] as f64 - mb * mb).max(0.0);
        let cov = ab[i] as f64 - ma * mb;
        total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
    total / (w * h) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        // Every sample off by 1: MSE 1 -> 48.13 dB.
        let a = vec![100u8; 300];
        let b = vec![101u8; 300];
        let e = SquaredError::of(&a, &b);
        assert_eq!(e.mse(), Some(1.0));
        assert!((e.psnr().unwrap() - 48.1308).abs() < 1e-3);
        // Off by 10 on a quarter of samples: MSE 25 -> 34.15 dB.
        let mut c = a.clone();
        for v in c.iter_mut().take(75) {
            *v = 110;
        }
        assert!((SquaredError::of(&a, &c).psnr().unwrap() - 34.1514).abs() < 1e-3);
    }

    #[test]
    fn psnr_accumulates_over_frames_by_mse() {
        let mut total = SquaredError::default();
        total.add(SquaredError::of(&[0, 0], &[0, 0]));
        total.add(SquaredError::of(&[0, 0], &[2, 2]));
        assert_eq!(total.mse(), Some(2.0));
        assert_eq!(SquaredError::of(&[5], &[5]).psnr(), Some(f64::INFINITY));
        assert_eq!(SquaredError::default().psnr(), None);
    }

    /// The blur with every tap clamped, as first written.
    fn naive_blur(src: &[f32], w: usize, h: usize) -> Vec<f32> {
        const R: isize = 5;
        let kernel: Vec<f32> = {
            let k: Vec<f32> = (-R..=R).map(|i| (-(i * i) as f32 / (2.0 * 1.5 * 1.5)).exp()).collect();
            let s: f32 = k.iter().sum();
            k.into_iter().map(|v| v / s).collect()
        };
        let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
        let mut tmp = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                tmp[y * w + x] = (-R..=R).map(|i| kernel[(i + R) as usize] * src[y * w + clamp(x as isize + i, w)]).sum();
            }
        }
        let mut out = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                out[y * w + x] = (-R..=R).map(|i| kernel[(i + R) as usize] * tmp[clamp(y as isize + i, h) * w + x]).sum();
            }
        }
        out
    }

    #[test]
    fn fast_blur_matches_the_naive_one() {
        for (w, h) in [(1, 1), (3, 20), (11, 11), (12, 13), (40, 23)] {
            let img: Vec<f32> = (0..w * h).map(|i| ((i * 7919) % 256) as f32).collect();
            let fast = gaussian_blur(&img, w, h);
            let naive = naive_blur(&img, w, h);
            for (a, b) in fast.iter().zip(&naive) {
                assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{w}x{h}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn ssim_identity_and_degradation() {
        let (w, h) = (32, 24);
        let img: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
        assert!((ssim(&img, &img, w, h) - 1.0).abs() < 1e-9);
        let noisy: Vec<u8> = img.iter().enumerate().map(|(i, &v)| v.saturating_add((i % 7 * 9) as u8)).collect();
        let s = ssim(&img, &noisy, w, h);
        assert!(s < 0.99 && s > 0.0, "{s}");
        // A constant offset on a flat image barely matters to SSIM's structure term.
        let flat = vec![128u8; w * h * 3];
        let brighter = vec![133u8; w * h * 3];
        assert!(ssim(&flat, &brighter, w, h) > 0.99);
    }
}
