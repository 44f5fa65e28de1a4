//! Frame-window scheduling for any rational rate ratio.
//!
//! Frames are identified by integer indices on their stream's grid (index 0 = the first
//! frame after a (re)start). All decisions are made in integer arithmetic on those
//! indices, so a schedule never drifts. The schedulers are generic over the payload so
//! they can be tested (and run for 24 simulated hours) without any pixels.

use std::collections::VecDeque;
use std::sync::Arc;

use super::time::{Rate, Ratio};

/// Most input frames the down graph sees for one output frame.
pub const WINDOW_SLOTS: usize = 7;

/// Where an incoming buffer lands on the input grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A new frame with this index.
    Frame(u64),
    /// Same grid slot as a frame already taken, or a little earlier: dropped.
    Duplicate,
    /// The timestamp jumped further than `max_gap` frames, either way: drain and restart
    /// the grid here.
    Jump,
}

/// Maps buffer timestamps onto frame indices of one rate.
#[derive(Clone, Debug)]
pub struct InputClock {
    rate: Rate,
    origin: Option<u64>,
    last: Option<u64>,
    max_gap: u64,
}

impl InputClock {
    /// `max_gap`: the largest forward jump (in frames) still treated as missing frames
    /// inside one continuous stream.
    pub fn new(rate: Rate, max_gap: u64) -> Self {
        Self { rate, origin: None, last: None, max_gap: max_gap.max(1) }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The timestamp of frame 0, once the first frame has been placed.
    pub fn origin(&self) -> Option<u64> {
        self.origin
    }

    pub fn place(&mut self, pts: Option<u64>) -> Placement {
        let Some(origin) = self.origin else {
            self.origin = Some(pts.unwrap_or(0));
            self.last = Some(0);
            return Placement::Frame(0);
        };
        let last = self.last.unwrap_or(0);
        let index = match pts {
            // No timestamp: the next slot on the grid.
            None => last + 1,
            Some(pts) if pts < origin => {
                // Far before the origin is a restart of the timeline, near it a late frame.
                let back = self.rate.nearest_frame(origin - pts) + last;
                return if back > self.max_gap { Placement::Jump } else { Placement::Duplicate };
            }
            Some(pts) => self.rate.nearest_frame(pts - origin),
        };
        if index <= last {
            return if last - index > self.max_gap { Placement::Jump } else { Placement::Duplicate };
        }
        if index - last > self.max_gap {
            return Placement::Jump;
        }
        self.last = Some(index);
        Placement::Frame(index)
    }

    /// Forget the grid: the next placed frame becomes frame 0.
    pub fn reset(&mut self) {
        self.origin = None;
        self.last = None;
    }
}

/// Which way a stretch plays. Backwards (a segment with a negative rate) the frames
/// arrive latest first; they are indexed in arrival order, so the schedulers run on a
/// mirrored timeline and only the ends of a stretch differ (see [`backward_lead`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Forwards,
    Backwards,
}

/// Output instants, played backwards, that lie after the first received frame's instant
/// but inside its interval (`ratio` = input frames per output frame): rendered from that
/// frame alone, as the forward direction renders the last frame's interval, so that a
/// stretch played backwards covers the instants the same stretch covers forwards.
pub fn backward_lead(ratio: Ratio) -> u64 {
    // k >= 1 with k * num / den < 1
    (ratio.den - 1) / ratio.num
}

/// Where frames sit on a scheduler's timeline, in units of `1 / den` input frames
/// (`num / den` = input frames per output frame): output `k` at `k * num`, input `i` at
/// `i * den + lead * num`, `lead` output frames later when played backwards.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    num: u128,
    den: u128,
    lead: u128,
    backwards: bool,
}

impl Timeline {
    fn new(ratio: Ratio, direction: Direction) -> Self {
        let backwards = direction == Direction::Backwards;
        let lead = if backwards { backward_lead(ratio) as u128 * ratio.num as u128 } else { 0 };
        Self { num: ratio.num as u128, den: ratio.den as u128, lead, backwards }
    }

