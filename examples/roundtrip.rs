//! Round trip of a clip through imsmdown -> x264 -> imsmup, next to the classic
//! videoscale/videorate pipeline at the same x264 setting, with PSNR for both.
//!
//! ```text
//! cargo run --release --example roundtrip -- [OPTIONS] CLIP
//!
//!   --crf N              x264 constant-quality value, 0-50 (x264enc pass=qual quantizer=N); default 23
//!   --threads N          ONNX Runtime threads for imsmdown and imsmup (0 = ONNX Runtime decides); default 2
//!   --classic-scale M    videoscale method of the classic pipeline (default: bilinear, videoscale's default)
//!   --model-dir DIR      graphs for imsmdown and imsmup (their model-dir property); default: the elements' default
//!   --keep DIR           keep the two low-rate .mp4 files in DIR
//! ```
//!
//! Steps (F = the clip's frame rate, W x H its size):
//!  a. decode CLIP: the reference frames;
//!  b. `decodebin ! imsmdown ! W/2 x H/2 @ F/2 ! x264enc ! mp4mux` to a file, printing the bitrate;
//!  c. `qtdemux ! h264parse ! avdec_h264 ! imsmup ! W x H @ F`;
//!  d. the same with `videorate ! videoscale` down and up instead of imsmdown/imsmup;
//!  e. the classic low-rate file of d. through `imsmup stream-kind=plain`: imsmup as an
//!     upscaler of ordinary video, with nothing hidden in it;
//!  f. the same file through ffmpeg's `minterpolate=mi_mode=mci` and a bicubic scale
//!     (skipped when ffmpeg is missing): motion-compensated interpolation without
//!     learned weights, the baseline of the project's quality bars;
//!  g. PSNR over all frames, over key frames (instants the low-rate stream has a frame
//!     for: even source frames at ratio 2) and over in-between frames, for each; and
//!     imsmdown's low-rate frames against the classic low-rate frames (before x264).
//!
//! Every stream reaches its appsink as I420 and is turned into RGB here with exact
//! BT.601/709/2020 maths, the same way for all of them (see [`pull_frame`]).
//! The times printed are wall times of whole pipelines (decode, x264 and scoring included).
//!
//! The plugin is registered from this crate (no GST_PLUGIN_PATH needed); if GStreamer
//! already finds `imsmdown` through GST_PLUGIN_PATH, that build is used instead.
//! Memory: the clip's decoded frames are kept in RAM (W x H x 3 bytes each).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;

use metrics::{is_key, kbps, pts_to_index, Rate};

