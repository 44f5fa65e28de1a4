//! The GStreamer (and ffmpeg) runs behind imsm-eval. Everything stays in memory: a
//! stage takes a [`Stream`] (buffers with their caps) and returns one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::{VideoFormat, VideoInfo};

use super::settings::{key_int_max, Channel, SOURCE_FPS};
use crate::engine::color::{self, Colorimetry, FrameLayout, PixelFormat};
use crate::engine::RgbFrame;

/// Video buffers of one caps, in presentation order.
#[derive(Clone, Debug)]
pub struct Stream {
    pub caps: gst::Caps,
    pub buffers: Vec<gst::Buffer>,
}

impl Stream {
    pub fn info(&self) -> Result<VideoInfo, String> {
        VideoInfo::from_caps(&self.caps).map_err(|_| format!("not raw video caps: {}", self.caps))
    }

    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }

    /// Frame rate as (num, den).
    pub fn rate(&self) -> Result<(i32, i32), String> {
        let fps = self.info()?.fps();
        Ok((fps.numer(), fps.denom()))
    }
}

/// A decoded clip: its first frames as packed RGB, and as a 60 fps stream to feed.
pub struct Source {
    pub width: usize,
    pub height: usize,
    /// Packed RGB, `width * height * 3` bytes each; frame n is instant n / 60 s.
    pub frames: Vec<Vec<u8>>,
    /// The frames as a 60 fps RGB stream (what imsmdown takes).
    pub stream: Stream,
    /// The frames as a 60 fps I420 stream (what the other methods take), with the
    /// colorimetry [`colorimetry_for`] the clip's size.
    pub i420: Stream,
    /// What the decoder delivered (caps before conversion), for the report.
    pub decoded: String,
    /// Set when the clip's size was odd and got cropped.
    pub cropped_from: Option<(usize, usize)>,
}

/// What a pipeline run produced besides its output.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Bytes that left the element named `enc`, if the pipeline has one.
    pub encoded_bytes: u64,
    /// Execution providers the imsm elements reported ("CPU", "CUDA", ...).
    pub providers: Vec<String>,
    /// Warnings posted on the bus.
    pub warnings: Vec<String>,
}

/// Time a pipeline over `frames` frames of `pixels` pixels may go without giving a new
/// output frame before it is declared stuck. A stall window, not a budget for the whole
/// run: the trained `full` graphs take more than this for 24 frames at 1080p on two CPU
/// cores, and a slow run is not a stuck one.
pub fn timeout_for(frames: usize, pixels: usize) -> Duration {
    let megapixels = (pixels as f64 / 1e6).max(0.1);
    Duration::from_secs_f64(60.0 + frames as f64 * 3.0 * megapixels.max(1.0))
}

/// An empty buffer the size of one `info` frame, stamped as frame `n` of `rate`.
fn timed_buffer(info: &VideoInfo, n: u64, rate: (i32, i32)) -> Result<gst::Buffer, String> {
    let mut buffer = gst::Buffer::with_size(info.size()).map_err(|e| e.to_string())?;
    let b = buffer.get_mut().unwrap();
    let (pts, next) = (frame_pts(n, rate), frame_pts(n + 1, rate));
    b.set_pts(gst::ClockTime::from_nseconds(pts));
    b.set_duration(gst::ClockTime::from_nseconds(next - pts));
    b.set_offset(n);
    b.set_offset_end(n + 1);
    Ok(buffer)
}

fn frame_pts(n: u64, rate: (i32, i32)) -> u64 {
    crate::engine::time::mul_div_floor(n, crate::engine::time::NSECONDS_PER_SECOND * rate.1 as u64, rate.0 as u64)
}

/// Index on the grid of `rate` of a timestamp: the nearest frame instant.
pub fn grid_index(pts_ns: u64, rate: (i32, i32)) -> u64 {
    let num = pts_ns as u128 * rate.0 as u128;
    let den = 1_000_000_000u128 * rate.1 as u128;
    ((num + den / 2) / den) as u64
}

/// Packs `width` x `height` RGB frames into 60 fps buffers with exact timestamps.
pub fn rgb_stream(frames: &[Vec<u8>], width: usize, height: usize) -> Result<Stream, String> {
    let rate = (SOURCE_FPS as i32, 1);
    let info = VideoInfo::builder(VideoFormat::Rgb, width as u32, height as u32)
        .fps(gst::Fraction::new(rate.0, rate.1))
        .build()
        .map_err(|e| e.to_string())?;
    let mut buffers = Vec::with_capacity(frames.len());
    for (n, rgb) in frames.iter().enumerate() {
        let mut buffer = timed_buffer(&info, n as u64, rate)?;
        {
            let b = buffer.get_mut().unwrap();
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).map_err(|e| e.to_string())?;
            let stride = frame.plane_stride()[0] as usize;
            let data = frame.plane_data_mut(0).map_err(|e| e.to_string())?;
            for y in 0..height {
                data[y * stride..y * stride + width * 3].copy_from_slice(&rgb[y * width * 3..(y + 1) * width * 3]);
            }
        }
        buffers.push(buffer);
    }
    Ok(Stream { caps: info.to_caps().map_err(|e| e.to_string())?, buffers })
}

/// Packed RGB of one RGB buffer, cropped to `width` x `height` from the top left.
fn packed_rgb(buffer: &gst::BufferRef, info: &VideoInfo, width: usize, height: usize) -> Result<Vec<u8>, String> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|_| "could not map an RGB frame".to_string())?;
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        out.extend_from_slice(&data[y * stride..y * stride + width * 3]);
    }
    Ok(out)
}

