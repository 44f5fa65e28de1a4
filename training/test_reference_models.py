#!/usr/bin/env python3
"""Tests of the reference ONNX graphs in models/ against the contract in models/README.md.

Run: python3 training/test_reference_models.py   (exits non-zero on failure)
 or: python3 -m pytest training/test_reference_models.py

Uses onnxruntime on the CPU. Expected images are computed with an independent
numpy implementation of bicubic resizing (a = -0.5, half_pixel, edge-clamped taps);
the graphs' Gather-based bicubic is also checked against onnxruntime's own
Resize(mode="cubic"), which it replaces. main() also prints the synth graph's speed
(for the record, not asserted).
"""

import os
import sys
import tempfile
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference_models as gen  # noqa: E402
import make_colour_graphs as colour_gen  # noqa: E402

MODELS = os.path.join(os.path.dirname(HERE), "models", "reference")
SLOTS = 7
TOL = 1e-5

# name -> (element type, shape as onnxruntime reports it). `str`: a free dimension that
# must be dynamic (symbolic); a string such as "H": a dynamic dimension of exactly that
# name (contract v2: frame0 .. frame6 share H and W); None: the graph's choice.
CONTRACT = {
    "down": (
        {
            **{f"frame{k}": ("tensor(float)", [1, 3, "H", "W"]) for k in range(SLOTS)},
            "offsets": ("tensor(float)", [1, 7]),
            "valid": ("tensor(float)", [1, 7]),
            "ratio": ("tensor(float)", [1]),
            "out_size": ("tensor(int64)", [2]),
        },
        {"lr": ("tensor(float)", [1, 3, str, str])},
        {"quality": "tensor(float)"},
    ),
    "reveal": (
        {"lr": ("tensor(float)", [1, 3, str, str])},
        {"features": ("tensor(float)", [1, None, None, None])},
        {"imsm": "tensor(float)"},
    ),
    "synth": (
        {
            "feat0": ("tensor(float)", [1, None, None, None]),
            "feat1": ("tensor(float)", [1, None, None, None]),
            "t": ("tensor(float)", [1]),
            "out_size": ("tensor(int64)", [2]),
        },
        {"frame": ("tensor(float)", [1, 3, str, str])},
        {},
    ),
}

_sessions = {}


def session(name):
    if name not in _sessions:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        _sessions[name] = ort.InferenceSession(
            os.path.join(MODELS, name + ".onnx"), opts, providers=["CPUExecutionProvider"]
        )
    return _sessions[name]


# ---------------------------------------------------------------- numpy reference


def _cubic_weights(frac, a=-0.5):
    """Keys cubic kernel (ONNX Resize, cubic_coeff_a = a): weights of the taps at
    floor(x) - 1, floor(x), floor(x) + 1, floor(x) + 2 for frac = x - floor(x)."""
    d = np.abs(np.stack([1 + frac, frac, 1 - frac, 2 - frac], axis=-1))
    return np.where(
        d <= 1,
        (a + 2) * d**3 - (a + 3) * d**2 + 1,
        np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0),
    )


def _resize_matrix(n_in, n_out, coord_dtype):
    """[n_out, n_in] matrix of 1-D bicubic resampling: half_pixel coordinates
    x = (i + 0.5) / (n_out / n_in) - 0.5, taps clamped to the edge (exclude_outside = 0).

    coord_dtype float32 maps coordinates the way the graphs (and onnxruntime's Resize)
    do: scale = float32(n_out) / float32(n_in), x in float32. float64 is the exact maths.
    They differ by up to ~5e-5 on 600-pixel axes.
    """
    f = np.dtype(coord_dtype).type
    scale = f(n_out) / f(n_in)
    x = (np.arange(n_out).astype(coord_dtype) + f(0.5)) / scale - f(0.5)
    base = np.floor(x)
    w = _cubic_weights((x - base).astype(np.float64))
    m = np.zeros((n_out, n_in))
    for k, off in enumerate((-1, 0, 1, 2)):
        idx = np.clip(base.astype(np.int64) + off, 0, n_in - 1)
        np.add.at(m, (np.arange(n_out), idx), w[:, k])
    return m


