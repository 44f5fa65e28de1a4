"""Held-out evaluation through ONNX Runtime, with the exported graphs, as the elements run them.

For each clip (first N frames, scaled to a short side, centre-cropped), each setting
(r, s) and each channel (lossless 8-bit, real x264 at a CRF through PyAV):
- LR frame j stands for HR position j * r; its window is built as the engine does;
- `down` -> LR frames -> 8-bit -> channel -> `reveal` per LR frame -> `synth` for every
  HR frame between the first and last LR instant (t = (i - j r) / r, feat1 = feat0 at the
  end); outputs quantised to 8 bit;
- PSNR (RGB, pooled MSE over the frames of a class) of key frames (HR frame on an LR
  instant) and in-between frames vs the source.
Methods: `reference` (reference down/reveal/synth: bicubic + linear blend),
`imsm-plain` (reference down = ordinary LR video, our reveal with imsm = 0 and our
synth), `imsm` (our down, our reveal with imsm = 1, our synth). `lr_psnr`: the LR
frames as received vs the reference down output (lossless) of the same instants.
"""

import math
import os

import numpy as np

from . import SLOTS
from .channel import x264_roundtrip
from .checks import frame_feeds, session
from .data import VIDEO_ROOT, clip_path, contract_window, load_clip, read_manifest

REFERENCE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "models", "reference")
SETTINGS = ((2.0, 2.0), (2.5, 1.5), (3.0, 3.0))


def load_eval_clip(name, n_frames, short, max_w, root=VIDEO_ROOT):
    row = next(r for r in read_manifest(root) if r["clip"] == name)
    fr = load_clip(clip_path(root, row), n_frames, short, 0)
    w = fr.shape[2]
    if w > max_w:
        x0 = (w - max_w) // 2
        fr = fr[:, :, x0:x0 + max_w]
    return np.ascontiguousarray(fr), float(row["fps"])


class Graphs:
    def __init__(self, model_dir, threads=2):
        self.dir = model_dir
        self.down = session(os.path.join(model_dir, "down.onnx"), threads)
        self.reveal = session(os.path.join(model_dir, "reveal.onnx"), threads)
        self.synth = session(os.path.join(model_dir, "synth.onnx"), threads)
        self.down_in = {i.name for i in self.down.get_inputs()}
        self.reveal_in = {i.name for i in self.reveal.get_inputs()}
        self.synth_in = {i.name for i in self.synth.get_inputs()}

    def run_down(self, frames, off, val, r, size, quality=0.0):
        """frames: the seven slots' [1, 3, H, W] arrays (fed as frame0 .. frame6, contract v2),
        or a [1, 21, H, W] window."""
        feeds = {**frame_feeds(frames), "offsets": off, "valid": val, "ratio": np.array([r], np.float32),
                 "out_size": np.array(size, np.int64)}
        if "quality" in self.down_in:
            feeds["quality"] = np.array([quality], np.float32)
        return self.down.run(None, feeds)[0]

    def run_reveal(self, lr, hint):
        feeds = {"lr": lr}
        if "imsm" in self.reveal_in:
            feeds["imsm"] = np.array([hint], np.float32)
        return self.reveal.run(None, feeds)[0]

    def run_synth(self, f0, f1, t, size):
        feeds = {"feat0": f0, "feat1": f1, "t": np.array([t], np.float32), "out_size": np.array(size, np.int64)}
        if "shift0" in self.synth_in:  # no alignment here: the training's view of the graph
            feeds.update(shift0=np.zeros(2, np.int64), shift1=np.zeros(2, np.int64))
        if "index0" in self.synth_in:
            identity = np.arange(f0.shape[2] * f0.shape[3], dtype=np.int64)
            feeds.update(index0=identity, index1=identity)
        return self.synth.run(None, feeds)[0]


def to_u8(x):
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def psnr_u8(mse):
    return 100.0 if mse <= 1e-10 else 10.0 * math.log10(255.0 ** 2 / mse)


def down_sequence(graphs, hr, r, size):
    """hr uint8 [N, H, W, 3] -> LR uint8 [J + 1, h, w, 3] (float graph output rounded)."""
    n = hr.shape[0]
    J = int(math.floor((n - 1) / r + 1e-9))
    x = np.ascontiguousarray(hr.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)  # [N, 3, H, W]
    out = []
    for j in range(J + 1):
        win = contract_window(j * r, r, lambda i: 0 <= i < n)
        frames = []  # slot k = frame{k}: each HR frame is handed over as is, no window tensor
        off = np.zeros((1, SLOTS), np.float32)
        val = np.zeros((1, SLOTS), np.float32)
        for k in range(SLOTS):
            i, o = win[min(k, len(win) - 1)]
            frames.append(x[i:i + 1])
            if k < len(win):
                off[0, k], val[0, k] = o, 1.0
        out.append(to_u8(graphs.run_down(frames, off, val, r, size)[0].transpose(1, 2, 0)))
    return np.stack(out)