/// The small pure pieces: PSNR, frame matching, bitrates, arguments. Unit-tested below
/// (`cargo test --examples`).
mod metrics {
    /// A frame rate num/den, both > 0.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rate {
        pub num: u64,
        pub den: u64,
    }

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    impl Rate {
        pub fn new(num: u64, den: u64) -> Option<Rate> {
            if num == 0 || den == 0 {
                return None;
            }
            let g = gcd(num, den);
            Some(Rate { num: num / g, den: den / g })
        }

        /// Half this rate, reduced.
        pub fn half(self) -> Rate {
            Rate::new(self.num, self.den * 2).unwrap()
        }

        pub fn fps(self) -> f64 {
            self.num as f64 / self.den as f64
        }
    }

    /// Half a dimension, rounded down to even where that leaves at least 2 (as imsmdown
    /// does when downstream leaves the size open).
    pub fn half_even(v: u32) -> u32 {
        let h = v / 2;
        if h >= 2 { h & !1 } else { h.max(1) }
    }

    /// Sum of squared differences of two equally long sample arrays.
    pub fn sse(a: &[u8], b: &[u8]) -> u64 {
        assert_eq!(a.len(), b.len(), "frames of different sizes");
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = x as i64 - y as i64;
                (d * d) as u64
            })
            .sum()
    }

    /// PSNR for 8-bit samples from a total squared error over `samples` samples;
    /// infinite for identical frames, None for no samples.
    pub fn psnr(sse: u64, samples: u64) -> Option<f64> {
        if samples == 0 {
            return None;
        }
        if sse == 0 {
            return Some(f64::INFINITY);
        }
        let mse = sse as f64 / samples as f64;
        Some(10.0 * (255.0 * 255.0 / mse).log10())
    }

    /// Squared error summed over a set of frames: PSNR from the MSE over all of them
    /// (not the mean of per-frame PSNRs).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Accum {
        pub sse: u64,
        pub samples: u64,
        pub frames: usize,
    }

    impl Accum {
        pub fn add(&mut self, a: &[u8], b: &[u8]) {
            self.sse += sse(a, b);
            self.samples += a.len() as u64;
            self.frames += 1;
        }

        pub fn psnr(&self) -> Option<f64> {
            psnr(self.sse, self.samples)
        }
    }

    /// Y'CbCr matrix of a stream: the luma weights Kr and Kb.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Matrix {
        pub kr: f64,
        pub kb: f64,
    }

    pub const BT601: Matrix = Matrix { kr: 0.299, kb: 0.114 };
    pub const BT709: Matrix = Matrix { kr: 0.2126, kb: 0.0722 };
    pub const BT2020: Matrix = Matrix { kr: 0.2627, kb: 0.0593 };

    /// One 8-bit Y'CbCr sample to R'G'B' (exact float maths, rounded, clamped).
    pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8, m: Matrix, full_range: bool) -> [u8; 3] {
        let (y, cb, cr) = (y as f64, cb as f64 - 128.0, cr as f64 - 128.0);
        let (y, cb, cr) = if full_range {
            (y / 255.0, cb / 255.0, cr / 255.0)
        } else {
            ((y - 16.0) / 219.0, cb / 224.0, cr / 224.0)
        };
        let r = y + 2.0 * (1.0 - m.kr) * cr;
        let b = y + 2.0 * (1.0 - m.kb) * cb;
        let g = (y - m.kr * r - m.kb * b) / (1.0 - m.kr - m.kb);
        [r, g, b].map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
    }

    /// A planar 4:2:0 frame (I420) to packed RGB: each chroma sample is used for its
    /// 2x2 block of luma samples (the same for every stream scored, so it does not
    /// favour one). `strides` are the three planes' row strides.
    #[allow(clippy::too_many_arguments)]
    pub fn i420_to_rgb(
        planes: [&[u8]; 3],
        strides: [usize; 3],
        width: usize,
        height: usize,
        m: Matrix,
        full_range: bool,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(width * height * 3);
        for row in 0..height {
            let yrow = &planes[0][row * strides[0]..];
            let urow = &planes[1][(row / 2) * strides[1]..];
            let vrow = &planes[2][(row / 2) * strides[2]..];
            for col in 0..width {
                out.extend_from_slice(&ycbcr_to_rgb(yrow[col], urow[col / 2], vrow[col / 2], m, full_range));
            }
        }
        out
    }

    pub fn fmt_db(v: Option<f64>) -> String {
        match v {
            None => "-".into(),
            Some(v) if v.is_infinite() => "inf".into(),
            Some(v) => format!("{v:.2}"),
        }
    }

    /// Index of the frame at `pts` in a stream of `rate` whose first frame is at `first`
    /// (nanoseconds), rounded to the nearest frame.
    pub fn pts_to_index(pts: u64, first: u64, rate: Rate) -> Option<u64> {
        let dt = pts.checked_sub(first)? as u128;
        let num = dt * rate.num as u128;
        let den = rate.den as u128 * 1_000_000_000;
        Some(((num + den / 2) / den) as u64)
    }

    /// Whether source frame `i` (of rate `hr`) falls on an instant the low-rate stream
    /// (rate `lr`, same origin) has a frame for: i / hr == j / lr for a whole j.
    pub fn is_key(i: u64, hr: Rate, lr: Rate) -> bool {
        // j = i * lr / hr = i * lr.num * hr.den / (lr.den * hr.num)
        let n = i as u128 * lr.num as u128 * hr.den as u128;
        let d = lr.den as u128 * hr.num as u128;
        n % d == 0
    }

    /// Bitrate in kbit/s of `bytes` spread over `frames` frames of `rate`.
    pub fn kbps(bytes: u64, frames: u64, rate: Rate) -> Option<f64> {
        if frames == 0 {
            return None;
        }
        let seconds = frames as f64 * rate.den as f64 / rate.num as f64;
        Some(bytes as f64 * 8.0 / seconds / 1000.0)
    }

    #[derive(Debug, PartialEq)]
    pub struct Args {
        pub clip: std::path::PathBuf,
        pub crf: u32,
        pub threads: u32,
        pub classic_scale: String,
        pub model_dir: Option<std::path::PathBuf>,
        pub keep: Option<std::path::PathBuf>,
    }

    pub const USAGE: &str = "usage: roundtrip [--crf N] [--threads N] [--classic-scale METHOD] [--model-dir DIR] [--keep DIR] CLIP";

    /// Parses the command line (without the program name). Err carries the message;
    /// Ok(None) means --help.
    pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
        let mut it = args.into_iter();
        let mut clip = None;
        let mut out = Args {
            clip: Default::default(),
            crf: 23,
            threads: 2,
            classic_scale: "bilinear".into(),
            model_dir: None,
            keep: None,
        };
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "-h" | "--help" => return Ok(None),
                "--crf" => {
                    let v = value("--crf")?;
                    out.crf = v.parse().ok().filter(|c| *c <= 50).ok_or_else(|| format!("--crf takes 0-50, not {v:?}"))?;
                }
                "--threads" => {
                    let v = value("--threads")?;
                    out.threads = v.parse().ok().filter(|t| *t <= 256).ok_or_else(|| format!("--threads takes 0-256, not {v:?}"))?;
                }
                "--classic-scale" => out.classic_scale = value("--classic-scale")?,
                "--model-dir" => out.model_dir = Some(value("--model-dir")?.into()),
                "--keep" => out.keep = Some(value("--keep")?.into()),
                s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
                _ if clip.is_some() => return Err(format!("one clip only, got a second: {a}")),
                _ => clip = Some(a),
            }
        }
        out.clip = clip.ok_or("no clip given")?.into();
        Ok(Some(out))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn args(s: &str) -> Result<Option<Args>, String> {
            parse_args(s.split_whitespace().map(String::from))
        }

        #[test]
        fn psnr_of_identical_frames_is_infinite() {
            let a = [0u8, 10, 255, 7];
            let mut acc = Accum::default();
            acc.add(&a, &a);
            assert_eq!(acc.psnr(), Some(f64::INFINITY));
            assert_eq!(fmt_db(acc.psnr()), "inf");
        }

        #[test]
        fn psnr_of_no_samples_is_none() {
            assert_eq!(psnr(0, 0), None);
            assert_eq!(Accum::default().psnr(), None);
            assert_eq!(fmt_db(None), "-");
        }

        #[test]
        fn psnr_of_unit_error_is_48_13_db() {
            // Every sample off by one: MSE 1, PSNR = 20 log10(255).
            let a = vec![100u8; 300];
            let b = vec![101u8; 300];
            assert_eq!(sse(&a, &b), 300);
            let p = psnr(sse(&a, &b), 300).unwrap();
            assert!((p - 20.0 * 255f64.log10()).abs() < 1e-12, "{p}");
            assert_eq!(fmt_db(Some(p)), "48.13");
        }

        #[test]
        fn psnr_pools_the_mse_over_frames() {
            // One perfect frame and one with MSE 4: pooled MSE 2, not the mean of PSNRs.
            let z = vec![0u8; 4];
            let two = vec![2u8; 4];
            let mut acc = Accum::default();
            acc.add(&z, &z);
            acc.add(&z, &two);
            assert_eq!((acc.sse, acc.samples, acc.frames), (16, 8, 2));
            let expect = 10.0 * (255.0f64 * 255.0 / 2.0).log10();
            assert!((acc.psnr().unwrap() - expect).abs() < 1e-12);
        }

        #[test]
        fn sse_is_symmetric_and_handles_full_range() {
            assert_eq!(sse(&[0, 255], &[255, 0]), 2 * 255 * 255);
            assert_eq!(sse(&[3, 9], &[9, 3]), sse(&[9, 3], &[3, 9]));
            // Worst case: PSNR 0 dB.
            assert!(psnr(255 * 255, 1).unwrap().abs() < 1e-12);
        }

        #[test]
        #[should_panic]
        fn sse_refuses_different_sizes() {
            sse(&[1, 2], &[1]);
        }

        #[test]
        fn limited_range_bt601_greys_and_primaries() {
            // Y' 16 / 235 are black / white; 126 is RGB 128 (16 + 219 * 128 / 255 = 125.9).
            assert_eq!(ycbcr_to_rgb(16, 128, 128, BT601, false), [0, 0, 0]);
            assert_eq!(ycbcr_to_rgb(235, 128, 128, BT601, false), [255, 255, 255]);
            assert_eq!(ycbcr_to_rgb(126, 128, 128, BT601, false), [128, 128, 128]);
            // Below black and above white clamp.
            assert_eq!(ycbcr_to_rgb(0, 128, 128, BT601, false), [0, 0, 0]);
            assert_eq!(ycbcr_to_rgb(255, 128, 128, BT601, false), [255, 255, 255]);
            // 8-bit BT.601 red, green, blue (Y'CbCr of 255,0,0 etc., rounded to 8 bit,
            // which costs up to one code value on the way back).
            assert_eq!(ycbcr_to_rgb(81, 90, 240, BT601, false), [254, 0, 0]);
            assert_eq!(ycbcr_to_rgb(145, 54, 34, BT601, false), [0, 255, 1]);
            assert_eq!(ycbcr_to_rgb(41, 240, 110, BT601, false), [0, 0, 255]);
        }

        #[test]
        fn bt709_and_full_range() {
            // BT.709 red is Y' 63, Cb 102, Cr 240.
            let [r, g, b] = ycbcr_to_rgb(63, 102, 240, BT709, false);
            assert!(r >= 254 && g <= 1 && b <= 1, "{r} {g} {b}");
            // Full range: Y' is the grey level itself.
            assert_eq!(ycbcr_to_rgb(128, 128, 128, BT601, true), [128, 128, 128]);
            assert_eq!(ycbcr_to_rgb(0, 128, 128, BT2020, true), [0, 0, 0]);
            assert_eq!(ycbcr_to_rgb(255, 128, 128, BT2020, true), [255, 255, 255]);
        }

        #[test]
        fn i420_chroma_covers_its_2x2_block_with_strides_and_odd_sizes() {
            // 3x3 luma (stride 4), 2x2 chroma (stride 3): grey luma, chroma sample (1, 0)
            // pushes red, which must land on column 2 of rows 0 and 1 only.
            let y = [126u8, 126, 126, 0, 126, 126, 126, 0, 126, 126, 126, 0];
            let u = [128u8, 128, 0, 128, 128, 0];
            let v = [128u8, 200, 0, 128, 128, 0];
            let rgb = i420_to_rgb([&y, &u, &v], [4, 3, 3], 3, 3, BT601, false);
            assert_eq!(rgb.len(), 27);
            let px = |x: usize, yy: usize| &rgb[(yy * 3 + x) * 3..(yy * 3 + x) * 3 + 3];
            for (x, yy) in [(0, 0), (1, 1), (0, 2), (2, 2)] {
                assert_eq!(px(x, yy), [128, 128, 128], "grey at {x},{yy}");
            }
            for yy in [0, 1] {
                assert!(px(2, yy)[0] > 200 && px(2, yy)[1] < 128, "red at 2,{yy}: {:?}", px(2, yy));
            }
        }

        #[test]
        fn rates_reduce_and_halve() {
            let ntsc = Rate::new(30000, 1001).unwrap();
            assert_eq!(ntsc.half(), Rate { num: 15000, den: 1001 });
            assert_eq!(Rate::new(50, 2).unwrap(), Rate { num: 25, den: 1 });
            assert_eq!(Rate::new(25, 1).unwrap().half(), Rate { num: 25, den: 2 });
            assert_eq!(Rate::new(0, 1), None);
            assert_eq!(Rate::new(1, 0), None);
        }

        #[test]
        fn half_even_matches_imsmdown() {
            assert_eq!(half_even(960), 480);
            assert_eq!(half_even(540), 270);
            assert_eq!(half_even(1080), 540);
            assert_eq!(half_even(270), 134);
            assert_eq!(half_even(3), 1);
            assert_eq!(half_even(1), 1);
        }

        #[test]
        fn pts_map_to_nearest_frame() {
            let ntsc = Rate::new(30000, 1001).unwrap();
            // Frame k of 30000/1001 is at k * 33366666.67 ns; GStreamer rounds down.
            for k in [0u64, 1, 2, 59, 1000, 100_000] {
                let pts = 1_000 + k * 1_001_000_000_000 / 30_000;
                assert_eq!(pts_to_index(pts, 1_000, ntsc), Some(k));
                assert_eq!(pts_to_index(pts + 10_000_000, 1_000, ntsc), Some(k), "jitter below half a frame");
            }
            assert_eq!(pts_to_index(5, 10, ntsc), None, "before the first frame");
        }

        #[test]
        fn key_frames_at_ratio_two_are_the_even_ones() {
            let hr = Rate::new(30000, 1001).unwrap();
            let lr = hr.half();
            let keys: Vec<u64> = (0..8).filter(|&i| is_key(i, hr, lr)).collect();
            assert_eq!(keys, [0, 2, 4, 6]);
        }

        #[test]
        fn key_frames_at_other_ratios() {
            // 60 -> 24 fps (r = 2.5): every fifth source frame.
            let keys: Vec<u64> =
                (0..12).filter(|&i| is_key(i, Rate::new(60, 1).unwrap(), Rate::new(24, 1).unwrap())).collect();
            assert_eq!(keys, [0, 5, 10]);
            // Equal rates: every frame.
            assert!((0..5).all(|i| is_key(i, Rate::new(25, 1).unwrap(), Rate::new(25, 1).unwrap())));
        }

        #[test]
        fn bitrate_in_kbit_per_second() {
            // 30 frames at 15 fps = 2 s; 250 000 bytes = 2 000 000 bits -> 1000 kbit/s.
            let r = Rate::new(15, 1).unwrap();
            assert!((kbps(250_000, 30, r).unwrap() - 1000.0).abs() < 1e-9);
            assert_eq!(kbps(1, 0, r), None);
            let ntsc_half = Rate::new(15000, 1001).unwrap();
            let k = kbps(100_000, 30, ntsc_half).unwrap();
            assert!((k - 800.0 * 15000.0 / 1001.0 / 30.0).abs() < 1e-9, "{k}");
        }

        #[test]
        fn arguments() {
            let a = args("clip.mp4").unwrap().unwrap();
            assert_eq!(a.clip, std::path::PathBuf::from("clip.mp4"));
            assert_eq!((a.crf, a.threads, a.classic_scale.as_str(), a.keep), (23, 2, "bilinear", None));
            let a = args("--crf 30 --threads 1 --classic-scale catrom --model-dir m --keep out x.mp4").unwrap().unwrap();
            assert_eq!(a.model_dir, Some("m".into()));
            assert_eq!(args("x.mp4").unwrap().unwrap().model_dir, None);
            assert_eq!((a.crf, a.threads, a.classic_scale.as_str()), (30, 1, "catrom"));
            assert_eq!(a.keep, Some("out".into()));
            assert_eq!(args("--help").unwrap(), None);
            assert!(args("").unwrap_err().contains("no clip"));
            assert!(args("--crf 51 x").unwrap_err().contains("0-50"));
            assert!(args("--crf x.mp4").unwrap_err().contains("0-50"), "a clip name is no CRF");
            assert!(args("--threads").unwrap_err().contains("needs a value"));
            assert!(args("--frobnicate x").unwrap_err().contains("unknown option"));
            assert!(args("a.mp4 b.mp4").unwrap_err().contains("one clip"));
        }
    }
}

