//! Global (camera) motion between two received frames, for imsmup.
//!
//! The synth network sees a few tens of low-rate pixels around each output pixel, so it
//! cannot follow a pan that moves the picture farther than that between two received
//! frames (street_pan_1080p moves 5-10 px, davis_car-roundabout ~17 px, cockatoo up to
//! ~28 px between frames at half size). imsmup therefore measures the whole-frame
//! translation between the two frames with a coarse-to-fine block search on luma and moves
//! both frames' features by whole pixels towards the output instant (the synth graph's
//! `shift0` / `shift1` inputs, models/README.md) before the network runs; the network then
//! only has to render what is left: local motion and the sub-pixel remainder. Whole
//! pixels, so aligning blurs nothing and a zero shift changes nothing.

use super::{FrameIn, RgbFrame};

/// A whole-pixel translation, `(dy, dx)`: content at `(y, x)` in one frame is at
/// `(y + dy, x + dx)` in the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shift {
    pub dy: i32,
    pub dx: i32,
}

impl Shift {
    pub const ZERO: Shift = Shift { dy: 0, dx: 0 };

    pub fn new(dy: i32, dx: i32) -> Self {
        Self { dy, dx }
    }

    fn reach(self) -> usize {
        self.dy.unsigned_abs().max(self.dx.unsigned_abs()) as usize
    }

    /// The graph input: `[dy, dx]`.
    pub fn as_input(self) -> [i64; 2] {
        [self.dy as i64, self.dx as i64]
    }
}

/// A luma plane.
#[derive(Clone, Debug)]
struct Plane {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Plane {
    fn half(&self) -> Plane {
        let (w, h) = (self.width / 2, self.height / 2);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            let a = &self.data[2 * y * self.width..];
            let b = &self.data[(2 * y + 1) * self.width..];
            data.extend((0..w).map(|x| 0.25 * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1])));
        }
        Plane { width: w, height: h, data }
    }

    /// Mean |next(y, x) - self(y - dy, x - dx)| over the pixels at least `margin` from
    /// every edge (`margin` >= the shift's reach, so every read is inside both planes).
    fn mean_abs_diff(&self, next: &Plane, s: Shift, margin: usize) -> Option<f32> {
        let (w, h) = (self.width, self.height);
        if 2 * margin >= w || 2 * margin >= h || s.reach() > margin {
            return None;
        }
        let mut sum = 0.0f64;
        for y in margin..h - margin {
            let src_y = (y as i64 - s.dy as i64) as usize;
            let row_n = &next.data[y * w + margin..y * w + w - margin];
            let start = (src_y * w) as i64 + margin as i64 - s.dx as i64;
            let row_p = &self.data[start as usize..start as usize + row_n.len()];
            sum += row_n.iter().zip(row_p).map(|(a, b)| (a - b).abs()).sum::<f32>() as f64;
        }
        Some((sum / ((w - 2 * margin) * (h - 2 * margin)) as f64) as f32)
    }
}

/// Smallest side of the coarsest level searched (smaller levels alias fine texture into
/// false matches).
const MIN_LEVEL_SIDE: usize = 48;
const MAX_LEVELS: usize = 6;
/// The largest translation searched, as a fraction of the frame's shorter side.
const MAX_SHIFT_FRACTION: usize = 4;
/// A translation is used only when it lowers the mean luma difference between the frames
/// to this fraction of what it is unaligned: a shift that barely helps (noise, a scene
/// without a dominant motion, repeated texture) is not worth moving the picture for.
const ACCEPT_RATIO: f32 = 0.95;
/// Translations shorter than this (frame pixels) are left to the network, which renders
/// motion of a few pixels itself: aligning by a pixel cost 3.9 dB on telecined footage
/// whose fields shift the picture by a line (kivy_city_cc0, 60 -> 24). See also
/// [`shifts_at`].
const MIN_ALIGN_REACH: usize = 3;
/// Per axis, the part of a frame's displacement from the output instant that is left to
/// the network ([`shifts_at`]). 2 px, measured through the elements on tennis,
/// davis_car-roundabout, cockatoo and street_pan_1080p (imsm-plain, lossless): 0.08 dB
/// better in the mean over 60 -> 30 and 60 -> 24 than moving frames all the way (0 px),
/// and no 60 -> 24 loss against no alignment (0 px: tennis -0.5 dB). Leaving more costs
/// where the motion is a pure translation: the synthetic pan of tests/trained_models.rs
/// renders at 38.5 dB with 0 px, 37.5 with 2, 32.9 with 3.
const NEAR_REACH: f32 = 2.0;
/// Frames larger than this (pixels) are searched at 1/2, 1/4, ... size, the shift scaled
/// back: the search's time and memory stay those of a 1080p frame at any size (a few
/// pixels of error at 4K are left to the network, which renders small motion).
const MAX_SEARCH_PIXELS: usize = 1920 * 1088;

