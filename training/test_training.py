#!/usr/bin/env python3
"""Tests of the training code (plain asserts; exits non-zero on failure).

Run: .venv-train/bin/python training/test_training.py          (about 1 minute on 2 cores)
     ... training/test_training.py --quick                       (skips the end-to-end smoke run)

- invertibility of the IMSM (|f^-1(f(x)) - x| < 1e-4, float32);
- an untrained system is exactly the reference (bicubic + linear blend) graphs;
- export: contract names/types/dynamic dims/metadata, ONNX Runtime vs PyTorch parity
  (< 1e-3) for each graph on random sizes (odd, 1x1, up and down), finite output for a
  window with no valid slot;
- the cover guard (frames under the bar brought to it, the others untouched; export parity);
- a bilinear cover (`cover_filter`): the untrained down graph sends the bilinear downscale,
  export parity, the training and export paths agree;
- the `never_worse` hinge of the codec fine-tune (sign, fixed plain side, gradients);
- alignment in the loop (`small-aligned`): the global shift and the "beyond 2 px" rule as
  the engine has them, a widened checkpoint unchanged, the synth's displacement maps in
  the exported graph equal to the training's;
- the training and export code paths compute the same; the window rules; focus batches
  (`full-bilinear-focus`); the channel;
- an end-to-end `small` smoke run (data -> train -> export -> parity -> evaluation), then
  reexport.py on its directory (same graphs from the checkpoint, an "exports" entry) and
  --init-from from it (same weights, sha256 recorded, another network refused);
- the graphs in models/imsm-small (when present) against the contract (version 2: down
  takes frame0 .. frame6);
- `synth_latent` (the recovered latent in the features): widening keeps the output, export parity;
- `synth_grid2` (the synth's detail on a 2x grid): widening keeps the output, export parity;
- `lr_mult`: the optimiser's parameter groups at a multiple of the rate (full-focus-grid2);
- deepening a checkpoint (more IMSM and reveal blocks, train.py --init-from) changes no output;
- diagnose_hiding.py: its regression and correlation, and on an untrained system every
  receiver renders the same and no latent is recovered; probe_latent_decoder.py's decoder
  starts as the IMSM inverse's estimate;
- probe_channel.py: the window slots it reads, every sender and receiver untrained sends
  the cover and renders the bicubic blend, a training step moves the sender; its 4:2:0
  channel; its checkpoint exports (reexport.py) to graphs that pass the contract.
"""

import json
import math
import os
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = os.path.dirname(HERE)
MEDIA_CLIP = os.path.join(REPO, "media", "flower_cc0.mp4")