/// Y'CbCr matrix of the I420 streams made for a source `height` rows high: BT.709 from
/// 720 rows up, BT.601 below (GStreamer's and the imsm elements' default guess), limited
/// range. Written into every I420 caps, so all stages agree.
pub fn colorimetry_for(height: usize) -> &'static str {
    if height >= 720 { "bt709" } else { "bt601" }
}

/// Packed RGB of one frame. YUV is converted with the engine's colour code (exact
/// BT.601/709 matrices in float, rounded to nearest, bilinear chroma upsampling), not
/// with videoconvert, whose 8-bit RGB <-> YUV paths are biased (an RGB -> I420 -> RGB
/// round trip comes back about 3.5 code values too dark), which would cap every method
/// at about 38 dB on ordinary footage.
fn frame_to_rgb(buffer: &gst::BufferRef, info: &VideoInfo, fallback: Option<&gst_video::VideoConverter>) -> Result<Vec<u8>, String> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).map_err(|_| "could not map a frame".to_string())?;
    if let Some((layout, colorimetry)) = crate::element::engine_layout(info, frame.plane_stride()).ok() {
        if layout.format == PixelFormat::Rgb {
            drop(frame);
            return packed_rgb(buffer, info, w, h);
        }
        let planes: Vec<&[u8]> = (0..layout.format.n_planes() as u32)
            .map(|p| frame.plane_data(p).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let mut rgb = RgbFrame::new(w, h);
        color::to_rgb(&layout, colorimetry, &planes, &mut rgb).map_err(|e| e.to_string())?;
        let mut out = vec![0u8; w * h * 3];
        color::from_rgb(&rgb, &FrameLayout::packed(PixelFormat::Rgb, w, h), Colorimetry::RGB, &mut [&mut out[..]])
            .map_err(|e| e.to_string())?;
        return Ok(out);
    }
    let conv = fallback.ok_or_else(|| format!("no conversion from {:?}", info.format()))?;
    let rgb_info = VideoInfo::builder(VideoFormat::Rgb, w as u32, h as u32).fps(info.fps()).build().map_err(|e| e.to_string())?;
    let mut dest = gst::Buffer::with_size(rgb_info.size()).map_err(|e| e.to_string())?;
    {
        let d = dest.get_mut().unwrap();
        let mut dframe = gst_video::VideoFrameRef::from_buffer_ref_writable(d, &rgb_info).map_err(|_| "could not map an RGB frame".to_string())?;
        conv.frame_ref(&frame, &mut dframe);
    }
    packed_rgb(dest.as_ref(), &rgb_info, w, h)
}

/// Converts every frame of `stream` to packed RGB of its own size (see
/// `frame_to_rgb`) and indexes it on the grid of `grid` fps by its timestamp (by
/// position when it has none). Later frames on a taken index are dropped.
pub fn to_rgb_frames(stream: &Stream, grid: (i32, i32)) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let info = stream.info()?;
    let fallback = if crate::element::engine_layout(&info, info.stride()).is_ok() {
        None
    } else {
        let rgb_info = VideoInfo::builder(VideoFormat::Rgb, info.width(), info.height()).fps(info.fps()).build().map_err(|e| e.to_string())?;
        Some(gst_video::VideoConverter::new(&info, &rgb_info, None).map_err(|e| format!("no converter from {}: {e}", stream.caps))?)
    };
    let mut out: Vec<(u64, Vec<u8>)> = Vec::with_capacity(stream.len());
    let mut taken = std::collections::HashSet::new();
    for (pos, buffer) in stream.buffers.iter().enumerate() {
        let index = buffer.pts().map(|t| grid_index(t.nseconds(), grid)).unwrap_or(pos as u64);
        if !taken.insert(index) {
            continue;
        }
        out.push((index, frame_to_rgb(buffer, &info, fallback.as_ref())?));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

/// Packs `width` x `height` RGB frames into 60 fps I420 buffers of `colorimetry`
/// (e.g. "bt601"), converted with the engine's colour code (see `frame_to_rgb`).
pub fn i420_stream(frames: &[Vec<u8>], width: usize, height: usize, colorimetry: &str) -> Result<Stream, String> {
    let rate = (SOURCE_FPS as i32, 1);
    let c: gst_video::VideoColorimetry = colorimetry.parse().map_err(|_| format!("bad colorimetry {colorimetry}"))?;
    let info = VideoInfo::builder(VideoFormat::I420, width as u32, height as u32)
        .fps(gst::Fraction::new(rate.0, rate.1))
        .colorimetry(&c)
        .build()
        .map_err(|e| e.to_string())?;
    let mut buffers = Vec::with_capacity(frames.len());
    for (n, rgb) in frames.iter().enumerate() {
        let mut planar = RgbFrame::new(width, height);
        color::to_rgb(&FrameLayout::packed(PixelFormat::Rgb, width, height), Colorimetry::RGB, &[rgb], &mut planar)
            .map_err(|e| e.to_string())?;
        let mut buffer = timed_buffer(&info, n as u64, rate)?;
        {
            let b = buffer.get_mut().unwrap();
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).map_err(|e| e.to_string())?;
            let (layout, colorimetry) = crate::element::engine_layout(&info, frame.plane_stride()).expect("I420 is an engine format");
            let mut planes: Vec<&mut [u8]> = frame.planes_data_mut().into_iter().take(3).collect();
            color::from_rgb(&planar, &layout, colorimetry, &mut planes).map_err(|e| e.to_string())?;
        }
        buffers.push(buffer);
    }
    Ok(Stream { caps: info.to_caps().map_err(|e| e.to_string())?, buffers })
}

