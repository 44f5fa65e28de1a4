//! What imsm-eval measures: settings (a time ratio and a size ratio), channels (lossless
//! or x264 at a CRF) and methods, parsed from and formatted for the command line; the
//! key / in-between classification of 60 fps instants; bitrate arithmetic.

use std::fmt;

/// The rate every clip's frames are taken to have: frame n is instant n / 60 s.
pub const SOURCE_FPS: u32 = 60;

/// Default `--settings`.
pub const DEFAULT_SETTINGS: &str = "t2,t2s2,t25s15";
/// Default `--channels`.
pub const DEFAULT_CHANNELS: &str = "lossless,crf18,crf23,crf28";

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A time ratio and a size ratio: the low-rate stream has `SOURCE_FPS * lr / hr` fps and
/// the source size divided by `size`.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The name as given (`t2s2`, `60:24@1.5`).
    pub name: String,
    /// Time ratio `hr / lr` in lowest terms: `hr` source frames per `lr` low-rate frames.
    pub hr: u32,
    pub lr: u32,
    /// Size ratio: source size / low-rate size (1 = same size).
    pub size: f64,
}

/// Parses the digits of a shorthand ratio: the first digit is the integer part, the rest
/// are decimals (`2` = 2, `25` = 2.5, `15` = 1.5). Returns (numerator, denominator).
fn shorthand(digits: &str) -> Option<(u64, u64)> {
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num: u64 = digits.parse().ok()?;
    let den = 10u64.pow(digits.len() as u32 - 1);
    (num > 0).then_some((num, den))
}

fn positive_number(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

impl Setting {
    /// Parses `t2`, `t2s2`, `t25s15` (first digit the integer part, the rest decimals:
    /// `t25` = time ratio 2.5, `s15` = size ratio 1.5), or `A:B[@S]`: source rate A to
    /// low rate B (only the ratio A/B matters; the source is always taken as 60 fps), size
    /// ratio S (default 1).
    pub fn parse(text: &str) -> Result<Setting, String> {
        let text = text.trim();
        let bad = |why: &str| format!("bad setting '{text}': {why} (expected e.g. t2, t2s2, t25s15 or 60:24@1.5)");
        let (num, den, size) = if let Some(rest) = text.strip_prefix('t').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())) {
            let (t, s) = match rest.split_once('s') {
                Some((t, s)) => (t, Some(s)),
                None => (rest, None),
            };
            let (num, den) = shorthand(t).ok_or_else(|| bad("time ratio digits"))?;
            let size = match s {
                Some(s) => {
                    let (n, d) = shorthand(s).ok_or_else(|| bad("size ratio digits"))?;
                    n as f64 / d as f64
                }
                None => 1.0,
            };
            (num, den, size)
        } else if let Some((rates, size)) = text.split_once(':').map(|(a, b)| {
            let (b, s) = match b.split_once('@') {
                Some((b, s)) => (b, Some(s)),
                None => (b, None),
            };
            ((a, b), s)
        }) {
            let rate = |s: &str| s.trim().parse::<u64>().ok().filter(|&v| v > 0 && v <= 100_000);
            let a = rate(rates.0).ok_or_else(|| bad("source rate must be a positive integer"))?;
            let b = rate(rates.1).ok_or_else(|| bad("low rate must be a positive integer"))?;
            let size = match size {
                Some(s) => positive_number(s).ok_or_else(|| bad("size ratio must be a positive number"))?,
                None => 1.0,
            };
            (a, b, size)
        } else {
            return Err(bad("unknown form"));
        };
        if !(size.is_finite() && size > 0.0 && size <= 64.0) {
            return Err(bad("size ratio out of range (0, 64]"));
        }
        let g = gcd(num, den);
        let (hr, lr) = (num / g, den / g);
        // The low rate 60 * lr / hr must be a sane GStreamer fraction.
        if hr > 100_000 || lr > 100_000 {
            return Err(bad("time ratio too fine"));
        }
        Ok(Setting { name: text.to_string(), hr: hr as u32, lr: lr as u32, size })
    }

    /// Parses a comma-separated list; rejects duplicates and an empty list.
    pub fn parse_list(text: &str) -> Result<Vec<Setting>, String> {
        let mut out: Vec<Setting> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let s = Setting::parse(item)?;
            if out.iter().any(|o| o.name == s.name) {
                return Err(format!("setting '{}' given twice", s.name));
            }
            out.push(s);
        }
        if out.is_empty() {
            return Err("no settings given".into());
        }
        Ok(out)
    }

    /// The time ratio r = 60 / f_low.
    pub fn time_ratio(&self) -> f64 {
        self.hr as f64 / self.lr as f64
    }

    /// The low frame rate as a reduced fraction (numerator, denominator).
    pub fn low_rate(&self) -> (i32, i32) {
        let (n, d) = (SOURCE_FPS as u64 * self.lr as u64, self.hr as u64);
        let g = gcd(n, d);
        ((n / g) as i32, (d / g) as i32)
    }

    pub fn low_fps(&self) -> f64 {
        let (n, d) = self.low_rate();
        n as f64 / d as f64
    }

    /// Whether source instant k (k / 60 s) has a low-rate frame at the same instant.
    pub fn is_key(&self, k: u64) -> bool {
        (k * self.lr as u64) % self.hr as u64 == 0
    }

    /// Low-rate frame size for a `w` x `h` source: divided by the size ratio, rounded to
    /// even (at least 2).
    pub fn low_size(&self, w: usize, h: usize) -> (usize, usize) {
        let even = |v: usize| {
            let x = v as f64 / self.size;
            ((x / 2.0).round() as usize * 2).max(2)
        };
        (even(w), even(h))
    }

    /// One line for people: `60 -> 24 fps, 1/1.5 size`.
    pub fn describe(&self) -> String {
        let size = if self.size == 1.0 { "same size".to_string() } else { format!("1/{} size", trim_float(self.size)) };
        format!("{} -> {} fps, {}", SOURCE_FPS, trim_float(self.low_fps()), size)
    }
}

