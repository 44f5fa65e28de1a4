//! imsm-bench: throughput of imsmdown / imsmup, the engine alone and through the
//! elements (`src/bin/imsm-bench.rs`, `imsm-bench --help`).
//!
//! `--size WxH` is the full-rate (high) size. The two directions are measured at the
//! rates of the targets:
//!
//! - down: W x H @ 60 -> W/2 x H/2 @ 30; the figure is **input** frames per second;
//! - up: W/2 x H/2 @ 30 -> W x H @ 60; the figure is **output** frames per second.
//!
//! Each direction is measured twice:
//!
//! 1. **engine**: the work the element does per frame, without GStreamer: I420 -> planar
//!    RGB ([`color::to_rgb`]), the scheduler ([`DownScheduler`] / [`UpScheduler`]), the
//!    graphs ([`DownGraph`] / [`UpGraphs`]; imsmup's global-motion measurement included)
//!    and RGB -> I420 ([`color::from_rgb`]), on
//!    synthetic frames (a moving diagonal gradient, made outside the timed region);
//! 2. **elements**: `videotestsrc pattern=ball ! I420 caps ! imsmdown|imsmup ! caps !
//!    fakesink sync=false`, timed from PLAYING to EOS. The sink prerolls in PAUSED, so a
//!    few frames are rendered before PLAYING: the figure counts only the frames whose
//!    work falls inside the timed window (see [`up_outputs_rendered`]). The source's own
//!    frame generation runs on the same streaming thread and is part of this figure.
//!
//! Before the timed runs, each measurement does one short warm-up run (the first
//! inferences allocate; TensorRT builds its engines): session creation is never part of
//! a frame rate. Start times are reported separately: the graphs' load time for the
//! engine, and NULL -> PAUSED (graphs loaded by the element plus the preroll of the first
//! output frame) for the elements. Frame rates are the median of `--runs` runs, with
//! min and max.
//!
//! Memory: with the CPU provider, the process's peak RSS (`VmHWM` of
//! `/proc/self/status`, reset through `/proc/self/clear_refs` before each measurement
//! where the kernel allows it). With a GPU provider, the used memory of the whole GPU
//! through NVML (`libnvidia-ml.so.1`, sampled every 2 ms on a thread: the peak and the
//! amount in use before), or "n/a" where NVML is missing.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::engine::color::{self, Colorimetry, FrameLayout, PixelFormat, Yuv420};
use crate::engine::model::{self, ColourMode, DownGraph, Features, Provider, SessionConfig, StagedFrame, UpGraphs, WindowFrame};
use crate::engine::motion::{LumaPyramid, MotionTracker, Received};
use crate::engine::schedule::{DownJob, DownScheduler, UpJob, UpScheduler};
use crate::engine::time::{Rate, Ratio};
use crate::engine::{FrameIn, RgbFrame};

pub const USAGE: &str = "\
imsm-bench: frames per second of imsmdown / imsmup, engine alone and through the elements

usage: imsm-bench --provider cpu|cuda|tensorrt|auto --size WxH [options]

  --provider P    ONNX Runtime execution provider (required); a provider that cannot
                  start is an error (exit code 1), except auto, which falls back to CPU
  --size WxH      full-rate (high) size, even numbers (odd ones are rounded down):
                  down = WxH@60 -> W/2xH/2@30 (input frames/s),
                  up = W/2xH/2@30 -> WxH@60 (output frames/s)
  --element E     down, up or both (default both)
  --frames N      frames per run, as the figure counts them: input frames for down,
                  output frames for up (default 60, at least 8)
  --threads N     ONNX Runtime intra-op threads (default 0: ONNX Runtime decides)
  --models DIR    directory of down.onnx, reveal.onnx, synth.onnx
                  (default: $IMSM_MODEL_DIR, else the source tree's models/)
  --runs R        timed runs per measurement; the median is reported (default 3)
  --colour C      where I420 <-> RGB runs: auto (colour graphs on a GPU, host code on
                  the CPU), host or graphs (ONNX Runtime, wherever the graphs run);
                  the element property colour-conversion (default auto)
  --overlap O     the elements' overlap property: auto (on with a GPU), on or off
                  (elements only: the engine figure runs the graphs on the calling thread)
  --global-motion B  imsmup's global-motion (on or off, default on), in the engine
                  and the element figures
  --local-motion B   imsmup's local-motion (on or off, default on), likewise
  -h, --help      this text
";

/// Which element(s) to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementChoice {
    Down,
    Up,
    Both,
}

impl ElementChoice {
    fn sides(self) -> &'static [Side] {
        match self {
            ElementChoice::Down => &[Side::Down],
            ElementChoice::Up => &[Side::Up],
            ElementChoice::Both => &[Side::Down, Side::Up],
        }
    }
}

/// One direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Down,
    Up,
}

impl Side {
    pub fn element(self) -> &'static str {
        match self {
            Side::Down => "imsmdown",
            Side::Up => "imsmup",
        }
    }
}

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub provider: Provider,
    /// Full-rate size (even).
    pub width: usize,
    pub height: usize,
    pub element: ElementChoice,
    pub frames: usize,
    pub threads: u32,
    pub models: PathBuf,
    pub runs: usize,
    pub colour: ColourMode,
    /// The elements' `overlap` property (auto, on, off).
    pub overlap: String,
    /// imsmup's `global-motion`.
    pub global_motion: bool,
    /// imsmup's `local-motion`.
    pub local_motion: bool,
    /// Things the parser changed (odd sizes rounded), printed before the run.
    pub notes: Vec<String>,
    /// No progress lines on stderr (tests).
    pub quiet: bool,
}

