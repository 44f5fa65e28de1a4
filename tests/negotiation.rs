//! Caps negotiation matrix: what imsmdown and imsmup output for what downstream asks,
//! and how many buffers with which timestamps come out.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::{VideoFormat, VideoInfo};

/// Pushes `n` grey frames of `input` (PTS from `first`) and EOS; returns the output
/// info and every output buffer.
fn run(factory: &str, input: &gst::Caps, out: Option<&gst::Caps>, n: u64, first: u64) -> (VideoInfo, Vec<gst::Buffer>) {
    let mut h = harness(factory, input, out);
    let info = VideoInfo::from_caps(input).unwrap();
    push_frames(&mut h, &info, first, 0..n, GREY);
    push_eos(&mut h);
    let out_info = out_info(&h);
    let buffers = pull_all(&mut h);
    for b in &buffers {
        assert_eq!(b.size(), out_info.size(), "output buffer size does not match its caps {out_info:?}");
    }
    (out_info, buffers)
}

fn assert_geometry(info: &VideoInfo, format: VideoFormat, w: u32, h: u32, num: i32, den: i32) {
    assert_eq!(info.format(), format, "output format");
    assert_eq!((info.width(), info.height()), (w, h), "output size");
    assert_eq!(info.fps(), gst::Fraction::new(num, den), "output frame rate");
}

#[test]
fn down_60_to_24() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 64, 48, 60, 1),
        Some(&caps_str("video/x-raw,width=32,height=24,framerate=24/1")),
        10,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 32, 24, 24, 1);
    // 10 input frames cover 10/60 s: outputs at 0, 1/24, 2/24, 3/24 (all before 10/60).
    assert_eq!(out.len(), 4);
    assert_on_grid(&out, 0, 0, 24, 1);
}

#[test]
fn down_ntsc_30_to_24() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 64, 48, 30000, 1001),
        Some(&caps_str("video/x-raw,width=64,height=48,framerate=24000/1001")),
        10,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 64, 48, 24000, 1001);
    // ceil(10 * 4 / 5) = 8 outputs.
    assert_eq!(out.len(), 8);
    assert_on_grid(&out, 0, 0, 24000, 1001);
    assert_eq!(common::pts_ns(&out[1]), 41_708_333);
}

#[test]
fn up_24_to_60() {
    let (info, out) = run(
        "imsmup",
        &caps("I420", 32, 24, 24, 1),
        Some(&caps_str("video/x-raw,width=64,height=48,framerate=60/1")),
        4,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 64, 48, 60, 1);
    // 4 frames cover 4/24 s = 10/60 s.
    assert_eq!(out.len(), 10);
    assert_on_grid(&out, 0, 0, 60, 1);
}

#[test]
fn down_1080p_to_720p() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 1920, 1080, 30, 1),
        Some(&caps_str("video/x-raw,width=1280,height=720,framerate=30/1")),
        2,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 1280, 720, 30, 1);
    assert_eq!(out.len(), 2);
    assert_on_grid(&out, 0, 0, 30, 1);
    assert_flat(&out[0], &info, GREY, 3, "1080p -> 720p");
}

#[test]
fn down_854x480_to_427x240() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 854, 480, 30, 1),
        Some(&caps_str("video/x-raw,width=427,height=240,framerate=30/1")),
        3,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 427, 240, 30, 1);
    assert_eq!(out.len(), 3);
    assert_on_grid(&out, 0, 0, 30, 1);
    assert_flat(&out[2], &info, GREY, 3, "854x480 -> 427x240");
}

#[test]
fn odd_sizes_in_and_out() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 641, 359, 30, 1),
        Some(&caps_str("video/x-raw,width=427,height=239,framerate=15/1")),
        4,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 427, 239, 15, 1);
    assert_eq!(out.len(), 2);
    assert_on_grid(&out, 0, 0, 15, 1);
    assert_flat(&out[1], &info, GREY, 3, "641x359 -> 427x239");

    let (info, out) = run(
        "imsmup",
        &caps("I420", 427, 239, 15, 1),
        Some(&caps_str("video/x-raw,width=641,height=359,framerate=30/1")),
        2,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 641, 359, 30, 1);
    assert_eq!(out.len(), 4);
    assert_on_grid(&out, 0, 0, 30, 1);
    assert_flat(&out[3], &info, GREY, 3, "427x239 -> 641x359");
}

#[test]
fn tiny_16_to_8_and_back() {
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 16, 16, 30, 1),
        Some(&caps_str("video/x-raw,width=8,height=8")),
        4,
        0,
    );
    // Rate left open: half of the input.
    assert_geometry(&info, VideoFormat::I420, 8, 8, 15, 1);
    assert_eq!(out.len(), 2);
    assert_flat(&out[0], &info, GREY, 3, "16x16 -> 8x8");

    let (info, out) = run(
        "imsmup",
        &caps("I420", 8, 8, 15, 1),
        Some(&caps_str("video/x-raw,width=16,height=16")),
        2,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 16, 16, 30, 1);
    assert_eq!(out.len(), 4);
    assert_flat(&out[3], &info, GREY, 3, "8x8 -> 16x16");
}