/// `2.0` -> `2`, `1.5` -> `1.5`, `23.976023976` -> `23.976`.
pub fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// x265 at CRF c gives about the PSNR of x264 at CRF c - 1.5 (PyAV, preset medium,
/// 16-frame 320x176 clips of 8 training clips, CRF 16-32); the same constant as
/// `training/imsm/channel.py`.
pub const X265_CRF_OFFSET: f64 = 1.5;

/// What carries the low-rate (or direct) stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// 8-bit I420 passed on unchanged.
    Lossless,
    /// x264 in constant-quality (CRF) mode at this value, decoded again.
    Crf(u32),
    /// x265 (HEVC) in CRF mode at this value, decoded again: a second encoder, to see
    /// whether what imsmdown hides survives more than the codec it was trained with.
    X265Crf(u32),
}

impl Channel {
    pub fn parse(text: &str) -> Result<Channel, String> {
        let text = text.trim();
        if text == "lossless" {
            return Ok(Channel::Lossless);
        }
        if let Some(v) = text.strip_prefix("x265crf") {
            return match v.parse::<u32>() {
                Ok(q) if q <= 51 => Ok(Channel::X265Crf(q)),
                Ok(_) => Err(format!("bad channel '{text}': x265enc takes a CRF of 0 to 51")),
                Err(_) => Err(format!("bad channel '{text}' (expected x265crfN, e.g. x265crf23)")),
            };
        }
        match text.strip_prefix("crf").and_then(|v| v.parse::<u32>().ok()) {
            Some(q) if q <= 50 => Ok(Channel::Crf(q)),
            Some(_) => Err(format!("bad channel '{text}': x264enc takes a CRF of 0 to 50")),
            None => Err(format!("bad channel '{text}' (expected lossless, crfN (x264) or x265crfN, e.g. crf23)")),
        }
    }

