//! Timing of the colour conversions at 1080p (plain std::time, no harness).
//!
//! `cargo bench --bench color` (release profile). Prints min / median per call.

use std::hint::black_box;

use gstimsm::engine::color::{from_rgb, to_rgb, Colorimetry, FrameLayout, PixelFormat};
use gstimsm::engine::RgbFrame;

mod timing;
use timing::{ms, time};

fn main() {
    let (w, h) = (1920usize, 1080usize);
    let iters = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(50usize);
    for format in [PixelFormat::I420, PixelFormat::Nv12, PixelFormat::Rgbx, PixelFormat::Bgra, PixelFormat::Rgb] {
        let mut layout = FrameLayout::packed(format, w, h);
        // GStreamer-like 4-byte aligned strides (1080p is aligned already); add 64 bytes of
        // padding to exercise the strided path.
        for p in 0..format.n_planes() {
            layout.strides[p] += 64;
        }
        let c = if format.is_yuv() { Colorimetry::BT709 } else { Colorimetry::RGB };
        let sizes = layout.plane_sizes();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut planes: Vec<Vec<u8>> = (0..format.n_planes())
            .map(|p| {
                (0..sizes[p])
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed >> 32) as u8
                    })
                    .collect()
            })
            .collect();
        let mut rgb = RgbFrame::new(w, h);
        let (tmin, tmed) = time(3, iters, || {
            let refs: Vec<&[u8]> = planes.iter().map(|p| &p[..]).collect();
            to_rgb(&layout, c, &refs, black_box(&mut rgb)).unwrap();
        });
        println!("{format:?} {w}x{h} to_rgb:   min {:6.2} ms  median {:6.2} ms", ms(tmin), ms(tmed));
        let (tmin, tmed) = time(3, iters, || {
            let mut refs: Vec<&mut [u8]> = planes.iter_mut().map(|p| &mut p[..]).collect();
            from_rgb(black_box(&rgb), &layout, c, &mut refs).unwrap();
        });
        println!("{format:?} {w}x{h} from_rgb: min {:6.2} ms  median {:6.2} ms", ms(tmin), ms(tmed));
    }
}
