//! What imsmdown and imsmup share: pads, caps negotiation, events, queries, timing and
//! the hand-over between GStreamer buffers and the engine. Each element supplies a
//! [`Resample`] implementation (its models and scheduler) and its preferred output.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoInfo};

use crate::engine::color::{self, Colorimetry, FrameLayout, Matrix, PixelFormat, Range};
use crate::engine::model::{self, ColourMode, ModelError, Provider, ProviderChoice, SessionConfig};
use crate::engine::schedule::{backward_lead, Direction, InputClock, Placement};
use crate::engine::time::{Rate, Ratio};
use crate::engine::{FrameIn, FrameOut, RgbFrame};

/// Raw formats both elements read and write without a videoconvert.
pub const FORMATS: [VideoFormat; 7] = [
    VideoFormat::I420,
    VideoFormat::Nv12,
    VideoFormat::Rgb,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
];

/// Progressive raw video of any size and any positive frame rate.
pub fn template_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .framerate_range(gst::Fraction::new(1, i32::MAX)..=gst::Fraction::new(i32::MAX, 1))
        .field("interlace-mode", "progressive")
        .build()
}

pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = template_caps();
    vec![
        gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
        gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
    ]
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstImsmProvider")]
pub enum ProviderProp {
    #[default]
    #[enum_value(name = "Auto: TensorRT, then CUDA, then CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA", nick = "cuda")]
    Cuda,
    #[enum_value(name = "TensorRT", nick = "tensorrt")]
    TensorRt,
}

impl From<ProviderProp> for Provider {
    fn from(p: ProviderProp) -> Self {
        match p {
            ProviderProp::Auto => Provider::Auto,
            ProviderProp::Cpu => Provider::Cpu,
            ProviderProp::Cuda => Provider::Cuda,
            ProviderProp::TensorRt => Provider::TensorRt,
        }
    }
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstImsmOverlap")]
pub enum OverlapProp {
    #[default]
    #[enum_value(name = "Auto: on when the graphs run on a GPU", nick = "auto")]
    Auto,
    #[enum_value(name = "On", nick = "on")]
    On,
    #[enum_value(name = "Off", nick = "off")]
    Off,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstImsmColourConversion")]
pub enum ColourProp {
    #[default]
    #[enum_value(name = "Auto: by the colour graphs on a GPU, on the host on the CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "Host: the plugin's own code on the CPU", nick = "host")]
    Host,
    #[enum_value(name = "Graphs: by ONNX Runtime wherever the graphs run", nick = "graphs")]
    Graphs,
}

impl From<ColourProp> for ColourMode {
    fn from(p: ColourProp) -> Self {
        match p {
            ColourProp::Auto => ColourMode::Auto,
            ColourProp::Host => ColourMode::Host,
            ColourProp::Graphs => ColourMode::Graphs,
        }
    }
}

/// Path of the loaded plugin file, recorded at registration, to find installed models.
pub static PLUGIN_FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The model directory used when `model-dir` is not set, first that exists:
/// `IMSM_MODEL_DIR`; `gst-imsm-models/` beside the plugin file; `share/gst-imsm/models`
/// under the prefix the plugin is installed in; the `models/` of the source tree the
/// plugin was built from.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMSM_MODEL_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let source_tree = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"));
    let Some(plugin_dir) = PLUGIN_FILE.get().and_then(|f| f.parent()) else {
        return source_tree;
    };
    let beside = plugin_dir.join("gst-imsm-models");
    // <prefix>/lib[/<triplet>]/gstreamer-1.0/libgstimsm.so -> <prefix>/share/gst-imsm/models
    let installed = plugin_dir
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "lib" || n == "lib64"))
        .and_then(Path::parent)
        .map(|prefix| prefix.join("share/gst-imsm/models"));
    [Some(beside), installed]
        .into_iter()
        .flatten()
        .find(|d| d.is_dir())
        .unwrap_or(source_tree)
}

/// Properties both elements have.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub provider: ProviderProp,
    pub device_id: i32,
    pub model_dir: Option<PathBuf>,
    pub ort_library: Option<PathBuf>,
    pub threads: u32,
    pub tensorrt_cache_dir: Option<PathBuf>,
    pub tensorrt_fp16: bool,
    pub colour_conversion: ColourProp,
    pub overlap: OverlapProp,
}