/// A received frame's luma at full, 1/2, 1/4, ... size, for [`global_shift`].
#[derive(Clone, Debug)]
pub struct LumaPyramid {
    /// The frame's size (w, h).
    size: (usize, usize),
    /// Frame pixels per pixel of `levels[0]` along each axis (1 up to [`MAX_SEARCH_PIXELS`]).
    step: usize,
    levels: Vec<Plane>,
}

impl LumaPyramid {
    fn build(frame: Plane) -> Self {
        let size = (frame.width, frame.height);
        let (mut base, mut step) = (frame, 1);
        while base.width * base.height > MAX_SEARCH_PIXELS {
            base = base.half();
            step *= 2;
        }
        let mut levels = vec![base];
        while levels.len() < MAX_LEVELS {
            let last = levels.last().expect("one level");
            if last.width.min(last.height) / 2 < MIN_LEVEL_SIDE {
                break;
            }
            let next = last.half();
            levels.push(next);
        }
        Self { size, step, levels }
    }

    /// From planar R'G'B' (BT.601 luma weights: any fixed weighting does, the two frames
    /// compared are weighted alike). A buffer that does not match its size gives a flat
    /// plane, which aligns nothing (the reveal graph reports the frame as an error).
    pub fn from_rgb(frame: &RgbFrame) -> Self {
        let n = frame.width * frame.height;
        let data = if frame.data.len() == 3 * n {
            let (r, g, b) = (frame.plane(0), frame.plane(1), frame.plane(2));
            (0..n).map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]).collect()
        } else {
            vec![0.0; n]
        };
        Self::build(Plane { width: frame.width, height: frame.height, data })
    }

    /// From an 8-bit luma plane (`width * height` values, no padding; a shorter plane
    /// gives a flat one).
    pub fn from_luma8(width: usize, height: usize, y: &[u8]) -> Self {
        let data = match y.get(..width * height) {
            Some(y) => y.iter().map(|&v| v as f32 * (1.0 / 255.0)).collect(),
            None => vec![0.0; width * height],
        };
        Self::build(Plane { width, height, data })
    }

    /// From a frame as the element hands it over.
    pub fn of(frame: &FrameIn) -> Self {
        match frame {
            FrameIn::Rgb(rgb) => Self::from_rgb(rgb),
            FrameIn::Yuv(yuv, _) => Self::from_luma8(yuv.width, yuv.height, &yuv.y),
        }
    }

    pub fn width(&self) -> usize {
        self.size.0
    }

    pub fn height(&self) -> usize {
        self.size.1
    }
}

