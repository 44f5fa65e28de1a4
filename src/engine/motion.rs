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
//!
//! Where parts of the picture move otherwise than the camera (a nearer layer, a player),
//! the local motion field ([`local_field`]) measures a translation per 32-pixel tile
//! around the global one, and the features are moved per pixel ([`index_maps`], the
//! graph's `index0` / `index1`), the motion interpolated between tiles.

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

    /// Mean |next(y, x) - self(y - dy, x - dx)| over the rectangle [y0, y1) x [x0, x1) of
    /// `next`, reads of `self` clamped to its edges (a tile at the frame's edge is compared
    /// with the edge pixels its content came from as far as they are known).
    fn rect_diff(&self, next: &Plane, s: Shift, (y0, y1): (usize, usize), (x0, x1): (usize, usize)) -> f32 {
        let (w, h) = (self.width as i64, self.height as i64);
        if y1 <= y0 || x1 <= x0 || w == 0 || h == 0 {
            return 0.0;
        }
        let mut sum = 0.0f64;
        for y in y0..y1 {
            let src_y = (y as i64 - s.dy as i64).clamp(0, h - 1) as usize;
            let row_p = &self.data[src_y * self.width..(src_y + 1) * self.width];
            let row_n = &next.data[y * next.width + x0..y * next.width + x1];
            let (src0, src1) = (x0 as i64 - s.dx as i64, x1 as i64 - s.dx as i64);
            let row: f32 = if src0 >= 0 && src1 <= w {
                // the whole row inside the frame: two plain slices (vectorised)
                row_n.iter().zip(&row_p[src0 as usize..src1 as usize]).map(|(a, b)| (a - b).abs()).sum()
            } else {
                (x0..x1).zip(row_n).map(|(x, a)| (a - row_p[(x as i64 - s.dx as i64).clamp(0, w - 1) as usize]).abs()).sum()
            };
            sum += row as f64;
        }
        (sum / ((y1 - y0) * (x1 - x0)) as f64) as f32
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
    global_shift_on(prev, next, motion_threads())
}