def hr_instants(n_hr, J, r):
    """(i, j, t) for each HR frame i up to the last LR instant J * r: the LR frame j at or
    before it and its position t in [0, 1) from j to j + 1 (exactly 0.0 on an LR instant)."""
    for i in range(n_hr):
        if i > J * r + 1e-6:
            break
        j = int(math.floor(i / r + 1e-6))
        t = (i - j * r) / r
        if abs(t) < 1e-6:
            t = 0.0
        yield i, j, t


def up_sequence(graphs, lr, r, n_hr, size_hr, hint):
    """LR uint8 [J + 1, h, w, 3] -> {HR index: (uint8 frame, is_key)}."""
    J = lr.shape[0] - 1
    feats = [graphs.run_reveal(np.ascontiguousarray(f.transpose(2, 0, 1)[None].astype(np.float32) / 255.0), hint)
             for f in lr]
    out = {}
    for i, j, t in hr_instants(n_hr, J, r):
        f0 = feats[min(j, J)]
        f1 = feats[min(j + 1, J)]
        y = graphs.run_synth(f0, f1, t, size_hr)[0].transpose(1, 2, 0)
        out[i] = (to_u8(y), t == 0.0)
    return out


def score(out, hr):
    se = {True: [], False: []}
    for i, (y, key) in out.items():
        se[key].append(np.mean((y.astype(np.float64) - hr[i].astype(np.float64)) ** 2))
    res = {}
    for key, name in ((True, "key"), (False, "mid")):
        res[name] = psnr_u8(float(np.mean(se[key]))) if se[key] else None
    allv = se[True] + se[False]
    res["all"] = psnr_u8(float(np.mean(allv)))
    return res


def evaluate(model_dir, clips, n_frames=17, short=192, max_w=320, settings=SETTINGS, crfs=(23,),
             reference_dir=REFERENCE_DIR, log=print, threads=2):
    ours, ref = Graphs(model_dir, threads), Graphs(reference_dir, threads)
    rows = []
    for name in clips:
        hr, fps = load_eval_clip(name, n_frames, short, max_w)
        n, H, W, _ = hr.shape
        for r, s in settings:
            size = (max(1, round(H / s)), max(1, round(W / s)))
            lr_ref = down_sequence(ref, hr, r, size)
            lr_imsm = down_sequence(ours, hr, r, size)
            lr_fps = 30.0 / r
            channels = [("lossless", None)] + [(f"x264-crf{c}", c) for c in crfs]
            for ch, crf in channels:
                sent = {"reference": lr_ref, "imsm-plain": lr_ref, "imsm": lr_imsm}
                recv, kbps = {}, {}
                for m in ("reference", "imsm"):
                    if crf is None:
                        recv[m], kbps[m] = sent[m], None
                    else:
                        d, nb = x264_roundtrip(sent[m], crf, preset="medium", fps=lr_fps, tune=None)
                        recv[m], kbps[m] = d, nb * 8.0 / (len(d) / lr_fps) / 1000.0
                recv["imsm-plain"], kbps["imsm-plain"] = recv["reference"], kbps["reference"]
                for m, graphs, hint in (("reference", ref, 0.0), ("imsm-plain", ours, 0.0), ("imsm", ours, 1.0)):
                    out = up_sequence(graphs, recv[m], r, n, (H, W), hint)
                    sc = score(out, hr)
                    lr_mse = float(np.mean((recv[m].astype(np.float64) - lr_ref.astype(np.float64)) ** 2))
                    row = {"clip": name, "setting": f"r{r:g}s{s:g}", "channel": ch, "method": m,
                           "psnr_key": sc["key"], "psnr_mid": sc["mid"], "psnr_all": sc["all"],
                           "lr_psnr": psnr_u8(lr_mse), "kbps": kbps[m], "hr_size": [W, H], "lr_size": [size[1], size[0]],
                           "frames": len(out)}
                    rows.append(row)
                log("eval %-22s %-9s %-12s | ref mid %.2f key %.2f | plain mid %.2f key %.2f | imsm mid %.2f key %.2f lr %.1f" % (
                    name, f"r{r:g}s{s:g}", ch,
                    *[(x if x is not None else float('nan')) for x in (
                        rows[-3]["psnr_mid"], rows[-3]["psnr_key"], rows[-2]["psnr_mid"], rows[-2]["psnr_key"],
                        rows[-1]["psnr_mid"], rows[-1]["psnr_key"], rows[-1]["lr_psnr"])]))
    return rows


def summarize(rows, clips):
    """Mean over the given clips and all settings, per channel and method."""
    out = {}
    for r in rows:
        if r["clip"] not in clips:
            continue
        d = out.setdefault(r["channel"], {}).setdefault(r["method"], {"mid": [], "key": [], "lr": [], "kbps": []})
        if r["psnr_mid"] is not None:
            d["mid"].append(r["psnr_mid"])
        if r["psnr_key"] is not None:
            d["key"].append(r["psnr_key"])
        d["lr"].append(r["lr_psnr"])
        if r["kbps"] is not None:
            d["kbps"].append(r["kbps"])
    res = {}
    for ch, ms in out.items():
        for m, d in ms.items():
            res.setdefault(ch, {})[m] = {k: (round(float(np.mean(v)), 3) if v else None) for k, v in d.items()}
    return res
