use std::path::Path;
use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::StreamKind;
use crate::element::{Geometry, Resample};
use crate::engine::model::{Features, ModelError, ProviderChoice, Runtime, SessionConfig, UpGraphs};
use crate::engine::schedule::{UpJob, UpScheduler};
use crate::engine::time::{Rate, Ratio};
use crate::engine::RgbFrame;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("imsmup", gst::DebugColorFlags::empty(), Some("imsm space-time upsampler"))
});

#[derive(Clone, Debug, Default)]
pub struct UpExtra {
    stream_kind: StreamKind,
}

/// One continuous stretch of imsmup's input.
pub struct Up {
    scheduler: UpScheduler<Features>,
    out_w: usize,
    out_h: usize,
    hint: f32,
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

    fn new_stream(input: Geometry, output: Geometry, extra: &UpExtra) -> Self {
        Self {
            scheduler: UpScheduler::new(Ratio::of_rates(input.rate, output.rate)),
            out_w: output.width,
            out_h: output.height,
            hint: extra.stream_kind.hint(),
        }
    }

    fn push(&mut self, models: &mut UpGraphs, index: u64, frame: RgbFrame) -> Result<Vec<(u64, RgbFrame)>, ModelError> {
        let features = models.reveal(frame, self.hint)?;
        let jobs = self.scheduler.push(index, features);
        self.render(models, jobs)
    }

    fn finish(&mut self, models: &mut UpGraphs) -> Result<Vec<(u64, RgbFrame)>, ModelError> {
        let jobs = self.scheduler.finish();
        self.render(models, jobs)
    }

    fn latency(input: Rate, _output: Rate) -> gst::ClockTime {
        // An output waits for the received frame after its instant.
        gst::ClockTime::from_nseconds(input.interval_ceil())
    }

    fn extra_properties() -> Vec<glib::ParamSpec> {
        vec![glib::ParamSpecEnum::builder_with_default("stream-kind", StreamKind::Auto)
            .nick("Stream kind")
            .blurb("Whether the input was made by imsmdown (imsm), is ordinary video (plain), or unknown (auto)")
            .mutable_ready()
            .build()]
    }

    fn set_extra(extra: &mut UpExtra, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "stream-kind" {
            extra.stream_kind = value.get().unwrap();
        }
    }

    fn get_extra(extra: &UpExtra, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stream-kind" => extra.stream_kind.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl Up {
    fn render(&self, models: &mut UpGraphs, jobs: Vec<UpJob<Features>>) -> Result<Vec<(u64, RgbFrame)>, ModelError> {
        jobs.into_iter()
            .map(|job| models.synth(&job.prev, &job.next, job.t, self.out_w, self.out_h).map(|f| (job.index, f)))
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