pub const MIN_FRAMES: usize = 8;
const MAX_SIDE: usize = 16384;
const WARMUP_FRAMES: usize = 8;
/// Longest a single pipeline run may take before it counts as stuck.
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// `WxH` -> even (W, H), with a note when a side was odd and rounded down.
pub fn parse_size(s: &str) -> Result<((usize, usize), Option<String>), String> {
    let bad = || format!("--size: '{s}' is not WxH (e.g. 1920x1080)");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("--size: {w}x{h} is larger than {MAX_SIDE}x{MAX_SIDE}"));
    }
    let (ew, eh) = (w & !1, h & !1);
    if ew < 2 || eh < 2 {
        return Err(format!("--size: {w}x{h} is too small (at least 2x2, so that the low-rate side is 1x1)"));
    }
    let note = (ew != w || eh != h).then(|| {
        format!("--size {w}x{h} has an odd side: rounded down to {ew}x{eh} so that the low-rate size is exactly half ({}x{})", ew / 2, eh / 2)
    });
    Ok(((ew, eh), note))
}

pub fn parse_element(s: &str) -> Result<ElementChoice, String> {
    match s.to_ascii_lowercase().as_str() {
        "down" | "imsmdown" => Ok(ElementChoice::Down),
        "up" | "imsmup" => Ok(ElementChoice::Up),
        "both" => Ok(ElementChoice::Both),
        _ => Err(format!("--element: '{s}' is not down, up or both")),
    }
}

/// `Ok(None)` means --help.
pub fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut provider = None;
    let mut size = None;
    let mut o = Options {
        provider: Provider::Auto,
        width: 0,
        height: 0,
        element: ElementChoice::Both,
        frames: 60,
        threads: 0,
        models: crate::element::default_model_dir(),
        runs: 3,
        colour: ColourMode::Auto,
        overlap: "auto".into(),
        global_motion: true,
        local_motion: true,
        notes: Vec::new(),
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "--provider" => {
                let v = value()?;
                provider = Some(v.parse::<Provider>().map_err(|e| format!("--provider: {e}"))?);
            }
            "--size" => {
                let (s, note) = parse_size(&value()?)?;
                size = Some(s);
                o.notes.extend(note);
            }
            "--element" => o.element = parse_element(&value()?)?,
            "--frames" => {
                let v = value()?;
                o.frames = v
                    .parse()
                    .ok()
                    .filter(|&n: &usize| (MIN_FRAMES..=1_000_000).contains(&n))
                    .ok_or_else(|| format!("--frames: '{v}' is not a count of {MIN_FRAMES} to 1000000"))?;
            }
            "--threads" => {
                let v = value()?;
                o.threads = v.parse().ok().filter(|&n: &u32| n <= 256).ok_or_else(|| format!("--threads: '{v}' is not 0-256"))?;
            }
            "--models" => o.models = PathBuf::from(value()?),
            "--runs" => {
                let v = value()?;
                o.runs = v.parse().ok().filter(|&n: &usize| (1..=1000).contains(&n)).ok_or_else(|| format!("--runs: '{v}' is not 1-1000"))?;
            }
            "--colour" => {
                o.colour = match value()?.as_str() {
                    "auto" => ColourMode::Auto,
                    "host" => ColourMode::Host,
                    "graphs" => ColourMode::Graphs,
                    v => return Err(format!("--colour: '{v}' is not auto, host or graphs")),
                }
            }
            "--global-motion" | "--local-motion" => {
                let on = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(format!("{name}: '{v}' is not on or off")),
                };
                if name == "--global-motion" {
                    o.global_motion = on;
                } else {
                    o.local_motion = on;
                }
            }
            "--overlap" => {
                o.overlap = value()?;
                if !["auto", "on", "off"].contains(&o.overlap.as_str()) {
                    return Err(format!("--overlap: '{}' is not auto, on or off", o.overlap));
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    o.provider = provider.ok_or("--provider is required (cpu, cuda, tensorrt or auto)")?;
    (o.width, o.height) = size.ok_or("--size is required (e.g. --size 1920x1080)")?;
    Ok(Some(o))
}

/// Median, min and max of a set of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no values or any value that is not finite. The median of an even count
    /// is the mean of the two middle values.
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Stats { median, min: v[0], max: v[n - 1] })
    }
}

/// Peak memory of one measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Memory {
    /// Peak RSS in KiB; `since_reset` is false when the peak could not be reset and is
    /// the process's peak since it started.
    Rss { kib: u64, since_reset: bool },
    /// A GPU provider, through NVML: used memory of the whole GPU (MiB) when the
    /// measurement started and its peak during it.
    Device { before_mib: f64, peak_mib: f64 },
    /// A GPU provider without NVML (or with the GPU not found there).
    NotMeasured,
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Memory::Rss { kib, since_reset } => {
                write!(f, "peak RSS {:.1} MiB", *kib as f64 / 1024.0)?;
                if !since_reset {
                    write!(f, " (process peak so far)")?;
                }
                Ok(())
            }
            Memory::Device { before_mib, peak_mib } => {
                write!(f, "peak device memory {peak_mib:.0} MiB (whole GPU, NVML; {before_mib:.0} MiB in use before)")
            }
            Memory::NotMeasured => write!(f, "peak device memory n/a (not measured: NVML not available)"),
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub side: Side,
    /// "engine" or "elements".
    pub path: &'static str,
    pub fps: Stats,
    /// Frames counted per timed run (last run).
    pub frames: u64,
    /// Engine: the graphs' load time; elements: median NULL -> PAUSED of the timed runs.
    pub start: Duration,
    /// Elements: NULL -> PAUSED of the first (warm-up) pipeline.
    pub first_start: Option<Duration>,
    /// Execution provider that ran the graphs, as ONNX Runtime / the element reported it.
    pub provider: String,
    pub memory: Memory,
}