/// The whole-pixel translation `g` that best maps `prev` onto `next` (`next(y, x)` ~
/// `prev(y - g.dy, x - g.dx)`), up to a quarter of the shorter side; zero where frames
/// differ in size, are too small to search, or no translation explains them clearly
/// better than none ([`ACCEPT_RATIO`]).
pub fn global_shift(prev: &LumaPyramid, next: &LumaPyramid) -> Shift {
    if prev.size != next.size || prev.step != next.step {
        return Shift::ZERO;
    }
    let levels = prev.levels.len().min(next.levels.len());
    let coarsest = levels - 1;
    let top = &prev.levels[0];
    let max_shift = top.width.min(top.height) / MAX_SHIFT_FRACTION;
    let mut g = Shift::ZERO;
    for level in (0..levels).rev() {
        let (p, n) = (&prev.levels[level], &next.levels[level]);
        let radius = if level == coarsest { (max_shift >> coarsest).max(2) as i32 } else { 1 };
        let margin = g.reach() + radius as usize;
        let mut best: Option<(f32, Shift)> = None;
        for dy in g.dy - radius..=g.dy + radius {
            for dx in g.dx - radius..=g.dx + radius {
                let s = Shift::new(dy, dx);
                if let Some(d) = p.mean_abs_diff(n, s, margin) {
                    // Ties go to the shorter shift, then to the first found in scan order.
                    // (map_or, not is_none_or: the crate's rust-version is 1.80.)
                    if best.map_or(true, |(b, bs)| d < b || (d == b && s.reach() < bs.reach())) {
                        best = Some((d, s));
                    }
                }
            }
        }
        g = match best {
            Some((_, s)) => s,
            None => return Shift::ZERO, // this level is too small for the search
        };
        if level > 0 {
            g = Shift::new(2 * g.dy, 2 * g.dx);
        }
    }
    if g == Shift::ZERO {
        return g;
    }
    let margin = g.reach();
    let k = prev.step as i32;
    let scaled = Shift::new(g.dy * k, g.dx * k);
    if scaled.reach() < MIN_ALIGN_REACH {
        return Shift::ZERO;
    }
    match (top.mean_abs_diff(&next.levels[0], g, margin), top.mean_abs_diff(&next.levels[0], Shift::ZERO, margin)) {
        (Some(aligned), Some(unaligned)) if aligned < ACCEPT_RATIO * unaligned => scaled,
        _ => Shift::ZERO,
    }
}

/// The shifts that move two frames' features towards output instant `t` (0 = the first
/// frame, 1 = the second) when the second is the first moved by `g` low-rate pixels. The
/// first frame is `t * g` from the instant, the second `-(1 - t) * g`; each is moved by
/// the part of that displacement beyond [`NEAR_REACH`] per axis (the network renders
/// that much itself), rounded to whole pixels and scaled to the features' size (`feat`)
/// from the low-rate frame's (`lr`), both `(w, h)`. A frame close to the instant is not
/// moved at all: where a low-rate frame was taken at a slightly different instant than
/// its timestamp says (videorate picks the nearest source frame: at 60 -> 24 up to a fifth
/// of an interval off), moving it by the full `t * g` misplaced content that was already
/// in place (tennis, 60 -> 24: -0.5 dB against no alignment).
pub fn shifts_at(g: Shift, t: f32, lr: (usize, usize), feat: (usize, usize)) -> [Shift; 2] {
    if g == Shift::ZERO || lr.0 == 0 || lr.1 == 0 {
        return [Shift::ZERO; 2];
    }
    let (sx, sy) = (feat.0 as f32 / lr.0 as f32, feat.1 as f32 / lr.1 as f32);
    let reach = NEAR_REACH;
    let beyond = |m: f32| m.signum() * (m.abs() - reach).max(0.0);
    let at = |k: f32| Shift::new((beyond(k * g.dy as f32) * sy).round() as i32, (beyond(k * g.dx as f32) * sx).round() as i32);
    [at(t), at(t - 1.0)]
}

/// Follows a stream's received frames and measures each one's translation from the
/// frame received before it.
#[derive(Debug, Default)]
pub struct MotionTracker {
    last: Option<(u64, LumaPyramid)>,
}

/// A frame's measured motion: its translation from received frame `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMotion {
    pub from: u64,
    pub shift: Shift,
}

impl MotionTracker {
    /// Records received frame `index` and returns its translation from the previous one.
    pub fn observe(&mut self, index: u64, luma: LumaPyramid) -> Option<FrameMotion> {
        let motion = self.last.as_ref().map(|(from, prev)| FrameMotion { from: *from, shift: global_shift(prev, &luma) });
        self.last = Some((index, luma));
        motion
    }
}

/// A received frame as imsmup keeps it for the synth runs: its features, its size and
/// its measured motion (None when not measured).
#[derive(Debug)]
pub struct Received<F> {
    pub features: F,
    /// (w, h) of the received frame.
    pub size: (usize, usize),
    pub motion: Option<FrameMotion>,
}

