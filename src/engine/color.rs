//! Colour conversion between 8-bit video frames and the networks' planar float RGB.
//!
//! No GStreamer types here: the elements map `gst_video::VideoInfo` onto [`FrameLayout`]
//! and [`Colorimetry`] and hand over the plane slices.
//!
//! # Conventions
//!
//! * [`RgbFrame`] holds gamma-encoded R'G'B' (no linearisation), nominally `[0, 1]`.
//!   [`to_rgb`] clamps its output to `[0, 1]`; [`from_rgb`] clamps its input to `[0, 1]`
//!   and rounds to the nearest code value (exact ties to even).
//! * Y'CbCr: `Kr`/`Kb` per [`Matrix`] (BT.601 0.299/0.114, BT.709 0.2126/0.0722,
//!   BT.2020 0.2627/0.0593). [`Range::Limited`]: Y' 16..235, Cb/Cr 16..240 (scale 219 / 224);
//!   [`Range::Full`]: 0..255 with chroma centred at 128 (scale 255, as GStreamer does).
//! * Packed RGB formats are always full range with the identity matrix: whatever
//!   [`Colorimetry`] is passed with them is ignored. Alpha is dropped on input; alpha and
//!   padding (`x`) bytes are written as 255.
//! * 4:2:0 chroma siting is GStreamer's default "mpeg2" siting: chroma samples are
//!   **co-sited with the left luma column** horizontally and **centred between the two luma
//!   rows** vertically. [`to_rgb`] upsamples bilinearly under that siting (even luma columns
//!   take the chroma sample as is, odd columns the mean of the two neighbours; luma rows take
//!   3/4 of the nearest chroma row and 1/4 of the next nearest; edges are clamped).
//!   [`from_rgb`] computes Cb/Cr per pixel and averages each 2x2 block (only the pixels that
//!   exist at odd right/bottom edges).
//! * Bytes of a plane row beyond the visible width (stride padding) are never read and
//!   never written.

use super::RgbFrame;

/// 8-bit pixel formats the engine converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Planar Y, U, V; chroma 4:2:0.
    I420,
    /// Planar Y, interleaved UV; chroma 4:2:0.
    Nv12,
    /// Packed 24-bit R, G, B.
    Rgb,
    /// Packed R, G, B, A.
    Rgba,
    /// Packed B, G, R, A.
    Bgra,
    /// Packed R, G, B, padding.
    Rgbx,
    /// Packed B, G, R, padding.
    Bgrx,
}

/// Y'CbCr matrix (`Identity` for RGB formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
    Bt2020,
    Identity,
}

/// Quantisation range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Full,
    Limited,
}

/// Where the planes of one frame lie: per plane a stride in bytes (only the first
/// [`PixelFormat::n_planes`] used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLayout {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub strides: [usize; 3],
}

/// Matrix and range of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colorimetry {
    pub matrix: Matrix,
    pub range: Range,
}

impl Colorimetry {
    /// Full-range identity: what every packed RGB format uses.
    pub const RGB: Colorimetry = Colorimetry { matrix: Matrix::Identity, range: Range::Full };
    /// BT.709 limited range (HD video).
    pub const BT709: Colorimetry = Colorimetry { matrix: Matrix::Bt709, range: Range::Limited };
    /// BT.601 limited range (SD video).
    pub const BT601: Colorimetry = Colorimetry { matrix: Matrix::Bt601, range: Range::Limited };

    pub const fn new(matrix: Matrix, range: Range) -> Self {
        Self { matrix, range }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ColorError {
    #[error("{format:?} needs {expected} plane(s), got {got}")]
    PlaneCount { format: PixelFormat, expected: usize, got: usize },
    #[error(
        "{format:?} plane {plane}: stride {stride} bytes is smaller than a row of {row_bytes} bytes (width {width})"
    )]
    StrideTooSmall { format: PixelFormat, plane: usize, stride: usize, row_bytes: usize, width: usize },
    #[error("{format:?} plane {plane}: {len} bytes is too small for {rows} rows of stride {stride} (need at least {needed})")]
    PlaneTooSmall { format: PixelFormat, plane: usize, len: usize, rows: usize, stride: usize, needed: usize },
    #[error("RGB frame is {frame_width}x{frame_height} but the video layout is {layout_width}x{layout_height}")]
    SizeMismatch { frame_width: usize, frame_height: usize, layout_width: usize, layout_height: usize },
    #[error("RGB frame {width}x{height} holds {got} values, expected 3*{width}*{height} = {expected}")]
    DataLength { width: usize, height: usize, expected: usize, got: usize },
    #[error("matrix {matrix:?} cannot be used with Y'CbCr format {format:?}")]
    UnsupportedMatrix { format: PixelFormat, matrix: Matrix },
    #[error("{format:?} is not a 4:2:0 Y'CbCr format")]
    NotYuv420 { format: PixelFormat },
    #[error("frame size {width}x{height} overflows")]
    TooLarge { width: usize, height: usize },
}

impl PixelFormat {
    /// Number of planes (I420: 3, NV12: 2, packed RGB: 1).
    pub fn n_planes(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }

    pub fn is_yuv(self) -> bool {
        matches!(self, PixelFormat::I420 | PixelFormat::Nv12)
    }

    /// Bytes per pixel of a packed RGB format; `None` for the planar Y'CbCr formats.
    pub fn bytes_per_pixel(self) -> Option<usize> {
        match self {
            PixelFormat::I420 | PixelFormat::Nv12 => None,
            PixelFormat::Rgb => Some(3),
            _ => Some(4),
        }
    }

    /// Per plane: (minimal row bytes, rows), `None` on overflow. Unused planes are (0, 0).
    fn plane_dims(self, width: usize, height: usize) -> Option<[(usize, usize); 3]> {
        let cw = width.div_ceil(2);
        let ch = height.div_ceil(2);
        Some(match self {
            PixelFormat::I420 => [(width, height), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => [(width, height), (cw.checked_mul(2)?, ch), (0, 0)],
            PixelFormat::Rgb => [(width.checked_mul(3)?, height), (0, 0), (0, 0)],
            _ => [(width.checked_mul(4)?, height), (0, 0), (0, 0)],
        })
    }
}

impl FrameLayout {
    /// Tightly packed layout (strides = minimal row sizes; chroma of I420 is
    /// ceil(w/2) x ceil(h/2); NV12 UV plane is 2*ceil(w/2) bytes a row).
    pub fn packed(format: PixelFormat, width: usize, height: usize) -> Self {
        let mut strides = [0; 3];
        let dims = format.plane_dims(width, height).unwrap_or([(usize::MAX, 0); 3]);
        for p in 0..format.n_planes() {
            strides[p] = dims[p].0;
        }
        Self { format, width, height, strides }
    }

    /// Minimal bytes of one row of each plane (0 for unused planes; saturating).
    pub fn row_bytes(&self) -> [usize; 3] {
        let dims = self.format.plane_dims(self.width, self.height).unwrap_or([(usize::MAX, 0); 3]);
        [dims[0].0, dims[1].0, dims[2].0]
    }

    /// Number of rows of each plane (0 for unused planes).
    pub fn plane_rows(&self) -> [usize; 3] {
        let dims = self.format.plane_dims(self.width, self.height).unwrap_or([(0, 0); 3]);
        [dims[0].1, dims[1].1, dims[2].1]
    }

    /// Bytes each plane needs with these strides (rows * stride), for allocating/validating
    /// (0 for unused planes; saturating on overflow).
    pub fn plane_sizes(&self) -> [usize; 3] {
        let rows = self.plane_rows();
        let mut sizes = [0; 3];
        for p in 0..self.format.n_planes() {
            sizes[p] = rows[p].saturating_mul(self.strides[p]);
        }
        sizes
    }