/// [`global_shift`] with each level's candidates scored on up to `threads` threads (the
/// choice among them is made in scan order afterwards: the same for any count).
fn global_shift_on(prev: &LumaPyramid, next: &LumaPyramid, threads: usize) -> Shift {
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
        let candidates: Vec<Shift> = (g.dy - radius..=g.dy + radius)
            .flat_map(|dy| (g.dx - radius..=g.dx + radius).map(move |dx| Shift::new(dy, dx)))
            .collect();
        // threads only where the level's work outweighs starting them (~1 M differences)
        let level_threads = if p.width * p.height * candidates.len() >= PAR_MIN_WORK { threads } else { 1 };
        let scores: Vec<Option<f32>> =
            par_chunks(candidates.len(), level_threads, |r| candidates[r].iter().map(|&s| p.mean_abs_diff(n, s, margin)).collect::<Vec<_>>())
                .into_iter()
                .flatten()
                .collect();
        let mut best: Option<(f32, Shift)> = None;
        for (&s, score) in candidates.iter().zip(scores) {
            if let Some(d) = score {
                // Ties go to the shorter shift, then to the first found in scan order.
                // (map_or, not is_none_or: the crate's rust-version is 1.80.)
                if best.map_or(true, |(b, bs)| d < b || (d == b && s.reach() < bs.reach())) {
                    best = Some((d, s));
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
    let at = |k: f32| Shift::new(move_beyond_reach(k * g.dy as f32, sy), move_beyond_reach(k * g.dx as f32, sx));
    [at(t), at(t - 1.0)]
}

/// How far (whole pixels at a scale of `scale` per frame pixel) a frame `displacement`
/// frame pixels from the output instant along one axis is moved: the part beyond
/// [`NEAR_REACH`], rounded. The one rule of [`shifts_at`] and [`index_maps`].
fn move_beyond_reach(displacement: f32, scale: f32) -> i32 {
    (displacement.signum() * (displacement.abs() - NEAR_REACH).max(0.0) * scale).round() as i32
}

/// Side of the local motion field's tiles, in searched pixels (the frame's up to 1080p).
/// Chosen on the dev clips davis_car-roundabout, cockatoo and street_pan_1080p through the
/// elements (imsm-plain, lossless, 60 -> 30 at 1/2 and 60 -> 24 at 1/1.5 size, mean gain
/// over global alignment alone): 24 px +0.28 dB, 32 px +0.30, 48 px +0.30 at radius 8;
/// 40 px +0.36 against 32 px +0.42 at radius 16.
const TILE: usize = 32;
/// How far (searched pixels, per axis) a tile's motion may differ from the global motion.
/// Same runs at 32-px tiles: radius 8 +0.30 dB, 12 +0.37, 16 +0.42, 24 +0.43 (the
/// search's cost grows with its square).
const LOCAL_RADIUS: i32 = 16;
/// A tile takes its own translation only where it lowers the tile's mean luma difference
/// to this fraction of what the global motion leaves (flat or noisy tiles keep the global).
/// Same runs at radius 8: 0.8 +0.27 dB, 0.9 +0.30, 0.95 +0.30.
const LOCAL_ACCEPT: f32 = 0.9;
/// Candidates of the half-size search refined at full size, per tile.
const COARSE_CANDIDATES: usize = 3;

/// Motion that varies over the picture: the frame cut into tiles of about [`TILE`] pixels,
/// each with its own whole-pixel translation (frame pixels), from one frame to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MotionField {
    /// Frame size (w, h).
    size: (usize, usize),
    /// Tile boundaries in frame pixels: `rows + 1` along y, `cols + 1` along x.
    edges_y: Vec<usize>,
    edges_x: Vec<usize>,
    /// One translation per tile, row by row.
    shifts: Vec<Shift>,
}

fn tile_edges(n: usize) -> Vec<usize> {
    let count = ((n + TILE / 2) / TILE).max(1);
    (0..=count).map(|i| i * n / count).collect()
}

impl MotionField {
    pub fn rows(&self) -> usize {
        self.edges_y.len() - 1
    }

    pub fn cols(&self) -> usize {
        self.edges_x.len() - 1
    }

    /// The translation of tile (row, col).
    pub fn tile(&self, row: usize, col: usize) -> Shift {
        self.shifts[row * self.cols() + col]
    }

    /// How many tiles moved otherwise than `g`.
    pub fn departures(&self, g: Shift) -> usize {
        self.shifts.iter().filter(|&&s| s != g).count()
    }
}

/// Every translation within `radius` of `centre` with its mean difference over tile
/// `ys` x `xs` ([`Plane::rect_diff`]) and reach, best first (ties: the shorter shift, then
/// scan order).
fn ranked(p: &Plane, n: &Plane, ys: (usize, usize), xs: (usize, usize), centre: Shift, radius: i32) -> Vec<(f32, usize, Shift)> {
    let mut all = Vec::with_capacity(((2 * radius + 1) * (2 * radius + 1)) as usize);
    for dy in centre.dy - radius..=centre.dy + radius {
        for dx in centre.dx - radius..=centre.dx + radius {
            let s = Shift::new(dy, dx);
            all.push((p.rect_diff(n, s, ys, xs), s.reach(), s));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all
}

/// Searches each tile's translation within [`LOCAL_RADIUS`] of the global motion `g`
/// (frame pixels; zero where there is none): at half size first where the pyramid has
/// that level, then +-1 at full size. A tile keeps `g` unless its own translation
/// explains it clearly better ([`LOCAL_ACCEPT`]). None where the frames differ in size.
pub fn local_field(prev: &LumaPyramid, next: &LumaPyramid, g: Shift) -> Option<MotionField> {
    local_field_on(prev, next, g, motion_threads())
}

/// [`local_field`] on up to `threads` threads (rows of tiles are independent: the field
/// is the same for any count).
fn local_field_on(prev: &LumaPyramid, next: &LumaPyramid, g: Shift, threads: usize) -> Option<MotionField> {
    if prev.size != next.size || prev.step != next.step || prev.levels.is_empty() || next.levels.is_empty() {
        return None;
    }
    let k = prev.step;
    let (p0, n0) = (&prev.levels[0], &next.levels[0]);
    if p0.width == 0 || p0.height == 0 || p0.data.len() != n0.data.len() {
        return None;
    }
    let g0 = Shift::new(g.dy / k as i32, g.dx / k as i32);
    let (ey, ex) = (tile_edges(p0.height), tile_edges(p0.width));
    let coarse = prev.levels.get(1).zip(next.levels.get(1));
    let tile_row = |r: usize| -> Vec<Shift> {
        let mut shifts = Vec::with_capacity(ex.len() - 1);
        for c in 0..ex.len() - 1 {
            let (ys, xs) = ((ey[r], ey[r + 1]), (ex[c], ex[c + 1]));
            // At half size first where the pyramid has that level: its best few candidates
            // are refined by +-1 at full size (one candidate alone is often wrong in a tile
            // that is half occluded, its detail halved).
            let half = |v: (usize, usize)| (v.0 / 2, (v.1 / 2).max(v.0 / 2 + 1));
            let (hy, hx) = (half(ys), half(xs));
            let centres: Vec<(Shift, i32)> = match coarse {
                Some((p1, n1)) if hy.1 <= p1.height && hx.1 <= p1.width => ranked(p1, n1, hy, hx, Shift::new(g0.dy / 2, g0.dx / 2), LOCAL_RADIUS / 2)
                    .into_iter()
                    .take(COARSE_CANDIDATES)
                    .map(|(_, _, s)| (Shift::new(2 * s.dy, 2 * s.dx), 1))
                    .collect(),
                _ => vec![(g0, LOCAL_RADIUS)],
            };
            let mut best = (f32::INFINITY, usize::MAX, g0);
            for (centre, radius) in centres {
                let top = ranked(p0, n0, ys, xs, centre, radius)[0];
                if top.0 < best.0 || (top.0 == best.0 && top.1 < best.1) {
                    best = top;
                }
            }
            let (own, _, centre) = best;
            let global = p0.rect_diff(n0, g0, ys, xs);
            let s = if own < LOCAL_ACCEPT * global { centre } else { g0 };
            shifts.push(Shift::new(s.dy * k as i32, s.dx * k as i32));
        }
        shifts
    };
    // (each pixel is compared for ~100 candidate shifts: threads from ~16 k pixels on)
    let threads = if p0.width * p0.height * 64 >= PAR_MIN_WORK { threads } else { 1 };
    let shifts: Vec<Shift> = par_chunks(ey.len() - 1, threads, |rows| rows.flat_map(tile_row).collect::<Vec<_>>())
        .into_iter()
        .flatten()
        .collect();
    let scale = |e: Vec<usize>, n: usize| {
        let last = e.len() - 1;
        e.into_iter().enumerate().map(|(i, v)| if i == last { n } else { v * k }).collect()
    };
    Some(MotionField { size: prev.size, edges_y: scale(ey, prev.size.1), edges_x: scale(ex, prev.size.0), shifts })
}

/// For each position along an axis of `n_out` pixels over a frame of `n_frame` pixels cut
/// at `edges`: the two tiles around it (by their centres) and the weight of the second.
fn tile_weights(edges: &[usize], n_frame: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let centres: Vec<f32> = edges.windows(2).map(|e| 0.5 * (e[0] + e[1]) as f32).collect();
    let scale = n_frame as f32 / n_out.max(1) as f32;
    (0..n_out)
        .map(|i| {
            let p = (i as f32 + 0.5) * scale;
            let j = centres.partition_point(|&c| c <= p);
            if j == 0 {
                (0, 0, 0.0)
            } else if j == centres.len() {
                (j - 1, j - 1, 0.0)
            } else {
                (j - 1, j, (p - centres[j - 1]) / (centres[j] - centres[j - 1]))
            }
        })
        .collect()
}

/// The per-pixel form of [`shifts_at`] for a motion field: for features `feat` = (w, h) in
/// size, each feature pixel's source pixel (row-major `y * w + x`, the synth graph's
/// `index0` / `index1`) in each frame. The motion at a pixel is interpolated bilinearly
/// between the tiles' centres, so neighbouring tiles that moved differently meet in a ramp
/// of one-pixel steps rather than at a seam; each frame then moves by the part of its
/// displacement from instant `t` beyond [`NEAR_REACH`], in whole feature pixels, edges
/// replicated.
pub fn index_maps(field: &MotionField, t: f32, feat: (usize, usize)) -> [Vec<i64>; 2] {
    index_maps_on(field, t, feat, motion_threads())
}

/// [`index_maps`] on up to `threads` threads (rows are independent: the maps are the
/// same for any count).
fn index_maps_on(field: &MotionField, t: f32, feat: (usize, usize), threads: usize) -> [Vec<i64>; 2] {
    let (fw, fh) = feat;
    let (sx, sy) = (fw as f32 / field.size.0.max(1) as f32, fh as f32 / field.size.1.max(1) as f32);
    let rows = tile_weights(&field.edges_y, field.size.1, fh);
    let cols = tile_weights(&field.edges_x, field.size.0, fw);
    // Rows `y0..` into `out0` / `out1` (whole rows of the two maps).
    let fill = |y0: usize, out0: &mut [i64], out1: &mut [i64]| {
        for (i, (row0, row1)) in out0.chunks_exact_mut(fw).zip(out1.chunks_exact_mut(fw)).enumerate() {
            let y = y0 + i;
            let (r0, r1, wy) = rows[y];
            for (x, &(c0, c1, wx)) in cols.iter().enumerate() {
                let (a, b, c, d) = (field.tile(r0, c0), field.tile(r0, c1), field.tile(r1, c0), field.tile(r1, c1));
                let bilinear = |a: i32, b: i32, c: i32, d: i32| {
                    (a as f32 * (1.0 - wx) + b as f32 * wx) * (1.0 - wy) + (c as f32 * (1.0 - wx) + d as f32 * wx) * wy
                };
                let (dy, dx) = (bilinear(a.dy, b.dy, c.dy, d.dy), bilinear(a.dx, b.dx, c.dx, d.dx));
                for (slot, k) in [&mut row0[x], &mut row1[x]].into_iter().zip([t, t - 1.0]) {
                    let my = move_beyond_reach(k * dy, sy) as i64;
                    let mx = move_beyond_reach(k * dx, sx) as i64;
                    let src_y = (y as i64 - my).clamp(0, fh as i64 - 1);
                    let src_x = (x as i64 - mx).clamp(0, fw as i64 - 1);
                    *slot = src_y * fw as i64 + src_x;
                }
            }
        }
    };
    let mut maps = [vec![0i64; fw * fh], vec![0i64; fw * fh]];
    let threads = if fw * fh * 16 >= PAR_MIN_WORK { threads.clamp(1, fh.max(1)) } else { 1 };
    if threads == 1 || fw == 0 {
        let [m0, m1] = &mut maps;
        fill(0, m0, m1);
        return maps;
    }
    let per = fh.div_ceil(threads) * fw;
    let [m0, m1] = &mut maps;
    std::thread::scope(|scope| {
        let fill = &fill;
        for (k, (out0, out1)) in m0.chunks_mut(per).zip(m1.chunks_mut(per)).enumerate() {
            scope.spawn(move || fill(k * per / fw, out0, out1));
        }
    });
    maps
}

/// Below about this many elementary operations, work stays on the calling thread (starting
/// scoped threads costs tens of microseconds each).
const PAR_MIN_WORK: usize = 1 << 20;

/// Threads for imsmup's host-side motion work (measured on the H100 machine's host: local
/// motion held imsmup at 13 output frames/s of 1080p, the GPU waiting): the machine's
/// cores, up to 8.
fn motion_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// `threads`, or [`motion_threads`] for 0.
fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        motion_threads()
    } else {
        threads
    }
}

/// `f` over `0..n` cut into up to `threads` contiguous ranges, each on a scoped thread (on
/// the calling thread when one), the results in order.
fn par_chunks<R: Send>(n: usize, threads: usize, f: impl Fn(std::ops::Range<usize>) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return vec![f(0..n)];
    }
    let per = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = (0..n).step_by(per).map(|a| scope.spawn(move || f(a..(a + per).min(n)))).collect();
        // A worker only computes (no locks, no I/O); a panic in one is a bug, passed on.
        workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// How a synth run moves the two frames' features towards the output instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alignment {
    /// Not at all.
    None,
    /// As a whole, by whole pixels (the synth graph's `shift0` / `shift1`).
    Shifts([Shift; 2]),
    /// Per pixel: each feature pixel's source pixel in each frame (`index0` / `index1`).
    Indices(Box<[Vec<i64>; 2]>),
}

impl Alignment {
    /// The same moves for the two frames handed to the synth the other way round (its
    /// `t` becoming `1 - t`, as imsmup does when a stretch plays backwards): each frame
    /// keeps its own.
    pub fn swapped(self) -> Self {
        match self {
            Alignment::None => Alignment::None,
            Alignment::Shifts([a, b]) => Alignment::Shifts([b, a]),
            Alignment::Indices(maps) => {
                let [a, b] = *maps;
                Alignment::Indices(Box::new([b, a]))
            }
        }
    }
}

/// Follows a stream's received frames and measures each one's motion from the frame
/// received before it.
#[derive(Debug, Default)]
pub struct MotionTracker {
    last: Option<(u64, LumaPyramid)>,
    /// Threads for the searches (0: [`motion_threads`]).
    threads: usize,
}

/// A frame's measured motion from received frame `from`: its global translation and, where
/// measured, the local motion field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameMotion {
    pub from: u64,
    pub shift: Shift,
    pub field: Option<MotionField>,
}