    fn input(&self, i: u64) -> u128 {
        i as u128 * self.den + self.lead
    }

    fn output(&self, k: u64) -> u128 {
        k as u128 * self.num
    }

    /// Whether a frame at `input` counts as before the output instant at `output`: the frame
    /// an instant is rendered from, with the one after it. At an instant that falls on a
    /// received frame, forwards that is the frame itself and the next one; backwards the
    /// one received before it and the frame itself, which in time order is the same pair.
    fn before(&self, input: u128, output: u128) -> bool {
        if self.backwards { input < output } else { input <= output }
    }

    /// Tie-break between frames equally far from an instant: the earlier in time, which
    /// backwards is the later received.
    fn time_order(&self, i: u64) -> i128 {
        if self.backwards { -(i as i128) } else { i as i128 }
    }

    /// Whether output `k` is rendered at the end of a stretch whose last frame is `last`:
    /// forwards every instant before the end of that frame's interval; backwards that
    /// interval lies before the frame's instant on the mirrored timeline, where no frame
    /// was received, so only instants up to the frame's own.
    fn before_end(&self, k: u64, last: u64) -> bool {
        if self.backwards {
            self.output(k) <= self.input(last)
        } else {
            self.output(k) < self.input(last + 1)
        }
    }
}

/// Received frames in index order, shared by both schedulers.
#[derive(Debug)]
struct FrameWindow<T> {
    frames: VecDeque<(u64, Arc<T>)>,
}

impl<T> FrameWindow<T> {
    fn new() -> Self {
        Self { frames: VecDeque::new() }
    }

    fn push(&mut self, index: u64, frame: T) {
        debug_assert!(self.last_index().is_none_or(|last| index > last));
        self.frames.push_back((index, Arc::new(frame)));
    }

    fn last_index(&self) -> Option<u64> {
        self.frames.back().map(|(i, _)| *i)
    }

    /// Drops frames for which `unneeded` holds, always keeping the newest one.
    fn evict_front(&mut self, unneeded: impl Fn(u64) -> bool) {
        while self.frames.len() > 1 && unneeded(self.frames[0].0) {
            self.frames.pop_front();
        }
    }

    fn clear(&mut self) {
        self.frames.clear();
    }
}

/// One input frame of a down job.
#[derive(Debug, Clone)]
pub struct DownSlot<T> {
    /// Input frame index.
    pub index: u64,
    /// Frame time minus the output instant, in output frame intervals.
    pub offset: f32,
    pub frame: Arc<T>,
}

/// Everything needed to render output frame `index` of a rate reduction.
#[derive(Debug, Clone)]
pub struct DownJob<T> {
    pub index: u64,
    /// At most [`WINDOW_SLOTS`] frames, in time order; never empty.
    pub slots: Vec<DownSlot<T>>,
}

/// Schedules imsmdown: output frame `j` stands for input position `j * r`
/// (`r` = input frames per output frame) and sees the input frames within
/// `max(r, 1)` input frames of it, so frames dropped between two outputs are
/// visible to both neighbours.
#[derive(Debug)]
pub struct DownScheduler<T> {
    /// r = num / den input frames per output frame.
    ratio: Ratio,
    timeline: Timeline,
    window: FrameWindow<T>,
    next_out: u64,
}

impl<T> DownScheduler<T> {
    pub fn new(ratio: Ratio) -> Self {
        Self::with_direction(ratio, Direction::Forwards)
    }

    pub fn with_direction(ratio: Ratio, direction: Direction) -> Self {
        Self { ratio, timeline: Timeline::new(ratio, direction), window: FrameWindow::new(), next_out: 0 }
    }

    /// Window radius in units of `1 / den` input frames.
    fn reach(&self) -> u64 {
        self.ratio.num.max(self.ratio.den)
    }