def make_fixture_library(root):
    """A two-clip library in the layout of ../shared/video, cut from the repository's own
    CC0 clip: frames 0-29 to train on, 30-59 as a dev clip (never trained on). The smoke run only needs the data
    path to work end to end; no quality is claimed from it."""
    import csv

    import cv2

    cap = cv2.VideoCapture(MEDIA_CLIP)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while len(frames) < 60:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    assert len(frames) == 60, f"{MEDIA_CLIP}: {len(frames)} frames decoded"
    rows = []
    for split, clip, part in (("train", "media_flower_a", frames[:30]), ("dev", "media_flower_b", frames[30:])):
        d = os.path.join(root, split, clip)
        os.makedirs(d)
        h, w = part[0].shape[:2]
        # Lossless-enough and always available in opencv's bundled FFmpeg: MJPEG at top quality.
        wr = cv2.VideoWriter(os.path.join(d, "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        wr.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
        for f in part:
            wr.write(f)
        wr.release()
        rows.append({"split": split, "clip": clip, "file": "clip.avi", "fps": f"{fps:.5f}",
                     "frames": str(len(part)), "width": str(w), "height": str(h)})
    with open(os.path.join(root, "manifest.csv"), "w", newline="") as f:
        wcsv = csv.DictWriter(f, fieldnames=list(rows[0]))
        wcsv.writeheader()
        wcsv.writerows(rows)


# Without the clip library beside the repository (a clean CI clone), or with
# IMSM_TEST_FIXTURE_VIDEO=1, the smoke run trains on the fixture library; set before
# `imsm.data` reads IMSM_VIDEO_ROOT.
FIXTURE_DIR = None
if os.environ.get("IMSM_TEST_FIXTURE_VIDEO") == "1" or (not os.environ.get("IMSM_VIDEO_ROOT") and not os.path.exists(
        os.path.join(os.path.dirname(REPO), "shared", "video", "manifest.csv"))):
    import atexit
    import shutil

    FIXTURE_DIR = tempfile.mkdtemp(prefix="imsm-fixture-video-")
    atexit.register(shutil.rmtree, FIXTURE_DIR, True)
    make_fixture_library(FIXTURE_DIR)
    os.environ["IMSM_VIDEO_ROOT"] = FIXTURE_DIR

import numpy as np  # noqa: E402
import torch  # noqa: E402

from imsm import CONTRACT, checks, config, data, export, models, ops  # noqa: E402
from imsm import channel as chn  # noqa: E402

torch.set_num_threads(1)


def perturbed_system(seed=0, **net):
    """A system whose zero-initialised layers are randomised (so nothing is an identity)."""
    torch.manual_seed(seed)
    s = models.System(dict(config.get("small")["net"], **net))
    with torch.no_grad():
        for m in s.modules():
            if isinstance(m, torch.nn.Conv2d) and float(m.weight.abs().sum()) == 0.0:
                m.weight.normal_(0, 0.05)
                m.bias.normal_(0, 0.01)
    return s.eval()


def test_invertibility():
    s = perturbed_system(1)
    err = checks.invertibility(s, sizes=((2, 8, 16, 16), (1, 8, 7, 13), (1, 8, 1, 1)))
    assert err < 1e-4, err
    # also with large inputs (scales near the tanh bound)
    with torch.no_grad():
        a, b = torch.rand(1, 3, 9, 11) * 4 - 2, torch.randn(1, s.cfg["cz"], 9, 11) * 3
        y, r = s.imsm(a, b)
        a2, b2 = s.imsm.inverse(y, r)
    err2 = max(float((a2 - a).abs().max()), float((b2 - b).abs().max()))
    assert err2 < 1e-4, err2
    print(f"  max |f^-1(f(x)) - x| = {max(err, err2):.2e}")


def test_identity_at_init():
    """Zero-initialised last layers: down == reference down, synth(reveal) == reference synth."""
    ref_dir = os.path.join(REPO, "models", "reference")
    s = models.System(config.get("small")["net"]).eval()
    with tempfile.TemporaryDirectory() as d:
        paths = export.export_all(s, d, "imsm-test")
        ours = {g: checks.session(p) for g, p in paths.items()}
        ref = {g: checks.session(os.path.join(ref_dir, g + ".onnx")) for g in ("down", "synth")}
        rng = np.random.default_rng(3)
        for H, W, h, w in ((40, 36, 17, 15), (23, 51, 23, 51), (16, 16, 5, 3)):
            fr, off, val, r = checks.random_window(rng, H, W, n_valid=int(rng.integers(1, 8)))
            size = np.array([h, w], np.int64)
            feeds = {**checks.frame_feeds(fr), "offsets": off, "valid": val, "ratio": r, "out_size": size}
            a = ours["down"].run(None, {**feeds, "quality": np.zeros(1, np.float32)})[0]
            b = ref["down"].run(None, feeds)[0]
            assert np.abs(a - b).max() < 1e-5, np.abs(a - b).max()
            f0 = ours["reveal"].run(None, {"lr": a, "imsm": np.ones(1, np.float32)})[0]
            f1 = ours["reveal"].run(None, {"lr": 1 - a, "imsm": np.ones(1, np.float32)})[0]
            t = np.array([0.3], np.float32)
            big = np.array([H, W], np.int64)
            zero = np.zeros(2, np.int64)
            identity = np.arange(h * w, dtype=np.int64)
            y = ours["synth"].run(None, {"feat0": f0, "feat1": f1, "t": t, "out_size": big,
                                         "shift0": zero, "shift1": zero, "index0": identity, "index1": identity})[0]
            yr = ref["synth"].run(None, {"feat0": a, "feat1": 1 - a, "t": t, "out_size": big})[0]
            assert np.abs(y - yr).max() < 1e-5, np.abs(y - yr).max()


def test_export_contract_and_parity():
    s = perturbed_system(2)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        paths = export.export_all(s, d, "imsm-test")
        for g, p in paths.items():
            checks.check_contract(p, g)
            assert os.path.getsize(p) < 4 << 20, (g, os.path.getsize(p))
        rng = np.random.default_rng(7)
        cases = [(int(rng.integers(1, 90)), int(rng.integers(1, 90)), int(rng.integers(1, 60)),
                  int(rng.integers(1, 60))) for _ in range(6)]
        cases += [(37, 53, 19, 27), (16, 16, 1, 1), (1, 1, 1, 1), (1, 1, 3, 5), (31, 29, 62, 58), (45, 80, 45, 80)]
        err = checks.parity(s, paths, cases, seed=5)
        assert max(err.values()) < 1e-3, err
        # a window with no valid slot, extreme offsets and tiny sizes must stay finite
        sd = checks.session(paths["down"])
        for valid in (np.zeros((1, 7), np.float32), np.ones((1, 7), np.float32)):
            out = sd.run(None, {**checks.frame_feeds(np.random.rand(1, 21, 5, 4).astype(np.float32)),
                                "offsets": np.linspace(-9, 9, 7, dtype=np.float32)[None],
                                "valid": valid, "ratio": np.array([0.3], np.float32),
                                "out_size": np.array([1, 1], np.int64), "quality": np.ones(1, np.float32)})[0]
            assert out.shape == (1, 3, 1, 1) and np.isfinite(out).all()
        # shift0/shift1 move the features by whole pixels, edges replicated, before the
        # network: the same frame as the unshifted graph given features shifted in numpy
        ss = checks.session(paths["synth"])
        c = models.feature_channels(s.cfg)
        f0, f1 = (rng.random((1, c, 9, 13), dtype=np.float32) for _ in range(2))
        t, big, zero = np.array([0.3], np.float32), np.array([18, 26], np.int64), np.zeros(2, np.int64)
        identity = np.arange(9 * 13, dtype=np.int64)
        still = {"index0": identity, "index1": identity}

        def np_shift(f, dy, dx):
            ys = np.clip(np.arange(f.shape[2]) - dy, 0, f.shape[2] - 1)
            xs = np.clip(np.arange(f.shape[3]) - dx, 0, f.shape[3] - 1)
            return np.ascontiguousarray(f[:, :, ys][:, :, :, xs])

        for s0, s1 in (((2, -3), (-1, 4)), ((0, 0), (0, 0)), ((-20, 30), (9, -13))):
            got = ss.run(None, {"feat0": f0, "feat1": f1, "t": t, "out_size": big,
                                "shift0": np.array(s0, np.int64), "shift1": np.array(s1, np.int64), **still})[0]
            want = ss.run(None, {"feat0": np_shift(f0, *s0), "feat1": np_shift(f1, *s1), "t": t, "out_size": big,
                                 "shift0": zero, "shift1": zero, **still})[0]
            assert np.array_equal(got, want), (s0, s1, np.abs(got - want).max())
        unmoved, moved = (ss.run(None, {"feat0": f0, "feat1": f1, "t": t, "out_size": big,
                                        "shift0": np.array(s0, np.int64), "shift1": zero, **still})[0]
                          for s0 in ((0, 0), (1, 0)))
        assert np.abs(moved - unmoved).max() > 1e-3  # the shift reaches the output
        # index0/index1 then take each feature pixel from the source pixel they name (row-major
        # y * w + x): the same frame as the graph given features gathered in numpy, after the shift
        for seed in range(3):
            r = np.random.default_rng(seed)
            i0, i1 = (r.integers(0, 9 * 13, 9 * 13).astype(np.int64) for _ in range(2))
            s0 = r.integers(-4, 5, 2).astype(np.int64)

            def np_gather(f, i):
                return np.ascontiguousarray(f.reshape(1, c, -1)[:, :, i].reshape(f.shape))

            got = ss.run(None, {"feat0": f0, "feat1": f1, "t": t, "out_size": big, "shift0": s0, "shift1": zero,
                                "index0": i0, "index1": i1})[0]
            want = ss.run(None, {"feat0": np_gather(np_shift(f0, *s0), i0), "feat1": np_gather(f1, i1), "t": t,
                                 "out_size": big, "shift0": zero, "shift1": zero, **still})[0]
            assert np.array_equal(got, want), (seed, np.abs(got - want).max())
        swapped = identity.copy()
        swapped[[0, 60]] = swapped[[60, 0]]
        regathered = ss.run(None, {"feat0": f0, "feat1": f1, "t": t, "out_size": big, "shift0": zero, "shift1": zero,
                                   "index0": swapped, "index1": identity})[0]
        assert np.abs(regathered - unmoved).max() > 1e-3  # the index reaches the output
        print(f"  parity max abs err {err} over {len(cases)} size cases ({time.time() - t0:.1f}s)")


def test_cover_guard():
    """The guard leaves frames above the bar untouched, brings the others exactly to it, and
    exports with parity."""
    g = torch.Generator().manual_seed(3)
    cover = torch.rand(3, 3, 17, 23, generator=g)
    # residuals at about 30, 36.9 and 45 dB
    d = torch.randn(3, 3, 17, 23, generator=g)
    d = d / d.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() * torch.tensor([10 ** -1.5, 10 ** -1.845, 10 ** -2.25]).reshape(3, 1, 1, 1)
    y = models.cover_guard(cover, cover + d, 37.0)
    psnr = -10 * torch.log10((y - cover).pow(2).mean(dim=(1, 2, 3)))
    assert abs(float(psnr[0]) - 37.0) < 1e-3 and abs(float(psnr[1]) - 37.0) < 1e-3, psnr
    assert torch.equal(y[2], (cover + d)[2]), "a frame above the bar was changed"
    s = perturbed_system(4)
    s.cfg["cover_guard_psnr"] = 37.0
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(s, dd, "imsm-test")
        err = checks.parity(s, paths, [(37, 53, 19, 27), (16, 16, 8, 8)], seed=2)
        assert max(err.values()) < 1e-3, err
    print(f"  guarded PSNR {[round(float(p), 3) for p in psnr]}; export parity {err}")


def engine_i420_roundtrip(x, kr, kb):
    """What src/engine/color.rs does to an R'G'B' frame x [3, h, w] (float64, no rounding):
    Cb/Cr per pixel, each 2x2 block averaged over the pixels that exist, then back under the
    mpeg2 siting, written as its loops are (the reference for models.ycbcr420_roundtrip)."""
    _, h, w = x.shape
    kg = 1 - kr - kb
    y = kr * x[0] + kg * x[1] + kb * x[2]
    c = np.stack([(x[2] - y) / (2 * (1 - kb)), (x[0] - y) / (2 * (1 - kr))])
    ch, cw = (h + 1) // 2, (w + 1) // 2
    sub = np.array([[[c[p, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(cw)] for i in range(ch)] for p in range(2)])
    up = np.zeros((2, h, w))
    for yi in range(h):
        k = yi // 2
        far = max(k - 1, 0) if yi % 2 == 0 else min(k + 1, ch - 1)
        row = 0.75 * sub[:, k] + 0.25 * sub[:, far]
        for xi in range(w):
            up[:, yi, xi] = row[:, xi // 2] if xi % 2 == 0 else 0.5 * (row[:, xi // 2] + row[:, min(xi // 2 + 1, cw - 1)])
    r, b = y + 2 * (1 - kr) * up[1], y + 2 * (1 - kb) * up[0]
    return np.stack([r, (y - kr * r - kb * b) / kg, b])


def test_cover_guard_420():
    """The 4:2:0-aware guard: the round trip it models is the engine's (odd sizes included),
    a grey residual passes it unchanged, the guarded frames hold the bar after the round trip
    under every matrix (exactly at it for the worst), frames above it are left as they are,
    and the down graph exports with parity."""
    g = torch.Generator().manual_seed(5)
    for h, w in ((6, 8), (7, 9), (1, 1), (5, 2)):
        d = torch.randn(1, 3, h, w, generator=g, dtype=torch.float64)
        for kr, kb in models.YCBCR_KR_KB.values():
            got = models.ycbcr420_roundtrip(d, kr, kb)[0].numpy()
            want = engine_i420_roundtrip(d[0].numpy(), kr, kb)
            assert np.abs(got - want).max() < 1e-9, (h, w, kr)
    grey = torch.randn(1, 1, 9, 7, generator=g).expand(1, 3, 9, 7)
    assert torch.allclose(models.residual_mse(grey, True), models.residual_mse(grey, False))
    cover = torch.rand(3, 3, 17, 23, generator=g)
    # fine-grained noise in green only: its luma and chroma parts cancel in R and B, and the
    # round trip, which averages the chroma away, leaves the luma part (~1.5x the error)
    d = torch.randn(3, 3, 17, 23, generator=g) * torch.tensor([0.0, 1.0, 0.0]).reshape(1, 3, 1, 1)
    d = d / d.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() * torch.tensor([10 ** -1.5, 10 ** -1.845, 10 ** -2.5]).reshape(3, 1, 1, 1)
    y = models.cover_guard(cover, cover + d, 37.0, chroma420=True)
    worst = [min(-10 * np.log10(((engine_i420_roundtrip((y[i] - cover[i]).double().numpy(), kr, kb)) ** 2).mean())
                 for kr, kb in models.YCBCR_KR_KB.values()) for i in range(3)]
    rgb = -10 * torch.log10((y - cover).pow(2).mean(dim=(1, 2, 3)))
    assert abs(worst[0] - 37.0) < 1e-3 and abs(worst[1] - 37.0) < 1e-3, worst  # the round trip binds
    assert float(rgb[0]) > 38.0 and float(rgb[1]) > 38.0, rgb
    rgb_only = models.cover_guard(cover, cover + d, 37.0)[0] - cover[0]  # what the R'G'B' guard lets through
    after = min(-10 * np.log10((engine_i420_roundtrip(rgb_only.double().numpy(), kr, kb) ** 2).mean())
                for kr, kb in models.YCBCR_KR_KB.values())
    assert after < 36.0, after
    assert torch.equal(y[2], (cover + d)[2]), "a frame above the bar was changed"
    s = perturbed_system(4)
    s.cfg["cover_guard_psnr"], s.cfg["cover_guard_420"] = 37.0, True
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(s, dd, "imsm-test")
        err = checks.parity(s, paths, [(37, 53, 19, 27), (16, 16, 8, 8), (9, 7, 5, 3)], seed=2)
        assert max(err.values()) < 1e-3, err
    print(f"  after the round trip, worst matrix: {[round(float(x), 3) for x in worst]} dB (R'G'B' guard alone: "
          f"{after:.2f}); R'G'B' {[round(float(p), 3) for p in rgb]}; export parity {err}")


def test_bilinear_cover():
    """cover_filter "bilinear": an untrained down graph sends the half-pixel bilinear
    downscale of the blend (no antialiasing: at 2x the 2x2 mean), a trained one exports with
    parity, the training and export paths agree, and the description says which cover."""
    s0 = models.System(dict(config.get("small")["net"], cover_filter="bilinear")).eval()
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as d:
        sd = checks.session(export.export_graph(s0, "down", os.path.join(d, "down.onnx"), "imsm-test"))
        for H, W, h, w in ((40, 36, 20, 18), (23, 51, 15, 34), (16, 16, 5, 3)):
            fr, off, val, r = checks.random_window(rng, H, W, n_valid=int(rng.integers(1, 8)))
            got = sd.run(None, {**checks.frame_feeds(fr), "offsets": off, "valid": val, "ratio": r,
                                "out_size": np.array([h, w], np.int64), "quality": np.zeros(1, np.float32)})[0]
            t = [torch.from_numpy(x) for x in (fr, off, val, r)]
            blend = models.blend_slots(t[0], models.window_weights(*t[1:], 0.0))
            want = torch.nn.functional.interpolate(blend, size=(h, w), mode="bilinear", align_corners=False)
            assert np.abs(got - want.clamp(0, 1).numpy()).max() < 1e-5
            if (H, W, h, w) == (40, 36, 20, 18):  # exactly 2x: the 2x2 mean
                mean = blend.reshape(1, 3, 20, 2, 18, 2).mean(dim=(3, 5)).clamp(0, 1).numpy()
                assert np.abs(got - mean).max() < 1e-5
        meta = {p.key: p.value for p in onnx_meta(os.path.join(d, "down.onnx"))}
        assert "bilinear downscale" in meta["imsm.description"], meta["imsm.description"]
    s = perturbed_system(5, cover_filter="bilinear")
    with tempfile.TemporaryDirectory() as d:
        paths = export.export_all(s, d, "imsm-test")
        err = checks.parity(s, paths, [(37, 53, 19, 27), (16, 16, 8, 8), (45, 80, 30, 53)], seed=4)
        assert max(err.values()) < 1e-3, err
    fr, off, val, r = checks.random_window(rng, 40, 36, 5)
    args = [torch.from_numpy(x) for x in (fr, off, val, r)]
    with torch.no_grad():
        a = s.down(*args, (17, 15), torch.tensor([0.3]), exporting=False)
        b = s.down(*args, torch.tensor([17, 15]), torch.tensor([0.3]), exporting=True)
        bicubic = perturbed_system(5).down(*args, (17, 15), torch.tensor([0.3]))[1]
    assert float((a[0] - b[0]).abs().max()) < 1e-5
    assert float((a[1] - bicubic).abs().max()) > 1e-3  # the cover really changed
    try:
        models.System(dict(config.get("small")["net"], cover_filter="lanczos"))
        raise AssertionError("an unknown cover_filter was accepted")
    except ValueError:
        pass
    print(f"  bilinear cover export parity {err}")


def onnx_meta(path):
    import onnx

    return onnx.load(path, load_external_data=False).metadata_props


def test_training_and_export_paths_agree():
    s = perturbed_system(3)
    rng = np.random.default_rng(0)
    fr, off, val, r = checks.random_window(rng, 40, 36, 5)
    args = [torch.from_numpy(x) for x in (fr, off, val, r)]
    with torch.no_grad():
        a = s.down(*args, (17, 15), torch.tensor([0.3]), exporting=False)[0]
        b = s.down(*args, torch.tensor([17, 15]), torch.tensor([0.3]), exporting=True)[0]
        f0 = torch.rand(1, models.feature_channels(s.cfg), 12, 9)
        f1 = torch.rand_like(f0)
        c = s.synth(f0, f1, torch.tensor([0.6]), (25, 19))
        e = s.synth(f0, f1, torch.tensor([0.6]), torch.tensor([25, 19]), exporting=True)
    assert float((a - b).abs().max()) < 1e-5
    assert float((c - e).abs().max()) < 1e-5


def test_windows():
    # r = 2.5 (60 -> 24 fps): LR frame 1 at HR position 2.5
    w = data.contract_window(2.5, 2.5, lambda i: True)
    assert [i for i, _ in w] == [0, 1, 2, 3, 4, 5], w
    assert all(abs(o) <= 1 + 1e-6 for _, o in w)
    assert np.all(np.diff([o for _, o in w]) > 0)
    w = data.contract_window(0.0, 3.0, lambda i: True)
    assert [i for i, _ in w] == [-3, -2, -1, 0, 1, 2, 3], w
    w = data.contract_window(0.0, 0.5, lambda i: True)  # r < 1: one HR interval
    assert [i for i, _ in w] == [-1, 0, 1], w
    w = data.contract_window(10.0, 2.0, lambda i: i in (3, 20))  # gap: the nearest frame only
    assert [i for i, _ in w] == [3], w
    # the reference weights at tau = 0: r = 2.5, instant 30 % of the way from A to B
    off = torch.tensor([[-0.12, 0.28, 0, 0, 0, 0, 0]])
    val = torch.tensor([[1.0, 1.0, 0, 0, 0, 0, 0]])
    wts = models.window_weights(off, val, torch.tensor([2.5]))
    assert torch.allclose(wts[0, :2], torch.tensor([0.7, 0.3]), atol=1e-6), wts


def test_focus_batches():
    """`focus` (full-bilinear-focus): a focus batch draws only the listed ratios and scales,
    LR phases the stream has (k * r mod 1) and in-between targets only; `focus` = None
    draws the same batches as no `focus` key (neither path takes a draw from the RNG)."""
    rng = np.random.default_rng(0)
    clips = [("a", rng.integers(0, 256, (20, 40, 48, 3), dtype=np.uint8))]
    base = dict(config.CONFIGS["small"], crop=24, batch=4, targets=3, p_synthetic=0.0)
    foc = dict(base, focus={"p": 1.0, "ratios": [2.0, 2.5], "scales": [1.5, 2.0]})
    maker = data.BatchMaker(clips, foc, 5)
    for _ in range(12):
        b = maker.make()
        assert b["scale"] in (1.5, 2.0), b["scale"]
        assert set(b["ratio"].tolist()) <= {2.0, 2.5}, b["ratio"]
        t = b["t"]
        assert bool(((t > 0.01) & (t < 0.99)).all()), t  # no key frame among the targets
        for n, r in enumerate(b["ratio"].tolist()):
            # at r = 2 every LR frame sits on an HR frame: the targets are the midpoints
            if r == 2.0:
                assert torch.allclose(t[n], torch.full_like(t[n], 0.5)), t[n]
            else:  # r = 2.5: phase 0 or 0.5, targets 1 or 2 HR frames in
                ok = [0.4, 0.8, 0.2, 0.6]
                assert all(min(abs(x - o) for o in ok) < 1e-5 for x in t[n].tolist()), t[n]
    # synthetic scenes in focus: in-between instants too
    maker = data.BatchMaker(clips, dict(foc, p_synthetic=1.0), 6)
    b = maker.make()
    assert bool(((b["t"] > 0.01) & (b["t"] < 0.99)).all()), b["t"]
    # no focus key and focus = None: the same batches
    a = data.BatchMaker(clips, base, 7).make()
    c = data.BatchMaker(clips, dict(base, focus=None), 7).make()
    assert torch.equal(a["t"], c["t"]) and torch.equal(a["win"], c["win"]) and a["scale"] == c["scale"]


def test_channel():
    x = torch.rand(2, 3, 7, 9, requires_grad=True)
    y = chn.quantize_ste(x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))
    yd = y.detach() * 255
    assert float((yd - torch.round(yd)).abs().max()) < 1e-4
    g = torch.rand(1, 1, 7, 9).expand(1, 3, 7, 9)
    assert float((chn.chroma420(g) - g).abs().max()) < 1e-5  # grey has no chroma
    fr = (np.random.default_rng(0).random((2, 17, 23, 3)) * 255).astype(np.uint8)
    dec, nbytes = chn.x264_roundtrip(fr, 23)
    assert dec.shape == fr.shape and nbytes > 0
    # codec in the loop: forward = decoded frames, gradient = identity; threaded == sequential
    y0 = torch.rand(3, 3, 10, 14, requires_grad=True)
    y1 = torch.rand(3, 3, 10, 14)
    q0, q1 = chn.quantize_ste(y0), chn.quantize_ste(y1)
    a0, a1 = chn.codec_ste(q0, q1, [18, 23, 28])
    chn.set_codec_threads(3)
    b0, b1 = chn.codec_ste(q0, q1, [18, 23, 28])
    chn.set_codec_threads(1)
    assert torch.equal(a0, b0) and torch.equal(a1, b1)
    assert float((a0.detach() - q0.detach()).abs().max()) > 0  # the codec changed something
    # presets per sample: same as coding each pair alone with that preset
    m0, m1 = chn.codec_ste(q0, q1, [23, 23, 23], ["veryfast", "fast", "medium"])
    for n, preset in enumerate(["veryfast", "fast", "medium"]):
        pair = np.stack([(t[n].detach().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for t in (q0, q1)])
        dec, _ = chn.x264_roundtrip(pair, 23, preset=preset)
        assert np.array_equal((m0[n].detach().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), dec[0]), preset
    a0.sum().backward()
    assert torch.allclose(y0.grad, torch.ones_like(y0))
    # a second encoder: x265 samples go to worker processes, x264 ones stay here; x265
    # pictures under 16 px are padded and cropped back
    encs = ["libx265", "libx264", "libx265"]
    x0, x1 = chn.codec_ste(q0, q1, [23, 23, 28], ["veryfast", "veryfast", "medium"], encs)
    x0 = x0.detach()
    alone, _ = chn.codec_ste(q0[1:2].detach(), q1[1:2].detach(), [23])
    assert torch.equal(x0[1], alone[0]), "the x264 sample of a mixed batch differs from coding it alone"
    q0, q1 = q0.detach(), q1.detach()
    ref264, _ = chn.codec_ste(q0, q1, [23, 23, 28])
    for n in (0, 2):
        err265, err264 = float((x0[n] - q0[n]).abs().mean()), float((ref264[n] - q0[n]).abs().mean())
        assert x0[n].shape == q0[n].shape and err265 > 0, "x265 changed nothing"
        # on this noise x264 and x265 lose about as much (0.18-0.19 each, measured)
        assert abs(err265 - err264) < 0.05, (n, err265, err264)
    y0b, _ = chn.codec_ste(q0, q1, [23, 23, 28], ["veryfast", "veryfast", "medium"], encs)
    assert torch.equal(x0, y0b), "x265 through the workers is not deterministic"
    # a worker that dies (as libx265 once made a process die) costs a restart, not the batch
    pool = chn.x265_pool()
    for proc in list(pool.pool._processes.values()):
        proc.kill()
    restarts = pool.restarts
    y0c, _ = chn.codec_ste(q0, q1, [23, 23, 28], ["veryfast", "veryfast", "medium"], encs)
    assert torch.equal(x0, y0c) and pool.restarts == restarts + 1, pool.restarts
    assert chn.crf_to_quality(23, "libx265") == chn.crf_to_quality(21.5)
    chn.check_encoders(["libx264", "libx265"])
    try:
        chn.check_encoders(["libx264", "libvpx-vp9"])
        raise AssertionError("an encoder the channel cannot code was accepted")
    except RuntimeError:
        pass
    try:
        chn.codec_ste(q0, q1, [23] * 3, None, ["libx264", "vp9", "libx264"])
        raise AssertionError("an unknown encoder was accepted")
    except ValueError:
        pass


def test_never_worse_gap():
    """The hinge of `small-codec`: per sample, hiding's loss minus that of the same sample sent
    plain through the same codec. A perfect hiding output is never worse (gap < 0 on every
    sample); a useless one (the target's negative) is worse; gradients reach only the hiding output, the plain side is a fixed target."""
    from imsm.losses import per_sample_charbonnier
    from imsm.trainer import Trainer

    torch.manual_seed(4)
    tr = Trainer.__new__(Trainer)  # only `system` and `cfg` are needed here (no data, no optimiser)
    tr.system, tr.cfg = perturbed_system(4), {}
    n, k, h, w = 3, 2, 24, 32
    target = torch.rand(n * k, 3, h, w)
    cover = torch.rand(2 * n, 3, h // 2, w // 2)
    chroma = torch.tensor([True, False, True]).reshape(-1, 1, 1, 1)
    t = torch.tensor([[0.5, 0.25]] * n)
    gap = tr.never_worse_gap(target.clone().requires_grad_(), target, cover, chroma, [18, 23, 28],
                             ["veryfast", "fast", "medium"], t, (h, w))
    assert gap.shape == (n,) and bool((gap < 0).all()), gap
    noise = (1.0 - target).requires_grad_()  # the negative: |diff| ~ 0.5 vs ~ 0.33 of unrelated content
    gap = tr.never_worse_gap(noise, target, cover, chroma, [18, 23, 28], ["veryfast"] * 3, t, (h, w))
    assert bool((gap > 0).all()), gap
    # the plain side is the same per sample: gap + hiding's own loss is independent of the hiding output
    plain_a = per_sample_charbonnier(noise.detach(), target, n) - gap.detach()
    gap_b = tr.never_worse_gap(target.clone(), target, cover, chroma, [18, 23, 28], ["veryfast"] * 3, t, (h, w))
    plain_b = per_sample_charbonnier(target, target, n) - gap_b
    assert torch.allclose(plain_a, plain_b, atol=1e-6), (plain_a, plain_b)
    torch.relu(gap).sum().backward()
    assert noise.grad is not None and float(noise.grad.abs().sum()) > 0
    assert all(p.grad is None for p in tr.system.parameters()), "the plain side must not be trained by the hinge"


def test_alignment_in_the_loop():
    """`small-aligned`: the training measures each pair's global shift as imsmup does, moves
    both frames' features by the engine's rule, and (with `synth_shift_maps`) tells the synth
    each frame's displacement; the exported graph computes the same maps from shift0 / index0."""
    from imsm.trainer import Trainer, global_shifts, move_beyond_reach

    # the global shift: a pan found, a still pair and one under 3 px left alone
    g = torch.Generator().manual_seed(5)
    a = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 40, 48, generator=g), 3, 1, 1)
    b = a.clone()
    b[0] = ops.shift_torch(a[0:1], torch.tensor([5, -4]))[0]
    b[2] = ops.shift_torch(a[2:3], torch.tensor([0, 2]))[0]
    b[3] = ops.shift_torch(a[3:4], torch.tensor([-10, 9]))[0]
    assert global_shifts(a, b).tolist() == [[5, -4], [0, 0], [0, 0], [-10, 9]], global_shifts(a, b)
    assert global_shifts(a[:, :, :8, :8], b[:, :, :8, :8]).abs().sum() == 0  # too small to search
    # the engine's move_beyond_reach: beyond 2 px, rounded half away from zero
    d = torch.tensor([[2.5, -2.5], [4.4, -7.6], [1.0, 0.0], [-2.0, 3.49]])
    assert move_beyond_reach(d).tolist() == [[1, -1], [2, -6], [0, 0], [0, 1]]
    # a checkpoint widened for the displacement maps renders as before, maps or not (up to the
    # convolution's summation order over more input channels)
    old = perturbed_system(6)
    new = models.System(dict(old.cfg, synth_shift_maps=True)).eval()
    new.load_state_dict(models.widen_for_shift_maps(old.state_dict()))
    c = models.feature_channels(old.cfg)
    f0, f1 = torch.rand(1, c, 11, 14, generator=g), torch.rand(1, c, 11, 14, generator=g)
    t = torch.tensor([0.4])
    with torch.no_grad():
        want = old.synth(f0, f1, t, (22, 28))
        dm = torch.full((1, 2, 11, 14), 3.0)
        for d in (None, dm):
            got = new.synth(f0, f1, t, (22, 28), d0=d, d1=None if d is None else -d)
            assert float((got - want).abs().max()) < 1e-5, float((got - want).abs().max())
    # render: a still pair is not moved (aligned or not, the same frames up to the trunk's
    # batching); a panned one is
    tr = Trainer.__new__(Trainer)
    tr.system, tr.cfg = perturbed_system(7), {"align": True}
    with torch.no_grad():
        f = torch.rand(2, c, 40, 48, generator=g)
        tt = torch.tensor([[0.5, 0.1], [0.5, 0.9]])
        aligned, moved = tr.render(f[:1], f[1:], a[1:2], b[1:2], tt[:1], (40, 48))
        tr.cfg = {"align": False}
        plain, _ = tr.render(f[:1], f[1:], a[1:2], b[1:2], tt[:1], (40, 48))
        assert float((aligned - plain).abs().max()) < 1e-5 and moved == 0.0
        tr.cfg = {"align": True}
        _, moved = tr.render(f[:1], f[1:], a[3:4], b[3:4], tt[:1], (40, 48))  # g = (-10, 9): both instants move
        assert moved == 1.0
    # exported with the maps: the graph's maps are (y, x) - source + shift, as ops.displacement
    # computes them, at every pixel of a random gather
    s = perturbed_system(8)
    s.cfg["synth_shift_maps"] = True
    s2 = models.System(s.cfg).eval()
    s2.load_state_dict(models.widen_for_shift_maps(s.state_dict()))
    with torch.no_grad():
        s2.synth.inp.weight[:, 2 * c:].normal_(0, 0.2)  # the maps matter
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(s2, dd, "imsm-test")
        checks.check_contract(paths["synth"], "synth")
        err = checks.parity(s2, paths, [(37, 53, 19, 27), (16, 16, 8, 8), (9, 7, 9, 7), (3, 2, 1, 1)], seed=4)
        assert max(err.values()) < 1e-3, err
        ss = checks.session(paths["synth"])
        r = np.random.default_rng(3)
        h, w = 7, 10
        idx = r.integers(0, h * w, h * w).astype(np.int64)
        sh = np.array([2, -3], np.int64)
        ys, xs = np.divmod(np.arange(h * w), w)
        iy, ix = np.divmod(idx, w)
        want_maps = np.stack([ys - iy + 2, xs - ix - 3]).reshape(1, 2, h, w).astype(np.float32)
        got_maps = ops.displacement(torch.from_numpy(sh), torch.from_numpy(idx), torch.zeros(1, c, h, w)).numpy()
        assert np.array_equal(got_maps, want_maps)
        fe0, fe1 = (r.random((1, c, h, w), dtype=np.float32) for _ in range(2))
        ident = np.arange(h * w, dtype=np.int64)
        feeds = {"feat0": fe0, "feat1": fe1, "t": np.array([0.5], np.float32), "out_size": np.array([14, 20], np.int64),
                 "shift0": sh, "shift1": np.zeros(2, np.int64), "index0": idx, "index1": ident}
        got = ss.run(None, feeds)[0]
        with torch.no_grad():
            moved0 = ops.gather_torch(ops.shift_torch(torch.from_numpy(fe0), torch.from_numpy(sh)), torch.from_numpy(idx))
            ref = s2.synth(moved0, torch.from_numpy(fe1), torch.tensor([0.5]), (14, 20),
                           d0=torch.from_numpy(want_maps), d1=torch.zeros(1, 2, h, w)).numpy()
        assert np.abs(got - ref).max() < 1e-4, np.abs(got - ref).max()
        unaware = ss.run(None, dict(feeds, shift0=np.zeros(2, np.int64), index0=ident))[0]
        assert np.abs(got - unaware).max() > 1e-3
    # the ablation's switch: --set net.synth_shift_maps=false changes this run's network only
    cfg = config.get("small-aligned")
    config.override(cfg, "net.synth_shift_maps=false")
    assert cfg["net"]["synth_shift_maps"] is False and config.CONFIGS["small-aligned"]["net"]["synth_shift_maps"]
    print(f"  parity with displacement maps {err}")


def test_unmoved_features():
    """`synth_unmoved`: the synth trunk also reads each frame's features as they were before
    the alignment moved them, through a layer of its own. A checkpoint widened for it (and
    the displacement maps, as train.read_init widens) renders exactly as before; exported,
    the graph hands that layer the features it was given, and matches PyTorch."""
    import train

    keys = list(train.WIDENABLE)
    old = perturbed_system(9)
    c = models.feature_channels(old.cfg)
    net = dict(old.cfg, synth_shift_maps=True, synth_unmoved=True)
    state = old.state_dict()
    for key in keys:
        if net.get(key) and not old.cfg.get(key):
            state = train.WIDENABLE[key](state, old.cfg)
    new = models.System(net).eval()
    new.load_state_dict(state)
    g = torch.Generator().manual_seed(9)
    f0, f1, u0 = (torch.rand(1, c, 11, 14, generator=g) for _ in range(3))
    t = torch.tensor([0.3])
    with torch.no_grad():
        want = old.synth(f0, f1, t, (22, 28))
        got = new.synth(f0, f1, t, (22, 28), d0=torch.full((1, 2, 11, 14), 2.0), u0=u0)
    assert float((got - want).abs().max()) < 1e-5, float((got - want).abs().max())
    assert sorted(k for k in new.state_dict() if "unmoved" in k) == ["synth.inp_unmoved.bias", "synth.inp_unmoved.weight"]
    with torch.no_grad():
        new.synth.inp_unmoved.weight.normal_(0, 0.2)  # the unmoved features matter
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(new, dd, "imsm-test")
        checks.check_contract(paths["synth"], "synth")
        err = checks.parity(new, paths, [(37, 53, 19, 27), (9, 7, 9, 7), (3, 2, 1, 1)], seed=5)
        assert max(err.values()) < 1e-3, err
        ss = checks.session(paths["synth"])
        r = np.random.default_rng(4)
        h, w = 8, 9
        fe0, fe1 = (r.random((1, c, h, w), dtype=np.float32) for _ in range(2))
        sh, ident = np.array([1, 3], np.int64), np.arange(h * w, dtype=np.int64)
        feeds = {"feat0": fe0, "feat1": fe1, "t": np.array([0.5], np.float32), "out_size": np.array([16, 18], np.int64),
                 "shift0": sh, "shift1": np.zeros(2, np.int64), "index0": ident, "index1": ident}
        got = ss.run(None, feeds)[0]
        with torch.no_grad():
            raw0, raw1 = torch.from_numpy(fe0), torch.from_numpy(fe1)
            moved0 = ops.shift_torch(raw0, torch.from_numpy(sh))
            maps0 = ops.displacement(torch.from_numpy(sh), torch.from_numpy(ident), raw0)
            args = (moved0, raw1, torch.tensor([0.5]), (16, 18))
            ref = new.synth(*args, d0=maps0, d1=torch.zeros(1, 2, h, w), u0=raw0, u1=raw1).numpy()
            wrong = new.synth(*args, d0=maps0, d1=torch.zeros(1, 2, h, w), u0=moved0, u1=raw1).numpy()
        assert np.abs(got - ref).max() < 1e-4, np.abs(got - ref).max()
        assert np.abs(got - wrong).max() > 1e-3  # the graph reads the features as given
    print(f"  parity with unmoved features {err}")


def test_mlp_phase_maps():
    """`mlp_coords`: the synth MLP's sub-pixel phase maps say where each output pixel sits
    inside its LR pixel; a checkpoint widened for them renders exactly as before; exported
    with dynamic sizes they match PyTorch at integer and non-integer scales."""
    # at 2x the output rows sit at LR coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25, ...
    ph = ops.subpixel_phase(torch.zeros(1, 3, 4, 6), (8, 9))
    assert ph.shape == (1, 4, 8, 9)
    rows = ph[0, 0, :, 0].tolist()  # sin of rows
    want = [0.0] + [math.sin(2 * math.pi * (0.25 + 0.5 * k)) for k in range(6)] + [0.0]
    assert np.allclose(rows, want, atol=1e-5), rows
    # at 6 -> 9 columns the phase cycles with period 3 output pixels (u = (x + 0.5) * 2 / 3 - 0.5)
    cols = ph[0, 3, 0, :].tolist()  # cos of columns
    u = [min(max((x + 0.5) * 6 / 9 - 0.5, 0.0), 5.0) for x in range(9)]
    assert np.allclose(cols, [math.cos(2 * math.pi * v) for v in u], atol=1e-5), cols
    # widening keeps the output; with the maps' weights set, they change it
    old = perturbed_system(9)
    new = models.System(dict(old.cfg, mlp_coords=True)).eval()
    new.load_state_dict(models.widen_for_mlp_coords(old.state_dict()))

    def train_maps():
        new.synth.mlp1.weight[:, -models.COORD_CHANNELS:].normal_(0, 0.5)

    err = check_widened_synth(old, new, train_maps, seed=5, t=0.4, size=(25, 31))
    print(f"  parity with phase maps {err}")


def check_widened_synth(old, new, train_new_layers, seed, t, size):
    """A synth widened from `old`'s (`new`) renders what `old` did on random features; once
    `train_new_layers()` has set its new weights it does not; exported, its graphs match
    PyTorch at integer, non-integer and odd sizes. Returns the parity errors."""
    c = models.feature_channels(old.cfg)
    g = torch.Generator().manual_seed(seed)
    f0, f1 = torch.rand(1, c, 11, 14, generator=g), torch.rand(1, c, 11, 14, generator=g)
    t = torch.tensor([t])
    with torch.no_grad():
        want = old.synth(f0, f1, t, size)
        assert float((new.synth(f0, f1, t, size) - want).abs().max()) < 1e-6
        train_new_layers()
        assert float((new.synth(f0, f1, t, size) - want).abs().max()) > 1e-3
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(new, dd, "imsm-test")
        checks.check_contract(paths["synth"], "synth")
        err = checks.parity(new, paths, [(37, 53, 19, 27), (40, 60, 20, 30), (30, 45, 20, 30), (3, 2, 1, 1)], seed=6)
        assert max(err.values()) < 1e-4, err
    return err


def test_synth_grid2():
    """`synth_grid2`: the synth's correction and MLP features on a 2x grid; a checkpoint
    widened for it (train.WIDENABLE) renders exactly as before, its layers once trained
    change the output; exported, it matches PyTorch at integer, non-integer and odd sizes."""
    import train

    old = perturbed_system(13)
    new = models.System(dict(old.cfg, synth_grid2=True)).eval()
    new.load_state_dict(train.WIDENABLE["synth_grid2"](old.state_dict(), old.cfg))

    def train_grid2():
        for layer in (new.synth.delta2, new.synth.g2):
            layer.weight.normal_(0, 0.05)

    check_widened_synth(old, new, train_grid2, seed=7, t=0.5, size=(22, 28))


def test_lr_mult():
    """`lr_mult`: parameters under a listed prefix form their own optimiser group at that
    multiple of the schedule's rate (what full-focus-grid2 gives the widened 2x-grid layers);
    a prefix naming no parameter is an error, not silently ignored."""
    from imsm import trainer

    s = models.System(dict(perturbed_system(13).cfg, synth_grid2=True))
    groups = trainer.param_groups(s, {"synth.delta2.": 10.0, "synth.g2.": 10.0})
    by_mult = {g["lr_mult"]: g["params"] for g in groups}
    assert sorted(by_mult) == [1.0, 10.0]
    fast = {id(p) for p in by_mult[10.0]}
    want = {id(p) for n, p in s.named_parameters() if n.startswith(("synth.delta2.", "synth.g2."))}
    assert fast == want and len(want) == 4
    assert sum(len(ps) for ps in by_mult.values()) == len(list(s.parameters()))
    assert [g["lr_mult"] for g in trainer.param_groups(s, {})] == [1.0]
    try:
        trainer.param_groups(s, {"synth.nothing.": 2.0})
        raise AssertionError("an unknown prefix was accepted")
    except ValueError as e:
        assert "synth.nothing." in str(e)
    cfg = config.get("full-focus-grid2")
    assert cfg["net"]["synth_grid2"] and cfg["latent"] == 0.0
    assert {g["lr_mult"] for g in trainer.param_groups(models.System(cfg["net"]), cfg["lr_mult"])} == {1.0, 10.0}


def test_synth_latent():
    """`synth_latent`: the features carry the recovered latent; a checkpoint widened for it
    (with and without displacement maps) renders exactly as before; export parity holds."""
    import train

    for shift_maps in (False, True):
        old = perturbed_system(11)
        if shift_maps:
            old = models.System(dict(old.cfg, synth_shift_maps=True)).eval()
            sd = models.widen_for_shift_maps(perturbed_system(11).state_dict())
            with torch.no_grad():
                sd["synth.inp.weight"][:, -2 * models.DISP_CHANNELS:].normal_(0, 0.1)
            old.load_state_dict(sd)
        new = models.System(dict(old.cfg, synth_latent=True)).eval()
        new.load_state_dict(train.WIDENABLE["synth_latent"](old.state_dict(), old.cfg))
        assert models.feature_channels(new.cfg) == models.feature_channels(old.cfg) + old.cfg["cz"]
        g = torch.Generator().manual_seed(3)
        lr0, lr1 = torch.rand(1, 3, 9, 13, generator=g), torch.rand(1, 3, 9, 13, generator=g)
        d = torch.rand(1, 2, 9, 13, generator=g) if shift_maps else None
        with torch.no_grad():
            fo = [old.reveal_fwd(x, torch.ones(1))[0] for x in (lr0, lr1)]
            fn = [new.reveal_fwd(x, torch.ones(1))[0] for x in (lr0, lr1)]
            assert torch.equal(fn[0][:, :fo[0].shape[1]], fo[0])
            assert torch.equal(fn[0][:, fo[0].shape[1]:], old.reveal_fwd(lr0, torch.ones(1))[2])
            want = old.synth(*fo, torch.tensor([0.4]), (20, 27), d0=d, d1=d)
            got = new.synth(*fn, torch.tensor([0.4]), (20, 27), d0=d, d1=d)
            assert float((got - want).abs().max()) < 1e-6
    with tempfile.TemporaryDirectory() as dd:
        paths = export.export_all(new, dd, "imsm-test")
        for gname in ("reveal", "synth"):
            checks.check_contract(paths[gname], gname)
        err = checks.parity(new, paths, [(37, 53, 19, 27), (3, 2, 1, 1)], seed=6)
        assert max(err.values()) < 1e-4, err


def test_smoke_small():
    import train

    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        # The fixture library holds one training clip and one dev clip (media_flower_b).
        eval_clip = "media_flower_b" if FIXTURE_DIR else "tennis"
        print(f"  video library: {data.VIDEO_ROOT}")
        rc = train.main(["--config", "small", "--seed", "3", "--out", d, "--steps", "60", "--n-clips", "4",
                         "--max-frames", "12", "--eval-clips", eval_clip, "--eval-frames", "7"])
        assert rc == 0
        for f in ("down.onnx", "reveal.onnx", "synth.onnx", "provenance.json", "checkpoint.pt"):
            assert os.path.exists(os.path.join(d, f)), f
        prov = json.load(open(os.path.join(d, "provenance.json")))
        assert prov["steps"] == 60, prov["steps"]
        assert max(prov["checks"]["parity_max_abs_err"].values()) < 1e-3
        assert prov["checks"]["invertibility_max_abs_err"] < 1e-4
        assert prov["evaluation"]["rows"], "no evaluation rows"
        assert set(prov["data"]["held_out_train_clips"]).isdisjoint(c["clip"] for c in prov["data"]["train_clips"])
        for g in ("down", "reveal", "synth"):
            checks.check_contract(os.path.join(d, g + ".onnx"), g)
        # reexport.py: the same graphs again from checkpoint.pt, training record untouched
        import reexport

        before = {g: open(os.path.join(d, g + ".onnx"), "rb").read() for g in ("down", "reveal", "synth")}
        assert reexport.main(["--models", d]) == 0
        prov2 = json.load(open(os.path.join(d, "provenance.json")))
        entry = prov2.pop("exports")
        assert prov2 == prov, "reexport.py altered the training record"
        assert len(entry) == 1 and entry[0]["contract"] == CONTRACT, entry
        assert max(entry[0]["parity_max_abs_err"].values()) < 1e-3 and entry[0]["invertibility_max_abs_err"] < 1e-4
        for g in ("down", "reveal", "synth"):
            checks.check_contract(os.path.join(d, g + ".onnx"), g)
            assert open(os.path.join(d, g + ".onnx"), "rb").read() == before[g], f"{g}: re-export differs"
        # --init-from: a run that starts from this one's weights (0 steps: exactly them) and
        # records where they came from; another network is refused
        import hashlib

        import torch

        d2 = os.path.join(d, "init")
        rc = train.main(["--config", "small-codec", "--seed", "3", "--out", d2, "--steps", "0", "--n-clips", "2",
                         "--max-frames", "8", "--eval-clips", "none", "--init-from", d])
        assert rc == 0
        a = torch.load(os.path.join(d, "checkpoint.pt"), weights_only=False)
        b = torch.load(os.path.join(d2, "checkpoint.pt"), weights_only=False)
        assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"]), "--init-from did not load the weights"
        init = json.load(open(os.path.join(d2, "provenance.json")))["init_from"]
        with open(os.path.join(d, "checkpoint.pt"), "rb") as f:
            assert init["sha256"] == hashlib.sha256(f.read()).hexdigest() and init["step"] == 60, init
        try:
            train.main(["--config", "full", "--seed", "3", "--out", os.path.join(d, "x"), "--steps", "0",
                        "--n-clips", "2", "--eval-clips", "none", "--init-from", d])
            raise AssertionError("--init-from accepted another network")
        except SystemExit as e:
            assert e.code == 2
        el = time.time() - t0
        print(f"  smoke run {el:.0f}s")
        assert el < 300, el


def test_codec_mix_run():
    """--set overrides a configuration value (recorded in provenance.json) and refuses
    unknown keys; a run with two encoders in the loop (`codec_mix`) codes through x265's
    worker processes as well as x264."""
    import train

    with tempfile.TemporaryDirectory() as d:
        mix = {"libx264": 0.5, "libx265": 0.5}
        rc = train.main(["--config", "small", "--seed", "7", "--out", d, "--steps", "4", "--n-clips", "2",
                         "--max-frames", "8", "--eval-clips", "none", "--set", "p_codec=1.0",
                         "--set", "codec_start=0.0", "--set", "codec_mix=" + json.dumps(mix)])
        assert rc == 0
        hp = json.load(open(os.path.join(d, "provenance.json")))["hyperparameters"]
        assert hp["codec_mix"] == mix and hp["p_codec"] == 1.0, hp
        assert chn.x265_pool().pool is not None, "no sample went through x265"
        for bad in ("p_codex=1", "p_codec", "crf=[16,"):
            try:
                train.main(["--config", "small", "--seed", "7", "--out", d, "--set", bad])
                raise AssertionError(f"--set {bad} was accepted")
            except SystemExit as e:
                assert e.code == 2


def test_resume_in_segments():
    """A run split by --segment-minutes / --resume (the GPU machine allows 10 minutes per
    command) pauses with EXIT_PAUSED, continues where it stopped, finishes with the planned
    steps and records each segment; --resume on a finished run only re-exports."""
    import torch

    import train

    with tempfile.TemporaryDirectory() as d:
        common = ["--config", "small", "--seed", "5", "--out", d, "--steps", "40", "--n-clips", "2",
                  "--max-frames", "8", "--eval-clips", "none", "--resume"]
        rc = train.main(common + ["--segment-minutes", "0.02"])
        assert rc == train.EXIT_PAUSED, rc
        assert not os.path.exists(os.path.join(d, "down.onnx")), "a paused run must not export"
        ck = torch.load(os.path.join(d, "checkpoint.pt"), weights_only=False)
        first = ck["step"]
        assert 0 < first < 40 and "trainer" in ck and len(ck["segments"]) == 1, (first, ck.keys())
        rc = train.main(common)
        assert rc == 0, rc
        prov = json.load(open(os.path.join(d, "provenance.json")))
        assert prov["steps"] == 40, prov["steps"]
        segs = prov["segments"]
        assert [(sg["step_from"], sg["step_to"]) for sg in segs] == [(0, first), (first, 40)], segs
        assert "trainer" not in torch.load(os.path.join(d, "checkpoint.pt"), weights_only=False)
        before = {g: open(os.path.join(d, g + ".onnx"), "rb").read() for g in ("down", "reveal", "synth")}
        assert train.main(common) == 0  # finished: export again, same graphs, same steps
        prov2 = json.load(open(os.path.join(d, "provenance.json")))
        assert prov2["steps"] == 40 and prov2["segments"] == segs
        for g in ("down", "reveal", "synth"):
            assert open(os.path.join(d, g + ".onnx"), "rb").read() == before[g], g
        # another configuration or seed cannot resume this run
        try:
            train.main([a if a != "5" else "6" for a in common])
            raise AssertionError("resuming with another seed was accepted")
        except SystemExit as e:
            assert e.code == 2


def test_device_script_segments():
    """training/device/full.sh, as a GPU task at 15 minutes runs it (here on the CPU, with
    `small`): a segment pauses with exit 4 and returns a checkpoint too big for one file
    in parts; a fresh machine joins the parts, resumes at the same step and finishes with
    the graphs and a provenance that lists both segments."""
    import subprocess

    import torch

    script = os.path.join(HERE, "device", "full.sh")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                   DEVICE="cpu", CONFIG="small", SEED="3", MAX_MINUTES="0.1", EVAL_CLIPS="none", WAIT_S="300",
                   VIDEO_ROOT=data.VIDEO_ROOT, PART_MIB="1")

        def call(n, **extra):
            out = os.path.join(d, f"out{n}")
            os.makedirs(out)
            r = subprocess.run(["bash", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                               env=dict(env, RUN_DIR=os.path.join(d, f"run{n}"), OUT=out, **extra))
            return r, out

        r, out1 = call(1, SEGMENT_MINUTES="0.03", RESUME_DIR=os.path.join(d, "none"))
        assert r.returncode == 4, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
        parts = sorted(f for f in os.listdir(out1) if f.startswith("checkpoint.pt."))
        assert parts[:2] == ["checkpoint.pt.00", "checkpoint.pt.01"], os.listdir(out1)
        assert all(os.path.getsize(os.path.join(out1, f)) <= 1 << 20 for f in parts)
        assert not os.path.exists(os.path.join(out1, "down.onnx")), "a paused run must not export"
        joined = os.path.join(d, "joined.pt")
        with open(joined, "wb") as f:
            for p in parts:
                f.write(open(os.path.join(out1, p), "rb").read())
        paused = torch.load(joined, weights_only=False)["step"]

        r, out2 = call(2, RESUME_DIR=out1)
        assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
        for g in ("down.onnx", "reveal.onnx", "synth.onnx", "provenance.json", "checkpoint.pt"):
            assert os.path.exists(os.path.join(out2, g)), (g, os.listdir(out2))
        segs = json.load(open(os.path.join(out2, "provenance.json")))["segments"]
        assert len(segs) == 2 and segs[0]["step_to"] == segs[1]["step_from"] == paused > 0, segs


def test_device_probe_script():
    """training/device/probe.sh, as the GPU machine runs it (here on the CPU, with tiny
    probes): every probe starts at once, the call ends when all have, and their logs and
    results come back in one pack."""
    import subprocess
    import tarfile

    clip = "media_flower_b" if FIXTURE_DIR else "tennis"
    tiny = "--config small --direct-ch 8 --direct-down-blocks 1 --direct-up-blocks 1"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                   DEVICE="cpu", MINUTES="0.03", WAIT_S="300", WORKERS="1", VIDEO_ROOT=data.VIDEO_ROOT, RUN_DIR=os.path.join(d, "run"),
                   OUT=out, EXTRA=f"--eval-clips {clip} --eval-frames 5",
                   PROBES=f"d1=--arch direct --hide 1 {tiny};d0=--arch direct --hide 0 {tiny}")
        r = subprocess.run(["bash", os.path.join(HERE, "device", "probe.sh")], cwd=REPO, capture_output=True,
                           text=True, timeout=600, env=env)
        assert r.returncode == 0 and "finished" in r.stdout, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
        with tarfile.open(os.path.join(out, "probes.tar.gz")) as t:
            t.extractall(os.path.join(d, "back"), filter="data")
        for name, hide in (("d1", 1), ("d0", 0)):
            res = json.load(open(os.path.join(d, "back", name, "result.json")))
            assert res["args"]["hide"] == hide and res["steps"] >= 1, res
            assert [row["clip"] for row in res["rows"]] == [clip], res["rows"]
        # the gain table reads the pack: one pair (d), its clip and the mean
        sys.path.insert(0, os.path.join(HERE, "device"))
        import probe_table

        rows = probe_table.gain_rows(probe_table.read_results(os.path.join(d, "back")))
        assert [(r[0], r[1]) for r in rows] == [("d", clip), ("d", "mean")], rows
        assert abs(rows[0][4] - (rows[0][2] - rows[0][3])) < 1e-9 and rows[0][5] is not None
        assert probe_table.main([os.path.join(out, "probes.tar.gz")]) == 0


def test_device_data_pack():
    """training/device/pack_data.py: a tar with the manifest and every clip, readable by
    the training's loader at the packed size (here from the fixture library or the real one,
    two clips, 8 frames)."""
    import csv
    import tarfile

    sys.path.insert(0, os.path.join(HERE, "device"))
    import pack_data

    with tempfile.TemporaryDirectory() as d:
        root = data.VIDEO_ROOT
        rows = [r for r in data.read_manifest(root) if r["split"] in ("train", "dev")][:2]
        lib = os.path.join(d, "lib")
        for r in rows:
            os.makedirs(os.path.join(lib, r["split"], r["clip"]))
            os.symlink(data.clip_path(root, r), os.path.join(lib, r["split"], r["clip"], r["file"]))
        with open(os.path.join(lib, "manifest.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        tar = os.path.join(d, "pack.tar")
        assert pack_data.main(["--root", lib, "--out", tar, "--frames", "8", "--short", "96"]) == 0
        out = os.path.join(d, "out")
        with tarfile.open(tar) as t:
            t.extractall(out, filter="data")
        packed = data.read_manifest(out)
        assert [r["clip"] for r in packed] == [r["clip"] for r in rows]
        for r in packed:
            fr = data.load_clip(data.clip_path(out, r), 100, 1000)
            assert fr.shape[0] == int(r["frames"]) == 8, (r, fr.shape)
            assert min(fr.shape[1:3]) <= 96 and (fr.shape[2], fr.shape[1]) == (int(r["width"]), int(r["height"]))


def test_deepen():
    # More IMSM coupling blocks and reveal blocks from a checkpoint: the same outputs at first.
    net = config.CONFIGS["small"]["net"]
    torch.manual_seed(0)
    a = models.System(net).eval()
    with torch.no_grad():  # a trained-like checkpoint: no zero layers left
        for p in a.parameters():
            p.add_(0.01 * torch.randn_like(p))
    deeper = dict(net, imsm_blocks=net["imsm_blocks"] + 2, rev_blocks=net["rev_blocks"] + 1)
    b = models.System(deeper).eval()
    b.load_state_dict(models.deepen(a.state_dict(), deeper), strict=True)
    fr, off, val = torch.rand(1, 21, 20, 28), torch.tensor([[-0.5, 0, 0.5, 0, 0, 0, 0]]), torch.tensor([[1.0, 1, 1, 0, 0, 0, 0]])
    with torch.no_grad():
        ya, *_ = a.down(fr, off, val, torch.tensor([2.0]), (10, 14), torch.zeros(1))
        yb, *_ = b.down(fr, off, val, torch.tensor([2.0]), (10, 14), torch.zeros(1))
        fa, fb = a.reveal_fwd(ya, torch.ones(1))[0], b.reveal_fwd(yb, torch.ones(1))[0]
    assert torch.equal(ya, yb) and torch.equal(fa, fb)
    assert len(b.down.imsm.blocks) == len(a.down.imsm.blocks) + 2
    try:
        models.deepen(a.state_dict(), dict(net, enc_blocks=net["enc_blocks"] + 1))
        raise AssertionError("deepen accepted a new encoder block")
    except KeyError:
        pass


def test_diagnose_hiding():
    import diagnose_hiding as dh

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 4))
    y = a @ rng.standard_normal((4, 3)) + 0.5
    r2, rms = dh.ridge_r2(a, y)
    assert r2 > 0.999 and rms < 1e-2, (r2, rms)
    r2, _ = dh.ridge_r2(a, rng.standard_normal((2000, 3)))
    assert abs(r2) < 0.01, r2
    assert dh.correlation(np.zeros(5), np.arange(5.0)) == 0.0
    # An untrained system: the synth reads only the two frames' RGB (its feature paths are
    # zero-initialised) and the IMSM is the identity, so every receiver renders the same,
    # and the latent is not recovered at all (the identity puts it all in the dropped part).
    torch.manual_seed(0)
    system = models.System(config.CONFIGS["small"]["net"]).eval()
    clip = "media_flower_b" if FIXTURE_DIR else "tennis"
    import probe_latent_decoder as pld

    dec = pld.LatentDecoder(system.reveal.cz, ch=8, blocks=1)  # starts as the IMSM inverse's estimate
    out = dh.diagnose(system, [clip], 2.0, 2.0, frames=5, short=48, max_w=64, log=lambda *_: None,
                      latent_decoder=dec)
    assert out["probe"]["z_dec"] == out["probe"]["z_hat"], out["probe"]
    psnr = out["receivers"]
    assert max(psnr.values()) - min(psnr.values()) < 1e-9, psnr
    assert out["latent_corr"] == 0.0, out["latent_corr"]
    assert out["probe"]["z_hat"]["r2"] < 1e-3 < out["probe"]["z"]["r2"], out["probe"]


def test_probe_channel():
    import probe_channel as pc

    # The window's slot at an offset: at ratio 2 the key frame (0) and the next, dropped one (0.5).
    wd = data.contract_window(4.0, 2.0, lambda i: 0 <= i < 6)
    x = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1).expand(6, 3, 4, 4)
    win, off, val = data.pack_window(lambda idx: x[idx], wd, 4, 4)
    assert float(pc.slot_at(win[None], off[None], val[None], 0.0)[0, 0, 0, 0]) == 4.0
    assert float(pc.slot_at(win[None], off[None], val[None], 0.5)[0, 0, 0, 0]) == 5.0  # frame 6 absent: 5 is nearest
    # Untrained, both architectures send exactly the cover and render the bicubic upscale of
    # the two covers' mean (their image-writing layers start at zero; the IMSM is the identity).
    cfg = config.get("small")
    clip = "media_flower_b" if FIXTURE_DIR else "tennis"
    for arch, receiver in (("imsm", "imsm"), ("direct", "direct"), ("imsm", "reveal-direct")):
        torch.manual_seed(0)
        probe = pc.Probe(arch, True, cfg["net"], 8, 1, 1, receiver)
        rows = pc.evaluate(probe, lambda *_: None, clips=[clip], frames=5, short=48, max_w=64)
        assert rows[0]["stego"] >= 99.0, (arch, receiver, rows)
        assert abs(rows[0]["mid"] - rows[0]["blend"]) < 1e-6, (arch, receiver, rows)
        # the count of what runs leaves out the System's parts this pair does not use
        total, n = sum(p.numel() for p in probe.parameters()), lambda m: sum(p.numel() for p in m.parameters())
        unused = n(probe.system.synth) if receiver == "reveal-direct" else 0
        assert probe.used_parameters() == total - unused, (arch, receiver)
    # --export-graphs: a reveal-direct probe (its head perturbed off zero) as three graphs under
    # the contract, the synth matching the probe at 2x
    torch.manual_seed(1)
    rd = pc.Probe("imsm", True, cfg["net"], 8, 1, 1, "reveal-direct")
    with torch.no_grad():
        for prm in rd.up.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    with tempfile.TemporaryDirectory() as dd:
        paths = pc.export_graphs(rd, dd, "probe-test")
        for g, path in paths.items():
            checks.check_contract(path, g)
        err = pc.direct_synth_parity(rd, paths["synth"])
        assert err < 1e-3, err
        moved = checks.session(paths["synth"]).run(None, {
            "feat0": np.ones((1, models.feature_channels(cfg["net"]), 6, 7), np.float32),
            "feat1": np.zeros((1, models.feature_channels(cfg["net"]), 6, 7), np.float32),
            "t": np.array([0.5], np.float32), "out_size": np.array([9, 11], np.int64),
            "shift0": np.zeros(2, np.int64), "shift1": np.zeros(2, np.int64),
            "index0": np.arange(42, dtype=np.int64), "index1": np.arange(42, dtype=np.int64)})[0]
        assert moved.shape == (1, 3, 9, 11)  # any output size, not only 2x
    plain = pc.Probe("imsm", False, cfg["net"], 8, 1, 1)
    assert plain.used_parameters() == sum(p.numel() for p in plain.parameters()) - plain.system.param_counts()["encoder"]
    # One training step moves the hiding sender off the cover.
    cfg.update(p_plain=0.0, p_codec=0.0, p_chroma=0.0, batch=2, crop=32, focus={"p": 1.0, "ratios": [2.0], "scales": [2.0]})
    clips, _ = data.load_training_clips(dict(cfg, n_clips=1), 0, log=lambda *_: None)
    probe = pc.Probe("direct", True, cfg["net"], 8, 1, 1)
    steps = pc.train(probe, cfg, clips, 0, 0.02, log=lambda *_: None)
    assert steps >= 1
    assert float(probe.down.out.weight.detach().abs().sum()) > 0.0
    # The 4:2:0 channel (--chroma420): an untrained IMSM sends the cover (the stego PSNR is of
    # the frame as sent), and the receiver renders what the round trip left of it; a training
    # step runs through it.
    torch.manual_seed(0)
    probe = pc.Probe("imsm", True, cfg["net"], 8, 1, 1)
    rows = pc.evaluate(probe, lambda *_: None, clips=[clip], frames=5, short=48, max_w=64, chroma=True)
    assert rows[0]["stego"] >= 99.0 and abs(rows[0]["mid"] - rows[0]["blend"]) > 1e-3, rows
    assert pc.train(probe, cfg, clips, 0, 0.02, log=lambda *_: None, max_steps=1, chroma=True) == 1
    # --save-checkpoint: the probe's System, in train.py's checkpoint format, which
    # reexport.py turns into the three graphs (contract, parity and invertibility checked).
    import subprocess

    import reexport

    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, os.path.join(HERE, "probe_channel.py"), "--arch", "imsm", "--hide", "1",
                            "--set", "latent=0", "--set", "crop=32", "--set", "batch=2", "--steps", "1",
                            "--eval-clips", clip, "--eval-frames", "3", "--chroma420", "--save-checkpoint",
                            "--out", d], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
        assert reexport.main(["--models", d, "--kind", "probe-test"]) == 0
        system, ckpt = reexport.load_system(os.path.join(d, "checkpoint.pt"))
        assert ckpt["step"] == 1 and not ckpt["config"]["latent"]
        for g in ("down", "reveal", "synth"):
            checks.check_contract(os.path.join(d, g + ".onnx"), g)