impl Settings {
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecEnum::builder_with_default("provider", ProviderProp::Auto)
                .nick("Execution provider")
                .blurb("ONNX Runtime execution provider; auto takes the best that starts and says on the bus which")
                .mutable_ready()
                .build(),
            glib::ParamSpecInt::builder("device-id")
                .nick("Device ID")
                .blurb("GPU index for the CUDA and TensorRT providers")
                .minimum(0)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("model-dir")
                .nick("Model directory")
                .blurb("Directory holding the ONNX graphs (default: $IMSM_MODEL_DIR, else the models/ of the source tree)")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("ort-library")
                .nick("ONNX Runtime library")
                .blurb("Path of libonnxruntime.so (1.31); default: $ORT_DYLIB_PATH, else the path set at build time, else the system loader")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("ONNX Runtime intra-op threads on CPU (0 = ONNX Runtime decides)")
                .maximum(256)
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("tensorrt-cache-dir")
                .nick("TensorRT cache directory")
                .blurb("Where TensorRT keeps built engines and its timing cache, so a second start is fast \
                        (default: $XDG_CACHE_HOME/gst-imsm/tensorrt, else ~/.cache/gst-imsm/tensorrt)")
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("tensorrt-fp16")
                .nick("TensorRT fp16")
                .blurb("Let TensorRT run the synth graph in fp16; the invertible down/reveal pair stays fp32")
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("overlap", OverlapProp::Auto)
                .nick("Overlap frames")
                .blurb("Run the graphs on their own thread so that the next frame's conversion and upload and the \
                        previous frame's download and push overlap with inference, for one more input frame of \
                        latency (auto: on when the graphs run on a GPU)")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("colour-conversion", ColourProp::Auto)
                .nick("Colour conversion")
                .blurb("Where I420/NV12 frames are converted to and from the graphs' RGB: auto = by ONNX Runtime \
                        on the GPU when the graphs run there (only 8-bit planes cross the bus), else on the host")
                .mutable_ready()
                .build(),
        ]
    }

    /// Returns false for a property that is not one of the common ones.
    pub fn set(&mut self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        let path = |v: &glib::Value| v.get::<Option<String>>().unwrap().filter(|s| !s.is_empty()).map(PathBuf::from);
        match pspec.name() {
            "provider" => self.provider = value.get().unwrap(),
            "device-id" => self.device_id = value.get().unwrap(),
            "model-dir" => self.model_dir = path(value),
            "ort-library" => self.ort_library = path(value),
            "threads" => self.threads = value.get().unwrap(),
            "tensorrt-cache-dir" => self.tensorrt_cache_dir = path(value),
            "tensorrt-fp16" => self.tensorrt_fp16 = value.get().unwrap(),
            "colour-conversion" => self.colour_conversion = value.get().unwrap(),
            "overlap" => self.overlap = value.get().unwrap(),
            _ => return false,
        }
        true
    }

    pub fn get(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).to_value();
        Some(match pspec.name() {
            "provider" => self.provider.to_value(),
            "device-id" => self.device_id.to_value(),
            "model-dir" => self.model_dir.clone().unwrap_or_else(default_model_dir).display().to_string().to_value(),
            "ort-library" => path(&self.ort_library),
            "threads" => self.threads.to_value(),
            "tensorrt-cache-dir" => self.session_config().tensorrt_cache_dir().display().to_string().to_value(),
            "tensorrt-fp16" => self.tensorrt_fp16.to_value(),
            "colour-conversion" => self.colour_conversion.to_value(),
            "overlap" => self.overlap.to_value(),
            _ => return None,
        })
    }

    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            provider: self.provider.into(),
            device_id: self.device_id,
            threads: self.threads as usize,
            tensorrt_cache_dir: self.tensorrt_cache_dir.clone(),
            tensorrt_fp16: self.tensorrt_fp16,
            colour: self.colour_conversion.into(),
        }
    }

    pub fn model_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(default_model_dir)
    }
}

/// `n / d` reduced, as a caps fraction (saturating at the 32-bit range of caps).
pub fn fraction(n: u64, d: u64) -> gst::Fraction {
    let g = crate::engine::time::gcd(n, d).max(1);
    gst::Fraction::new((n / g).min(i32::MAX as u64) as i32, (d / g).min(i32::MAX as u64) as i32)
}

/// Size and rate of one side of the element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub width: usize,
    pub height: usize,
    pub rate: Rate,
}

/// What each element does with frames; the rest of the element is shared.
pub trait Resample: Send + Sized + 'static {
    /// The loaded graphs.
    type Models: Send;
    /// Element-specific properties.
    type Extra: Default + Clone + Send;

    /// Output size and rate when downstream leaves them open.
    fn preferred(input: Geometry) -> (i32, i32, gst::Fraction);
    fn load(rt: &model::Runtime, dir: &Path, config: &SessionConfig) -> Result<(Self::Models, ProviderChoice), ModelError>;
    fn kind(models: &Self::Models) -> &str;
    /// Whether the models convert 4:2:0 frames with the colour graphs.
    fn converts_colour(models: &Self::Models) -> bool;
    /// `yuv_out`: render 4:2:0 with this colorimetry through the colour graphs;
    /// `direction`: backwards, frames are pushed latest first (indices still increase).
    fn new_stream(
        input: Geometry,
        output: Geometry,
        extra: &Self::Extra,
        yuv_out: Option<Colorimetry>,
        direction: Direction,
    ) -> Self;
    /// Takes input frame `index`; returns rendered output frames with their indices.
    fn push(&mut self, models: &mut Self::Models, index: u64, frame: FrameIn) -> Result<Vec<(u64, FrameOut)>, ModelError>;
    /// End of a continuous stretch: everything that can still be rendered.
    fn finish(&mut self, models: &mut Self::Models) -> Result<Vec<(u64, FrameOut)>, ModelError>;
    /// Lookahead between an input frame arriving and the last output that needs it.
    fn latency(input: Rate, output: Rate) -> gst::ClockTime;

    fn extra_properties() -> Vec<glib::ParamSpec>;
    fn set_extra(extra: &mut Self::Extra, value: &glib::Value, pspec: &glib::ParamSpec);
    fn get_extra(extra: &Self::Extra, pspec: &glib::ParamSpec) -> glib::Value;
}

struct Stream {
    input: Geometry,
    output: Geometry,
    in_info: VideoInfo,
    out_info: VideoInfo,
    in_caps: gst::Caps,
    passthrough: bool,
    clock: InputClock,
    /// The next pushed buffer starts a new continuous stretch.
    discont: bool,
    /// Input / output 4:2:0 frames go through the colour graphs, with these colorimetries.
    yuv_in: Option<Colorimetry>,
    yuv_out: Option<Colorimetry>,
    /// The segment's playback direction.
    direction: Direction,
}