    /// Adds input frame `index` (strictly increasing) and returns the jobs that became ready.
    pub fn push(&mut self, index: u64, frame: T) -> Vec<DownJob<T>> {
        self.window.push(index, frame);
        let (tl, reach) = (self.timeline, self.reach() as u128);
        let mut jobs = Vec::new();
        while tl.input(index) >= tl.output(self.next_out) + reach {
            jobs.push(self.job(self.next_out));
            self.next_out += 1;
        }
        let next = tl.output(self.next_out);
        self.window.evict_front(|i| tl.input(i) + reach < next);
        jobs
    }

    /// End of stream: every output instant up to the end of the last input frame
    /// ([`Timeline::before_end`]).
    pub fn finish(&mut self) -> Vec<DownJob<T>> {
        let mut jobs = Vec::new();
        if let Some(last) = self.window.last_index() {
            while self.timeline.before_end(self.next_out, last) {
                jobs.push(self.job(self.next_out));
                self.next_out += 1;
            }
        }
        self.window.clear();
        jobs
    }

    /// Output frames produced so far.
    pub fn produced(&self) -> u64 {
        self.next_out
    }

    pub fn buffered(&self) -> usize {
        self.window.frames.len()
    }

    fn job(&self, j: u64) -> DownJob<T> {
        let n = self.ratio.num as i128;
        let reach = self.reach() as i128;
        let centre = self.timeline.output(j) as i128;
        let position = |i: u64| self.timeline.input(i) as i128;
        let distance = |i: u64| (position(i) - centre).abs();
        let mut chosen: Vec<&(u64, Arc<T>)> =
            self.window.frames.iter().filter(|(i, _)| distance(*i) <= reach).collect();
        if chosen.is_empty() {
            // A gap left no frame near this instant: fall back to the nearest one.
            chosen.extend(self.window.frames.iter().min_by_key(|(i, _)| distance(*i)));
        }
        chosen.sort_by_key(|(i, _)| (distance(*i), self.timeline.time_order(*i)));
        chosen.truncate(WINDOW_SLOTS);
        chosen.sort_by_key(|(i, _)| *i);
        let slots = chosen
            .into_iter()
            .map(|(i, frame)| DownSlot {
                index: *i,
                offset: ((position(*i) - centre) as f64 / n as f64) as f32,
                frame: Arc::clone(frame),
            })
            .collect();
        DownJob { index: j, slots }
    }
}

/// Everything needed to render output frame `index` of a rate increase.
#[derive(Debug, Clone)]
pub struct UpJob<T> {
    pub index: u64,
    /// Index of the received frame at or before the instant (before it when played
    /// backwards, see `Timeline::before`).
    pub prev_index: u64,
    pub prev: Arc<T>,
    /// The received frame after the instant (the same as `prev` at the end of a stream).
    pub next: Arc<T>,
    /// Position of the instant between `prev` (0) and `next` (1).
    pub t: f32,
}

/// Schedules imsmup: output frame `k` lies at input position `k * s`
/// (`s` = input frames per output frame) and is rendered from the received frames
/// around it, once the frame after it has arrived.
#[derive(Debug)]
pub struct UpScheduler<T> {
    /// s = num / den input frames per output frame.
    timeline: Timeline,
    window: FrameWindow<T>,
    next_out: u64,
}

impl<T> UpScheduler<T> {
    pub fn new(ratio: Ratio) -> Self {
        Self::with_direction(ratio, Direction::Forwards)
    }

    pub fn with_direction(ratio: Ratio, direction: Direction) -> Self {
        Self { timeline: Timeline::new(ratio, direction), window: FrameWindow::new(), next_out: 0 }
    }

    /// Adds received frame `index` (strictly increasing) and returns the jobs that became ready.
    pub fn push(&mut self, index: u64, frame: T) -> Vec<UpJob<T>> {
        self.window.push(index, frame);
        let tl = self.timeline;
        let mut jobs = Vec::new();
        while tl.input(index) > tl.output(self.next_out) {
            jobs.push(self.job(self.next_out));
            self.next_out += 1;
        }
        self.evict();
        jobs
    }

