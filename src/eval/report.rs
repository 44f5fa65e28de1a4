//! imsm-eval's output: `results.json` (one record per clip / setting / channel /
//! method), `results.md` (tables of means over clips) and `rd.png` (PSNR against
//! bitrate, one panel per setting, one curve per method).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::settings::{Channel, Method, Setting};

/// One clip / setting / channel / method measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub clip: String,
    pub setting: String,
    pub channel: String,
    pub method: String,
    /// Output frames compared with the source.
    pub frames: usize,
    /// RGB PSNR (dB) from the mean squared error over all compared frames (capped at 100).
    pub psnr: Option<f64>,
    /// The same over key frames (the low-rate stream has a frame at that instant) ...
    pub psnr_key: Option<f64>,
    /// ... and over in-between frames.
    pub psnr_mid: Option<f64>,
    /// Mean SSIM (luma) over all, key and in-between frames.
    pub ssim: Option<f64>,
    pub ssim_key: Option<f64>,
    pub ssim_mid: Option<f64>,
    /// Mean squared error (RGB, 8-bit) over all compared frames.
    pub mse: Option<f64>,
    /// Bitrate of what was encoded (codec channels only), kbit/s.
    pub kbps: Option<f64>,
    /// PSNR of the low-rate frames as received against a plain downscale of the same
    /// instants (reference imsmdown, lossless); `None` for `direct`.
    pub lr_psnr: Option<f64>,
    /// Low-rate frames sent (for `direct`: the source frames).
    pub frames_sent: usize,
}

/// What results.md says about the run besides the tables.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunMeta {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub clips: Vec<String>,
    pub frames: usize,
    pub notes: Vec<String>,
    pub problems: Vec<String>,
    pub elapsed_s: f64,
}

/// The clips of the records, each once, in the order they were measured.
pub fn clips_in_order(records: &[Record]) -> Vec<String> {
    let mut clips: Vec<String> = Vec::new();
    for r in records {
        if !clips.contains(&r.clip) {
            clips.push(r.clip.clone());
        }
    }
    clips
}

/// Mean of the values present; `None` if none are.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".into(),
    }
}

/// Means over clips of one setting / channel / method.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub method: String,
    pub clips: usize,
    pub frames: usize,
    pub psnr: Option<f64>,
    pub psnr_key: Option<f64>,
    pub psnr_mid: Option<f64>,
    pub ssim: Option<f64>,
    pub kbps: Option<f64>,
    pub lr_psnr: Option<f64>,
}

/// Means over clips per (setting, channel, method), in the order of `settings`,
/// `channels` and [`Method::ALL`].
pub fn summarize(records: &[Record], settings: &[Setting], channels: &[Channel]) -> Vec<(String, String, Vec<Summary>)> {
    let mut out = Vec::new();
    for s in settings {
        for c in channels {
            let c = c.to_string();
            let mut rows = Vec::new();
            for m in Method::ALL {
                let rs: Vec<&Record> = records.iter().filter(|r| r.setting == s.name && r.channel == c && r.method == m.name()).collect();
                if rs.is_empty() {
                    continue;
                }
                rows.push(Summary {
                    method: m.name().to_string(),
                    clips: rs.len(),
                    frames: rs.iter().map(|r| r.frames).sum(),
                    psnr: mean(rs.iter().map(|r| r.psnr)),
                    psnr_key: mean(rs.iter().map(|r| r.psnr_key)),
                    psnr_mid: mean(rs.iter().map(|r| r.psnr_mid)),
                    ssim: mean(rs.iter().map(|r| r.ssim)),
                    kbps: mean(rs.iter().map(|r| r.kbps)),
                    lr_psnr: mean(rs.iter().map(|r| r.lr_psnr)),
                });
            }
            if !rows.is_empty() {
                out.push((s.name.clone(), c, rows));
            }
        }
    }
    out
}

