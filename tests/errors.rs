//! Errors: missing, corrupt and non-conforming models, unavailable execution providers,
//! and malformed streams. Every failure must be an element error on the bus, never a
//! panic or a hang.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use gst_check::Harness;

const TIMEOUT: Duration = Duration::from_secs(10);

/// `videotestsrc ! <factory> ! fakesink` with `configure` applied to the element.
fn pipeline_with(factory: &str, configure: impl FnOnce(&gst::Element)) -> (gst::Pipeline, gst::Element) {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc").property("num-buffers", 4).build().unwrap();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", caps("I420", 32, 24, 30, 1))
        .build()
        .unwrap();
    let element = gst::ElementFactory::make(factory).build().unwrap();
    configure(&element);
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &filter, &element, &sink]).unwrap();
    gst::Element::link_many([&src, &filter, &element, &sink]).unwrap();
    (pipeline, element)
}

/// Starting fails; returns the error posted by the element.
fn start_fails(factory: &str, configure: impl FnOnce(&gst::Element)) -> (gst::glib::Error, String) {
    let (pipeline, element) = pipeline_with(factory, configure);
    let ret = pipeline.set_state(gst::State::Paused);
    assert!(ret.is_err(), "{factory}: going to PAUSED must fail, got {ret:?}");
    let msg = wait_error(&pipeline.bus().unwrap(), TIMEOUT).expect("an error message on the bus");
    assert_eq!(msg.src().map(|s| s.name()), Some(element.name()), "the error comes from the element");
    let (err, text) = error_text(&msg);
    assert!(!text.to_lowercase().contains("panic"), "{factory}: {text}");
    pipeline.set_state(gst::State::Null).unwrap();
    (err, text)
}

fn set_dir(dir: &Path) -> impl FnOnce(&gst::Element) + '_ {
    move |e| e.set_property("model-dir", dir.to_str().unwrap())
}

#[test]
fn empty_model_dir_down() {
    let dir = temp_dir("empty-down");
    let (err, text) = start_fails("imsmdown", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::NotFound), "{err:?}");
    assert!(text.contains(&dir.join("down.onnx").display().to_string()), "{text}");
}

#[test]
fn empty_model_dir_up() {
    let dir = temp_dir("empty-up");
    let (err, text) = start_fails("imsmup", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::NotFound), "{err:?}");
    assert!(text.contains("reveal.onnx"), "{text}");
}

#[test]
fn missing_synth_only() {
    let dir = temp_dir("no-synth");
    copy_models(&dir);
    std::fs::remove_file(dir.join("synth.onnx")).unwrap();
    let (err, text) = start_fails("imsmup", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::NotFound), "{err:?}");
    assert!(text.contains("synth.onnx"), "{text}");
}

fn corrupt_dir(tag: &str) -> TempDir {
    let dir = temp_dir(tag);
    for f in ["down.onnx", "reveal.onnx", "synth.onnx"] {
        std::fs::write(dir.join(f), b"\x08\x07garbage, not a protobuf \xff\xfe\x00\x01").unwrap();
    }
    dir
}

#[test]
fn corrupt_models() {
    let dir = corrupt_dir("corrupt");
    let (err, text) = start_fails("imsmdown", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::OpenRead), "{err:?} {text}");
    assert!(text.contains(&dir.join("down.onnx").display().to_string()), "{text}");

    let (err, text) = start_fails("imsmup", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::OpenRead), "{err:?} {text}");
    assert!(text.contains("reveal.onnx"), "{text}");
}

#[test]
fn corrupt_synth_only() {
    let dir = temp_dir("corrupt-synth");
    copy_models(&dir);
    std::fs::write(dir.join("synth.onnx"), b"nonsense").unwrap();
    let (err, text) = start_fails("imsmup", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::OpenRead), "{err:?} {text}");
    assert!(text.contains("synth.onnx"), "{text}");
}

/// A graph made for an older version of the model contract is refused by name, with the
/// versions in the message (tests/fixtures/contract-v1-reveal.onnx is the v1 reference
/// reveal graph).
#[test]
fn older_contract_version() {
    let dir = temp_dir("contract-v1");
    copy_models(&dir);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contract-v1-reveal.onnx");
    std::fs::copy(fixture, dir.join("reveal.onnx")).unwrap();
    let (err, text) = start_fails("imsmup", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::OpenRead), "{err:?} {text}");
    assert!(text.contains("reveal.onnx") && text.contains("contract version 1"), "{text}");
    assert!(text.contains("runs version 2"), "{text}");
}

