//! Mid-stream caps changes: the old stretch is drained under the old caps, then the new
//! caps go downstream and the stream goes on without a restart.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::VideoInfo;

/// Splits the recorded output into (caps, buffers pushed under them), checking every
/// buffer has the size of the caps it follows.
fn stretches(log: &[Item]) -> Vec<(VideoInfo, Vec<(u64, bool)>)> {
    let mut out: Vec<(VideoInfo, Vec<(u64, bool)>)> = Vec::new();
    for item in log {
        match item {
            Item::Caps(c) => {
                let info = VideoInfo::from_caps(c).unwrap();
                // The same caps pushed again continue the current group.
                if out.last().map(|(i, _)| *i != info).unwrap_or(true) {
                    out.push((info, Vec::new()));
                }
            }
            Item::Buffer { pts, size, discont } => {
                let (info, bufs) = out.last_mut().expect("buffer before caps");
                assert_eq!(*size, info.size(), "buffer of {size} bytes under caps {}x{}", info.width(), info.height());
                bufs.push((pts.expect("PTS"), *discont));
            }
            _ => {}
        }
    }
    out
}

fn assert_pts(bufs: &[(u64, bool)], first: u64, num: u64, den: u64) {
    let got: Vec<u64> = bufs.iter().map(|b| b.0).collect();
    let want: Vec<u64> = (0..bufs.len() as u64).map(|k| grid(first, k, num, den)).collect();
    assert_eq!(got, want);
}

#[test]
fn size_and_rate_change_down() {
    let first_caps = caps("I420", 320, 240, 60, 1);
    let mut h = harness("imsmdown", &first_caps, None);
    let bus = own_bus(&h.element().unwrap());
    let log = record(&element_src(&h));
    push_frames(&mut h, &VideoInfo::from_caps(&first_caps).unwrap(), 0, 0..30, GREY);
    // Output 14 (input 28) still waits for input 30.
    assert_eq!(h.buffers_in_queue(), 14);

    let second_caps = caps("I420", 160, 120, 30, 1);
    h.set_src_caps(second_caps.clone());
    assert_eq!(h.buffers_in_queue(), 15, "the old stretch is drained at the caps change");
    let half = NS / 2;
    push_frames(&mut h, &VideoInfo::from_caps(&second_caps).unwrap(), half, 0..15, BROWN);
    push_eos(&mut h);

    let log = log.lock().unwrap().clone();
    let s = stretches(&log);
    assert_eq!(s.len(), 2, "two output caps");
    let (a, b) = (&s[0], &s[1]);
    assert_eq!((a.0.width(), a.0.height(), a.0.fps()), (160, 120, gst::Fraction::new(30, 1)));
    assert_eq!((b.0.width(), b.0.height(), b.0.fps()), (80, 60, gst::Fraction::new(15, 1)));
    assert_eq!(a.1.len(), 15, "no buffer of the old caps is lost");
    assert_eq!(b.1.len(), 8, "15 frames at 30 fps -> 8 at 15 fps");
    assert_pts(&a.1, 0, 30, 1);
    assert_pts(&b.1, half, 15, 1);
    assert!(b.1[0].1, "the first buffer under new caps is DISCONT");

    // The buffers under the new caps really are new content of the new size.
    let bufs = pull_all(&mut h);
    assert_eq!(bufs.len(), 23);
    for buf in &bufs[..15] {
        assert_flat(buf, &a.0, GREY, 3, "old caps");
    }
    for buf in &bufs[15..] {
        assert_flat(buf, &b.0, BROWN, 3, "new caps");
    }
    assert_eq!(h.element().unwrap().current_state(), gst::State::Playing);
    let messages: Vec<gst::Message> = std::iter::from_fn(|| bus.pop()).collect();
    assert!(!messages.iter().any(|m| m.type_() == gst::MessageType::Error), "no error on a caps change");
    // The rates changed, so the element's latency did: it asks for a new latency configuration.
    assert!(messages.iter().any(|m| m.type_() == gst::MessageType::Latency), "a LATENCY message after a rate change");
}

#[test]
fn rate_only_change_keeps_output_grid() {
    let first_caps = caps("I420", 320, 240, 60, 1);
    let mut h = harness("imsmdown", &first_caps, Some(&caps_str("video/x-raw,width=160,height=120,framerate=24/1")));
    let log = record(&element_src(&h));
    push_frames(&mut h, &VideoInfo::from_caps(&first_caps).unwrap(), 0, 0..60, GREY);
    let second_caps = caps("I420", 320, 240, 30, 1);
    h.set_src_caps(second_caps.clone());
    push_frames(&mut h, &VideoInfo::from_caps(&second_caps).unwrap(), NS, 0..30, GREY);
    push_eos(&mut h);

    let log = log.lock().unwrap().clone();
    let s = stretches(&log);
    assert_eq!(s.len(), 1, "output caps do not change");
    let bufs = &s[0].1;
    // 1 s at 60 fps then 1 s at 30 fps: 24 + 24 outputs, one continuous 24 fps grid.
    assert_eq!(bufs.len(), 48);
    assert_pts(bufs, 0, 24, 1);
    let out = pull_all(&mut h);
    assert_on_grid(&out[..24], 0, 0, 24, 1);
    assert_on_grid(&out[24..], NS, 0, 24, 1);
}

