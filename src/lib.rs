//! gst-imsm: GStreamer elements that resample video in space and time with learned
//! models run through ONNX Runtime.
//!
//! - `imsmdown` lowers frame rate and size to what downstream asks for and hides the
//!   motion of the dropped frames in the frames it keeps;
//! - `imsmup` recovers it and renders any frame rate and size.

use gst::glib;

pub mod bench;
pub mod element;
pub mod engine;
pub mod eval;
pub mod imsmdown;
pub mod imsmup;
pub mod nvml;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    if let Some(file) = plugin.filename() {
        let _ = element::PLUGIN_FILE.set(file);
    }
    imsmdown::register(plugin)?;
    imsmup::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    imsm,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
