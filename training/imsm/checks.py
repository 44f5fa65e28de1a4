"""Checks of trained graphs: the contract (names, types, dynamic dims, metadata), PyTorch vs
ONNX Runtime parity, and the invertibility of the IMSM."""

import numpy as np
import onnx
import onnxruntime as ort
import torch

from . import CONTRACT, DOWN_FRAME_INPUTS, SLOTS
from .models import DownGraph, RevealGraph, SynthGraph, feature_channels

# name -> (element type, shape as onnxruntime reports it); str = must be symbolic, a string
# ("H") = must be the symbolic dimension of that name, None = free. Contract v2: the down
# window is seven [1, 3, H, W] inputs frame0 .. frame6 sharing the dimensions H and W.
CONTRACT_IO = {
    "down": (
        {**{f: ("tensor(float)", [1, 3, "H", "W"]) for f in DOWN_FRAME_INPUTS},
         "offsets": ("tensor(float)", [1, 7]),
         "valid": ("tensor(float)", [1, 7]), "ratio": ("tensor(float)", [1]),
         "out_size": ("tensor(int64)", [2])},
        {"lr": ("tensor(float)", [1, 3, str, str])},
        {"quality": ("tensor(float)", [1])},
    ),
    "reveal": (
        {"lr": ("tensor(float)", [1, 3, str, str])},
        {"features": ("tensor(float)", [1, None, None, None])},
        {"imsm": ("tensor(float)", [1])},
    ),
    "synth": (
        {"feat0": ("tensor(float)", [1, None, None, None]), "feat1": ("tensor(float)", [1, None, None, None]),
         "t": ("tensor(float)", [1]), "out_size": ("tensor(int64)", [2])},
        {"frame": ("tensor(float)", [1, 3, str, str])},
        {"shift0": ("tensor(int64)", [2]), "shift1": ("tensor(int64)", [2]),
         "index0": ("tensor(int64)", [str]), "index1": ("tensor(int64)", [str])},
    ),
}