#[test]
fn size_and_rate_change_up() {
    let first_caps = caps("RGBx", 40, 30, 24, 1);
    let mut h = harness("imsmup", &first_caps, None);
    let log = record(&element_src(&h));
    push_frames(&mut h, &VideoInfo::from_caps(&first_caps).unwrap(), 0, 0..12, GREY);
    let second_caps = caps("RGBx", 20, 16, 30, 1);
    h.set_src_caps(second_caps.clone());
    push_frames(&mut h, &VideoInfo::from_caps(&second_caps).unwrap(), NS / 2, 0..6, BROWN);
    push_eos(&mut h);

    let log = log.lock().unwrap().clone();
    let s = stretches(&log);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].0.width(), s[0].0.height(), s[0].0.fps()), (80, 60, gst::Fraction::new(48, 1)));
    assert_eq!((s[1].0.width(), s[1].0.height(), s[1].0.fps()), (40, 32, gst::Fraction::new(60, 1)));
    assert_eq!(s[0].1.len(), 24);
    assert_eq!(s[1].1.len(), 12);
    assert_pts(&s[0].1, 0, 48, 1);
    assert_pts(&s[1].1, NS / 2, 60, 1);
    assert!(s[1].1[0].1);
}

/// Caps changing to exactly what downstream wants switches to passthrough and back.
#[test]
fn change_into_and_out_of_passthrough() {
    let out = caps("I420", 32, 24, 30, 1);
    let first_caps = caps("I420", 64, 48, 60, 1);
    let mut h = harness("imsmdown", &first_caps, Some(&out));
    push_frames(&mut h, &VideoInfo::from_caps(&first_caps).unwrap(), 0, 0..6, GREY);
    h.set_src_caps(out.clone());
    let info = VideoInfo::from_caps(&out).unwrap();
    let pass = flat_frame(&info, BROWN, Some(NS / 10), Some(NS / 30));
    let ptr = pass.as_ptr();
    assert_eq!(h.push(pass), Ok(gst::FlowSuccess::Ok));
    h.set_src_caps(first_caps.clone());
    push_frames(&mut h, &VideoInfo::from_caps(&first_caps).unwrap(), NS, 0..4, GREY);
    push_eos(&mut h);
    let bufs = pull_all(&mut h);
    assert_eq!(bufs.len(), 3 + 1 + 2);
    assert_eq!(bufs[3].as_ptr(), ptr, "the passthrough buffer is handed on as is");
    assert_eq!(pts_ns(&bufs[4]), NS);
    assert_eq!(pts_ns(&bufs[5]), NS + NS / 30);
}

/// A reconfigure event from downstream that changes nothing (x264enc, capsfilter and
/// videoconvert send them) must not break the stream: same caps, same grid, no extra
/// frames, no DISCONT.
#[test]
fn reconfigure_without_change_keeps_the_grid() {
    let input = caps("I420", 32, 24, 60, 1);
    let info = VideoInfo::from_caps(&input).unwrap();
    let mut h = harness("imsmdown", &input, Some(&caps_str("video/x-raw,width=16,height=12,framerate=24/1")));
    push_frames(&mut h, &info, 0, 0..7, GREY);
    assert!(h.push_upstream_event(gst::event::Reconfigure::new()));
    push_frames(&mut h, &info, 0, 7..60, GREY);
    push_eos(&mut h);
    let out = pull_all(&mut h);
    let pts: Vec<u64> = out.iter().map(|b| pts_ns(b)).collect();
    assert_eq!(out.len(), 24, "60 frames at 60 fps -> 24 at 24 fps: {pts:?}");
    assert_on_grid(&out, 0, 0, 24, 1);
    assert!(out[1..].iter().all(|b| !b.flags().contains(gst::BufferFlags::DISCONT)));
}

/// The same caps sent again mid-stream (decoders and parsers re-send caps) change nothing.
#[test]
fn identical_caps_again_keep_the_grid() {
    let input = caps("I420", 32, 24, 60, 1);
    let info = VideoInfo::from_caps(&input).unwrap();
    let mut h = harness("imsmdown", &input, Some(&caps_str("video/x-raw,width=16,height=12,framerate=24/1")));
    push_frames(&mut h, &info, 0, 0..7, GREY);
    assert!(h.push_event(gst::event::Caps::new(&input)));
    push_frames(&mut h, &info, 0, 7..60, GREY);
    push_eos(&mut h);
    let out = pull_all(&mut h);
    let pts: Vec<u64> = out.iter().map(|b| pts_ns(b)).collect();
    assert_eq!(out.len(), 24, "60 frames at 60 fps -> 24 at 24 fps: {pts:?}");
    assert_on_grid(&out, 0, 0, 24, 1);
}
