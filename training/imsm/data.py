"""Training data: real clips (../shared/video/train) and synthetic motion.

A training sample is what imsmdown and imsmup see around one pair of LR frames:
- a rate ratio r (HR frames per LR frame, 1..3, non-integers included) and a phase: LR
  frame 0 stands at HR position p0 = phase, LR frame 1 at p1 = phase + r;
- the two 7-slot windows exactly as the engine builds them (models/README.md section 2:
  HR frames with |offset| <= max(1, 1/r), at most 7 nearest, sorted, valid first,
  empty slots = copy of the last valid slot with offset 0, valid 0);
- K target HR frames at instants between p0 and p1, with t = (instant - p0) / r;
- one spatial scale s (1..4, non-integers included) per batch: LR size = round(HR / s).

Real clips give targets at integer HR positions only. Synthetic scenes (a textured
background under an affine camera plus textured sprites that move, turn and occlude
each other; textures cut from the training clips) are rendered at any instant, so their
targets include exact fractional times.
"""

import csv
import math
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import SLOTS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The clip library (manifest.csv + <split>/<clip>/<file>); IMSM_VIDEO_ROOT points elsewhere
# (the CI smoke run uses a two-clip library cut from the repository's own media/ clip).
DEFAULT_VIDEO_ROOT = os.path.join(os.path.dirname(REPO), "shared", "video")
VIDEO_ROOT = os.environ.get("IMSM_VIDEO_ROOT") or DEFAULT_VIDEO_ROOT

# Training clips held out for validation (never trained on); dev/ clips are evaluated too.
VAL_CLIPS = ("davis_soapbox", "tennis", "kivy_city_cc0", "sam2_cups")
DEV_EVAL_CLIPS = ("davis_car-roundabout", "flower_cc0")


def read_manifest(root=VIDEO_ROOT):
    with open(os.path.join(root, "manifest.csv"), newline="") as f:
        return list(csv.DictReader(f))


def clip_path(root, row):
    return os.path.join(root, row["split"], row["clip"], row["file"])


