//! The imsm-eval command: argument parsing, the measurement loop, progress and output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::pipelines::{self, ImsmConfig, Source, Stream};
use super::report::{self, Record, RunMeta};
use super::score::{capped_psnr, Scores};
use super::settings::{kbps, trim_float, Channel, Method, Setting, DEFAULT_CHANNELS, DEFAULT_SETTINGS, SOURCE_FPS};
use super::metrics::SquaredError;

pub const USAGE: &str = "\
imsm-eval: how much better imsmdown/imsmup is than what a pipeline does today, on your footage

usage: imsm-eval [options] CLIP...

Each CLIP (any file GStreamer's decodebin reads) is taken as 60 fps source frames.

options:
  --settings LIST   time/size ratios (default t2,t2s2,t25s15): t2 = 60->30 fps same size,
                    t2s2 = 60->30 half size, t25s15 = 60->24 at 1/1.5 size; custom A:B@S
                    (rate A to rate B, size divided by S), e.g. 60:24@1.5
  --channels LIST   lossless, crfN (x264 constant quality N, 0-50) and/or
                    x265crfN (x265, CRF N, 0-51; not in the RD view / BD-rate)
                    (default lossless,crf18,crf23,crf28)
  --methods LIST    subset of classic,blend,mci,imsm-plain,imsm-cover,imsm,direct (default all)
  --frames N        source frames per clip (default 60)
  --out DIR         where results.json, results.md and rd.png go (default imsm-eval-out)
  --threads N       ONNX Runtime threads of the imsm elements (default 2)
  --provider P      execution provider of the imsm elements: auto, cpu, cuda, tensorrt
                    (default auto)
  --models DIR      graphs for imsmdown/imsmup (default: the source tree's models/)
  --reference DIR   the plain reference graphs (default: models/reference/, bicubic + blend):
                    every low-rate stream's PSNR is measured against their down, the
                    `blend` method runs them; models/reference-bilinear/ for graphs trained
                    on a bilinear cover
  --global-motion B imsmup's global-motion property, on or off (default on)
  --local-motion B  imsmup's local-motion property, on or off (default on)
  --dump-frames     also write the source and every output as raw RGB under DIR/frames/
  --report-from DIR measure nothing: write results.md and rd.png again from DIR/results.json
                    (and DIR/meta.json when there) into --out (default DIR)
  -h, --help        this text
";

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub settings: Vec<Setting>,
    pub channels: Vec<Channel>,
    pub methods: Vec<Method>,
    pub frames: usize,
    pub out: PathBuf,
    pub threads: u32,
    pub provider: String,
    pub models: PathBuf,
    pub reference: PathBuf,
    /// imsmup's `global-motion`.
    pub global_motion: bool,
    /// imsmup's `local-motion`.
    pub local_motion: bool,
    pub dump_frames: bool,
    /// Re-render the report of an earlier run instead of measuring.
    pub report_from: Option<PathBuf>,
    pub clips: Vec<PathBuf>,
    /// No progress line (tests).
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        let models = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"));
        Options {
            settings: Setting::parse_list(DEFAULT_SETTINGS).unwrap(),
            channels: Channel::parse_list(DEFAULT_CHANNELS).unwrap(),
            methods: Method::ALL.to_vec(),
            frames: 60,
            out: PathBuf::from("imsm-eval-out"),
            threads: 2,
            provider: "auto".into(),
            reference: models.join("reference"),
            models,
            global_motion: true,
            local_motion: true,
            dump_frames: false,
            report_from: None,
            clips: Vec::new(),
            quiet: false,
        }
    }
}

/// `Ok(None)` means --help.
pub fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options::default();
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
            "--settings" => o.settings = Setting::parse_list(&value()?)?,
            "--channels" => o.channels = Channel::parse_list(&value()?)?,
            "--methods" => o.methods = Method::parse_list(&value()?)?,
            "--frames" => {
                let v = value()?;
                o.frames = v.parse().ok().filter(|&n: &usize| n >= 2).ok_or_else(|| format!("--frames: '{v}' is not a count of at least 2"))?;
            }
            "--out" => o.out = PathBuf::from(value()?),
            "--threads" => {
                let v = value()?;
                o.threads = v.parse().ok().filter(|&n: &u32| n <= 256).ok_or_else(|| format!("--threads: '{v}' is not 0-256"))?;
            }
            "--provider" => {
                let v = value()?;
                if !["auto", "cpu", "cuda", "tensorrt"].contains(&v.as_str()) {
                    return Err(format!("--provider: '{v}' is not auto, cpu, cuda or tensorrt"));
                }
                o.provider = v;
            }
            "--models" => o.models = PathBuf::from(value()?),
            "--reference" => o.reference = PathBuf::from(value()?),
            "--global-motion" | "--local-motion" => {
                let on = match value()?.as_str() {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    v => return Err(format!("{name}: '{v}' is not on or off")),
                };
                if name == "--global-motion" {
                    o.global_motion = on;
                } else {
                    o.local_motion = on;
                }
            }
            "--dump-frames" => o.dump_frames = true,
            "--report-from" => o.report_from = Some(PathBuf::from(value()?)),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => o.clips.push(PathBuf::from(arg)),
        }
    }
    let out_given = args.iter().any(|a| a == "--out" || a.starts_with("--out="));
    if let Some(dir) = &o.report_from {
        if !o.clips.is_empty() {
            return Err("--report-from takes no clips".into());
        }
        if !out_given {
            o.out = dir.clone();
        }
    } else if o.clips.is_empty() {
        return Err("no clip given".into());
    }
    Ok(Some(o))
}