    pub fn parse_list(text: &str) -> Result<Vec<Channel>, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let c = Channel::parse(item)?;
            if out.contains(&c) {
                return Err(format!("channel '{c}' given twice"));
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err("no channels given".into());
        }
        Ok(out)
    }

    /// imsmdown's `channel-quality` for this channel, as the training maps it
    /// (`training/imsm/channel.py: crf_to_quality`): 0 lossless, x264 CRF c -> (c - 10) / 25
    /// clipped to [0, 1]; x265 CRF c as x264 CRF c - 1.5, the x264 CRF of about the same
    /// PSNR (`X265_CRF_OFFSET` there, measured with PyAV).
    pub fn quality_hint(self) -> f64 {
        let of_x264_crf = |c: f64| ((c - 10.0) / 25.0).clamp(0.0, 1.0);
        match self {
            Channel::Lossless => 0.0,
            Channel::Crf(c) => of_x264_crf(c as f64),
            Channel::X265Crf(c) => of_x264_crf(c as f64 - X265_CRF_OFFSET),
        }
    }

    pub fn is_codec(self) -> bool {
        !matches!(self, Channel::Lossless)
    }

    /// The channels the rate-distortion view and BD-rate are drawn from (one encoder, so
    /// that the points lie on one curve).
    pub fn is_x264(self) -> bool {
        matches!(self, Channel::Crf(_))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Lossless => write!(f, "lossless"),
            Channel::Crf(q) => write!(f, "crf{q}"),
            Channel::X265Crf(q) => write!(f, "x265crf{q}"),
        }
    }
}

/// The methods compared, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// videoscale + videorate down and up: what a pipeline does today.
    Classic,
    /// Bicubic + linear frame blending (imsmup with the reference graphs) on the classic stream.
    Blend,
    /// ffmpeg minterpolate (mci) + bicubic on the classic stream.
    Mci,
    /// imsmup (default graphs) on the classic stream.
    ImsmPlain,
    /// imsmup told `plain` on imsmdown's cover: the reference down's plain downscale of the
    /// frames blended at each low-rate instant, with nothing hidden. Against imsm it shows
    /// what the hiding itself gives; against imsm-plain, what sampling at the instants gives.
    ImsmCover,
    /// imsmdown -> channel -> imsmup.
    Imsm,
    /// The full-rate, full-size source through the same channel.
    Direct,
}

impl Method {
    pub const ALL: [Method; 7] =
        [Method::Classic, Method::Blend, Method::Mci, Method::ImsmPlain, Method::ImsmCover, Method::Imsm, Method::Direct];

    pub fn name(self) -> &'static str {
        match self {
            Method::Classic => "classic",
            Method::Blend => "blend",
            Method::Mci => "mci",
            Method::ImsmPlain => "imsm-plain",
            Method::ImsmCover => "imsm-cover",
            Method::Imsm => "imsm",
            Method::Direct => "direct",
        }
    }

    pub fn parse(text: &str) -> Result<Method, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == text.trim())
            .ok_or_else(|| format!("unknown method '{}' (known: {})", text.trim(), Method::ALL.map(|m| m.name()).join(", ")))
    }

    pub fn parse_list(text: &str) -> Result<Vec<Method>, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let m = Method::parse(item)?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err("no methods given".into());
        }
        out.sort();
        Ok(out)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bitrate in kbit/s of `bytes` carrying `frames` frames at `rate` = (num, den) fps.
pub fn kbps(bytes: u64, frames: u64, rate: (i32, i32)) -> Option<f64> {
    if frames == 0 || rate.0 <= 0 || rate.1 <= 0 {
        return None;
    }
    let seconds = frames as f64 * rate.1 as f64 / rate.0 as f64;
    Some(bytes as f64 * 8.0 / seconds / 1000.0)
}

