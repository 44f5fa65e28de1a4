use std::path::Path;
use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::StreamKind;
use crate::element::{Geometry, Resample};
use crate::engine::model::{Features, ModelError, ProviderChoice, Runtime, SessionConfig, UpGraphs};
use crate::engine::motion::{LumaPyramid, MotionTracker, Received};
use crate::engine::schedule::{Direction, UpJob, UpScheduler};
use crate::engine::time::{Rate, Ratio};
use crate::engine::color::{Colorimetry, Yuv420};
use crate::engine::{FrameIn, FrameOut};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("imsmup", gst::DebugColorFlags::empty(), Some("imsm space-time upsampler"))
});

#[derive(Clone, Debug)]
pub struct UpExtra {
    stream_kind: StreamKind,
    global_motion: bool,
    local_motion: bool,
    motion_threads: u32,
}

impl Default for UpExtra {
    fn default() -> Self {
        Self { stream_kind: StreamKind::default(), global_motion: true, local_motion: true, motion_threads: 0 }
    }
}

/// One continuous stretch of imsmup's input.
pub struct Up {
    scheduler: UpScheduler<Received<Features>>,
    /// Measures each received frame's global motion (`global-motion`), if on.
    motion: Option<MotionTracker>,
    /// Measure the local motion field too (`local-motion`).
    local_motion: bool,
    out_w: usize,
    out_h: usize,
    hint: f32,
    /// Render 4:2:0 through the colour graphs with this colorimetry.
    yuv_out: Option<Colorimetry>,
    direction: Direction,
}

fn double(v: usize) -> i32 {
    (v * 2).min(i32::MAX as usize) as i32
}

impl Resample for Up {
    type Models = UpGraphs;
    type Extra = UpExtra;

    fn preferred(input: Geometry) -> (i32, i32, gst::Fraction) {
        let rate = crate::element::fraction(input.rate.num() * 2, input.rate.den());
        (double(input.width), double(input.height), rate)
    }

    fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(UpGraphs, ProviderChoice), ModelError> {
        UpGraphs::load(rt, dir, config)
    }

    fn kind(models: &UpGraphs) -> &str {
        models.kind()
    }

    fn converts_colour(models: &UpGraphs) -> bool {
        models.converts_colour()
    }

    fn new_stream(
        input: Geometry,
        output: Geometry,
        extra: &UpExtra,
        yuv_out: Option<Colorimetry>,
        direction: Direction,
    ) -> Self {
        Self {
            scheduler: UpScheduler::with_direction(Ratio::of_rates(input.rate, output.rate), direction),
            motion: extra.global_motion.then(|| MotionTracker::with_threads(extra.motion_threads as usize)),
            local_motion: extra.local_motion,
            out_w: output.width,
            out_h: output.height,
            hint: extra.stream_kind.hint(),
            yuv_out,
            direction,
        }
    }