#[test]
fn each_axis_has_its_own_ratio() {
    // Width / 4, height kept, rate / 3.
    let (info, out) = run(
        "imsmdown",
        &caps("I420", 64, 48, 60, 1),
        Some(&caps_str("video/x-raw,width=16,height=48,framerate=20/1")),
        9,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 16, 48, 20, 1);
    assert_eq!(out.len(), 3);
    assert_on_grid(&out, 0, 0, 20, 1);

    // Width kept, height / 4, rate kept.
    let (info, out) = run(
        "imsmdown",
        &caps("RGBA", 64, 48, 30, 1),
        Some(&caps_str("video/x-raw,width=64,height=12,framerate=30/1")),
        3,
        0,
    );
    assert_geometry(&info, VideoFormat::Rgba, 64, 12, 30, 1);
    assert_eq!(out.len(), 3);

    // imsmup: width x 3, height x 1, rate x 2.
    let (info, out) = run(
        "imsmup",
        &caps("I420", 16, 24, 15, 1),
        Some(&caps_str("video/x-raw,width=48,height=24,framerate=30/1")),
        3,
        0,
    );
    assert_geometry(&info, VideoFormat::I420, 48, 24, 30, 1);
    assert_eq!(out.len(), 6);
    assert_on_grid(&out, 0, 0, 30, 1);
}

#[test]
fn unconstrained_down_halves_rate_and_size_even() {
    let (info, out) = run("imsmdown", &caps("I420", 64, 48, 60, 1), None, 4, 0);
    assert_geometry(&info, VideoFormat::I420, 32, 24, 30, 1);
    assert_eq!(out.len(), 2);
    assert_on_grid(&out, 0, 0, 30, 1);

    // 66x50 halves to 33x25; the element keeps sizes even: 32x24.
    let (info, _) = run("imsmdown", &caps("NV12", 66, 50, 30000, 1001), None, 2, 0);
    assert_geometry(&info, VideoFormat::Nv12, 32, 24, 15000, 1001);
}

#[test]
fn unconstrained_downstream_template_caps() {
    // Downstream offering the element's own template (all formats, any size/rate).
    common::init();
    let element = gst::ElementFactory::make("imsmup").build().unwrap();
    let template = element.static_pad("src").unwrap().pad_template_caps();
    let (info, out) = run("imsmup", &caps("BGRx", 20, 14, 24, 1), Some(&template), 2, 0);
    assert_geometry(&info, VideoFormat::Bgrx, 40, 28, 48, 1);
    // 2 frames cover 2/24 s = 4/48 s.
    assert_eq!(out.len(), 4);
    assert_on_grid(&out, 0, 0, 48, 1);
}

#[test]
fn unconstrained_up_doubles_rate_and_size() {
    let (info, out) = run("imsmup", &caps("I420", 32, 18, 24000, 1001), None, 3, 0);
    assert_geometry(&info, VideoFormat::I420, 64, 36, 48000, 1001);
    assert_eq!(out.len(), 6);
    assert_on_grid(&out, 0, 0, 48000, 1001);
}

#[test]
fn downstream_fixing_only_width_keeps_aspect_ratio() {
    let (info, _) = run("imsmdown", &caps("I420", 640, 360, 30, 1), Some(&caps_str("video/x-raw,width=320")), 2, 0);
    assert_geometry(&info, VideoFormat::I420, 320, 180, 15, 1);

    let (info, _) = run("imsmdown", &caps("I420", 640, 360, 30, 1), Some(&caps_str("video/x-raw,height=90")), 2, 0);
    assert_geometry(&info, VideoFormat::I420, 160, 90, 15, 1);

    let (info, _) = run("imsmup", &caps("RGB", 160, 90, 30, 1), Some(&caps_str("video/x-raw,width=480")), 2, 0);
    assert_geometry(&info, VideoFormat::Rgb, 480, 270, 60, 1);
}

/// Equal caps in and out: the very buffers pushed come out, untouched.
fn passthrough(factory: &str) {
    let input = caps("I420", 32, 24, 30, 1);
    let mut h = harness(factory, &input, Some(&input));
    let info = VideoInfo::from_caps(&input).unwrap();
    let mut sent = Vec::new();
    for i in 0..5u64 {
        let pts = 1_000 + grid(0, i, 30, 1);
        let buf = flat_frame(&info, if i % 2 == 0 { GREY } else { BROWN }, Some(pts), Some(33_333_333));
        sent.push(buf.clone());
        assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok));
    }
    push_eos(&mut h);
    assert_eq!(out_caps(&h), input, "{factory}: passthrough output caps");
    let got = pull_all(&mut h);
    assert_eq!(got.len(), sent.len(), "{factory}: passthrough buffer count");
    for (a, b) in sent.iter().zip(&got) {
        assert_eq!(a.as_ptr(), b.as_ptr(), "{factory}: passthrough must hand on the same buffer");
        assert_eq!(a.pts(), b.pts());
        assert_eq!(a.map_readable().unwrap().as_slice(), b.map_readable().unwrap().as_slice());
    }
}

#[test]
fn passthrough_down() {
    passthrough("imsmdown");
}

#[test]
fn passthrough_up() {
    passthrough("imsmup");
}