impl MotionTracker {
    /// A tracker whose searches run on up to `threads` threads (0: the machine's cores, up
    /// to 8); the measured motion is the same for any count.
    pub fn with_threads(threads: usize) -> Self {
        Self { last: None, threads }
    }

    /// The thread count it was made with (0: the machine's cores, up to 8).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Records received frame `index` and returns its motion from the previous one; with
    /// `local`, the motion field too ([`local_field`]).
    pub fn observe(&mut self, index: u64, luma: LumaPyramid, local: bool) -> Option<FrameMotion> {
        let motion = self.last.as_ref().map(|(from, prev)| {
            let threads = resolve_threads(self.threads);
            let shift = global_shift_on(prev, &luma, threads);
            let field = if local { local_field_on(prev, &luma, shift, threads) } else { None };
            FrameMotion { from: *from, shift, field }
        });
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
    /// How to align the features (`feat` = (w, h) in size) for an output frame at `t`
    /// between received frame `prev_index` and this one: by the motion field where there
    /// is one, else by the global translation. Not at all unless this frame's motion was
    /// measured from `prev_index` (not so after a gap, or at the end of a stream, where
    /// both frames are this one).
    /// `threads` builds the index maps (0: the machine's cores, up to 8).
    pub fn alignment_from(&self, prev_index: u64, t: f32, feat: (usize, usize), threads: usize) -> Alignment {
        match &self.motion {
            Some(m) if m.from == prev_index => match &m.field {
                Some(field) => Alignment::Indices(Box::new(index_maps_on(field, t, feat, resolve_threads(threads)))),
                None => Alignment::Shifts(shifts_at(m.shift, t, self.size, feat)),
            },
            _ => Alignment::None,
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
    fn motion_work_is_the_same_on_any_number_of_threads() {
        // frames whose tiles move variously: the scene moved, and differently in a band
        let (w, h) = (400, 230);
        let prev = pyr(w, h, 0, 0);
        let moved = texture(w, h, 5, -9);
        let band = texture(w, h, -2, 6);
        let mixed: Vec<u8> = (0..w * h).map(|i| if (i / w) % 90 < 40 { band[i] } else { moved[i] }).collect();
        let next = LumaPyramid::from_luma8(w, h, &mixed);
        // (large enough that the finest level's candidates are scored on threads)
        let (big0, big1) = (pyr(960, 540, 0, 0), pyr(960, 540, 7, -12));
        let g = global_shift_on(&big0, &big1, 1);
        assert_eq!(g, Shift::new(7, -12));
        for threads in [2, 3, 8] {
            assert_eq!(global_shift_on(&big0, &big1, threads), g, "{threads} threads");
        }
        let one = local_field_on(&prev, &next, Shift::ZERO, 1).expect("a field");
        assert!(one.departures(one.tile(0, 0)) > 0, "the test needs tiles that move differently");
        for threads in [2, 3, 8, 64] {
            assert_eq!(local_field_on(&prev, &next, Shift::ZERO, threads).as_ref(), Some(&one), "{threads} threads");
        }
        for (t, feat) in [(0.5, (w, h)), (0.25, (200, 115)), (0.8, (w * 2, h * 2)), (0.5, (1, 1))] {
            let reference = index_maps_on(&one, t, feat, 1);
            assert_eq!(reference[0].len(), feat.0 * feat.1);
            for threads in [2, 3, 7, 1000] {
                assert_eq!(index_maps_on(&one, t, feat, threads), reference, "t {t}, {feat:?}, {threads} threads");
            }
        }
    }

    #[test]
    fn swapped_shifts_are_those_of_the_motion_measured_the_other_way() {
        // frames handed over the other way round see the motion negated at 1 - t
        for (dy, dx) in [(7, -23), (-3, 2), (12, 60), (0, 4)] {
            for t in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
                let g = Shift::new(dy, dx);
                let back = Shift::new(-dy, -dx);
                let forward = Alignment::Shifts(shifts_at(g, t, (320, 180), (640, 360)));
                let reversed = Alignment::Shifts(shifts_at(back, 1.0 - t, (320, 180), (640, 360)));
                assert_eq!(forward.swapped(), reversed, "({dy}, {dx}) at {t}");
            }
        }
        let maps = Alignment::Indices(Box::new([vec![1, 2], vec![3, 4]]));
        assert_eq!(maps.swapped(), Alignment::Indices(Box::new([vec![3, 4], vec![1, 2]])));
        assert_eq!(Alignment::None.swapped(), Alignment::None);
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

    /// The index map of a whole-frame shift (edges replicated).
    fn shifted_index(w: usize, h: usize, s: Shift) -> Vec<i64> {
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                out.push((y - s.dy as i64).clamp(0, h as i64 - 1) * w as i64 + (x - s.dx as i64).clamp(0, w as i64 - 1));
            }
        }
        out
    }

    /// Luma of a scene whose left half (x < split) is `texture` moved by `left` and whose
    /// right half is another texture moved by `right`.
    fn two_motions(w: usize, h: usize, split: usize, left: (i64, i64), right: (i64, i64)) -> Vec<u8> {
        let a = texture(w, h, left.0, left.1);
        let b = texture(w, h, right.0 + 5000, right.1 + 7000);
        (0..w * h).map(|i| if i % w < split { a[i] } else { b[i] }).collect()
    }

    #[test]
    fn the_field_follows_two_motions_where_the_global_shift_follows_one() {
        // the left part moves within LOCAL_RADIUS of the right part's (global) motion
        let (w, h, split) = (320, 192, 128);
        let prev = LumaPyramid::from_luma8(w, h, &two_motions(w, h, split, (0, 0), (0, 0)));
        let next = LumaPyramid::from_luma8(w, h, &two_motions(w, h, split, (0, -14), (6, -8)));
        let g = global_shift(&prev, &next);
        assert_eq!(g, Shift::new(6, -8), "the larger right part dominates");
        let field = local_field(&prev, &next, g).expect("same size");
        assert_eq!((field.rows(), field.cols()), (6, 10));
        for r in 0..field.rows() {
            for c in 0..field.cols() {
                // tiles wholly on one side; the left part's last 14 columns show content
                // the right part covered in the first frame (matched by no translation), so
                // a tile reaching into them may go either way
                let (x0, x1) = (field.edges_x[c], field.edges_x[c + 1]);
                let want = if x1 <= split - 14 { Some(Shift::new(0, -14)) } else if x0 >= split { Some(g) } else { None };
                if let Some(want) = want {
                    assert_eq!(field.tile(r, c), want, "tile ({r}, {c}) x {x0}..{x1}");
                }
            }
        }
        // the per-pixel maps move each half by its own motion away from the split
        let maps = index_maps(&field, 0.5, (w, h));
        let src = |m: &Vec<i64>, y: usize, x: usize| (m[y * w + x] / w as i64, m[y * w + x] % w as i64);
        // left: (0, -14) at t = 0.5 -> frame 0 moved by beyond(-7) = -5 px along x, frame 1 by 5
        assert_eq!(src(&maps[0], 100, 40), (100, 45));
        assert_eq!(src(&maps[1], 100, 40), (100, 35));
        // right: (6, -8) -> (3, -4) from the instant -> (1, -2) moved
        assert_eq!(src(&maps[0], 100, 260), (99, 262));
        assert_eq!(src(&maps[1], 100, 260), (101, 258));
        // features at half size move half as far, pixel for pixel (rounded)
        let half = index_maps(&field, 0.5, (w / 2, h / 2));
        assert_eq!(half[0].len(), w * h / 4);
        assert_eq!((half[0][50 * (w / 2) + 20] / (w / 2) as i64, half[0][50 * (w / 2) + 20] % (w / 2) as i64), (50, 23));
    }

    #[test]
    fn the_field_of_a_still_or_flat_scene_is_still_and_odd_sizes_are_covered() {
        for (w, h) in [(320, 180), (33, 17), (1, 1), (47, 200)] {
            let a = pyr(w, h, 0, 0);
            let field = local_field(&a, &a, Shift::ZERO).expect("same size");
            assert_eq!(field.departures(Shift::ZERO), 0, "{w}x{h}");
            assert_eq!((*field.edges_x.last().unwrap(), *field.edges_y.last().unwrap()), (w, h));
            let maps = index_maps(&field, 0.3, (w, h));
            assert_eq!(maps[0], (0..(w * h) as i64).collect::<Vec<_>>());
            assert_eq!(maps[1], maps[0]);
        }
        let flat = LumaPyramid::from_luma8(64, 48, &[128; 64 * 48]);
        assert_eq!(local_field(&flat, &flat, Shift::ZERO).unwrap().departures(Shift::ZERO), 0);
        assert_eq!(local_field(&pyr(64, 48, 0, 0), &pyr(48, 64, 0, 0), Shift::ZERO), None);
        // a 4K frame (searched at 1080p): tiles cover it and shifts come back in frame pixels
        let (w, h) = (3840, 2160);
        let field = local_field(&pyr(w, h, 0, 0), &pyr(w, h, 20, -40), Shift::new(20, -40)).unwrap();
        assert_eq!((*field.edges_x.last().unwrap(), *field.edges_y.last().unwrap()), (w, h));
        assert_eq!(field.departures(Shift::new(20, -40)), 0);
    }

    #[test]
    fn tracker_measures_from_the_previous_frame_and_jobs_use_it_only_for_that_pair() {
        let mut tracker = MotionTracker::default();
        assert_eq!(tracker.observe(0, pyr(320, 180, 0, 0), false), None);
        let m = tracker.observe(1, pyr(320, 180, 0, 12), false).expect("measured");
        assert_eq!(m, FrameMotion { from: 0, shift: Shift::new(0, 12), field: None });
        let received = |motion: &FrameMotion| Received { features: (), size: (320, 180), motion: Some(motion.clone()) };
        assert_eq!(received(&m).alignment_from(0, 0.5, (320, 180), 0), Alignment::Shifts([Shift::new(0, 4), Shift::new(0, -4)]));
        // a job whose frames are not that pair (a gap, or the end of the stream) is not moved
        assert_eq!(received(&m).alignment_from(1, 0.5, (320, 180), 0), Alignment::None);
        let unmeasured = Received { features: (), size: (320, 180), motion: None };
        assert_eq!(unmeasured.alignment_from(0, 0.5, (320, 180), 0), Alignment::None);
        let m2 = tracker.observe(5, pyr(320, 180, -4, 12), true).expect("measured");
        assert_eq!((m2.from, m2.shift), (1, Shift::new(-4, 0)));
        // with the field: every tile of a uniform pan moves with it, and the per-pixel
        // alignment is the global one at every pixel
        let field = m2.field.clone().expect("field measured");
        assert_eq!(field.departures(Shift::new(-4, 0)), 0);
        let Alignment::Indices(maps) = received(&m2).alignment_from(1, 0.0, (320, 180), 0) else { panic!("indices") };
        let [Shift { dy, .. }, _] = shifts_at(Shift::new(-4, 0), 0.0, (320, 180), (320, 180));
        assert_eq!(dy, 0);
        let [_, s1] = shifts_at(Shift::new(-4, 0), 0.0, (320, 180), (320, 180));
        assert_eq!(maps[0], (0..320 * 180).collect::<Vec<i64>>());
        assert_eq!(maps[1], shifted_index(320, 180, s1));
    }
}
