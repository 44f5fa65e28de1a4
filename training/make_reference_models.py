#!/usr/bin/env python3
"""Write the REFERENCE ONNX graphs of gst-imsm: down.onnx, reveal.onnx, synth.onnx.

These graphs follow the model contract in models/README.md but learn nothing:
plain linear frame blending in time and bicubic resizing in space. They stand in
until the trained IMSM/INR graphs land; trained graphs replace the files under the
same contract.

No training, no data, no torch: the graphs are built directly with onnx.helper.
The output bytes are deterministic (same onnx version -> identical files).

Usage: python3 training/make_reference_models.py [--out DIR]   (default: <repo>/models/reference)
       python3 training/make_reference_models.py --cover bilinear   (<repo>/models/reference-bilinear:
           the same graphs but a bilinear down, the plain downscale of graphs trained with a
           bilinear cover)
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
CONTRACT = "2"  # models/README.md; v2: down takes frame0..frame6 instead of frames
SLOTS = 7  # HR frames in the down window
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "models", "reference")


def const(name, values, dtype):
    """An initializer holding a constant tensor."""
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


CUBIC_A = -0.5  # Keys cubic coefficient (ONNX Resize cubic_coeff_a = -0.5)


def resize_bicubic(x, out_size, out, prefix):
    """Nodes and initializers: out = bicubic resize of x [1, C, H, W] to [1, C] ++ out_size.

    Separable bicubic built from cheap ops (Gather, Mul, Add, Transpose), equivalent to
    ONNX `Resize(mode="cubic", cubic_coeff_a=-0.5, coordinate_transformation_mode=
    "half_pixel", exclude_outside=0)` with `sizes` given, as onnxruntime's CPU kernel
    computes it (edge-clamped taps), but 10-40x faster there. Per axis, from the input
    length n_in (read from x's shape at run time) and the requested length n_out (from
    out_size):

      scale  = float(n_out) / float(n_in)
      src_i  = (i + 0.5) / scale - 0.5                   (half_pixel, float32 as in onnxruntime)
      i0     = floor(src_i),  t = src_i - i0
      taps_k = clamp(i0 + k, 0, n_in - 1), k = -1 .. 2   (edge replication)
      w_k    = keys(|t - k|)                             (Keys kernel, a = -0.5; sum_k w_k = 1)

    and the pass along that axis is out = sum_k w_k * Gather(src, taps_k) (4 gathers).
    Both passes gather on axis 2 with weights broadcast as [1, 1, n_out, 1]: the W pass
    runs first on the transposed image [1, C, W, H] and is transposed back before the H
    pass, because onnxruntime's Gather on the last axis copies element by element and
    is several times slower than gathering whole rows. Everything is float32 apart from
    the int64 indices. No clipping here (bicubic overshoots): callers add Clip(0, 1).

    Returns (nodes, initializers); every name starts with prefix.
    """
    a = CUBIC_A
    p = prefix
    inits = [
        const(p + "taps_i", [[-1], [0], [1], [2]], np.int64),  # [4, 1]
        const(p + "taps_f", [[-1], [0], [1], [2]], np.float32),  # [4, 1]
        const(p + "i0", 0, np.int64),  # rank-0 constants
        const(p + "i1", 1, np.int64),
        const(p + "i2", 2, np.int64),
        const(p + "i3", 3, np.int64),
        const(p + "half", 0.5, np.float32),
        const(p + "one", 1.0, np.float32),
        # Keys kernel: |d| <= 1: ((a + 2) |d| - (a + 3)) d^2 + 1
        #          1 < |d| < 2: ((a |d| - 5a) |d| + 8a) |d| - 4a
        const(p + "a_plus_2", a + 2, np.float32),
        const(p + "a_plus_3", a + 3, np.float32),
        const(p + "a", a, np.float32),
        const(p + "a_times_5", 5 * a, np.float32),
        const(p + "a_times_8", 8 * a, np.float32),
        const(p + "a_times_4", 4 * a, np.float32),
        const(p + "axis0", [0], np.int64),
        const(p + "w_shape", [4, 1, 1, -1, 1], np.int64),
    ]
    nodes = [
        helper.make_node("Shape", [x], [p + "in_shape"]),
        helper.make_node("Transpose", [x], [p + "xt"], perm=[0, 1, 3, 2]),  # [1, C, W, H]
    ]
    # (axis name, dimension of x, index in out_size, source [1, C, n_in, .], result [1, C, n_out, .])
    passes = (
        ("w", "i3", "i1", p + "xt", p + "w_out"),
        ("h", "i2", "i0", p + "w_out_t", out),
    )
    for name, dim, out_index, src, dst in passes:
        q = p + name + "_"
        if name == "h":  # back to [1, C, H, w]
            nodes.append(helper.make_node("Transpose", [p + "w_out"], [src], perm=[0, 1, 3, 2]))
        nodes += [
            # lengths as rank-0 tensors
            helper.make_node("Gather", [p + "in_shape", p + dim], [q + "n_in"], axis=0),
            helper.make_node("Gather", [out_size, p + out_index], [q + "n_out"], axis=0),
            helper.make_node("Sub", [q + "n_in", p + "i1"], [q + "last"]),
            helper.make_node("Cast", [q + "n_in"], [q + "n_in_f"], to=FLOAT),
            helper.make_node("Cast", [q + "n_out"], [q + "n_out_f"], to=FLOAT),
            helper.make_node("Div", [q + "n_out_f", q + "n_in_f"], [q + "scale"]),
            # source coordinate of each output pixel, [n_out]
            helper.make_node("Range", [p + "i0", q + "n_out", p + "i1"], [q + "i"]),
            helper.make_node("Cast", [q + "i"], [q + "i_f"], to=FLOAT),
            helper.make_node("Add", [q + "i_f", p + "half"], [q + "centre"]),
            helper.make_node("Div", [q + "centre", q + "scale"], [q + "src_half"]),
            helper.make_node("Sub", [q + "src_half", p + "half"], [q + "src"]),
            helper.make_node("Floor", [q + "src"], [q + "base_f"]),
            helper.make_node("Sub", [q + "src", q + "base_f"], [q + "frac"]),
            helper.make_node("Cast", [q + "base_f"], [q + "base"], to=INT64),
            # tap indices [4, n_out], clamped to [0, n_in - 1]
            helper.make_node("Unsqueeze", [q + "base", p + "axis0"], [q + "base_row"]),
            helper.make_node("Add", [q + "base_row", p + "taps_i"], [q + "taps_raw"]),
            helper.make_node("Clip", [q + "taps_raw", p + "i0", q + "last"], [q + "taps"]),
            # Keys weights [4, n_out] of the taps, at distance d = |frac - k|
            helper.make_node("Unsqueeze", [q + "frac", p + "axis0"], [q + "frac_row"]),
            helper.make_node("Sub", [q + "frac_row", p + "taps_f"], [q + "diff"]),
            helper.make_node("Abs", [q + "diff"], [q + "d"]),
            helper.make_node("Mul", [q + "d", q + "d"], [q + "d2"]),
            helper.make_node("Mul", [q + "d", p + "a_plus_2"], [q + "near1"]),
            helper.make_node("Sub", [q + "near1", p + "a_plus_3"], [q + "near2"]),
            helper.make_node("Mul", [q + "near2", q + "d2"], [q + "near3"]),
            helper.make_node("Add", [q + "near3", p + "one"], [q + "near"]),
            helper.make_node("Mul", [q + "d", p + "a"], [q + "far1"]),
            helper.make_node("Sub", [q + "far1", p + "a_times_5"], [q + "far2"]),
            helper.make_node("Mul", [q + "far2", q + "d"], [q + "far3"]),
            helper.make_node("Add", [q + "far3", p + "a_times_8"], [q + "far4"]),
            helper.make_node("Mul", [q + "far4", q + "d"], [q + "far5"]),
            helper.make_node("Sub", [q + "far5", p + "a_times_4"], [q + "far"]),
            helper.make_node("LessOrEqual", [q + "d", p + "one"], [q + "is_near"]),
            helper.make_node("Where", [q + "is_near", q + "near", q + "far"], [q + "weights"]),
            # [4, 1, 1, n_out, 1]: tap k's weights broadcast as [1, 1, n_out, 1]
            helper.make_node("Reshape", [q + "weights", p + "w_shape"], [q + "weights_b"]),
        ]
        # resample along axis 2: sum over the 4 taps of w_k * Gather(src, taps_k)
        for k in range(4):
            kk = p + "i" + str(k)
            nodes += [
                helper.make_node("Gather", [q + "taps", kk], [q + f"tap{k}"], axis=0),
                helper.make_node("Gather", [q + "weights_b", kk], [q + f"w{k}"], axis=0),
                helper.make_node("Gather", [src, q + f"tap{k}"], [q + f"g{k}"], axis=2),
                helper.make_node("Mul", [q + f"g{k}", q + f"w{k}"], [q + f"t{k}"]),
            ]
        nodes += [
            helper.make_node("Add", [q + "t0", q + "t1"], [q + "t01"]),
            helper.make_node("Add", [q + "t01", q + "t2"], [q + "t012"]),
            helper.make_node("Add", [q + "t012", q + "t3"], [dst]),
        ]
    return nodes, inits


def clip01(x, out):
    """Node: out = Clip(x, 0, 1). Uses the initializers `zero` and `one`."""
    return helper.make_node("Clip", [x, "zero", "one"], [out])


def finish(graph, kind, description):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="gst-imsm training/make_reference_models.py",
        producer_version=CONTRACT,
        doc_string=description,
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "imsm.contract": CONTRACT,
            "imsm.kind": "reference",
            "imsm.graph": kind,
            "imsm.description": description,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def resize_linear(x, out_size, out, prefix):
    """Nodes and initializers: out = Resize(x, sizes = x's [N, C] ++ out_size) with
    mode "linear", half_pixel, no antialiasing (coordinates below 0 clamp to the edge, as
    in PyTorch's bilinear with align_corners=False): at exactly 2x the 2x2 mean."""
    inits = [const(prefix + "nc_start", [0], np.int64), const(prefix + "nc_end", [2], np.int64)]
    nodes = [
        helper.make_node("Shape", [x], [prefix + "shape"]),
        helper.make_node("Slice", [prefix + "shape", prefix + "nc_start", prefix + "nc_end"], [prefix + "nc"]),
        helper.make_node("Concat", [prefix + "nc", out_size], [prefix + "sizes"], axis=0),
        helper.make_node("Resize", [x, "", "", prefix + "sizes"], [out], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
    ]
    return nodes, inits


COVERS = ("bicubic", "bilinear")


def make_down(cover="bicubic"):
    """LR frame = clip(bicubic(sum_k w_k slot_k / sum_k w_k)); with cover="bilinear" the
    half-pixel bilinear resize (resize_linear) instead of the bicubic (the cover of
    trained graphs with net cover_filter "bilinear", training/imsm/models.py).

    a_k   = |offset_k * ratio|            (distance to the instant in HR frame intervals)
    lin_k = valid_k * relu(1 - a_k)       (linear interpolation between the bracketing frames)
    fb_k  = valid_k * 1e-4 / (1 + a_k)    (fallback: nearest frames weigh most)
    w     = lin if sum(lin) > 0 else fb

    Contract v2: slot k is its own input frame{k} [1, 3, H, W]; the blend is a Sum over
    the seven weighted inputs (no 21-channel window tensor is built).
    """
    frame_inputs = [f"frame{k}" for k in range(SLOTS)]
    inputs = [helper.make_tensor_value_info(n, FLOAT, [1, 3, "H", "W"]) for n in frame_inputs] + [
        helper.make_tensor_value_info("offsets", FLOAT, [1, SLOTS]),
        helper.make_tensor_value_info("valid", FLOAT, [1, SLOTS]),
        helper.make_tensor_value_info("ratio", FLOAT, [1]),
        helper.make_tensor_value_info("out_size", INT64, [2]),
    ]
    outputs = [helper.make_tensor_value_info("lr", FLOAT, [1, 3, "h", "w"])]
    inits = [
        const("zero", 0.0, np.float32),
        const("one", 1.0, np.float32),
        const("fallback", 1e-4, np.float32),
        const("tiny", 1e-12, np.float32),
        const("w_shape", [1, SLOTS, 1, 1], np.int64),
        const("axis1", [1], np.int64),
    ]
    resize = {"bicubic": resize_bicubic, "bilinear": resize_linear}[cover]
    resize_nodes, resize_inits = resize("blended", "out_size", "resized", "lr_")
    inits += resize_inits
    slot_weights = [f"w{k}" for k in range(SLOTS)]
    weighted = [f"weighted{k}" for k in range(SLOTS)]
    nodes = [
        # per-slot weights, [1, 7]
        helper.make_node("Mul", ["offsets", "ratio"], ["hr_offsets"]),
        helper.make_node("Abs", ["hr_offsets"], ["dist"]),
        helper.make_node("Sub", ["one", "dist"], ["one_minus_dist"]),
        helper.make_node("Relu", ["one_minus_dist"], ["tent"]),
        helper.make_node("Mul", ["valid", "tent"], ["lin"]),
        helper.make_node("Add", ["one", "dist"], ["one_plus_dist"]),
        helper.make_node("Div", ["fallback", "one_plus_dist"], ["near"]),
        helper.make_node("Mul", ["valid", "near"], ["fb"]),
        helper.make_node("ReduceSum", ["lin", "axis1"], ["lin_sum"], keepdims=1),
        helper.make_node("Greater", ["lin_sum", "zero"], ["bracketed"]),
        helper.make_node("Where", ["bracketed", "lin", "fb"], ["w"]),
        helper.make_node("ReduceSum", ["w", "axis1"], ["w_sum"], keepdims=1),
        helper.make_node("Max", ["w_sum", "tiny"], ["w_norm"]),
        helper.make_node("Div", ["w", "w_norm"], ["weights"]),
        # [1, 7] -> [1, 7, 1, 1] -> seven [1, 1, 1, 1] per-slot scalars
        helper.make_node("Reshape", ["weights", "w_shape"], ["weights4"]),
        helper.make_node("Split", ["weights4"], slot_weights, axis=1),
        # weighted sum over the seven frame inputs [1, 3, H, W] -> [1, 3, H, W]
        *[helper.make_node("Mul", [f, wk], [out]) for f, wk, out in zip(frame_inputs, slot_weights, weighted)],
        helper.make_node("Sum", weighted, ["blended"]),
        # space
        *resize_nodes,
        clip01("resized", "lr"),
    ]
    graph = helper.make_graph(nodes, "imsm_down_reference", inputs, outputs, inits)
    space = {
        "bicubic": "separable bicubic (Keys a=-0.5) via Gather (half_pixel, edge-clamped taps)",
        "bilinear": "bilinear Resize (half_pixel, no antialiasing)",
    }[cover]
    return finish(
        graph,
        "down",
        "REFERENCE down graph (no learning): linear blend of the two HR frames around "
        "the LR instant (fallback: weights 1e-4/(1+|d|) when no frame lies within one "
        f"HR interval), then {space} to out_size, clipped to [0,1].",
    )


def make_reveal():
    """features = lr (C = 3, same size)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["lr"], ["features"])],
        "imsm_reveal_reference",
        [helper.make_tensor_value_info("lr", FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("features", FLOAT, [1, 3, "h", "w"])],
    )
    return finish(
        graph,
        "reveal",
        "REFERENCE reveal graph (no learning): features are the LR frame itself (C = 3).",
    )


def make_synth():
    """frame = clip(bicubic((1 - t) * feat0 + t * feat1))."""
    inputs = [
        helper.make_tensor_value_info("feat0", FLOAT, [1, 3, "h", "w"]),
        helper.make_tensor_value_info("feat1", FLOAT, [1, 3, "h", "w"]),
        helper.make_tensor_value_info("t", FLOAT, [1]),
        helper.make_tensor_value_info("out_size", INT64, [2]),
    ]
    outputs = [helper.make_tensor_value_info("frame", FLOAT, [1, 3, "H", "W"])]
    inits = [
        const("zero", 0.0, np.float32),
        const("one", 1.0, np.float32),
    ]
    resize_nodes, resize_inits = resize_bicubic("blended", "out_size", "resized", "frame_")
    inits += resize_inits
    nodes = [
        helper.make_node("Sub", ["one", "t"], ["one_minus_t"]),
        helper.make_node("Mul", ["feat0", "one_minus_t"], ["part0"]),
        helper.make_node("Mul", ["feat1", "t"], ["part1"]),
        helper.make_node("Add", ["part0", "part1"], ["blended"]),
        *resize_nodes,
        clip01("resized", "frame"),
    ]
    graph = helper.make_graph(nodes, "imsm_synth_reference", inputs, outputs, inits)
    return finish(
        graph,
        "synth",
        "REFERENCE synth graph (no learning): linear blend (1-t)*feat0 + t*feat1, then "
        "separable bicubic (Keys a=-0.5) via Gather (half_pixel, edge-clamped taps) to out_size, "
        "clipped to [0,1].",
    )


BUILDERS = {"down": make_down, "reveal": make_reveal, "synth": make_synth}


def generate(out_dir, cover="bicubic"):
    """Write the three graphs into out_dir; return {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name, build in BUILDERS.items():
        path = os.path.join(out_dir, name + ".onnx")
        model = build(cover) if name == "down" else build()
        data = model.SerializeToString()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        written[name] = path
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None,
                        help="output directory (default: models/reference, or models/reference-bilinear "
                             "with --cover bilinear)")
    parser.add_argument("--cover", choices=COVERS, default="bicubic",
                        help="the down graph's spatial filter (default: %(default)s)")
    args = parser.parse_args(argv)
    out = args.out or (DEFAULT_OUT if args.cover == "bicubic" else DEFAULT_OUT + "-" + args.cover)
    for path in generate(out, args.cover).values():
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