/// Played backwards, timestamps are placed on the grid as `MIRROR - pts`, so that they
/// increase as they arrive (2^62 ns is 146 years).
const MIRROR: u64 = 1 << 62;

impl Stream {
    /// Where a buffer's timestamp lands on the input grid's timeline.
    fn grid_time(&self, pts: u64) -> u64 {
        match self.direction {
            Direction::Forwards => pts,
            Direction::Backwards => MIRROR.saturating_sub(pts),
        }
    }

    /// Timestamp and duration of output frame `index` of the current stretch; None for a
    /// frame that would lie before time 0 (played backwards down to the start).
    fn output_time(&self, index: u64) -> Option<(u64, u64)> {
        let origin = self.clock.origin().unwrap_or(0);
        let rate = self.output.rate;
        match self.direction {
            Direction::Forwards => Some((origin + rate.frame_time(index), rate.frame_duration(index))),
            Direction::Backwards => {
                // Output `lead` is at the first received frame's instant, later ones before it;
                // each lasts until the one pushed before it.
                let first = MIRROR - origin;
                let lead = backward_lead(Ratio::of_rates(self.input.rate, self.output.rate));
                let pts = (first + rate.frame_time(lead)).checked_sub(rate.frame_time(index))?;
                Some((pts, rate.frame_duration(index.saturating_sub(1))))
            }
        }
    }
}

/// Either pad takes and gives anything of the template: the element converts format,
/// size and rate, so what the peer can do never narrows it.
fn answer_caps_query(q: &mut gst::query::Caps) {
    let template = template_caps();
    let caps = match q.filter() {
        Some(f) => f.intersect_with_mode(&template, gst::CapsIntersectMode::First),
        None => template,
    };
    q.set_result(&caps);
}

/// What the worker thread is asked to do; each job gets exactly one [`Reply`].
enum Job<R: Resample> {
    Push(u64, FrameIn),
    Finish,
    /// Replace the resampler (a new stretch).
    Stream(R),
}

type Reply = Result<Vec<(u64, FrameOut)>, ModelError>;

/// The graphs and the resampler on a thread of their own, one job at a time. With
/// `overlap`, the streaming thread hands frame n over and, while the graphs run, wraps
/// and pushes what frame n - 1 gave and converts the next input: conversion, upload,
/// inference, download and the push downstream of consecutive frames overlap, for one
/// more input frame of latency. Without it, each job is waited for at once.
struct Worker<R: Resample> {
    jobs: Option<std::sync::mpsc::SyncSender<Job<R>>>,
    replies: std::sync::mpsc::Receiver<Reply>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A job was handed over and its reply not taken yet.
    busy: bool,
    overlap: bool,
    /// The models convert 4:2:0 with the colour graphs.
    converts_colour: bool,
}

impl<R: Resample> Worker<R> {
    fn spawn(mut models: R::Models, overlap: bool, name: &str) -> std::io::Result<Self> {
        let converts_colour = R::converts_colour(&models);
        let (jobs, job_rx) = std::sync::mpsc::sync_channel::<Job<R>>(1);
        let (reply_tx, replies) = std::sync::mpsc::sync_channel::<Reply>(1);
        let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let mut resampler: Option<R> = None;
            for job in job_rx {
                let reply = match job {
                    Job::Push(index, frame) => match resampler.as_mut() {
                        Some(r) => r.push(&mut models, index, frame),
                        None => Ok(Vec::new()),
                    },
                    Job::Finish => resampler.as_mut().map_or(Ok(Vec::new()), |r| r.finish(&mut models)),
                    Job::Stream(r) => {
                        resampler = Some(r);
                        Ok(Vec::new())
                    }
                };
                if reply_tx.send(reply).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { jobs: Some(jobs), replies, thread: Some(thread), busy: false, overlap, converts_colour })
    }

    fn stopped() -> ModelError {
        ModelError::Run { graph: "worker", reason: "the inference thread stopped".into() }
    }

    /// Hands a job over; the previous reply must have been taken.
    fn submit(&mut self, job: Job<R>) -> Result<(), ModelError> {
        debug_assert!(!self.busy, "one job at a time");
        self.jobs.as_ref().ok_or_else(Self::stopped)?.send(job).map_err(|_| Self::stopped())?;
        self.busy = true;
        Ok(())
    }

    /// The reply of the job in flight (waiting for it), or nothing when none is.
    fn take(&mut self) -> Reply {
        if !std::mem::replace(&mut self.busy, false) {
            return Ok(Vec::new());
        }
        self.replies.recv().unwrap_or_else(|_| Err(Self::stopped()))
    }

    /// Runs a job to its end, after taking the reply of the one in flight; both replies'
    /// frames in order.
    fn run(&mut self, job: Job<R>) -> Reply {
        let mut frames = self.take()?;
        self.submit(job)?;
        frames.extend(self.take()?);
        Ok(frames)
    }

    /// A new input frame: with overlap, returns what the previous one gave and leaves
    /// this one running; without, returns what this one gives.
    fn push(&mut self, index: u64, frame: FrameIn) -> Reply {
        if !self.overlap {
            return self.run(Job::Push(index, frame));
        }
        let previous = self.take();
        self.submit(Job::Push(index, frame))?;
        previous
    }
}

