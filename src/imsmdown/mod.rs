//! imsmdown: lowers frame rate and size to what downstream asks for, hiding the
//! motion of the dropped frames in the frames it keeps.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Element(ObjectSubclass<imp::ImsmDown>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "imsmdown", gst::Rank::NONE, Element::static_type())
}
