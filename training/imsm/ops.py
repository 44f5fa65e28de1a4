"""Resampling operators that run the same in PyTorch (training) and in ONNX (export).

Every operator whose output size is only known at run time (it depends on `out_size`
or on the input's shape) is a `torch.autograd.Function` with a `symbolic` method, so
the legacy TorchScript exporter writes exactly the ONNX nodes given here, with all
sizes computed in the graph (Shape/Gather/Range), never frozen at trace time.

- `bicubic(x, size)`: the reference graphs' separable bicubic (Keys a = -0.5,
  half_pixel, edge-clamped taps). In PyTorch a pair of small matrices (same weights);
  in ONNX the Gather-based node sequence of training/make_reference_models.py.
- `resize_linear(x, size, factor)`: bilinear, half_pixel, no antialiasing (= ONNX
  Resize mode=linear, = F.interpolate(bilinear, align_corners=False)), to factor*size.
- `resize_like(x, ref)`: bilinear to ref's spatial size.
- `space_to_depth(x)`: ONNX SpaceToDepth(blocksize=2) channel order.
- `warp(img, flow)`: backward warp by a flow in pixels (GridSample, border padding).
- `size_ratio(x, size)`: [1, 2] tensor (h_in / h_out, w_in / w_out).
- `const_map(ref, v)`: v [N] broadcast to [N, 1, h, w] like ref.
- `shift(x, s)`: integer translation by s = (dy, dx), edges replicated (two Gathers).
- `gather(x, idx)`: per-pixel whole-pixel move (source index of each pixel).
- `displacement(s, idx, like)`: how far `shift` then `gather` moved each pixel, as maps.

`size` is a tuple of ints in training and an int64 tensor [2] (h, w) when exporting.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

CUBIC_A = -0.5


# ----------------------------------------------------------------------------- helpers
def _c(g, values, dtype):
    return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))


def _is_tensor_size(size):
    return torch.is_tensor(size)


def _size_tuple(size):
    if torch.is_tensor(size):
        return int(size[0]), int(size[1])
    return int(size[0]), int(size[1])


# ----------------------------------------------------------------------------- bicubic
_BICUBIC_CACHE = {}


def keys_weights(n_in, n_out):
    """Dense [n_out, n_in] matrix of the reference bicubic along one axis (float32 math
    as onnxruntime / the reference graph computes it)."""
    key = (n_in, n_out)
    m = _BICUBIC_CACHE.get(key)
    if m is not None:
        return m
    a = np.float32(CUBIC_A)
    scale = np.float32(n_out) / np.float32(n_in)
    i = np.arange(n_out, dtype=np.float32)
    src = (i + np.float32(0.5)) / scale - np.float32(0.5)
    base = np.floor(src)
    frac = (src - base).astype(np.float32)
    base = base.astype(np.int64)
    mat = np.zeros((n_out, n_in), np.float64)
    for k in (-1, 0, 1, 2):
        d = np.abs(frac - np.float32(k)).astype(np.float32)
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        w = np.where(d <= 1, near, far).astype(np.float32)
        idx = np.clip(base + k, 0, n_in - 1)
        np.add.at(mat, (np.arange(n_out), idx), w)
    m = torch.from_numpy(mat.astype(np.float32))
    if len(_BICUBIC_CACHE) > 4096:
        _BICUBIC_CACHE.clear()
    _BICUBIC_CACHE[key] = m
    return m


def bicubic_torch(x, h, w):
    ah = keys_weights(x.shape[-2], h).to(x.device, x.dtype)
    aw = keys_weights(x.shape[-1], w).to(x.device, x.dtype)
    y = torch.matmul(x, aw.t())  # W pass
    return torch.matmul(ah, y)  # H pass


def _bicubic_symbolic(g, x, out_size):
    """The node sequence of make_reference_models.resize_bicubic, via g.op."""
    a = CUBIC_A
    f32, i64 = torch.float32, torch.int64
    taps_i = _c(g, [[-1], [0], [1], [2]], i64)
    taps_f = _c(g, [[-1.0], [0.0], [1.0], [2.0]], f32)
    ik = [_c(g, k, i64) for k in range(4)]
    half = _c(g, 0.5, f32)
    one = _c(g, 1.0, f32)
    a_plus_2, a_plus_3 = _c(g, a + 2, f32), _c(g, a + 3, f32)
    ca, a5, a8, a4 = _c(g, a, f32), _c(g, 5 * a, f32), _c(g, 8 * a, f32), _c(g, 4 * a, f32)
    axis0 = _c(g, [0], i64)
    w_shape = _c(g, [4, 1, 1, -1, 1], i64)
    in_shape = g.op("Shape", x)
    xt = g.op("Transpose", x, perm_i=[0, 1, 3, 2])
    src = xt
    out = None
    for name, dim, oi in (("w", 3, 1), ("h", 2, 0)):
        if name == "h":
            src = g.op("Transpose", out, perm_i=[0, 1, 3, 2])
        n_in = g.op("Gather", in_shape, ik[dim], axis_i=0)
        n_out = g.op("Gather", out_size, ik[oi], axis_i=0)
        last = g.op("Sub", n_in, ik[1])
        n_in_f = g.op("Cast", n_in, to_i=1)
        n_out_f = g.op("Cast", n_out, to_i=1)
        scale = g.op("Div", n_out_f, n_in_f)
        i = g.op("Range", ik[0], n_out, ik[1])
        i_f = g.op("Cast", i, to_i=1)
        srcc = g.op("Sub", g.op("Div", g.op("Add", i_f, half), scale), half)
        base_f = g.op("Floor", srcc)
        frac = g.op("Sub", srcc, base_f)
        base = g.op("Cast", base_f, to_i=7)
        taps = g.op("Add", g.op("Unsqueeze", base, axis0), taps_i)
        taps = g.op("Clip", taps, ik[0], last)
        d = g.op("Abs", g.op("Sub", g.op("Unsqueeze", frac, axis0), taps_f))
        d2 = g.op("Mul", d, d)
        near = g.op("Add", g.op("Mul", g.op("Sub", g.op("Mul", d, a_plus_2), a_plus_3), d2), one)
        far = g.op("Mul", g.op("Sub", g.op("Mul", d, ca), a5), d)
        far = g.op("Sub", g.op("Mul", g.op("Add", far, a8), d), a4)
        weights = g.op("Where", g.op("LessOrEqual", d, one), near, far)
        wb = g.op("Reshape", weights, w_shape)
        acc = None
        for k in range(4):
            tap = g.op("Gather", taps, ik[k], axis_i=0)
            wk = g.op("Gather", wb, ik[k], axis_i=0)
            term = g.op("Mul", g.op("Gather", src, tap, axis_i=2), wk)
            acc = term if acc is None else g.op("Add", acc, term)
        out = acc
    return out


class _Bicubic(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, out_size):
        h, w = _size_tuple(out_size)
        return bicubic_torch(x, h, w)

    @staticmethod
    def symbolic(g, x, out_size):
        return _bicubic_symbolic(g, x, out_size)


def bicubic(x, size):
    if _is_tensor_size(size):
        return _Bicubic.apply(x, size)
    return bicubic_torch(x, *size)


# ----------------------------------------------------------------------------- linear
def _sizes_4d(g, x, hw):
    shape = g.op("Shape", x)
    nc = g.op("Slice", shape, _c(g, [0], torch.int64), _c(g, [2], torch.int64))
    return g.op("Concat", nc, hw, axis_i=0)


def _resize_sym(g, x, sizes):
    empty = _c(g, [], torch.float32)
    return g.op("Resize", x, empty, empty, sizes, mode_s="linear",
                coordinate_transformation_mode_s="half_pixel")


class _ResizeLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, out_size, factor):
        h, w = _size_tuple(out_size)
        return F.interpolate(x, size=(h * factor, w * factor), mode="bilinear", align_corners=False)

    @staticmethod
    def symbolic(g, x, out_size, factor):
        hw = out_size if factor == 1 else g.op("Mul", out_size, _c(g, factor, torch.int64))
        return _resize_sym(g, x, _sizes_4d(g, x, hw))


def resize_linear(x, size, factor=1):
    if _is_tensor_size(size):
        return _ResizeLinear.apply(x, size, factor)
    h, w = size
    return F.interpolate(x, size=(h * factor, w * factor), mode="bilinear", align_corners=False)


class _ResizeLike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, ref):
        return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    @staticmethod
    def symbolic(g, x, ref):
        rs = g.op("Shape", ref)
        hw = g.op("Slice", rs, _c(g, [2], torch.int64), _c(g, [4], torch.int64))
        return _resize_sym(g, x, _sizes_4d(g, x, hw))


def resize_like(x, ref, exporting=False):
    if exporting:
        return _ResizeLike.apply(x, ref)
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- space to depth
def space_to_depth_torch(x):
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


class _S2D(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return space_to_depth_torch(x)

    @staticmethod
    def symbolic(g, x):
        return g.op("SpaceToDepth", x, blocksize_i=2)


def space_to_depth(x, exporting=False):
    return _S2D.apply(x) if exporting else space_to_depth_torch(x)


# ----------------------------------------------------------------------------- warp
def warp_torch(img, flow):
    n, _, h, w = img.shape
    ys = (torch.arange(h, dtype=img.dtype, device=img.device) + 0.5) * (2.0 / h) - 1.0
    xs = (torch.arange(w, dtype=img.dtype, device=img.device) + 0.5) * (2.0 / w) - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy], dim=-1).unsqueeze(0)
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=img.dtype, device=img.device)
    grid = base + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


class _Warp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, img, flow):
        return warp_torch(img, flow)

    @staticmethod
    def symbolic(g, img, flow):
        i64, f32 = torch.int64, torch.float32
        shape = g.op("Shape", img)
        h = g.op("Gather", shape, _c(g, 2, i64), axis_i=0)
        w = g.op("Gather", shape, _c(g, 3, i64), axis_i=0)
        hf, wf = g.op("Cast", h, to_i=1), g.op("Cast", w, to_i=1)
        two, half, one = _c(g, 2.0, f32), _c(g, 0.5, f32), _c(g, 1.0, f32)
        zero_i, one_i = _c(g, 0, i64), _c(g, 1, i64)
        sy, sx = g.op("Div", two, hf), g.op("Div", two, wf)
        ys = g.op("Sub", g.op("Mul", g.op("Add", g.op("Cast", g.op("Range", zero_i, h, one_i), to_i=1), half), sy), one)
        xs = g.op("Sub", g.op("Mul", g.op("Add", g.op("Cast", g.op("Range", zero_i, w, one_i), to_i=1), half), sx), one)
        ycol = g.op("Unsqueeze", ys, _c(g, [1], i64))  # [h, 1]
        xrow = g.op("Unsqueeze", xs, _c(g, [0], i64))  # [1, w]
        zero = _c(g, 0.0, f32)
        gx = g.op("Add", xrow, g.op("Mul", ycol, zero))  # [h, w]
        gy = g.op("Add", ycol, g.op("Mul", xrow, zero))
        last = _c(g, [2], i64)
        base = g.op("Concat", g.op("Unsqueeze", gx, last), g.op("Unsqueeze", gy, last), axis_i=2)
        base = g.op("Unsqueeze", base, _c(g, [0], i64))  # [1, h, w, 2]
        scale = g.op("Concat", g.op("Unsqueeze", sx, _c(g, [0], i64)), g.op("Unsqueeze", sy, _c(g, [0], i64)), axis_i=0)
        fl = g.op("Transpose", flow, perm_i=[0, 2, 3, 1])
        grid = g.op("Add", base, g.op("Mul", fl, scale))
        return g.op("GridSample", img, grid, mode_s="bilinear", padding_mode_s="border", align_corners_i=0)


def warp(img, flow, exporting=False):
    return _Warp.apply(img, flow) if exporting else warp_torch(img, flow)


# ----------------------------------------------------------------------------- size ratio
class _SizeRatio(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, out_size):
        h, w = _size_tuple(out_size)
        return torch.tensor([[x.shape[-2] / h, x.shape[-1] / w]], dtype=x.dtype)

    @staticmethod
    def symbolic(g, x, out_size):
        shape = g.op("Shape", x)
        hw = g.op("Slice", shape, _c(g, [2], torch.int64), _c(g, [4], torch.int64))
        r = g.op("Div", g.op("Cast", hw, to_i=1), g.op("Cast", out_size, to_i=1))
        return g.op("Unsqueeze", r, _c(g, [0], torch.int64))


def size_ratio(x, size):
    """[N or 1, 2]: (h_in / h_out, w_in / w_out)."""
    if _is_tensor_size(size):
        return _SizeRatio.apply(x, size)
    h, w = size
    return torch.tensor([[x.shape[-2] / h, x.shape[-1] / w]], dtype=x.dtype, device=x.device)


def subpixel_phase(x, size):
    """[N, 4, H, W]: where each pixel of the output grid `size` sits inside x's pixels, as
    (sin, cos) of 2 pi u for its centre's coordinate u on x's grid, rows then columns:
    periodic with x's pixel, so it says the sub-pixel position, and continuous (a wrapped
    offset jumps at half pixels, where torch and ONNX Runtime can round apart). Built from
    an index ramp (CumSum), the same bilinear resize as the features (clamped at the outer
    half pixel), Sin and Cos, so it exports with dynamic sizes."""
    one = x[:, :1] * 0.0 + 1.0
    ramp = torch.cat([torch.cumsum(one, 2) - 1.0, torch.cumsum(one, 3) - 1.0], 1)
    a = resize_linear(ramp, size, 1) * (2.0 * math.pi)
    return torch.cat([torch.sin(a), torch.cos(a)], 1)


def const_map(ref, v):
    """v: [N] or [N, 1] -> [N, 1, h, w] shaped like ref's first channel (trace-safe)."""
    return ref[:, :1] * 0.0 + v.reshape(-1, 1, 1, 1)