impl<R: Resample> Drop for Worker<R> {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop once the job in flight is done.
        self.jobs = None;
        let _ = self.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The shared element body; each element's imp holds one and forwards to it.
pub struct Core<R: Resample> {
    pub cat: gst::DebugCategory,
    pub sinkpad: gst::Pad,
    pub srcpad: gst::Pad,
    pub settings: Mutex<Settings>,
    pub extra: Mutex<R::Extra>,
    /// The graphs and the current stretch's resampler, on their own thread (PAUSED+).
    worker: Mutex<Option<Worker<R>>>,
    stream: Mutex<Option<Stream>>,
}

/// Frames rendered under the lock, pushed after it is released.
type Rendered = Vec<gst::Buffer>;

/// The engine's view of a mapped frame of `info` whose planes have `strides`: pixel
/// format, size, strides and the colorimetry to convert with (unknown YUV matrices
/// follow GStreamer's default by size: BT.709 from 720 lines up, else BT.601).
pub fn engine_layout(info: &VideoInfo, strides: &[i32]) -> Result<(FrameLayout, Colorimetry), String> {
    let format = match info.format() {
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgra => PixelFormat::Bgra,
        VideoFormat::Rgbx => PixelFormat::Rgbx,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        other => return Err(format!("unsupported format {other:?}")),
    };
    let colorimetry = if format.is_yuv() {
        let c = info.colorimetry();
        let matrix = match c.matrix() {
            VideoColorMatrix::Bt709 => Matrix::Bt709,
            VideoColorMatrix::Bt2020 => Matrix::Bt2020,
            // SMPTE 240M is close to 709; FCC close to 601.
            VideoColorMatrix::Smpte240m => Matrix::Bt709,
            VideoColorMatrix::Bt601 | VideoColorMatrix::Fcc => Matrix::Bt601,
            _ if info.height() >= 720 => Matrix::Bt709,
            _ => Matrix::Bt601,
        };
        let range = match c.range() {
            VideoColorRange::Range0_255 => Range::Full,
            _ => Range::Limited,
        };
        Colorimetry { matrix, range }
    } else {
        Colorimetry { matrix: Matrix::Identity, range: Range::Full }
    };
    let mut plane_strides = [0usize; 3];
    for (d, s) in plane_strides.iter_mut().zip(strides) {
        *d = usize::try_from(*s).map_err(|_| format!("negative stride {s}"))?;
    }
    Ok((FrameLayout { format, width: info.width() as usize, height: info.height() as usize, strides: plane_strides }, colorimetry))
}

fn geometry(info: &VideoInfo) -> Option<Geometry> {
    let fps = info.fps();
    Some(Geometry {
        width: info.width() as usize,
        height: info.height() as usize,
        rate: Rate::new(fps.numer() as i64, fps.denom() as i64)?,
    })
}

/// Maps an input buffer of `info` and hands its layout, colorimetry and planes to `read`.
fn read_buffer<T>(
    buffer: &gst::BufferRef,
    info: &VideoInfo,
    read: impl FnOnce(&FrameLayout, Colorimetry, &[&[u8]]) -> Result<T, color::ColorError>,
) -> Result<T, String> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|_| "input buffer could not be mapped as a video frame".to_string())?;
    // Strides may differ per buffer (video meta), so take them from the frame.
    let (layout, colorimetry) = engine_layout(info, frame.plane_stride())?;
    let mut planes: Vec<&[u8]> = Vec::with_capacity(3);
    for p in 0..layout.format.n_planes() {
        planes.push(frame.plane_data(p as u32).map_err(|e| e.to_string())?);
    }
    read(&layout, colorimetry, &planes).map_err(|e| e.to_string())
}

/// Converts a mapped input buffer into planar RGB.
fn buffer_to_rgb(buffer: &gst::BufferRef, info: &VideoInfo, out: &mut RgbFrame) -> Result<(), String> {
    read_buffer(buffer, info, |layout, colorimetry, planes| color::to_rgb(layout, colorimetry, planes, out))
}

/// Copies a mapped I420/NV12 input buffer into tight 4:2:0 planes for the colour graphs.
fn buffer_to_yuv(buffer: &gst::BufferRef, info: &VideoInfo, out: &mut color::Yuv420) -> Result<(), String> {
    read_buffer(buffer, info, |layout, _, planes| color::pack_yuv420(layout, planes, out))
}

/// A new buffer of `info` filled by `fill` with the mapped frame's layout and planes.
fn new_buffer(
    info: &VideoInfo,
    fill: impl FnOnce(&FrameLayout, Colorimetry, &mut [&mut [u8]]) -> Result<(), color::ColorError>,
) -> Result<gst::Buffer, String> {
    let mut buffer = gst::Buffer::with_size(info.size()).map_err(|e| e.to_string())?;
    {
        let buf = buffer.get_mut().expect("new buffer is writable");
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info)
            .map_err(|_| "output buffer could not be mapped".to_string())?;
        let (layout, colorimetry) = engine_layout(info, frame.plane_stride())?;
        let n = layout.format.n_planes();
        let mut planes: Vec<&mut [u8]> = frame.planes_data_mut().into_iter().take(n).collect();
        fill(&layout, colorimetry, &mut planes).map_err(|e| e.to_string())?;
    }
    Ok(buffer)
}

fn frame_to_buffer(frame: &FrameOut, info: &VideoInfo) -> Result<gst::Buffer, String> {
    match frame {
        FrameOut::Rgb(rgb) => rgb_to_buffer(rgb, info),
        FrameOut::Yuv(yuv) => new_buffer(info, |layout, _, planes| color::unpack_yuv420(yuv, layout, planes)),
    }
}

/// The colorimetry 4:2:0 frames of `info` are converted with, when the colour graphs do it.
fn yuv_colorimetry(converts: bool, info: &VideoInfo) -> Option<Colorimetry> {
    if !converts || !matches!(info.format(), VideoFormat::I420 | VideoFormat::Nv12) {
        return None;
    }
    engine_layout(info, &[0, 0, 0]).ok().map(|(_, c)| c)
}

