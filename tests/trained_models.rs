//! The trained graphs shipped in models/ (imsm-small, imsm-small-80, imsm-small-codec) run through
//! both elements: they load against the contract, declare the optional inputs, and keep
//! the output grid; imsmup's global-motion alignment follows a pan they cannot.

mod common;

use common::*;
use gst::prelude::*;

/// The shipped trained graph directories (both are runs of the `small` configuration).
const TRAINED: [&str; 2] = ["imsm-small", "imsm-small-80"];

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

#[path = "../src/engine/test_scene.rs"]
mod test_scene;

/// Lattice noise in [0, 1) at HR pixel (y, x): a non-periodic texture for the pan test.
fn scene(y: i64, x: i64) -> f32 {
    0.7 * test_scene::value_noise(y, x, 23) + 0.3 * test_scene::value_noise(y, x, 9)
}

/// RGB bytes of the scene panned by `pan` HR pixels, `w` x `h`, downscaled by `scale`
/// (box filter; grey, the three channels alike).
fn panned(w: usize, h: usize, pan: i64, scale: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 * w * h);
    for y in 0..h {
        for x in 0..w {
            let mut v = 0.0;
            for dy in 0..scale {
                for dx in 0..scale {
                    v += scene((y * scale + dy) as i64, (x * scale + dx) as i64 + pan);
                }
            }
            let b = (v / (scale * scale) as f32 * 255.0).round() as u8;
            out.extend([b, b, b]);
        }
    }
    out
}

/// A pan wider than the synth network's reach (24 px at the output size per received
/// frame) rendered at 2x the rate and size: with `global-motion` the in-between frames
/// are markedly closer to the true ones than without it.
#[test]
fn global_motion_renders_a_pan_the_network_alone_cannot_follow() {
    let dir = trained_dir("imsm-small-codec");
    let (w, h, step) = (160usize, 96usize, 24i64);
    let mut mid_psnr = Vec::new();
    for global_motion in [true, false] {
        let mut harness = harness_with("imsmup", |e| {
            e.set_property("model-dir", &dir);
            e.set_property("threads", 1u32);
            e.set_property_from_str("stream-kind", "plain");
            e.set_property("global-motion", global_motion);
        });
        harness.set_src_caps(caps("RGB", w as i32, h as i32, 30, 1));
        harness.set_sink_caps(caps("RGB", 2 * w as i32, 2 * h as i32, 60, 1));
        let frames = 6u64;
        for k in 0..frames {
            let mut buffer = gst::Buffer::from_mut_slice(panned(w, h, k as i64 * step, 2));
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
        for k in 0..frames - 1 {
            let truth = panned(2 * w, 2 * h, k as i64 * step + step / 2, 1);
            let map = out[2 * k as usize + 1].map_readable().unwrap();
            assert_eq!(map.len(), truth.len());
            se += map.iter().zip(&truth).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>();
            n += truth.len();
        }
        mid_psnr.push(10.0 * (255.0f64.powi(2) / (se / n as f64)).log10());
    }
    let (on, off) = (mid_psnr[0], mid_psnr[1]);
    assert!(on > off + 1.0, "in-between PSNR with global-motion {on:.2} dB, without {off:.2} dB");
    println!("in-between PSNR: global-motion on {on:.2} dB, off {off:.2} dB");
}
