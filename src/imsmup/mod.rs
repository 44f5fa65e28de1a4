//! imsmup: renders any higher (or lower) frame rate and size from a low-rate stream,
//! recovering the motion imsmdown hid in it; on ordinary video a continuous
//! space-time upscaler.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Element(ObjectSubclass<imp::ImsmUp>) @extends gst::Element, gst::Object;
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstImsmStreamKind")]
pub enum StreamKind {
    #[default]
    #[enum_value(name = "Auto: let the graphs judge", nick = "auto")]
    Auto,
    #[enum_value(name = "Made by imsmdown", nick = "imsm")]
    Imsm,
    #[enum_value(name = "Ordinary video", nick = "plain")]
    Plain,
}

impl StreamKind {
    /// The `imsm` input of the reveal graph.
    pub fn hint(self) -> f32 {
        match self {
            StreamKind::Auto => 0.5,
            StreamKind::Imsm => 1.0,
            StreamKind::Plain => 0.0,
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "imsmup", gst::Rank::NONE, Element::static_type())
}