type Res<T> = Result<T, String>;

/// One decoded RGB frame, packed (3 bytes per pixel, no row padding).
struct Frame {
    pts: u64,
    width: u32,
    height: u32,
    rate: Option<Rate>,
    /// The Y'CbCr matrix and range it was converted from.
    matrix: metrics::Matrix,
    full_range: bool,
    data: Vec<u8>,
}

/// Copies a sample out of an appsink as a packed RGB frame. The sinks take I420 and
/// this converts it with exact BT.601/709/2020 maths: GStreamer 1.22's videoconvert
/// fast path is off by a few code values (on the bundled clip its RGB averages 2-4
/// below an exact conversion, as ffmpeg's accurate one gives), which would skew a
/// comparison between paths that convert in different places.
fn pull_frame(sink: &gst::Element) -> Res<Option<Frame>> {
    let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) else {
        return Ok(None);
    };
    let caps = sample.caps().ok_or("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("bad caps {caps}: {e}"))?;
    if info.format() != gst_video::VideoFormat::I420 {
        return Err(format!("expected I420 frames, got {caps}"));
    }
    let buffer = sample.buffer().ok_or("sample without buffer")?;
    let pts = buffer.pts().ok_or("frame without a timestamp")?.nseconds();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| "could not map a frame".to_string())?;
    let (w, h) = (info.width(), info.height());
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt709 => metrics::BT709,
        gst_video::VideoColorMatrix::Bt2020 => metrics::BT2020,
        gst_video::VideoColorMatrix::Bt601 => metrics::BT601,
        _ if h >= 720 => metrics::BT709,
        _ => metrics::BT601,
    };
    let full = c.range() == gst_video::VideoColorRange::Range0_255;
    let plane = |p: u32| frame.plane_data(p).map_err(|e| e.to_string());
    let strides = frame.plane_stride();
    let data = metrics::i420_to_rgb(
        [plane(0)?, plane(1)?, plane(2)?],
        [strides[0] as usize, strides[1] as usize, strides[2] as usize],
        w as usize,
        h as usize,
        matrix,
        full,
    );
    let fps = info.fps();
    let rate = Rate::new(fps.numer().max(0) as u64, fps.denom().max(0) as u64);
    Ok(Some(Frame { pts, width: w, height: h, rate, matrix, full_range: full, data }))
}