/// The readable report.
pub fn markdown(records: &[Record], settings: &[Setting], channels: &[Channel], meta: &RunMeta) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# imsm-eval results\n");
    let _ = writeln!(md, "- Date: {}", meta.date);
    let _ = writeln!(md, "- Machine: {}", meta.machine);
    if !meta.command.is_empty() {
        let _ = writeln!(md, "- Command: `{}`", meta.command);
    }
    let _ = writeln!(md, "- Frames: the first {} of each clip, taken as 60 fps source frames", meta.frames);
    if meta.elapsed_s > 0.0 {
        let _ = writeln!(md, "- Run time: {:.0} s", meta.elapsed_s);
    }
    let _ = writeln!(md, "- Clips ({}):", meta.clips.len());
    for c in &meta.clips {
        let _ = writeln!(md, "  - {c}");
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "PSNR is RGB PSNR from the mean squared error over the frames (identical frames count as {} dB); \
         \"key\" frames are the instants where the low-rate stream has a frame, \"mid\" the ones in between. \
         SSIM is the mean per-frame SSIM of luma. kbit/s is the bitrate of the encoded stream. \
         LR PSNR compares the low-rate frames as received with a plain downscale of the same instants \
         (imsmdown with the reference graphs, lossless). Values are means over clips; \"frames\" is the total \
         number of output frames compared.\n",
        super::score::PSNR_CAP
    );
    let setting_of = |name: &str| settings.iter().find(|s| s.name == name);
    for (setting, channel, rows) in summarize(records, settings, channels) {
        let what = setting_of(&setting).map(|s| s.describe()).unwrap_or_default();
        let _ = writeln!(md, "## {setting} ({what}), {channel}\n");
        let _ = writeln!(md, "| method | frames | PSNR | PSNR key | PSNR mid | SSIM | kbit/s | LR PSNR |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.method,
                r.frames,
                cell(r.psnr, 2),
                cell(r.psnr_key, 2),
                cell(r.psnr_mid, 2),
                cell(r.ssim, 4),
                cell(r.kbps, 0),
                cell(r.lr_psnr, 2)
            );
        }
        let _ = writeln!(md);
    }
    // Per-clip PSNR when several clips were measured.
    let clips = clips_in_order(records);
    if clips.len() > 1 {
        let _ = writeln!(md, "## PSNR by clip\n");
        let _ = writeln!(md, "| clip | setting | channel | {} |", Method::ALL.map(|m| m.name()).join(" | "));
        let _ = writeln!(md, "|---|---|---|{}", "---:|".repeat(Method::ALL.len()));
        let mut rows: BTreeMap<(usize, usize, usize), Vec<&Record>> = BTreeMap::new();
        for r in records {
            let ci = clips.iter().position(|c| **c == r.clip).unwrap_or(0);
            let si = settings.iter().position(|s| s.name == r.setting).unwrap_or(usize::MAX);
            let chi = channels.iter().position(|c| c.to_string() == r.channel).unwrap_or(usize::MAX);
            rows.entry((ci, si, chi)).or_default().push(r);
        }
        for rs in rows.values() {
            let first = rs[0];
            let cells: Vec<String> = Method::ALL
                .iter()
                .map(|m| cell(rs.iter().find(|r| r.method == m.name()).and_then(|r| r.psnr), 2))
                .collect();
            let _ = writeln!(md, "| {} | {} | {} | {} |", first.clip, first.setting, first.channel, cells.join(" | "));
        }
        let _ = writeln!(md);
    }
    let bd = bd_rates(records, settings);
    if !bd.is_empty() {
        let _ = writeln!(md, "## BD-rate against classic (x264 channels)\n");
        let _ = writeln!(
            md,
            "Bjøntegaard delta rate of each method against the classic rung (videoscale + videorate \
             through the same encoder): PSNR of the 60 fps output (all frames) against the bitrate of \
             what was encoded (the low-rate stream; for direct, the full-rate stream), over the CRF \
             channels of the run, PCHIP interpolation of log-rate over PSNR (src/eval/bdrate.rs). \
             Negative = fewer bits for the same quality. Per clip, then the mean over the clips that \
             have a value, saying how many when some have none (n/a: fewer than two points or no common PSNR range, which happens when \
             the resampling error dominates the codec's and the curves are nearly flat: give more \
             CRFs, e.g. crf14 to crf40).\n"
        );
        let clips = clips_in_order(records);
        let short = |c: &str| Path::new(c).file_name().map_or(c.to_string(), |n| n.to_string_lossy().into_owned());
        let _ = writeln!(md, "| setting | method | mean | {} |", clips.iter().map(|c| short(c)).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(md, "|---|---|---:|{}", "---:|".repeat(clips.len()));
        for row in &bd {
            let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:+.1} %"));
            let cells: Vec<String> =
                clips.iter().map(|c| pct(row.per_clip.iter().find(|(k, _)| k == c).and_then(|(_, v)| *v))).collect();
            // A mean over fewer clips than the others is marked: rows are only comparable
            // where they average the same clips.
            let mean = match row.clips_in_mean < row.per_clip.len() {
                true => format!("{} ({} of {} clips)", pct(row.mean), row.clips_in_mean, row.per_clip.len()),
                false => pct(row.mean),
            };
            let _ = writeln!(md, "| {} | {} | {} | {} |", row.setting, row.method, mean, cells.join(" | "));
        }
        let _ = writeln!(md);
    }
    if !meta.notes.is_empty() {
        let _ = writeln!(md, "## Notes\n");
        for n in &meta.notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }
    if !meta.problems.is_empty() {
        let _ = writeln!(md, "## Problems\n");
        for p in &meta.problems {
            let _ = writeln!(md, "- {p}");
        }
        let _ = writeln!(md);
    }
    md
}