fn rgb_to_buffer(rgb: &RgbFrame, info: &VideoInfo) -> Result<gst::Buffer, String> {
    new_buffer(info, |layout, colorimetry, planes| color::from_rgb(rgb, layout, colorimetry, planes))
}

impl<R: Resample> Core<R> {
    pub fn new(cat: gst::DebugCategory, sinkpad: gst::Pad, srcpad: gst::Pad) -> Self {
        Self {
            cat,
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            extra: Mutex::new(R::Extra::default()),
            worker: Mutex::new(None),
            stream: Mutex::new(None),
        }
    }

    /// Loads ONNX Runtime and the graphs (READY -> PAUSED).
    pub fn start(&self, element: &gst::Element) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let fail = |e: ModelError| {
            let kind = match e {
                ModelError::MissingModel(_) => gst::ResourceError::NotFound,
                ModelError::BadModel { .. } => gst::ResourceError::OpenRead,
                _ => gst::ResourceError::Failed,
            };
            gst::error_msg!(kind, ("{}", e))
        };
        let rt = model::runtime(settings.ort_library.as_deref()).map_err(fail)?;
        if let Some(wanted) = settings.ort_library.as_deref() {
            if wanted != rt.library() {
                gst::warning!(self.cat, obj = element,
                    "ONNX Runtime is already loaded from {} in this process; ort-library={} is ignored",
                    rt.library().display(), wanted.display());
            }
        }
        let dir = settings.model_dir();
        let (models, choice) = R::load(&rt, &dir, &settings.session_config()).map_err(fail)?;
        for fallback in &choice.fallbacks {
            gst::warning!(self.cat, obj = element, "falling back: {}", fallback);
            let msg = gst::message::Warning::builder(gst::CoreError::Failed, &format!("Falling back from a GPU provider: {fallback}"))
                .src(element)
                .build();
            let _ = element.post_message(msg);
        }
        let text = format!(
            "running {} graphs from {} on ONNX Runtime {} ({} execution provider, {}){}",
            R::kind(&models), dir.display(), rt.version(), choice.name, rt.library().display(),
            if R::converts_colour(&models) { "; I420/NV12 converted to and from RGB by the colour graphs" } else { "" }
        );
        gst::info!(self.cat, obj = element, "{}", text);
        let _ = element.post_message(
            gst::message::Info::builder(gst::CoreError::Failed, &text).src(element).build(),
        );
        // Overlap needs a device to overlap with: on the CPU the graphs already use the cores.
        let overlap = match settings.overlap {
            OverlapProp::Auto => choice.name != "CPU",
            OverlapProp::On => true,
            OverlapProp::Off => false,
        };
        gst::debug!(self.cat, obj = element, "overlap of consecutive frames: {}", overlap);
        let worker = Worker::spawn(models, overlap, &format!("{}-infer", element.name()))
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("cannot start the inference thread: {}", e)))?;
        *self.worker.lock().unwrap() = Some(worker);
        Ok(())
    }

    /// PAUSED -> READY: drop stream state and graphs.
    pub fn stop(&self) {
        *self.stream.lock().unwrap() = None;
        *self.worker.lock().unwrap() = None;
    }

    /// Starts a new stretch: fresh grid and resampler; a result still in flight is dropped
    /// (flush) unless the caller took it before.
    fn restart_locked(&self, stream: &mut Stream) -> Result<(), ModelError> {
        stream.clock.reset();
        stream.discont = true;
        if stream.passthrough {
            return Ok(());
        }
        let extra = self.extra.lock().unwrap().clone();
        let resampler = R::new_stream(stream.input, stream.output, &extra, stream.yuv_out, stream.direction);
        match self.worker.lock().unwrap().as_mut() {
            Some(worker) => {
                let _ = worker.take();
                worker.run(Job::Stream(resampler)).map(drop)
            }
            None => Ok(()),
        }
    }

    fn push_all(&self, buffers: Rendered) -> Result<gst::FlowSuccess, gst::FlowError> {
        for buffer in buffers {
            self.srcpad.push(buffer)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn model_error(&self, element: &gst::Element, e: ModelError) -> gst::FlowError {
        gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
        gst::FlowError::Error
    }

    /// Stamps rendered frames and turns them into buffers.
    fn wrap(&self, stream: &mut Stream, frames: Vec<(u64, FrameOut)>) -> Result<Rendered, String> {
        let mut out = Vec::with_capacity(frames.len());
        for (index, frame) in frames {
            let Some((pts, duration)) = stream.output_time(index) else {
                gst::debug!(self.cat, "output frame {index} would lie before time 0: not pushed");
                continue;
            };
            let mut buffer = frame_to_buffer(&frame, &stream.out_info)?;
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(duration));
            b.set_offset(index);
            b.set_offset_end(index + 1);
            if stream.discont {
                b.set_flags(gst::BufferFlags::DISCONT);
                stream.discont = false;
            }
            out.push(buffer);
        }
        Ok(out)
    }

    /// Everything the current stretch can still produce (EOS, caps change, jump).
    fn drain_locked(&self, element: &gst::Element, stream: &mut Stream) -> Result<Rendered, gst::FlowError> {
        // What the frame in flight gave, then the tail.
        let frames = match self.worker.lock().unwrap().as_mut() {
            Some(worker) if !stream.passthrough => worker.run(Job::Finish),
            _ => Ok(Vec::new()),
        };
        let result = frames.map_err(|e| self.model_error(element, e)).and_then(|frames| {
            self.wrap(stream, frames).map_err(|e| {
                gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
                gst::FlowError::Error
            })
        });
        // Whatever happens to the tail, the next frame starts a new stretch.
        let restarted = self.restart_locked(stream).map_err(|e| self.model_error(element, e));
        let rendered = result?;
        restarted?;
        Ok(rendered)
    }

    fn drain(&self, element: &gst::Element) -> Result<gst::FlowSuccess, gst::FlowError> {
        let rendered = {
            let mut guard = self.stream.lock().unwrap();
            match guard.as_mut() {
                Some(stream) => self.drain_locked(element, stream)?,
                None => Vec::new(),
            }
        };
        self.push_all(rendered)
    }

    pub fn chain(&self, element: &gst::Element, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.srcpad.check_reconfigure() {
            let caps = self.stream.lock().unwrap().as_ref().map(|s| s.in_caps.clone());
            if let Some(caps) = caps {
                if let Err(flow) = self.set_input_caps(element, &caps) {
                    self.srcpad.mark_reconfigure();
                    if self.srcpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                        return Err(gst::FlowError::Flushing);
                    }
                    return Err(flow);
                }
            }
        }
        let mut rendered = Vec::new();
        {
            let mut guard = self.stream.lock().unwrap();
            let Some(stream) = guard.as_mut() else {
                gst::element_error!(element, gst::CoreError::Negotiation, ("buffer before caps"));
                return Err(gst::FlowError::NotNegotiated);
            };
            if stream.passthrough {
                drop(guard);
                return self.srcpad.push(buffer);
            }
            let pts = buffer.pts().map(|t| stream.grid_time(t.nseconds()));
            let index = match stream.clock.place(pts) {
                Placement::Frame(i) => i,
                Placement::Duplicate => {
                    gst::debug!(self.cat, obj = element, "dropping buffer {:?}: its grid slot is taken", buffer.pts());
                    return Ok(gst::FlowSuccess::Ok);
                }
                Placement::Jump => {
                    gst::debug!(self.cat, obj = element, "timestamp jump to {:?}: restarting the grid", buffer.pts());
                    rendered.extend(self.drain_locked(element, stream)?);
                    match stream.clock.place(pts) {
                        Placement::Frame(i) => i,
                        _ => unreachable!("a reset clock places any frame at 0"),
                    }
                }
            };
            let (w, h) = (stream.in_info.width() as usize, stream.in_info.height() as usize);
            let frame = match stream.yuv_in {
                Some(c) => {
                    let mut yuv = color::Yuv420::new(w, h);
                    buffer_to_yuv(&buffer, &stream.in_info, &mut yuv).map(|()| FrameIn::Yuv(yuv, c))
                }
                None => {
                    let mut rgb = RgbFrame::new(w, h);
                    buffer_to_rgb(&buffer, &stream.in_info, &mut rgb).map(|()| FrameIn::Rgb(rgb))
                }
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    gst::element_error!(element, gst::StreamError::Format, ("{}", e));
                    return Err(gst::FlowError::Error);
                }
            };
            let frames = {
                let mut worker = self.worker.lock().unwrap();
                let Some(worker) = worker.as_mut() else {
                    gst::element_error!(element, gst::CoreError::StateChange, ("models are not loaded"));
                    return Err(gst::FlowError::Error);
                };
                worker.push(index, frame).map_err(|e| self.model_error(element, e))?
            };
            rendered.extend(self.wrap(stream, frames).map_err(|e| {
                gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
                gst::FlowError::Error
            })?);
        }
        self.push_all(rendered)
    }

    /// Picks output caps for `in_caps` from what downstream accepts.
    fn negotiate_output(&self, in_info: &VideoInfo) -> Option<gst::Caps> {
        let input = geometry(in_info)?;
        let (pref_w, pref_h, pref_rate) = R::preferred(input);
        let allowed = self.srcpad.peer_query_caps(Some(&template_caps()));
        if allowed.is_empty() {
            return None;
        }
        let mut caps = allowed.clone();
        caps.truncate();
        {
            let caps = caps.make_mut();
            let s = caps.structure_mut(0)?;
            if s.has_field("format") {
                s.fixate_field_str("format", in_info.format().to_str());
            }
            // Keep the aspect ratio when downstream fixes only one dimension.
            let fixed = |s: &gst::StructureRef, f: &str| s.get::<i32>(f).ok();
            let (in_w, in_h) = (in_info.width() as i64, in_info.height() as i64);
            let (tw, th) = match (fixed(s, "width"), fixed(s, "height")) {
                (Some(w), None) => (w, ((w as i64 * in_h + in_w / 2) / in_w).max(1) as i32),
                (None, Some(h)) => (((h as i64 * in_w + in_h / 2) / in_h).max(1) as i32, h),
                _ => (pref_w, pref_h),
            };
            s.fixate_field_nearest_int("width", tw);
            s.fixate_field_nearest_int("height", th);
            s.fixate_field_nearest_fraction("framerate", pref_rate);
            if s.has_field("pixel-aspect-ratio") {
                s.fixate_field_nearest_fraction("pixel-aspect-ratio", in_info.par());
            }
        }
        caps.fixate();
        // Carry the input's colorimetry over to YUV output when downstream left it open.
        let out_info = VideoInfo::from_caps(&caps).ok()?;
        if in_info.format_info().is_yuv() && out_info.format_info().is_yuv() {
            let s = caps.structure(0)?;
            if !s.has_field("colorimetry") {
                let mut with = caps.clone();
                with.make_mut().structure_mut(0)?.set("colorimetry", in_info.colorimetry().to_string());
                if allowed.can_intersect(&with) {
                    caps = with;
                }
            }
        }
        Some(caps)
    }

    /// New input caps (or a downstream reconfigure): drain what the old caps can still
    /// produce, negotiate the output and start a new stretch.
    fn set_input_caps(&self, element: &gst::Element, caps: &gst::Caps) -> Result<(), gst::FlowError> {
        let negotiation_error = |msg: String| {
            gst::element_error!(element, gst::CoreError::Negotiation, ("{}", msg));
            gst::FlowError::NotNegotiated
        };
        let in_info = VideoInfo::from_caps(caps).map_err(|_| negotiation_error(format!("invalid input caps {caps}")))?;
        let Some(input) = geometry(&in_info) else {
            return Err(negotiation_error(format!("input needs a fixed, positive frame rate, got {}", in_info.fps())));
        };
        let mut out_caps = self
            .negotiate_output(&in_info)
            .ok_or_else(|| negotiation_error(format!("downstream accepts no output for input {caps}")))?;
        let mut out_info = VideoInfo::from_caps(&out_caps).map_err(|_| negotiation_error(format!("invalid output caps {out_caps}")))?;
        // Same format, size and rate: hand buffers through untouched, under the input's own caps.
        let same = |a: &VideoInfo, b: &VideoInfo| {
            (a.format(), a.width(), a.height(), a.fps()) == (b.format(), b.width(), b.height(), b.fps())
        };
        let passthrough = same(&in_info, &out_info) && self.srcpad.peer_query_accept_caps(caps);
        if passthrough {
            out_caps = caps.clone();
            out_info = in_info.clone();
        }
        let output = geometry(&out_info)
            .ok_or_else(|| negotiation_error(format!("output needs a positive frame rate, got {}", out_info.fps())))?;
        let unchanged = self.stream.lock().unwrap().as_ref().is_some_and(|s| {
            s.in_info == in_info && s.out_info == out_info && s.passthrough == passthrough
        });
        if unchanged {
            // Caps sent again or a reconfigure that changes nothing: keep the grid running.
            gst::debug!(self.cat, obj = element, "caps unchanged: {}", out_caps);
            return Ok(());
        }
        self.drain(element)?;
        gst::info!(self.cat, obj = element, "{} -> {}{}", caps, out_caps, if passthrough { " (passthrough)" } else { "" });
        let (old_latency, direction) = match self.stream.lock().unwrap().as_ref() {
            Some(s) => (Some((s.in_info.fps(), s.out_info.fps())), s.direction),
            None => (None, Direction::Forwards),
        };
        let converts = self.worker.lock().unwrap().as_ref().is_some_and(|w| w.converts_colour);
        let (yuv_in, yuv_out) = (yuv_colorimetry(converts, &in_info), yuv_colorimetry(converts, &out_info));
        if converts {
            gst::debug!(self.cat, obj = element, "colour graphs convert: input {}, output {}", yuv_in.is_some(), yuv_out.is_some());
        }
        {
            let mut guard = self.stream.lock().unwrap();
            let stream = guard.insert(Stream {
                input,
                output,
                in_caps: caps.clone(),
                passthrough,
                clock: InputClock::new(input.rate, input.rate.num().div_ceil(input.rate.den()).max(2)),
                discont: true,
                yuv_in,
                yuv_out,
                in_info,
                out_info,
                direction,
            });
            if let Err(e) = self.restart_locked(stream) {
                *guard = None;
                gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
                return Err(gst::FlowError::Error);
            }
        }
        if !self.srcpad.push_event(gst::event::Caps::new(&out_caps)) {
            *self.stream.lock().unwrap() = None;
            return Err(negotiation_error(format!("downstream refused {out_caps}")));
        }
        let new_latency = self.stream.lock().unwrap().as_ref().map(|s| (s.in_info.fps(), s.out_info.fps()));
        if old_latency.is_some() && old_latency != new_latency {
            let _ = element.post_message(gst::message::Latency::builder().src(element).build());
        }
        Ok(())
    }

    pub fn sink_event(&self, pad: &gst::Pad, element: &gst::Element, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(self.cat, obj = pad, "event {:?}", event.type_());
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                self.set_input_caps(element, &caps).is_ok()
            }
            EventView::Segment(s) => {
                if s.segment().format() != gst::Format::Time {
                    gst::element_error!(element, gst::StreamError::Format, ("segments in {:?} format are not supported, only time", s.segment().format()));
                    return false;
                }
                // A new segment may restart the timeline (non-flushing seek): finish the
                // old stretch under the old segment and start a fresh grid.
                if let Err(e) = self.drain(element) {
                    gst::debug!(self.cat, obj = element, "drain at new segment stopped: {:?}", e);
                }
                let direction = if s.segment().rate() < 0.0 { Direction::Backwards } else { Direction::Forwards };
                if let Some(stream) = self.stream.lock().unwrap().as_mut() {
                    if stream.direction != direction {
                        gst::debug!(self.cat, obj = element, "segment plays {:?}", direction);
                        stream.direction = direction;
                        if let Err(e) = self.restart_locked(stream) {
                            gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
                            return false;
                        }
                    }
                }
                self.srcpad.push_event(event)
            }
            EventView::Eos(_) => {
                if let Err(e) = self.drain(element) {
                    gst::debug!(self.cat, obj = element, "drain at EOS stopped: {:?}", e);
                }
                self.srcpad.push_event(event)
            }
            EventView::FlushStop(_) => {
                if let Some(stream) = self.stream.lock().unwrap().as_mut() {
                    if let Err(e) = self.restart_locked(stream) {
                        gst::element_error!(element, gst::StreamError::Failed, ("{}", e));
                    }
                }
                self.srcpad.push_event(event)
            }
            _ => gst::Pad::event_default(pad, Some(element), event),
        }
    }

    pub fn src_query(&self, pad: &gst::Pad, element: &gst::Element, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let mut upstream = gst::query::Latency::new();
                if !self.sinkpad.peer_query(&mut upstream) {
                    return false;
                }
                let (live, min, max) = upstream.result();
                let ours = self
                    .stream
                    .lock()
                    .unwrap()
                    .as_ref()
                    .filter(|s| !s.passthrough)
                    .map(|s| {
                        let overlap = self.worker.lock().unwrap().as_ref().is_some_and(|w| w.overlap);
                        // With overlap a frame's outputs leave when the next input arrives.
                        let extra = if overlap { s.input.rate.interval_ceil() } else { 0 };
                        R::latency(s.input.rate, s.output.rate) + gst::ClockTime::from_nseconds(extra)
                    })
                    .unwrap_or(gst::ClockTime::ZERO);
                gst::debug!(self.cat, obj = pad, "latency: upstream {} ours {}", min, ours);
                q.set(live, min + ours, max.map(|m| m + ours));
                true
            }
            QueryViewMut::Caps(q) => {
                answer_caps_query(q);
                true
            }
            _ => gst::Pad::query_default(pad, Some(element), query),
        }
    }

    pub fn sink_query(&self, pad: &gst::Pad, element: &gst::Element, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                answer_caps_query(q);
                true
            }
            QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().can_intersect(&template_caps()) && VideoInfo::from_caps(q.caps()).is_ok();
                q.set_result(ok);
                true
            }
            // Allocation is ours to answer: we make new buffers and never hand upstream's on.
            QueryViewMut::Allocation(_) => false,
            _ => gst::Pad::query_default(pad, Some(element), query),
        }
    }
}