/// The planes of an I420 buffer, tightly packed (Y, U, V).
fn i420_planes(buffer: &gst::BufferRef, info: &VideoInfo) -> Result<Vec<u8>, String> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|_| "could not map an I420 frame".to_string())?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let mut out = Vec::with_capacity(w * h * 3 / 2 + w + h);
    for p in 0..3u32 {
        let (pw, ph) = if p == 0 { (w, h) } else { (w.div_ceil(2), h.div_ceil(2)) };
        let stride = frame.plane_stride()[p as usize] as usize;
        let data = frame.plane_data(p).map_err(|e| e.to_string())?;
        for y in 0..ph {
            out.extend_from_slice(&data[y * stride..y * stride + pw]);
        }
    }
    Ok(out)
}

/// Makes I420 buffers of `info` from tightly packed planes.
fn i420_buffer(planes: &[u8], info: &VideoInfo) -> Result<gst::Buffer, String> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    let mut buffer = gst::Buffer::with_size(info.size()).map_err(|e| e.to_string())?;
    {
        let b = buffer.get_mut().unwrap();
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, info).map_err(|e| e.to_string())?;
        let mut offset = 0;
        for p in 0..3u32 {
            let (pw, ph) = if p == 0 { (w, h) } else { (w.div_ceil(2), h.div_ceil(2)) };
            let stride = frame.plane_stride()[p as usize] as usize;
            let data = frame.plane_data_mut(p).map_err(|e| e.to_string())?;
            for y in 0..ph {
                data[y * stride..y * stride + pw].copy_from_slice(&planes[offset..offset + pw]);
                offset += pw;
            }
        }
    }
    Ok(buffer)
}

/// "element path: message (debug)" for an error or warning from a pipeline's bus.
pub(crate) fn error_text(msg: &gst::Message) -> String {
    let source = msg.src().map(|s| s.path_string().to_string()).unwrap_or_else(|| "pipeline".into());
    match msg.view() {
        gst::MessageView::Error(e) => {
            let debug = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("{source}: {}{debug}", e.error())
        }
        gst::MessageView::Warning(w) => format!("{source}: {}", w.error()),
        _ => format!("{source}: unexpected message"),
    }
}

/// "(CPU execution provider, ...)" in the imsm elements' info message -> "CPU".
fn provider_of(text: &str) -> Option<String> {
    let end = text.find(" execution provider")?;
    let start = text[..end].rfind('(')? + 1;
    Some(text[start..end].to_string())
}

/// Waits for EOS or an error, or until `done` says enough; fails when `progress` (frames
/// out so far) has not grown for `timeout`.
fn wait(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    info: &mut RunInfo,
    progress: &dyn Fn() -> usize,
    done: &dyn Fn() -> bool,
) -> Result<(), String> {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let mut deadline = Instant::now() + timeout;
    let mut seen = progress();
    use gst::MessageType as T;
    loop {
        let now = Instant::now();
        let frames = progress();
        if frames != seen {
            seen = frames;
            deadline = now + timeout;
        }
        if now >= deadline {
            return Err(format!(
                "no new frame for {} s (after {frames} frames out): the pipeline looks stuck",
                timeout.as_secs()
            ));
        }
        let step = (deadline - now).min(Duration::from_millis(50));
        let msg = bus.timed_pop_filtered(gst::ClockTime::from_nseconds(step.as_nanos() as u64), &[T::Eos, T::Error, T::Warning, T::Info]);
        match msg {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(_) => return Err(error_text(&msg)),
                gst::MessageView::Warning(_) => info.warnings.push(error_text(&msg)),
                gst::MessageView::Info(i) => {
                    if let Some(p) = provider_of(&i.error().to_string()) {
                        if !info.providers.contains(&p) {
                            info.providers.push(p);
                        }
                    }
                }
                _ => {}
            },
            None => {
                if done() {
                    return Ok(());
                }
            }
        }
    }
}

/// Sets `pipeline` playing; on failure returns the error the bus holds.
fn start(pipeline: &gst::Pipeline) -> Result<(), String> {
    if pipeline.set_state(gst::State::Playing).is_ok() {
        return Ok(());
    }
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error]);
    let _ = pipeline.set_state(gst::State::Null);
    Err(msg.map(|m| error_text(&m)).unwrap_or_else(|| "the pipeline failed to start".into()))
}

