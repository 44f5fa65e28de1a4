"""Export the trained system as the three graphs of the model contract (models/README.md,
version 2: down takes the window as frame0 .. frame6): ONNX opset 17, IR version 8, dynamic
H/W, the contract's input/output names and types, and the metadata props imsm.contract /
imsm.kind / imsm.graph / imsm.description."""

import io
import os
import warnings

import onnx
import torch

from . import CONTRACT, DOWN_FRAME_INPUTS, IR_VERSION, OPSET, SLOTS
from .models import DownGraph, RevealGraph, SynthGraph, feature_channels

DESCRIPTIONS = {
    "down": "TRAINED imsm down: reference cover (bicubic of the linear blend at the LR instant) "
            "plus an invertible coupling network (IMSM forward) that hides an encoder's latent of "
            "the window's motion and detail (7 slots resampled at -0.75..0.75 LR intervals) in it.",
    "reveal": "TRAINED imsm reveal: IMSM inverse (same weights as down) of the received LR frame, "
              "then a feature head; features = [lr (3 ch), learned features]; optional imsm hint.",
    "synth": "TRAINED imsm synth: both frames' features moved by whole pixels (shift0, shift1: the "
             "engine's global-motion alignment; then per pixel, index0, index1: its local-motion "
             "alignment), then a continuous decoder; two-scale CNN over them and "
             "t -> flows, occlusion blend, LR correction; bicubic to out_size plus a per-pixel MLP "
             "over bilinearly resized features and the scale ratio.",
}


def _example(system, graph, H=37, W=53, h=19, w=27):
    g = torch.Generator().manual_seed(0)
    if graph == "down":
        off = torch.tensor([[-0.8, -0.4, 0.0, 0.4, 0.8, 0.0, 0.0]])
        val = torch.tensor([[1, 1, 1, 1, 1, 0, 0]], dtype=torch.float32)
        frames = torch.rand(1, 3 * SLOTS, H, W, generator=g)
        return (*(f.clone() for f in frames.split(3, 1)), off, val, torch.tensor([2.5]),
                torch.tensor([h, w], dtype=torch.int64), torch.tensor([0.0]))
    c = feature_channels(system.cfg)
    if graph == "reveal":
        return (torch.rand(1, 3, h, w, generator=g), torch.tensor([1.0]))
    return (torch.rand(1, c, h, w, generator=g), torch.rand(1, c, h, w, generator=g), torch.tensor([0.4]),
            torch.tensor([H, W], dtype=torch.int64), torch.tensor([2, -3], dtype=torch.int64),
            torch.tensor([-1, 4], dtype=torch.int64), torch.randperm(h * w, generator=g),
            torch.randperm(h * w, generator=g))


SPECS = {
    # contract v2: the window as seven [1, 3, H, W] inputs frame0 .. frame6 sharing H and W
    "down": (DownGraph, [*DOWN_FRAME_INPUTS, "offsets", "valid", "ratio", "out_size", "quality"], ["lr"],
             {**{f: {2: "H", 3: "W"} for f in DOWN_FRAME_INPUTS}, "lr": {2: "h", 3: "w"}}),
    "reveal": (RevealGraph, ["lr", "imsm"], ["features"],
               {"lr": {2: "h", 3: "w"}, "features": {2: "h", 3: "w"}}),
    "synth": (SynthGraph, ["feat0", "feat1", "t", "out_size", "shift0", "shift1", "index0", "index1"],
              ["frame"],
              {"feat0": {2: "h", 3: "w"}, "feat1": {2: "h", 3: "w"}, "index0": {0: "hw"}, "index1": {0: "hw"},
               "frame": {2: "H", 3: "W"}}),
}


OUT_SHAPES = {"down": {"lr": [1, 3, "h", "w"]}, "reveal": {"features": [1, "C", "h", "w"]},
              "synth": {"frame": [1, 3, "H", "W"]}}


def _fix_shapes(model, system, graph):
    """Declare the outputs' shapes exactly as the contract writes them (the exporter leaves
    some batch dimensions symbolic)."""
    for o in model.graph.output:
        want = OUT_SHAPES[graph][o.name]
        dims = o.type.tensor_type.shape.dim
        for d, v in zip(dims, want):
            if v == "C":
                v = feature_channels(system.cfg)
            if isinstance(v, int):
                d.Clear()
                d.dim_value = v
            else:
                d.Clear()
                d.dim_param = v
    for i in model.graph.input:
        d0 = i.type.tensor_type.shape.dim
        if len(d0) == 4 and not d0[0].HasField("dim_value"):
            d0[0].Clear()
            d0[0].dim_value = 1


def describe(system, graph):
    """The graph's description; a down graph with a bilinear cover says so."""
    text = DESCRIPTIONS[graph]
    if graph == "down" and system.down.cover_filter == "bilinear":
        text = text.replace("reference cover (bicubic of the linear blend at the LR instant)",
                            "cover = bilinear downscale (half-pixel, no antialiasing) of the linear blend at the LR instant")
    return text


def export_graph(system, graph, path, kind, module=None, description=None):
    """`graph` of `system` to `path`; `module` (with `description`) replaces the graph's usual
    wrapper under the same contract names (training/probe_channel.py's diagnostic synth)."""
    cls, inputs, outputs, dyn = SPECS[graph]
    module = (module if module is not None else cls(system)).eval()
    args = _example(system, graph)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module, args, buf, opset_version=OPSET, dynamo=False, input_names=inputs,
                              output_names=outputs, dynamic_axes=dyn, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    _fix_shapes(model, system, graph)
    model.ir_version = IR_VERSION
    model.producer_name = "gst-imsm training/imsm/export.py"
    model.producer_version = CONTRACT
    model.graph.name = f"imsm_{graph}_{kind}"
    description = description or describe(system, graph)
    model.doc_string = description
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {
        "imsm.contract": CONTRACT,
        "imsm.kind": kind,
        "imsm.graph": graph,
        "imsm.description": description,
    })
    onnx.checker.check_model(model, full_check=True)
    for op in model.opset_import:
        if op.domain not in ("", "ai.onnx"):
            raise RuntimeError(f"custom domain {op.domain} in {graph}")
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)
    return path


def export_all(system, out_dir, kind):
    os.makedirs(out_dir, exist_ok=True)
    system = system.cpu().eval()
    return {g: export_graph(system, g, os.path.join(out_dir, g + ".onnx"), kind) for g in SPECS}
