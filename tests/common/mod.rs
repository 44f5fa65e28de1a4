//! Helpers shared by the integration tests: plugin registration, caps, flat test
//! frames, harness plumbing, exact grid timestamps and bus watching.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use gst_check::Harness;
use gst_video::{VideoFormat, VideoInfo};

pub const NS: u64 = 1_000_000_000;

/// `gst::init()` and the static registration of the plugin, once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstimsm::plugin_register_static().expect("registering the imsm plugin");
    });
}

pub fn models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

/// Fixed raw video caps.
pub fn caps(format: &str, width: i32, height: i32, num: i32, den: i32) -> gst::Caps {
    init();
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", width)
        .field("height", height)
        .field("framerate", gst::Fraction::new(num, den))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .field("interlace-mode", "progressive")
        .build()
}

/// Raw video caps from a caps string.
pub fn caps_str(s: &str) -> gst::Caps {
    init();
    s.parse().unwrap_or_else(|e| panic!("bad caps {s}: {e}"))
}

/// `first + k * den * 1e9 / num`, floored (the exact output grid).
pub fn grid(first: u64, k: u64, num: u64, den: u64) -> u64 {
    first + ((k as u128 * den as u128 * NS as u128) / num as u128) as u64
}

/// A colour given both ways, so one test can feed any of the formats.
#[derive(Clone, Copy, Debug)]
pub struct Colour {
    /// Y', Cb, Cr (8-bit, limited range BT.601 for the small test sizes).
    pub yuv: [u8; 3],
    /// R', G', B' equivalent of `yuv`.
    pub rgb: [u8; 3],
}

/// Mid grey: Y'=126 is R'G'B' 128 in limited range.
pub const GREY: Colour = Colour { yuv: [126, 128, 128], rgb: [128, 128, 128] };
/// An in-gamut orange-brown: Y'CbCr (120, 100, 160) BT.601 limited = R'G'B' (172, 106, 65).
pub const BROWN: Colour = Colour { yuv: [120, 100, 160], rgb: [172, 106, 65] };

pub fn is_yuv(format: VideoFormat) -> bool {
    matches!(format, VideoFormat::I420 | VideoFormat::Nv12)
}

/// Byte positions of R, G, B and the fourth byte (alpha or padding) in a packed RGB pixel.
fn rgb_layout(format: VideoFormat) -> ([usize; 3], Option<usize>, usize) {
    match format {
        VideoFormat::Rgb => ([0, 1, 2], None, 3),
        VideoFormat::Rgba | VideoFormat::Rgbx => ([0, 1, 2], Some(3), 4),
        VideoFormat::Bgra | VideoFormat::Bgrx => ([2, 1, 0], Some(3), 4),
        other => panic!("not a packed RGB format: {other:?}"),
    }
}

/// A frame of `info` filled with one colour, stamped with `pts`/`duration`.
pub fn flat_frame(info: &VideoInfo, colour: Colour, pts: Option<u64>, duration: Option<u64>) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(pts.map(gst::ClockTime::from_nseconds));
        b.set_duration(duration.map(gst::ClockTime::from_nseconds));
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, info).unwrap();
        let (w, h) = (info.width() as usize, info.height() as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match info.format() {
            VideoFormat::I420 => {
                let [y, u, v] = colour.yuv;
                for (plane, value, pw, ph) in [(0, y, w, h), (1, u, cw, ch), (2, v, cw, ch)] {
                    let stride = frame.plane_stride()[plane] as usize;
                    let data = frame.plane_data_mut(plane as u32).unwrap();
                    for row in 0..ph {
                        data[row * stride..row * stride + pw].fill(value);
                    }
                }
            }
            VideoFormat::Nv12 => {
                let [y, u, v] = colour.yuv;
                let stride = frame.plane_stride()[0] as usize;
                let data = frame.plane_data_mut(0).unwrap();
                for row in 0..h {
                    data[row * stride..row * stride + w].fill(y);
                }
                let stride = frame.plane_stride()[1] as usize;
                let data = frame.plane_data_mut(1).unwrap();
                for row in 0..ch {
                    for x in 0..cw {
                        data[row * stride + 2 * x] = u;
                        data[row * stride + 2 * x + 1] = v;
                    }
                }
            }
            format => {
                let (pos, fourth, bpp) = rgb_layout(format);
                let stride = frame.plane_stride()[0] as usize;
                let data = frame.plane_data_mut(0).unwrap();
                for row in 0..h {
                    for x in 0..w {
                        let p = row * stride + x * bpp;
                        for c in 0..3 {
                            data[p + pos[c]] = colour.rgb[c];
                        }
                        if let Some(a) = fourth {
                            data[p + a] = 255;
                        }
                    }
                }
            }
        }
    }
    buffer
}