    /// End of stream: every output instant up to the end of the last received frame
    /// ([`Timeline::before_end`]).
    pub fn finish(&mut self) -> Vec<UpJob<T>> {
        let mut jobs = Vec::new();
        if let Some(last) = self.window.last_index() {
            while self.timeline.before_end(self.next_out, last) {
                jobs.push(self.job(self.next_out));
                self.next_out += 1;
            }
        }
        self.window.clear();
        jobs
    }

    pub fn produced(&self) -> u64 {
        self.next_out
    }

    pub fn buffered(&self) -> usize {
        self.window.frames.len()
    }

    fn evict(&mut self) {
        let tl = self.timeline;
        let position = tl.output(self.next_out);
        // A frame is still needed while the frame after it is not yet at or before the next instant.
        while self.window.frames.len() > 1 && tl.before(tl.input(self.window.frames[1].0), position) {
            self.window.frames.pop_front();
        }
    }

    fn job(&self, k: u64) -> UpJob<T> {
        let tl = self.timeline;
        let position = tl.output(k);
        let frames = &self.window.frames;
        // The last received frame before the instant ([`Timeline::before`]; the first one if none is).
        let after = frames.partition_point(|(i, _)| tl.before(tl.input(*i), position));
        let a = after.saturating_sub(1);
        let b = if after < frames.len() { after } else { a };
        let (ia, ib) = (frames[a].0, frames[b].0);
        let t = if ib > ia {
            let num = position.saturating_sub(tl.input(ia));
            (num as f64 / (tl.input(ib) - tl.input(ia)) as f64) as f32
        } else {
            0.0
        };
        UpJob {
            index: k,
            prev_index: ia,
            prev: Arc::clone(&frames[a].1),
            next: Arc::clone(&frames[b].1),
            t: t.clamp(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: i64, d: i64) -> Rate {
        Rate::new(n, d).unwrap()
    }

    fn run_down(ratio: Ratio, frames: impl IntoIterator<Item = u64>) -> Vec<DownJob<u64>> {
        let mut s = DownScheduler::new(ratio);
        let mut jobs = Vec::new();
        for i in frames {
            jobs.extend(s.push(i, i));
        }
        jobs.extend(s.finish());
        jobs
    }

    fn run_up(ratio: Ratio, frames: impl IntoIterator<Item = u64>) -> Vec<UpJob<u64>> {
        let mut s = UpScheduler::new(ratio);
        let mut jobs = Vec::new();
        for i in frames {
            jobs.extend(s.push(i, i));
        }
        jobs.extend(s.finish());
        jobs
    }

    #[test]
    fn down_60_to_24_windows() {
        let jobs = run_down(Ratio::of_rates(rate(60, 1), rate(24, 1)), 0..120);
        assert_eq!(jobs.len(), 48);
        assert!(jobs.iter().enumerate().all(|(n, j)| j.index == n as u64));
        // Output 1 stands for input position 2.5: frames 0..=5 within 2.5 frames.
        let j1: Vec<u64> = jobs[1].slots.iter().map(|s| s.index).collect();
        assert_eq!(j1, vec![0, 1, 2, 3, 4, 5]);
        let offsets: Vec<f32> = jobs[1].slots.iter().map(|s| s.offset).collect();
        assert_eq!(offsets, vec![-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]);
        // Output 2 is at input frame 5 exactly: frames 3..=7 (offset 0 in the middle).
        let j2: Vec<u64> = jobs[2].slots.iter().map(|s| s.index).collect();
        assert_eq!(j2, vec![3, 4, 5, 6, 7]);
        assert_eq!(jobs[2].slots[2].offset, 0.0);
        // Every window fits in the slots and is never empty.
        assert!(jobs.iter().all(|j| !j.slots.is_empty() && j.slots.len() <= WINDOW_SLOTS));
    }

    #[test]
    fn down_emits_as_soon_as_the_window_is_complete() {
        let mut s = DownScheduler::new(Ratio::of_rates(rate(60, 1), rate(30, 1)));
        assert!(s.push(0, 0).is_empty());
        assert!(s.push(1, 1).is_empty());
        // Output 0 (input 0) needs frames up to input 2.
        let jobs = s.push(2, 2);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].slots.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(s.buffered() <= 5);
    }

    #[test]
    fn down_ratio_above_three_keeps_the_nearest_seven() {
        let jobs = run_down(Ratio::of_rates(rate(60, 1), rate(6, 1)), 0..60);
        assert_eq!(jobs.len(), 6);
        let j1: Vec<u64> = jobs[1].slots.iter().map(|s| s.index).collect();
        assert_eq!(j1, vec![7, 8, 9, 10, 11, 12, 13]);
    }

    #[test]
    fn down_upsampling_rate_still_brackets_the_instant() {
        // imsmdown asked for a higher rate (24 -> 60): each output sees the frames around it.
        let jobs = run_down(Ratio::of_rates(rate(24, 1), rate(60, 1)), 0..24);
        assert_eq!(jobs.len(), 60);
        for j in &jobs {
            let pos = j.index as f64 * 0.4;
            assert!(j.slots.iter().any(|s| s.index as f64 <= pos + 1e-9));
            if pos < 23.0 {
                assert!(j.slots.iter().any(|s| s.index as f64 >= pos - 1e-9));
            }
        }
    }

    #[test]
    fn down_gap_falls_back_to_nearest_frame() {
        let frames = (0..10).chain(40..50);
        let jobs = run_down(Ratio::of_rates(rate(60, 1), rate(30, 1)), frames);
        assert_eq!(jobs.len(), 25);
        let j10 = &jobs[10]; // input position 20: no frame within 2
        assert_eq!(j10.slots.len(), 1);
        assert!(j10.slots[0].index == 9 || j10.slots[0].index == 40);
    }

    #[test]
    fn up_24_to_60_times_and_count() {
        let jobs = run_up(Ratio::of_rates(rate(24, 1), rate(60, 1)), 0..48);
        assert_eq!(jobs.len(), 120);
        // Output 3 lies at received position 1.2.
        assert_eq!((jobs[3].prev_index, *jobs[3].next), (1, 2));
        assert!((jobs[3].t - 0.2).abs() < 1e-6);
        // Output 5 lies exactly on received frame 2.
        assert_eq!((jobs[5].prev_index, jobs[5].t), (2, 0.0));
        // The tail holds the last frame rather than dropping it.
        assert_eq!(*jobs[119].prev, 47);
        assert_eq!(*jobs[119].next, 47);
    }

    #[test]
    fn up_waits_for_the_frame_after_the_instant() {
        let mut s = UpScheduler::new(Ratio::of_rates(rate(30, 1), rate(60, 1)));
        assert!(s.push(0, 0).is_empty());
        let jobs = s.push(1, 1);
        assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.buffered(), 1);
    }

