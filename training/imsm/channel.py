"""The channel between imsmdown and imsmup, as seen in training.

- always: clamp to [0, 1] and 8-bit rounding with a straight-through gradient;
- often: a 4:2:0 chroma round trip (BT.601 Y'CbCr, 2x2 average, bilinear back),
  differentiable;
- on a fraction of batches: real x264 through PyAV's libx264 (each sample's pair of LR
  frames is one 2-frame clip: an I and a P frame; CRF and preset drawn per sample), forward
  through the codec and the gradient straight through (identity);
- `x264_roundtrip` is also what the evaluation uses for whole LR sequences.
"""

import fractions
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import torch
import torch.nn.functional as F


def quantize_ste(x):
    x = x.clamp(0.0, 1.0)
    return x + (torch.round(x * 255.0) / 255.0 - x).detach()


_M = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_MI = torch.linalg.inv(_M)


def chroma420(x):
    """RGB [N, 3, h, w] -> Y'CbCr, chroma averaged over 2x2 blocks and upsampled back."""
    m = _M.to(x.device, x.dtype)
    mi = _MI.to(x.device, x.dtype)
    ycc = torch.einsum("ij,njhw->nihw", m, x)
    c = ycc[:, 1:]
    h, w = x.shape[-2:]
    ph, pw = h & 1, w & 1
    if ph or pw:
        c = F.pad(c, (0, pw, 0, ph), mode="replicate")
    c = F.avg_pool2d(c, 2)
    c = F.interpolate(c, size=(h + ph, w + pw), mode="bilinear", align_corners=False)[:, :, :h, :w]
    ycc = torch.cat([ycc[:, :1], c], 1)
    return torch.einsum("ij,njhw->nihw", mi, ycc)


def x264_roundtrip(frames, crf, preset="veryfast", fps=30, tune="zerolatency"):
    """frames: uint8 [T, h, w, 3] RGB -> (decoded uint8 [T, h, w, 3], encoded bytes).

    yuv420p via swscale (BT.601, limited range), libx264 at the given CRF."""
    t, h, w, _ = frames.shape
    h2, w2 = h + (h & 1), w + (w & 1)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w2, h2, "yuv420p"
    enc.time_base = fractions.Fraction(1, int(round(fps)))
    opts = {"crf": str(int(crf)), "preset": preset}
    if tune:
        opts["tune"] = tune
    enc.options = opts
    dec = av.CodecContext.create("h264", "r")
    packets = []
    for k in range(t):
        f = frames[k]
        if h2 != h or w2 != w:
            f = np.pad(f, ((0, h2 - h), (0, w2 - w), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format="yuv420p")
        vf.pts = k
        packets += enc.encode(vf)
    packets += enc.encode(None)
    out, nbytes = [], 0
    for p in packets:
        nbytes += p.size
        for fr in dec.decode(p):
            out.append(fr.to_ndarray(format="rgb24")[:h, :w])
    for fr in dec.decode(None):
        out.append(fr.to_ndarray(format="rgb24")[:h, :w])
    if len(out) != t:
        raise RuntimeError(f"x264 round trip returned {len(out)} of {t} frames")
    return np.stack(out), nbytes


_POOL = [None]


def set_codec_threads(n):
    """Code the samples of a batch on n threads (libx264 runs outside the GIL)."""
    _POOL[0] = ThreadPoolExecutor(n) if n > 1 else None


def codec_ste(y0, y1, crfs, presets=None):
    """y0, y1: [N, 3, h, w] in [0, 1] (already 8-bit); each sample's pair is coded as a
    2-frame clip at crfs[n] with x264 preset presets[n] (default veryfast). Forward:
    decoded frames; backward: identity."""
    presets = presets or ["veryfast"] * len(crfs)
    with torch.no_grad():
        a = (y0.detach().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        b = (y1.detach().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        d0, d1 = np.empty_like(a), np.empty_like(b)

        def one(n):
            dec, _ = x264_roundtrip(np.stack([a[n], b[n]]), crfs[n], preset=presets[n])
            d0[n], d1[n] = dec[0], dec[1]

        if a.shape[0] > 1 and _POOL[0] is not None:
            list(_POOL[0].map(one, range(a.shape[0])))
        else:
            for n in range(a.shape[0]):
                one(n)
        d0 = torch.from_numpy(d0).permute(0, 3, 1, 2).to(y0.device, y0.dtype) / 255.0
        d1 = torch.from_numpy(d1).permute(0, 3, 1, 2).to(y1.device, y1.dtype) / 255.0
    return y0 + (d0 - y0).detach(), y1 + (d1 - y1).detach()


def crf_to_quality(crf):
    """The `quality` hint for a CRF: 0 = lossless ... 1 = heavily compressed."""
    return float(np.clip((crf - 10.0) / 25.0, 0.0, 1.0))