/// Calls `f` for every frame reaching the appsink `name`. An error from `f` stops the
/// pipeline and is returned by [`run`].
fn on_frames(
    pipeline: &gst::Pipeline,
    name: &str,
    errors: &Arc<Mutex<Option<String>>>,
    f: impl FnMut(Frame) -> Res<()> + Send + 'static,
) -> Res<()> {
    let sink = pipeline.by_name(name).ok_or_else(|| format!("no element {name}"))?;
    sink.set_property("emit-signals", true);
    sink.set_property("sync", false);
    let f = Mutex::new(f);
    let errors = Arc::clone(errors);
    sink.connect("new-sample", false, move |args| {
        let sink = args[0].get::<gst::Element>().expect("appsink");
        let result = pull_frame(&sink).and_then(|frame| match frame {
            Some(frame) => (f.lock().unwrap())(frame),
            None => Ok(()),
        });
        let flow = match result {
            Ok(()) => gst::FlowReturn::Ok,
            Err(e) => {
                errors.lock().unwrap().get_or_insert(e);
                gst::FlowReturn::Error
            }
        };
        Some(flow.to_value())
    });
    Ok(())
}

/// Builds a pipeline from a gst-launch description; `filesrc name=src` gets `location`
/// (set as a property, so any path works) and `filesink name=out` gets `output`.
fn pipeline(description: &str, location: &Path, output: Option<&Path>) -> Res<gst::Pipeline> {
    let p = gst::parse::launch(description)
        .map_err(|e| format!("cannot build pipeline `{description}`: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    p.by_name("src").ok_or("no src")?.set_property("location", location);
    if let Some(output) = output {
        p.by_name("out").ok_or("no out")?.set_property("location", output);
    }
    Ok(p)
}

/// Plays a pipeline to EOS. Returns its wall time; prints the imsm elements' INFO lines
/// (graphs, ONNX Runtime version, execution provider) and every WARNING.
fn run(p: &gst::Pipeline, what: &str, errors: &Arc<Mutex<Option<String>>>, info: &mut Vec<String>) -> Res<Duration> {
    let start = Instant::now();
    let started = p.set_state(gst::State::Playing);
    let bus = p.bus().expect("pipeline bus");
    let error_text = |msg: &gst::Message| -> Option<String> {
        let gst::MessageView::Error(e) = msg.view() else { return None };
        let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
        let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
        // GStreamer's debug text is "file(line): function (): element path" and then,
        // on further lines, the detail worth showing.
        let detail = if debug.lines().count() > 1 { debug.lines().last().unwrap_or("").trim().to_string() } else { String::new() };
        Some(if detail.is_empty() { format!("{what}: {src}: {}", e.error()) } else { format!("{what}: {src}: {} ({detail})", e.error()) })
    };
    let mut result = Ok(());
    if started.is_err() {
        // An element that refuses to start posts its error before that.
        let mut text = format!("{what}: the pipeline did not start");
        while let Some(msg) = bus.pop() {
            if let Some(t) = error_text(&msg) {
                text = t;
                break;
            }
        }
        result = Err(text);
    } else {
        for msg in bus.iter_timed(gst::ClockTime::NONE) {
            use gst::MessageView;
            let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
            match msg.view() {
                MessageView::Eos(_) => break,
                MessageView::Error(_) => {
                    result = Err(error_text(&msg).unwrap());
                    break;
                }
                MessageView::Warning(w) => eprintln!("  warning from {src}: {}", w.error()),
                MessageView::Info(i) if src.starts_with("imsm") => {
                    let line = format!("{src}: {}", i.error());
                    if !info.contains(&line) {
                        info.push(line);
                    }
                }
                _ => {}
            }
        }
    }
    let _ = p.set_state(gst::State::Null);
    if let Some(e) = errors.lock().unwrap().take() {
        return Err(format!("{what}: {e}"));
    }
    result?;
    Ok(start.elapsed())
}

/// Sums the bytes of the buffers leaving element `name`'s src pad.
fn count_bytes(p: &gst::Pipeline, name: &str) -> Res<Arc<Mutex<(u64, u64)>>> {
    let counter = Arc::new(Mutex::new((0u64, 0u64)));
    let c = Arc::clone(&counter);
    let pad = p.by_name(name).ok_or("no encoder")?.static_pad("src").ok_or("encoder without src pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let mut c = c.lock().unwrap();
            c.0 += buffer.size() as u64;
            c.1 += 1;
        }
        gst::PadProbeReturn::Ok
    });
    Ok(counter)
}