/// Per channel (Y'/Cb/Cr or R'/G'/B') minimum and maximum code value over the frame.
pub fn channel_ranges(buffer: &gst::BufferRef, info: &VideoInfo) -> [(u8, u8); 3] {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = [(255u8, 0u8); 3];
    let mut see = |c: usize, v: u8| {
        out[c].0 = out[c].0.min(v);
        out[c].1 = out[c].1.max(v);
    };
    match info.format() {
        VideoFormat::I420 => {
            for (plane, pw, ph) in [(0usize, w, h), (1, cw, ch), (2, cw, ch)] {
                let stride = frame.plane_stride()[plane] as usize;
                let data = frame.plane_data(plane as u32).unwrap();
                for row in 0..ph {
                    for &v in &data[row * stride..row * stride + pw] {
                        see(plane, v);
                    }
                }
            }
        }
        VideoFormat::Nv12 => {
            let stride = frame.plane_stride()[0] as usize;
            let data = frame.plane_data(0).unwrap();
            for row in 0..h {
                for &v in &data[row * stride..row * stride + w] {
                    see(0, v);
                }
            }
            let stride = frame.plane_stride()[1] as usize;
            let data = frame.plane_data(1).unwrap();
            for row in 0..ch {
                for x in 0..cw {
                    see(1, data[row * stride + 2 * x]);
                    see(2, data[row * stride + 2 * x + 1]);
                }
            }
        }
        format => {
            let (pos, _, bpp) = rgb_layout(format);
            let stride = frame.plane_stride()[0] as usize;
            let data = frame.plane_data(0).unwrap();
            for row in 0..h {
                for x in 0..w {
                    let p = row * stride + x * bpp;
                    for c in 0..3 {
                        see(c, data[p + pos[c]]);
                    }
                }
            }
        }
    }
    out
}

/// Asserts every pixel of `buffer` is within `tol` code values of `colour` in `info`'s format.
pub fn assert_flat(buffer: &gst::BufferRef, info: &VideoInfo, colour: Colour, tol: u8, what: &str) {
    let expected = if is_yuv(info.format()) { colour.yuv } else { colour.rgb };
    let ranges = channel_ranges(buffer, info);
    for c in 0..3 {
        let (lo, hi) = ranges[c];
        assert!(
            lo.abs_diff(expected[c]) <= tol && hi.abs_diff(expected[c]) <= tol,
            "{what}: {:?} channel {c} spans {lo}..={hi}, expected {} +- {tol}",
            info.format(),
            expected[c]
        );
    }
}

/// A harness on a fresh element of `factory`, started with default properties (the
/// harness sets it to PLAYING at once). `out` constrains downstream; None = ANY.
pub fn harness(factory: &str, input: &gst::Caps, out: Option<&gst::Caps>) -> Harness {
    init();
    let mut h = Harness::new(factory);
    if let Some(out) = out {
        h.set_sink_caps(out.clone());
    }
    h.set_src_caps(input.clone());
    h
}

/// A harness on an element configured by `configure` before it starts.
pub fn harness_with(factory: &str, configure: impl FnOnce(&gst::Element)) -> Harness {
    init();
    let element = gst::ElementFactory::make(factory).build().unwrap();
    configure(&element);
    Harness::with_element(&element, Some("sink"), Some("src"))
}

