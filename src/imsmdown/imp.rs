use std::path::Path;
use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::element::{Geometry, Resample};
use crate::engine::model::{DownGraph, ModelError, ProviderChoice, Runtime, SessionConfig, StagedFrame, WindowFrame};
use crate::engine::schedule::{Direction, DownScheduler};
use crate::engine::time::{Rate, Ratio};
use crate::engine::color::{Colorimetry, Yuv420};
use crate::engine::{FrameIn, FrameOut};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("imsmdown", gst::DebugColorFlags::empty(), Some("imsm space-time downsampler"))
});

#[derive(Clone, Debug, Default)]
pub struct DownExtra {
    /// Expected channel quality, 0 = lossless .. 1 = heavily compressed.
    channel_quality: f64,
}

/// One continuous stretch of imsmdown's input.
pub struct Down {
    scheduler: DownScheduler<StagedFrame>,
    ratio: f32,
    out_w: usize,
    out_h: usize,
    quality: f32,
    /// Render 4:2:0 through the colour graphs with this colorimetry.
    yuv_out: Option<Colorimetry>,
    direction: Direction,
}

/// Half of `v`, even where that leaves at least 2.
fn half_even(v: usize) -> i32 {
    let h = v / 2;
    (if h >= 2 { h & !1 } else { h.max(1) }) as i32
}

impl Resample for Down {
    type Models = DownGraph;
    type Extra = DownExtra;

    fn preferred(input: Geometry) -> (i32, i32, gst::Fraction) {
        let rate = crate::element::fraction(input.rate.num(), input.rate.den() * 2);
        (half_even(input.width), half_even(input.height), rate)
    }

    fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(DownGraph, ProviderChoice), ModelError> {
        DownGraph::load(rt, dir, config)
    }

    fn kind(models: &DownGraph) -> &str {
        models.kind()
    }

    fn converts_colour(models: &DownGraph) -> bool {
        models.converts_colour()
    }

    fn new_stream(
        input: Geometry,
        output: Geometry,
        extra: &DownExtra,
        yuv_out: Option<Colorimetry>,
        direction: Direction,
    ) -> Self {
        let ratio = Ratio::of_rates(input.rate, output.rate);
        Self {
            scheduler: DownScheduler::with_direction(ratio, direction),
            ratio: ratio.as_f64() as f32,
            out_w: output.width,
            out_h: output.height,
            quality: extra.channel_quality as f32,
            yuv_out,
            direction,
        }
    }

    fn push(&mut self, models: &mut DownGraph, index: u64, frame: FrameIn) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        let staged = match frame {
            FrameIn::Rgb(rgb) => models.stage(rgb)?,
            FrameIn::Yuv(yuv, colorimetry) => models.stage_yuv(yuv, colorimetry)?,
        };
        let jobs = self.scheduler.push(index, staged);
        self.render(models, jobs)
    }

    fn finish(&mut self, models: &mut DownGraph) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        let jobs = self.scheduler.finish();
        self.render(models, jobs)
    }

    fn latency(input: Rate, output: Rate) -> gst::ClockTime {
        // An output waits for the input frames up to max(r, 1) input frames after its instant.
        gst::ClockTime::from_nseconds(input.interval_ceil().max(output.interval_ceil()))
    }

    fn extra_properties() -> Vec<glib::ParamSpec> {
        vec![glib::ParamSpecDouble::builder("channel-quality")
            .nick("Channel quality")
            .blurb("How lossy the channel after imsmdown is (0 = lossless, 1 = heavily compressed), for graphs that take it; \
                    the training maps x264 CRF c to (c - 10) / 25, e.g. CRF 23 -> 0.52")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(0.0)
            .mutable_ready()
            .build()]
    }

    fn set_extra(extra: &mut DownExtra, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "channel-quality" {
            extra.channel_quality = value.get().unwrap();
        }
    }

    fn get_extra(extra: &DownExtra, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "channel-quality" => extra.channel_quality.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl Down {
    fn render(
        &self,
        models: &mut DownGraph,
        jobs: Vec<crate::engine::schedule::DownJob<StagedFrame>>,
    ) -> Result<Vec<(u64, FrameOut)>, ModelError> {
        jobs.into_iter()
            .map(|job| {
                let mut window: Vec<WindowFrame<'_>> =
                    job.slots.iter().map(|s| WindowFrame { frame: &s.frame, offset: s.offset }).collect();
                if self.direction == Direction::Backwards {
                    // The graph sees the window in time order, as it would forwards: what it
                    // hides in a frame is then what imsmup expects there in either direction.
                    window.reverse();
                    window.iter_mut().for_each(|f| f.offset = -f.offset);
                }
                let frame = match self.yuv_out {
                    Some(c) => {
                        let mut yuv = Yuv420::new(self.out_w, self.out_h);
                        models.run_yuv(&window, self.ratio, self.quality, self.out_w, self.out_h, c, &mut yuv)?;
                        FrameOut::Yuv(yuv)
                    }
                    None => FrameOut::Rgb(models.run(&window, self.ratio, self.quality, self.out_w, self.out_h)?),
                };
                Ok((job.index, frame))
            })
            .collect()
    }
}

crate::resample_element!(
    ImsmDown,
    "GstImsmDown",
    Down,
    CAT,
    "IMSM space-time downsampler",
    "Lowers frame rate and size to the downstream caps, hiding the motion of dropped frames in the kept ones"
);