impl<F> Received<F> {
    /// The shifts for an output frame at `t` between received frame `prev_index` and this
    /// one, for features `feat` = (w, h) in size.
    /// Zero unless this frame's motion was measured from `prev_index` (not so after a gap,
    /// or at the end of a stream, where both frames are this one).
    pub fn shifts_from(&self, prev_index: u64, t: f32, feat: (usize, usize)) -> [Shift; 2] {
        match self.motion {
            Some(m) if m.from == prev_index => shifts_at(m.shift, t, self.size, feat),
            _ => [Shift::ZERO; 2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_scene::{hash, value_noise};

    /// A textured, non-periodic luma image (lattice noise at three scales), `w` x `h`,
    /// the scene moved by (oy, ox), so that moved copies are exact.
    fn texture(w: usize, h: usize, oy: i64, ox: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (sy, sx) = (y - oy, x - ox);
                let v = 0.55 * value_noise(sy, sx, 29) + 0.3 * value_noise(sy, sx, 7) + 0.15 * hash(sy, sx);
                out.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        out
    }

    fn pyr(w: usize, h: usize, oy: i64, ox: i64) -> LumaPyramid {
        LumaPyramid::from_luma8(w, h, &texture(w, h, oy, ox))
    }

    #[test]
    fn finds_the_translation_between_two_views_of_a_scene() {
        for (w, h, dy, dx) in [(320, 180, 7, -23), (320, 180, -3, 2), (960, 540, 12, 60), (200, 120, 0, 4), (854, 480, -17, 1)] {
            let prev = pyr(w, h, 0, 0);
            let next = pyr(w, h, dy, dx);
            assert_eq!(global_shift(&prev, &next), Shift::new(dy as i32, dx as i32), "{w}x{h} ({dy}, {dx})");
            assert_eq!(global_shift(&next, &prev), Shift::new(-dy as i32, -dx as i32), "{w}x{h} back");
        }
    }

    #[test]
    fn frames_over_1080p_are_searched_at_a_lower_size() {
        // 3840x2160: searched at 1920x1080, the shift scaled back (exact for even shifts)
        let (w, h) = (3840, 2160);
        let prev = pyr(w, h, 0, 0);
        assert_eq!((prev.step, prev.levels[0].width, prev.levels[0].height), (2, 1920, 1080));
        assert_eq!(global_shift(&prev, &pyr(w, h, 40, -26)), Shift::new(40, -26));
        let odd = global_shift(&prev, &pyr(w, h, 13, 7));
        assert!((odd.dy - 13).abs() <= 1 && (odd.dx - 7).abs() <= 1, "{odd:?}");
    }

    #[test]
    fn malformed_buffers_align_nothing() {
        let short = LumaPyramid::from_luma8(64, 48, &[7; 100]);
        assert_eq!(global_shift(&short, &pyr(64, 48, 0, 3)), Shift::ZERO);
        let mut rgb = RgbFrame::new(64, 48);
        rgb.data.truncate(10);
        assert_eq!(global_shift(&LumaPyramid::from_rgb(&rgb), &pyr(64, 48, 0, 3)), Shift::ZERO);
    }

    #[test]
    fn short_motion_is_left_to_the_network() {
        // 1-2 px: the network renders it itself
        for (dy, dx) in [(0, 1), (-1, 1), (2, -2)] {
            assert_eq!(global_shift(&pyr(320, 180, 0, 0), &pyr(320, 180, dy, dx)), Shift::ZERO, "({dy}, {dx})");
        }
        assert_eq!(global_shift(&pyr(320, 180, 0, 0), &pyr(320, 180, 0, 3)), Shift::new(0, 3));
    }

    #[test]
    fn still_or_unrelated_frames_give_no_shift() {
        let a = pyr(320, 180, 0, 0);
        assert_eq!(global_shift(&a, &a), Shift::ZERO);
        // two unrelated noise frames: no translation explains one by the other
        let noise = |seed: u64| {
            let mut s = seed;
            (0..320 * 180)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (s >> 56) as u8
                })
                .collect::<Vec<u8>>()
        };
        let (n1, n2) = (LumaPyramid::from_luma8(320, 180, &noise(1)), LumaPyramid::from_luma8(320, 180, &noise(2)));
        assert_eq!(global_shift(&n1, &n2), Shift::ZERO);
        // a flat frame has nothing to align
        let flat = LumaPyramid::from_luma8(64, 48, &[128; 64 * 48]);
        assert_eq!(global_shift(&flat, &flat), Shift::ZERO);
    }

    #[test]
    fn tiny_or_mismatched_frames_give_no_shift() {
        for (w, h) in [(1, 1), (3, 2), (5, 40), (16, 16), (33, 17)] {
            let a = pyr(w, h, 0, 0);
            let b = pyr(w, h, 1, 2);
            let _ = global_shift(&a, &b); // must not panic; any answer within the frame
            assert!(global_shift(&a, &b).reach() <= w.min(h) / 4 + 2, "{w}x{h}");
        }
        assert_eq!(global_shift(&pyr(64, 48, 0, 0), &pyr(48, 64, 0, 3)), Shift::ZERO);
    }

    #[test]
    fn rgb_and_luma_inputs_agree() {
        let (w, h) = (160, 90);
        let y = texture(w, h, 0, 0);
        let mut rgb = RgbFrame::new(w, h);
        for (i, &v) in y.iter().enumerate() {
            for c in 0..3 {
                rgb.data[c * w * h + i] = v as f32 / 255.0;
            }
        }
        let moved = pyr(w, h, 4, -9);
        assert_eq!(global_shift(&LumaPyramid::from_rgb(&rgb), &moved), Shift::new(4, -9));
    }

    #[test]
    fn shifts_move_each_frame_towards_the_instant() {
        // each frame moves by its displacement from the instant beyond 2 px per axis
        let g = Shift::new(10, -7);
        assert_eq!(shifts_at(g, 0.0, (100, 50), (100, 50)), [Shift::ZERO, Shift::new(-8, 5)]);
        assert_eq!(shifts_at(g, 1.0, (100, 50), (100, 50)), [Shift::new(8, -5), Shift::ZERO]);
        // t = 0.5: 5 and -3.5 px from the instant -> 3 and -1.5 -> -2 (half away from zero)
        assert_eq!(shifts_at(g, 0.5, (100, 50), (100, 50)), [Shift::new(3, -2), Shift::new(-3, 2)]);
        // t = 0.8: the second frame is 2 and 1.4 px from the instant: not moved
        assert_eq!(shifts_at(g, 0.8, (100, 50), (100, 50)), [Shift::new(6, -4), Shift::ZERO]);
        assert_eq!(shifts_at(Shift::new(30, 0), 0.5, (100, 50), (100, 50)), [Shift::new(13, 0), Shift::new(-13, 0)]);
        // features at half the frame's size move half as far
        assert_eq!(shifts_at(g, 1.0, (100, 50), (50, 25)), [Shift::new(4, -3), Shift::ZERO]);
        assert_eq!(shifts_at(Shift::ZERO, 0.3, (100, 50), (100, 50)), [Shift::ZERO; 2]);
    }

    #[test]
    fn tracker_measures_from_the_previous_frame_and_jobs_use_it_only_for_that_pair() {
        let mut tracker = MotionTracker::default();
        assert_eq!(tracker.observe(0, pyr(320, 180, 0, 0)), None);
        let m = tracker.observe(1, pyr(320, 180, 0, 12)).expect("measured");
        assert_eq!(m, FrameMotion { from: 0, shift: Shift::new(0, 12) });
        let received = |motion| Received { features: (), size: (320, 180), motion };
        assert_eq!(received(Some(m)).shifts_from(0, 0.5, (320, 180)), [Shift::new(0, 4), Shift::new(0, -4)]);
        // a job whose frames are not that pair (a gap, or the end of the stream) is not moved
        assert_eq!(received(Some(m)).shifts_from(1, 0.5, (320, 180)), [Shift::ZERO; 2]);
        assert_eq!(received(None).shifts_from(0, 0.5, (320, 180)), [Shift::ZERO; 2]);
        let m2 = tracker.observe(5, pyr(320, 180, -4, 12)).expect("measured");
        assert_eq!(m2, FrameMotion { from: 1, shift: Shift::new(-4, 0) });
    }
}