/// The settings and channels the records hold, in the order they first appear (to render
/// a report again from results.json).
pub fn settings_and_channels(records: &[Record]) -> Result<(Vec<Setting>, Vec<Channel>), String> {
    let mut settings: Vec<Setting> = Vec::new();
    let mut channels: Vec<Channel> = Vec::new();
    for r in records {
        if !settings.iter().any(|s| s.name == r.setting) {
            settings.push(Setting::parse(&r.setting)?);
        }
        let c = Channel::parse(&r.channel)?;
        if !channels.contains(&c) {
            channels.push(c);
        }
    }
    Ok((settings, channels))
}

pub fn write_json(records: &[Record], path: &Path) -> Result<(), String> {
    let text = serde_json::to_string_pretty(records).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// Font for the plot's text, if the system has it.
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers DejaVu Sans as plotters' sans-serif font; false if it is not installed.
fn register_font() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let Ok(bytes) = std::fs::read(FONT_PATH) else { return false };
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok()
    })
}

fn method_color(m: &str) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match m {
        "classic" => RGBColor(120, 120, 120),
        "blend" => RGBColor(31, 119, 180),
        "mci" => RGBColor(44, 160, 44),
        "imsm-plain" => RGBColor(255, 127, 14),
        "imsm-cover" => RGBColor(140, 86, 75),
        "imsm" => RGBColor(214, 39, 40),
        "direct" => RGBColor(0, 0, 0),
        _ => RGBColor(148, 103, 189),
    }
}

/// One curve: a method's (kbit/s, PSNR) means over clips, over the codec channels.
pub type Curve = (String, Vec<(f64, f64)>);

/// Whether a record's channel is one of the x264 channels the RD view is drawn from.
fn is_x264(channel: &str) -> bool {
    Channel::parse(channel).is_ok_and(Channel::is_x264)
}

