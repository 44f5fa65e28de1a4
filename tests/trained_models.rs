//! The trained graphs shipped in models/ (imsm-small, imsm-small-80, imsm-small-codec, imsm-full,
//! imsm-full-bilinear, imsm-full-focus) run through
//! both elements: they load against the contract, declare the optional inputs, and keep
//! the output grid; imsmup's global- and local-motion alignment follow motion they cannot.

mod common;

use common::*;
use gst::prelude::*;
use gstimsm::eval::metrics::SquaredError;

/// Shipped trained graph directories: two runs of the `small` configuration, the `full`
/// one (GPU-trained, about 9x the parameters: the same contract, so the same elements), its
/// fine-tune on a bilinear cover and that one's fine-tune with the bars' settings in focus.
const TRAINED: [&str; 5] = ["imsm-small", "imsm-small-80", "imsm-full", "imsm-full-bilinear", "imsm-full-focus"];

/// The shipped graphs that hide on a bilinear cover (their plain downscale is
/// models/reference-bilinear).
const BILINEAR_COVER: [&str; 2] = ["imsm-full-bilinear", "imsm-full-focus"];

fn trained_dir(name: &str) -> String {
    models_dir().join(name).display().to_string()
}

#[test]
fn trained_graphs_run_through_both_elements() {
    for name in TRAINED {
        let dir = trained_dir(name);
        let (out, infos) = run_collecting(&format!(
            "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=I420,width=96,height=64,framerate=60/1 \
             ! imsmdown model-dir={dir} threads=1 ! video/x-raw,width=64,height=42,framerate=24/1 \
             ! imsmup model-dir={dir} threads=1 stream-kind=imsm ! video/x-raw,width=96,height=64,framerate=60/1 \
             ! fakesink name=sink"
        ));
        // 30 frames at 60 fps -> 12 at 24 fps -> 30 at 60 fps.
        assert_eq!(out.len(), 30, "{name}");
        assert_on_grid(&out, pts_ns(&out[0]), 0, 60, 1);
        assert!(
            infos.iter().filter(|t| t.contains(&format!("graphs from {dir}")) && t.contains("CPU execution provider")).count() == 2,
            "both elements report the trained graphs of {name}: {infos:?}"
        );
    }
}

/// PSNR over all bytes (every plane) of two equally long lists of frames (imsm-eval's
/// accumulation: squared error over all frames, then PSNR).
fn psnr_bytes(a: &[gst::Buffer], b: &[gst::Buffer]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut se = SquaredError::default();
    for (x, y) in a.iter().zip(b) {
        se.add(SquaredError::of(&x.map_readable().unwrap(), &y.map_readable().unwrap()));
    }
    se.psnr().expect("frames to compare")
}

/// The graphs that hide on a bilinear cover: their low-rate frames stay within the 36 dB
/// bar of models/reference-bilinear's (the plain bilinear downscale at the same instants),
/// and are measurably not the bicubic reference's cover.
#[test]
fn bilinear_cover_graphs_stay_near_their_plain_downscale() {
    let down = |dir: &str| {
        run_collecting(&format!(
            "videotestsrc num-buffers=24 pattern=zone-plate kx2=20 ky2=20 kt=1 ! video/x-raw,format=I420,width=128,height=96,framerate=60/1 \
             ! imsmdown model-dir={dir} threads=1 ! video/x-raw,width=64,height=48,framerate=30/1 ! fakesink name=sink"
        ))
        .0
    };
    let bilinear = down(&trained_dir("reference-bilinear"));
    let bicubic = down(&trained_dir("reference"));
    for name in BILINEAR_COVER {
        let hidden = down(&trained_dir(name));
        assert_eq!(hidden.len(), 12, "{name}");
        let (to_bilinear, to_bicubic) = (psnr_bytes(&hidden, &bilinear), psnr_bytes(&hidden, &bicubic));
        eprintln!("{name}'s low-rate frames: {to_bilinear:.2} dB from the bilinear downscale, {to_bicubic:.2} dB from the bicubic");
        assert!(to_bilinear >= 36.0, "{name}: {to_bilinear:.2} dB from the bilinear downscale");
        assert!(to_bilinear > to_bicubic + 0.5, "{name}: bilinear {to_bilinear:.2} dB, bicubic {to_bicubic:.2} dB");
    }
}

#[path = "../src/engine/test_scene.rs"]
mod test_scene;

/// Lattice noise in [0, 1) at HR pixel (y, x): a non-periodic texture for the pan test.
fn scene(y: i64, x: i64) -> f32 {
    0.7 * test_scene::value_noise(y, x, 23) + 0.3 * test_scene::value_noise(y, x, 9)
}

/// RGB bytes of the scene, each HR row `y` panned by `pan(y)` HR pixels, `w` x `h`,
/// downscaled by `scale` (box filter; grey, the three channels alike).
fn moved(w: usize, h: usize, scale: usize, pan: impl Fn(i64) -> i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 * w * h);
    for y in 0..h {
        for x in 0..w {
            let mut v = 0.0;
            for dy in 0..scale {
                for dx in 0..scale {
                    let hy = (y * scale + dy) as i64;
                    v += scene(hy, (x * scale + dx) as i64 + pan(hy));
                }
            }
            let b = (v / (scale * scale) as f32 * 255.0).round() as u8;
            out.extend([b, b, b]);
        }
    }
    out
}

/// The scene panned by `pan` HR pixels as a whole.
fn panned(w: usize, h: usize, pan: i64, scale: usize) -> Vec<u8> {
    moved(w, h, scale, |_| pan)
}