/// x264's keyframe interval for a stream of `rate`: about 2 seconds.
pub fn key_int_max(rate: (i32, i32)) -> u32 {
    ((2.0 * rate.0 as f64 / rate.1 as f64).round() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_hint_follows_the_training_mapping() {
        assert_eq!(Channel::Lossless.quality_hint(), 0.0);
        assert_eq!(Channel::Crf(5).quality_hint(), 0.0);
        assert!((Channel::Crf(18).quality_hint() - 0.32).abs() < 1e-12);
        assert!((Channel::Crf(23).quality_hint() - 0.52).abs() < 1e-12);
        assert!((Channel::Crf(28).quality_hint() - 0.72).abs() < 1e-12);
        assert_eq!(Channel::Crf(40).quality_hint(), 1.0);
        assert!((Channel::X265Crf(23).quality_hint() - Channel::Crf(23).quality_hint() + 0.06).abs() < 1e-12);
        assert_eq!(Channel::X265Crf(5).quality_hint(), 0.0);
    }

    #[test]
    fn presets() {
        let t2 = Setting::parse("t2").unwrap();
        assert_eq!((t2.hr, t2.lr, t2.size), (2, 1, 1.0));
        assert_eq!(t2.low_rate(), (30, 1));
        let t2s2 = Setting::parse("t2s2").unwrap();
        assert_eq!((t2s2.hr, t2s2.lr, t2s2.size), (2, 1, 2.0));
        let t25s15 = Setting::parse("t25s15").unwrap();
        assert_eq!((t25s15.hr, t25s15.lr, t25s15.size), (5, 2, 1.5));
        assert_eq!(t25s15.low_rate(), (24, 1));
        assert_eq!(t25s15.name, "t25s15");
        assert_eq!(t25s15.describe(), "60 -> 24 fps, 1/1.5 size");
        assert_eq!(t2.describe(), "60 -> 30 fps, same size");
    }

    #[test]
    fn custom_settings() {
        let s = Setting::parse("60:24@1.5").unwrap();
        assert_eq!((s.hr, s.lr, s.size), (5, 2, 1.5));
        assert_eq!(s.low_rate(), (24, 1));
        let s = Setting::parse("60:20").unwrap();
        assert_eq!((s.hr, s.lr, s.size), (3, 1, 1.0));
        // Only the ratio matters: 50:25 is 60 -> 30.
        assert_eq!(Setting::parse("50:25@2").unwrap().low_rate(), (30, 1));
        // Non-integer low rates stay exact fractions: 60 * 7 / 9 = 140 / 3.
        assert_eq!(Setting::parse("9:7").unwrap().low_rate(), (140, 3));
        assert_eq!(Setting::parse("t3").unwrap().low_rate(), (20, 1));
        assert_eq!(Setting::parse("t15").unwrap().low_rate(), (40, 1));
        for bad in ["", "x2", "t", "ts2", "t2s", "t0", "60:0", "0:30", "60:30@0", "60:30@-1", "60:30@abc", "t2s0", "60/30"] {
            assert!(Setting::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let list = Setting::parse_list("t2, t2s2,t25s15").unwrap();
        assert_eq!(list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["t2", "t2s2", "t25s15"]);
        assert!(Setting::parse_list("t2,t2").is_err());
        assert!(Setting::parse_list(" , ").is_err());
    }

    #[test]
    fn low_size_rounds_to_even() {
        let t2s2 = Setting::parse("t2s2").unwrap();
        assert_eq!(t2s2.low_size(960, 540), (480, 270));
        assert_eq!(t2s2.low_size(1920, 1080), (960, 540));
        let t25s15 = Setting::parse("t25s15").unwrap();
        assert_eq!(t25s15.low_size(960, 540), (640, 360));
        assert_eq!(t25s15.low_size(1280, 720), (854, 480)); // 853.3 -> 854
        assert_eq!(Setting::parse("t2").unwrap().low_size(962, 542), (962, 542));
        assert_eq!(Setting::parse("t2s2").unwrap().low_size(4, 2), (2, 2));
        assert_eq!(Setting::parse("60:30@3").unwrap().low_size(100, 50), (34, 16)); // 33.3 -> 34, 16.7 -> 16
    }

    #[test]
    fn key_and_mid_instants() {
        // 60 -> 30: every other source instant has a low-rate frame.
        let t2 = Setting::parse("t2").unwrap();
        let keys: Vec<u64> = (0..10).filter(|&k| t2.is_key(k)).collect();
        assert_eq!(keys, [0, 2, 4, 6, 8]);
        // 60 -> 24: low-rate frame j is at source position 2.5 j, so only every fifth
        // source instant (j even) coincides with one.
        let t25 = Setting::parse("t25s15").unwrap();
        let keys: Vec<u64> = (0..21).filter(|&k| t25.is_key(k)).collect();
        assert_eq!(keys, [0, 5, 10, 15, 20]);
        // Cross-check against the exact definition k * f_low / 60 integer.
        for s in ["t2", "t25", "t3", "9:7", "60:45"] {
            let s = Setting::parse(s).unwrap();
            let (n, d) = s.low_rate();
            for k in 0..200u64 {
                assert_eq!(s.is_key(k), (k * n as u64) % (60 * d as u64) == 0, "{} k={k}", s.name);
            }
        }
        // A 1:1 ratio makes every instant a key instant.
        let same = Setting::parse("60:60").unwrap();
        assert!((0..10).all(|k| same.is_key(k)));
    }

    #[test]
    fn channels() {
        assert_eq!(Channel::parse("lossless"), Ok(Channel::Lossless));
        assert_eq!(Channel::parse("crf23"), Ok(Channel::Crf(23)));
        assert_eq!(Channel::Crf(18).to_string(), "crf18");
        assert_eq!(Channel::parse("x265crf23"), Ok(Channel::X265Crf(23)));
        assert_eq!(Channel::X265Crf(28).to_string(), "x265crf28");
        assert!(Channel::X265Crf(28).is_codec() && !Channel::X265Crf(28).is_x264() && Channel::Crf(28).is_x264());
        assert_eq!(Channel::parse_list("crf23,x265crf23").unwrap(), [Channel::Crf(23), Channel::X265Crf(23)]);
        for bad in ["crf", "crf51", "crf-1", "x264", "Lossless", "crf 23", "x265crf", "x265crf52", "x265"] {
            assert!(Channel::parse(bad).is_err(), "{bad}");
        }
        let list = Channel::parse_list(DEFAULT_CHANNELS).unwrap();
        assert_eq!(list, [Channel::Lossless, Channel::Crf(18), Channel::Crf(23), Channel::Crf(28)]);
        assert!(Channel::parse_list("crf23,crf23").is_err());
        assert!(!Channel::Lossless.is_codec() && Channel::Crf(0).is_codec());
    }

    #[test]
    fn methods() {
        assert_eq!(Method::parse_list("imsm,classic,imsm").unwrap(), [Method::Classic, Method::Imsm]);
        assert_eq!(Method::parse("imsm-plain"), Ok(Method::ImsmPlain));
        assert_eq!(Method::parse("imsm-cover"), Ok(Method::ImsmCover));
        assert!(Method::parse("bicubic").is_err());
    }

    #[test]
    fn bitrate_math() {
        // 30 frames at 30 fps = 1 s; 125 000 bytes = 1 000 kbit.
        assert_eq!(kbps(125_000, 30, (30, 1)), Some(1000.0));
        // 12 frames at 24 fps = 0.5 s.
        assert_eq!(kbps(10_000, 12, (24, 1)), Some(160.0));
        // NTSC-style fractional rate: 30000/1001 fps, 30 frames = 1.001 s.
        let v = kbps(1_001_000, 30, (30000, 1001)).unwrap();
        assert!((v - 8000.0).abs() < 1e-9, "{v}");
        assert_eq!(kbps(100, 0, (30, 1)), None);
        assert_eq!(key_int_max((30, 1)), 60);
        assert_eq!(key_int_max((24, 1)), 48);
        assert_eq!(key_int_max((60, 1)), 120);
    }

    #[test]
    fn float_trimming() {
        assert_eq!(trim_float(2.0), "2");
        assert_eq!(trim_float(1.5), "1.5");
        assert_eq!(trim_float(30000.0 / 1001.0), "29.97");
        assert_eq!(trim_float(140.0 / 3.0), "46.667");
    }
}