def load_clip(path, max_frames, max_short, start=0):
    """RGB uint8 [T, H, W, 3]: frames start .. start + max_frames - 1, downscaled (area)
    so that the short side is at most max_short."""
    cap = cv2.VideoCapture(path)
    frames = []
    idx = 0
    while len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        if idx >= start:
            h, w = bgr.shape[:2]
            f = min(1.0, max_short / min(h, w))
            if f < 1.0:
                bgr = cv2.resize(bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        idx += 1
    cap.release()
    if not frames:
        raise RuntimeError(f"no frames decoded from {path}")
    return np.stack(frames)


def split_clips(root=VIDEO_ROOT, val=VAL_CLIPS):
    rows = read_manifest(root)
    train = [r for r in rows if r["split"] == "train" and r["clip"] not in val]
    valr = [r for r in rows if r["split"] == "train" and r["clip"] in val]
    dev = [r for r in rows if r["split"] == "dev"]
    return train, valr, dev


def load_training_clips(cfg, seed, root=VIDEO_ROOT, log=print):
    """The training clips of a configuration: (list of (name, frames), names used)."""
    train, _, _ = split_clips(root)
    rng = np.random.default_rng(seed)
    rows = sorted(train, key=lambda r: r["clip"])
    if cfg["n_clips"] and cfg["n_clips"] < len(rows):
        pick = rng.choice(len(rows), cfg["n_clips"], replace=False)
        rows = [rows[i] for i in sorted(pick)]
    starts = {}
    for r in rows:
        n = int(r["frames"])
        starts[r["clip"]] = int(rng.integers(0, max(1, n - cfg["max_frames"]) + 1)) if cfg["random_start"] else 0

    def one(r):
        fr = load_clip(clip_path(root, r), cfg["max_frames"], cfg["max_short"], starts[r["clip"]])
        return r["clip"], fr

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as ex:
        loaded = list(ex.map(one, rows))
    clips, skipped = [], []
    for name, fr in loaded:
        if min(fr.shape[1:3]) < cfg["crop"] or fr.shape[0] < 3:
            skipped.append(name)
            continue
        clips.append((name, fr))
    if skipped:
        log(f"data: skipped (smaller than the crop or < 3 frames): {', '.join(skipped)}")
    info = [{"clip": n, "frames": int(f.shape[0]), "size": [int(f.shape[2]), int(f.shape[1])],
             "start": starts[n]} for n, f in clips]
    return clips, info


# ----------------------------------------------------------------------------- windows
def contract_window(p, r, avail):
    """Window of the LR frame at HR position p: list of (HR index, offset in LR intervals),
    per models/README.md section 2. avail(i) says whether HR frame i exists."""
    reach = max(1.0, 1.0 / r) * r
    lo, hi = math.floor(p - reach) - 1, math.ceil(p + reach) + 1
    cand = [i for i in range(lo, hi + 1) if abs(i - p) <= reach + 1e-6 and avail(i)]
    if not cand:  # gap: the single nearest frame
        for d in range(1, 64):
            for i in (math.floor(p) - d + 1, math.ceil(p) + d - 1, math.floor(p) - d, math.ceil(p) + d):
                if avail(i):
                    cand = [i]
                    break
            if cand:
                break
    cand = sorted(sorted(cand, key=lambda i: (abs(i - p), i))[:SLOTS])
    return [(i, (i - p) / r) for i in cand]


def pack_window(frames_of, window, H, W):
    """frames_of(list of indices) -> tensor [n, 3, H, W]; returns ([21,H,W], [7], [7])."""
    idx = [i for i, _ in window]
    fr = frames_of(idx)
    n = fr.shape[0]
    slots = torch.empty(SLOTS, 3, H, W)
    slots[:n] = fr
    slots[n:] = fr[n - 1]
    off = torch.zeros(SLOTS)
    val = torch.zeros(SLOTS)
    off[:n] = torch.tensor([o for _, o in window], dtype=torch.float32)
    val[:n] = 1.0
    return slots.reshape(SLOTS * 3, H, W), off, val


# ----------------------------------------------------------------------------- synthetic
def _crop_tex(rng, clips, th, tw):
    _, fr = clips[rng.integers(len(clips))]
    img = fr[rng.integers(fr.shape[0])]
    h, w = img.shape[:2]
    ch, cw = min(h, th), min(w, tw)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    t = torch.from_numpy(np.ascontiguousarray(img[y:y + ch, x:x + cw])).permute(2, 0, 1).float() / 255.0
    if (ch, cw) != (th, tw):
        t = F.interpolate(t[None], size=(th, tw), mode="bilinear", align_corners=False)[0]
    if rng.random() < 0.5:
        t = t.flip(-1)
    return t


class Scene:
    """Background under an affine camera + 0..3 moving sprites; render(times) -> [T,3,H,W]."""

    def __init__(self, rng, clips, H, W, motion=1.0):
        self.H, self.W = H, W
        u = max(H, W) / 64.0 * motion
        self.bg = _crop_tex(rng, clips, 2 * H, 2 * W)
        self.c0 = np.array([W + rng.uniform(-W / 4, W / 4), H + rng.uniform(-H / 4, H / 4)])
        self.v = rng.normal(0, rng.choice([0.3, 1.0, 2.0, 4.0]) * u, 2)
        self.zoom = rng.normal(0, 0.01)
        self.rot = rng.normal(0, 0.006)
        self.sprites = []
        for _ in range(int(rng.integers(0, 4))):
            S = rng.uniform(0.25, 0.6) * min(H, W)
            self.sprites.append({
                "tex": _crop_tex(rng, clips, max(4, int(S)), max(4, int(S))),
                "S": S,
                "aspect": rng.uniform(0.6, 1.0),
                "ellipse": rng.random() < 0.6,
                "p0": np.array([rng.uniform(0, W), rng.uniform(0, H)]),
                "v": rng.normal(0, rng.choice([1.0, 2.5, 5.0]) * u, 2),
                "a": rng.normal(0, 0.15 * u, 2),
                "th0": rng.uniform(-math.pi, math.pi),
                "om": rng.normal(0, 0.05),
            })

    def render(self, times):
        H, W = self.H, self.W
        T = len(times)
        ts = torch.tensor(times, dtype=torch.float32).reshape(T, 1, 1)
        ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32) + 0.5 - H / 2,
                                torch.arange(W, dtype=torch.float32) + 0.5 - W / 2, indexing="ij")
        # background: texture position of each output pixel
        z = torch.exp(self.zoom * ts)
        th = self.rot * ts
        cx = self.c0[0] + self.v[0] * ts
        cy = self.c0[1] + self.v[1] * ts
        X = cx + z * (torch.cos(th) * xs - torch.sin(th) * ys)
        Y = cy + z * (torch.sin(th) * xs + torch.cos(th) * ys)
        Hb, Wb = self.bg.shape[-2:]
        grid = torch.stack([X / Wb * 2 - 1, Y / Hb * 2 - 1], -1)
        out = F.grid_sample(self.bg[None].expand(T, -1, -1, -1), grid, mode="bilinear",
                            padding_mode="reflection", align_corners=False)
        px, py = xs + W / 2, ys + H / 2
        for s in self.sprites:
            pxs = s["p0"][0] + s["v"][0] * ts + 0.5 * s["a"][0] * ts * ts
            pys = s["p0"][1] + s["v"][1] * ts + 0.5 * s["a"][1] * ts * ts
            ang = s["th0"] + s["om"] * ts
            dx, dy = px - pxs, py - pys
            lx = (torch.cos(ang) * dx + torch.sin(ang) * dy) / (s["S"] / 2)
            ly = (-torch.sin(ang) * dx + torch.cos(ang) * dy) / (s["S"] / 2 * s["aspect"])
            if s["ellipse"]:
                d = torch.sqrt(lx * lx + ly * ly)
            else:
                d = torch.maximum(lx.abs(), ly.abs())
            m = ((1.0 - d) * s["S"] / 2 + 0.5).clamp(0, 1).unsqueeze(1)
            col = F.grid_sample(s["tex"][None].expand(T, -1, -1, -1), torch.stack([lx, ly], -1),
                                mode="bilinear", padding_mode="border", align_corners=False)
            out = m * col + (1 - m) * out
        return out.clamp(0, 1)


