//! `overlap=on`: the graphs run on the element's inference thread while the streaming
//! thread converts the next frame and pushes the previous one's outputs. The output must
//! be the same buffers, on the same grid, one input frame later; latency says so; flush
//! and EOS behave as without it.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoInfo;

fn overlap_harness(factory: &str, overlap: &str, input: &gst::Caps, out: &gst::Caps) -> gst_check::Harness {
    let mut h = harness_with(factory, |e| e.set_property_from_str("overlap", overlap));
    h.set_sink_caps(out.clone());
    h.set_src_caps(input.clone());
    h
}

/// Buffers `sink` got through `launch`: (pts, flags, bytes).
fn run(launch: &str) -> Vec<(Option<gst::ClockTime>, gst::BufferFlags, Vec<u8>)> {
    let (buffers, _) = run_collecting(launch);
    buffers.iter().map(|b| (b.pts(), b.flags(), b.map_readable().unwrap().as_slice().to_vec())).collect()
}

#[test]
fn overlap_gives_the_same_buffers() {
    let models = models_dir();
    for dir in [models.join("reference"), models.join("imsm-small")] {
        let dir = dir.display();
        // RGBx output: no stride padding, so whole buffers compare.
        for (element, input, output) in [
            ("imsmdown", "I420,width=48,height=32,framerate=60/1", "RGBx,width=24,height=16,framerate=24/1"),
            ("imsmup", "I420,width=24,height=16,framerate=24/1", "RGBx,width=40,height=28,framerate=60/1"),
        ] {
            let launch = |overlap: &str| {
                format!(
                    "videotestsrc num-buffers=14 pattern=ball ! video/x-raw,format={input} \
                     ! {element} model-dir={dir} threads=1 overlap={overlap} ! video/x-raw,format={output} \
                     ! fakesink name=sink"
                )
            };
            let (off, on) = (run(&launch("off")), run(&launch("on")));
            let what = format!("{dir}: {element}");
            assert!(off.len() >= 5, "{what}: {} buffers", off.len());
            assert_eq!(off.len(), on.len(), "{what}: buffer count");
            for (k, (a, b)) in off.iter().zip(&on).enumerate() {
                assert_eq!((a.0, a.1), (b.0, b.1), "{what}: buffer {k} timestamps/flags");
                assert!(a.2 == b.2, "{what}: buffer {k} pixels differ");
            }
        }
    }
}

#[test]
fn overlap_delays_outputs_by_one_input_frame_and_says_so() {
    let input = caps("I420", 16, 12, 30, 1);
    let out = caps_str("video/x-raw,width=16,height=12,framerate=60/1");
    let info = VideoInfo::from_caps(&input).unwrap();
    let mut counts = Vec::new();
    let mut latencies = Vec::new();
    for overlap in ["off", "on"] {
        let mut h = overlap_harness("imsmup", overlap, &input, &out);
        let mut after_each = Vec::new();
        for i in 0..4 {
            push_frames(&mut h, &info, 0, i..i + 1, GREY);
            after_each.push(h.buffers_in_queue());
        }
        latencies.push(h.query_latency().expect("latency answered").nseconds());
        push_eos(&mut h);
        let all = pull_all(&mut h);
        assert_eq!(all.len(), 8, "overlap={overlap}: 4 frames at 30 -> 8 at 60 after EOS");
        assert_on_grid(&all, 0, 0, 60, 1);
        counts.push(after_each);
    }
    // What frame n gives leaves when frame n + 1 arrives.
    assert_eq!(counts[1][1..], counts[0][..3], "off {:?} / on {:?}", counts[0], counts[1]);
    assert_eq!(counts[1][0], 0);
    assert_eq!(latencies[1] - latencies[0], NS.div_ceil(30), "one more input frame: {latencies:?}");
}

#[test]
fn overlap_flush_drops_the_frame_in_flight() {
    let input = caps("I420", 16, 12, 60, 1);
    let info = VideoInfo::from_caps(&input).unwrap();
    let mut h = overlap_harness("imsmdown", "on", &input, &caps_str("video/x-raw,width=8,height=6,framerate=30/1"));
    push_frames(&mut h, &info, 0, 0..7, BROWN);
    assert_flush_restarts_clean(&mut h, &info);
}