/// Everything one invocation measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub machine: String,
    pub runtime: String,
    pub figures: Vec<Figure>,
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Machine and memory

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// NVIDIA GPUs the kernel driver lists (`/proc/driver/nvidia/gpus/*/information`).
fn nvidia_gpus() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/driver/nvidia/gpus") else { return Vec::new() };
    let mut gpus: Vec<String> = dir
        .flatten()
        .map(|e| {
            std::fs::read_to_string(e.path().join("information"))
                .ok()
                .and_then(|t| t.lines().find_map(|l| l.strip_prefix("Model:").map(|m| m.trim().to_string())))
                .unwrap_or_else(|| "NVIDIA GPU".into())
        })
        .collect();
    gpus.sort();
    gpus
}

/// Cores, architecture, CPU model and the NVIDIA GPUs the driver lists.
pub fn machine_line() -> String {
    let gpus = nvidia_gpus();
    let gpu = if gpus.is_empty() { "no NVIDIA GPU found".to_string() } else { gpus.join(", ") };
    format!("{} cores {}, {}, {gpu}", cores(), std::env::consts::ARCH, cpu_model())
}

/// `VmHWM` of this process in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Hands freed heap memory back to the kernel, so that what an earlier measurement
/// freed does not count in the next one's peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim only releases free heap pages; it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Resets `VmHWM` to the current RSS (Linux >= 4.0); false where that is not possible.
fn reset_peak_rss() -> bool {
    release_free_memory();
    std::fs::OpenOptions::new().write(true).open("/proc/self/clear_refs").and_then(|mut f| f.write_all(b"5")).is_ok()
}

/// What a measurement watches: the process's peak RSS always, the GPU's memory through
/// NVML when a GPU provider was asked for and NVML is there.
struct MemoryWatch {
    reset: bool,
    gpu: Option<crate::nvml::Sampler>,
}

impl MemoryWatch {
    fn start(o: &Options) -> MemoryWatch {
        let reset = reset_peak_rss();
        let gpu = (o.provider != Provider::Cpu).then(|| crate::nvml::Sampler::start(0).ok()).flatten();
        MemoryWatch { reset, gpu }
    }