/// The progress line on stderr: one step per pipeline run.
struct Progress {
    total: usize,
    done: usize,
    start: Instant,
    tty: bool,
    quiet: bool,
    open_line: bool,
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Self {
        Progress { total, done: 0, start: Instant::now(), tty: std::io::stderr().is_terminal(), quiet, open_line: false }
    }

    /// Announces the next step.
    fn step(&mut self, what: &str) {
        self.done += 1;
        if self.quiet {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let total = self.total.max(self.done);
        let eta = if self.done > 1 { elapsed / (self.done - 1) as f64 * (total - self.done + 1) as f64 } else { 0.0 };
        let width = 24;
        let filled = (self.done - 1) * width / total;
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(width - filled));
        let line = format!("[{bar}] {:>3}/{total} {} elapsed, ~{} left  {what}", self.done, clock(elapsed), clock(eta));
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.open_line = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Steps that will not run after all (a clip failed).
    fn skip(&mut self, steps: usize) {
        self.total = self.total.saturating_sub(steps);
    }

    /// Prints a message on its own line.
    fn say(&mut self, msg: &str) {
        let mut err = std::io::stderr().lock();
        if self.open_line {
            let _ = write!(err, "\r\x1b[2K");
            self.open_line = false;
        }
        let _ = writeln!(err, "{msg}");
    }

    fn finish(&mut self) {
        if self.open_line && !self.quiet {
            let _ = writeln!(std::io::stderr());
            self.open_line = false;
        }
    }
}

fn needs_classic(methods: &[Method]) -> bool {
    methods.iter().any(|m| matches!(m, Method::Classic | Method::Blend | Method::Mci | Method::ImsmPlain))
}

/// Pipeline runs per clip, for the progress total.
fn steps_per_clip(o: &Options, mci: bool) -> usize {
    let m = |x: Method| o.methods.contains(&x) as usize;
    let classic = needs_classic(&o.methods) as usize;
    let imsm = m(Method::Imsm);
    let cover = m(Method::ImsmCover);
    let codecs = o.channels.iter().filter(|c| c.is_codec()).count();
    let ups = m(Method::Classic) + m(Method::Blend) + m(Method::ImsmPlain) + (m(Method::Mci) * mci as usize) + cover + imsm;
    // imsmdown once per distinct channel quality.
    let mut qualities: Vec<u64> = o.channels.iter().map(|c| c.quality_hint().to_bits()).collect();
    qualities.sort_unstable();
    qualities.dedup();
    let downs = classic + imsm * qualities.len();
    let reference = classic.max(imsm).max(cover);
    let per_setting = downs + reference + codecs * (classic + cover + imsm) + o.channels.len() * ups;
    let direct = m(Method::Direct) * codecs;
    1 + o.settings.len() * per_setting + direct
}

/// What one clip's measurement yields.
struct ClipResult {
    records: Vec<Record>,
    problems: Vec<String>,
}

/// Things learnt while running, for the report.
#[derive(Default)]
struct Seen {
    providers: Vec<String>,
    warnings: Vec<String>,
}

impl Seen {
    fn absorb(&mut self, info: &pipelines::RunInfo) {
        for p in &info.providers {
            if !self.providers.contains(p) {
                self.providers.push(p.clone());
            }
        }
        for w in &info.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }
}

struct Ctx<'a> {
    o: &'a Options,
    imsm: ImsmConfig,
    mci: bool,
    progress: Progress,
    seen: Seen,
    metric_threads: usize,
}

/// The measurement of one output against the source.
struct Measured {
    scores: Scores,
}

fn measure_output(ctx: &Ctx, source: &Source, out: &Stream, setting: Option<&Setting>) -> Result<Measured, String> {
    let info = out.info()?;
    if (info.width() as usize, info.height() as usize) != (source.width, source.height) {
        return Err(format!("output is {}x{}, expected {}x{}", info.width(), info.height(), source.width, source.height));
    }
    let frames = pipelines::to_rgb_frames(out, (SOURCE_FPS as i32, 1))?;
    let is_key = |k: u64| setting.map_or(true, |s| s.is_key(k));
    let scores = Scores::measure(&source.frames, &frames, source.width, source.height, is_key, ctx.metric_threads);
    Ok(Measured { scores })
}