def ref_resize(img, h, w, coord_dtype=np.float32):
    """img [1, C, H, W] -> [1, C, h, w], bicubic, float64 pixel maths."""
    mh = _resize_matrix(img.shape[2], h, coord_dtype)
    mw = _resize_matrix(img.shape[3], w, coord_dtype)
    return np.matmul(np.matmul(mh, img.astype(np.float64)), mw.T)


def ref_down_weights(offsets, valid, ratio):
    """The reference down graph's slot weights (see make_reference_models.make_down)."""
    dist = np.abs(offsets.astype(np.float64) * ratio)
    lin = valid * np.maximum(1 - dist, 0)
    fb = valid * 1e-4 / (1 + dist)
    w = lin if lin.sum() > 0 else fb
    return w / max(w.sum(), 1e-12)


# ---------------------------------------------------------------- helpers


def rand_img(rng, h, w, c=3):
    return rng.random((1, c, h, w), dtype=np.float32)


def checker(h, w):
    """High-contrast image (makes bicubic overshoot, so the clip is exercised)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((yy // 2 + xx // 3) % 2).astype(np.float32)
    return np.stack([base, 1 - base, base])[None]


def window(slots, offsets):
    """Pack a down window: slots = list of [1,3,H,W] (valid ones), offsets in LR intervals.

    Returns (frames, offsets, valid) with frames = list of the 7 slots' [1,3,H,W] arrays
    (fed as frame0 .. frame6, contract v2). Empty slots hold a copy of the last valid
    slot, offset 0, valid 0 (as the element does).
    """
    n = len(slots)
    assert 1 <= n <= SLOTS and len(offsets) == n
    frames = [np.array(x, np.float32) for x in list(slots) + [slots[-1]] * (SLOTS - n)]
    off = np.zeros((1, SLOTS), np.float32)
    off[0, :n] = offsets
    val = np.zeros((1, SLOTS), np.float32)
    val[0, :n] = 1
    return frames, off, val


def run_down(frames, offsets, valid, ratio, out_hw):
    assert len(frames) == SLOTS
    return session("down").run(
        ["lr"],
        {
            **{f"frame{k}": f for k, f in enumerate(frames)},
            "offsets": offsets,
            "valid": valid,
            "ratio": np.array([ratio], np.float32),
            "out_size": np.array(out_hw, np.int64),
        },
    )[0]


def run_synth(f0, f1, t, out_hw):
    return session("synth").run(
        ["frame"],
        {"feat0": f0, "feat1": f1, "t": np.array([t], np.float32), "out_size": np.array(out_hw, np.int64)},
    )[0]


def assert_close(got, want, what, tol=TOL):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    assert err < tol, f"{what}: max abs err {err:.3g} >= {tol}"


def assert_in_range(x, what):
    assert np.all(np.isfinite(x)), f"{what}: non-finite values"
    assert x.min() >= 0.0 and x.max() <= 1.0, f"{what}: range [{x.min()}, {x.max()}] not in [0,1]"


# The window of LR frame j at 60 -> 24 fps (r = 2.5) where the LR instant lies 30 % of
# the way from HR frame A to HR frame B: HR offsets -2.3, -1.3, -0.3 (A), +0.7 (B), +1.7.
RATIO = 2.5
HR_OFFSETS = [-2.3, -1.3, -0.3, 0.7, 1.7]
LR_OFFSETS = [o / RATIO for o in HR_OFFSETS]
A_SLOT, B_SLOT = 2, 3

SIZES = [  # (H, W) in -> (h, w) out
    ((359, 641), (359, 641)),
    ((359, 641), (239, 427)),
    ((16, 16), (8, 8)),
    ((16, 16), (1, 1)),
    ((16, 16), (16, 16)),
    ((9, 7), (21, 33)),
    ((1, 1), (1, 1)),
    ((1, 1), (3, 5)),
    ((2, 3), (1, 1)),
]


# ---------------------------------------------------------------- tests


def test_io_contract():
    for name, (inputs, outputs, optional) in CONTRACT.items():
        s = session(name)
        got_in = {i.name: i for i in s.get_inputs()}
        got_out = {o.name: o for o in s.get_outputs()}
        required = set(inputs)
        assert required <= set(got_in), f"{name}: missing inputs {required - set(got_in)}"
        extra = set(got_in) - required - set(optional)
        assert not extra, f"{name}: inputs outside the contract {extra}"
        assert set(got_out) == set(outputs), f"{name}: outputs {sorted(got_out)} != {sorted(outputs)}"
        for io, want, got in (("input", inputs, got_in), ("output", outputs, got_out)):
            for n, (ty, shape) in want.items():
                assert got[n].type == ty, f"{name} {io} {n}: type {got[n].type} != {ty}"
                assert len(got[n].shape) == len(shape), f"{name} {io} {n}: rank {got[n].shape}"
                for d, w in zip(got[n].shape, shape):
                    if w is None:
                        continue
                    if w is str:
                        assert not isinstance(d, int), f"{name} {io} {n}: fixed dim in {got[n].shape}"
                    elif isinstance(w, str):
                        assert d == w, f"{name} {io} {n}: dim {d!r} is not the symbolic {w!r} in {got[n].shape}"
                    else:
                        assert d == w, f"{name} {io} {n}: shape {got[n].shape} != {shape}"
        for n, ty in optional.items():
            if n in got_in:
                assert got_in[n].type == ty and list(got_in[n].shape) == [1], f"{name}: optional {n}"
        # the reference graphs declare none of the optional inputs
        assert not (set(got_in) & set(optional)), f"{name}: reference graph declares optional inputs"


def test_metadata_and_format():
    for name in CONTRACT:
        path = os.path.join(MODELS, name + ".onnx")
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        assert model.ir_version == 8, model.ir_version
        assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)], model.opset_import
        props = {p.key: p.value for p in model.metadata_props}
        assert props.get("imsm.contract") == "2", props
        assert props.get("imsm.kind") == "reference", props
        assert props.get("imsm.graph") == name, props
        assert props.get("imsm.description"), props
        # ONNX Runtime's CPU Resize(cubic) is 10-40x slower than the Gather-based bicubic
        ops = {n.op_type for n in model.graph.node}
        assert "Resize" not in ops, f"{name}: uses Resize"
        meta = session(name).get_modelmeta().custom_metadata_map
        assert meta.get("imsm.graph") == name, meta


def test_down_reads_each_frame_once():
    """Contract v2: each frame input is used once, by a Mul with its slot's weight (summed
    afterwards); the graph builds no 21-channel window (no Concat/Reshape of frames)."""
    model = onnx.load(os.path.join(MODELS, "down.onnx"))
    for k in range(SLOTS):
        users = [n for n in model.graph.node if f"frame{k}" in n.input]
        assert [n.op_type for n in users] == ["Mul"], (k, [n.op_type for n in users])
    sums = [n for n in model.graph.node if n.op_type == "Sum"]
    assert len(sums) == 1 and len(sums[0].input) == SLOTS, sums


def test_down_blend_30_percent():
    rng = np.random.default_rng(1)
    for (H, W), (h, w) in SIZES:
        slots = [rand_img(rng, H, W) for _ in HR_OFFSETS]
        frames, off, val = window(slots, LR_OFFSETS)
        got = run_down(frames, off, val, RATIO, (h, w))
        blend = 0.7 * slots[A_SLOT].astype(np.float64) + 0.3 * slots[B_SLOT]
        want = np.clip(ref_resize(blend, h, w), 0, 1)
        assert_close(got, want, f"down 0.7A+0.3B {H}x{W}->{h}x{w}")
        exact = np.clip(ref_resize(blend, h, w, np.float64), 0, 1)
        assert_close(got, exact, f"down vs float64 maths {H}x{W}->{h}x{w}", tol=1e-4)
        if (h, w) == (H, W):
            assert_close(got, blend, f"down identity size {H}x{W}")
        assert_in_range(got, "down")


def test_down_window_layouts():
    rng = np.random.default_rng(2)
    H, W = 12, 10
    # instant exactly on an HR frame -> that frame, whatever surrounds it
    slots = [rand_img(rng, H, W) for _ in range(3)]
    frames, off, val = window(slots, [-1 / RATIO, 0.0, 1 / RATIO])
    assert_close(run_down(frames, off, val, RATIO, (H, W)), slots[1], "down on-frame")
    # only frame A so far (start/end of stream, 1 slot): A alone
    frames, off, val = window(slots[:1], [-0.3 / RATIO])
    assert_close(run_down(frames, off, val, RATIO, (H, W)), slots[0], "down single slot")
    # empty slots are ignored even when they hold garbage at offset 0
    slots5 = [rand_img(rng, H, W) for _ in HR_OFFSETS]
    frames, off, val = window(slots5, LR_OFFSETS)
    for k in range(len(slots5), SLOTS):
        frames[k][:] = 1e3
    got = run_down(frames, off, val, RATIO, (H, W))
    assert_close(got, 0.7 * slots5[A_SLOT].astype(np.float64) + 0.3 * slots5[B_SLOT], "down masked")
    # no frame within one HR interval (a gap): fallback weights, nearest frames weigh most
    off_gap = [-1.5 / RATIO, 2.0 / RATIO]
    frames, off, val = window(slots[:2], off_gap)
    wts = ref_down_weights(off, val, RATIO)[0]
    assert abs(wts.sum() - 1) < 1e-9 and wts[0] > wts[1] > 0
    want = wts[0] * slots[0].astype(np.float64) + wts[1] * slots[1]
    assert_close(run_down(frames, off, val, RATIO, (H, W)), want, "down fallback")
    # time upsampling (r = 0.8 < 1): instant 40 % of the way from A to B (HR offsets
    # -0.4, +0.6 -> LR offsets -0.5, +0.75)
    r = 0.8
    frames, off, val = window(slots[:2], [-0.4 / r, 0.6 / r])
    got = run_down(frames, off, val, r, (H, W))
    assert_close(got, 0.6 * slots[0].astype(np.float64) + 0.4 * slots[1], "down r<1")
    # 7 valid slots, r = 3.5: the graph uses every slot position
    r = 3.5
    slots7 = [rand_img(rng, H, W) for _ in range(SLOTS)]
    hr = np.arange(SLOTS) - 3 + 0.2  # instant 80 % of the way from slot 2 to slot 3
    frames, off, val = window(slots7, list(hr / r))
    want = ref_down_weights(off, val, r)[0]
    assert abs(want[2] - 0.2) < 1e-6 and abs(want[3] - 0.8) < 1e-6
    assert_close(run_down(frames, off, val, r, (H, W)), 0.2 * slots7[2].astype(np.float64) + 0.8 * slots7[3], "down 7 slots")


def test_constant_stays_constant():
    for (H, W), (h, w) in SIZES:
        for c in (0.0, 0.37, 1.0):
            img = np.full((1, 3, H, W), c, np.float32)
            frames, off, val = window([img, img], LR_OFFSETS[A_SLOT:B_SLOT + 1])
            assert_close(run_down(frames, off, val, RATIO, (h, w)), np.full((1, 3, h, w), c), "down const")
            assert_close(run_synth(img, img, 0.6, (h, w)), np.full((1, 3, h, w), c), "synth const")


def test_reveal_identity():
    rng = np.random.default_rng(3)
    for h, w in ((1, 1), (239, 427), (8, 13)):
        lr = rand_img(rng, h, w)
        (feat,) = session("reveal").run(["features"], {"lr": lr})
        assert feat.shape == (1, 3, h, w) and np.array_equal(feat, lr)


def test_synth_blend_and_resize():
    rng = np.random.default_rng(4)
    for (h, w), (H, W) in [((239, 427), (359, 641)), ((8, 8), (16, 16)), ((16, 16), (8, 8)), ((1, 1), (3, 5)), ((5, 4), (5, 4)), ((9, 7), (1, 1))]:
        f0, f1 = rand_img(rng, h, w), rand_img(rng, h, w)
        for t, want_pre in ((0.0, f0), (1.0, f1), (0.25, 0.75 * f0.astype(np.float64) + 0.25 * f1)):
            got = run_synth(f0, f1, t, (H, W))
            want = np.clip(ref_resize(want_pre, H, W), 0, 1)
            assert_close(got, want, f"synth t={t} {h}x{w}->{H}x{W}")
            if (h, w) == (H, W):
                assert_close(got, want_pre, f"synth identity size t={t}")
            assert_in_range(got, "synth")


def test_outputs_in_range_with_overshoot():
    for (H, W), (h, w) in [((40, 60), (97, 131)), ((64, 64), (21, 23))]:
        img = checker(H, W)
        raw = ref_resize(img, h, w)
        assert raw.min() < -1e-3 and raw.max() > 1 + 1e-3  # bicubic does overshoot here
        frames, off, val = window([img, 1 - img], LR_OFFSETS[A_SLOT:B_SLOT + 1])
        assert_in_range(run_down(frames, off, val, RATIO, (h, w)), "down overshoot")
        out = run_synth(img, img, 0.0, (h, w))
        assert_in_range(out, "synth overshoot")
        assert_close(out, np.clip(raw, 0, 1), "synth overshoot clip")


def _ort_cubic_resize_session():
    """A one-node graph: onnxruntime's Resize(cubic, a=-0.5, half_pixel, exclude_outside=0),
    which the reference graphs used before their Gather-based bicubic replaced it."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Concat", ["nc", "out_size"], ["sizes"], axis=0),
        helper.make_node(
            "Resize", ["x", "", "", "sizes"], ["y"],
            mode="cubic", cubic_coeff_a=-0.5, coordinate_transformation_mode="half_pixel", exclude_outside=0,
        ),
    ]
    io = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"]),
        helper.make_tensor_value_info("out_size", TensorProto.INT64, [2]),
    ]
    graph = helper.make_graph(
        nodes, "ort_cubic", io, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [gen.const("nc", [1, 3], np.int64)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def test_matches_ort_cubic_resize():
    """Same pixels as onnxruntime's Resize(cubic): it also clamps the taps to the edge."""
    resize = _ort_cubic_resize_session()
    rng = np.random.default_rng(5)
    pairs = SIZES + [((5, 5), (64, 3)), ((3, 2), (2, 3)), ((64, 48), (17, 101))]
    pairs += [(tuple(rng.integers(1, 64, 2)), tuple(rng.integers(1, 96, 2))) for _ in range(20)]
    for (h, w), (H, W) in pairs:
        for img in (rand_img(rng, h, w), checker(h, w)):
            (want,) = resize.run(None, {"x": img, "out_size": np.array([H, W], np.int64)})
            assert_close(run_synth(img, img, 0.0, (H, W)), np.clip(want, 0, 1), f"synth vs Resize {h}x{w}->{H}x{W}")
            frames, off, val = window([img], [0.0])
            got = run_down(frames, off, val, RATIO, (H, W))
            assert_close(got, np.clip(want, 0, 1), f"down vs Resize {h}x{w}->{H}x{W}")


def test_generator_deterministic_and_in_sync():
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        p1, p2 = gen.generate(d1), gen.generate(d2)
        assert sorted(p1) == ["down", "reveal", "synth"]
        for name in p1:
            b1 = open(p1[name], "rb").read()
            b2 = open(p2[name], "rb").read()
            assert b1 == b2, f"{name}: generator output differs between runs"
            committed = open(os.path.join(MODELS, name + ".onnx"), "rb").read()
            assert b1 == committed, (
                f"models/reference/{name}.onnx is out of date: run python3 training/make_reference_models.py"
            )


def _linear_matrix(n_in, n_out):
    """[n_out, n_in] matrix of 1-D linear resampling, half_pixel, no antialiasing:
    x = (i + 0.5) * n_in / n_out - 0.5 clamped to [0, n_in - 1] (PyTorch's bilinear with
    align_corners=False; onnxruntime's Resize linear)."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = x - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1 - t)
    np.add.at(m, (np.arange(n_out), i1), t)
    return m


def test_bilinear_reference_down():
    """models/reference-bilinear: the same blend, then a bilinear resize (at 2x the 2x2
    mean); reveal and synth are the bicubic reference's; generated in sync."""
    bil = os.path.join(os.path.dirname(MODELS), "reference-bilinear")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    down = ort.InferenceSession(os.path.join(bil, "down.onnx"), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    for (H, W), (h, w) in SIZES + [((40, 36), (20, 18)), ((30, 45), (20, 30))]:
        slots = [rand_img(rng, H, W) for _ in HR_OFFSETS]
        frames, off, val = window(slots, LR_OFFSETS)
        got = down.run(["lr"], {**{f"frame{k}": f for k, f in enumerate(frames)}, "offsets": off, "valid": val,
                                "ratio": np.array([RATIO], np.float32), "out_size": np.array((h, w), np.int64)})[0]
        blend = 0.7 * slots[A_SLOT].astype(np.float64) + 0.3 * slots[B_SLOT]
        want = np.clip(_linear_matrix(H, h) @ blend @ _linear_matrix(W, w).T, 0, 1)
        # float64 coordinates here, float32 in onnxruntime: up to ~3e-5 apart on 600-pixel axes
        assert_close(got, want, f"bilinear down {H}x{W}->{h}x{w}", tol=1e-4)
        if (H, W) == (2 * h, 2 * w):
            mean = blend.reshape(1, 3, h, 2, w, 2).mean(axis=(3, 5))
            assert_close(got, mean, f"bilinear down 2x mean {H}x{W}")
    with tempfile.TemporaryDirectory() as d:
        written = gen.generate(d, "bilinear")
        for name, path in written.items():
            committed = open(os.path.join(bil, name + ".onnx"), "rb").read()
            assert open(path, "rb").read() == committed, (
                f"models/reference-bilinear/{name}.onnx is out of date: "
                "run python3 training/make_reference_models.py --cover bilinear")
            if name != "down":
                assert committed == open(os.path.join(MODELS, name + ".onnx"), "rb").read(), name


def test_colour_graphs_deterministic_and_in_sync():
    # The colour graphs are built into the plugin (src/engine/colour/); their pixels are
    # checked against the host conversion by the Rust tests.
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        p1, p2 = colour_gen.generate(d1), colour_gen.generate(d2)
        assert sorted(p1) == ["rgb_to_yuv420", "yuv420_to_rgb"]
        for name in p1:
            b1 = open(p1[name], "rb").read()
            assert b1 == open(p2[name], "rb").read(), f"{name}: generator output differs between runs"
            committed = open(os.path.join(colour_gen.DEFAULT_OUT, name + ".onnx"), "rb").read()
            assert b1 == committed, (
                f"src/engine/colour/{name}.onnx is out of date: run python3 training/make_colour_graphs.py"
            )


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]


def report_speed(repeats=5):
    """Print the synth graph's time per call (median of `repeats`, one intra-op thread).
    For the record only: nothing is asserted, machines differ too much."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    synth = ort.InferenceSession(os.path.join(MODELS, "synth.onnx"), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(6)
    for (h, w), (H, W) in (((240, 426), (360, 640)), ((540, 960), (1080, 1920))):
        feed = {
            "feat0": rand_img(rng, h, w),
            "feat1": rand_img(rng, h, w),
            "t": np.array([0.3], np.float32),
            "out_size": np.array([H, W], np.int64),
        }
        synth.run(None, feed)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            synth.run(None, feed)
            times.append(time.perf_counter() - start)
        print(f"speed: synth {w}x{h} -> {W}x{H}: {1e3 * float(np.median(times)):.2f} ms per call "
              f"(median of {repeats}, 1 thread; not asserted)")


def main():
    failed = 0
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    for test in TESTS:
        try:
            test()
            print(f"PASS {test.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {test.__name__}")
            traceback.print_exc()
    print(f"{len(TESTS) - failed} passed, {failed} failed")
    report_speed()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
