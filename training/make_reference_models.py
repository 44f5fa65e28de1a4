#!/usr/bin/env python3
"""Write the REFERENCE ONNX graphs of gst-imsm: down.onnx, reveal.onnx, synth.onnx.

These graphs follow the model contract in models/README.md but learn nothing:
plain linear frame blending in time and bicubic resizing in space. They stand in
until the trained IMSM/INR graphs land; trained graphs replace the files under the
same contract.

No training, no data, no torch: the graphs are built directly with onnx.helper.
The output bytes are deterministic (same onnx version -> identical files).

Usage: python3 training/make_reference_models.py [--out DIR]   (default: <repo>/models/reference)
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
CONTRACT = "1"
SLOTS = 7  # HR frames in the down window
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "models", "reference")


def const(name, values, dtype):
    """An initializer holding a constant tensor."""
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


def resize_cubic(x, out_size, out, prefix):
    """Nodes: out = Resize(x) to sizes [1, 3] ++ out_size, bicubic a=-0.5, half_pixel.

    Uses the initializer `nc` ([1, 3], int64). `roi` and `scales` are empty because
    `sizes` is given.
    """
    return [
        helper.make_node("Concat", ["nc", out_size], [prefix + "sizes"], axis=0),
        helper.make_node(
            "Resize",
            [x, "", "", prefix + "sizes"],
            [out],
            mode="cubic",
            cubic_coeff_a=-0.5,
            coordinate_transformation_mode="half_pixel",
        ),
    ]


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


def make_down():
    """LR frame = clip(bicubic(sum_k w_k slot_k / sum_k w_k)).

    a_k   = |offset_k * ratio|            (distance to the instant in HR frame intervals)
    lin_k = valid_k * relu(1 - a_k)       (linear interpolation between the bracketing frames)
    fb_k  = valid_k * 1e-4 / (1 + a_k)    (fallback: nearest frames weigh most)
    w     = lin if sum(lin) > 0 else fb
    """
    inputs = [
        helper.make_tensor_value_info("frames", FLOAT, [1, 3 * SLOTS, "H", "W"]),
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
        const("nc", [1, 3], np.int64),
        const("slots_rgb", [1, SLOTS, 3], np.int64),
        const("w_shape", [1, SLOTS, 1, 1, 1], np.int64),
        const("hw_start", [2], np.int64),
        const("hw_end", [4], np.int64),
        const("axis1", [1], np.int64),
    ]
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
        helper.make_node("Reshape", ["weights", "w_shape"], ["weights5"]),
        # frames [1, 21, H, W] -> [1, 7, 3, H, W], weighted sum over slots -> [1, 3, H, W]
        helper.make_node("Shape", ["frames"], ["frames_shape"]),
        helper.make_node("Slice", ["frames_shape", "hw_start", "hw_end"], ["hw"]),
        helper.make_node("Concat", ["slots_rgb", "hw"], ["slots_shape"], axis=0),
        helper.make_node("Reshape", ["frames", "slots_shape"], ["slots"]),
        helper.make_node("Mul", ["slots", "weights5"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis1"], ["blended"], keepdims=0),
        # space
        *resize_cubic("blended", "out_size", "resized", "lr_"),
        clip01("resized", "lr"),
    ]
    graph = helper.make_graph(nodes, "imsm_down_reference", inputs, outputs, inits)
    return finish(
        graph,
        "down",
        "REFERENCE down graph (no learning): linear blend of the two HR frames around "
        "the LR instant (fallback: weights 1e-4/(1+|d|) when no frame lies within one "
        "HR interval), then bicubic resize (a=-0.5, half_pixel) to out_size, clipped to [0,1].",
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
        const("nc", [1, 3], np.int64),
    ]
    nodes = [
        helper.make_node("Sub", ["one", "t"], ["one_minus_t"]),
        helper.make_node("Mul", ["feat0", "one_minus_t"], ["part0"]),
        helper.make_node("Mul", ["feat1", "t"], ["part1"]),
        helper.make_node("Add", ["part0", "part1"], ["blended"]),
        *resize_cubic("blended", "out_size", "resized", "frame_"),
        clip01("resized", "frame"),
    ]
    graph = helper.make_graph(nodes, "imsm_synth_reference", inputs, outputs, inits)
    return finish(
        graph,
        "synth",
        "REFERENCE synth graph (no learning): linear blend (1-t)*feat0 + t*feat1, then "
        "bicubic resize (a=-0.5, half_pixel) to out_size, clipped to [0,1].",
    )


BUILDERS = {"down": make_down, "reveal": make_reveal, "synth": make_synth}


def generate(out_dir):
    """Write the three graphs into out_dir; return {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name, build in BUILDERS.items():
        path = os.path.join(out_dir, name + ".onnx")
        data = build().SerializeToString()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        written[name] = path
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in generate(args.out).values():
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