/// Per-stream comparison against the reference frames, by frame index.
#[derive(Default)]
struct Score {
    all: metrics::Accum,
    key: metrics::Accum,
    between: metrics::Accum,
    frames: usize,
    /// Frames that map to no reference frame (beyond the clip's end) or repeat an index.
    unmatched: usize,
    /// The Y'CbCr matrix and range of the first frame (the stream's).
    colour: Option<(metrics::Matrix, bool)>,
}

struct Reference {
    frames: Vec<Option<Vec<u8>>>,
    width: u32,
    height: u32,
    rate: Rate,
    low_rate: Rate,
}

/// Scores frames of `rate` against `reference` frames (same rate), in arrival order.
fn scorer(
    reference: Arc<Reference>,
    key_of: impl Fn(u64) -> bool + Send + 'static,
    rate: Rate,
    score: Arc<Mutex<Score>>,
) -> impl FnMut(Frame) -> Res<()> + Send + 'static {
    let mut first = None;
    let mut seen = std::collections::HashSet::new();
    move |frame: Frame| {
        if (frame.width, frame.height) != (reference.width, reference.height) {
            return Err(format!(
                "frame is {}x{}, expected {}x{}",
                frame.width, frame.height, reference.width, reference.height
            ));
        }
        let first = *first.get_or_insert(frame.pts);
        let mut s = score.lock().unwrap();
        s.frames += 1;
        s.colour.get_or_insert((frame.matrix, frame.full_range));
        let Some(i) = pts_to_index(frame.pts, first, rate) else {
            s.unmatched += 1;
            return Ok(());
        };
        match reference.frames.get(i as usize).and_then(|f| f.as_ref()) {
            Some(r) if seen.insert(i) => {
                s.all.add(r, &frame.data);
                if key_of(i) {
                    s.key.add(r, &frame.data);
                } else {
                    s.between.add(r, &frame.data);
                }
            }
            _ => s.unmatched += 1,
        }
        Ok(())
    }
}