/// The GObject boilerplate of one resampling element, forwarding everything to its [`Core`].
#[macro_export]
macro_rules! resample_element {
    ($imp:ident, $type_name:literal, $resample:ty, $cat:ident, $long_name:literal, $description:literal) => {
        pub struct $imp {
            core: $crate::element::Core<$resample>,
        }

        #[glib::object_subclass]
        impl ObjectSubclass for $imp {
            const NAME: &'static str = $type_name;
            type Type = super::Element;
            type ParentType = gst::Element;

            fn with_class(klass: &Self::Class) -> Self {
                let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
                    .chain_function(|_pad, parent, buffer| {
                        $imp::catch_panic_pad_function(parent, || Err(gst::FlowError::Error), |imp| {
                            imp.core.chain(imp.obj().upcast_ref(), buffer)
                        })
                    })
                    .event_function(|pad, parent, event| {
                        $imp::catch_panic_pad_function(parent, || false, |imp| {
                            imp.core.sink_event(pad, imp.obj().upcast_ref(), event)
                        })
                    })
                    .query_function(|pad, parent, query| {
                        $imp::catch_panic_pad_function(parent, || false, |imp| {
                            imp.core.sink_query(pad, imp.obj().upcast_ref(), query)
                        })
                    })
                    .build();
                let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap())
                    .query_function(|pad, parent, query| {
                        $imp::catch_panic_pad_function(parent, || false, |imp| {
                            imp.core.src_query(pad, imp.obj().upcast_ref(), query)
                        })
                    })
                    .build();
                Self { core: $crate::element::Core::new(*$cat, sinkpad, srcpad) }
            }
        }

        impl ObjectImpl for $imp {
            fn properties() -> &'static [glib::ParamSpec] {
                static PROPERTIES: std::sync::LazyLock<Vec<glib::ParamSpec>> = std::sync::LazyLock::new(|| {
                    let mut p = $crate::element::Settings::properties();
                    p.extend(<$resample as $crate::element::Resample>::extra_properties());
                    p
                });
                PROPERTIES.as_ref()
            }

            fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
                if !self.core.settings.lock().unwrap().set(value, pspec) {
                    let mut extra = self.core.extra.lock().unwrap();
                    <$resample as $crate::element::Resample>::set_extra(&mut extra, value, pspec);
                }
            }

            fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
                if let Some(v) = self.core.settings.lock().unwrap().get(pspec) {
                    return v;
                }
                <$resample as $crate::element::Resample>::get_extra(&self.core.extra.lock().unwrap(), pspec)
            }

            fn constructed(&self) {
                self.parent_constructed();
                let obj = self.obj();
                obj.add_pad(&self.core.sinkpad).unwrap();
                obj.add_pad(&self.core.srcpad).unwrap();
            }
        }

        impl GstObjectImpl for $imp {}

        impl ElementImpl for $imp {
            fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> = std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        $long_name,
                        "Filter/Converter/Video/Scaler",
                        $description,
                        "gst-imsm developers",
                    )
                });
                Some(&*METADATA)
            }

            fn pad_templates() -> &'static [gst::PadTemplate] {
                static TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                    std::sync::LazyLock::new($crate::element::pad_templates);
                TEMPLATES.as_ref()
            }

            fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
                if transition == gst::StateChange::ReadyToPaused {
                    if let Err(msg) = self.core.start(self.obj().upcast_ref()) {
                        self.post_error_message(msg);
                        return Err(gst::StateChangeError);
                    }
                }
                let ret = self.parent_change_state(transition)?;
                if transition == gst::StateChange::PausedToReady {
                    self.core.stop();
                }
                Ok(ret)
            }
        }
    };
}