/// Pushes `n` flat frames of `info` on the input grid `first + i / rate` (indices in `indices`).
pub fn push_frames(h: &mut Harness, info: &VideoInfo, first: u64, indices: impl IntoIterator<Item = u64>, colour: Colour) {
    let fps = info.fps();
    let (num, den) = (fps.numer() as u64, fps.denom() as u64);
    for i in indices {
        let pts = grid(first, i, num, den);
        let dur = grid(first, i + 1, num, den) - pts;
        let ret = h.push(flat_frame(info, colour, Some(pts), Some(dur)));
        assert_eq!(ret, Ok(gst::FlowSuccess::Ok), "pushing input frame {i}");
    }
}

/// Every buffer waiting in the harness.
pub fn pull_all(h: &mut Harness) -> Vec<gst::Buffer> {
    let mut out = Vec::new();
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    out
}

pub fn push_eos(h: &mut Harness) {
    assert!(h.push_event(gst::event::Eos::new()), "EOS was not handled");
}

/// The caps the element last set on its source pad.
pub fn out_caps(h: &Harness) -> gst::Caps {
    h.sinkpad().unwrap().current_caps().expect("no caps reached the harness sink")
}

pub fn out_info(h: &Harness) -> VideoInfo {
    VideoInfo::from_caps(&out_caps(h)).unwrap()
}

pub fn pts_ns(b: &gst::BufferRef) -> u64 {
    b.pts().expect("output buffer without PTS").nseconds()
}

/// Asserts `buffers` are output frames `k0, k0 + 1, ...` of the grid `first + k / (num/den)`:
/// PTS exact, duration = gap to the next instant, offset = index.
pub fn assert_on_grid(buffers: &[gst::Buffer], first: u64, k0: u64, num: u64, den: u64) {
    for (n, b) in buffers.iter().enumerate() {
        let k = k0 + n as u64;
        let expected = grid(first, k, num, den);
        assert_eq!(pts_ns(b), expected, "PTS of output {k} (buffer {n})");
        assert_eq!(
            b.duration().map(|d| d.nseconds()),
            Some(grid(first, k + 1, num, den) - expected),
            "duration of output {k}"
        );
        assert_eq!(b.offset(), k, "offset of output {k}");
        assert_eq!(b.offset_end(), k + 1, "offset_end of output {k}");
    }
}

/// Everything that went out of the element's source pad, in order.
#[derive(Debug, Clone)]
pub enum Item {
    Buffer { pts: Option<u64>, size: usize, discont: bool },
    Caps(gst::Caps),
    Eos,
    Segment,
    FlushStop,
    Other(gst::EventType),
}

/// Records buffers and events leaving `pad` (a probe; works for harness and pipelines).
pub fn record(pad: &gst::Pad) -> Arc<Mutex<Vec<Item>>> {
    // Caps already sent before the probe was installed start the log.
    let log = Arc::new(Mutex::new(pad.current_caps().map(Item::Caps).into_iter().collect::<Vec<_>>()));
    let l = log.clone();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::EVENT_FLUSH, move |_, info| {
        let item = match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => Item::Buffer {
                pts: b.pts().map(|t| t.nseconds()),
                size: b.size(),
                discont: b.flags().contains(gst::BufferFlags::DISCONT),
            },
            Some(gst::PadProbeData::Event(e)) => match e.view() {
                gst::EventView::Caps(c) => Item::Caps(c.caps_owned()),
                gst::EventView::Eos(_) => Item::Eos,
                gst::EventView::Segment(_) => Item::Segment,
                gst::EventView::FlushStop(_) => Item::FlushStop,
                _ => Item::Other(e.type_()),
            },
            _ => return gst::PadProbeReturn::Ok,
        };
        l.lock().unwrap().push(item);
        gst::PadProbeReturn::Ok
    })
    .unwrap();
    log
}

pub fn element_src(h: &Harness) -> gst::Pad {
    h.element().unwrap().static_pad("src").unwrap()
}

/// Gives `element` its own bus so its messages can be read without a pipeline.
pub fn own_bus(element: &gst::Element) -> gst::Bus {
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    bus
}