/// Decodes the first `max_frames` frames of `path` to RGB (any file decodebin reads).
pub fn decode_clip(path: &Path, max_frames: usize) -> Result<Source, String> {
    if !path.exists() {
        return Err("no such file".into());
    }
    if !path.is_file() {
        return Err("not a regular file".into());
    }
    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(|_| format!("GStreamer element {factory} is not installed"));
    let filesrc = make("filesrc")?;
    filesrc.set_property("location", path.to_string_lossy().to_string());
    let decodebin = make("decodebin")?;
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder()
        .caps(&gst_video::VideoCapsBuilder::new().format(VideoFormat::Rgb).build())
        .sync(false)
        .build();
    pipeline.add_many([&filesrc, &decodebin, &convert, sink.upcast_ref()]).map_err(|e| e.to_string())?;
    filesrc.link(&decodebin).map_err(|e| e.to_string())?;
    convert.link(&sink).map_err(|e| e.to_string())?;
    let decoded = Arc::new(Mutex::new(String::new()));
    {
        let pipeline_weak = pipeline.downgrade();
        let convert = convert.clone();
        let decoded = decoded.clone();
        decodebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/"));
            let sinkpad = convert.static_pad("sink").unwrap();
            if is_video && !sinkpad.is_linked() {
                *decoded.lock().unwrap() = caps.to_string();
                let _ = pad.link(&sinkpad);
            } else if let Ok(fakesink) = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build() {
                // Audio and further video streams: drained, not used.
                if pipeline.add(&fakesink).is_ok() {
                    let _ = fakesink.sync_state_with_parent();
                    let _ = pad.link(&fakesink.static_pad("sink").unwrap());
                }
            }
        });
    }
    struct Collected {
        frames: Vec<Vec<u8>>,
        size: Option<(usize, usize)>,
        full_size: Option<(usize, usize)>,
        error: Option<String>,
    }
    let collected = Arc::new(Mutex::new(Collected { frames: Vec::new(), size: None, full_size: None, error: None }));
    let count = Arc::new(AtomicUsize::new(0));
    {
        let collected = collected.clone();
        let count = count.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut c = collected.lock().unwrap();
                    if c.frames.len() >= max_frames || c.error.is_some() {
                        return Err(gst::FlowError::Eos);
                    }
                    let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else { return Ok(gst::FlowSuccess::Ok) };
                    let Ok(info) = VideoInfo::from_caps(caps) else {
                        c.error = Some(format!("undecodable caps {caps}"));
                        return Err(gst::FlowError::Error);
                    };
                    let (fw, fh) = (info.width() as usize, info.height() as usize);
                    let size = *c.size.get_or_insert((fw & !1, fh & !1));
                    c.full_size.get_or_insert((fw, fh));
                    if c.full_size != Some((fw, fh)) {
                        // The clip changes size: keep what came before.
                        count.store(usize::MAX, Ordering::SeqCst);
                        return Err(gst::FlowError::Eos);
                    }
                    match packed_rgb(buffer, &info, size.0, size.1) {
                        Ok(rgb) => c.frames.push(rgb),
                        Err(e) => {
                            c.error = Some(e);
                            return Err(gst::FlowError::Error);
                        }
                    }
                    count.store(c.frames.len(), Ordering::SeqCst);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let result = start(&pipeline).and_then(|_| {
        let mut info = RunInfo::default();
        let done = || count.load(Ordering::SeqCst) >= max_frames;
        let progress = || count.load(Ordering::SeqCst);
        wait(&pipeline, timeout_for(max_frames, 1920 * 1080), &mut info, &progress, &done)
    });
    let _ = pipeline.set_state(gst::State::Null);
    let c = std::mem::replace(&mut *collected.lock().unwrap(), Collected { frames: Vec::new(), size: None, full_size: None, error: None });
    if let Some(e) = c.error {
        return Err(e);
    }
    result?;
    let (Some((width, height)), Some(full)) = (c.size, c.full_size) else {
        return Err("no video frames decoded".into());
    };
    if width < 2 || height < 2 {
        return Err(format!("video is too small: {}x{}", full.0, full.1));
    }
    let stream = rgb_stream(&c.frames, width, height)?;
    let i420 = i420_stream(&c.frames, width, height, colorimetry_for(height))?;
    let decoded = decoded.lock().unwrap().clone();
    Ok(Source { width, height, frames: c.frames, stream, i420, decoded, cropped_from: (full != (width, height)).then_some(full) })
}

