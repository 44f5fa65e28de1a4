//! Lattice noise for tests: a non-periodic texture defined at every integer pixel, so a
//! moved copy of a scene is exact. Shared by the motion unit tests and the element tests
//! (tests/trained_models.rs includes this file by path).

/// Hash of a lattice point to [0, 1).
pub fn hash(y: i64, x: i64) -> f32 {
    let mut v = (y.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64) ^ x.wrapping_mul(0xC2B2_AE3D_27D4_EB4F_u64 as i64)) as u64;
    v ^= v >> 31;
    v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    v ^= v >> 29;
    (v >> 40) as f32 / (1u64 << 24) as f32
}

/// Bilinearly interpolated lattice noise with cells `cell` px wide, in [0, 1).
pub fn value_noise(y: i64, x: i64, cell: i64) -> f32 {
    let (cy, cx) = (y.div_euclid(cell), x.div_euclid(cell));
    let (fy, fx) = (y.rem_euclid(cell) as f32 / cell as f32, x.rem_euclid(cell) as f32 / cell as f32);
    let top = hash(cy, cx) * (1.0 - fx) + hash(cy, cx + 1) * fx;
    let bottom = hash(cy + 1, cx) * (1.0 - fx) + hash(cy + 1, cx + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}