    /// Checks the strides and the plane lengths. A plane is accepted when it holds
    /// `(rows - 1) * stride + row_bytes` bytes, i.e. the last row's padding may be missing
    /// (`plane_sizes()` is what to allocate).
    pub fn validate(&self, plane_lens: &[usize]) -> Result<(), ColorError> {
        let format = self.format;
        let n = format.n_planes();
        if plane_lens.len() != n {
            return Err(ColorError::PlaneCount { format, expected: n, got: plane_lens.len() });
        }
        let dims = format
            .plane_dims(self.width, self.height)
            .ok_or(ColorError::TooLarge { width: self.width, height: self.height })?;
        for (p, &len) in plane_lens.iter().enumerate() {
            let (row_bytes, rows) = dims[p];
            let stride = self.strides[p];
            if stride < row_bytes {
                return Err(ColorError::StrideTooSmall { format, plane: p, stride, row_bytes, width: self.width });
            }
            let needed = if rows == 0 || row_bytes == 0 {
                0
            } else {
                (rows - 1)
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(row_bytes))
                    .ok_or(ColorError::TooLarge { width: self.width, height: self.height })?
            };
            if len < needed {
                return Err(ColorError::PlaneTooSmall { format, plane: p, len, rows, stride, needed });
            }
        }
        Ok(())
    }
}

fn check_rgb_frame(rgb: &RgbFrame, layout: &FrameLayout) -> Result<(), ColorError> {
    if rgb.width != layout.width || rgb.height != layout.height {
        return Err(ColorError::SizeMismatch {
            frame_width: rgb.width,
            frame_height: rgb.height,
            layout_width: layout.width,
            layout_height: layout.height,
        });
    }
    let expected = layout
        .width
        .checked_mul(layout.height)
        .and_then(|v| v.checked_mul(3))
        .ok_or(ColorError::TooLarge { width: layout.width, height: layout.height })?;
    if rgb.data.len() != expected {
        return Err(ColorError::DataLength { width: rgb.width, height: rgb.height, expected, got: rgb.data.len() });
    }
    Ok(())
}

/// Kr, Kb of a Y'CbCr matrix.
fn kr_kb(format: PixelFormat, matrix: Matrix) -> Result<(f64, f64), ColorError> {
    match matrix {
        Matrix::Bt601 => Ok((0.299, 0.114)),
        Matrix::Bt709 => Ok((0.2126, 0.0722)),
        Matrix::Bt2020 => Ok((0.2627, 0.0593)),
        Matrix::Identity => Err(ColorError::UnsupportedMatrix { format, matrix }),
    }
}

/// (Y offset, Y scale, chroma scale) in code values.
fn range_params(range: Range) -> (f64, f64, f64) {
    match range {
        Range::Limited => (16.0, 219.0, 224.0),
        Range::Full => (0.0, 255.0, 255.0),
    }
}

/// Y'CbCr code values -> R'G'B' in [0,1]. Chroma inputs are already centred (code - 128).
/// `r = Y*ky + y0 + rv*V`, `g = Y*ky + y0 + gu*U + gv*V`, `b = Y*ky + y0 + bu*U`.
#[derive(Clone, Copy, Debug)]
struct Decode {
    ky: f32,
    y0: f32,
    rv: f32,
    gu: f32,
    gv: f32,
    bu: f32,
}

impl Decode {
    fn new(format: PixelFormat, c: Colorimetry) -> Result<Self, ColorError> {
        let (kr, kb) = kr_kb(format, c.matrix)?;
        let kg = 1.0 - kr - kb;
        let (yo, ys, cs) = range_params(c.range);
        Ok(Self {
            ky: (1.0 / ys) as f32,
            y0: (-yo / ys) as f32,
            rv: (2.0 * (1.0 - kr) / cs) as f32,
            gu: (-2.0 * kb * (1.0 - kb) / kg / cs) as f32,
            gv: (-2.0 * kr * (1.0 - kr) / kg / cs) as f32,
            bu: (2.0 * (1.0 - kb) / cs) as f32,
        })
    }
}

/// R'G'B' in [0,1] -> code values (unrounded; `u`/`v` include the 128 offset).
#[derive(Clone, Copy, Debug)]
struct Encode {
    yr: f32,
    yg: f32,
    yb: f32,
    y0: f32,
    ur: f32,
    ug: f32,
    ub: f32,
    vr: f32,
    vg: f32,
    vb: f32,
}

impl Encode {
    fn new(format: PixelFormat, c: Colorimetry) -> Result<Self, ColorError> {
        let (kr, kb) = kr_kb(format, c.matrix)?;
        let kg = 1.0 - kr - kb;
        let (yo, ys, cs) = range_params(c.range);
        let su = cs / (2.0 * (1.0 - kb));
        let sv = cs / (2.0 * (1.0 - kr));
        Ok(Self {
            yr: (ys * kr) as f32,
            yg: (ys * kg) as f32,
            yb: (ys * kb) as f32,
            y0: yo as f32,
            ur: (-su * kr) as f32,
            ug: (-su * kg) as f32,
            ub: (su * (1.0 - kb)) as f32,
            vr: (sv * (1.0 - kr)) as f32,
            vg: (-sv * kg) as f32,
            vb: (-sv * kb) as f32,
        })
    }
}

/// Splits planar RGB data into its three planes.
fn split3(data: &[f32], n: usize) -> (&[f32], &[f32], &[f32]) {
    let (r, rest) = data.split_at(n);
    let (g, b) = rest.split_at(n);
    (r, g, b)
}

fn split3_mut(data: &mut [f32], n: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (r, rest) = data.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    (r, g, b)
}

/// Rows of a plane: `rows` slices of `row_bytes` each, `stride` apart.
fn rows_of(plane: &[u8], stride: usize, row_bytes: usize, rows: usize) -> impl Iterator<Item = &[u8]> {
    plane.chunks(stride).take(rows).map(move |r| &r[..row_bytes])
}

fn rows_of_mut(plane: &mut [u8], stride: usize, row_bytes: usize, rows: usize) -> impl Iterator<Item = &mut [u8]> {
    plane.chunks_mut(stride).take(rows).map(move |r| &mut r[..row_bytes])
}

#[inline(always)]
#[allow(clippy::manual_clamp)] // f32::clamp keeps NaN; this maps it to 0.
fn clamp01(x: f32) -> f32 {
    // `max` first so NaN becomes 0.
    x.max(0.0).min(1.0)
}

/// Rounds a code value to the nearest u8 (ties to even), saturating; NaN gives 0.
#[inline(always)]
#[allow(clippy::manual_clamp)]
fn to_u8(x: f32) -> u8 {
    // Adding 2^23 to a value in [0, 255] leaves round(x) in the low mantissa bits. A plain
    // bit cast vectorises, where the saturating `f32 as u8` cast compiles to scalar code.
    let x = x.max(0.0).min(255.0);
    (x + 8_388_608.0).to_bits() as u8
}

/// Converts one frame into `out` (which must already be `layout.width x layout.height`;
/// resize not done here).
///
/// `planes` must hold exactly `layout.format.n_planes()` slices, plane `p` at least
/// `(rows - 1) * strides[p] + row_bytes` bytes. `colorimetry` is ignored for packed RGB
/// formats; a Y'CbCr format with [`Matrix::Identity`] is an error.
pub fn to_rgb(
    layout: &FrameLayout,
    colorimetry: Colorimetry,
    planes: &[&[u8]],
    out: &mut RgbFrame,
) -> Result<(), ColorError> {
    check_rgb_frame(out, layout)?;
    check_planes(layout, planes.iter().map(|p| p.len()))?;
    let decode = if layout.format.is_yuv() { Some(Decode::new(layout.format, colorimetry)?) } else { None };
    let (w, h) = (layout.width, layout.height);
    if w == 0 || h == 0 {
        return Ok(());
    }
    if let Some(d) = decode {
        yuv420_to_rgb(layout, d, planes, out);
        return Ok(());
    }
    let s = layout.strides;
    match layout.format {
        PixelFormat::I420 | PixelFormat::Nv12 => {}
        PixelFormat::Rgb => packed_to_rgb::<3, 0, 1, 2>(planes[0], s[0], w, h, out),
        PixelFormat::Rgba | PixelFormat::Rgbx => packed_to_rgb::<4, 0, 1, 2>(planes[0], s[0], w, h, out),
        PixelFormat::Bgra | PixelFormat::Bgrx => packed_to_rgb::<4, 2, 1, 0>(planes[0], s[0], w, h, out),
    }
    Ok(())
}

