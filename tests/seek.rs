//! A flushing seek in a real pipeline: the window is reset and the output grid restarts
//! at the first frame after the seek, with nothing from before it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;

fn pull_until_eos(pipeline: &gst::Element, sink: &gst::Element, timeout: Duration) -> Vec<gst::Buffer> {
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "timed out after {} buffers", out.len());
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("pipeline error: {}", error_text(&msg).1);
        }
        match sink.emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&100_000_000u64]) {
            Some(s) => out.push(s.buffer_owned().unwrap()),
            None if sink.property::<bool>("eos") => return out,
            None => {}
        }
    }
}

fn seek_and_collect(element: &str, caps_in: &str, caps_out: &str) -> Vec<gst::Buffer> {
    init();
    let launch = format!(
        "videotestsrc pattern=ball ! {caps_in} ! {element} threads=1 ! {caps_out} ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    let sink = pipeline.downcast_ref::<gst::Bin>().unwrap().by_name("sink").unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let (res, _, _) = pipeline.state(gst::ClockTime::from_seconds(20));
    res.expect("preroll");
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(1),
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(2),
        )
        .expect("seek");
    pipeline.set_state(gst::State::Playing).unwrap();
    let out = pull_until_eos(&pipeline, &sink, Duration::from_secs(60));
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn flushing_seek_restarts_the_down_grid() {
    let out = seek_and_collect(
        "imsmdown",
        "video/x-raw,format=I420,width=64,height=48,framerate=60/1",
        "video/x-raw,width=32,height=24,framerate=24/1",
    );
    // 1 s .. 2 s of 60 fps input is 60 frames -> 24 outputs at 24 fps, starting at 1 s.
    assert_eq!(out.len(), 24, "outputs after the seek");
    assert_on_grid(&out, NS, 0, 24, 1);
    assert!(out[0].flags().contains(gst::BufferFlags::DISCONT));
}

#[test]
fn flushing_seek_restarts_the_up_grid() {
    let out = seek_and_collect(
        "imsmup",
        "video/x-raw,format=I420,width=32,height=24,framerate=24/1",
        "video/x-raw,width=64,height=48,framerate=60/1",
    );
    assert_eq!(out.len(), 60, "outputs after the seek");
    assert_on_grid(&out, NS, 0, 60, 1);
}