/// Valid ONNX files that do not follow the contract (another graph under the name).
#[test]
fn wrong_contract() {
    let dir = temp_dir("swapped");
    copy_models(&dir);
    std::fs::copy(models_dir().join("reveal.onnx"), dir.join("down.onnx")).unwrap();
    let (err, text) = start_fails("imsmdown", set_dir(&dir));
    assert!(err.matches(gst::ResourceError::OpenRead), "{err:?} {text}");
    assert!(text.contains("down.onnx") && text.contains("'frame0'"), "{text}");

    let dir = temp_dir("swapped-up");
    copy_models(&dir);
    std::fs::copy(models_dir().join("down.onnx"), dir.join("reveal.onnx")).unwrap();
    let (_, text) = start_fails("imsmup", set_dir(&dir));
    assert!(text.contains("reveal.onnx") && text.contains("'lr'"), "{text}");

    let dir = temp_dir("swapped-synth");
    copy_models(&dir);
    std::fs::copy(models_dir().join("reveal.onnx"), dir.join("synth.onnx")).unwrap();
    let (_, text) = start_fails("imsmup", set_dir(&dir));
    assert!(text.contains("synth.onnx") && text.contains("'feat0'"), "{text}");
}

#[test]
fn cuda_provider_on_cpu_runtime() {
    for factory in ["imsmdown", "imsmup"] {
        let (err, text) = start_fails(factory, |e| e.set_property_from_str("provider", "cuda"));
        assert!(err.matches(gst::ResourceError::Failed), "{err:?}");
        assert!(text.contains("CUDA"), "{factory}: {text}");
    }
}

#[test]
fn tensorrt_provider_on_cpu_runtime() {
    let cache = temp_dir("trt-cache").join("engines");
    let (_, text) = start_fails("imsmdown", |e| {
        e.set_property_from_str("provider", "tensorrt");
        e.set_property("tensorrt-cache-dir", cache.to_str().unwrap());
        e.set_property("tensorrt-fp16", true);
    });
    assert!(text.contains("TensorRT"), "{text}");
    // Nothing is written for a provider this ONNX Runtime build does not have.
    assert!(!cache.exists(), "{} was created", cache.display());
}

/// The TensorRT cache directory reads back as the directory that will be used.
#[test]
fn tensorrt_properties() {
    init();
    for factory in ["imsmdown", "imsmup"] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        let default: String = e.property("tensorrt-cache-dir");
        assert!(default.ends_with("gst-imsm/tensorrt"), "{factory}: {default}");
        assert!(!e.property::<bool>("tensorrt-fp16"));
        e.set_property("tensorrt-cache-dir", "/srv/trt");
        assert_eq!(e.property::<String>("tensorrt-cache-dir"), "/srv/trt");
        e.set_property("tensorrt-cache-dir", None::<&str>);
        assert_eq!(e.property::<String>("tensorrt-cache-dir"), default);
    }
}

/// Runs to EOS and returns the texts of the element's INFO messages.
fn info_messages(factory: &str, provider: &str) -> Vec<String> {
    let (pipeline, element) = pipeline_with(factory, |e| e.set_property_from_str("provider", provider));
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap_or_else(|e| panic!("{factory} provider={provider}: {e:?}"));
    let mut texts = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        assert!(std::time::Instant::now() < deadline, "{factory}: no EOS");
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::Info(i) if msg.src().map(|s| s.name()) == Some(element.name()) => {
                texts.push(i.error().to_string())
            }
            gst::MessageView::Error(_) => panic!("{factory}: {}", error_text(&msg).1),
            gst::MessageView::Eos(_) => break,
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    texts
}

#[test]
fn auto_provider_runs_on_cpu_and_says_so() {
    for factory in ["imsmdown", "imsmup"] {
        let texts = info_messages(factory, "auto");
        assert!(
            texts.iter().any(|t| t.contains("CPU execution provider")),
            "{factory}: INFO messages {texts:?}"
        );
    }
    let texts = info_messages("imsmdown", "cpu");
    assert!(texts.iter().any(|t| t.contains("CPU execution provider") && t.contains("reference")), "{texts:?}");
}

/// A harness whose element has its own bus; only stream-start has been sent.
fn bare_harness(factory: &str) -> (Harness, gst::Bus) {
    init();
    let h = Harness::new(factory);
    let bus = own_bus(&h.element().unwrap());
    (h, bus)
}

#[test]
fn buffer_before_caps() {
    for factory in ["imsmdown", "imsmup"] {
        let (mut h, bus) = bare_harness(factory);
        assert!(h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())));
        let info = gst_video::VideoInfo::from_caps(&caps("I420", 16, 12, 30, 1)).unwrap();
        let ret = h.push(flat_frame(&info, GREY, Some(0), None));
        assert_eq!(ret, Err(gst::FlowError::NotNegotiated), "{factory}");
        let msg = wait_error(&bus, TIMEOUT).expect("element error");
        let (err, text) = error_text(&msg);
        assert!(err.matches(gst::CoreError::Negotiation), "{err:?} {text}");
        assert_eq!(h.buffers_in_queue(), 0);
    }
}