/// Scores full-rate frames against the clip's reference frames, in-between and key
/// instants apart (the up passes and mci).
fn full_rate_scorer(reference: &Arc<Reference>, score: &Arc<Mutex<Score>>) -> impl FnMut(Frame) -> Res<()> + Send + 'static {
    let (hr, lr) = (reference.rate, reference.low_rate);
    scorer(Arc::clone(reference), move |i| is_key(i, hr, lr), hr, Arc::clone(score))
}

/// Decodes the clip to RGB: the reference frames, indexed from the first timestamp.
fn decode_reference(clip: &Path, info: &mut Vec<String>) -> Res<Reference> {
    let p = pipeline(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink",
        clip,
        None,
    )?;
    let errors = Arc::new(Mutex::new(None));
    let frames = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let f = Arc::clone(&frames);
    on_frames(&p, "sink", &errors, move |frame| {
        f.lock().unwrap().push(frame);
        Ok(())
    })?;
    run(&p, "decoding the clip", &errors, info)?;
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    let first = frames.first().ok_or("the clip decoded to no video frames")?;
    let (width, height) = (first.width, first.height);
    let rate = first
        .rate
        .ok_or("the clip has no constant frame rate (framerate 0/1); the round trip needs one")?;
    let first_pts = first.pts;
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for f in frames {
        let i = pts_to_index(f.pts, first_pts, rate).ok_or("the clip's timestamps go backwards")? as usize;
        if out.len() <= i {
            out.resize(i + 1, None);
        }
        if out[i].is_some() {
            return Err(format!("two decoded frames fall on frame slot {i}: timestamps do not follow {}/{} fps", rate.num, rate.den));
        }
        out[i] = Some(f.data);
    }
    Ok(Reference { frames: out, width, height, rate, low_rate: rate.half() })
}

struct Method {
    name: &'static str,
    down: String,
    up: String,
}

/// A round trip's figures; the down side's are absent for an up pass alone.
struct Outcome {
    score: Score,
    low_rate_frames: u64,
    low_rate_bytes: u64,
    file_bytes: u64,
    down_time: Option<Duration>,
    up_time: Duration,
}

/// Builds `description` (see [`pipeline`]) and points its imsm elements, if any, at
/// `model_dir` (a property, so any path works).
fn imsm_pipeline(description: &str, location: &Path, output: Option<&Path>, model_dir: Option<&Path>) -> Res<gst::Pipeline> {
    let p = pipeline(description, location, output)?;
    if let Some(dir) = model_dir {
        for name in ["imsmdown", "imsmup"] {
            if let Some(e) = p.by_name(name) {
                e.set_property("model-dir", dir.display().to_string());
            }
        }
    }
    Ok(p)
}

/// Plays `up` on the low-rate `file` and scores its output against the reference frames.
fn up_pass(
    name: &str,
    up: &str,
    file: &Path,
    reference: &Arc<Reference>,
    model_dir: Option<&Path>,
    info: &mut Vec<String>,
) -> Res<(Score, Duration)> {
    let p = imsm_pipeline(up, file, None, model_dir)?;
    let errors = Arc::new(Mutex::new(None));
    let score = Arc::new(Mutex::new(Score::default()));
    on_frames(&p, "sink", &errors, full_rate_scorer(reference, &score))?;
    let up_time = run(&p, &format!("{name} up"), &errors, info)?;
    let score = std::mem::take(&mut *score.lock().unwrap());
    Ok((score, up_time))
}

fn round_trip(
    m: &Method,
    clip: &Path,
    file: &Path,
    reference: &Arc<Reference>,
    model_dir: Option<&Path>,
    on_low_rate: impl FnMut(Frame) -> Res<()> + Send + 'static,
    info: &mut Vec<String>,
) -> Res<Outcome> {
    // Down: clip -> low-rate H.264 file (and the low-rate frames before x264, as RGB).
    let p = imsm_pipeline(&m.down, clip, Some(file), model_dir)?;
    let errors = Arc::new(Mutex::new(None));
    on_frames(&p, "lr", &errors, on_low_rate)?;
    let bytes = count_bytes(&p, "enc")?;
    let down_time = run(&p, &format!("{} down", m.name), &errors, info)?;
    let (low_rate_bytes, low_rate_frames) = *bytes.lock().unwrap();
    let file_bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);

    // Up: the file -> the clip's size and rate, scored against the reference.
    let (score, up_time) = up_pass(m.name, &m.up, file, reference, model_dir, info)?;
    Ok(Outcome { score, low_rate_frames, low_rate_bytes, file_bytes, down_time: Some(down_time), up_time })
}