def maps(ref, vs):
    """vs: [N, K] -> [N, K, h, w] (trace-safe broadcast)."""
    return ref[:, :1] * 0.0 + vs.reshape(vs.shape[0], vs.shape[1], 1, 1)


# ----------------------------------------------------------------------------- integer shift
def _shift_index(n, d):
    return (torch.arange(n, device=d.device) - d).clamp(0, n - 1)


def shift_torch(x, s):
    return x.index_select(-2, _shift_index(x.shape[-2], s[0])).index_select(-1, _shift_index(x.shape[-1], s[1]))


class _Shift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s):
        return shift_torch(x, s)

    @staticmethod
    def symbolic(g, x, s):
        i64 = torch.int64
        shape = g.op("Shape", x)
        out = x
        for axis, k in ((2, 0), (3, 1)):
            n = g.op("Gather", shape, _c(g, axis, i64), axis_i=0)
            d = g.op("Gather", s, _c(g, k, i64), axis_i=0)
            idx = g.op("Sub", g.op("Range", _c(g, 0, i64), n, _c(g, 1, i64)), d)
            idx = g.op("Min", g.op("Max", idx, _c(g, 0, i64)), g.op("Sub", n, _c(g, 1, i64)))
            out = g.op("Gather", out, idx, axis_i=axis)
        return out