/// The first error on `bus` within `timeout`.
pub fn wait_error(bus: &gst::Bus, timeout: Duration) -> Option<gst::Message> {
    bus.timed_pop_filtered(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64), &[gst::MessageType::Error])
}

/// Error domain check and text of an error message.
pub fn error_text(msg: &gst::Message) -> (glib::Error, String) {
    match msg.view() {
        gst::MessageView::Error(e) => {
            let text = format!("{} | {}", e.error(), e.debug().map(|d| d.to_string()).unwrap_or_default());
            (e.error(), text)
        }
        other => panic!("not an error message: {other:?}"),
    }
}

pub use gst::glib;

/// Runs `pipeline` to EOS (or error) within `timeout`; returns the error message if any.
pub fn run_to_eos(pipeline: &gst::Element, timeout: Duration) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).map_err(|e| {
        let detail = bus
            .timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])
            .map(|m| error_text(&m).1)
            .unwrap_or_default();
        format!("state change failed: {e:?} {detail}")
    })?;
    let deadline = Instant::now() + timeout;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err("timed out waiting for EOS".to_string());
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(_) => break Err(error_text(&msg).1),
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// Runs `launch` (with a sink element named `sink`) to EOS within 120 s; returns the
/// buffers that reached `sink` and the INFO messages posted ("text debug").
pub fn run_collecting(launch: &str) -> (Vec<gst::Buffer>, Vec<String>) {
    init();
    let pipeline = gst::parse::launch(launch).unwrap();
    let sink = pipeline.downcast_ref::<gst::Bin>().unwrap().by_name("sink").unwrap();
    let buffers = Arc::new(Mutex::new(Vec::new()));
    let b = buffers.clone();
    sink.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buf)) = &info.data {
            b.lock().unwrap().push(buf.clone());
        }
        gst::PadProbeReturn::Ok
    });
    // Note INFO messages as they are posted: run_to_eos reads the bus itself.
    let infos = Arc::new(Mutex::new(Vec::new()));
    let i = infos.clone();
    pipeline.bus().unwrap().set_sync_handler(move |_, m| {
        if let gst::MessageView::Info(info) = m.view() {
            i.lock().unwrap().push(format!("{} {}", info.error(), info.debug().unwrap_or_default()));
        }
        gst::BusSyncReply::Pass
    });
    run_to_eos(&pipeline, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{launch}: {e}"));
    let out = buffers.lock().unwrap().clone();
    let infos = infos.lock().unwrap().clone();
    (out, infos)
}

/// After imsmdown (16x12 @ 60 -> 8x6 @ 30 fps) in `h` took BROWN frames: a flush, a
/// segment at 10 s and six GREY frames give exactly their three outputs, the first
/// DISCONT, on the new grid, with nothing of the flushed frames in them.
pub fn assert_flush_restarts_clean(h: &mut Harness, info: &VideoInfo) {
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let _ = pull_all(h);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(gst::ClockTime::from_seconds(10));
    segment.set_time(gst::ClockTime::from_seconds(10));
    assert!(h.push_event(gst::event::Segment::new(&segment)));

    let first = 10 * NS;
    push_frames(h, info, first, 0..6, GREY);
    push_eos(h);
    let after = pull_all(h);
    assert_eq!(after.len(), 3, "only the new frames' outputs: {:?}", after.iter().map(|b| b.pts()).collect::<Vec<_>>());
    assert!(after[0].flags().contains(gst::BufferFlags::DISCONT), "first output after a flush is DISCONT");
    assert_on_grid(&after, first, 0, 30, 1);
    // Nothing of the flushed (brown) frames leaks into the new stretch.
    let out = out_info(h);
    for b in &after {
        assert_flat(b, &out, GREY, 3, "after flush");
    }
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("gst-imsm-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub fn copy_models(to: &Path) {
    for f in ["down.onnx", "reveal.onnx", "synth.onnx"] {
        std::fs::copy(models_dir().join(f), to.join(f)).unwrap();
    }
}