/// ffmpeg's motion-compensated interpolation (`minterpolate=mi_mode=mci`) of the
/// low-rate `file` to the clip's rate, then its bicubic scale to the clip's size: the
/// best a pipeline does today without learned weights. `colour` is the low-rate
/// stream's matrix and range (ffmpeg keeps the Y'CbCr values, it converts no matrix).
/// None when ffmpeg is not installed.
fn mci_pass(file: &Path, reference: &Arc<Reference>, colour: (metrics::Matrix, bool), scratch: &Path) -> Res<Option<(Score, Duration)>> {
    let (w, h, hr) = (reference.width as usize, reference.height as usize, reference.rate);
    let output = scratch.join("mci.yuv");
    let start = Instant::now();
    // tpad repeats the last low-rate frame twice, so that minterpolate renders the
    // instants after it too (imsmup and videorate hold it to the end as well).
    let filter = format!("tpad=stop_mode=clone:stop=2,minterpolate=fps={}/{}:mi_mode=mci,scale={w}:{h}:flags=bicubic", hr.num, hr.den);
    let run = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(file)
        .args(["-vf", &filter, "-pix_fmt", "yuv420p", "-f", "rawvideo"])
        .arg(&output)
        .output();
    let out = match run {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot run ffmpeg: {e}")),
        Ok(out) => out,
    };
    if !out.status.success() {
        return Err(format!("ffmpeg minterpolate failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let frame_bytes = w * h + 2 * cw * ch;
    let score = Arc::new(Mutex::new(Score::default()));
    let mut score_frame = full_rate_scorer(reference, &score);
    // One frame in memory at a time. Raw video carries no timestamps: frame k is at
    // k / rate from the first.
    let cannot_read = |e: std::io::Error| format!("cannot read {}: {e}", output.display());
    let file_len = std::fs::metadata(&output).map_err(cannot_read)?.len() as usize;
    let mut yuv = std::io::BufReader::new(std::fs::File::open(&output).map_err(cannot_read)?);
    let mut f = vec![0u8; frame_bytes];
    for k in 0..(file_len / frame_bytes).min(reference.frames.len()) {
        std::io::Read::read_exact(&mut yuv, &mut f).map_err(cannot_read)?;
        let (y, rest) = f.split_at(w * h);
        let (u, v) = rest.split_at(cw * ch);
        let data = metrics::i420_to_rgb([y, u, v], [w, cw, cw], w, h, colour.0, colour.1);
        let pts = (k as u128 * hr.den as u128 * 1_000_000_000 / hr.num as u128) as u64;
        score_frame(Frame { pts, width: w as u32, height: h as u32, rate: Some(hr), matrix: colour.0, full_range: colour.1, data })?;
    }
    drop(yuv);
    let _ = std::fs::remove_file(&output);
    let score = std::mem::take(&mut *score.lock().unwrap());
    Ok(Some((score, start.elapsed())))
}

/// Removes the scratch directory when dropped (unless the files are to be kept).
struct Scratch(PathBuf, bool);

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn main() -> ExitCode {
    let args = match metrics::parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", metrics::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("roundtrip: {e}\n{}", metrics::USAGE);
            return ExitCode::from(2);
        }
    };
    match real_main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roundtrip: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: &metrics::Args) -> Res<()> {
    let clip = &args.clip;
    if !clip.is_file() {
        return Err(format!("clip not found: {}", clip.display()));
    }
    if let Some(dir) = &args.model_dir {
        if !dir.join("down.onnx").is_file() {
            return Err(format!("--model-dir {}: no down.onnx there", dir.display()));
        }
    }
    gst::init().map_err(|e| format!("GStreamer did not initialise: {e}"))?;
    for needed in ["decodebin", "videoconvert", "videoscale", "videorate", "x264enc", "mp4mux", "qtdemux", "h264parse", "avdec_h264", "appsink", "tee"] {
        if gst::ElementFactory::find(needed).is_none() {
            return Err(format!(
                "GStreamer element {needed} is missing (install gstreamer1.0-plugins-base/-good/-bad/-ugly and gstreamer1.0-libav; scripts/setup.sh does)"
            ));
        }
    }
    let plugin = match gst::ElementFactory::find("imsmdown") {
        Some(f) => f.plugin().and_then(|p| p.filename()).map(|p| p.display().to_string()).unwrap_or_else(|| "the registry".into()),
        None => {
            gstimsm::plugin_register_static().map_err(|e| format!("cannot register the imsm plugin: {e}"))?;
            "built into this example".into()
        }
    };

    let mut info = Vec::new();
    let reference = Arc::new(decode_reference(clip, &mut info)?);
    let (w, h, hr, lr) = (reference.width, reference.height, reference.rate, reference.low_rate);
    let (lw, lh) = (metrics::half_even(w), metrics::half_even(h));
    let n_frames = reference.frames.iter().filter(|f| f.is_some()).count();
    let n_key = (0..reference.frames.len() as u64).filter(|&i| reference.frames[i as usize].is_some() && is_key(i, hr, lr)).count();

    println!("gst-imsm round trip: {}", clip.display());
    println!("  source     {w}x{h} @ {:.3} fps ({}/{}), {n_frames} frames", hr.fps(), hr.num, hr.den);
    println!("  low rate   {lw}x{lh} @ {:.3} fps ({}/{}), x264enc speed-preset=medium pass=qual quantizer={} (CRF {})", lr.fps(), lr.num, lr.den, args.crf, args.crf);
    println!("  plugin     {plugin}");

    let scratch = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Scratch(dir.clone(), true)
        }
        None => {
            let dir = std::env::temp_dir().join(format!("imsm-roundtrip-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Scratch(dir, false)
        }
    };

    let low_caps = format!("video/x-raw,width={lw},height={lh},framerate={}/{}", lr.num, lr.den);
    let high_caps = format!("video/x-raw,width={w},height={h},framerate={}/{}", hr.num, hr.den);
    let x264 = format!("x264enc name=enc speed-preset=medium pass=qual quantizer={}", args.crf);
    let tail = |enc: &str| {
        format!(
            "tee name=t t. ! queue ! {enc} ! mp4mux ! filesink name=out \
             t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! videoconvert ! video/x-raw,format=I420 ! appsink name=lr"
        )
    };
    let up_tail = "videoconvert ! video/x-raw,format=I420 ! appsink name=sink";
    let threads = args.threads;
    let imsm = Method {
        name: "imsm",
        down: format!("filesrc name=src ! decodebin ! videoconvert ! imsmdown name=imsmdown threads={threads} ! {low_caps} ! {}", tail(&x264)),
        up: format!(
            "filesrc name=src ! qtdemux ! h264parse ! avdec_h264 ! imsmup name=imsmup threads={threads} stream-kind=imsm ! {high_caps} ! {up_tail}"
        ),
    };
    let scale = &args.classic_scale;
    let classic = Method {
        name: "classic",
        down: format!("filesrc name=src ! decodebin ! videoconvert ! videorate ! videoscale method={scale} ! {low_caps} ! {}", tail(&x264)),
        up: format!("filesrc name=src ! qtdemux ! h264parse ! avdec_h264 ! videorate ! videoscale method={scale} ! {high_caps} ! {up_tail}"),
    };
    // imsmup on the classic low-rate stream: ordinary video, nothing hidden in it.
    let plain_up = format!(
        "filesrc name=src ! qtdemux ! h264parse ! avdec_h264 ! imsmup name=imsmup threads={threads} stream-kind=plain ! {high_caps} ! {up_tail}"
    );

    // Catch a bad option (e.g. --classic-scale) before minutes of work.
    for d in [&imsm.down, &imsm.up, &classic.down, &classic.up, &plain_up] {
        gst::parse::launch(d).map_err(|e| format!("cannot build pipeline `{d}`: {e}"))?;
    }
    let model_dir = args.model_dir.as_deref();

    // imsmdown's low-rate frames, kept to compare with the classic ones.
    let imsm_low = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let keep_low = Arc::clone(&imsm_low);
    let a = round_trip(&imsm, clip, &scratch.0.join("imsm_low.mp4"), &reference, model_dir, move |f| {
        keep_low.lock().unwrap().push(f);
        Ok(())
    }, &mut info)?;
    let low = Arc::new(Reference {
        frames: {
            let frames = std::mem::take(&mut *imsm_low.lock().unwrap());
            let first = frames.first().map(|f| f.pts).unwrap_or(0);
            let mut out = Vec::new();
            for f in frames {
                let i = pts_to_index(f.pts, first, lr).unwrap_or(0) as usize;
                if out.len() <= i {
                    out.resize(i + 1, None);
                }
                out[i] = Some(f.data);
            }
            out
        },
        width: lw,
        height: lh,
        rate: lr,
        low_rate: lr,
    });
    let low_score = Arc::new(Mutex::new(Score::default()));
    let classic_file = scratch.0.join("classic_low.mp4");
    let b = round_trip(&classic, clip, &classic_file, &reference, None,
        scorer(Arc::clone(&low), |_| true, lr, Arc::clone(&low_score)), &mut info)?;
    let (plain_score, plain_time) = up_pass("imsmup on the classic stream", &plain_up, &classic_file, &reference, model_dir, &mut info)?;
    let c = Outcome { score: plain_score, down_time: None, up_time: plain_time, ..b };
    let colour = b.score.colour.ok_or("the classic round trip gave no frames")?;
    let mci = mci_pass(&classic_file, &reference, colour, &scratch.0)?;

    for line in &info {
        println!("  {line}");
    }
    println!();
    for (name, o) in [("imsm", &a), ("classic", &b)] {
        let rate = kbps(o.low_rate_bytes, o.low_rate_frames, lr).map(|k| format!("{k:.0}")).unwrap_or_else(|| "-".into());
        let down = o.down_time.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "-".into());
        println!(
            "  {name:<8} low-rate H.264: {} frames, {rate} kbit/s ({} bytes in the .mp4); down {down}, up {:.1} s",
            o.low_rate_frames, o.file_bytes, o.up_time.as_secs_f64()
        );
    }
    println!("  imsmup on the classic low-rate file (stream-kind=plain): up {:.1} s", c.up_time.as_secs_f64());
    match &mci {
        Some((_, t)) => println!("  ffmpeg minterpolate (mci) + bicubic on the classic low-rate file: up {:.1} s", t.as_secs_f64()),
        None => println!("  ffmpeg not found: no mci row"),
    }
    println!();
    let n_between = n_frames - n_key;
    println!("  PSNR, RGB, dB (MSE over the frames)          all ({n_frames})   key ({n_key})   in-between ({n_between})");
    let classic_label = format!("videorate+videoscale ({scale}) both ways");
    let mut rows = vec![
        ("imsmdown -> x264 -> imsmup", &a.score),
        ("classic down -> x264 -> imsmup (plain)", &c.score),
    ];
    if let Some((s, _)) = &mci {
        rows.push(("classic down -> x264 -> ffmpeg mci + bicubic", s));
    }
    rows.push((&classic_label, &b.score));
    for (label, s) in rows {
        println!(
            "  {label:<44} {:>8}   {:>8}   {:>15}",
            metrics::fmt_db(s.all.psnr()),
            metrics::fmt_db(s.key.psnr()),
            metrics::fmt_db(s.between.psnr())
        );
        if s.all.frames != n_frames || s.unmatched > 0 {
            println!(
                "    (scored {} of {n_frames} source frames; {} output frames, {} not matching a source frame)",
                s.all.frames, s.frames, s.unmatched
            );
        }
    }
    let ls = low_score.lock().unwrap();
    println!(
        "  low-rate frames before x264, imsmdown vs videorate+videoscale ({scale}): {} dB over {} frames",
        metrics::fmt_db(ls.all.psnr()),
        ls.all.frames
    );
    if info.iter().any(|l| l.contains("running reference graphs")) {
        println!();
        println!("  Note: these imsm elements ran the REFERENCE graphs (bicubic resizing + linear frame");
        println!("  blending, no learned weights): the imsm rows above are those of bicubic + blending.");
        println!("  The trained graphs: --model-dir models/imsm-full-focus (scripts/demo.sh's default).");
    }
    if args.keep.is_some() {
        println!("  low-rate files kept in {}", scratch.0.display());
    }
    Ok(())
}
