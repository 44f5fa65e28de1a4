#!/usr/bin/env python3
"""Write the two colour-conversion graphs the elements run on the GPU providers' device:

  yuv420_to_rgb.onnx: 8-bit 4:2:0 Y'CbCr planes -> planar float R'G'B' in [0, 1]
  rgb_to_yuv420.onnx: planar float R'G'B' -> 8-bit 4:2:0 Y'CbCr planes

They compute exactly what src/engine/color.rs computes on the host (same chroma siting,
same upsampling, 2x2 chroma averaging, round half to even, same float operation order),
so a stream converted on the device and one converted on the host give the same pixels;
the engine's tests compare the two. The matrix and range come in at run time as
coefficients (color.rs `Decode` / `Encode`), so one pair of graphs serves BT.601, BT.709
and BT.2020, limited and full range.

Under CUDA and TensorRT the elements upload 1.5 bytes per pixel instead of 12 (float
R'G'B') and download the same, and the conversion runs on the GPU; the graphs are
embedded in the plugin (src/engine/colour/), not looked up in model-dir.

No weights, no data: built with onnx.helper; deterministic output.
Usage: python3 training/make_colour_graphs.py [--out DIR]   (default: <repo>/src/engine/colour)
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
FLOAT = TensorProto.FLOAT
UINT8 = TensorProto.UINT8
INT64 = TensorProto.INT64

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "src", "engine", "colour")


class Builder:
    """Collects nodes and initializers; every helper returns its output name."""

    def __init__(self):
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, values, dtype, hint="c"):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def ops(self, op_type, inputs, n_out, hint, **attrs):
        outs = [self.name(hint) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def slice(self, x, start, end, axis, step=1):
        return self.op(
            "Slice",
            [x, self.const([start], np.int64), self.const([end], np.int64), self.const([axis], np.int64),
             self.const([step], np.int64)],
            "slice",
        )

    def dim(self, x, axis):
        """x.shape[axis] as int64 [1]."""
        shape = self.op("Shape", [x], "shape")
        return self.op("Gather", [shape, self.const([axis], np.int64)], "dim", axis=0)

    def slice_dyn(self, x, start, end, axis):
        """x[start:end] along axis; start/end int64 [1] tensor names."""
        return self.op("Slice", [x, start, end, self.const([axis], np.int64)], "slice")

    def coeff(self, coeffs, i):
        """coeffs[i] as a float scalar of shape [1] (broadcasts)."""
        return self.op("Slice", [coeffs, self.const([i], np.int64), self.const([i + 1], np.int64)], "k")

    def mul(self, a, b):
        return self.op("Mul", [a, b], "mul")

    def add(self, a, b):
        return self.op("Add", [a, b], "add")


def interleave(b, even, odd, axis, length):
    """[.., n, ..] twice -> [.., 2n, ..] along axis (2 or 3 of a 4-D tensor), alternating
    even[0], odd[0], even[1], ...; then cut to `length` (int64 [1])."""
    e = b.op("Unsqueeze", [even, b.const([axis + 1], np.int64)], "ue")
    o = b.op("Unsqueeze", [odd, b.const([axis + 1], np.int64)], "uo")
    both = b.op("Concat", [e, o], "pair", axis=axis + 1)
    shape = b.op("Shape", [even], "shape")
    # [d0, d1, d2, d3] with d[axis] doubled.
    dims = [b.op("Gather", [shape, b.const([k], np.int64)], "d", axis=0) for k in range(4)]
    dims[axis] = b.mul(dims[axis], b.const([2], np.int64))
    merged = b.op("Reshape", [both, b.op("Concat", dims, "newshape", axis=0)], "merged")
    return b.slice_dyn(merged, b.const([0], np.int64), length, axis)


def shifted(b, x, axis, n, direction):
    """x shifted by one along axis with the edge repeated: direction -1 gives x[max(i-1, 0)],
    +1 gives x[min(i+1, n-1)]; n = x.shape[axis] (int64 [1])."""
    one = b.const([1], np.int64)
    n_minus_1 = b.op("Sub", [n, one], "nm1")
    if direction < 0:
        zero = b.const([0], np.int64)
        first = b.slice_dyn(x, zero, one, axis)
        body = b.slice_dyn(x, zero, n_minus_1, axis)
        return b.op("Concat", [first, body], "prev", axis=axis)
    body = b.slice_dyn(x, one, n, axis)
    last = b.slice_dyn(x, n_minus_1, n, axis)
    return b.op("Concat", [body, last], "next", axis=axis)


def yuv420_to_rgb():
    b = Builder()
    # coeffs: ky, y0, rv, gu, gv, bu (color.rs Decode).
    y = b.op("Cast", ["y"], "yf", to=FLOAT)
    ky, y0, rv, gu, gv, bu = (b.coeff("coeffs", i) for i in range(6))
    yy = b.add(b.mul(y, ky), y0)
    h = b.dim(y, 2)
    w = b.dim(y, 3)

    # Chroma planes together as [1, 2, CH, CW] floats. color.rs vblend: 0.75*near + 0.25*far - 128,
    # computed here in the same order.
    c = b.op("Cast", [b.op("Concat", ["u", "v"], "uv", axis=1)], "cf", to=FLOAT)
    ch = b.dim(c, 2)
    cw = b.dim(c, 3)
    q3 = b.const([0.75], np.float32)
    q1 = b.const([0.25], np.float32)
    o128 = b.const([128.0], np.float32)
    near = b.mul(c, q3)

    def blend(far):
        return b.op("Sub", [b.add(near, b.mul(far, q1)), o128], "vb")

    # Luma row 2k takes chroma rows k (3/4) and k-1 (1/4); row 2k+1 rows k and k+1; edges clamped.
    even_rows = blend(shifted(b, c, 2, ch, -1))
    odd_rows = blend(shifted(b, c, 2, ch, +1))
    rows = interleave(b, even_rows, odd_rows, 2, h)  # [1, 2, H, CW]

    # Columns, left-cosited (color.rs hup): even columns copy, odd ones 0.5 * (c[j] + c[j+1]).
    right = shifted(b, rows, 3, cw, +1)
    odd_cols = b.mul(b.const([0.5], np.float32), b.add(rows, right))
    full = interleave(b, rows, odd_cols, 3, w)  # [1, 2, H, W]
    u = b.slice(full, 0, 1, 1)
    v = b.slice(full, 1, 2, 1)

    zero = b.const(0.0, np.float32)
    one = b.const(1.0, np.float32)
    r = b.op("Clip", [b.add(yy, b.mul(rv, v)), zero, one], "r")
    g = b.op("Clip", [b.add(b.add(yy, b.mul(gu, u)), b.mul(gv, v)), zero, one], "g")
    bl = b.op("Clip", [b.add(yy, b.mul(bu, u)), zero, one], "b")
    b.nodes.append(helper.make_node("Concat", [r, g, bl], ["rgb"], axis=1))

    inputs = [
        helper.make_tensor_value_info("y", UINT8, [1, 1, "H", "W"]),
        helper.make_tensor_value_info("u", UINT8, [1, 1, "CH", "CW"]),
        helper.make_tensor_value_info("v", UINT8, [1, 1, "CH", "CW"]),
        helper.make_tensor_value_info("coeffs", FLOAT, [6]),
    ]
    outputs = [helper.make_tensor_value_info("rgb", FLOAT, [1, 3, "H", "W"])]
    return finish(b, "yuv420_to_rgb", inputs, outputs,
                  "8-bit 4:2:0 Y'CbCr (mpeg2 chroma siting) -> planar R'G'B' in [0, 1], as src/engine/color.rs")


def rgb_to_yuv420():
    b = Builder()
    # coeffs: yr, yg, yb, y0, ur, ug, ub, vr, vg, vb (color.rs Encode).
    k = [b.coeff("coeffs", i) for i in range(10)]
    zero = b.const(0.0, np.float32)
    one = b.const(1.0, np.float32)
    rgb = b.op("Clip", ["rgb", zero, one], "clamped")
    r, g, bl = (b.slice(rgb, i, i + 1, 1) for i in range(3))

    def dot(kr, kg, kb, offset):
        # ((kr*r + kg*g) + kb*b) + offset, color.rs's order.
        return b.add(b.add(b.add(b.mul(kr, r), b.mul(kg, g)), b.mul(kb, bl)), offset)

    lo = b.const(0.0, np.float32)
    hi = b.const(255.0, np.float32)

    def to_u8(x, name=None):
        rounded = b.op("Round", [b.op("Clip", [x, lo, hi], "sat")], "round")
        out = name or b.name("u8")
        b.nodes.append(helper.make_node("Cast", [rounded], [out], to=UINT8))
        return out

    to_u8(dot(k[0], k[1], k[2], k[3]), "y")
    o128 = b.const([128.0], np.float32)
    uv = b.op("Concat", [dot(k[4], k[5], k[6], o128), dot(k[7], k[8], k[9], o128)], "uvpix", axis=1)
    # Odd sizes: repeat the last row/column. The pair sums then equal color.rs's sums over the
    # pixels that exist, scaled by a power of two, so the 2x2 mean below is bit-identical.
    h = b.dim(uv, 2)
    w = b.dim(uv, 3)
    two = b.const([2], np.int64)
    ph = b.op("Mod", [h, two], "ph")
    pw = b.op("Mod", [w, two], "pw")
    z = b.const([0, 0, 0, 0, 0, 0], np.int64)
    pads = b.op("Concat", [z, ph, pw], "pads", axis=0)
    padded = b.op("Pad", [uv, pads], "padded", mode="edge")
    big = 1 << 40
    hsum = b.add(b.slice(padded, 0, big, 3, 2), b.slice(padded, 1, big, 3, 2))
    vsum = b.add(b.slice(hsum, 0, big, 2, 2), b.slice(hsum, 1, big, 2, 2))
    mean = b.mul(vsum, b.const([0.25], np.float32))
    to_u8(b.slice(mean, 0, 1, 1), "u")
    to_u8(b.slice(mean, 1, 2, 1), "v")

    inputs = [
        helper.make_tensor_value_info("rgb", FLOAT, [1, 3, "H", "W"]),
        helper.make_tensor_value_info("coeffs", FLOAT, [10]),
    ]
    outputs = [
        helper.make_tensor_value_info("y", UINT8, [1, 1, "H", "W"]),
        helper.make_tensor_value_info("u", UINT8, [1, 1, "CH", "CW"]),
        helper.make_tensor_value_info("v", UINT8, [1, 1, "CH", "CW"]),
    ]
    return finish(b, "rgb_to_yuv420", inputs, outputs,
                  "planar R'G'B' -> 8-bit 4:2:0 Y'CbCr (2x2 chroma mean, round half to even), as src/engine/color.rs")


def finish(b, name, inputs, outputs, description):
    graph = helper.make_graph(b.nodes, name, inputs, outputs, initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="gst-imsm make_colour_graphs.py")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"imsm.graph": name, "imsm.description": description})
    onnx.checker.check_model(model, full_check=True)
    return model


def generate(out_dir):
    """Writes both graphs into out_dir; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for model in (yuv420_to_rgb(), rgb_to_yuv420()):
        path = os.path.join(out_dir, model.graph.name + ".onnx")
        onnx.save(model, path)
        paths[model.graph.name] = path
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    for path in generate(args.out).values():
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