/// Checks the plane count and each plane's length against the layout.
fn check_planes(layout: &FrameLayout, plane_lens: impl ExactSizeIterator<Item = usize>) -> Result<(), ColorError> {
    let got = plane_lens.len();
    if got != layout.format.n_planes() {
        return Err(ColorError::PlaneCount { format: layout.format, expected: layout.format.n_planes(), got });
    }
    let mut lens = [0usize; 3];
    for (l, p) in lens.iter_mut().zip(plane_lens) {
        *l = p;
    }
    layout.validate(&lens[..got])
}

/// Converts `rgb` (same size as `layout`) back into the planes; values are clamped to
/// `[0, 1]` and rounded to nearest. Padding bytes beyond each row's visible width are left
/// untouched; alpha / x bytes are written as 255.
pub fn from_rgb(
    rgb: &RgbFrame,
    layout: &FrameLayout,
    colorimetry: Colorimetry,
    planes: &mut [&mut [u8]],
) -> Result<(), ColorError> {
    check_rgb_frame(rgb, layout)?;
    check_planes(layout, planes.iter().map(|p| p.len()))?;
    let encode = if layout.format.is_yuv() { Some(Encode::new(layout.format, colorimetry)?) } else { None };
    let (w, h) = (layout.width, layout.height);
    if w == 0 || h == 0 {
        return Ok(());
    }
    if let Some(e) = encode {
        rgb_to_yuv420(rgb, layout, e, planes);
        return Ok(());
    }
    let s = layout.strides;
    match layout.format {
        PixelFormat::I420 | PixelFormat::Nv12 => {}
        PixelFormat::Rgb => rgb_to_packed::<3, 0, 1, 2>(rgb, &mut planes[0][..], s[0], w, h),
        PixelFormat::Rgba | PixelFormat::Rgbx => rgb_to_packed::<4, 0, 1, 2>(rgb, &mut planes[0][..], s[0], w, h),
        PixelFormat::Bgra | PixelFormat::Bgrx => rgb_to_packed::<4, 2, 1, 0>(rgb, &mut planes[0][..], s[0], w, h),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Packed RGB

fn packed_to_rgb<const BPP: usize, const RI: usize, const GI: usize, const BI: usize>(
    plane: &[u8],
    stride: usize,
    w: usize,
    h: usize,
    out: &mut RgbFrame,
) {
    const INV: f32 = 1.0 / 255.0;
    let (ro, go, bo) = split3_mut(&mut out.data, w * h);
    let out_rows = ro.chunks_exact_mut(w).zip(go.chunks_exact_mut(w)).zip(bo.chunks_exact_mut(w));
    for (row, ((r, g), b)) in rows_of(plane, stride, w * BPP, h).zip(out_rows) {
        for (((px, r), g), b) in row.chunks_exact(BPP).zip(r.iter_mut()).zip(g.iter_mut()).zip(b.iter_mut()) {
            *r = px[RI] as f32 * INV;
            *g = px[GI] as f32 * INV;
            *b = px[BI] as f32 * INV;
        }
    }
}

fn rgb_to_packed<const BPP: usize, const RI: usize, const GI: usize, const BI: usize>(
    rgb: &RgbFrame,
    plane: &mut [u8],
    stride: usize,
    w: usize,
    h: usize,
) {
    // Quantise a block of each channel (vectorises), then interleave the bytes.
    const BLK: usize = 64;
    let mut q = [[0u8; BLK]; 3];
    let (ri, gi, bi) = split3(&rgb.data, w * h);
    let in_rows = ri.chunks_exact(w).zip(gi.chunks_exact(w)).zip(bi.chunks_exact(w));
    for (row, ((r, g), b)) in rows_of_mut(plane, stride, w * BPP, h).zip(in_rows) {
        let blocks = row.chunks_mut(BLK * BPP).zip(r.chunks(BLK)).zip(g.chunks(BLK)).zip(b.chunks(BLK));
        for (((out, r), g), b) in blocks {
            let n = r.len();
            for (qc, src) in q.iter_mut().zip([r, g, b]) {
                for (o, &v) in qc[..n].iter_mut().zip(src) {
                    *o = to_u8(clamp01(v) * 255.0);
                }
            }
            let (qr, qg, qb) = (&q[0][..n], &q[1][..n], &q[2][..n]);
            for (((px, &r), &g), &b) in out.chunks_exact_mut(BPP).zip(qr).zip(qg).zip(qb) {
                let mut p = [255u8; BPP];
                p[RI] = r;
                p[GI] = g;
                p[BI] = b;
                px.copy_from_slice(&p);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4:2:0 Y'CbCr

/// Mixes two chroma rows 3:1 into centred floats (code - 128).
fn vblend(near: &[u8], far: &[u8], out: &mut [f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(near).zip(far) {
        *o = 0.75 * a as f32 + 0.25 * b as f32 - 128.0;
    }
}

/// Same for interleaved UV rows, de-interleaving into `ou` / `ov`.
fn vblend_nv12(near: &[u8], far: &[u8], ou: &mut [f32], ov: &mut [f32]) {
    for (((a, b), u), v) in near.chunks_exact(2).zip(far.chunks_exact(2)).zip(ou.iter_mut()).zip(ov.iter_mut()) {
        *u = 0.75 * a[0] as f32 + 0.25 * b[0] as f32 - 128.0;
        *v = 0.75 * a[1] as f32 + 0.25 * b[1] as f32 - 128.0;
    }
}

/// Horizontal upsampling of one chroma row (`c`, `ceil(w/2)` samples) to `out` (`w`
/// samples), left-cosited: even columns copy, odd columns average the neighbours.
fn hup(c: &[f32], out: &mut [f32]) {
    let cw = c.len();
    let full = cw - 1; // pairs that have a right neighbour
    for (o, win) in out.chunks_exact_mut(2).zip(c.windows(2)) {
        o[0] = win[0];
        o[1] = 0.5 * (win[0] + win[1]);
    }
    let last = c[cw - 1];
    for o in &mut out[2 * full..] {
        *o = last;
    }
}

fn yuv_row_to_rgb(y: &[u8], u: &[f32], v: &[f32], r: &mut [f32], g: &mut [f32], b: &mut [f32], d: Decode) {
    let it = y.iter().zip(u).zip(v).zip(r.iter_mut()).zip(g.iter_mut()).zip(b.iter_mut());
    for (((((&y, &u), &v), r), g), b) in it {
        let yy = y as f32 * d.ky + d.y0;
        *r = clamp01(yy + d.rv * v);
        *g = clamp01(yy + d.gu * u + d.gv * v);
        *b = clamp01(yy + d.bu * u);
    }
}

fn yuv420_to_rgb(layout: &FrameLayout, d: Decode, planes: &[&[u8]], out: &mut RgbFrame) {
    let (w, h) = (layout.width, layout.height);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let s = layout.strides;
    let nv12 = layout.format == PixelFormat::Nv12;
    let crow_bytes = if nv12 { 2 * cw } else { cw };

    // Chroma row `k` (k < ch, so validated to lie inside the plane).
    fn crow(plane: &[u8], stride: usize, k: usize, len: usize) -> &[u8] {
        let start = k * stride;
        &plane[start..start + len]
    }

    let mut cu = vec![0f32; cw];
    let mut cv = vec![0f32; cw];
    let mut fu = vec![0f32; w];
    let mut fv = vec![0f32; w];

    let (ro, go, bo) = split3_mut(&mut out.data, w * h);
    let out_rows = ro.chunks_exact_mut(w).zip(go.chunks_exact_mut(w)).zip(bo.chunks_exact_mut(w));
    for (yi, (yrow, ((r, g), b))) in rows_of(planes[0], s[0], w, h).zip(out_rows).enumerate() {
        // Chroma row centred between luma rows 2k and 2k+1: even rows lean on k-1, odd on k+1.
        let k = yi / 2;
        let far = if yi % 2 == 0 { k.saturating_sub(1) } else { (k + 1).min(ch - 1) };
        if nv12 {
            vblend_nv12(crow(planes[1], s[1], k, crow_bytes), crow(planes[1], s[1], far, crow_bytes), &mut cu, &mut cv);
        } else {
            vblend(crow(planes[1], s[1], k, crow_bytes), crow(planes[1], s[1], far, crow_bytes), &mut cu);
            vblend(crow(planes[2], s[2], k, crow_bytes), crow(planes[2], s[2], far, crow_bytes), &mut cv);
        }
        hup(&cu, &mut fu);
        hup(&cv, &mut fv);
        yuv_row_to_rgb(yrow, &fu, &fv, r, g, b, d);
    }
}

/// One row of R'G'B' -> Y' bytes plus per-pixel Cb/Cr (with the 128 offset) into `pu`/`pv`.
fn rgb_row_to_yuv(r: &[f32], g: &[f32], b: &[f32], y: &mut [u8], pu: &mut [f32], pv: &mut [f32], e: Encode) {
    let it = r.iter().zip(g).zip(b).zip(y.iter_mut()).zip(pu.iter_mut()).zip(pv.iter_mut());
    for (((((&r, &g), &b), y), u), v) in it {
        let (r, g, b) = (clamp01(r), clamp01(g), clamp01(b));
        *y = to_u8(e.yr * r + e.yg * g + e.yb * b + e.y0);
        *u = e.ur * r + e.ug * g + e.ub * b + 128.0;
        *v = e.vr * r + e.vg * g + e.vb * b + 128.0;
    }
}

/// Sums horizontal pairs of `p` into `acc` (set when `first`, else add). An odd tail
/// contributes its single sample.
fn pair_sum(p: &[f32], acc: &mut [f32], first: bool) {
    let pairs = p.chunks_exact(2);
    let tail = pairs.remainder();
    let n = p.len() / 2;
    if first {
        for (a, q) in acc.iter_mut().zip(pairs) {
            *a = q[0] + q[1];
        }
        if let (Some(&t), Some(a)) = (tail.first(), acc.get_mut(n)) {
            *a = t;
        }
    } else {
        for (a, q) in acc.iter_mut().zip(pairs) {
            *a += q[0] + q[1];
        }
        if let (Some(&t), Some(a)) = (tail.first(), acc.get_mut(n)) {
            *a += t;
        }
    }
}

fn rgb_to_yuv420(rgb: &RgbFrame, layout: &FrameLayout, e: Encode, planes: &mut [&mut [u8]]) {
    let (w, h) = (layout.width, layout.height);
    let cw = w.div_ceil(2);
    let s = layout.strides;
    let nv12 = layout.format == PixelFormat::Nv12;

    let mut pu = vec![0f32; w];
    let mut pv = vec![0f32; w];
    let mut au = vec![0f32; cw];
    let mut av = vec![0f32; cw];
    // Odd width: the last chroma column averages a single luma column.
    let odd_w = w % 2 == 1;

    let (ri, gi, bi) = split3(&rgb.data, w * h);
    let (yplane, rest) = planes.split_at_mut(1);
    let yplane: &mut [u8] = &mut yplane[0][..];
    let mut yrows = rows_of_mut(yplane, s[0], w, h);
    let mut rrows = ri.chunks_exact(w).zip(gi.chunks_exact(w)).zip(bi.chunks_exact(w));

    let mut k = 0usize;
    loop {
        let mut nrows = 0usize;
        for first in [true, false] {
            let (Some(yrow), Some(((r, g), b))) = (yrows.next(), rrows.next()) else { break };
            rgb_row_to_yuv(r, g, b, yrow, &mut pu, &mut pv, e);
            pair_sum(&pu, &mut au, first);
            pair_sum(&pv, &mut av, first);
            nrows += 1;
        }
        if nrows == 0 {
            break;
        }
        let inv2 = 1.0 / (2 * nrows) as f32;
        let inv1 = 1.0 / nrows as f32;
        let (full_cols, tail_inv) = if odd_w { (cw - 1, Some(inv1)) } else { (cw, None) };
        if nv12 {
            let start = k * s[1];
            let row = &mut rest[0][start..start + 2 * cw];
            for ((o, &u), &v) in row.chunks_exact_mut(2).zip(&au[..full_cols]).zip(&av[..full_cols]) {
                o[0] = to_u8(u * inv2);
                o[1] = to_u8(v * inv2);
            }
            if let Some(inv) = tail_inv {
                row[2 * cw - 2] = to_u8(au[cw - 1] * inv);
                row[2 * cw - 1] = to_u8(av[cw - 1] * inv);
            }
        } else {
            let (up, vp) = rest.split_at_mut(1);
            for (plane, acc, stride) in [(&mut up[0], &au, s[1]), (&mut vp[0], &av, s[2])] {
                let start = k * stride;
                let row = &mut plane[start..start + cw];
                for (o, &a) in row[..full_cols].iter_mut().zip(&acc[..full_cols]) {
                    *o = to_u8(a * inv2);
                }
                if let Some(inv) = tail_inv {
                    row[cw - 1] = to_u8(acc[cw - 1] * inv);
                }
            }
        }
        k += 1;
    }
}

// ---------------------------------------------------------------------------------------
// 4:2:0 planes for the colour graphs (conversion by ONNX Runtime on the graphs' device)

/// A 4:2:0 frame with tightly packed planes: Y `width * height`, U and V
/// `ceil(width/2) * ceil(height/2)` each. What the colour graphs take and give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Yuv420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv420 {
    pub fn new(width: usize, height: usize) -> Self {
        let c = width.div_ceil(2) * height.div_ceil(2);
        Self { width, height, y: vec![0; width * height], u: vec![0; c], v: vec![0; c] }
    }

    pub fn chroma_size(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }
}

/// `[ky, y0, rv, gu, gv, bu]` of a Y'CbCr colorimetry: the `coeffs` input of
/// yuv420_to_rgb.onnx, the same numbers [`to_rgb`] uses.
pub fn decode_coefficients(c: Colorimetry) -> Result<[f32; 6], ColorError> {
    let d = Decode::new(PixelFormat::I420, c)?;
    Ok([d.ky, d.y0, d.rv, d.gu, d.gv, d.bu])
}

/// `[yr, yg, yb, y0, ur, ug, ub, vr, vg, vb]`: the `coeffs` input of rgb_to_yuv420.onnx,
/// the same numbers [`from_rgb`] uses.
pub fn encode_coefficients(c: Colorimetry) -> Result<[f32; 10], ColorError> {
    let e = Encode::new(PixelFormat::I420, c)?;
    Ok([e.yr, e.yg, e.yb, e.y0, e.ur, e.ug, e.ub, e.vr, e.vg, e.vb])
}

/// Copies an I420 or NV12 frame (any strides) into tight planes, de-interleaving NV12.
pub fn pack_yuv420(layout: &FrameLayout, planes: &[&[u8]], out: &mut Yuv420) -> Result<(), ColorError> {
    if !layout.format.is_yuv() {
        return Err(ColorError::NotYuv420 { format: layout.format });
    }
    check_planes(layout, planes.iter().map(|p| p.len()))?;
    let (w, h) = (layout.width, layout.height);
    if w == 0 || h == 0 {
        *out = Yuv420::new(w, h);
        return Ok(());
    }
    if out.width != w || out.height != h {
        *out = Yuv420::new(w, h);
    }
    let (cw, ch) = out.chroma_size();
    let s = layout.strides;
    for (dst, src) in out.y.chunks_exact_mut(w.max(1)).zip(rows_of(planes[0], s[0], w, h)) {
        dst.copy_from_slice(src);
    }
    if layout.format == PixelFormat::Nv12 {
        let rows = out.u.chunks_exact_mut(cw.max(1)).zip(out.v.chunks_exact_mut(cw.max(1)));
        for ((u, v), src) in rows.zip(rows_of(planes[1], s[1], 2 * cw, ch)) {
            for ((u, v), uv) in u.iter_mut().zip(v.iter_mut()).zip(src.chunks_exact(2)) {
                *u = uv[0];
                *v = uv[1];
            }
        }
    } else {
        for (dst, src) in out.u.chunks_exact_mut(cw.max(1)).zip(rows_of(planes[1], s[1], cw, ch)) {
            dst.copy_from_slice(src);
        }
        for (dst, src) in out.v.chunks_exact_mut(cw.max(1)).zip(rows_of(planes[2], s[2], cw, ch)) {
            dst.copy_from_slice(src);
        }
    }
    Ok(())
}

/// Writes tight 4:2:0 planes into an I420 or NV12 frame (any strides), interleaving NV12.
pub fn unpack_yuv420(frame: &Yuv420, layout: &FrameLayout, planes: &mut [&mut [u8]]) -> Result<(), ColorError> {
    if !layout.format.is_yuv() {
        return Err(ColorError::NotYuv420 { format: layout.format });
    }
    check_planes(layout, planes.iter().map(|p| p.len()))?;
    let (w, h) = (layout.width, layout.height);
    if frame.width != w || frame.height != h {
        return Err(ColorError::SizeMismatch { frame_width: frame.width, frame_height: frame.height, layout_width: w, layout_height: h });
    }
    if w == 0 || h == 0 {
        return Ok(());
    }
    let (cw, ch) = frame.chroma_size();
    let s = layout.strides;
    for (dst, src) in rows_of_mut(&mut planes[0][..], s[0], w, h).zip(frame.y.chunks_exact(w.max(1))) {
        dst.copy_from_slice(src);
    }
    if layout.format == PixelFormat::Nv12 {
        let rows = frame.u.chunks_exact(cw.max(1)).zip(frame.v.chunks_exact(cw.max(1)));
        for (dst, (u, v)) in rows_of_mut(&mut planes[1][..], s[1], 2 * cw, ch).zip(rows) {
            for ((uv, &u), &v) in dst.chunks_exact_mut(2).zip(u).zip(v) {
                uv[0] = u;
                uv[1] = v;
            }
        }
    } else {
        let (up, vp) = planes[1..].split_at_mut(1);
        for (dst, src) in rows_of_mut(&mut up[0][..], s[1], cw, ch).zip(frame.u.chunks_exact(cw.max(1))) {
            dst.copy_from_slice(src);
        }
        for (dst, src) in rows_of_mut(&mut vp[0][..], s[2], cw, ch).zip(frame.v.chunks_exact(cw.max(1))) {
            dst.copy_from_slice(src);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PixelFormat; 7] = [
        PixelFormat::I420,
        PixelFormat::Nv12,
        PixelFormat::Rgb,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Rgbx,
        PixelFormat::Bgrx,
    ];
    const SIZES: [(usize, usize); 7] = [(1, 1), (2, 2), (3, 3), (4, 2), (17, 9), (16, 8), (641, 359)];
    const PAD: u8 = 0xA5;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 24) as u8
        }
    }

    /// Layout with padded strides (an odd amount of padding per plane).
    fn padded(format: PixelFormat, w: usize, h: usize) -> FrameLayout {
        let mut l = FrameLayout::packed(format, w, h);
        for p in 0..format.n_planes() {
            l.strides[p] += 5 + 2 * p;
        }
        l
    }

    fn alloc(layout: &FrameLayout) -> Vec<Vec<u8>> {
        let sizes = layout.plane_sizes();
        (0..layout.format.n_planes()).map(|p| vec![PAD; sizes[p]]).collect()
    }

    fn is_padding(layout: &FrameLayout, p: usize, i: usize) -> bool {
        i % layout.strides[p] >= layout.row_bytes()[p]
    }

    fn col(colorimetry: Colorimetry, format: PixelFormat) -> Colorimetry {
        if format.is_yuv() {
            colorimetry
        } else {
            Colorimetry::RGB
        }
    }

    fn conv_to_rgb(layout: &FrameLayout, c: Colorimetry, planes: &[Vec<u8>]) -> RgbFrame {
        let refs: Vec<&[u8]> = planes.iter().map(|p| &p[..]).collect();
        let mut out = RgbFrame::new(layout.width, layout.height);
        to_rgb(layout, c, &refs, &mut out).unwrap();
        out
    }

    fn conv_from_rgb(rgb: &RgbFrame, layout: &FrameLayout, c: Colorimetry) -> Vec<Vec<u8>> {
        let mut planes = alloc(layout);
        let mut refs: Vec<&mut [u8]> = planes.iter_mut().map(|p| &mut p[..]).collect();
        from_rgb(rgb, layout, c, &mut refs).unwrap();
        planes
    }

    fn smooth_rgb(w: usize, h: usize) -> RgbFrame {
        let mut f = RgbFrame::new(w, h);
        let n = w * h;
        for y in 0..h {
            for x in 0..w {
                // Smooth in absolute pixel terms (at most ~1/100 per pixel), whatever the size.
                let (fx, fy) = (x as f32, y as f32);
                let i = y * w + x;
                f.data[i] = 0.5 + 0.4 * (0.011 * fx + 0.004 * fy + 0.3).sin();
                f.data[n + i] = 0.5 + 0.35 * (0.007 * fx + 0.012 * fy + 1.0).sin();
                f.data[2 * n + i] = 0.5 + 0.4 * (0.003 * fx - 0.013 * fy + 2.0).sin();
            }
        }
        f
    }

    #[test]
    fn layouts() {
        let l = FrameLayout::packed(PixelFormat::I420, 641, 359);
        assert_eq!(l.strides, [641, 321, 321]);
        assert_eq!(l.plane_sizes(), [641 * 359, 321 * 180, 321 * 180]);
        let l = FrameLayout::packed(PixelFormat::Nv12, 3, 3);
        assert_eq!(l.strides, [3, 4, 0]);
        assert_eq!(l.plane_sizes(), [9, 8, 0]);
        let l = FrameLayout::packed(PixelFormat::Rgb, 5, 2);
        assert_eq!(l.strides, [15, 0, 0]);
        let l = FrameLayout::packed(PixelFormat::Bgrx, 5, 2);
        assert_eq!(l.plane_sizes(), [40, 0, 0]);
        for f in ALL {
            assert_eq!(f.is_yuv(), f.bytes_per_pixel().is_none());
        }
    }

    /// Bytes -> RGB -> bytes for packed RGB is exact (colour bytes), alpha/x become 255,
    /// padding is untouched in both directions.
    #[test]
    fn packed_roundtrip_exact() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for f in ALL.into_iter().filter(|f| !f.is_yuv()) {
            for (w, h) in SIZES {
                for layout in [FrameLayout::packed(f, w, h), padded(f, w, h)] {
                    let bpp = f.bytes_per_pixel().unwrap();
                    let mut src = alloc(&layout);
                    for b in src[0].iter_mut() {
                        *b = rng.byte();
                    }
                    // Garbage in the padding must not matter.
                    let rgb = conv_to_rgb(&layout, Colorimetry::RGB, &src);
                    // Limited/BT.709 passed with an RGB format is ignored.
                    let rgb2 = conv_to_rgb(&layout, Colorimetry::BT709, &src);
                    assert_eq!(rgb, rgb2);
                    let back = conv_from_rgb(&rgb, &layout, Colorimetry::RGB);
                    for (i, (&a, &b)) in src[0].iter().zip(&back[0]).enumerate() {
                        if is_padding(&layout, 0, i) {
                            assert_eq!(b, PAD, "{f:?} {w}x{h} padding at {i} written");
                        } else if bpp == 4 && (i % layout.strides[0]) % 4 == 3 {
                            assert_eq!(b, 255);
                        } else {
                            assert_eq!(a, b, "{f:?} {w}x{h} byte {i}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn packed_channel_order() {
        let mut rgb = RgbFrame::new(1, 1);
        rgb.data.copy_from_slice(&[1.0, 0.5, 0.0]);
        let expect: [(PixelFormat, &[u8]); 5] = [
            (PixelFormat::Rgb, &[255, 128, 0]),
            (PixelFormat::Rgba, &[255, 128, 0, 255]),
            (PixelFormat::Rgbx, &[255, 128, 0, 255]),
            (PixelFormat::Bgra, &[0, 128, 255, 255]),
            (PixelFormat::Bgrx, &[0, 128, 255, 255]),
        ];
        for (f, bytes) in expect {
            let layout = FrameLayout::packed(f, 1, 1);
            let out = conv_from_rgb(&rgb, &layout, Colorimetry::RGB);
            assert_eq!(&out[0][..], bytes, "{f:?}");
            let back = conv_to_rgb(&layout, Colorimetry::RGB, &out);
            assert_eq!(back.data, vec![1.0, 128.0 / 255.0, 0.0]);
        }
    }

    /// RGB -> YUV -> RGB on a smooth image, every YUV format/colorimetry, padded and
    /// packed strides, odd sizes.
    #[test]
    fn yuv_rgb_roundtrip_smooth() {
        let cols = [
            Colorimetry::BT709,
            Colorimetry::BT601,
            Colorimetry::new(Matrix::Bt2020, Range::Limited),
            Colorimetry::new(Matrix::Bt709, Range::Full),
            Colorimetry::new(Matrix::Bt601, Range::Full),
        ];
        for f in [PixelFormat::I420, PixelFormat::Nv12] {
            for (w, h) in SIZES {
                let rgb = smooth_rgb(w, h);
                for c in cols {
                    for layout in [FrameLayout::packed(f, w, h), padded(f, w, h)] {
                        let yuv = conv_from_rgb(&rgb, &layout, c);
                        for (p, plane) in yuv.iter().enumerate() {
                            for (i, &b) in plane.iter().enumerate() {
                                if is_padding(&layout, p, i) {
                                    assert_eq!(b, PAD, "{f:?} {w}x{h} plane {p} padding at {i}");
                                }
                            }
                        }
                        let back = conv_to_rgb(&layout, c, &yuv);
                        let n = rgb.data.len() as f32;
                        let mean: f32 = rgb.data.iter().zip(&back.data).map(|(a, b)| (a - b).abs()).sum::<f32>() / n;
                        let max = rgb.data.iter().zip(&back.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                        assert!(mean < 1.0 / 255.0, "{f:?} {w}x{h} {c:?}: mean error {}", mean * 255.0);
                        assert!(max < 5.0 / 255.0, "{f:?} {w}x{h} {c:?}: max error {}", max * 255.0);
                    }
                }
            }
        }
    }

    /// A flat colour survives RGB -> YUV -> RGB to within quantisation in every format.
    #[test]
    fn flat_colour_roundtrip() {
        for f in ALL {
            for (w, h) in SIZES {
                let mut rgb = RgbFrame::new(w, h);
                let n = w * h;
                for (c, v) in [0.8f32, 0.3, 0.55].into_iter().enumerate() {
                    rgb.data[c * n..(c + 1) * n].fill(v);
                }
                let layout = padded(f, w, h);
                let c = col(Colorimetry::BT709, f);
                let back = conv_to_rgb(&layout, c, &conv_from_rgb(&rgb, &layout, c));
                for (a, b) in rgb.data.iter().zip(&back.data) {
                    assert!((a - b).abs() < 1.5 / 255.0, "{f:?} {w}x{h}: {a} vs {b}");
                }
            }
        }
    }

    /// YUV -> RGB -> YUV on a smooth gradient: luma within 1 code value, chroma within 2.
    #[test]
    fn yuv_gradient_survives() {
        for f in [PixelFormat::I420, PixelFormat::Nv12] {
            for (w, h) in SIZES {
                for c in [Colorimetry::BT709, Colorimetry::new(Matrix::Bt601, Range::Full)] {
                    let layout = padded(f, w, h);
                    let mut src = alloc(&layout);
                    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                    for y in 0..h {
                        for x in 0..w {
                            let v = 128.0 + 70.0 * (0.013 * x as f32 + 0.009 * y as f32).sin();
                            src[0][y * layout.strides[0] + x] = v.round() as u8;
                        }
                    }
                    for y in 0..ch {
                        for x in 0..cw {
                            let (fx, fy) = (x as f32, y as f32);
                            let u = (128.0 + 12.0 * (0.05 * fx + 0.02 * fy).sin()).round() as u8;
                            let v = (128.0 + 12.0 * (0.03 * fx - 0.04 * fy + 0.5).sin()).round() as u8;
                            if f == PixelFormat::Nv12 {
                                src[1][y * layout.strides[1] + 2 * x] = u;
                                src[1][y * layout.strides[1] + 2 * x + 1] = v;
                            } else {
                                src[1][y * layout.strides[1] + x] = u;
                                src[2][y * layout.strides[2] + x] = v;
                            }
                        }
                    }
                    let rgb = conv_to_rgb(&layout, c, &src);
                    let back = conv_from_rgb(&rgb, &layout, c);
                    for (p, (a, b)) in src.iter().zip(&back).enumerate() {
                        let tol = if p == 0 { 1 } else { 2 };
                        for (i, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
                            if is_padding(&layout, p, i) {
                                assert_eq!(y, PAD);
                            } else {
                                assert!(
                                    (x as i32 - y as i32).abs() <= tol,
                                    "{f:?} {w}x{h} {c:?} plane {p} byte {i}: {x} vs {y}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Random YUV in both directions does not panic and the stride padding is ignored.
    #[test]
    fn yuv_padding_ignored() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for f in [PixelFormat::I420, PixelFormat::Nv12] {
            for (w, h) in SIZES {
                let tight = FrameLayout::packed(f, w, h);
                let pad = padded(f, w, h);
                let mut src_t = alloc(&tight);
                for p in src_t.iter_mut() {
                    for b in p.iter_mut() {
                        *b = rng.byte();
                    }
                }
                // Copy into the padded layout with random padding bytes.
                let mut src_p = alloc(&pad);
                for p in 0..f.n_planes() {
                    for b in src_p[p].iter_mut() {
                        *b = rng.byte();
                    }
                    let rb = tight.row_bytes()[p];
                    for r in 0..tight.plane_rows()[p] {
                        let (a, b) = (r * tight.strides[p], r * pad.strides[p]);
                        src_p[p][b..b + rb].copy_from_slice(&src_t[p][a..a + rb]);
                    }
                }
                let a = conv_to_rgb(&tight, Colorimetry::BT709, &src_t);
                let b = conv_to_rgb(&pad, Colorimetry::BT709, &src_p);
                assert_eq!(a, b, "{f:?} {w}x{h}");
                assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
            }
        }
    }

    #[test]
    fn known_values_709_limited() {
        let layout = FrameLayout::packed(PixelFormat::I420, 1, 1);
        let c = Colorimetry::BT709;
        let white = conv_to_rgb(&layout, c, &[vec![235], vec![128], vec![128]]);
        for v in &white.data {
            assert!((v - 1.0).abs() < 1e-6, "{v}");
        }
        let black = conv_to_rgb(&layout, c, &[vec![16], vec![128], vec![128]]);
        for v in &black.data {
            assert!(v.abs() < 1e-6, "{v}");
        }
        // Below black / above white clamps.
        let sub = conv_to_rgb(&layout, c, &[vec![0], vec![128], vec![128]]);
        assert!(sub.data.iter().all(|&v| v == 0.0));
        let sup = conv_to_rgb(&layout, c, &[vec![255], vec![128], vec![128]]);
        assert!(sup.data.iter().all(|&v| v == 1.0));

        // Pure red: textbook BT.709 limited (63, 102, 240).
        let mut red = RgbFrame::new(1, 1);
        red.data.copy_from_slice(&[1.0, 0.0, 0.0]);
        for f in [PixelFormat::I420, PixelFormat::Nv12] {
            let l = FrameLayout::packed(f, 1, 1);
            let yuv = conv_from_rgb(&red, &l, c);
            let (y, u, v) = if f == PixelFormat::Nv12 {
                (yuv[0][0], yuv[1][0], yuv[1][1])
            } else {
                (yuv[0][0], yuv[1][0], yuv[2][0])
            };
            assert!((y as i32 - 63).abs() <= 1, "Y {y}");
            assert!((u as i32 - 102).abs() <= 1, "Cb {u}");
            assert!((v as i32 - 240).abs() <= 1, "Cr {v}");
            let back = conv_to_rgb(&l, c, &yuv);
            assert!((back.data[0] - 1.0).abs() < 0.01 && back.data[1] < 0.01 && back.data[2] < 0.01, "{:?}", back.data);
        }
        // White and black encode to exactly 235/128/128 and 16/128/128.
        let mut white = RgbFrame::new(3, 3);
        white.data.fill(1.0);
        let yuv = conv_from_rgb(&white, &FrameLayout::packed(PixelFormat::I420, 3, 3), c);
        assert!(yuv[0].iter().all(|&b| b == 235));
        assert!(yuv[1].iter().chain(&yuv[2]).all(|&b| b == 128));
        // Out-of-range RGB is clamped before encoding.
        white.data.fill(7.5);
        let yuv2 = conv_from_rgb(&white, &FrameLayout::packed(PixelFormat::I420, 3, 3), c);
        assert_eq!(yuv, yuv2);
        white.data.fill(f32::NAN);
        let yuv3 = conv_from_rgb(&white, &FrameLayout::packed(PixelFormat::I420, 3, 3), c);
        assert!(yuv3[0].iter().all(|&b| b == 16));
    }

    /// BT.601 full range against the JPEG/JFIF textbook formula.
    #[test]
    fn known_values_601_full() {
        let c = Colorimetry::new(Matrix::Bt601, Range::Full);
        let layout = FrameLayout::packed(PixelFormat::I420, 1, 1);
        for (y, u, v) in [(100u8, 150u8, 90u8), (200, 100, 140), (30, 128, 128), (128, 60, 200)] {
            let out = conv_to_rgb(&layout, c, &[vec![y], vec![u], vec![v]]);
            let (yf, cb, cr) = (y as f32, u as f32 - 128.0, v as f32 - 128.0);
            let r = (yf + 1.402 * cr) / 255.0;
            let g = (yf - 0.344136 * cb - 0.714136 * cr) / 255.0;
            let b = (yf + 1.772 * cb) / 255.0;
            for (got, want) in out.data.iter().zip([r, g, b]) {
                let want = want.clamp(0.0, 1.0);
                assert!((got - want).abs() < 1e-4, "{y},{u},{v}: {got} vs {want}");
            }
        }
        // And the forward direction: JFIF Y = 0.299R + 0.587G + 0.114B etc.
        let mut rgb = RgbFrame::new(1, 1);
        rgb.data.copy_from_slice(&[0.2, 0.6, 0.9]);
        let yuv = conv_from_rgb(&rgb, &layout, c);
        let (r, g, b): (f32, f32, f32) = (0.2 * 255.0, 0.6 * 255.0, 0.9 * 255.0);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        let cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b;
        let cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b;
        assert_eq!(yuv[0][0], y.round() as u8);
        assert_eq!(yuv[1][0], cb.round() as u8);
        assert_eq!(yuv[2][0], cr.round() as u8);
    }

    #[test]
    fn bt2020_white_and_grey() {
        let c = Colorimetry::new(Matrix::Bt2020, Range::Limited);
        let layout = FrameLayout::packed(PixelFormat::Nv12, 2, 2);
        let out = conv_to_rgb(&layout, c, &[vec![126; 4], vec![128, 128]]);
        for v in &out.data {
            assert!((v - 110.0 / 219.0).abs() < 1e-5);
        }
    }

    /// Chroma siting: left-cosited horizontally, centred vertically.
    #[test]
    fn chroma_siting() {
        let c = Colorimetry::new(Matrix::Bt601, Range::Full);
        // 4x4 I420, chroma 2x2: Cr only varies horizontally [128, 228] / vertically.
        let layout = FrameLayout::packed(PixelFormat::I420, 4, 4);
        let y = vec![100u8; 16];
        let u = vec![128u8; 4];
        let v = vec![128u8, 228, 128, 228];
        let out = conv_to_rgb(&layout, c, &[y.clone(), u.clone(), v]);
        let r = out.plane(0);
        let base = 100.0 / 255.0;
        let k = 1.402 / 255.0;
        for row in 0..4 {
            let got: Vec<f32> = r[row * 4..row * 4 + 4].to_vec();
            let want: [f32; 4] = [base, base + 50.0 * k, base + 100.0 * k, base + 100.0 * k];
            for (g, w) in got.iter().zip(want) {
                assert!((g - w.min(1.0)).abs() < 1e-5, "row {row}: {got:?}");
            }
        }
        // Vertical: chroma rows [128, 228]: luma rows get 128, 153, 203, 228.
        let v = vec![128u8, 128, 228, 228];
        let out = conv_to_rgb(&layout, c, &[y, u, v]);
        let r = out.plane(0);
        for (row, cr) in [128.0f32, 153.0, 203.0, 228.0].into_iter().enumerate() {
            let want = (base + (cr - 128.0) * k).min(1.0);
            for x in 0..4 {
                assert!((r[row * 4 + x] - want).abs() < 1e-5, "row {row}");
            }
        }
    }

    /// Downsampling averages the 2x2 block, and only the existing pixels at odd edges.
    #[test]
    fn chroma_downsampling_average() {
        let c = Colorimetry::new(Matrix::Bt601, Range::Full);
        let (w, h) = (3, 3);
        let mut rgb = RgbFrame::new(w, h);
        let n = w * h;
        // Blue only, varying per pixel -> Cb = 128 + 0.5*B*255 - ..., use pure B with R=G=0.
        let blues = [0.0f32, 0.2, 0.4, 0.6, 0.8, 1.0, 0.1, 0.3, 0.5];
        rgb.data[2 * n..].copy_from_slice(&blues);
        let yuv = conv_from_rgb(&rgb, &FrameLayout::packed(PixelFormat::I420, w, h), c);
        let cb = |b: f32| 128.0 + 0.5 * b * 255.0;
        let expect = [
            (cb(0.0) + cb(0.2) + cb(0.6) + cb(0.8)) / 4.0,
            (cb(0.4) + cb(1.0)) / 2.0,
            (cb(0.1) + cb(0.3)) / 2.0,
            cb(0.5),
        ];
        for (got, want) in yuv[1].iter().zip(expect) {
            assert_eq!(*got, want.round() as u8);
        }
    }

    #[test]
    fn errors() {
        let c = Colorimetry::BT709;
        let layout = FrameLayout::packed(PixelFormat::I420, 17, 9);
        let ok = alloc(&layout);
        let refs: Vec<&[u8]> = ok.iter().map(|p| &p[..]).collect();
        let mut out = RgbFrame::new(17, 9);
        assert!(to_rgb(&layout, c, &refs, &mut out).is_ok());

        // Wrong plane count.
        let e = to_rgb(&layout, c, &refs[..2], &mut out).unwrap_err();
        assert!(matches!(e, ColorError::PlaneCount { expected: 3, got: 2, .. }), "{e}");
        let four = [refs[0], refs[1], refs[2], refs[2]];
        assert!(matches!(to_rgb(&layout, c, &four, &mut out), Err(ColorError::PlaneCount { .. })));
        assert!(matches!(to_rgb(&layout, c, &[], &mut out), Err(ColorError::PlaneCount { .. })));

        // Too-small plane.
        let short = &ok[1][..ok[1].len() - 1];
        let e = to_rgb(&layout, c, &[refs[0], short, refs[2]], &mut out).unwrap_err();
        assert!(matches!(e, ColorError::PlaneTooSmall { plane: 1, .. }), "{e}");
        // The last row's padding may be missing, not its pixels.
        let pad = padded(PixelFormat::I420, 17, 9);
        let pp = alloc(&pad);
        let trimmed: Vec<&[u8]> =
            (0..3).map(|p| &pp[p][..pp[p].len() - (pad.strides[p] - pad.row_bytes()[p])]).collect();
        assert!(to_rgb(&pad, c, &trimmed, &mut out).is_ok());

        // Stride smaller than a row.
        let mut bad = layout;
        bad.strides[0] = 16;
        assert!(matches!(to_rgb(&bad, c, &refs, &mut out), Err(ColorError::StrideTooSmall { plane: 0, .. })));

        // Size mismatch.
        let mut small = RgbFrame::new(16, 9);
        assert!(matches!(to_rgb(&layout, c, &refs, &mut small), Err(ColorError::SizeMismatch { .. })));
        let mut broken = RgbFrame::new(17, 9);
        broken.data.pop();
        assert!(matches!(to_rgb(&layout, c, &refs, &mut broken), Err(ColorError::DataLength { .. })));

        // Identity matrix with a YUV format.
        let e = to_rgb(&layout, Colorimetry::RGB, &refs, &mut out).unwrap_err();
        assert!(matches!(e, ColorError::UnsupportedMatrix { .. }), "{e}");

        // from_rgb mirrors these.
        let rgb = RgbFrame::new(17, 9);
        let mut planes = alloc(&layout);
        {
            let mut m: Vec<&mut [u8]> = planes.iter_mut().map(|p| &mut p[..]).collect();
            assert!(from_rgb(&rgb, &layout, c, &mut m).is_ok());
            assert!(matches!(from_rgb(&rgb, &layout, c, &mut m[..1]), Err(ColorError::PlaneCount { .. })));
            assert!(matches!(from_rgb(&small, &layout, c, &mut m), Err(ColorError::SizeMismatch { .. })));
            assert!(matches!(
                from_rgb(&rgb, &layout, Colorimetry::RGB, &mut m),
                Err(ColorError::UnsupportedMatrix { .. })
            ));
            assert!(matches!(from_rgb(&rgb, &bad, c, &mut m), Err(ColorError::StrideTooSmall { .. })));
        }
        {
            let (a, rest) = planes.split_at_mut(1);
            let (b, cc) = rest.split_at_mut(1);
            let n = cc[0].len();
            let mut m: Vec<&mut [u8]> = vec![&mut a[0][..], &mut b[0][..], &mut cc[0][..n - 1]];
            assert!(matches!(from_rgb(&rgb, &layout, c, &mut m), Err(ColorError::PlaneTooSmall { plane: 2, .. })));
        }
        let rgbx = FrameLayout::packed(PixelFormat::Rgbx, 17, 9);
        let mut buf = vec![0u8; rgbx.plane_sizes()[0] - 1];
        assert!(matches!(
            from_rgb(&rgb, &rgbx, Colorimetry::RGB, &mut [&mut buf[..]]),
            Err(ColorError::PlaneTooSmall { plane: 0, .. })
        ));
        assert!(matches!(
            to_rgb(&rgbx, Colorimetry::RGB, &[&buf[..]], &mut out),
            Err(ColorError::PlaneTooSmall { .. })
        ));

        // Absurd sizes do not panic.
        let huge =
            FrameLayout { format: PixelFormat::Rgba, width: usize::MAX / 2, height: 3, strides: [usize::MAX, 0, 0] };
        let mut tiny = RgbFrame { width: usize::MAX / 2, height: 3, data: vec![] };
        assert!(to_rgb(&huge, Colorimetry::RGB, &[&[]], &mut tiny).is_err());
        let _ = huge.plane_sizes();
        let _ = FrameLayout::packed(PixelFormat::Rgba, usize::MAX, 1).plane_sizes();
    }

    /// Random sizes, strides and plane lengths: Ok or Err, never a panic; Ok exactly when
    /// the planes are big enough.
    #[test]
    fn random_layouts_never_panic() {
        let mut rng = Rng(0x0bad_5eed_1234_4321);
        for _ in 0..20000 {
            let f = ALL[(rng.next() % 7) as usize];
            let (w, h) = ((rng.next() % 12) as usize, (rng.next() % 12) as usize);
            let strides = [(rng.next() % 60) as usize, (rng.next() % 40) as usize, (rng.next() % 40) as usize];
            let layout = FrameLayout { format: f, width: w, height: h, strides };
            let n = if rng.next() & 7 == 0 { (rng.next() % 5) as usize } else { f.n_planes() };
            let mut planes: Vec<Vec<u8>> = (0..n).map(|_| vec![7u8; (rng.next() % 700) as usize]).collect();
            let c = Colorimetry::new(
                [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020, Matrix::Identity][(rng.next() % 4) as usize],
                if rng.next() & 1 == 0 { Range::Full } else { Range::Limited },
            );
            let (fw, fh) = if rng.next() < u64::MAX / 10 { (w + 1, h) } else { (w, h) };
            let mut out = RgbFrame::new(fw, fh);
            let refs: Vec<&[u8]> = planes.iter().map(|p| &p[..]).collect();
            let lens: Vec<usize> = refs.iter().map(|p| p.len()).collect();
            let r1 = to_rgb(&layout, c, &refs, &mut out);
            let expect_ok = n == f.n_planes()
                && (fw, fh) == (w, h)
                && layout.validate(&lens).is_ok()
                && (!f.is_yuv() || c.matrix != Matrix::Identity);
            assert_eq!(r1.is_ok(), expect_ok, "{layout:?} {lens:?} {c:?}: {r1:?}");
            let mut mrefs: Vec<&mut [u8]> = planes.iter_mut().map(|p| &mut p[..]).collect();
            let r2 = from_rgb(&out, &layout, c, &mut mrefs);
            assert_eq!(r2.is_ok(), expect_ok, "{layout:?} {lens:?} {c:?}: {r2:?}");
        }
    }

    #[test]
    fn empty_frames() {
        for f in ALL {
            for (w, h) in [(0, 0), (0, 5), (5, 0)] {
                let layout = FrameLayout::packed(f, w, h);
                let planes = alloc(&layout);
                let c = col(Colorimetry::BT709, f);
                let rgb = conv_to_rgb(&layout, c, &planes);
                assert!(rgb.data.is_empty());
                conv_from_rgb(&rgb, &layout, c);
            }
        }
    }

    #[test]
    fn yuv420_planes_pack_and_unpack_through_strides_and_nv12() {
        let mut rng = Rng(0x5EED);
        for format in [PixelFormat::I420, PixelFormat::Nv12] {
            for (w, h) in [(1, 1), (3, 3), (17, 9), (16, 8)] {
                let layout = padded(format, w, h);
                let planes: Vec<Vec<u8>> = layout.plane_sizes()[..format.n_planes()]
                    .iter()
                    .map(|&n| (0..n).map(|_| rng.byte()).collect())
                    .collect();
                let views: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
                let mut yuv = Yuv420::new(0, 0);
                pack_yuv420(&layout, &views, &mut yuv).unwrap();
                let (cw, ch) = yuv.chroma_size();
                assert_eq!((yuv.y.len(), yuv.u.len(), yuv.v.len()), (w * h, cw * ch, cw * ch));
                // Samples land where the format puts them.
                let (s0, s1) = (layout.strides[0], layout.strides[1]);
                assert_eq!(yuv.y[w * (h - 1) + w - 1], planes[0][s0 * (h - 1) + w - 1]);
                let last_u = match format {
                    PixelFormat::Nv12 => planes[1][s1 * (ch - 1) + 2 * (cw - 1)],
                    _ => planes[1][s1 * (ch - 1) + cw - 1],
                };
                assert_eq!(yuv.u[cw * ch - 1], last_u, "{format:?} {w}x{h}");
                // Back into fresh padded planes: visible bytes restored, padding untouched.
                let mut out: Vec<Vec<u8>> = planes.iter().map(|p| vec![PAD; p.len()]).collect();
                let mut views: Vec<&mut [u8]> = out.iter_mut().map(Vec::as_mut_slice).collect();
                unpack_yuv420(&yuv, &layout, &mut views).unwrap();
                let rows = layout.plane_rows();
                let row_bytes = layout.row_bytes();
                for p in 0..format.n_planes() {
                    for r in 0..rows[p] {
                        let s = layout.strides[p];
                        assert_eq!(out[p][r * s..r * s + row_bytes[p]], planes[p][r * s..r * s + row_bytes[p]]);
                        assert!(out[p][r * s + row_bytes[p]..(r * s + s).min(out[p].len())].iter().all(|&b| b == PAD));
                    }
                }
            }
        }
        let rgb = FrameLayout::packed(PixelFormat::Rgb, 2, 2);
        let mut yuv = Yuv420::new(2, 2);
        assert!(matches!(pack_yuv420(&rgb, &[&[0u8; 12][..]], &mut yuv), Err(ColorError::NotYuv420 { .. })));
    }
}