/// PSNR of `received` low-rate frames against `reference` ones, matched by instant.
fn lr_psnr(received: &Stream, reference: &[(u64, Vec<u8>)]) -> Result<Option<f64>, String> {
    let rate = received.rate()?;
    let frames = pipelines::to_rgb_frames(received, rate)?;
    let mut total = SquaredError::default();
    for (k, rgb) in &frames {
        if let Some((_, r)) = reference.iter().find(|(j, _)| j == k) {
            if r.len() != rgb.len() {
                return Err("low-rate frames differ in size from the reference".into());
            }
            total.add(SquaredError::of(rgb, r));
        }
    }
    Ok(capped_psnr(&total))
}

/// Keeps the low-rate frames whose instants lie inside the span of the `n` source
/// frames (j / f_low < n / 60): videorate adds one at the end instant itself, which would
/// give the classic stream an extra frame to interpolate the last instants from.
fn cut_to_span(mut stream: Stream, setting: &Setting, n: usize) -> Stream {
    let rate = setting.low_rate();
    let mut pos = 0u64;
    stream.buffers.retain(|b| {
        let j = b.pts().map(|t| pipelines::grid_index(t.nseconds(), rate)).unwrap_or(pos);
        pos += 1;
        j * (setting.hr as u64) < n as u64 * setting.lr as u64
    });
    stream
}

#[allow(clippy::too_many_arguments)]
fn record(clip: &str, setting: &Setting, channel: Channel, method: Method, m: &Measured, kbps: Option<f64>, lr: Option<f64>, sent: usize) -> Record {
    let s = &m.scores;
    Record {
        clip: clip.to_string(),
        setting: setting.name.clone(),
        channel: channel.to_string(),
        method: method.name().to_string(),
        frames: s.all.frames,
        psnr: s.all.psnr(),
        psnr_key: s.key.psnr(),
        psnr_mid: s.mid.psnr(),
        ssim: s.all.ssim(),
        ssim_key: s.key.ssim(),
        ssim_mid: s.mid.ssim(),
        mse: s.all.mse(),
        kbps,
        lr_psnr: lr,
        frames_sent: sent,
    }
}

fn file_stem(clip: &Path) -> String {
    clip.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "clip".into())
}

/// Writes frames 0.. (in index order, stopping at the first gap or at `n`) as raw RGB.
fn dump(dir: &Path, name: &str, frames: &[(u64, Vec<u8>)], n: usize) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut data = Vec::new();
    let mut count = 0;
    for (i, (k, rgb)) in frames.iter().enumerate() {
        if *k != i as u64 || i >= n {
            break;
        }
        data.extend_from_slice(rgb);
        count += 1;
    }
    let path = dir.join(format!("{name}.rgb"));
    std::fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(count)
}