    #[test]
    fn up_bridges_missing_frames() {
        let jobs = run_up(Ratio::of_rates(rate(30, 1), rate(60, 1)), [0, 1, 4, 5]);
        // Output 4 lies at received position 2, between frames 1 and 4.
        assert_eq!((jobs[4].prev_index, *jobs[4].next), (1, 4));
        assert!((jobs[4].t - 1.0 / 3.0).abs() < 1e-6);
    }

    /// Jobs of `n` frames pushed backwards (latest first), as (output instant, frames
    /// rendered from, t), all in forward input-frame units: the instant `n - 1 - x` for
    /// backward position `x`, and prev / next swapped, as imsmup hands them to the synth.
    fn up_backwards_in_time_order(ratio: Ratio, n: u64) -> Vec<(f64, u64, u64, f32)> {
        let mut s = UpScheduler::with_direction(ratio, Direction::Backwards);
        let mut jobs = Vec::new();
        for i in 0..n {
            jobs.extend(s.push(i, i));
        }
        jobs.extend(s.finish());
        let lead = backward_lead(ratio) as f64;
        let step = ratio.num as f64 / ratio.den as f64;
        jobs.iter()
            .enumerate()
            .map(|(k, j)| {
                assert_eq!(j.index, k as u64);
                let at = (n - 1) as f64 - (k as f64 - lead) * step;
                (at, n - 1 - *j.next, n - 1 - *j.prev, 1.0 - j.t)
            })
            .rev()
            .collect()
    }

