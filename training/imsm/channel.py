"""The channel between imsmdown and imsmup, as seen in training.

- always: clamp to [0, 1] and 8-bit rounding with a straight-through gradient;
- often: a 4:2:0 chroma round trip (BT.601 Y'CbCr, 2x2 average, bilinear back),
  differentiable;
- on a fraction of batches: a real encoder through PyAV (each sample's pair of LR frames is
  one 2-frame clip: an I and a P frame; CRF, preset and, where the configuration names
  more than one, the encoder drawn per sample), forward through the codec and the gradient
  straight through (identity). libx264 runs in this process on threads; libx265 runs in
  worker processes (`spawn`): inside the training loop it corrupted this process's heap
  (PyAV 18.1, "free(): invalid next size"), alone it does not, so a crash there costs a
  worker, not the run;
- `x264_roundtrip` is also what the evaluation uses for whole LR sequences.
"""

import fractions
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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


# x265 at CRF c gives about the PSNR of x264 at CRF c - 1.5 (PyAV, preset medium, 16-frame
# 320x176 clips of 8 training clips, CRF 16-32): the sender's quality hint for an x265 sample
# is that of x264 at c - 1.5 (the same constant as imsm-eval's X265_CRF_OFFSET).
X265_CRF_OFFSET = 1.5
# libx265 refuses pictures under 16 pixels a side: smaller frames are padded (edge) to it.
X265_MIN_SIDE = 16
DECODERS = {"libx264": "h264", "libx265": "hevc"}


def codec_roundtrip(frames, crf, encoder="libx264", preset="veryfast", fps=30, tune="zerolatency"):
    """frames: uint8 [T, h, w, 3] RGB -> (decoded uint8 [T, h, w, 3], encoded bytes).

    yuv420p via swscale (BT.601, limited range), `encoder` (libx264 or libx265) at the
    given CRF; frames are edge-padded to even sides (x265: at least 16) and cropped back."""
    if encoder not in DECODERS:
        raise ValueError(f"unknown encoder {encoder!r} (expected one of {sorted(DECODERS)})")
    t, h, w, _ = frames.shape
    h2, w2 = h + (h & 1), w + (w & 1)
    if encoder == "libx265":
        h2, w2 = max(h2, X265_MIN_SIDE), max(w2, X265_MIN_SIDE)
    enc = av.CodecContext.create(encoder, "w")
    enc.width, enc.height, enc.pix_fmt = w2, h2, "yuv420p"
    enc.time_base = fractions.Fraction(1, int(round(fps)))
    opts = {"crf": str(int(crf)), "preset": preset}
    if tune:
        opts["tune"] = tune
    if encoder == "libx265":
        # one thread, no pools: a worker process codes one small clip at a time
        opts["x265-params"] = "log-level=error:pools=none:frame-threads=1"
    enc.options = opts
    dec = av.CodecContext.create(DECODERS[encoder], "r")
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
        raise RuntimeError(f"{encoder} round trip returned {len(out)} of {t} frames")
    return np.stack(out), nbytes


def check_encoders(names):
    """Raises if PyAV lacks one of the encoders a configuration names (before training,
    not at the first coded batch)."""
    missing = [n for n in names if n not in DECODERS or n not in av.codecs_available]
    if missing:
        raise RuntimeError(f"encoders {missing} are not available in PyAV {av.__version__} "
                           f"(known here: {sorted(DECODERS)}); change codec_mix")


def x264_roundtrip(frames, crf, preset="veryfast", fps=30, tune="zerolatency"):
    """`codec_roundtrip` with libx264."""
    return codec_roundtrip(frames, crf, "libx264", preset=preset, fps=fps, tune=tune)


def _x265_pair(pair, crf, preset):
    """Worker-process job: one sample's pair through libx265 (decoded frames only)."""
    return codec_roundtrip(pair, crf, "libx265", preset=preset)[0]


class _WorkerPool:
    """Worker processes for libx265. A crashed worker breaks the pool: the pool is made
    again and the job tried once more; a job that fails twice raises."""

    def __init__(self, workers):
        self.workers = workers
        self.pool = None
        self.restarts = 0

    def _fresh(self):
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn, jobs):
        def run():
            return [f.result() for f in [self.pool.submit(fn, *j) for j in jobs]]

        if self.pool is None:
            self._fresh()
        try:
            return run()
        except BrokenProcessPool:
            self.restarts += 1
            self._fresh()
            return run()


_X265 = [None]


def x265_pool():
    if _X265[0] is None:
        _X265[0] = _WorkerPool(1)
    return _X265[0]


_POOL = [None]


def set_codec_threads(n):
    """Code the samples of a batch on n threads (libx264 runs outside the GIL) and, for
    libx265, in n worker processes (made when first needed)."""
    _POOL[0] = ThreadPoolExecutor(n) if n > 1 else None
    if _X265[0] is not None and _X265[0].pool is not None:
        _X265[0].pool.shutdown(wait=False, cancel_futures=True)
    _X265[0] = _WorkerPool(max(1, n))


def codec_ste(y0, y1, crfs, presets=None, encoders=None):
    """y0, y1: [N, 3, h, w] in [0, 1] (already 8-bit); each sample's pair is coded as a
    2-frame clip at crfs[n] with preset presets[n] (default veryfast) by encoders[n]
    (default libx264). Forward: decoded frames; backward: identity."""
    presets = presets or ["veryfast"] * len(crfs)
    encoders = encoders or ["libx264"] * len(crfs)
    with torch.no_grad():
        a = (y0.detach().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        b = (y1.detach().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        d0, d1 = np.empty_like(a), np.empty_like(b)

        def one(n):
            dec, _ = x264_roundtrip(np.stack([a[n], b[n]]), crfs[n], preset=presets[n])
            d0[n], d1[n] = dec[0], dec[1]

        via_x265 = [n for n in range(a.shape[0]) if encoders[n] == "libx265"]
        via_x264 = [n for n in range(a.shape[0]) if encoders[n] == "libx264"]
        if len(via_x265) + len(via_x264) != a.shape[0]:
            raise ValueError(f"unknown encoder in {encoders}")
        if via_x265:
            decs = x265_pool().map(_x265_pair, [(np.stack([a[n], b[n]]), crfs[n], presets[n]) for n in via_x265])
            for n, dec in zip(via_x265, decs):
                d0[n], d1[n] = dec[0], dec[1]
        if len(via_x264) > 1 and _POOL[0] is not None:
            list(_POOL[0].map(one, via_x264))
        else:
            for n in via_x264:
                one(n)
        d0 = torch.from_numpy(d0).permute(0, 3, 1, 2).to(y0.device, y0.dtype) / 255.0
        d1 = torch.from_numpy(d1).permute(0, 3, 1, 2).to(y1.device, y1.dtype) / 255.0
    return y0 + (d0 - y0).detach(), y1 + (d1 - y1).detach()


def crf_to_quality(crf, encoder="libx264"):
    """The `quality` hint for a CRF: 0 = lossless ... 1 = heavily compressed (x264's scale;
    an x265 CRF counts as the x264 CRF of about the same PSNR)."""
    if encoder == "libx265":
        crf = crf - X265_CRF_OFFSET
    return float(np.clip((crf - 10.0) / 25.0, 0.0, 1.0))
