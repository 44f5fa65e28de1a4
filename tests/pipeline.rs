//! The done criterion: real pipelines through imsmdown, an H.264 channel and imsmup give
//! every frame back on the exact output grid.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;

/// Plays `launch` and pulls every sample from the appsink named `sink`.
fn collect(launch: &str, timeout: Duration) -> Vec<gst::Buffer> {
    init();
    let pipeline = gst::parse::launch(launch).unwrap();
    let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
    let sink = bin.by_name("sink").expect("an appsink named sink");
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("pipeline to PLAYING");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "timed out after {} buffers", out.len());
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            pipeline.set_state(gst::State::Null).unwrap();
            panic!("pipeline error: {}", error_text(&msg).1);
        }
        let sample = sink.emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&100_000_000u64]);
        match sample {
            Some(s) => out.push(s.buffer_owned().expect("sample without buffer")),
            None if sink.property::<bool>("eos") => break,
            None => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// Every PTS minus the first is `floor(k * den * 1e9 / num)` for k = 0, 1, 2, ...
fn assert_relative_grid(buffers: &[gst::Buffer], num: u64, den: u64) {
    let first = pts_ns(&buffers[0]);
    let rel: Vec<u64> = buffers.iter().map(|b| pts_ns(b) - first).collect();
    let want: Vec<u64> = (0..buffers.len() as u64).map(|k| grid(0, k, num, den)).collect();
    if rel != want {
        let bad = rel.iter().zip(&want).position(|(a, b)| a != b).unwrap();
        panic!("output {bad} is at +{} ns, the grid says +{} ns (all: {rel:?})", rel[bad], want[bad]);
    }
}

#[test]
fn down_h264_up_60_24_60() {
    let out = collect(
        "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=60/1 \
         ! imsmdown ! video/x-raw,width=426,height=240,framerate=24/1 ! x264enc ! h264parse ! avdec_h264 \
         ! imsmup ! video/x-raw,width=640,height=360,framerate=60/1 ! appsink name=sink sync=false",
        Duration::from_secs(90),
    );
    assert!((118..=120).contains(&out.len()), "{} frames came out", out.len());
    assert_relative_grid(&out, 60, 1);
    for b in &out {
        assert_eq!(b.size(), 640 * 360 * 3 / 2);
    }
}

#[test]
fn ntsc_lossless_30_24_60_exact() {
    let out = collect(
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=I420,width=320,height=180,framerate=30000/1001 \
         ! imsmdown ! video/x-raw,width=160,height=90,framerate=24000/1001 \
         ! imsmup ! video/x-raw,width=320,height=180,framerate=60000/1001 ! appsink name=sink sync=false",
        Duration::from_secs(60),
    );
    // 60 frames at 30000/1001 -> 48 at 24000/1001 -> 120 at 60000/1001.
    assert_eq!(out.len(), 120);
    assert_relative_grid(&out, 60000, 1001);
    // videotestsrc starts at 0, so the absolute PTS are on the grid too.
    assert_eq!(pts_ns(&out[0]), 0);
    assert_eq!(pts_ns(&out[119]), 119 * 1001 * NS / 60000);
    for (k, b) in out.iter().enumerate() {
        assert_eq!(b.offset(), k as u64);
    }
}