def shift(x, s, exporting=False):
    """out[..., y, x] = x[..., clamp(y - dy), clamp(x - dx)] for s = (dy, dx), an int64
    tensor [2]: a whole-pixel translation with the edges replicated. Whole pixels, so a
    zero shift returns x exactly and no shift blurs."""
    return _Shift.apply(x, s) if exporting else shift_torch(x, s)


# ----------------------------------------------------------------------------- per-pixel gather
def gather_torch(x, idx):
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w).index_select(2, idx).reshape(n, c, h, w)


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, idx):
        return gather_torch(x, idx)

    @staticmethod
    def symbolic(g, x, idx):
        i64 = torch.int64
        shape = g.op("Shape", x)
        nc = g.op("Slice", shape, _c(g, [0], i64), _c(g, [2], i64))
        flat = g.op("Reshape", x, g.op("Concat", nc, _c(g, [-1], i64), axis_i=0))
        return g.op("Reshape", g.op("Gather", flat, idx, axis_i=2), shape)


def gather(x, idx, exporting=False):
    """out[..., p] = x[..., idx[p]] over the h * w pixels in row-major order, for idx an
    int64 tensor [h * w] of source pixels (y * w + x): a per-pixel whole-pixel move (the
    engine's local-motion alignment). The identity index returns x exactly."""
    return _Gather.apply(x, idx) if exporting else gather_torch(x, idx)