#[test]
fn non_time_segment() {
    for factory in ["imsmdown", "imsmup"] {
        let (mut h, bus) = bare_harness(factory);
        let input = caps("I420", 16, 12, 30, 1);
        h.set_src_caps(input.clone());
        let _ = h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::format::Bytes>::new()));
        let msg = wait_error(&bus, TIMEOUT).expect("element error for a BYTES segment");
        let (err, text) = error_text(&msg);
        assert!(err.matches(gst::StreamError::Format), "{err:?} {text}");
        assert!(text.contains("Bytes") || text.contains("bytes"), "{text}");
        let info = gst_video::VideoInfo::from_caps(&input).unwrap();
        let ret = h.push(flat_frame(&info, GREY, Some(0), None));
        assert!(ret.is_err(), "{factory}: a buffer in a BYTES segment must not flow: {ret:?}");
        assert_eq!(h.buffers_in_queue(), 0);
    }
}

#[test]
fn variable_framerate_caps_in_harness() {
    for factory in ["imsmdown", "imsmup"] {
        let (mut h, bus) = bare_harness(factory);
        let vfr = caps("I420", 16, 12, 0, 1);
        let _ = h.push_event(gst::event::Caps::new(&vfr));
        let _ = h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
        let info = gst_video::VideoInfo::from_caps(&vfr).unwrap();
        let ret = h.push(flat_frame(&info, GREY, Some(0), None));
        let error = bus.pop_filtered(&[gst::MessageType::Error]);
        assert!(
            ret == Err(gst::FlowError::NotNegotiated) || (ret.is_err() && error.is_some()),
            "{factory}: framerate 0/1 must not be accepted: {ret:?} {error:?}"
        );
        assert_eq!(h.buffers_in_queue(), 0);
        // The element did not accept the caps.
        assert!(h.element().unwrap().static_pad("src").unwrap().current_caps().is_none());
    }
}

#[test]
fn variable_framerate_in_pipeline() {
    init();
    for factory in ["imsmdown", "imsmup"] {
        // Linked directly, the caps are refused at link time.
        let err = gst::parse::launch(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=16,height=12,framerate=0/1 ! {factory} ! fakesink"
        ))
        .expect_err("framerate 0/1 must not link");
        assert!(err.to_string().contains("framerate=(fraction)0/1"), "{factory}: {err}");

        // Linked without caps checks, the stream fails as not-negotiated at run time.
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=16,height=12,framerate=0/1 ! capsfilter name=vfr \
             {factory} name=imsm ! fakesink"
        ))
        .unwrap();
        let bin = pipeline.clone().downcast::<gst::Bin>().unwrap();
        let vfr = bin.by_name("vfr").unwrap().static_pad("src").unwrap();
        let sink = bin.by_name("imsm").unwrap().static_pad("sink").unwrap();
        vfr.link_full(&sink, gst::PadLinkCheck::empty()).unwrap();
        let err = run_to_eos(&pipeline, TIMEOUT).expect_err("framerate 0/1 must fail");
        assert!(err.contains("not-negotiated") || err.to_lowercase().contains("negotiat"), "{factory}: {err}");
    }
}

/// After a failed start with a bad directory, fixing the property makes it start.
#[test]
fn recovers_after_fixing_model_dir() {
    let dir = temp_dir("fixlater");
    let (pipeline, element) = pipeline_with("imsmdown", set_dir(&dir));
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    pipeline.set_state(gst::State::Null).unwrap();
    element.set_property("model-dir", models_dir().to_str().unwrap());
    let bus = pipeline.bus().unwrap();
    bus.set_flushing(true);
    bus.set_flushing(false);
    run_to_eos(pipeline.upcast_ref(), TIMEOUT).expect("runs once model-dir is right");
}

/// The error's message itself (what applications show, `GError.message`), not only its
/// debug string, says what is wrong: which file, which provider.
#[test]
fn error_message_itself_names_the_problem() {
    let dir = temp_dir("msg-empty");
    let (pipeline, _) = pipeline_with("imsmdown", set_dir(&dir));
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    let msg = wait_error(&pipeline.bus().unwrap(), TIMEOUT).expect("error");
    let (err, _) = error_text(&msg);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(err.message().contains("down.onnx"), "message: {:?}", err.message());

    let (pipeline, _) = pipeline_with("imsmup", |e| e.set_property_from_str("provider", "cuda"));
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    let msg = wait_error(&pipeline.bus().unwrap(), TIMEOUT).expect("error");
    let (err, _) = error_text(&msg);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(err.message().contains("CUDA"), "message: {:?}", err.message());
}
