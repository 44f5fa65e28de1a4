//! Timing of imsmup's host-side motion work at the 1080p target's received size
//! (960x540): the luma pyramid, the global search, the local field (per received frame)
//! and the per-pixel index maps (per output frame). Plain std::time, no harness.
//!
//! `cargo bench --bench motion [ITERS]` (release profile). Prints min / median per call.
//! Why it exists: on the H100 (2026-11-24) imsmup with the trained graphs gave 13.1
//! output frames/s at 960x540@30 -> 1920x1080@60 with local motion on, 41.1 with it off:
//! this host work, not the GPU, bounded it.

use std::hint::black_box;
use std::time::Duration;

use gstimsm::engine::motion::{global_shift, index_maps, local_field, LumaPyramid};

mod timing;
use timing::{ms, time};

/// Smooth random texture (value noise on a 16-pixel lattice plus fine noise), the scene
/// moved by (oy, ox); a 200x120 block moved by (by, bx) more, as a nearer object.
fn scene(w: usize, h: usize, (oy, ox): (i64, i64), (by, bx): (i64, i64)) -> Vec<u8> {
    let hash = |y: i64, x: i64| {
        let mut s = (y as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        s ^= s >> 29;
        s = s.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        s ^= s >> 32;
        (s & 0xffff) as f32 / 65535.0
    };
    let noise = |y: i64, x: i64| {
        let (cy, cx) = (y.div_euclid(16), x.div_euclid(16));
        let (fy, fx) = (y.rem_euclid(16) as f32 / 16.0, x.rem_euclid(16) as f32 / 16.0);
        let a = hash(cy, cx) * (1.0 - fx) + hash(cy, cx + 1) * fx;
        let b = hash(cy + 1, cx) * (1.0 - fx) + hash(cy + 1, cx + 1) * fx;
        0.8 * (a * (1.0 - fy) + b * fy) + 0.2 * hash(y, x)
    };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let inside = (300..500).contains(&(x - bx)) && (200..320).contains(&(y - by));
            let v = if inside { noise(y - oy - by + 7777, x - ox - bx) } else { noise(y - oy, x - ox) };
            out.push((v * 255.0) as u8);
        }
    }
    out
}

fn main() {
    let (w, h) = (960usize, 540usize);
    let iters = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(20usize);
    let prev = scene(w, h, (0, 0), (0, 0));
    let next = scene(w, h, (3, 7), (4, -9));
    let p = LumaPyramid::from_luma8(w, h, &prev);
    let n = LumaPyramid::from_luma8(w, h, &next);
    let g = global_shift(&p, &n);
    let field = local_field(&p, &n, g).expect("same-size frames give a field");
    println!("motion at {w}x{h}: global shift {g:?}; {iters} timed calls each (min / median)");
    let report = |name: &str, per: &str, (lo, med): (Duration, Duration)| {
        println!("  {name:<28} {:>8.2} / {:>8.2} ms  ({per})", ms(lo), ms(med));
    };
    report("LumaPyramid::from_luma8", "per received frame", time(1, iters, || {
        black_box(LumaPyramid::from_luma8(w, h, black_box(&next)));
    }));
    report("global_shift", "per received frame", time(1, iters, || {
        black_box(global_shift(black_box(&p), black_box(&n)));
    }));
    report("local_field", "per received frame", time(1, iters, || {
        black_box(local_field(black_box(&p), black_box(&n), g));
    }));
    report("index_maps (t = 0.5)", "per output frame", time(1, iters, || {
        black_box(index_maps(black_box(&field), 0.5, (w, h)));
    }));
}
