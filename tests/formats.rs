//! Every supported raw format in and out of both elements, with colour fidelity on flat
//! frames, and direct links to x264enc without a videoconvert.

mod common;

use std::time::Duration;

use common::*;
use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::{VideoFormat, VideoInfo};

const FORMATS: [&str; 7] = ["I420", "NV12", "RGB", "RGBA", "BGRA", "RGBx", "BGRx"];

/// Byte offset of the alpha / padding byte in 4-byte RGB formats.
fn fourth_byte(format: VideoFormat) -> Option<usize> {
    match format {
        VideoFormat::Rgba | VideoFormat::Bgra | VideoFormat::Rgbx | VideoFormat::Bgrx => Some(3),
        _ => None,
    }
}

fn assert_fourth_byte_opaque(buffer: &gst::BufferRef, info: &VideoInfo, what: &str) {
    let Some(off) = fourth_byte(info.format()) else { return };
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    for row in 0..info.height() as usize {
        for x in 0..info.width() as usize {
            assert_eq!(data[row * stride + 4 * x + off], 255, "{what}: alpha/x byte at ({x}, {row})");
        }
    }
}

/// One input format through `factory` to every output format.
fn all_outputs(factory: &str, in_format: &str) {
    let (in_size, out_size, in_rate, out_rate) = if factory == "imsmdown" {
        ((30, 22), (15, 11), 30, 15)
    } else {
        ((15, 11), (30, 22), 15, 30)
    };
    for out_format in FORMATS {
        for colour in [GREY, BROWN] {
            let input = caps(in_format, in_size.0, in_size.1, in_rate, 1);
            let wanted = caps(out_format, out_size.0, out_size.1, out_rate, 1);
            let mut h = harness(factory, &input, Some(&wanted));
            let info = VideoInfo::from_caps(&input).unwrap();
            push_frames(&mut h, &info, 0, 0..4, colour);
            push_eos(&mut h);
            let got = out_info(&h);
            let what = format!("{factory} {in_format} -> {out_format} {colour:?}");
            assert_eq!(got.format().to_str(), out_format, "{what}: output format");
            assert_eq!((got.width() as i32, got.height() as i32), out_size, "{what}: output size");
            let out = pull_all(&mut h);
            let expected = if factory == "imsmdown" { 2 } else { 8 };
            assert_eq!(out.len(), expected, "{what}: output count");
            for b in &out {
                assert_eq!(b.size(), got.size(), "{what}: buffer size");
                assert_flat(b, &got, colour, 3, &what);
                assert_fourth_byte_opaque(b, &got, &what);
            }
        }
    }
}

macro_rules! format_tests {
    ($($name:ident: $factory:literal, $format:literal;)*) => {
        $(
            #[test]
            fn $name() {
                all_outputs($factory, $format);
            }
        )*
    };
}

format_tests! {
    down_from_i420: "imsmdown", "I420";
    down_from_nv12: "imsmdown", "NV12";
    down_from_rgb: "imsmdown", "RGB";
    down_from_rgba: "imsmdown", "RGBA";
    down_from_bgra: "imsmdown", "BGRA";
    down_from_rgbx: "imsmdown", "RGBx";
    down_from_bgrx: "imsmdown", "BGRx";
    up_from_i420: "imsmup", "I420";
    up_from_nv12: "imsmup", "NV12";
    up_from_rgb: "imsmup", "RGB";
    up_from_rgba: "imsmup", "RGBA";
    up_from_bgra: "imsmup", "BGRA";
    up_from_rgbx: "imsmup", "RGBx";
    up_from_bgrx: "imsmup", "BGRx";
}

/// With downstream open on format, the output keeps the input's format.
#[test]
fn open_format_keeps_input_format() {
    for f in FORMATS {
        for factory in ["imsmdown", "imsmup"] {
            let mut h = harness(factory, &caps(f, 16, 12, 30, 1), Some(&caps_str("video/x-raw,width=24,height=18,framerate=45/1")));
            let info = VideoInfo::from_caps(&caps(f, 16, 12, 30, 1)).unwrap();
            push_frames(&mut h, &info, 0, 0..2, BROWN);
            let got = out_info(&h);
            assert_eq!(got.format().to_str(), f, "{factory}: format left open");
            assert_eq!((got.width(), got.height()), (24, 18));
        }
    }
}

/// A decoder's output format goes straight into x264enc through imsmdown.
fn to_x264(format: &str) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=20 ! video/x-raw,format={format},width=320,height=240,framerate=30/1 \
         ! imsmdown name=down ! x264enc speed-preset=ultrafast ! fakesink name=sink"
    ))
    .unwrap();
    let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
    let down_log = record(&bin.by_name("down").unwrap().static_pad("src").unwrap());
    let sink_log = record(&bin.by_name("sink").unwrap().static_pad("sink").unwrap());
    run_to_eos(&pipeline, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{format} -> x264enc: {e}"));

    let first_caps = |log: &[Item]| {
        log.iter()
            .find_map(|i| match i {
                Item::Caps(c) => Some(c.clone()),
                _ => None,
            })
            .expect("no caps")
    };
    let down_caps = first_caps(&down_log.lock().unwrap());
    let info = VideoInfo::from_caps(&down_caps).unwrap();
    assert_eq!(info.format().to_str(), format, "imsmdown must hand x264enc the input format");
    assert_eq!((info.width(), info.height(), info.fps()), (160, 120, gst::Fraction::new(15, 1)));
    let sink_log = sink_log.lock().unwrap();
    assert_eq!(first_caps(&sink_log).structure(0).unwrap().name(), "video/x-h264");
    let encoded = sink_log.iter().filter(|i| matches!(i, Item::Buffer { .. })).count();
    // 20 frames at 30 fps -> 10 at 15 fps, all encoded.
    assert_eq!(encoded, 10, "{format}: encoded frames");
}

#[test]
fn nv12_links_to_x264enc_without_videoconvert() {
    to_x264("NV12");
}

#[test]
fn i420_links_to_x264enc_without_videoconvert() {
    to_x264("I420");
}