    /// The figure for the provider that ran: RSS for the CPU, device memory otherwise.
    fn finish(self, cpu: bool) -> Memory {
        let device = self.gpu.and_then(|s| s.stop());
        if cpu {
            return match peak_rss_kib() {
                Some(kib) => Memory::Rss { kib, since_reset: self.reset },
                None => Memory::NotMeasured,
            };
        }
        match device {
            Some(m) => Memory::Device { before_mib: m.before_mib, peak_mib: m.peak_mib },
            None => Memory::NotMeasured,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Geometry

struct Geometry {
    in_w: usize,
    in_h: usize,
    in_fps: i32,
    out_w: usize,
    out_h: usize,
    out_fps: i32,
}

fn geometry(side: Side, o: &Options) -> Geometry {
    let (hw, hh, lw, lh) = (o.width, o.height, o.width / 2, o.height / 2);
    match side {
        Side::Down => Geometry { in_w: hw, in_h: hh, in_fps: 60, out_w: lw, out_h: lh, out_fps: 30 },
        Side::Up => Geometry { in_w: lw, in_h: lh, in_fps: 30, out_w: hw, out_h: hh, out_fps: 60 },
    }
}

fn rate(fps: i32) -> Rate {
    Rate::new(fps as i64, 1).expect("positive rate")
}

/// Input frames a run feeds for `frames` counted frames: down counts input frames, up
/// output frames (two per received frame at 30 -> 60).
fn input_frames(side: Side, frames: usize) -> usize {
    match side {
        Side::Down => frames,
        Side::Up => frames.div_ceil(2),
    }
}

/// The matrix GStreamer gives I420 caps without colorimetry (and the element assumes).
fn colorimetry_for(height: usize) -> Colorimetry {
    if height >= 720 {
        Colorimetry::BT709
    } else {
        Colorimetry::BT601
    }
}

/// How many output frames imsmup has rendered once it has taken `inputs` frames
/// (30 -> 60): its chain renders every job a frame makes ready before pushing any, so
/// when the sink blocks in preroll on the first output, this many are already done.
pub fn up_outputs_rendered(inputs: u64) -> u64 {
    let mut s = UpScheduler::<()>::new(Ratio::of_rates(rate(30), rate(60)));
    (0..inputs).map(|i| s.push(i, ()).len() as u64).sum()
}

// ---------------------------------------------------------------------------------------
// Engine measurement

/// One reusable I420 frame.
struct I420 {
    layout: FrameLayout,
    colorimetry: Colorimetry,
    planes: [Vec<u8>; 3],
}

impl I420 {
    fn new(w: usize, h: usize) -> Self {
        let layout = FrameLayout::packed(PixelFormat::I420, w, h);
        let sizes = layout.plane_sizes();
        Self { layout, colorimetry: colorimetry_for(h), planes: sizes.map(|n| vec![0u8; n]) }
    }

    /// Frame `n` of a diagonal gradient moving a few code values per frame.
    fn fill_gradient(&mut self, n: usize) {
        let (w, h) = (self.layout.width, self.layout.height);
        let [sy, su, _] = self.layout.strides;
        let [y, u, v] = &mut self.planes;
        for row in 0..h {
            for col in 0..w {
                let g = (col * 255 / w.max(1) + row * 255 / h.max(1)) / 2 + 3 * n;
                y[row * sy + col] = 16 + (g % 220) as u8;
            }
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        for row in 0..ch {
            for col in 0..cw {
                u[row * su + col] = 64 + ((col * 127 / cw.max(1) + 2 * n) % 128) as u8;
                v[row * su + col] = 64 + ((row * 127 / ch.max(1) + n) % 128) as u8;
            }
        }
    }

    fn decode(&self, out: &mut RgbFrame) -> Result<(), String> {
        let planes: [&[u8]; 3] = [&self.planes[0], &self.planes[1], &self.planes[2]];
        color::to_rgb(&self.layout, self.colorimetry, &planes, out).map_err(|e| e.to_string())
    }

    /// The planes for the colour graphs (what the element copies out of its buffer).
    fn pack(&self, out: &mut Yuv420) -> Result<(), String> {
        let planes: [&[u8]; 3] = [&self.planes[0], &self.planes[1], &self.planes[2]];
        color::pack_yuv420(&self.layout, &planes, out).map_err(|e| e.to_string())
    }

    fn unpack(&mut self, yuv: &Yuv420) -> Result<(), String> {
        let [a, b, c] = &mut self.planes;
        let mut planes: [&mut [u8]; 3] = [a, b, c];
        color::unpack_yuv420(yuv, &self.layout, &mut planes).map_err(|e| e.to_string())
    }

    fn encode(&mut self, rgb: &RgbFrame) -> Result<(), String> {
        let [a, b, c] = &mut self.planes;
        let mut planes: [&mut [u8]; 3] = [a, b, c];
        color::from_rgb(rgb, &self.layout, self.colorimetry, &mut planes).map_err(|e| e.to_string())
    }
}

enum Graphs {
    Down(DownGraph),
    Up(UpGraphs),
}

fn render_down(
    graph: &mut DownGraph,
    jobs: Vec<DownJob<StagedFrame>>,
    ratio: f32,
    out: &mut I420,
) -> Result<u64, String> {
    let (w, h) = (out.layout.width, out.layout.height);
    let n = jobs.len() as u64;
    for job in jobs {
        let window: Vec<WindowFrame<'_>> = job.slots.iter().map(|s| WindowFrame { frame: &s.frame, offset: s.offset }).collect();
        if graph.converts_colour() {
            let mut yuv = Yuv420::new(w, h);
            graph.run_yuv(&window, ratio, 0.0, w, h, out.colorimetry, &mut yuv).map_err(|e| e.to_string())?;
            out.unpack(&yuv)?;
        } else {
            let lr = graph.run(&window, ratio, 0.0, w, h).map_err(|e| e.to_string())?;
            out.encode(&lr)?;
        }
    }
    Ok(n)
}

fn render_up(graphs: &mut UpGraphs, jobs: Vec<UpJob<Received<Features>>>, out: &mut I420) -> Result<u64, String> {
    let (w, h) = (out.layout.width, out.layout.height);
    let n = jobs.len() as u64;
    for job in jobs {
        let alignment = job.next.alignment_from(job.prev_index, job.t, job.prev.features.size(), 0);
        let (f0, f1) = (&job.prev.features, &job.next.features);
        if graphs.converts_colour() {
            let mut yuv = Yuv420::new(w, h);
            graphs.synth_yuv(f0, f1, job.t, &alignment, w, h, out.colorimetry, &mut yuv).map_err(|e| e.to_string())?;
            out.unpack(&yuv)?;
        } else {
            let frame = graphs.synth(f0, f1, job.t, &alignment, w, h).map_err(|e| e.to_string())?;
            out.encode(&frame)?;
        }
    }
    Ok(n)
}

/// imsmup's `stream-kind=auto` hint.
const UP_HINT: f32 = 0.5;

/// One engine run: (timed duration, frames counted: input frames for down, output frames
/// for up). Source frames are made outside the timed region; everything the element
/// would do with them is inside it.
fn engine_run(graphs: &mut Graphs, g: &Geometry, frames: usize, global_motion: bool, local_motion: bool) -> Result<(Duration, u64), String> {
    let mut src = I420::new(g.in_w, g.in_h);
    let mut out = I420::new(g.out_w, g.out_h);
    let ratio = Ratio::of_rates(rate(g.in_fps), rate(g.out_fps));
    let mut timed = Duration::ZERO;
    let mut counted = 0u64;
    match graphs {
        Graphs::Down(graph) => {
            let mut sched = DownScheduler::<StagedFrame>::new(ratio);
            let r = ratio.as_f64() as f32;
            for n in 0..input_frames(Side::Down, frames) {
                src.fill_gradient(n);
                let t = Instant::now();
                let staged = if graph.converts_colour() {
                    let mut yuv = Yuv420::new(g.in_w, g.in_h);
                    src.pack(&mut yuv)?;
                    graph.stage_yuv(yuv, src.colorimetry)
                } else {
                    let mut rgb = RgbFrame::new(g.in_w, g.in_h);
                    src.decode(&mut rgb)?;
                    graph.stage(rgb)
                };
                let staged = staged.map_err(|e| e.to_string())?;
                render_down(graph, sched.push(n as u64, staged), r, &mut out)?;
                timed += t.elapsed();
                counted += 1;
            }
            let t = Instant::now();
            render_down(graph, sched.finish(), r, &mut out)?;
            timed += t.elapsed();
        }
        Graphs::Up(graphs) => {
            let mut sched = UpScheduler::<Received<Features>>::new(ratio);
            // as imsmup with global-motion on: each received frame's motion is measured
            let mut tracker = MotionTracker::default();
            for n in 0..input_frames(Side::Up, frames) {
                src.fill_gradient(n);
                let t = Instant::now();
                let frame = if graphs.converts_colour() {
                    let mut yuv = Yuv420::new(g.in_w, g.in_h);
                    src.pack(&mut yuv)?;
                    FrameIn::Yuv(yuv, src.colorimetry)
                } else {
                    let mut rgb = RgbFrame::new(g.in_w, g.in_h);
                    src.decode(&mut rgb)?;
                    FrameIn::Rgb(rgb)
                };
                let motion = if global_motion && graphs.aligns() { tracker.observe(n as u64, LumaPyramid::of(&frame), local_motion && graphs.gathers()) } else { None };
                let features = match frame {
                    FrameIn::Yuv(yuv, c) => graphs.reveal_yuv(yuv, c, UP_HINT),
                    FrameIn::Rgb(rgb) => graphs.reveal(rgb, UP_HINT),
                };
                let features = features.map_err(|e| e.to_string())?;
                let received = Received { features, size: (g.in_w, g.in_h), motion };
                counted += render_up(graphs, sched.push(n as u64, received), &mut out)?;
                timed += t.elapsed();
            }
            let t = Instant::now();
            counted += render_up(graphs, sched.finish(), &mut out)?;
            timed += t.elapsed();
        }
    }
    Ok((timed, counted))
}

fn say(o: &Options, msg: &str) {
    if !o.quiet {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{msg}");
    }
}

fn session_config(o: &Options) -> SessionConfig {
    SessionConfig { provider: o.provider, threads: o.threads as usize, colour: o.colour, ..Default::default() }
}

fn fps_of(frames: u64, time: Duration) -> Result<f64, String> {
    let secs = time.as_secs_f64();
    if frames == 0 || secs <= 0.0 {
        return Err(format!("no frame was timed ({frames} frames in {secs} s): use more --frames"));
    }
    Ok(frames as f64 / secs)
}

/// The engine alone: load the graphs (timed as the start), one warm-up run, `runs` timed runs.
fn measure_engine(side: Side, o: &Options, rt: &model::Runtime, warnings: &mut Vec<String>) -> Result<(Figure, String), String> {
    let watch = MemoryWatch::start(o);
    let g = geometry(side, o);
    let config = session_config(o);
    let err = |e: model::ModelError| format!("{} graphs: {e}", side.element());
    let t = Instant::now();
    let (mut graphs, choice, kind) = match side {
        Side::Down => {
            let (graph, choice) = DownGraph::load(rt, &o.models, &config).map_err(err)?;
            let kind = graph.kind().to_string();
            (Graphs::Down(graph), choice, kind)
        }
        Side::Up => {
            let (graphs, choice) = UpGraphs::load(rt, &o.models, &config).map_err(err)?;
            let kind = graphs.kind().to_string();
            (Graphs::Up(graphs), choice, kind)
        }
    };
    let load = t.elapsed();
    for f in &choice.fallbacks {
        warnings.push(format!("{} engine: fell back from a GPU provider: {f}", side.element()));
    }
    say(o, &format!("{} engine: graphs loaded in {:.0} ms on {}; warm-up run", side.element(), ms(load), choice.name));
    engine_run(&mut graphs, &g, WARMUP_FRAMES.min(o.frames), o.global_motion, o.local_motion).map_err(|e| format!("{} engine: {e}", side.element()))?;
    let mut values = Vec::new();
    let mut frames = 0;
    for run in 1..=o.runs {
        let (time, n) = engine_run(&mut graphs, &g, o.frames, o.global_motion, o.local_motion).map_err(|e| format!("{} engine: {e}", side.element()))?;
        let fps = fps_of(n, time)?;
        say(o, &format!("{} engine: run {run}/{}: {n} frames in {:.2} s = {} fps", side.element(), o.runs, time.as_secs_f64(), fmt_fps(fps)));
        values.push(fps);
        frames = n;
    }
    drop(graphs);
    let fps = Stats::of(&values).ok_or("frame rates are not finite")?;
    let memory = watch.finish(choice.name == "CPU");
    Ok((
        Figure { side, path: "engine", fps, frames, start: load, first_start: None, provider: choice.name.to_string(), memory },
        kind,
    ))
}

/// What one pipeline run through an element gave.
struct ElementRun {
    /// NULL -> PAUSED: the element loads its graphs, the sink prerolls the first output.
    start: Duration,
    /// PLAYING -> EOS.
    elapsed: Duration,
    /// Frames whose work fell between PLAYING and EOS.
    counted: u64,
    provider: Option<String>,
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory).build().map_err(|e| format!("cannot create {factory}: {e} (is the GStreamer plugin that has it installed?)"))
}

fn i420_caps(w: usize, h: usize, fps: i32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(fps, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// "(CPU execution provider, ...)" in the elements' INFO message -> "CPU".
pub fn provider_of(text: &str) -> Option<String> {
    let end = text.find(" execution provider")?;
    let start = text[..end].rfind('(')? + 1;
    Some(text[start..end].to_string())
}

/// Pops bus messages until one of `until` (or an error) arrives; records the provider
/// and warnings on the way.
fn wait_for(
    bus: &gst::Bus,
    until: gst::MessageType,
    deadline: Instant,
    provider: &mut Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    use gst::MessageType as T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no {until:?} after {} s: the pipeline looks stuck", RUN_TIMEOUT.as_secs()));
        }
        let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_nseconds(left.as_nanos() as u64), &[until, T::Error, T::Warning, T::Info])
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(_) => return Err(crate::eval::pipelines::error_text(&msg)),
            gst::MessageView::Warning(_) => {
                let w = crate::eval::pipelines::error_text(&msg);
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            gst::MessageView::Info(i) => {
                if let Some(p) = provider_of(&i.error().to_string()) {
                    *provider = Some(p);
                }
            }
            _ if msg.type_() == until => return Ok(()),
            _ => {}
        }
    }
}

/// `videotestsrc ! caps ! imsm ! caps ! fakesink sync=false`, `frames` counted frames.
fn element_run(side: Side, o: &Options, frames: usize, warnings: &mut Vec<String>) -> Result<ElementRun, String> {
    let g = geometry(side, o);
    let n_in = input_frames(side, frames);
    let src = make("videotestsrc")?;
    // imsmdown's work does not depend on the pictures, and `ball` is expensive to draw:
    // on the H100 machine videotestsrc alone made 67 frames/s of 1080p `ball`, which
    // capped the element figure. `blink` (whole frames alternating black and white) costs
    // a fill. imsmup keeps `ball`: its motion measurement needs moving content.
    src.set_property_from_str("pattern", if side == Side::Down { "blink" } else { "ball" });
    src.set_property("num-buffers", i32::try_from(n_in).map_err(|_| "too many frames")?);
    let caps_in = make("capsfilter")?;
    caps_in.set_property("caps", i420_caps(g.in_w, g.in_h, g.in_fps));
    let imsm = make(side.element())?;
    imsm.set_property_from_str("provider", o.provider.name());
    imsm.set_property_from_str("overlap", &o.overlap);
    if side == Side::Up {
        imsm.set_property("global-motion", o.global_motion);
        imsm.set_property("local-motion", o.local_motion);
    }
    imsm.set_property_from_str(
        "colour-conversion",
        match o.colour {
            ColourMode::Auto => "auto",
            ColourMode::Host => "host",
            ColourMode::Graphs => "graphs",
        },
    );
    imsm.set_property("threads", o.threads);
    imsm.set_property("model-dir", o.models.display().to_string());
    let caps_out = make("capsfilter")?;
    let want = i420_caps(g.out_w, g.out_h, g.out_fps);
    caps_out.set_property("caps", &want);
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    let pipeline = gst::Pipeline::new();
    let chain = [&src, &caps_in, &imsm, &caps_out, &sink];
    pipeline.add_many(chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(chain).map_err(|e| format!("linking the pipeline: {e}"))?;

    let counter = |pad: gst::Pad| {
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
        count
    };
    let inputs = counter(imsm.static_pad("sink").expect("imsm has a sink pad"));
    let sink_pad = sink.static_pad("sink").expect("fakesink has a sink pad");
    let outputs = counter(sink_pad.clone());

    let bus = pipeline.bus().expect("a pipeline has a bus");
    let mut provider = None;
    let result = (|| {
        let deadline = Instant::now() + RUN_TIMEOUT;
        let t = Instant::now();
        match pipeline.set_state(gst::State::Paused) {
            Ok(gst::StateChangeSuccess::Async) => {
                wait_for(&bus, gst::MessageType::AsyncDone, deadline, &mut provider, warnings)?;
            }
            Ok(_) => {}
            Err(_) => {
                // The element posted why on the bus.
                let why = bus
                    .pop_filtered(&[gst::MessageType::Error])
                    .map(|m| crate::eval::pipelines::error_text(&m))
                    .unwrap_or_else(|| "the pipeline did not start".into());
                return Err(why);
            }
        }
        let start = t.elapsed();
        // The sink now blocks on its preroll frame: what has been done so far is not timed.
        let in0 = inputs.load(Ordering::SeqCst);
        let t = Instant::now();
        pipeline.set_state(gst::State::Playing).map_err(|_| "the pipeline did not go to PLAYING".to_string())?;
        wait_for(&bus, gst::MessageType::Eos, deadline, &mut provider, warnings)?;
        let elapsed = t.elapsed();
        let counted = match side {
            Side::Down => inputs.load(Ordering::SeqCst) - in0,
            Side::Up => outputs.load(Ordering::SeqCst).saturating_sub(up_outputs_rendered(in0)),
        };
        if let Some(caps) = sink_pad.current_caps() {
            if !caps.can_intersect(&want) {
                return Err(format!("{} negotiated {caps}, not the {want} asked for", side.element()));
            }
        }
        Ok(ElementRun { start, elapsed, counted, provider: provider.clone() })
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result.map_err(|e| format!("{} pipeline: {e}", side.element()))
}

/// Through the elements: a warm-up pipeline (its NULL -> PAUSED is the first start),
/// then `runs` timed pipelines.
fn measure_elements(side: Side, o: &Options, warnings: &mut Vec<String>) -> Result<Figure, String> {
    let watch = MemoryWatch::start(o);
    say(o, &format!("{} elements: warm-up pipeline", side.element()));
    let warm = element_run(side, o, WARMUP_FRAMES.min(o.frames), warnings)?;
    let mut values = Vec::new();
    let mut starts = Vec::new();
    let mut frames = 0;
    let mut provider = warm.provider.clone();
    for run in 1..=o.runs {
        let r = element_run(side, o, o.frames, warnings)?;
        let fps = fps_of(r.counted, r.elapsed)?;
        say(
            o,
            &format!(
                "{} elements: run {run}/{}: NULL->PAUSED {:.0} ms, {} frames in {:.2} s = {} fps",
                side.element(),
                o.runs,
                ms(r.start),
                r.counted,
                r.elapsed.as_secs_f64(),
                fmt_fps(fps)
            ),
        );
        values.push(fps);
        starts.push(r.start.as_secs_f64());
        frames = r.counted;
        provider = r.provider.or(provider);
    }
    let fps = Stats::of(&values).ok_or("frame rates are not finite")?;
    let start = Duration::from_secs_f64(Stats::of(&starts).map_or(0.0, |s| s.median));
    let provider = provider.unwrap_or_else(|| "unknown (no INFO message from the element)".into());
    let memory = watch.finish(provider == "CPU");
    Ok(Figure { side, path: "elements", fps, frames, start, first_start: Some(warm.start), provider, memory })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// 3 significant figures at most, never in exponent form.
pub fn fmt_fps(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn size_rate(w: usize, h: usize, fps: i32) -> String {
    format!("{w}x{h}@{fps}")
}

/// One line of the report for a figure.
pub fn figure_line(f: &Figure) -> String {
    let start = match f.first_start {
        None => format!("graph load {:.0} ms", ms(f.start)),
        Some(first) => format!("NULL->PAUSED {:.0} ms (first pipeline {:.0} ms)", ms(f.start), ms(first)),
    };
    format!(
        "  {:<8}  {:>7} fps (min {}, max {}), {} frames/run; {}; {}; provider {}",
        f.path,
        fmt_fps(f.fps.median),
        fmt_fps(f.fps.min),
        fmt_fps(f.fps.max),
        f.frames,
        start,
        f.memory,
        f.provider
    )
}

/// Runs everything `o` asks for, printing to `out` as it goes.
pub fn bench(o: &Options, out: &mut dyn Write) -> Result<Report, String> {
    let mut warnings = Vec::new();
    let p = |out: &mut dyn Write, line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    for note in &o.notes {
        p(out, format!("note: {note}"));
    }
    crate::eval::pipelines::register_elements()?;
    let t = Instant::now();
    let rt = model::runtime(None).map_err(|e| e.to_string())?;
    let rt_load = t.elapsed();
    let runtime = format!("ONNX Runtime {} ({})", rt.version(), rt.library().display());
    let machine = machine_line();
    p(out, format!("imsm-bench {}: {} timed runs of {} frames each (after a warm-up run of {}), threads {}",
        env!("CARGO_PKG_VERSION"), o.runs, o.frames, WARMUP_FRAMES.min(o.frames),
        if o.threads == 0 { "0 (ONNX Runtime decides)".to_string() } else { o.threads.to_string() }));
    p(out, format!("machine: {machine}"));
    p(out, format!("runtime: {runtime}, library load {:.0} ms", ms(rt_load)));
    p(out, format!("graphs: {}; provider requested: {}; imsmup global-motion {}, local-motion {}", o.models.display(), o.provider,
        if o.global_motion { "on" } else { "off" }, if o.local_motion { "on" } else { "off" }));
    let mut figures = Vec::new();
    for &side in o.element.sides() {
        let g = geometry(side, o);
        let (engine, kind) = measure_engine(side, o, &rt, &mut warnings)?;
        let what = match side {
            Side::Down => "input frames/s",
            Side::Up => "output frames/s",
        };
        p(out, format!("{} {} -> {} ({kind} graphs), {what}:", side.element(),
            size_rate(g.in_w, g.in_h, g.in_fps), size_rate(g.out_w, g.out_h, g.out_fps)));
        p(out, figure_line(&engine));
        figures.push(engine);
        let elements = measure_elements(side, o, &mut warnings)?;
        p(out, figure_line(&elements));
        figures.push(elements);
    }
    let mut used: Vec<&str> = figures.iter().map(|f| f.provider.as_str()).collect();
    used.dedup();
    p(out, format!("machine: {machine}; provider used: {} (requested {})", used.join(", "), o.provider));
    if figures.iter().any(|f| f.memory == Memory::NotMeasured) {
        p(out, "memory: device memory of GPU providers is not measured (NVML, libnvidia-ml.so.1, not found)".into());
    }
    for w in &warnings {
        p(out, format!("warning: {w}"));
    }
    Ok(Report { machine, runtime, figures, warnings })
}

/// The whole command; returns the exit code.
pub fn main_with_args(args: &[String]) -> i32 {
    let o = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("imsm-bench: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match bench(&o, &mut std::io::stdout()) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("imsm-bench: error: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(s: &str) -> Result<Options, String> {
        parse_args(&args(s)).map(|o| o.expect("not --help"))
    }

    #[test]
    fn sizes_are_even_or_rounded_down_with_a_note() {
        assert_eq!(parse_size("1920x1080").unwrap(), ((1920, 1080), None));
        assert_eq!(parse_size("640X360").unwrap(), ((640, 360), None));
        assert_eq!(parse_size("2x2").unwrap(), ((2, 2), None));
        let ((w, h), note) = parse_size("641x359").unwrap();
        assert_eq!((w, h), (640, 358));
        let note = note.expect("odd sizes are noted");
        assert!(note.contains("641x359") && note.contains("640x358") && note.contains("320x179"), "{note}");
        assert_eq!(parse_size("1921x1080").unwrap().0, (1920, 1080));
        for bad in ["", "1920", "1920x", "x1080", "axb", "-2x4", "1x1", "3x1", "0x0", "20000x10", "1920x1080x3"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arguments() {
        let o = parse("--provider cpu --size 1920x1080").unwrap();
        assert_eq!(o.provider, Provider::Cpu);
        assert_eq!((o.width, o.height), (1920, 1080));
        assert_eq!(o.element, ElementChoice::Both);
        assert_eq!((o.frames, o.runs, o.threads), (60, 3, 0));
        assert!(o.notes.is_empty());

        let o = parse("--provider=tensorrt --size=641x361 --element up --frames 8 --threads 2 --runs 5 --models /m").unwrap();
        assert_eq!(o.provider, Provider::TensorRt);
        assert_eq!((o.width, o.height), (640, 360));
        assert_eq!(o.notes.len(), 1);
        assert_eq!(o.element, ElementChoice::Up);
        assert_eq!((o.frames, o.runs, o.threads), (8, 5, 2));
        assert_eq!(o.models, PathBuf::from("/m"));

        assert!(o.global_motion);
        assert!(!parse("--provider cpu --size 64x48 --global-motion off").unwrap().global_motion);
        assert!(o.local_motion);
        assert!(!parse("--provider cpu --size 64x48 --local-motion off").unwrap().local_motion);
        assert_eq!(parse("--provider cuda --size 64x48 --element down").unwrap().element, ElementChoice::Down);
        assert_eq!(parse("--provider auto --size 64x48 --element both").unwrap().provider, Provider::Auto);
        assert_eq!(parse_element("imsmup").unwrap(), ElementChoice::Up);
        assert_eq!(ElementChoice::Both.sides(), [Side::Down, Side::Up]);
        assert!(parse_args(&args("--help")).unwrap().is_none());
        assert!(parse_args(&args("--size 2x2 -h")).unwrap().is_none());

        for bad in [
            "",
            "--size 64x48",
            "--provider cpu",
            "--provider gpu --size 64x48",
            "--provider cpu --size 64x48 --element sideways",
            "--provider cpu --size 64x48 --frames 7",
            "--provider cpu --size 64x48 --frames x",
            "--provider cpu --size 64x48 --runs 0",
            "--provider cpu --size 64x48 --threads 257",
            "--provider cpu --size 1x1",
            "--provider cpu --size 64x48 --bogus",
            "--provider cpu --size 64x48 stray",
            "--provider cpu --size",
            "--provider cpu --size 64x48 --global-motion maybe",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statistics() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(s, Stats { median: 2.0, min: 1.0, max: 3.0 });
        let s = Stats::of(&[4.0, 1.0, 3.0, 10.0]).unwrap();
        assert_eq!(s, Stats { median: 3.5, min: 1.0, max: 10.0 });
        assert_eq!(Stats::of(&[7.5]).unwrap(), Stats { median: 7.5, min: 7.5, max: 7.5 });
        assert_eq!(Stats::of(&[]), None);
        assert_eq!(Stats::of(&[1.0, f64::NAN]), None);
        assert_eq!(Stats::of(&[1.0, f64::INFINITY]), None);
        assert!(fps_of(0, Duration::from_secs(1)).is_err());
        assert_eq!(fps_of(30, Duration::from_millis(500)).unwrap(), 60.0);
        assert_eq!(fmt_fps(1234.4), "1234");
        assert_eq!(fmt_fps(12.345), "12.3");
        assert_eq!(fmt_fps(1.2345), "1.23");
    }

    #[test]
    fn frame_accounting() {
        assert_eq!(input_frames(Side::Down, 9), 9);
        assert_eq!(input_frames(Side::Up, 9), 5);
        // 30 -> 60: frame k makes outputs 2k-2 and 2k-1 ready (the instant needs the frame after it).
        assert_eq!(up_outputs_rendered(0), 0);
        assert_eq!(up_outputs_rendered(1), 0);
        assert_eq!(up_outputs_rendered(2), 2);
        assert_eq!(up_outputs_rendered(5), 8);
        assert_eq!(provider_of("running reference graphs from /m on ONNX Runtime 1.31.1 (CPU execution provider, /x.so)"), Some("CPU".into()));
        assert_eq!(provider_of("something else"), None);
        let kib = peak_rss_kib().expect("VmHWM in /proc/self/status");
        assert!(kib > 0);
        assert!(machine_line().contains(std::env::consts::ARCH));
    }

    /// The whole command at a tiny size: four positive, finite frame rates.
    #[test]
    fn end_to_end_tiny() {
        let mut o = parse("--size 64x48 --frames 8 --runs 1 --element both --provider cpu").unwrap();
        o.quiet = true;
        let mut out = Vec::new();
        let report = bench(&o, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let got: Vec<(Side, &str)> = report.figures.iter().map(|f| (f.side, f.path)).collect();
        assert_eq!(got, [(Side::Down, "engine"), (Side::Down, "elements"), (Side::Up, "engine"), (Side::Up, "elements")]);
        for f in &report.figures {
            for v in [f.fps.median, f.fps.min, f.fps.max] {
                assert!(v.is_finite() && v > 0.0, "{f:?}");
            }
            assert!(f.frames > 0, "{f:?}");
            assert_eq!(f.provider, "CPU", "{f:?}");
            assert!(matches!(f.memory, Memory::Rss { kib, .. } if kib > 0), "{f:?}");
        }
        // Down counts input frames (all 8 in the engine), up output frames (2 per received frame).
        assert_eq!(report.figures[0].frames, 8);
        assert_eq!(report.figures[2].frames, 8);
        assert!(report.figures[3].first_start.is_some());
        assert!(text.contains("imsmdown 64x48@60 -> 32x24@30"), "{text}");
        assert!(text.contains("imsmup 32x24@30 -> 64x48@60"), "{text}");
        assert!(text.contains("provider used: CPU"), "{text}");
    }

    /// A GPU provider that cannot start is an error, not a panic (on a GPU runtime it runs).
    #[test]
    fn memory_figures_say_what_they_are() {
        assert_eq!(Memory::Rss { kib: 2048, since_reset: true }.to_string(), "peak RSS 2.0 MiB");
        let d = Memory::Device { before_mib: 512.0, peak_mib: 2600.4 }.to_string();
        assert_eq!(d, "peak device memory 2600 MiB (whole GPU, NVML; 512 MiB in use before)");
        assert!(Memory::NotMeasured.to_string().contains("n/a"));
    }

    #[test]
    fn unavailable_provider_is_an_error() {
        let mut o = parse("--size 64x48 --frames 8 --runs 1 --element down --provider cuda").unwrap();
        o.quiet = true;
        match bench(&o, &mut Vec::new()) {
            Err(e) => assert!(e.contains("CUDA"), "{e}"),
            Ok(r) => assert!(
                r.figures
                    .iter()
                    .all(|f| f.provider == "CUDA" && matches!(f.memory, Memory::Device { .. } | Memory::NotMeasured)),
                "{r:?}"
            ),
        }
    }
}
