//! Scores of a whole output sequence against the source: PSNR from the accumulated
//! squared error and mean SSIM, over all frames and split into key frames (the
//! low-rate stream has a frame at that instant) and in-between frames.

use serde::{Deserialize, Serialize};

use super::metrics::{ssim, SquaredError};

/// PSNR reported for identical frames (MSE 0), where the true value is infinite.
pub const PSNR_CAP: f64 = 100.0;

/// PSNR in dB from a squared-error total, capped at [`PSNR_CAP`]; `None` without samples.
pub fn capped_psnr(e: &SquaredError) -> Option<f64> {
    e.psnr().map(|p| p.min(PSNR_CAP))
}

/// Accumulated error of one frame class.
#[derive(Clone, Copy, Debug, Default)]
pub struct Class {
    pub error: SquaredError,
    pub ssim_sum: f64,
    pub frames: usize,
}

impl Class {
    fn add(&mut self, e: SquaredError, s: f64) {
        self.error.add(e);
        self.ssim_sum += s;
        self.frames += 1;
    }

    pub fn psnr(&self) -> Option<f64> {
        capped_psnr(&self.error)
    }

    pub fn mse(&self) -> Option<f64> {
        self.error.mse()
    }

    pub fn ssim(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.ssim_sum / self.frames as f64)
    }
}

/// Per-frame measurements of one output frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameScore {
    pub index: u64,
    pub key: bool,
    pub mse: f64,
    pub ssim: f64,
}

/// Scores of one method's output.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    pub all: Class,
    pub key: Class,
    pub mid: Class,
    pub per_frame: Vec<FrameScore>,
}

impl Scores {
    /// Compares output frames (index, packed RGB) with `source[index]`, all `w` x `h`;
    /// indices at or past the source's end are ignored. `is_key` classifies an index.
    /// Frames are measured on up to `threads` threads.
    pub fn measure(
        source: &[Vec<u8>],
        outputs: &[(u64, Vec<u8>)],
        w: usize,
        h: usize,
        is_key: impl Fn(u64) -> bool + Sync,
        threads: usize,
    ) -> Scores {
        let pairs: Vec<(u64, &[u8], &[u8])> = outputs
            .iter()
            .filter(|(k, _)| (*k as usize) < source.len())
            .map(|(k, out)| (*k, source[*k as usize].as_slice(), out.as_slice()))
            .collect();
        let measure_one = |(k, src, out): &(u64, &[u8], &[u8])| {
            (*k, SquaredError::of(src, out), ssim(src, out, w, h))
        };
        let threads = threads.clamp(1, pairs.len().max(1));
        let results: Vec<(u64, SquaredError, f64)> = if threads == 1 {
            pairs.iter().map(measure_one).collect()
        } else {
            let chunk = pairs.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = pairs
                    .chunks(chunk)
                    .map(|c| scope.spawn(move || c.iter().map(measure_one).collect::<Vec<_>>()))
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("metric thread panicked")).collect()
            })
        };
        let mut scores = Scores::default();
        for (k, e, s) in results {
            let key = is_key(k);
            scores.all.add(e, s);
            if key {
                scores.key.add(e, s);
            } else {
                scores.mid.add(e, s);
            }
            scores.per_frame.push(FrameScore { index: k, key, mse: e.mse().unwrap_or(0.0), ssim: s });
        }
        scores
    }

    /// Rebuilds scores from per-frame measurements of frames of `samples` samples each,
    /// with key frames chosen by `is_key` (the same output judged under another setting).
    pub fn regroup(per_frame: &[FrameScore], samples: u64, is_key: impl Fn(u64) -> bool) -> Scores {
        let mut scores = Scores::default();
        for f in per_frame {
            let e = SquaredError { sum: f.mse * samples as f64, count: samples };
            let key = is_key(f.index);
            scores.all.add(e, f.ssim);
            if key {
                scores.key.add(e, f.ssim);
            } else {
                scores.mid.add(e, f.ssim);
            }
            scores.per_frame.push(FrameScore { key, ..*f });
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8, w: usize, h: usize) -> Vec<u8> {
        vec![v; w * h * 3]
    }

    #[test]
    fn key_mid_split_and_mse_pooling() {
        let (w, h) = (16, 12);
        let source: Vec<Vec<u8>> = (0..6).map(|_| frame(100, w, h)).collect();
        // Frame k is off by k everywhere: per-frame MSE k^2.
        let outputs: Vec<(u64, Vec<u8>)> = (0..6).map(|k| (k, frame(100 + k as u8, w, h))).collect();
        for threads in [1, 2, 4] {
            let s = Scores::measure(&source, &outputs, w, h, |k| k % 2 == 0, threads);
            assert_eq!(s.all.frames, 6);
            assert_eq!((s.key.frames, s.mid.frames), (3, 3));
            // Pooled MSE, not the mean of per-frame PSNRs: all = (0+1+4+9+16+25)/6.
            assert!((s.all.mse().unwrap() - 55.0 / 6.0).abs() < 1e-12);
            assert!((s.key.mse().unwrap() - 20.0 / 3.0).abs() < 1e-12); // 0, 4, 16
            assert!((s.mid.mse().unwrap() - 35.0 / 3.0).abs() < 1e-12); // 1, 9, 25
            let expected = 10.0 * (255.0f64 * 255.0 / (55.0 / 6.0)).log10();
            assert!((s.all.psnr().unwrap() - expected).abs() < 1e-9);
            assert_eq!(s.per_frame.len(), 6);
            assert!(s.per_frame.iter().all(|f| f.key == (f.index % 2 == 0)));
            assert_eq!(s.per_frame[3].mse, 9.0);
        }
    }

    #[test]
    fn regroup_by_other_key_instants() {
        let (w, h) = (4, 4);
        let source: Vec<Vec<u8>> = (0..10).map(|_| frame(10, w, h)).collect();
        let outputs: Vec<(u64, Vec<u8>)> = (0..10).map(|k| (k, frame(10 + k as u8, w, h))).collect();
        let by2 = Scores::measure(&source, &outputs, w, h, |k| k % 2 == 0, 1);
        let by5 = Scores::measure(&source, &outputs, w, h, |k| k % 5 == 0, 1);
        let regrouped = Scores::regroup(&by2.per_frame, (w * h * 3) as u64, |k| k % 5 == 0);
        assert_eq!(regrouped.all.mse(), by5.all.mse());
        assert_eq!(regrouped.key.mse(), by5.key.mse());
        assert_eq!(regrouped.mid.mse(), by5.mid.mse());
        assert_eq!((regrouped.key.frames, regrouped.mid.frames), (2, 8));
        assert_eq!(regrouped.per_frame, by5.per_frame);
    }

    #[test]
    fn missing_and_extra_frames() {
        let (w, h) = (8, 8);
        let source: Vec<Vec<u8>> = (0..4).map(|_| frame(50, w, h)).collect();
        // Frame 2 missing, frame 7 past the end of the source.
        let outputs = vec![(0, frame(50, w, h)), (1, frame(50, w, h)), (3, frame(50, w, h)), (7, frame(0, w, h))];
        let s = Scores::measure(&source, &outputs, w, h, |k| k == 0, 2);
        assert_eq!(s.all.frames, 3);
        assert_eq!(s.all.psnr(), Some(PSNR_CAP));
        assert!((s.all.ssim().unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(s.key.frames, 1);
        let none = Scores::measure(&source, &[], w, h, |_| true, 2);
        assert_eq!(none.all.psnr(), None);
        assert_eq!(none.all.ssim(), None);
    }
}