# ----------------------------------------------------------------------------- displacement maps
def displacement_torch(s, idx, like):
    h, w = like.shape[-2], like.shape[-1]
    p = torch.arange(h * w, device=idx.device)
    dy = p // w - idx // w + s[0]
    dx = p % w - idx % w + s[1]
    return torch.stack([dy, dx]).reshape(1, 2, h, w).to(like.dtype)


class _Displacement(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, idx, like):
        return displacement_torch(s, idx, like)

    @staticmethod
    def symbolic(g, s, idx, like):
        i64 = torch.int64
        shape = g.op("Shape", like)
        w = g.op("Gather", shape, _c(g, 3, i64), axis_i=0)
        hw = g.op("Slice", shape, _c(g, [2], i64), _c(g, [4], i64))
        n = g.op("ReduceProd", hw, keepdims_i=0)
        p = g.op("Range", _c(g, 0, i64), n, _c(g, 1, i64))
        dy = g.op("Add", g.op("Sub", g.op("Div", p, w), g.op("Div", idx, w)),
                  g.op("Gather", s, _c(g, 0, i64), axis_i=0))
        dx = g.op("Add", g.op("Sub", g.op("Mod", p, w), g.op("Mod", idx, w)),
                  g.op("Gather", s, _c(g, 1, i64), axis_i=0))
        both = g.op("Concat", g.op("Unsqueeze", dy, _c(g, [0], i64)), g.op("Unsqueeze", dx, _c(g, [0], i64)),
                    axis_i=0)
        out_shape = g.op("Concat", _c(g, [1, 2], i64), hw, axis_i=0)
        return g.op("Reshape", g.op("Cast", both, to_i=1), out_shape)  # to_i=1: float32


def displacement(s, idx, like, exporting=False):
    """[1, 2, h, w] float (dy, dx): how far `shift(.., s)` then `gather(.., idx)` moved the
    content now at each pixel of `like` ([.., h, w]), in whole pixels (the edges' clamping
    not counted): (y, x) - source + s. What the synth is told of the engine's alignment."""
    return _Displacement.apply(s, idx, like) if exporting else displacement_torch(s, idx, like)


def constant_displacement(shifts, like):
    """[N, 2, h, w] float: each sample's whole-frame shift (dy, dx) ([N, 2]) everywhere, the
    training's global-only alignment (= `displacement` with the identity index)."""
    n, _, h, w = like.shape
    return shifts.to(like.dtype).reshape(n, 2, 1, 1).expand(n, 2, h, w)