    fn push(&mut self, models: &mut UpGraphs, index: u64, frame: FrameIn) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        // Measured only where the synth graph can use it (not the reference graphs).
        let motion = match &mut self.motion {
            Some(tracker) if models.aligns() => tracker.observe(index, LumaPyramid::of(&frame), self.local_motion && models.gathers()),
            _ => None,
        };
        if let Some(m) = &motion {
            // (the macro formats its arguments only when the category logs at this level)
            gst::debug!(
                CAT,
                "received frame {index}: global motion (dy, dx) = ({}, {}) px from frame {}{}",
                m.shift.dy,
                m.shift.dx,
                m.from,
                match &m.field {
                    Some(f) => format!(", {} of {} tiles move otherwise", f.departures(m.shift), f.rows() * f.cols()),
                    None => String::new(),
                }
            );
        }
        let (features, size) = match frame {
            FrameIn::Rgb(rgb) => {
                let size = (rgb.width, rgb.height);
                (models.reveal(rgb, self.hint)?, size)
            }
            FrameIn::Yuv(yuv, colorimetry) => {
                let size = (yuv.width, yuv.height);
                (models.reveal_yuv(yuv, colorimetry, self.hint)?, size)
            }
        };
        let jobs = self.scheduler.push(index, Received { features, size, motion });
        self.render(models, jobs)
    }

    fn finish(&mut self, models: &mut UpGraphs) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        let jobs = self.scheduler.finish();
        self.render(models, jobs)
    }

    fn latency(input: Rate, _output: Rate) -> gst::ClockTime {
        // An output waits for the received frame after its instant.
        gst::ClockTime::from_nseconds(input.interval_ceil())
    }

    fn extra_properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecEnum::builder_with_default("stream-kind", StreamKind::Auto)
                .nick("Stream kind")
                .blurb("Whether the input was made by imsmdown (imsm), is ordinary video (plain), or unknown (auto)")
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("global-motion")
                .nick("Global motion")
                .blurb(
                    "Measure the whole-frame (camera) translation between received frames and move both \
                     frames to the output instant by whole pixels before the synth graph, so that pans \
                     wider than the network's reach are rendered (graphs without shift inputs ignore it)",
                )
                .default_value(true)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("local-motion")
                .nick("Local motion")
                .blurb(
                    "With global-motion: also measure the translation of each 32-pixel tile (within 16 px of \
                     the global one) and move the features per pixel, the motion interpolated between \
                     tiles, so that objects and parallax moving otherwise than the camera are rendered too \
                     (graphs without index inputs use the global motion only)",
                )
                .default_value(true)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("motion-threads")
                .nick("Motion threads")
                .blurb(
                    "Threads for the global and local motion search and the per-pixel alignment maps \
                     (host work beside the graphs; 0 = the machine's cores, up to 8). The result is the same \
                     for any count: set it to share the CPU between many streams",
                )
                .maximum(64)
                .default_value(0)
                .mutable_ready()
                .build(),
        ]
    }

    fn set_extra(extra: &mut UpExtra, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "stream-kind" => extra.stream_kind = value.get().unwrap(),
            "global-motion" => extra.global_motion = value.get().unwrap(),
            "local-motion" => extra.local_motion = value.get().unwrap(),
            "motion-threads" => extra.motion_threads = value.get().unwrap(),
            _ => {}
        }
    }

    fn get_extra(extra: &UpExtra, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stream-kind" => extra.stream_kind.to_value(),
            "global-motion" => extra.global_motion.to_value(),
            "local-motion" => extra.local_motion.to_value(),
            "motion-threads" => extra.motion_threads.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl Up {
    fn render(&self, models: &mut UpGraphs, jobs: Vec<UpJob<Received<Features>>>) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        jobs.into_iter()
            .map(|job| {
                let (w, h) = (self.out_w, self.out_h);
                // (an alignment exists only where the tracker measured motion, so its count)
                let threads = self.motion.as_ref().map_or(0, MotionTracker::threads);
                let alignment = job.next.alignment_from(job.prev_index, job.t, job.prev.features.size(), threads);
                let (mut f0, mut f1, mut t) = (&job.prev.features, &job.next.features, job.t);
                let alignment = if self.direction == Direction::Backwards {
                    // The graphs take the two frames in time order: what imsmdown hid in a
                    // frame is about the frames after it (tested in tests/seek.rs).
                    std::mem::swap(&mut f0, &mut f1);
                    t = 1.0 - t;
                    alignment.swapped()
                } else {
                    alignment
                };
                let frame = match self.yuv_out {
                    Some(c) => {
                        let mut yuv = Yuv420::new(w, h);
                        models.synth_yuv(f0, f1, t, &alignment, w, h, c, &mut yuv)?;
                        FrameOut::Yuv(yuv)
                    }
                    None => FrameOut::Rgb(models.synth(f0, f1, t, &alignment, w, h)?),
                };
                Ok((job.index, frame))
            })
            .collect()
    }
}

crate::resample_element!(
    ImsmUp,
    "GstImsmUp",
    Up,
    CAT,
    "IMSM space-time upsampler",
    "Renders any frame rate and size from a low-rate stream, recovering the motion imsmdown hid in it"
);
