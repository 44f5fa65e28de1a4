//! `colour-conversion`: I420/NV12 frames converted by the colour graphs (ONNX Runtime,
//! where the graphs run) give the same bytes as the host conversion, through both
//! elements, with the reference and a trained set of graphs.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::prelude::*;

/// The visible bytes of each 4:2:0 buffer (stride padding is never written, so it holds
/// whatever the allocation held).
fn visible(buffers: &[gst::Buffer], info: &gst_video::VideoInfo) -> Vec<Vec<u8>> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let rows: Vec<(usize, usize)> = match info.format() {
        gst_video::VideoFormat::I420 => vec![(w, h), (cw, ch), (cw, ch)],
        gst_video::VideoFormat::Nv12 => vec![(w, h), (2 * cw, ch)],
        other => panic!("not a 4:2:0 format: {other:?}"),
    };
    buffers
        .iter()
        .map(|b| {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(b.as_ref(), info).unwrap();
            let mut out = Vec::new();
            for (p, &(row_bytes, n_rows)) in rows.iter().enumerate() {
                let stride = frame.plane_stride()[p] as usize;
                let data = frame.plane_data(p as u32).unwrap();
                for r in 0..n_rows {
                    out.extend_from_slice(&data[r * stride..r * stride + row_bytes]);
                }
            }
            out
        })
        .collect()
}

#[test]
fn colour_graphs_give_the_bytes_of_the_host_conversion() {
    let models = models_dir();
    for dir in [models.join("reference"), models.join("imsm-small")] {
        let dir = dir.display();
        // (element, input caps, output caps): 4:2:0 both sides, NV12 both sides, and mixed
        // (RGB in: host; I420 out: graphs).
        let cases = [
            ("imsmdown", "I420,width=50,height=34,framerate=60/1", "I420,width=26,height=17,framerate=24/1"),
            ("imsmdown", "NV12,width=48,height=32,framerate=30/1", "NV12,width=24,height=16,framerate=15/1"),
            ("imsmup", "I420,width=25,height=17,framerate=24/1", "NV12,width=49,height=35,framerate=60/1"),
            ("imsmup", "RGBx,width=24,height=16,framerate=15/1", "I420,width=48,height=32,framerate=30/1"),
        ];
        for (element, input, output) in cases {
            let run = |colour: &str| {
                run_collecting(&format!(
                    "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,format={input} \
                     ! {element} model-dir={dir} threads=1 colour-conversion={colour} \
                     ! video/x-raw,format={output} ! fakesink name=sink"
                ))
            };
            let (host, host_info) = run("host");
            let (graphs, graphs_info) = run("graphs");
            let what = format!("{dir}: {element} {input} -> {output}");
            let says = |infos: &[String]| infos.iter().any(|t| t.contains("converted to and from RGB by the colour graphs"));
            assert!(!says(&host_info) && says(&graphs_info), "{what}: INFO {host_info:?} / {graphs_info:?}");
            assert!(host.len() >= 4, "{what}: {} buffers", host.len());
            assert_eq!(host.len(), graphs.len(), "{what}: buffer count");
            for (h, g) in host.iter().zip(&graphs) {
                assert_eq!(h.pts(), g.pts(), "{what}: timestamps");
            }
            let info = gst_video::VideoInfo::from_caps(&caps_str(&format!("video/x-raw,format={output}"))).unwrap();
            assert!(visible(&host, &info) == visible(&graphs, &info), "{what}: the colour graphs changed pixels");
        }
    }
}

#[test]
fn colour_conversion_is_a_property_of_both_elements() {
    init();
    for factory in ["imsmdown", "imsmup"] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        e.set_property_from_str("colour-conversion", "graphs");
        let v = e.property_value("colour-conversion");
        let (_, nick) = gst::glib::EnumValue::from_value(&v).map(|(c, ev)| (c, ev.nick().to_string())).unwrap();
        assert_eq!(nick, "graphs", "{factory}");
    }
}