/// BD-rate of one method against classic under one setting.
#[derive(Clone, Debug, PartialEq)]
pub struct BdRate {
    pub setting: String,
    pub method: String,
    /// (clip, BD-rate %) in the order the clips were measured.
    pub per_clip: Vec<(String, Option<f64>)>,
    /// Mean over the clips that have a value.
    pub mean: Option<f64>,
    /// How many clips that mean is over (fewer than `per_clip` where some are n/a).
    pub clips_in_mean: usize,
}

/// BD-rate (%) of every method against classic, per setting and clip, from the codec
/// channels' (kbit/s, PSNR) points. Empty when the run had fewer than two codec channels.
pub fn bd_rates(records: &[Record], settings: &[Setting]) -> Vec<BdRate> {
    let curve = |clip: &str, setting: &str, method: &str| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| r.clip == clip && r.setting == setting && r.method == method && is_x264(&r.channel))
            .filter_map(|r| Some((r.kbps?, r.psnr?)))
            .collect()
    };
    let clips = clips_in_order(records);
    let mut out = Vec::new();
    for s in settings {
        for m in Method::ALL.iter().filter(|m| **m != Method::Classic) {
            let per_clip: Vec<(String, Option<f64>)> = clips
                .iter()
                .filter(|c| records.iter().any(|r| r.clip == **c && r.setting == s.name && r.method == m.name()))
                .map(|c| (c.to_string(), super::bdrate::bd_rate(&curve(c, &s.name, "classic"), &curve(c, &s.name, m.name()))))
                .collect();
            if per_clip.is_empty() || per_clip.iter().all(|(_, v)| v.is_none()) {
                continue;
            }
            let values: Vec<f64> = per_clip.iter().filter_map(|(_, v)| *v).collect();
            let mean = Some(values.iter().sum::<f64>() / values.len() as f64);
            let clips_in_mean = values.len();
            out.push(BdRate { setting: s.name.clone(), method: m.name().to_string(), per_clip, mean, clips_in_mean });
        }
    }
    out
}

/// The rate-distortion curves of each setting, from the means over clips (x264 channels).
pub fn rd_curves(records: &[Record], settings: &[Setting], channels: &[Channel]) -> Vec<(String, Vec<Curve>)> {
    let summaries = summarize(records, settings, channels);
    settings
        .iter()
        .map(|s| {
            let curves = Method::ALL
                .iter()
                .filter_map(|m| {
                    let mut points: Vec<(f64, f64)> = summaries
                        .iter()
                        .filter(|(set, ch, _)| *set == s.name && is_x264(ch))
                        .filter_map(|(_, _, rows)| rows.iter().find(|r| r.method == m.name()))
                        .filter_map(|r| Some((r.kbps?, r.psnr?)))
                        .filter(|(x, y)| x.is_finite() && *x > 0.0 && y.is_finite())
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (!points.is_empty()).then(|| (m.name().to_string(), points))
                })
                .collect();
            (s.name.clone(), curves)
        })
        .collect()
}

/// Draws rd.png. Returns a warning when the text had to be left out.
/// A run without x264 channels (lossless or x265 only) has no curve: nothing is drawn
/// (an empty frame would read as "no result") and the message says so.
pub fn plot(records: &[Record], settings: &[Setting], channels: &[Channel], path: &Path) -> Result<Option<String>, String> {
    let curves = rd_curves(records, settings, channels);
    if curves.iter().all(|(_, c)| c.is_empty()) {
        return Ok(Some(format!("{} not drawn: the run has no x264 channel (crfN), the RD view's", path.display())));
    }
    let font = register_font();
    let warning = (!font).then(|| format!("{FONT_PATH} not found (Debian: fonts-dejavu-core): rd.png has no text"));
    plot_with(&curves, settings, path, font)?;
    Ok(warning)
}

