//! The engine: everything the elements do that needs no GStreamer types.
//!
//! Time math on rational frame counters, frame-window scheduling for any rate ratio,
//! colour conversion between packed/planar 8-bit video and the networks' planar float
//! RGB, global-motion alignment for imsmup, and the ONNX Runtime sessions. The elements in `crate::imsmdown` and
//! `crate::imsmup` only translate between GStreamer and this module.

pub mod color;
pub mod model;
pub mod motion;
pub mod schedule;
#[cfg(test)]
pub(crate) mod test_scene;
pub mod time;

/// A frame as the networks see it: planar RGB (channel-major, `3 * width * height`
/// values), gamma-encoded as in the video, nominally in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl RgbFrame {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; 3 * width * height] }
    }

    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }
}

/// A frame handed to an element's resampler: planar R'G'B' converted on the host, or
/// 4:2:0 planes that the colour graphs convert where the graphs run.
#[derive(Clone, Debug)]
pub enum FrameIn {
    Rgb(RgbFrame),
    Yuv(color::Yuv420, color::Colorimetry),
}

/// A rendered frame: planar R'G'B' for the host to convert, or 4:2:0 planes already
/// converted by the colour graphs.
#[derive(Clone, Debug)]
pub enum FrameOut {
    Rgb(RgbFrame),
    Yuv(color::Yuv420),
}