# ----------------------------------------------------------------------------- batches
def sample_ratio(rng):
    if rng.random() < 0.4:
        return float(rng.choice([1.0, 1.25, 2.0, 2.5, 3.0]))
    return float(rng.uniform(1.0, 3.0))


def sample_scale(rng):
    if rng.random() < 0.4:
        return float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]))
    return float(rng.uniform(1.0, 4.0))


def focus_batch(cfg, rng):
    """The configuration's `focus` (None: every batch is drawn over the whole range): with
    probability focus["p"] a batch is a focus batch, drawn only at the listed rate ratios
    and scales, each LR frame at a phase the stream really has (k * r mod 1), its targets
    in-between instants only (no key frame). Configurations without `focus` draw nothing
    here, so their batches stay as they were."""
    foc = cfg.get("focus")
    if not foc or rng.random() >= foc["p"]:
        return None
    return foc


def focus_phase(r, rng):
    """The phase of a random LR frame of a stream at rate ratio r: k * r mod 1 for some k."""
    return float((int(rng.integers(0, 64)) * r) % 1.0)


class BatchMaker:
    def __init__(self, clips, cfg, seed):
        self.clips = clips
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def make(self, B=None):
        cfg, rng = self.cfg, self.rng
        B = B or cfg["batch"]
        H = W = cfg["crop"]
        foc = focus_batch(cfg, rng)
        s = float(rng.choice(foc["scales"])) if foc else sample_scale(rng)
        h, w = max(1, round(H / s)), max(1, round(W / s))
        K = cfg["targets"]
        win = torch.empty(2, B, SLOTS * 3, H, W)
        off = torch.zeros(2, B, SLOTS)
        val = torch.zeros(2, B, SLOTS)
        ratio = torch.empty(B)
        tgt = torch.empty(B, K, 3, H, W)
        tt = torch.empty(B, K)
        syn = torch.zeros(B, dtype=torch.bool)
        for n in range(B):
            if foc:
                r = float(rng.choice(foc["ratios"]))
                phase = focus_phase(r, rng)
            else:
                r = sample_ratio(rng)
                phase = 0.0 if rng.random() < 0.4 else float(rng.uniform(0, 1))
            p0, p1 = phase, phase + r
            ratio[n] = r
            if rng.random() < cfg["p_synthetic"]:
                syn[n] = True
                scene = Scene(rng, self.clips, H, W,
                              motion=float(rng.choice([0.5, 1.0, 1.5])) * cfg.get("synthetic_motion", 1.0))
                ws = [contract_window(p, r, lambda i: True) for p in (p0, p1)]
                times = []
                for k in range(K):
                    if not foc and rng.random() < 0.3:
                        times.append(p0 if rng.random() < 0.5 else p1)
                    else:
                        times.append(p0 + float(rng.uniform(0.02, 0.98)) * r)
                need = sorted({i for wd in ws for i, _ in wd})
                centre = p0 + r / 2
                rendered = scene.render([i - centre for i in need] + [x - centre for x in times])
                lut = {i: rendered[k] for k, i in enumerate(need)}

                def frames_of(idx, lut=lut):
                    return torch.stack([lut[i] for i in idx])

                for j in range(2):
                    win[j, n], off[j, n], val[j, n] = pack_window(frames_of, ws[j], H, W)
                tgt[n] = rendered[len(need):]
                tt[n] = torch.tensor([(x - p0) / r for x in times])
            else:
                _, fr = self.clips[rng.integers(len(self.clips))]
                T = fr.shape[0]
                lo, hi = math.ceil(p0 - r - 1e-6), math.floor(p1 + r + 1e-6)
                tlo, thi = math.ceil(p0 - 1e-6), math.floor(p1 + 1e-6)
                if hi - lo + 1 <= T:
                    base = int(rng.integers(-lo, T - hi))
                else:  # short clip: targets inside, windows truncated like at a stream's ends
                    base = int(rng.integers(-tlo, max(-tlo, T - 1 - thi) + 1))
                rev = rng.random() < 0.5
                y0 = int(rng.integers(0, fr.shape[1] - H + 1))
                x0 = int(rng.integers(0, fr.shape[2] - W + 1))

                def avail(i, base=base, T=T):
                    return 0 <= i + base < T

                def frames_of(idx, fr=fr, base=base, rev=rev, y0=y0, x0=x0, T=T):
                    ii = [(T - 1 - (i + base)) if rev else (i + base) for i in idx]
                    a = fr[ii, y0:y0 + H, x0:x0 + W]
                    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255.0

                ws = [contract_window(p, r, avail) for p in (p0, p1)]
                for j in range(2):
                    win[j, n], off[j, n], val[j, n] = pack_window(frames_of, ws[j], H, W)
                cand = [i for i in range(tlo, thi + 1) if avail(i)]
                if foc:  # in-between instants only, where there are any
                    cand = [i for i in cand if abs(i - p0) > 1e-6 and abs(i - p1) > 1e-6] or cand
                pick = [cand[int(rng.integers(len(cand)))] for _ in range(K)]
                tgt[n] = frames_of(pick)
                tt[n] = torch.tensor([(i - p0) / r for i in pick], dtype=torch.float32)
            if rng.random() < 0.5:
                win[:, n] = win[:, n].flip(-1)
                tgt[n] = tgt[n].flip(-1)
        return {"win": win, "off": off, "val": val, "ratio": ratio, "tgt": tgt, "t": tt,
                "size": (h, w), "syn": syn, "scale": s}


class BatchStream(torch.utils.data.IterableDataset):
    """Endless batches; each DataLoader worker gets its own seed."""

    def __init__(self, clips, cfg, seed):
        self.clips, self.cfg, self.seed = clips, cfg, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        if info is not None:
            torch.set_num_threads(1)
        maker = BatchMaker(self.clips, self.cfg, self.seed * 1000 + wid + 1)
        while True:
            yield maker.make()


def batches(clips, cfg, seed, workers, pin_memory=False):
    """Endless batches: made in this process (`workers` 0), or by that many DataLoader
    workers, each drawing its own (so other batches than in-process)."""
    if workers > 0:
        return iter(torch.utils.data.DataLoader(BatchStream(clips, cfg, seed), batch_size=None, num_workers=workers,
                                                persistent_workers=True, prefetch_factor=4, pin_memory=pin_memory))
    maker = BatchMaker(clips, cfg, seed)
    return iter(lambda: maker.make(), None)