fn plot_with(panels: &[(String, Vec<Curve>)], settings: &[Setting], path: &Path, text: bool) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    let n = panels.len().max(1);
    let (pw, ph) = (560u32, 440u32);
    let root = BitMapBackend::new(path, (pw * n as u32, ph)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, n));
    for ((name, curves), area) in panels.iter().zip(areas.iter()) {
        let points: Vec<(f64, f64)> = curves.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in &points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if points.is_empty() {
            (x0, x1, y0, y1) = (10.0, 10_000.0, 20.0, 50.0);
        }
        // Bitrate from 0 (so the bitrates' proportions show), PSNR padded by 1 dB.
        let _ = x0;
        let (x0, x1) = (0.0, x1 * 1.1);
        let (y0, y1) = ((y0 - 1.0).floor(), (y1 + 1.0).ceil());
        let what = settings.iter().find(|s| &s.name == name).map(|s| s.describe()).unwrap_or_default();
        let mut builder = ChartBuilder::on(area);
        builder.margin(12);
        if text {
            builder.caption(format!("{name}: {what}"), ("sans-serif", 17)).x_label_area_size(40).y_label_area_size(50);
        } else {
            builder.x_label_area_size(8).y_label_area_size(8);
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| err(&e))?;
        if text {
            chart
                .configure_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_desc("kbit/s")
                .y_desc("PSNR (dB)")
                .x_labels(10)
                .label_style(("sans-serif", 13))
                .x_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(|e| err(&e))?;
        } else {
            // Without a font the mesh (which draws labels) is left out: a frame only.
            let frame = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            chart.draw_series(std::iter::once(PathElement::new(frame, BLACK))).map_err(|e| err(&e))?;
        }
        for (method, pts) in curves {
            let color = method_color(method);
            let series = chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?;
            if text {
                series.label(method.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            // Distinct markers, so methods with equal numbers (blend and imsm-plain while
            // the default graphs are the reference ones) stay visible.
            let pts = pts.clone();
            match method.as_str() {
                "blend" => chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 7, color.stroke_width(2)))).map(|_| ()),
                "mci" => chart.draw_series(pts.into_iter().map(|p| TriangleMarker::new(p, 6, color.filled()))).map(|_| ()),
                "imsm-plain" => chart.draw_series(pts.into_iter().map(|p| Cross::new(p, 5, color.stroke_width(2)))).map(|_| ()),
                "imsm-cover" => chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 6, color.stroke_width(2)))).map(|_| ()),
                _ => chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled()))).map(|_| ()),
            }
            .map_err(|e| err(&e))?;
        }
        if text && !curves.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(clip: &str, setting: &str, channel: &str, method: &str, psnr: f64, kbps: Option<f64>) -> Record {
        Record {
            clip: clip.into(),
            setting: setting.into(),
            channel: channel.into(),
            method: method.into(),
            frames: 24,
            psnr: Some(psnr),
            psnr_key: Some(psnr + 1.0),
            psnr_mid: Some(psnr - 1.0),
            ssim: Some(0.9),
            ssim_key: Some(0.95),
            ssim_mid: Some(0.85),
            mse: Some(10.0),
            kbps,
            lr_psnr: (method != "direct").then_some(40.0),
            frames_sent: 12,
        }
    }

    fn fixture() -> (Vec<Record>, Vec<Setting>, Vec<Channel>) {
        let settings = Setting::parse_list("t2s2").unwrap();
        let channels = Channel::parse_list("lossless,crf23").unwrap();
        let records = vec![
            record("a.mp4", "t2s2", "lossless", "imsm", 30.0, None),
            record("b.mp4", "t2s2", "lossless", "imsm", 32.0, None),
            record("a.mp4", "t2s2", "lossless", "classic", 28.0, None),
            record("a.mp4", "t2s2", "crf23", "classic", 27.0, Some(500.0)),
            record("a.mp4", "t2s2", "crf23", "imsm", 29.0, Some(510.0)),
            record("a.mp4", "t2s2", "crf23", "direct", 35.0, Some(2000.0)),
        ];
        (records, settings, channels)
    }

    /// x265 points are neither on the x264 RD curves nor in the BD-rate; a run with no
    /// x264 channel draws no empty rd.png.
    #[test]
    fn x265_channels_stay_out_of_the_rd_view() {
        let settings = Setting::parse_list("t2s2").unwrap();
        let mut records = Vec::new();
        for (ch, k) in [("x265crf18", 1.0), ("x265crf23", 0.5), ("x265crf28", 0.25)] {
            records.push(record("a.mp4", "t2s2", ch, "classic", 30.0 + k, Some(800.0 * k)));
            records.push(record("a.mp4", "t2s2", ch, "imsm", 31.0 + k, Some(700.0 * k)));
        }
        let channels = Channel::parse_list("x265crf18,x265crf23,x265crf28").unwrap();
        assert!(rd_curves(&records, &settings, &channels).iter().all(|(_, c)| c.is_empty()));
        assert!(bd_rates(&records, &settings).is_empty());
        let path = std::env::temp_dir().join(format!("imsm-rd-x265-{}.png", std::process::id()));
        let note = plot(&records, &settings, &channels, &path).unwrap();
        assert!(note.is_some_and(|n| n.contains("no x264 channel")) && !path.exists());
        // with x264 points beside them, only those make the curves
        records.push(record("a.mp4", "t2s2", "crf23", "imsm", 29.0, Some(510.0)));
        let channels = Channel::parse_list("x265crf18,crf23").unwrap();
        let curves = rd_curves(&records, &settings, &channels);
        assert_eq!(curves[0].1, vec![("imsm".to_string(), vec![(510.0, 29.0)])]);
    }

    /// BD-rate rows from two clips' CRF points: imsm needs 20 % fewer bits than classic on
    /// a.mp4 (same PSNRs at 0.8x the rate) and 25 % more on b.mp4; one CRF point is n/a.
    #[test]
    fn bd_rates_per_clip_and_mean() {
        let settings = Setting::parse_list("t2s2").unwrap();
        let mut records = Vec::new();
        for (crf, psnr, kbps) in [("crf18", 36.0, 800.0), ("crf23", 34.0, 400.0), ("crf28", 31.5, 200.0)] {
            records.push(record("a.mp4", "t2s2", crf, "classic", psnr, Some(kbps)));
            records.push(record("a.mp4", "t2s2", crf, "imsm", psnr, Some(kbps * 0.8)));
            records.push(record("b.mp4", "t2s2", crf, "classic", psnr, Some(kbps)));
            records.push(record("b.mp4", "t2s2", crf, "imsm", psnr, Some(kbps * 1.25)));
        }
        records.push(record("a.mp4", "t2s2", "crf23", "mci", 34.5, Some(400.0)));
        let bd = bd_rates(&records, &settings);
        assert_eq!(bd.len(), 1, "{bd:?}");
        // blend: a value on a.mp4, one point (n/a) on b.mp4: its mean says it is over 1 of 2.
        let mut with_blend = records.clone();
        for (crf, psnr, kbps) in [("crf18", 36.0, 800.0), ("crf23", 34.0, 400.0), ("crf28", 31.5, 200.0)] {
            with_blend.push(record("a.mp4", "t2s2", crf, "blend", psnr, Some(kbps * 0.5)));
        }
        with_blend.push(record("b.mp4", "t2s2", "crf23", "blend", 34.0, Some(300.0)));
        let blend = bd_rates(&with_blend, &settings).into_iter().find(|r| r.method == "blend").unwrap();
        assert_eq!((blend.clips_in_mean, blend.per_clip.len()), (1, 2), "{blend:?}");
        let channels = Channel::parse_list("crf18,crf23,crf28").unwrap();
        let md = markdown(&with_blend, &settings, &channels, &RunMeta::default());
        assert!(md.contains("| t2s2 | blend | -50.0 % (1 of 2 clips) | -50.0 % | n/a |"), "{md}");
        let imsm = &bd[0];
        assert_eq!((imsm.setting.as_str(), imsm.method.as_str()), ("t2s2", "imsm"));
        let a = imsm.per_clip[0].1.unwrap();
        let b = imsm.per_clip[1].1.unwrap();
        assert!((a + 20.0).abs() < 1e-9 && (b - 25.0).abs() < 1e-9, "{imsm:?}");
        assert!((imsm.mean.unwrap() - 2.5).abs() < 1e-9);
        let channels = Channel::parse_list("crf18,crf23,crf28").unwrap();
        let md = markdown(&records, &settings, &channels, &RunMeta::default());
        assert!(md.contains("## BD-rate against classic"), "{md}");
        assert!(md.contains("| t2s2 | imsm | +2.5 % | -20.0 % | +25.0 % |"), "{md}");
    }

    #[test]
    fn summaries_are_means_over_clips_in_method_order() {
        let (records, settings, channels) = fixture();
        let s = summarize(&records, &settings, &channels);
        assert_eq!(s.len(), 2);
        let (set, ch, rows) = &s[0];
        assert_eq!((set.as_str(), ch.as_str()), ("t2s2", "lossless"));
        assert_eq!(rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["classic", "imsm"]);
        let imsm = &rows[1];
        assert_eq!((imsm.clips, imsm.frames), (2, 48));
        assert_eq!(imsm.psnr, Some(31.0));
        assert_eq!(imsm.kbps, None);
    }

    #[test]
    fn markdown_tables() {
        let (records, settings, channels) = fixture();
        let meta = RunMeta {
            date: "2026-01-02 03:04 UTC".into(),
            machine: "x86_64, 2 cores, no GPU".into(),
            clips: vec!["a.mp4 (960x540)".into(), "b.mp4 (960x540)".into()],
            frames: 24,
            notes: vec!["mci skipped: ffmpeg not found".into()],
            ..Default::default()
        };
        let md = markdown(&records, &settings, &channels, &meta);
        assert!(md.contains("- Machine: x86_64, 2 cores, no GPU"), "{md}");
        assert!(md.contains("## t2s2 (60 -> 30 fps, 1/2 size), lossless\n"), "{md}");
        assert!(md.contains("| method | frames | PSNR | PSNR key | PSNR mid | SSIM | kbit/s | LR PSNR |"));
        assert!(md.contains("| imsm | 48 | 31.00 | 32.00 | 30.00 | 0.9000 | - | 40.00 |"), "{md}");
        assert!(md.contains("| direct | 24 | 35.00 | 36.00 | 34.00 | 0.9000 | 2000 | - |"), "{md}");
        // The lossless table comes before the crf23 one.
        assert!(md.find("lossless\n").unwrap() < md.find("crf23\n").unwrap());
        assert!(md.contains("## PSNR by clip"));
        assert!(md.contains("| b.mp4 | t2s2 | lossless | - | - | - | - | - | 32.00 | - |"), "{md}");
        assert!(md.contains("- mci skipped: ffmpeg not found"));
    }

    #[test]
    fn json_round_trip_and_plot() {
        let (records, settings, channels) = fixture();
        let dir = std::env::temp_dir().join(format!("imsm-eval-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("results.json");
        write_json(&records, &json).unwrap();
        let back: Vec<Record> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(back, records);
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        for field in ["clip", "setting", "channel", "method", "psnr", "psnr_key", "psnr_mid", "ssim", "kbps", "lr_psnr", "frames"] {
            assert!(value[0].get(field).is_some(), "{field}");
        }
        let curves = rd_curves(&records, &settings, &channels);
        assert_eq!(curves.len(), 1);
        let names: Vec<&str> = curves[0].1.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names, ["classic", "imsm", "direct"]);
        assert_eq!(curves[0].1[0].1, vec![(500.0, 27.0)]);
        // With and without text (no font).
        for text in [false, true] {
            if text && !register_font() {
                continue;
            }
            let png = dir.join(format!("rd-{text}.png"));
            plot_with(&curves, &settings, &png, text).unwrap();
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
