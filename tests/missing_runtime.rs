//! A missing or broken ONNX Runtime library is an element error naming the path, not a
//! panic or a hang. ONNX Runtime is loaded once per process and never unloaded, so this
//! file is its own process and runs its cases in one test, in order, before anything
//! else can load the real library.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use gst::prelude::*;

fn pipeline(factory: &str, ort_library: &Path) -> gst::Element {
    let p = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=16,height=12,framerate=30/1 ! {factory} name=imsm ! fakesink"
    ))
    .unwrap();
    let imsm = p.clone().downcast::<gst::Bin>().unwrap().by_name("imsm").unwrap();
    imsm.set_property("ort-library", ort_library.to_str().unwrap());
    assert_eq!(imsm.property::<Option<String>>("ort-library").as_deref(), ort_library.to_str());
    p
}

/// Going to PAUSED fails with an element error whose text names `library`.
fn fails_naming(factory: &str, library: &Path) -> String {
    let p = pipeline(factory, library);
    let ret = p.set_state(gst::State::Paused);
    assert!(ret.is_err(), "{factory} with ort-library={}: {ret:?}", library.display());
    let msg = wait_error(&p.bus().unwrap(), Duration::from_secs(10)).expect("an error message");
    assert_eq!(msg.src().map(|s| s.name().to_string()).as_deref(), Some("imsm"));
    let (err, text) = error_text(&msg);
    assert!(err.matches(gst::ResourceError::Failed), "{err:?}");
    assert!(text.contains(&library.display().to_string()), "the error must name {}: {text}", library.display());
    assert!(text.contains("ONNX Runtime"), "{text}");
    assert!(!text.to_lowercase().contains("panic"), "{text}");
    p.set_state(gst::State::Null).unwrap();
    text
}

#[test]
fn missing_then_broken_then_right_library() {
    // The plugin registers without ONNX Runtime.
    init();
    assert!(gst::ElementFactory::find("imsmdown").is_some());
    assert!(gst::ElementFactory::find("imsmup").is_some());

    // 1. A path that does not exist.
    let missing = PathBuf::from("/nonexistent/gst-imsm/libonnxruntime.so.1.31.1");
    let text = fails_naming("imsmdown", &missing);
    assert!(text.contains("no such file"), "{text}");
    fails_naming("imsmup", &missing);

    // 2. A file that exists but is not a shared library.
    let dir = temp_dir("not-a-lib");
    let text_file = dir.join("libonnxruntime.so");
    std::fs::write(&text_file, "this is not an ELF file\n").unwrap();
    fails_naming("imsmdown", &text_file);
    fails_naming("imsmup", &text_file);

    // 3. A failed load is not remembered: the right library then works.
    let right = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.ort/libonnxruntime.so.1.31.1"));
    assert!(right.is_file(), "the test needs {}", right.display());
    let p = pipeline("imsmdown", &right);
    run_to_eos(&p, Duration::from_secs(30)).expect("imsmdown runs with the right library");
}
