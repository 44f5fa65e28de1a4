//! The trained graphs shipped in models/imsm-small and models/imsm-small-80 run through
//! both elements: they load against the contract, declare the optional inputs, and keep
//! the output grid.

mod common;

use common::*;

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