/// Runs `desc`, a gst-launch description with `appsrc name=src` fed from `input` and
/// `appsink name=sink` collected. An element named `enc` has the bytes leaving it counted.
/// More than `limit` output frames is an error (a pipeline gone wrong could otherwise
/// fill the memory), and so is `timeout` without a new output frame.
pub fn run(desc: &str, input: &Stream, timeout: Duration, limit: usize) -> Result<(Stream, RunInfo), String> {
    let pipeline = gst::parse::launch(desc)
        .map_err(|e| format!("bad pipeline '{desc}': {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| format!("'{desc}' is not a pipeline"))?;
    let appsrc = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or("pipeline has no appsrc named src")?;
    let appsink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("pipeline has no appsink named sink")?;
    appsrc.set_caps(Some(&input.caps));
    appsrc.set_format(gst::Format::Time);
    appsrc.set_max_bytes(64 << 20);
    appsrc.set_property("block", false);
    {
        let buffers = Arc::new(input.buffers.clone());
        let next = AtomicUsize::new(0);
        appsrc.set_callbacks(
            gst_app::AppSrcCallbacks::builder()
                .need_data(move |src, _| {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i < buffers.len() {
                        let _ = src.push_buffer(buffers[i].clone());
                    } else if i == buffers.len() {
                        let _ = src.end_of_stream();
                    }
                })
                .build(),
        );
    }
    appsink.set_sync(false);
    let out: Arc<Mutex<(Option<gst::Caps>, Vec<gst::Buffer>)>> = Arc::new(Mutex::new((None, Vec::new())));
    {
        let out = out.clone();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut o = out.lock().unwrap();
                    if let Some(caps) = sample.caps() {
                        if o.0.as_ref().is_some_and(|c| c != caps) && !o.1.is_empty() {
                            // A caps change mid-stream: not expected from these pipelines.
                            return Err(gst::FlowError::NotNegotiated);
                        }
                        o.0 = Some(caps.to_owned());
                    }
                    if let Some(mut buffer) = sample.buffer_owned() {
                        // Timestamps as running time: encoders may shift their segment
                        // (x264enc starts at 1000 hours to make room for B-frame DTS).
                        if let (Some(pts), Some(seg)) = (buffer.pts(), sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>())) {
                            if let Some(rt) = seg.to_running_time(pts) {
                                buffer.make_mut().set_pts(rt);
                            }
                        }
                        o.1.push(buffer);
                        if o.1.len() > limit {
                            return Err(gst::FlowError::Error);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let bytes = Arc::new(AtomicU64::new(0));
    if let Some(pad) = pipeline.by_name("enc").and_then(|e| e.static_pad("src")) {
        let bytes = bytes.clone();
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, probe| {
            let n = match &probe.data {
                Some(gst::PadProbeData::Buffer(b)) => b.size() as u64,
                Some(gst::PadProbeData::BufferList(l)) => l.calculate_size() as u64,
                _ => 0,
            };
            bytes.fetch_add(n, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    let mut info = RunInfo::default();
    let progress = || out.lock().unwrap().1.len();
    let result = start(&pipeline).and_then(|_| wait(&pipeline, timeout, &mut info, &progress, &|| false));
    let _ = pipeline.set_state(gst::State::Null);
    let produced = out.lock().unwrap().1.len();
    if produced > limit {
        return Err(format!("the pipeline produced more than {limit} frames from {} (timestamps gone wrong?)", input.len()));
    }
    result?;
    info.encoded_bytes = bytes.load(Ordering::Relaxed);
    let (caps, buffers) = std::mem::take(&mut *out.lock().unwrap());
    let caps = caps.ok_or_else(|| "the pipeline produced no frames".to_string())?;
    Ok((Stream { caps, buffers }, info))
}

/// Quotes a property value for a gst-launch description.
fn quoted(path: &Path) -> String {
    let s = path.to_string_lossy();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How the imsm elements are configured.
#[derive(Clone, Debug)]
pub struct ImsmConfig {
    /// Graphs run by default (`models/`).
    pub models: PathBuf,
    /// The bicubic + blend reference graphs (`models/reference/`).
    pub reference: PathBuf,
    /// ONNX Runtime intra-op threads.
    pub threads: u32,
    /// `provider` property value (auto, cpu, cuda, tensorrt).
    pub provider: String,
    /// imsmup's `global-motion`.
    pub global_motion: bool,
    /// imsmup's `local-motion`.
    pub local_motion: bool,
}

impl ImsmConfig {
    fn props(&self, dir: &Path) -> String {
        format!("model-dir={} threads={} provider={}", quoted(dir), self.threads, self.provider)
    }
}

/// I420 caps of `w` x `h` at `rate` with the colorimetry of `like`.
fn i420_caps(w: usize, h: usize, rate: (i32, i32), like: &Stream) -> String {
    let colorimetry = like.info().map(|i| i.colorimetry().to_string()).unwrap_or_else(|_| "bt601".into());
    format!("video/x-raw,format=I420,width={w},height={h},framerate={}/{},colorimetry={colorimetry}", rate.0, rate.1)
}

fn timeout_of(stream: &Stream, out_frames: usize) -> Duration {
    let pixels = stream.info().map(|i| (i.width() * i.height()) as usize).unwrap_or(1920 * 1080);
    timeout_for(stream.len().max(out_frames), pixels.max(1920 * 1080 / 4))
}

/// Most output frames a stage may give for `stream` resampled to `out_rate`.
fn limit_of(stream: &Stream, out_rate: (i32, i32)) -> usize {
    let in_rate = stream.rate().unwrap_or((1, 1));
    let ratio = (out_rate.0 as f64 * in_rate.1 as f64) / (out_rate.1 as f64 * in_rate.0 as f64);
    (stream.len() as f64 * ratio.max(1.0) * 2.0) as usize + 60
}

/// classic down: videoscale + videorate from the I420 source to I420 `w` x `h` at `rate`.
pub fn down_classic(source: &Stream, w: usize, h: usize, rate: (i32, i32)) -> Result<(Stream, RunInfo), String> {
    let desc = format!("appsrc name=src ! videoscale ! videorate ! {} ! appsink name=sink", i420_caps(w, h, rate, source));
    run(&desc, source, timeout_of(source, 0), limit_of(source, rate))
}

/// imsmdown with the graphs in `dir` from the RGB source to I420 `w` x `h` at `rate`
/// with the colorimetry of `like`, told the channel's quality (`channel-quality`).
#[allow(clippy::too_many_arguments)]
pub fn down_imsm(
    source: &Stream,
    like: &Stream,
    w: usize,
    h: usize,
    rate: (i32, i32),
    config: &ImsmConfig,
    dir: &Path,
    quality: f64,
) -> Result<(Stream, RunInfo), String> {
    let desc = format!(
        "appsrc name=src ! imsmdown {} channel-quality={quality} ! {} ! appsink name=sink",
        config.props(dir),
        i420_caps(w, h, rate, like)
    );
    run(&desc, source, timeout_of(source, 0), limit_of(source, rate))
}

/// Sends an I420 stream through `channel`; returns what comes out and the encoded bytes
/// (`None` for lossless).
pub fn channel(stream: &Stream, channel: Channel) -> Result<(Stream, Option<u64>), String> {
    match channel {
        Channel::Lossless => Ok((stream.clone(), None)),
        Channel::Crf(q) => encode_and_decode(
            stream,
            // vbv-buf-capacity=0: x264enc's pass=qual caps CRF with a VBV at its `bitrate`
            // (default 2048 kbit/s, 600 ms buffer): CRF 18 and 23 then gave the same size on a
            // 960x540 clip. Without a buffer x264 ignores the cap: plain CRF, as the training's
            // libx264 and a ladder encoding at a CRF. threads=1: with automatic frame threads
            // the same input gave streams up to 4 % apart from run to run; with one, 0.07 % at
            // most in the runs tried (gst-launch on the same frames: identical). x265enc's
            // defaults gave identical streams. Measured 2026-11-23.
            &format!("x264enc name=enc pass=qual quantizer={q} threads=1 vbv-buf-capacity=0"),
            "h264parse ! avdec_h264",
        ),
        // CRF through option-string: x265enc has no CRF property of its own.
        Channel::X265Crf(q) => encode_and_decode(stream, &format!("x265enc name=enc option-string=\"crf={q}\""), "h265parse ! avdec_h265"),
    }
}

/// `stream` through `encoder` (an element named `enc`, whose output bytes are counted) at
/// preset medium with a keyframe every 2 s, then `decoder`, back to I420.
fn encode_and_decode(stream: &Stream, encoder: &str, decoder: &str) -> Result<(Stream, Option<u64>), String> {
    let rate = stream.rate()?;
    let desc = format!(
        "appsrc name=src ! {encoder} speed-preset=medium key-int-max={} ! {decoder} ! videoconvert \
         ! video/x-raw,format=I420 ! appsink name=sink",
        key_int_max(rate)
    );
    let (out, info) = run(&desc, stream, timeout_of(stream, 0), limit_of(stream, rate))?;
    Ok((out, Some(info.encoded_bytes)))
}

/// `stream` with its last frame repeated `count` times at the next instants of its rate.
/// videorate renders nothing for the last input frame's own interval at the end of a
/// stream, minterpolate nothing after the last-but-one input frame; with this tail (used
/// by the harness only, never sent or counted) they hold the last frame to the end, as
/// imsmup does.
pub fn with_tail(stream: &Stream, count: u64) -> Result<Stream, String> {
    let rate = stream.rate()?;
    let Some(last) = stream.buffers.last() else { return Ok(stream.clone()) };
    let j0 = last.pts().map(|t| grid_index(t.nseconds(), rate)).unwrap_or(stream.len() as u64 - 1);
    let mut out = stream.clone();
    for j in j0 + 1..=j0 + count {
        let mut tail = last.copy();
        let b = tail.make_mut();
        let (pts, next) = (frame_pts(j, rate), frame_pts(j + 1, rate));
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_duration(gst::ClockTime::from_nseconds(next - pts));
        b.set_offset(j);
        b.set_offset_end(j + 1);
        out.buffers.push(tail);
    }
    Ok(out)
}

/// classic up: videoscale + videorate to I420 `w` x `h` at 60 fps (from `lr` plus its
/// [tail](with_tail)).
pub fn up_classic(lr: &Stream, w: usize, h: usize) -> Result<(Stream, RunInfo), String> {
    let lr = &with_tail(lr, 1)?;
    let desc = format!("appsrc name=src ! videoscale ! videorate ! {} ! appsink name=sink", i420_caps(w, h, (SOURCE_FPS as i32, 1), lr));
    let out_rate = (SOURCE_FPS as i32, 1);
    run(&desc, lr, timeout_of(lr, limit_of(lr, out_rate)), limit_of(lr, out_rate))
}

/// imsmup with the graphs in `dir` to RGB `w` x `h` at 60 fps. RGB, not I420: the
/// element renders RGB, and a display takes RGB, so asking for I420 would add a chroma
/// subsampling round trip (about 2 dB on colourful footage) that the other methods,
/// which end in one YUV -> RGB conversion, do not pay. `kind` is its
/// `stream-kind` (imsm, plain, auto).
pub fn up_imsm(lr: &Stream, w: usize, h: usize, config: &ImsmConfig, dir: &Path, kind: &str) -> Result<(Stream, RunInfo), String> {
    let desc = format!(
        "appsrc name=src ! imsmup {} stream-kind={kind} global-motion={} local-motion={} ! video/x-raw,format=RGB,width={w},height={h},framerate={SOURCE_FPS}/1 ! appsink name=sink",
        config.props(dir),
        config.global_motion,
        config.local_motion,
    );
    let rate = lr.rate()?;
    let out_frames = (lr.len() as f64 * SOURCE_FPS as f64 * rate.1 as f64 / rate.0 as f64).ceil() as usize;
    run(&desc, lr, timeout_of(lr, out_frames), limit_of(lr, (SOURCE_FPS as i32, 1)))
}

/// Whether `ffmpeg` can be run.
pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir, String> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imsm-eval-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an I420 stream as YUV4MPEG2.
fn write_y4m(stream: &Stream, path: &Path) -> Result<(), String> {
    let info = stream.info()?;
    if info.format() != VideoFormat::I420 {
        return Err(format!("y4m needs I420, got {}", stream.caps));
    }
    let fps = info.fps();
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let range = if info.colorimetry().range() == gst_video::VideoColorRange::Range0_255 { "FULL" } else { "LIMITED" };
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    writeln!(out, "YUV4MPEG2 W{} H{} F{}:{} Ip A1:1 C420mpeg2 XCOLORRANGE={range}", info.width(), info.height(), fps.numer(), fps.denom())
        .map_err(io)?;
    for buffer in &stream.buffers {
        out.write_all(b"FRAME\n").map_err(io)?;
        out.write_all(&i420_planes(buffer, &info)?).map_err(io)?;
    }
    out.flush().map_err(io)
}

/// mci: ffmpeg's minterpolate (motion-compensated interpolation) to 60 fps, then
/// bicubic scaling to `w` x `h`, in YUV, from `lr` plus its [tail](with_tail); returned as an I420 60 fps stream with the
/// input's colorimetry (converted to RGB like the others).
pub fn up_mci(lr: &Stream, w: usize, h: usize) -> Result<Stream, String> {
    let lr = &with_tail(lr, 2)?;
    let info = lr.info()?;
    let dir = TempDir::new("mci")?;
    let input = dir.0.join("lr.y4m");
    let output = dir.0.join("out.yuv");
    write_y4m(lr, &input)?;
    let filter = format!("minterpolate=fps={SOURCE_FPS}:mi_mode=mci,scale={w}:{h}:flags=bicubic");
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(&input)
        .args(["-vf", &filter, "-fps_mode", "passthrough", "-pix_fmt", "yuv420p", "-f", "rawvideo"])
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    let out_frames = (lr.len() as f64 * SOURCE_FPS as f64 * info.fps().denom() as f64 / info.fps().numer() as f64).ceil() as usize;
    // ffmpeg writes its output at the end: here the window bounds the whole run (minterpolate
    // is fast next to the stall window).
    let deadline = Instant::now() + timeout_for(out_frames, w * h);
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("ffmpeg minterpolate timed out".into());
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!("ffmpeg minterpolate failed ({status}): {}", err.trim()));
    }
    let data = std::fs::read(&output).map_err(|e| format!("{}: {e}", output.display()))?;
    let out_info = VideoInfo::builder(VideoFormat::I420, w as u32, h as u32)
        .fps(gst::Fraction::new(SOURCE_FPS as i32, 1))
        .colorimetry(&info.colorimetry())
        .chroma_site(info.chroma_site())
        .build()
        .map_err(|e| e.to_string())?;
    let frame_size = w * h + 2 * (w.div_ceil(2) * h.div_ceil(2));
    let rate = (SOURCE_FPS as i32, 1);
    let mut buffers = Vec::new();
    for (n, planes) in data.chunks_exact(frame_size).enumerate() {
        let mut buffer = i420_buffer(planes, &out_info)?;
        let b = buffer.get_mut().unwrap();
        let (pts, next) = (frame_pts(n as u64, rate), frame_pts(n as u64 + 1, rate));
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_duration(gst::ClockTime::from_nseconds(next - pts));
        buffers.push(buffer);
    }
    if buffers.is_empty() {
        return Err("ffmpeg minterpolate produced no frames".into());
    }
    Ok(Stream { caps: out_info.to_caps().map_err(|e| e.to_string())?, buffers })
}

/// Registers the imsm elements of this build (once per process).
pub fn register_elements() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        gst::init().map_err(|e| format!("GStreamer failed to initialise: {e}"))?;
        crate::plugin_register_static().map_err(|e| format!("registering the imsm elements failed: {e}"))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_timestamps() {
        let r60 = (60, 1);
        assert_eq!(frame_pts(1, r60), 16_666_666);
        assert_eq!(frame_pts(3, r60), 50_000_000);
        for n in 0..200 {
            assert_eq!(grid_index(frame_pts(n, r60), r60), n);
            assert_eq!(grid_index(frame_pts(n, (24, 1)), (24, 1)), n);
            assert_eq!(grid_index(frame_pts(n, (30000, 1001)), (30000, 1001)), n);
        }
        // A 24 fps frame placed on the 60 fps grid: frame 2 of 24 fps is instant 5.
        assert_eq!(grid_index(frame_pts(2, (24, 1)), r60), 5);
        assert_eq!(provider_of("running reference graphs from /m on ONNX Runtime 1.31.1 (CPU execution provider, /x.so)"), Some("CPU".into()));
        assert_eq!(provider_of("something else"), None);
    }

    #[test]
    fn tail_repeats_the_last_frame_on_the_grid() {
        gst::init().unwrap();
        let frames: Vec<Vec<u8>> = (0..3).map(|n| vec![n as u8; 2 * 2 * 3]).collect();
        let s = rgb_stream(&frames, 2, 2).unwrap();
        let t = with_tail(&s, 2).unwrap();
        assert_eq!(t.len(), 5);
        let idx: Vec<u64> = t.buffers.iter().map(|b| grid_index(b.pts().unwrap().nseconds(), (60, 1))).collect();
        assert_eq!(idx, [0, 1, 2, 3, 4]);
        let rgb = to_rgb_frames(&t, (60, 1)).unwrap();
        assert_eq!(rgb[4].1, frames[2]);
        assert_eq!(t.buffers[3].duration(), Some(gst::ClockTime::from_nseconds(frame_pts(4, (60, 1)) - frame_pts(3, (60, 1)))));
    }

    #[test]
    fn codec_channels_keep_every_frame_and_count_bytes() {
        gst::init().unwrap();
        let (w, h) = (320, 176);
        // a moving gradient: something for the encoders to predict
        let frames: Vec<Vec<u8>> = (0..8)
            .map(|n| (0..w * h * 3).map(|i| (((i / 3) % w + 2 * n + (i / 3 / w)) * 4 % 256) as u8).collect())
            .collect();
        let stream = i420_stream(&frames, w, h, colorimetry_for(h)).unwrap();
        let (same, bytes) = channel(&stream, Channel::Lossless).unwrap();
        assert_eq!((same.len(), bytes), (8, None));
        for c in [Channel::Crf(28), Channel::X265Crf(28)] {
            if c == Channel::X265Crf(28) && gst::ElementFactory::find("x265enc").is_none() {
                eprintln!("x265enc not installed: x265 channel not checked");
                continue;
            }
            let (out, bytes) = channel(&stream, c).unwrap();
            assert_eq!(out.len(), 8, "{c}");
            let grid: Vec<u64> = out.buffers.iter().map(|b| grid_index(b.pts().unwrap().nseconds(), (60, 1))).collect();
            assert_eq!(grid, (0..8).collect::<Vec<u64>>(), "{c}");
            assert!(bytes.is_some_and(|b| b > 0 && b < (w * h * 3 / 2 * 8) as u64), "{c}: {bytes:?}");
            let got = to_rgb_frames(&out, (60, 1)).unwrap();
            assert_ne!(got[3].1, frames[3], "{c}: a lossy codec returned the frame unchanged");
            // the same input gives the same stream: bitrates and PSNRs are reproducible
            let (again, bytes_again) = channel(&stream, c).unwrap();
            assert_eq!(bytes, bytes_again, "{c}: encoded size differs between two runs");
            assert_eq!(to_rgb_frames(&again, (60, 1)).unwrap(), got, "{c}: decoded frames differ between two runs");
        }
    }

    /// The x264 channel is plain CRF: on content that needs more than x264enc's default
    /// `bitrate` (2048 kbit/s, which pass=qual turns into a VBV cap), CRF 18 still spends far
    /// more bits than CRF 28.
    #[test]
    fn x264_channel_is_not_capped() {
        gst::init().unwrap();
        let (w, h) = (320, 176);
        let mut seed = 7u32;
        let frames: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                (0..w * h * 3)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 24) as u8
                    })
                    .collect()
            })
            .collect();
        let stream = i420_stream(&frames, w, h, colorimetry_for(h)).unwrap();
        let kbps = |q| {
            let (out, bytes) = channel(&stream, Channel::Crf(q)).unwrap();
            crate::eval::settings::kbps(bytes.unwrap(), out.len() as u64, out.rate().unwrap()).unwrap()
        };
        let (k18, k28) = (kbps(18), kbps(28));
        assert!(k18 > 2048.0 * 2.0, "CRF 18 on noise: {k18} kbit/s (capped?)");
        assert!(k18 > 1.5 * k28, "CRF 18 {k18} vs CRF 28 {k28} kbit/s");
    }

    /// `run`'s timeout is a stall window: a slow pipeline whose frames keep coming finishes
    /// however long it takes in all; one that stops giving frames fails after the window.
    #[test]
    fn slow_pipelines_finish_and_stuck_ones_fail() {
        gst::init().unwrap();
        let frames: Vec<Vec<u8>> = (0..6).map(|n| vec![n as u8; 4 * 4 * 3]).collect();
        let stream = rgb_stream(&frames, 4, 4).unwrap();
        let window = Duration::from_millis(1500);
        // 0.5 s per frame: 3 s in all, twice the window, never 1.5 s without a frame
        let started = Instant::now();
        let (out, _) = run("appsrc name=src ! identity sleep-time=500000 ! appsink name=sink", &stream, window, 6).unwrap();
        assert_eq!(out.len(), 6);
        assert!(started.elapsed() > window, "{:?}", started.elapsed());
        // 4 s before the first frame: stuck once the window has passed
        let desc = "appsrc name=src ! identity sleep-time=4000000 ! appsink name=sink";
        let err = run(desc, &stream, window, 6).err().expect("a 4 s pause is a stall");
        assert!(err.contains("no new frame for 1 s (after 0 frames out)"), "{err}");
    }

    #[test]
    fn rgb_and_i420_round_trip_through_buffers() {
        gst::init().unwrap();
        // Odd widths exercise strides that are not width * 3.
        let (w, h) = (10, 6);
        let frames: Vec<Vec<u8>> = (0..3).map(|n| (0..w * h * 3).map(|i| ((i * 7 + n * 31) % 256) as u8).collect()).collect();
        let stream = rgb_stream(&frames, w, h).unwrap();
        assert_eq!(stream.rate().unwrap(), (60, 1));
        let back = to_rgb_frames(&stream, (60, 1)).unwrap();
        assert_eq!(back.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [0, 1, 2]);
        for ((_, b), f) in back.iter().zip(&frames) {
            assert_eq!(b, f);
        }
        let info = VideoInfo::builder(VideoFormat::I420, 6, 4).build().unwrap();
        let planes: Vec<u8> = (0..6 * 4 + 2 * 3 * 2).map(|i| i as u8).collect();
        let buffer = i420_buffer(&planes, &info).unwrap();
        assert_eq!(i420_planes(&buffer, &info).unwrap(), planes);
    }
}