def test_shipped_trained_graphs():
    for name in ("imsm-small", "imsm-small-80", "imsm-small-codec", "imsm-full", "imsm-full-bilinear",
                 "imsm-full-focus"):
        check_shipped_graphs(os.path.join(REPO, "models", name))


def check_shipped_graphs(d):
    if not os.path.exists(os.path.join(d, "down.onnx")):
        print(f"  ({d} not present: skipped)")
        return
    for g in ("down", "reveal", "synth"):
        checks.check_contract(os.path.join(d, g + ".onnx"), g)
    prov = json.load(open(os.path.join(d, "provenance.json")))
    assert max(prov["checks"]["parity_max_abs_err"].values()) < 1e-3
    assert prov["checks"]["invertibility_max_abs_err"] < 1e-4
    if prov["contract"] != CONTRACT:  # trained under an older contract: re-exported (reexport.py)
        last = prov["exports"][-1]
        assert last["contract"] == CONTRACT, last
        assert max(last["parity_max_abs_err"].values()) < 1e-3, last
        assert last["invertibility_max_abs_err"] < 1e-4, last
    # The shipped graphs are the shipped checkpoint: parity measured again, not only read
    # from the provenance.
    import reexport
    import train

    system, _ = reexport.load_system(os.path.join(d, "checkpoint.pt"))
    last_export = (prov.get("exports") or [{}])[-1]
    guard = last_export.get("cover_guard_psnr")
    if guard is not None:  # re-exported with the cover guard (reexport.py --cover-guard-psnr)
        system.cfg["cover_guard_psnr"] = guard
    if last_export.get("cover_guard_420"):  # reexport.py --cover-guard-420
        system.cfg["cover_guard_420"] = True
    cover_filter = last_export.get("cover_filter")
    if cover_filter is not None:  # re-exported with another cover (reexport.py --cover-filter)
        system.cfg["cover_filter"] = system.down.cover_filter = cover_filter
    par = checks.parity(system, {g: os.path.join(d, g + ".onnx") for g in ("down", "reveal", "synth")},
                        train.PARITY_CASES, seed=1)
    assert max(par.values()) < 1e-3, (d, par)


TESTS = [test_windows, test_focus_batches, test_channel, test_invertibility, test_training_and_export_paths_agree,
         test_identity_at_init, test_export_contract_and_parity, test_cover_guard, test_cover_guard_420, test_bilinear_cover, test_never_worse_gap, test_alignment_in_the_loop, test_unmoved_features,
         test_mlp_phase_maps, test_synth_grid2, test_lr_mult, test_synth_latent, test_deepen, test_diagnose_hiding, test_probe_channel,
         test_shipped_trained_graphs, test_smoke_small,
         test_resume_in_segments, test_device_script_segments, test_device_probe_script, test_codec_mix_run,
         test_device_data_pack]


def main(argv):
    quick = "--quick" in argv
    failed = 0
    for t in TESTS:
        if quick and t in (test_smoke_small, test_resume_in_segments, test_device_script_segments, test_codec_mix_run):
            continue
        t0 = time.time()
        try:
            t()
            print(f"PASS {t.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {t.__name__}", flush=True)
            traceback.print_exc()
    ran = len(TESTS) - (4 if quick else 0)
    print(f"{ran - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