fn measure_clip(ctx: &mut Ctx, clip: &Path, source: &Source) -> ClipResult {
    let o = ctx.o;
    let name = clip.display().to_string();
    let short = file_stem(clip);
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let (w, h) = (source.width, source.height);
    let dump_dir = o.out.join("frames").join(&short);
    if o.dump_frames {
        let frames: Vec<(u64, Vec<u8>)> = source.frames.iter().cloned().enumerate().map(|(k, f)| (k as u64, f)).collect();
        if let Err(e) = dump(&dump_dir, "source", &frames, frames.len()) {
            problems.push(format!("{name}: dumping frames: {e}"));
        }
    }
    macro_rules! attempt {
        ($what:expr, $e:expr) => {
            match $e {
                Ok(v) => Some(v),
                Err(e) => {
                    let msg = format!("{name}: {}: {}", $what, e);
                    ctx.progress.say(&format!("error: {msg}"));
                    problems.push(msg);
                    None
                }
            }
        };
    }
    let has = |m: Method| o.methods.contains(&m);

    // direct: the full-rate source through each channel, independent of the setting.
    let mut direct: Vec<(Channel, Measured, Option<f64>)> = Vec::new();
    if has(Method::Direct) {
        let i420 = &source.i420;
        for &ch in &o.channels {
            if ch.is_codec() {
                ctx.progress.step(&format!("{short} {ch}: direct"));
            }
            let Some((rx, bytes)) = attempt!(format!("direct {ch}"), pipelines::channel(i420, ch)) else { continue };
            let Some(m) = attempt!(format!("direct {ch}: measuring"), measure_output(ctx, source, &rx, None)) else { continue };
            if o.dump_frames {
                if let Ok(f) = pipelines::to_rgb_frames(&rx, (SOURCE_FPS as i32, 1)) {
                    let _ = dump(&dump_dir, &format!("direct_{ch}"), &f, source.frames.len());
                }
            }
            let rate = i420.rate().unwrap_or((SOURCE_FPS as i32, 1));
            let k = bytes.and_then(|b| kbps(b, i420.len() as u64, rate));
            direct.push((ch, m, k));
        }
    }

    for setting in &o.settings {
        let (lw, lh) = setting.low_size(w, h);
        let rate = setting.low_rate();
        let tag = format!("{short} {}", setting.name);
        let classic_family = needs_classic(&o.methods);
        let classic_lr = if classic_family {
            ctx.progress.step(&format!("{tag}: classic down"));
            attempt!(format!("{}: classic down", setting.name), pipelines::down_classic(&source.i420, lw, lh, rate))
                .map(|(s, i)| (cut_to_span(s, setting, source.frames.len()), i))
        } else {
            None
        };
        // imsmdown runs once per distinct channel quality it is told (lossless = 0).
        let mut imsm_lrs: Vec<(u64, Option<(Stream, pipelines::RunInfo)>)> = Vec::new();
        if has(Method::Imsm) {
            for &ch in &o.channels {
                let q = ch.quality_hint();
                if imsm_lrs.iter().any(|(bits, _)| *bits == q.to_bits()) {
                    continue;
                }
                ctx.progress.step(&format!("{tag}: imsmdown channel-quality={q}"));
                let lr = attempt!(
                    format!("{}: imsmdown", setting.name),
                    pipelines::down_imsm(&source.stream, &source.i420, lw, lh, rate, &ctx.imsm, &ctx.imsm.models, q)
                )
                .map(|(s, i)| (cut_to_span(s, setting, source.frames.len()), i));
                imsm_lrs.push((q.to_bits(), lr));
            }
        }
        // The reference imsmdown's stream: what every low-rate stream's PSNR is measured
        // against, and imsm-cover's stream (imsmdown's cover, nothing hidden).
        let reference = if classic_family || has(Method::Imsm) || has(Method::ImsmCover) {
            ctx.progress.step(&format!("{tag}: reference down"));
            attempt!(
                format!("{}: reference imsmdown", setting.name),
                pipelines::down_imsm(&source.stream, &source.i420, lw, lh, rate, &ctx.imsm, &ctx.imsm.reference, 0.0)
                    .map(|(s, info)| (cut_to_span(s, setting, source.frames.len()), info))
                    .and_then(|(s, info)| Ok((pipelines::to_rgb_frames(&s, rate)?, s, info)))
            )
        } else {
            None
        };
        for (_, info) in classic_lr.iter().chain(imsm_lrs.iter().filter_map(|(_, lr)| lr.as_ref())) {
            ctx.seen.absorb(info);
        }
        if let Some((_, _, info)) = &reference {
            ctx.seen.absorb(info);
        }
        let (reference, cover) = match reference {
            Some((r, s, _)) => (Some(r), Some(s)),
            None => (None, None),
        };

        for &ch in &o.channels {
            let tag = format!("{tag} {ch}");
            // The classic low-rate stream through the channel, shared by classic, blend,
            // mci and imsm-plain.
            if let Some((lr, _)) = &classic_lr {
                if ch.is_codec() {
                    ctx.progress.step(&format!("{tag}: classic channel"));
                }
                let ups = [Method::Classic, Method::Blend, Method::ImsmPlain].iter().filter(|m| has(**m)).count()
                    + (has(Method::Mci) && ctx.mci) as usize;
                match attempt!(format!("{} {ch}: classic channel", setting.name), pipelines::channel(lr, ch)) {
                    None => ctx.progress.skip(ups),
                    Some((rx, bytes)) => {
                        let k = bytes.and_then(|b| kbps(b, lr.len() as u64, rate));
                        let lr_val = match &reference {
                            Some(r) => attempt!(format!("{} {ch}: LR PSNR", setting.name), lr_psnr(&rx, r)).flatten(),
                            None => None,
                        };
                        for method in [Method::Classic, Method::Blend, Method::Mci, Method::ImsmPlain] {
                            if !has(method) || (method == Method::Mci && !ctx.mci) {
                                continue;
                            }
                            ctx.progress.step(&format!("{tag}: {method}"));
                            let out = match method {
                                Method::Classic => pipelines::up_classic(&rx, w, h).map(|(s, i)| (s, Some(i))),
                                Method::Blend => pipelines::up_imsm(&rx, w, h, &ctx.imsm, &ctx.imsm.reference, "plain").map(|(s, i)| (s, Some(i))),
                                Method::ImsmPlain => pipelines::up_imsm(&rx, w, h, &ctx.imsm, &ctx.imsm.models, "plain").map(|(s, i)| (s, Some(i))),
                                _ => pipelines::up_mci(&rx, w, h).map(|s| (s, None)),
                            };
                            let Some((out, info)) = attempt!(format!("{} {ch}: {method}", setting.name), out) else { continue };
                            if let Some(info) = info {
                                ctx.seen.absorb(&info);
                            }
                            let Some(m) = attempt!(format!("{} {ch}: {method}: measuring", setting.name), measure_output(ctx, source, &out, Some(setting))) else { continue };
                            if o.dump_frames {
                                if let Ok(f) = pipelines::to_rgb_frames(&out, (SOURCE_FPS as i32, 1)) {
                                    let _ = dump(&dump_dir, &format!("{}_{ch}_{method}", setting.name), &f, source.frames.len());
                                }
                            }
                            records.push(record(&name, setting, ch, method, &m, k, lr_val, lr.len()));
                        }
                    }
                }
            }
            // imsm-cover: imsmdown's cover (the reference down: the plain downscale of the
            // frames blended at each low-rate instant, nothing hidden), imsmup told `plain`;
            // imsm: imsmdown's stream, imsmup told `imsm`. Same channel, same graphs: the
            // difference between the two is what the hiding itself gives.
            let imsm_lr = imsm_lrs.iter().find(|(bits, _)| *bits == ch.quality_hint().to_bits()).and_then(|(_, lr)| lr.as_ref());
            let sent = [
                (Method::ImsmCover, cover.as_ref().filter(|_| has(Method::ImsmCover)), "plain"),
                (Method::Imsm, imsm_lr.map(|(lr, _)| lr), "imsm"),
            ];
            for (method, lr, kind) in sent {
                let Some(lr) = lr else { continue };
                if ch.is_codec() {
                    ctx.progress.step(&format!("{tag}: {method} channel"));
                }
                match attempt!(format!("{} {ch}: {method} channel", setting.name), pipelines::channel(lr, ch)) {
                    None => ctx.progress.skip(1),
                    Some((rx, bytes)) => {
                        let k = bytes.and_then(|b| kbps(b, lr.len() as u64, rate));
                        let lr_val = match &reference {
                            Some(r) => attempt!(format!("{} {ch}: LR PSNR", setting.name), lr_psnr(&rx, r)).flatten(),
                            None => None,
                        };
                        ctx.progress.step(&format!("{tag}: {method}"));
                        let out = pipelines::up_imsm(&rx, w, h, &ctx.imsm, &ctx.imsm.models, kind);
                        if let Some((out, info)) = attempt!(format!("{} {ch}: {method}", setting.name), out) {
                            ctx.seen.absorb(&info);
                            if let Some(m) = attempt!(format!("{} {ch}: {method}: measuring", setting.name), measure_output(ctx, source, &out, Some(setting))) {
                                if o.dump_frames {
                                    if let Ok(f) = pipelines::to_rgb_frames(&out, (SOURCE_FPS as i32, 1)) {
                                        let _ = dump(&dump_dir, &format!("{}_{ch}_{method}", setting.name), &f, source.frames.len());
                                    }
                                }
                                records.push(record(&name, setting, ch, method, &m, k, lr_val, lr.len()));
                            }
                        }
                    }
                }
            }
            // direct: the same numbers under every setting, with key/mid split by this
            // setting's instants.
            if let Some((_, m, k)) = direct.iter().find(|(c, _, _)| *c == ch) {
                let m2 = Measured { scores: Scores::regroup(&m.scores.per_frame, (w * h * 3) as u64, |k| setting.is_key(k)) };
                records.push(record(&name, setting, ch, Method::Direct, &m2, *k, None, source.frames.len()));
            }
        }
    }
    ClipResult { records, problems }
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

fn machine(providers: &[String]) -> String {
    let arch = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let gpu: Vec<&String> = providers.iter().filter(|p| p.as_str() != "CPU").collect();
    let accel = if gpu.is_empty() {
        "no GPU (ONNX Runtime on the CPU execution provider)".to_string()
    } else {
        format!("GPU via ONNX Runtime {}", gpu.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
    };
    format!("{arch}, {cores} cores, {accel}")
}

/// The result of a whole run.
pub struct Outcome {
    pub records: Vec<Record>,
    pub measured_clips: usize,
    pub meta: RunMeta,
}

/// Measures every clip and writes results.json, results.md and rd.png into `o.out`.
pub fn evaluate(o: &Options, command: &str) -> Result<Outcome, String> {
    let started = Instant::now();
    pipelines::register_elements()?;
    for (what, dir) in [("--models", &o.models), ("--reference", &o.reference)] {
        if !dir.join("down.onnx").is_file() {
            return Err(format!("{what}: {} holds no down.onnx", dir.display()));
        }
    }
    std::fs::create_dir_all(&o.out).map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    let mci = o.methods.contains(&Method::Mci) && pipelines::ffmpeg_available();
    let mut notes = Vec::new();
    if o.methods.contains(&Method::Mci) && !mci {
        notes.push("mci skipped: ffmpeg is not installed (not on PATH)".to_string());
    }
    let total = o.clips.len() * steps_per_clip(o, mci);
    let mut ctx = Ctx {
        o,
        imsm: ImsmConfig {
            models: o.models.clone(),
            reference: o.reference.clone(),
            threads: o.threads,
            provider: o.provider.clone(),
            global_motion: o.global_motion,
            local_motion: o.local_motion,
        },
        mci,
        progress: Progress::new(total, o.quiet),
        seen: Seen::default(),
        metric_threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    if !mci && o.methods.contains(&Method::Mci) {
        ctx.progress.say("note: ffmpeg not found: the mci method is skipped");
    }
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut clips = Vec::new();
    let mut measured = 0;
    for clip in &o.clips {
        ctx.progress.step(&format!("{}: decoding", file_stem(clip)));
        let source = match pipelines::decode_clip(clip, o.frames) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("cannot read clip {}: {e}", clip.display());
                ctx.progress.say(&format!("error: {msg}"));
                problems.push(format!("{msg} (skipped)"));
                ctx.progress.skip(steps_per_clip(o, mci) - 1);
                continue;
            }
        };
        let mut line = format!("{} ({}x{}, {} frames", clip.display(), source.width, source.height, source.frames.len());
        if let Some((fw, fh)) = source.cropped_from {
            line.push_str(&format!(", cropped from {fw}x{fh}"));
        }
        line.push(')');
        if source.frames.len() < o.frames {
            notes.push(format!("{} has only {} frames (asked for {})", clip.display(), source.frames.len(), o.frames));
        }
        clips.push(line);
        let r = measure_clip(&mut ctx, clip, &source);
        if !r.records.is_empty() {
            measured += 1;
        }
        records.extend(r.records);
        problems.extend(r.problems);
    }
    ctx.progress.finish();

    for (dir, label) in [(&o.models, "models"), (&o.reference, "reference")] {
        notes.push(format!("{label}: {}", dir.display()));
    }
    notes.push(format!(
        "imsm elements: threads={}, provider={} (ran on: {}); imsmup stream-kind=imsm for imsm, plain for blend and imsm-plain, global-motion={}, local-motion={}; imsmdown channel-quality = (CRF - 10) / 25 clipped to [0, 1] for crfN, the same of CRF - 1.5 for x265crfN, 0 for lossless (the training's mapping)",
        o.threads,
        o.provider,
        if ctx.seen.providers.is_empty() { "-".to_string() } else { ctx.seen.providers.join(", ") },
        if o.global_motion { "on" } else { "off" },
        if o.local_motion { "on" } else { "off" },
    ));
    notes.push("classic = videoscale (bilinear) + videorate; the low-rate stream is I420; x264enc pass=qual (CRF) speed-preset=medium threads=1 (deterministic) vbv-buf-capacity=0 (plain CRF, no cap at x264enc's default bitrate), keyframe every 2 s; decoded with avdec_h264".into());
    if o.channels.iter().any(|c| matches!(c, Channel::X265Crf(_))) {
        notes.push("x265crfN = x265enc option-string=crf=N speed-preset=medium, keyframe every 2 s; decoded with avdec_h265 (the training codecs of a model are in its provenance.json)".into());
    }
    if mci {
        notes.push("mci = ffmpeg minterpolate=fps=60:mi_mode=mci then scale=flags=bicubic, on the classic low-rate stream (in YUV)".into());
    }
    notes.push("low-rate streams are cut to the instants inside the source's span (videorate adds one at its end); at the end, videorate and minterpolate get the last low-rate frame once more after the end (not sent, not counted), so that they hold it to the end as imsmup does instead of dropping its instants; outputs are I420 except imsmup's (RGB, what it renders), all converted to RGB with the same exact BT.601/709 code".into());
    notes.push("lr_psnr of blend, mci and imsm-plain is that of the classic stream they receive; direct sends no low-rate stream".into());
    notes.push(format!("settings: {}", o.settings.iter().map(|s| format!("{} = {}", s.name, s.describe())).collect::<Vec<_>>().join("; ")));
    for w in &ctx.seen.warnings {
        notes.push(format!("GStreamer warning: {w}"));
    }
    let meta = RunMeta {
        date: utc_now(),
        machine: machine(&ctx.seen.providers),
        command: command.to_string(),
        clips,
        frames: o.frames,
        notes,
        problems,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    report::write_json(&records, &o.out.join("results.json"))?;
    let meta_path = o.out.join("meta.json");
    let meta_text = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(&meta_path, meta_text).map_err(|e| format!("{}: {e}", meta_path.display()))?;
    let md = report::markdown(&records, &o.settings, &o.channels, &meta);
    let md_path = o.out.join("results.md");
    std::fs::write(&md_path, md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    match report::plot(&records, &o.settings, &o.channels, &o.out.join("rd.png")) {
        Ok(Some(w)) => eprintln!("warning: {w}"),
        Ok(None) => {}
        Err(e) => eprintln!("warning: {e}"),
    }
    Ok(Outcome { records, measured_clips: measured, meta })
}

/// `--report-from DIR`: results.md and rd.png again from DIR/results.json (and
/// DIR/meta.json, which runs since meta.json existed write) into `o.out`.
pub fn rerender(o: &Options, dir: &Path) -> Result<usize, String> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let records: Vec<Record> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let (settings, channels) = report::settings_and_channels(&records)?;
    let mut meta: RunMeta = match std::fs::read_to_string(dir.join("meta.json")) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}/meta.json: {e}", dir.display()))?,
        Err(_) => RunMeta {
            date: "(not recorded)".into(),
            machine: "(not recorded)".into(),
            clips: report::clips_in_order(&records),
            ..Default::default()
        },
    };
    meta.notes.push(format!("report written again by imsm-eval --report-from {} on {}", dir.display(), utc_now()));
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let md_path = o.out.join("results.md");
    std::fs::write(&md_path, report::markdown(&records, &settings, &channels, &meta))
        .map_err(|e| format!("{}: {e}", md_path.display()))?;
    if let Ok(Some(w)) | Err(w) = report::plot(&records, &settings, &channels, &o.out.join("rd.png")) {
        eprintln!("warning: {w}");
    }
    Ok(records.len())
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
            eprintln!("imsm-eval: {e}\n\n{USAGE}");
            return 2;
        }
    };
    if let Some(dir) = &o.report_from {
        return match rerender(&o, dir) {
            Ok(n) => {
                eprintln!("imsm-eval: {n} records from {} -> {}/results.md (+ rd.png where drawn)", dir.display(), o.out.display());
                0
            }
            Err(e) => {
                eprintln!("imsm-eval: {e}");
                1
            }
        };
    }
    let command = std::iter::once("imsm-eval".to_string()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ");
    match evaluate(&o, &command) {
        Ok(outcome) => {
            eprintln!(
                "imsm-eval: {} records from {}/{} clips in {} s -> {}/results.json, results.md (+ rd.png where drawn)",
                outcome.records.len(),
                outcome.measured_clips,
                o.clips.len(),
                trim_float(outcome.meta.elapsed_s.round()),
                o.out.display()
            );
            if outcome.measured_clips == 0 {
                eprintln!("imsm-eval: no clip could be measured");
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("imsm-eval: {e}");
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

    #[test]
    fn parses_the_command_line() {
        let o = parse_args(&args("--frames 24 --out /tmp/e a.mp4 b.mkv")).unwrap().unwrap();
        assert_eq!(o.frames, 24);
        assert_eq!(o.out, PathBuf::from("/tmp/e"));
        assert_eq!(o.clips, [PathBuf::from("a.mp4"), PathBuf::from("b.mkv")]);
        assert_eq!(o.settings.len(), 3);
        assert_eq!(o.channels.len(), 4);
        assert_eq!(o.methods.len(), 7);
        assert_eq!(o.threads, 2);
        assert!(o.global_motion);
        assert!(!parse_args(&args("--global-motion off x.mp4")).unwrap().unwrap().global_motion);
        assert!(o.local_motion);
        assert!(!parse_args(&args("--local-motion off x.mp4")).unwrap().unwrap().local_motion);
        let o = parse_args(&args("--settings=t2s2,60:24@1.5 --channels crf23 --threads 1 --methods imsm,direct x.mp4")).unwrap().unwrap();
        assert_eq!(o.settings[1].low_rate(), (24, 1));
        assert_eq!(o.channels, [Channel::Crf(23)]);
        assert_eq!(o.methods, [Method::Imsm, Method::Direct]);
        assert_eq!(o.threads, 1);
        assert!(parse_args(&args("--help")).unwrap().is_none());
        let o = parse_args(&args("--report-from /tmp/run")).unwrap().unwrap();
        assert_eq!((o.report_from.as_deref(), o.out.as_path()), (Some(Path::new("/tmp/run")), Path::new("/tmp/run")));
        assert!(parse_args(&args("--report-from /tmp/run x.mp4")).is_err());
        for bad in ["", "--frames 1 a", "--frames x a", "--bogus a", "--settings t9x a", "--channels crf99 a", "--out", "--provider gpu a", "--global-motion maybe a", "--local-motion 1 a"] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn step_count_matches_plan() {
        let o = parse_args(&args("--settings t2s2 --channels lossless,crf23 x.mp4")).unwrap().unwrap();
        // decode 1; per setting: classic down, imsmdown at channel-quality 0 and 0.52,
        // reference down (4) + 3 codec channel runs (classic, cover, imsm) + 2 channels x 6
        // ups; direct: 1 codec run.
        assert_eq!(steps_per_clip(&o, true), 1 + (4 + 3 + 12) + 1);
        assert_eq!(steps_per_clip(&o, false), 1 + (4 + 3 + 10) + 1);
        // imsm-cover alone: the reference down, its codec run, one up per channel.
        let o = parse_args(&args("--settings t2s2 --channels lossless,crf23 --methods imsm-cover x.mp4")).unwrap().unwrap();
        assert_eq!(steps_per_clip(&o, true), 1 + (1 + 1 + 2));
        // Channels with the same quality hint share one imsmdown run.
        let o = parse_args(&args("--settings t2s2 --channels crf5,crf8 --methods imsm x.mp4")).unwrap().unwrap();
        assert_eq!(steps_per_clip(&o, true), 1 + (1 + 1 + 2 + 2));
    }

    #[test]
    fn low_rate_streams_are_cut_to_the_source_span() {
        gst::init().unwrap();
        let make = |rate: (i32, i32), n: usize| {
            let frames: Vec<Vec<u8>> = (0..n).map(|_| vec![0u8; 4 * 2 * 3]).collect();
            let mut s = pipelines::rgb_stream(&frames, 4, 2).unwrap();
            for (j, b) in s.buffers.iter_mut().enumerate() {
                let pts = (j as u64 * 1_000_000_000 * rate.1 as u64) / rate.0 as u64;
                b.make_mut().set_pts(gst::ClockTime::from_nseconds(pts));
            }
            s
        };
        // 24 source frames = 0.4 s: 12 frames at 30 fps, 10 at 24 fps (9 / 24 < 0.4 <= 10 / 24).
        let t2 = Setting::parse("t2").unwrap();
        assert_eq!(cut_to_span(make((30, 1), 13), &t2, 24).len(), 12);
        let t25 = Setting::parse("t25s15").unwrap();
        assert_eq!(cut_to_span(make((24, 1), 11), &t25, 24).len(), 10);
        assert_eq!(cut_to_span(make((24, 1), 9), &t25, 24).len(), 9);
    }

    #[test]
    fn date_format() {
        let d = utc_now();
        assert_eq!(d.len(), "2026-01-02 03:04 UTC".len(), "{d}");
        assert!(d.starts_with("20"));
    }

    /// The committed CC0 clip, or the shared copy.
    fn test_clip() -> Option<PathBuf> {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        [here.join("media/flower_cc0.mp4"), here.join("../shared/video/dev/flower_cc0/flower.mp4")]
            .into_iter()
            .find(|p| p.is_file())
    }

    /// End to end on the committed clip: every method present with finite numbers.
    #[test]
    fn end_to_end_on_the_cc0_clip() {
        let Some(clip) = test_clip() else {
            eprintln!("skipped: media/flower_cc0.mp4 not found");
            return;
        };
        let out = std::env::temp_dir().join(format!("imsm-eval-e2e-{}", std::process::id()));
        let mut o = parse_args(&[
            "--frames".into(),
            "12".into(),
            "--settings".into(),
            "t2s2".into(),
            "--channels".into(),
            "lossless,crf23".into(),
            "--out".into(),
            out.display().to_string(),
            clip.display().to_string(),
            "/nonexistent/clip.mp4".into(),
        ])
        .unwrap()
        .unwrap();
        o.quiet = true;
        let outcome = evaluate(&o, "test").unwrap();
        assert_eq!(outcome.measured_clips, 1);
        assert!(outcome.meta.problems.iter().any(|p| p.contains("/nonexistent/clip.mp4")), "{:?}", outcome.meta.problems);
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        let records: Vec<Record> = serde_json::from_str(&text).unwrap();
        let mci = pipelines::ffmpeg_available();
        for ch in ["lossless", "crf23"] {
            for m in Method::ALL {
                if m == Method::Mci && !mci {
                    continue;
                }
                let r = records
                    .iter()
                    .find(|r| r.channel == ch && r.method == m.name())
                    .unwrap_or_else(|| panic!("no {ch} {m} record: {:?}", outcome.meta.problems));
                assert!(r.frames >= 10, "{r:?}");
                for v in [r.psnr, r.psnr_key, r.psnr_mid, r.ssim] {
                    assert!(v.is_some_and(f64::is_finite), "{r:?}");
                }
                assert!(r.psnr.unwrap() > 20.0, "{r:?}");
                assert_eq!(r.kbps.is_some(), ch == "crf23", "{r:?}");
                assert_eq!(r.lr_psnr.is_some(), m != Method::Direct, "{r:?}");
            }
        }
        // Lossless direct is the 8-bit I420 round trip: far better than any 2x resampling.
        let get = |ch: &str, m: &str| records.iter().find(|r| r.channel == ch && r.method == m).unwrap().psnr.unwrap();
        assert!(get("lossless", "direct") > get("lossless", "classic") + 3.0);
        // The codec costs quality.
        assert!(get("crf23", "imsm") <= get("lossless", "imsm") + 0.01);
        assert!(out.join("results.md").is_file());
        assert!(std::fs::read(out.join("rd.png")).unwrap().starts_with(b"\x89PNG"));
        // --report-from renders the same tables again from results.json + meta.json.
        let again = out.join("again");
        let o2 = parse_args(&[
            "--report-from".to_string(),
            out.display().to_string(),
            "--out".into(),
            again.display().to_string(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(rerender(&o2, &out).unwrap(), records.len());
        let first = std::fs::read_to_string(out.join("results.md")).unwrap();
        let second = std::fs::read_to_string(again.join("results.md")).unwrap();
        let table = |md: &str| md.split("## Notes").next().unwrap().to_string();
        assert_eq!(table(&first), table(&second));
        assert!(second.contains("report written again by imsm-eval --report-from"), "{second}");
        assert!(again.join("rd.png").is_file());
        let _ = std::fs::remove_dir_all(&out);
    }
}