    #[test]
    fn up_backwards_renders_the_forward_instants_from_the_same_frames() {
        // n frames whose span is a whole number of output intervals: the two grids meet
        for (rin, rout, n) in [(30, 60, 31), (24, 60, 25), (25, 60, 26), (30, 30, 10), (60, 30, 21)] {
            let ratio = Ratio::of_rates(rate(rin, 1), rate(rout, 1));
            let forwards: Vec<(f64, u64, u64, f32)> = run_up(ratio, 0..n)
                .iter()
                .map(|j| (j.index as f64 * ratio.num as f64 / ratio.den as f64, j.prev_index, *j.next, j.t))
                .collect();
            let backwards = up_backwards_in_time_order(ratio, n);
            assert_eq!(forwards.len(), backwards.len(), "{rin} -> {rout}");
            for (f, b) in forwards.iter().zip(&backwards) {
                assert!((f.0 - b.0).abs() < 1e-9, "{rin} -> {rout}: instants {f:?} {b:?}");
                if f.1 != f.2 && b.1 != b.2 {
                    assert_eq!((f.1, f.2), (b.1, b.2), "{rin} -> {rout}: frames at {}", f.0);
                    assert!((f.3 - b.3).abs() < 1e-6, "{rin} -> {rout}: t at {}", f.0);
                }
            }
        }
    }

    #[test]
    fn backward_lead_counts_the_instants_inside_the_first_frame() {
        let lead = |a: i64, b: i64| backward_lead(Ratio::of_rates(rate(a, 1), rate(b, 1)));
        assert_eq!([lead(30, 60), lead(24, 60), lead(25, 60), lead(20, 60), lead(60, 60), lead(60, 24)], [1, 2, 2, 2, 0, 0]);
        // 30000/1001 -> 60: 1/60 and 2/60 s lie inside 1001/30000 s; 60 -> 60000/1001: none
        assert_eq!(backward_lead(Ratio::of_rates(rate(30000, 1001), rate(60, 1))), 2);
        assert_eq!(backward_lead(Ratio::of_rates(rate(60, 1), rate(60000, 1001))), 0);
    }

    #[test]
    fn down_backwards_sees_the_forward_windows_mirrored() {
        for (rin, rout, n) in [(60, 24, 121), (60, 30, 61), (60, 6, 61), (30, 24, 41)] {
            let ratio = Ratio::of_rates(rate(rin, 1), rate(rout, 1));
            let forwards = run_down(ratio, 0..n);
            let mut s = DownScheduler::with_direction(ratio, Direction::Backwards);
            let mut backwards = Vec::new();
            for i in 0..n {
                backwards.extend(s.push(i, i));
            }
            backwards.extend(s.finish());
            assert_eq!(forwards.len(), backwards.len(), "{rin} -> {rout}");
            for (f, b) in forwards.iter().zip(backwards.iter().rev()) {
                // in time order, offsets negated: what imsmdown hands its graph backwards
                let mirrored: Vec<(u64, f32)> = b.slots.iter().rev().map(|s| (n - 1 - s.index, -s.offset)).collect();
                let plain: Vec<(u64, f32)> = f.slots.iter().map(|s| (s.index, s.offset)).collect();
                assert_eq!(plain, mirrored, "{rin} -> {rout}: output {}", f.index);
            }
        }
    }