def session(path, threads=2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _shape_ok(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if w is str and not isinstance(g, str):
            return False
        if isinstance(w, str) and g != w:
            return False
        if isinstance(w, int) and g != w:
            return False
    return True


def check_contract(path, graph):
    """Raise AssertionError on any deviation from models/README.md for this graph."""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = {o.domain: o.version for o in model.opset_import}
    assert set(ops) <= {"", "ai.onnx"}, f"{graph}: custom domains {ops}"
    assert ops.get("", ops.get("ai.onnx")) == 17, f"{graph}: opset {ops}"
    props = {p.key: p.value for p in model.metadata_props}
    assert props.get("imsm.contract") == CONTRACT, props
    assert props.get("imsm.graph") == graph, props
    assert props.get("imsm.kind") not in (None, "", "reference"), props
    assert props.get("imsm.description"), props
    s = session(path)
    req, outs, opt = CONTRACT_IO[graph]
    got_in = {i.name: (i.type, i.shape) for i in s.get_inputs()}
    for name, (typ, shape) in req.items():
        assert name in got_in, f"{graph}: missing input {name}"
        assert got_in[name][0] == typ, f"{graph}: {name} type {got_in[name][0]}"
        assert _shape_ok(got_in[name][1], shape), f"{graph}: {name} shape {got_in[name][1]}"
    for name in got_in:
        assert name in req or name in opt, f"{graph}: undeclared input {name}"
        if name in opt:
            assert got_in[name][0] == opt[name][0], f"{graph}: {name} type"
    got_out = {o.name: (o.type, o.shape) for o in s.get_outputs()}
    for name, (typ, shape) in outs.items():
        assert name in got_out, f"{graph}: missing output {name}"
        assert got_out[name][0] == typ
        assert _shape_ok(got_out[name][1], shape), f"{graph}: {name} shape {got_out[name][1]}"
    meta = s.get_modelmeta().custom_metadata_map
    assert meta.get("imsm.graph") == graph
    return True


def split_frames(frames):
    """A [1, 21, H, W] window -> the seven [1, 3, H, W] slot arrays (frame0 .. frame6)."""
    assert frames.shape[:2] == (1, 3 * SLOTS), frames.shape
    return [np.ascontiguousarray(frames[:, 3 * k:3 * k + 3]) for k in range(SLOTS)]


def frame_feeds(frames):
    """The down graph's frame inputs (contract v2) from a [1, 21, H, W] window or from a
    sequence of seven [1, 3, H, W] arrays: {"frame0": ..., ..., "frame6": ...}."""
    slots = split_frames(frames) if isinstance(frames, np.ndarray) else list(frames)
    assert len(slots) == SLOTS, len(slots)
    return dict(zip(DOWN_FRAME_INPUTS, slots))


def random_window(rng, H, W, n_valid=None):
    r = float(rng.uniform(0.8, 3.2))
    n = int(rng.integers(0, SLOTS + 1)) if n_valid is None else n_valid
    offs = np.sort(rng.uniform(-1, 1, n)).astype(np.float32)
    off = np.zeros((1, SLOTS), np.float32)
    val = np.zeros((1, SLOTS), np.float32)
    off[0, :n] = offs
    val[0, :n] = 1
    frames = rng.random((1, 3 * SLOTS, H, W), dtype=np.float32)
    if 0 < n < SLOTS:
        for k in range(n, SLOTS):
            frames[0, 3 * k:3 * k + 3] = frames[0, 3 * (n - 1):3 * n]
    return frames, off, val, np.array([r], np.float32)


def parity(system, paths, cases, seed=0):
    """Max |torch - onnxruntime| per graph over `cases` = list of (H, W, h, w)."""
    rng = np.random.default_rng(seed)
    system = system.cpu().eval()
    sd, sr, ss = (session(paths[g]) for g in ("down", "reveal", "synth"))
    mods = DownGraph(system), RevealGraph(system), SynthGraph(system)
    c = feature_channels(system.cfg)
    err = {"down": 0.0, "reveal": 0.0, "synth": 0.0}
    for H, W, h, w in cases:
        frames, off, val, ratio = random_window(rng, H, W, n_valid=int(rng.integers(1, SLOTS + 1)))
        q = np.array([rng.uniform(0, 1)], np.float32)
        size = np.array([h, w], np.int64)
        slots = split_frames(frames)
        feeds = {**frame_feeds(slots), "offsets": off, "valid": val, "ratio": ratio, "out_size": size}
        if "quality" in [i.name for i in sd.get_inputs()]:
            feeds["quality"] = q
        o = sd.run(None, feeds)[0]
        with torch.no_grad():
            t = mods[0](*(torch.from_numpy(x) for x in (*slots, off, val, ratio, size, q))).numpy()
        assert o.shape == (1, 3, h, w) and t.shape == o.shape, (o.shape, t.shape)
        err["down"] = max(err["down"], float(np.abs(o - t).max()))
        hint = np.array([rng.choice([0.0, 0.5, 1.0])], np.float32)
        fo = sr.run(None, {"lr": o, "imsm": hint})[0]
        with torch.no_grad():
            ft = mods[1](torch.from_numpy(o), torch.from_numpy(hint)).numpy()
        assert fo.shape == (1, c, h, w), fo.shape
        err["reveal"] = max(err["reveal"], float(np.abs(fo - ft).max()))
        f1 = np.clip(fo + rng.normal(0, 0.05, fo.shape).astype(np.float32), -2, 2)
        tt = np.array([rng.uniform(0, 1)], np.float32)
        big = np.array([H, W], np.int64)
        # shifts up to past the frame's edges (only edge pixels left), zero included
        s0, s1 = (rng.integers(-max(h, w) - 2, max(h, w) + 3, 2) * rng.integers(0, 2) for _ in range(2))
        s0, s1 = s0.astype(np.int64), s1.astype(np.int64)
        # per-pixel source indices: any pixel of the frame, or the identity
        i0, i1 = (rng.integers(0, h * w, h * w) if rng.integers(0, 2) else np.arange(h * w) for _ in range(2))
        i0, i1 = i0.astype(np.int64), i1.astype(np.int64)
        feeds = {"feat0": fo, "feat1": f1, "t": tt, "out_size": big}
        names = [i.name for i in ss.get_inputs()]
        if "shift0" in names:
            feeds.update(shift0=s0, shift1=s1)
        else:
            s0, s1 = np.zeros(2, np.int64), np.zeros(2, np.int64)
        if "index0" in names:
            feeds.update(index0=i0, index1=i1)
        else:
            i0, i1 = np.arange(h * w, dtype=np.int64), np.arange(h * w, dtype=np.int64)
        so = ss.run(None, feeds)[0]
        with torch.no_grad():
            st = mods[2](*(torch.from_numpy(x) for x in (fo, f1, tt, big, s0, s1, i0, i1))).numpy()
        assert so.shape == (1, 3, H, W), so.shape
        assert np.isfinite(so).all()
        err["synth"] = max(err["synth"], float(np.abs(so - st).max()))
    return err


def invertibility(system, sizes=((1, 8, 16, 16), (2, 8, 7, 13)), seed=0):
    """max |f^-1(f(x)) - x| over both halves (cover, latent), float32."""
    g = torch.Generator().manual_seed(seed)
    imsm = system.imsm.cpu().eval()
    worst = 0.0
    with torch.no_grad():
        for n, _, h, w in sizes:
            a = torch.rand(n, 3, h, w, generator=g)
            b = torch.randn(n, system.cfg["cz"], h, w, generator=g)
            y, r = imsm(a, b)
            a2, b2 = imsm.inverse(y, r)
            worst = max(worst, float((a2 - a).abs().max()), float((b2 - b).abs().max()))
    return worst