/// Runs `frames` received frames `source(k)` (w x h RGB at 30 fps) through imsmup (plain
/// stream, 2x rate and size, `configure` sets the motion properties) and returns the
/// in-between PSNR (output frames 2k + 1 against `truth(k)`, 2w x 2h, over the rows
/// `rows` of the output).
fn in_between_psnr(
    w: usize,
    h: usize,
    frames: u64,
    configure: impl Fn(&gst::Element),
    source: impl Fn(u64) -> Vec<u8>,
    truth: impl Fn(u64) -> Vec<u8>,
    rows: std::ops::Range<usize>,
) -> f64 {
    let dir = trained_dir("imsm-small-codec");
    let mut harness = harness_with("imsmup", |e| {
        e.set_property("model-dir", &dir);
        e.set_property("threads", 1u32);
        e.set_property_from_str("stream-kind", "plain");
        configure(e);
    });
    harness.set_src_caps(caps("RGB", w as i32, h as i32, 30, 1));
    harness.set_sink_caps(caps("RGB", 2 * w as i32, 2 * h as i32, 60, 1));
    for k in 0..frames {
        let mut buffer = gst::Buffer::from_mut_slice(source(k));
        let pts = grid(0, k, 30, 1);
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(grid(0, k + 1, 30, 1) - pts));
        }
        assert_eq!(harness.push(buffer), Ok(gst::FlowSuccess::Ok));
    }
    push_eos(&mut harness);
    let out = pull_all(&mut harness);
    assert!(out.len() >= 2 * frames as usize - 1, "{} frames out", out.len());
    // output frame 2k + 1 lies half way between received frames k and k + 1
    let (mut se, mut n) = (0f64, 0usize);
    let row = 3 * 2 * w;
    for k in 0..frames - 1 {
        let truth = truth(k);
        let map = out[2 * k as usize + 1].map_readable().unwrap();
        assert_eq!(map.len(), truth.len());
        let (a, b) = (&map[rows.start * row..rows.end * row], &truth[rows.start * row..rows.end * row]);
        se += a.iter().zip(b).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>();
        n += a.len();
    }
    10.0 * (255.0f64.powi(2) / (se / n as f64)).log10()
}

/// A pan wider than the synth network's reach (24 px at the output size per received
/// frame) rendered at 2x the rate and size: with `global-motion` the in-between frames
/// are markedly closer to the true ones than without it.
#[test]
fn global_motion_renders_a_pan_the_network_alone_cannot_follow() {
    let (w, h, step) = (160usize, 96usize, 24i64);
    let psnr = |global_motion: bool| {
        in_between_psnr(
            w,
            h,
            6,
            |e| e.set_property("global-motion", global_motion),
            |k| panned(w, h, k as i64 * step, 2),
            |k| panned(2 * w, 2 * h, k as i64 * step + step / 2, 1),
            0..2 * h,
        )
    };
    let (on, off) = (psnr(true), psnr(false));
    assert!(on > off + 1.0, "in-between PSNR with global-motion {on:.2} dB, without {off:.2} dB");
    println!("in-between PSNR: global-motion on {on:.2} dB, off {off:.2} dB");
}

/// Two motions at once: the top two thirds of the picture pan 24 HR px per received frame,
/// the bottom third 40 px (a nearer layer: parallax). The global translation follows the
/// top; `local-motion` also follows the bottom, where the in-between frames are markedly
/// closer to the true ones than with the global translation alone.
#[test]
fn local_motion_renders_a_layer_that_moves_otherwise_than_the_camera() {
    let (w, h) = (160usize, 96usize);
    let split = 2 * h as i64 * 2 / 3; // HR row where the faster layer starts
    let pan = |hy: i64, k2: i64| if hy < split { 12 * k2 } else { 20 * k2 + 5000 }; // k2: half frames
    let psnr = |local_motion: bool| {
        in_between_psnr(
            w,
            h,
            6,
            |e| e.set_property("local-motion", local_motion),
            |k| moved(w, h, 2, |hy| pan(hy, 2 * k as i64)),
            |k| moved(2 * w, 2 * h, 1, |hy| pan(hy, 2 * k as i64 + 1)),
            // output rows of the faster layer, clear of the boundary between the layers
            (split as usize + 16)..2 * h,
        )
    };
    let (on, off) = (psnr(true), psnr(false));
    assert!(on > off + 1.0, "faster layer's in-between PSNR with local-motion {on:.2} dB, global only {off:.2} dB");
    println!("faster layer's in-between PSNR: local-motion on {on:.2} dB, off (global only) {off:.2} dB");
}

/// `motion-threads` only shares the motion work out: the scene of the local-motion test
/// renders to the same pictures on one thread, three, and the default.
#[test]
fn motion_threads_change_nothing_but_the_threads() {
    let (w, h) = (160usize, 96usize);
    let split = 2 * h as i64 * 2 / 3;
    let pan = |hy: i64, k2: i64| if hy < split { 12 * k2 } else { 20 * k2 + 5000 };
    let psnr = |threads: Option<u32>| {
        in_between_psnr(
            w,
            h,
            6,
            |e| {
                if let Some(n) = threads {
                    e.set_property("motion-threads", n)
                }
            },
            |k| moved(w, h, 2, |hy| pan(hy, 2 * k as i64)),
            |k| moved(2 * w, 2 * h, 1, |hy| pan(hy, 2 * k as i64 + 1)),
            0..2 * h,
        )
    };
    let default = psnr(None);
    for n in [1, 3] {
        assert_eq!(psnr(Some(n)), default, "motion-threads={n}");
    }
}