    #[test]
    fn input_clock_places_drops_and_jumps() {
        let r = rate(30000, 1001);
        let mut clock = InputClock::new(r, 30);
        let base = 5_000_000_000;
        assert_eq!(clock.place(Some(base)), Placement::Frame(0));
        assert_eq!(clock.place(Some(base + r.frame_time(1) + 2_000_000)), Placement::Frame(1));
        assert_eq!(clock.place(Some(base + r.frame_time(1))), Placement::Duplicate);
        assert_eq!(clock.place(None), Placement::Frame(2));
        assert_eq!(clock.place(Some(base - 1)), Placement::Duplicate);
        assert_eq!(clock.place(Some(base - r.frame_time(40))), Placement::Jump);
        assert_eq!(clock.place(Some(base + r.frame_time(10))), Placement::Frame(10));
        assert_eq!(clock.place(Some(base + r.frame_time(100))), Placement::Jump);
        clock.reset();
        assert_eq!(clock.place(Some(7)), Placement::Frame(0));
        assert_eq!(clock.origin(), Some(7));
    }

    /// A day of 30000/1001 video taken down to 24000/1001 and up to 60000/1001, only
    /// through frame counters and the timestamps derived from them: every output
    /// timestamp is exactly on its grid and the stream ends where the input ended.
    #[test]
    fn twenty_four_hours_ntsc_have_zero_drift() {
        let (hr, lr, out) = (rate(30000, 1001), rate(24000, 1001), rate(60000, 1001));
        let origin = 3_600_000_000_000u64;
        let input_frames = hr.nearest_frame(24 * 3600 * 1_000_000_000);
        let mut hr_clock = InputClock::new(hr, 30);
        let mut lr_clock = InputClock::new(lr, 24);
        let mut down = DownScheduler::<()>::new(Ratio::of_rates(hr, lr));
        let mut up = UpScheduler::<()>::new(Ratio::of_rates(lr, out));
        let mut produced = 0u64;
        let mut last_pts = 0u64;
        let mut check_up = |jobs: Vec<UpJob<()>>| {
            for job in jobs {
                assert_eq!(job.index, produced);
                let pts = origin + out.frame_time(job.index);
                assert!(pts > last_pts || produced == 0);
                last_pts = pts;
                produced += 1;
            }
        };
        let mut feed_lr = |jobs: Vec<DownJob<()>>, up: &mut UpScheduler<()>| {
            let mut out_jobs = Vec::new();
            for job in jobs {
                let pts = origin + lr.frame_time(job.index);
                let Placement::Frame(j) = lr_clock.place(Some(pts)) else { panic!("lost LR frame") };
                assert_eq!(j, job.index);
                out_jobs.extend(up.push(j, ()));
            }
            out_jobs
        };
        for n in 0..input_frames {
            let pts = origin + hr.frame_time(n);
            let Placement::Frame(i) = hr_clock.place(Some(pts)) else { panic!("lost HR frame") };
            assert_eq!(i, n);
            let lr_jobs = down.push(i, ());
            let up_jobs = feed_lr(lr_jobs, &mut up);
            check_up(up_jobs);
        }
        let up_jobs = feed_lr(down.finish(), &mut up);
        check_up(up_jobs);
        check_up(up.finish());
        // Each stage emits every instant before the end of its input: ceil(frames * ratio).
        let ceil_ratio = |frames: u64, r: Ratio| (frames as u128 * r.den as u128).div_ceil(r.num as u128) as u64;
        let lr_frames = ceil_ratio(input_frames, Ratio::of_rates(hr, lr));
        assert_eq!(produced, ceil_ratio(lr_frames, Ratio::of_rates(lr, out)));
        // No drift: after a day the last output instant is within one output frame of the input's end.
        let end = hr.frame_time(input_frames);
        assert!((last_pts - origin).abs_diff(end) <= out.interval_ceil());
    }
}
