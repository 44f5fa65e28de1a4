"""The three networks of gst-imsm and their invertible core.

Sender (`Down`, exported as down.onnx) for one LR frame j:
  cover  = clip(bicubic(linear blend of the window at the LR instant)), exactly the
           reference down graph ("plain downscale"); with net "cover_filter" =
           "bilinear" the half-pixel bilinear downscale of the same blend instead;
  anchors: the window resampled (tent weights over the slots' HR offsets) at the fixed
           instants TAUS = -0.75 .. 0.75 LR intervals, on a 2x LR grid, space-to-depth'd
           to the LR grid (so the encoder sees sub-pixel detail and the motion around j);
  z      = Encoder(anchors, cover, ratio, quality): the latent to hide (CZ channels);
  (y, r) = IMSM(cover, z): affine coupling blocks, invertible; y (3 ch) is the
           transmitted stego frame, r (the other CZ channels) is dropped.
Receiver:
  `Reveal` (reveal.onnx): (c', z') = IMSM^-1(y_received, 0), then a feature head over
           (y, c' - y, z', imsm hint) -> features = [y, head] (3 + CF channels, LR size).
  `Synth` (synth.onnx): from the features of LR frames j, j+1 and t: a small two-scale
           CNN predicts flows (scaled by t and 1 - t), an occlusion logit, an LR
           correction and LR features; output = bicubic(warped blend + correction,
           out_size) + a per-pixel MLP over the bilinearly resized LR features and the
           scale ratio (continuous in t and in output size). With `synth_shift_maps`
           the trunk also reads each frame's alignment displacement (ops.displacement);
           with `synth_grid2` the correction and the MLP's features also come on a 2x
           grid (pixel shuffle) resized to the output.
Every last layer that writes into the image path is zero-initialised, so an untrained
system is exactly the reference (bicubic + linear blend) and the IMSM is the identity.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import SLOTS
from . import ops

TAUS = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75)
# The synth's displacement maps: (dy, dx) per frame, scaled so that a typical move of a
# few feature pixels is a value of order one.
DISP_CHANNELS = 2
DISP_SCALE = 1.0 / 8.0
# The synth MLP's sub-pixel phase maps (sin, cos of rows and columns) with `mlp_coords`.
COORD_CHANNELS = 4


def conv(cin, cout, k=3, stride=1, zero=False):
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
    if zero:
        nn.init.zeros_(c.weight)
        nn.init.zeros_(c.bias)
    return c


def act(x):
    return F.leaky_relu(x, 0.2)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = conv(c, c)
        self.c2 = conv(c, c)
        # small init of the residual branch keeps early training stable
        with torch.no_grad():
            self.c2.weight.mul_(0.1)

    def forward(self, x):
        return x + self.c2(act(self.c1(x)))


class SubNet(nn.Module):
    """conv - lrelu - conv - lrelu - conv(zero-init)."""

    def __init__(self, cin, cout, hidden):
        super().__init__()
        self.c1 = conv(cin, hidden)
        self.c2 = conv(hidden, hidden)
        self.c3 = conv(hidden, cout, zero=True)

    def forward(self, x):
        return self.c3(act(self.c2(act(self.c1(x)))))


# ----------------------------------------------------------------------------- window
def window_weights(offsets, valid, ratio, tau=0.0):
    """Per-slot weights [N, 7] of the window resampled at `tau` LR intervals from the LR
    instant: for tau = 0 exactly the reference down graph's weights (linear interpolation
    between the HR frames around the instant, fallback 1e-4/(1+d) after gaps, black for a
    window with no valid slot)."""
    r = ratio.reshape(-1, 1)
    dist = ((offsets - tau) * r).abs()
    lin = valid * F.relu(1.0 - dist)
    fb = valid * (1e-4 / (1.0 + dist))
    lin_sum = lin.sum(1, keepdim=True)
    w = torch.where(lin_sum > 0, lin, fb)
    return w / torch.clamp(w.sum(1, keepdim=True), min=1e-12)


def blend_slots(frames, w):
    """frames [N, 21, H, W], w [N, 7] -> [N, 3, H, W] (static channel slices: trace-safe)."""
    out = None
    for k in range(SLOTS):
        term = frames[:, 3 * k:3 * k + 3] * w[:, k:k + 1].reshape(-1, 1, 1, 1)
        out = term if out is None else out + term
    return out


def blend_many(frames, ws):
    """frames [N, 21, H, W], ws [N, A, 7] -> [N, A * 3, H, W] (training path, one bmm)."""
    n, _, H, W = frames.shape
    a = ws.shape[1]
    out = torch.bmm(ws, frames.reshape(n, SLOTS, 3 * H * W))
    return out.reshape(n, a * 3, H, W)


# The cover's downscale filter (net "cover_filter"). "bicubic": the reference down graph
# (Keys a = -0.5, no antialiasing). "bilinear": half-pixel linear, no antialiasing (at 2x
# the 2x2 mean): smoother and closer to videoscale's downscale, which at 60 -> 30 is what
# imsmup compares against on ordinary video (docs/eval-imsm-cover, "A bilinear cover").
COVER_FILTERS = ("bicubic", "bilinear")


def downscale(x, size, cover_filter="bicubic"):
    """The cover's downscale of `x` to `size`, clipped to [0, 1]."""
    if cover_filter == "bicubic":
        return ops.bicubic(x, size).clamp(0.0, 1.0)
    if cover_filter == "bilinear":
        return ops.resize_linear(x, size).clamp(0.0, 1.0)
    raise ValueError(f"cover_filter {cover_filter!r}: expected one of {COVER_FILTERS}")


def plain_down(frames, offsets, valid, ratio, size, cover_filter="bicubic"):
    """The reference down graph in PyTorch: clip(bicubic(linear blend), 0, 1); with another
    `cover_filter` that downscale of the same blend."""
    w = window_weights(offsets, valid, ratio, 0.0)
    return downscale(blend_slots(frames, w), size, cover_filter)


# ----------------------------------------------------------------------------- IMSM
class Coupling(nn.Module):
    """a' = a + phi(b);  b' = b * exp(alpha * tanh(rho(a'))) + eta(a')."""

    def __init__(self, ca, cb, hidden, alpha=1.0):
        super().__init__()
        self.cb = cb
        self.alpha = alpha
        self.phi = SubNet(cb, ca, hidden)
        self.rho_eta = SubNet(ca, 2 * cb, hidden)

    def _st(self, a):
        se = self.rho_eta(a)
        s, t = se[:, :self.cb], se[:, self.cb:]
        return self.alpha * torch.tanh(s), t

    def forward(self, a, b):
        a = a + self.phi(b)
        s, t = self._st(a)
        return a, b * torch.exp(s) + t

    def inverse(self, a, b):
        s, t = self._st(a)
        b = (b - t) * torch.exp(-s)
        return a - self.phi(b), b


class IMSM(nn.Module):
    """Invertible motion steganography module: (cover [N,3], z [N,CZ]) <-> (stego, r)."""

    def __init__(self, cz, hidden, blocks):
        super().__init__()
        self.blocks = nn.ModuleList([Coupling(3, cz, hidden) for _ in range(blocks)])

    def forward(self, a, b):
        for blk in self.blocks:
            a, b = blk(a, b)
        return a, b

    def inverse(self, a, b):
        for blk in reversed(self.blocks):
            a, b = blk.inverse(a, b)
        return a, b


# ----------------------------------------------------------------------------- sender
class Down(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["enc_ch"]
        self.cz = cfg["cz"]
        self.cover_filter = cfg.get("cover_filter", "bicubic")
        if self.cover_filter not in COVER_FILTERS:
            raise ValueError(f"cover_filter {self.cover_filter!r}: expected one of {COVER_FILTERS}")
        cin = 12 * len(TAUS) + 3 + 2
        self.inp = conv(cin, c)
        self.body = nn.Sequential(*[ResBlock(c) for _ in range(cfg["enc_blocks"])])
        self.out = conv(c, self.cz)
        self.imsm = IMSM(self.cz, cfg["imsm_ch"], cfg["imsm_blocks"])

    def forward(self, frames, offsets, valid, ratio, size, quality, exporting=False):
        cover = plain_down(frames, offsets, valid, ratio, size, self.cover_filter)
        x2 = ops.resize_linear(frames, size, 2)
        if exporting:
            anchors = [blend_slots(x2, window_weights(offsets, valid, ratio, tau)) for tau in TAUS]
        else:
            ws = torch.stack([window_weights(offsets, valid, ratio, tau) for tau in TAUS], 1)
            anchors = list(blend_many(x2, ws).split(3, 1))
        a0 = anchors[TAUS.index(0.0)]
        parts = []
        for tau, a in zip(TAUS, anchors):
            parts.append(ops.space_to_depth(a0 if tau == 0.0 else a - a0, exporting))
        parts.append(cover)
        parts.append(ops.const_map(cover, ratio.reshape(-1, 1) / 3.0))
        parts.append(ops.const_map(cover, quality.reshape(-1, 1)))
        h = act(self.inp(torch.cat(parts, 1)))
        z = self.out(self.body(h))
        y, r = self.imsm(cover, z)
        return y, cover, z, r


# ----------------------------------------------------------------------------- receiver
class Reveal(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cz = cfg["cz"]
        self.cf = cfg["feat_ch"]
        c = cfg["rev_ch"]
        self.imsm = None  # shared with Down (set by System)
        self.inp = conv(3 + 3 + self.cz + 1, c)
        self.body = nn.Sequential(*[ResBlock(c) for _ in range(cfg["rev_blocks"])])
        self.out = conv(c, self.cf)
        # with `synth_latent` the features also carry the recovered latent itself: the head
        # passes on less of it than it receives (docs/probe-hiding-margin, fourteenth session)
        self.pass_latent = bool(cfg.get("synth_latent", False))

    def features(self, lr, f, z_hat):
        """The features handed to the synth: [lr, head output (, z_hat)]."""
        return torch.cat([lr, f, z_hat] if self.pass_latent else [lr, f], 1)

    def forward(self, lr, hint, imsm):
        zeros = lr[:, :1] * 0.0 + torch.zeros(1, self.cz, 1, 1, dtype=lr.dtype, device=lr.device)
        c_hat, z_hat = imsm.inverse(lr, zeros)
        hmap = ops.const_map(lr, hint.reshape(-1, 1))
        h = act(self.inp(torch.cat([lr, c_hat - lr, z_hat, hmap], 1)))
        f = self.out(self.body(h))
        return self.features(lr, f, z_hat), c_hat, z_hat


class Synth(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cf = feature_channels(cfg)
        c = cfg["syn_ch"]
        self.cg = cfg["hr_ch"]
        # told the alignment: each frame's displacement map (models.DISP_CHANNELS) enters the
        # trunk next to its features, so that hidden motion is read in the frame it was
        # written for (zero-initialised when widened from a checkpoint without it)
        self.shift_maps = bool(cfg.get("synth_shift_maps", False))
        # with `synth_unmoved` the trunk also reads each frame's features as they were before
        # the alignment moved them: the hidden motion sits where the sender wrote it, and a
        # moved copy puts it 5-28 px away from where the output needs it
        # (docs/eval-aligned-finetune/). Its own layer (zero-initialised, added to the input
        # convolution's output), so that a fine-tune can train it faster (`lr_mult`): widened
        # into the input convolution at 1e-4 its weights stayed 30 times smaller than the rest.
        self.unmoved = bool(cfg.get("synth_unmoved", False))
        # pair trunk (independent of t without alignment: computed once per pair in training)
        self.inp = conv(2 * cf + (2 * DISP_CHANNELS if self.shift_maps else 0), c)
        if self.unmoved:
            self.inp_unmoved = conv(2 * cf, c, zero=True)
        self.pre = ResBlock(c)
        self.down = conv(c, c, stride=2)
        self.low = nn.Sequential(*[ResBlock(c) for _ in range(cfg["syn_low_blocks"])])
        # t-conditioned part
        self.tin = conv(c + 1, c)
        self.post = nn.Sequential(*[ResBlock(c) for _ in range(cfg["syn_blocks"])])
        self.flow = conv(c, 5, zero=True)  # flow t->0 (2), flow t->1 (2), occlusion logit (1)
        self.delta = conv(c, 3, zero=True)
        self.g = conv(c, self.cg)
        # with `mlp_coords` the MLP also reads each output pixel's sub-pixel position inside its
        # LR pixel (ops.subpixel_phase): bilinear features alone blur what the hidden
        # data knows below the LR grid (zero-initialised when widened from a checkpoint)
        self.coords = bool(cfg.get("mlp_coords", False))
        self.mlp1 = conv(self.cg + 2 + (COORD_CHANNELS if self.coords else 0), cfg["mlp_ch"], k=1)
        self.mlp2 = conv(cfg["mlp_ch"], 3, k=1, zero=True)
        # with `synth_grid2` the trunk also writes an image correction and the MLP's features
        # on a grid twice as fine as the LR one (pixel shuffle), resized from there to the
        # output: bilinear LR features cannot place detail inside an LR pixel, which is where
        # the detail the sender hides from its own 2x grid lives (training/probe_channel.py).
        # Both start at zero, so a widened checkpoint computes what it did.
        self.grid2 = bool(cfg.get("synth_grid2", False))
        if self.grid2:
            self.delta2 = conv(c, 3 * 4, zero=True)
            self.g2 = conv(c, self.cg * 4, zero=True)
        self.flow_scale = cfg.get("flow_scale", 4.0)

    def trunk(self, f0, f1, exporting=False, d0=None, d1=None, u0=None, u1=None):
        """`d0`, `d1`: [N, 2, h, w] displacement (dy, dx feature pixels) of each frame's
        alignment (ops.displacement), read only by a network with `synth_shift_maps`;
        None = not moved. `u0`, `u1`: each frame's features before the alignment moved them,
        read only by a network with `synth_unmoved`; None = not moved (`f0`, `f1`)."""
        parts = [f0, f1]
        if self.shift_maps:
            zero = f0[:, :DISP_CHANNELS] * 0.0
            parts += [zero if d is None else d * DISP_SCALE for d in (d0, d1)]
        x = self.inp(torch.cat(parts, 1))
        if self.unmoved:
            x = x + self.inp_unmoved(torch.cat([f0 if u0 is None else u0, f1 if u1 is None else u1], 1))
        x = act(x)
        x = self.pre(x)
        low = self.low(act(self.down(x)))
        return x + ops.resize_like(low, x, exporting)

    def head(self, x, f0, f1, t, size, exporting=False):
        t4 = t.reshape(-1, 1, 1, 1)
        tm = ops.const_map(x, t.reshape(-1, 1))
        x = x + act(self.tin(torch.cat([x, tm], 1)))
        x = self.post(x)
        fl = self.flow(x) * self.flow_scale
        c0, c1 = f0[:, :3], f1[:, :3]
        w0 = (1.0 - t4) * torch.exp(0.5 * fl[:, 4:5])
        w1 = t4 * torch.exp(-0.5 * fl[:, 4:5])
        i0 = ops.warp(c0, fl[:, 0:2] * t4, exporting)
        i1 = ops.warp(c1, fl[:, 2:4] * (1.0 - t4), exporting)
        base = (w0 * i0 + w1 * i1) / (w0 + w1 + 1e-6)
        lr_out = base + self.delta(x)
        hr = ops.bicubic(lr_out, size)
        g = ops.resize_linear(self.g(x), size, 1)
        if self.grid2:
            hr = hr + ops.resize_linear(F.pixel_shuffle(self.delta2(x), 2), size, 1)
            g = g + ops.resize_linear(F.pixel_shuffle(self.g2(x), 2), size, 1)
        ratio = ops.size_ratio(f0, size)
        g = torch.cat([g, ops.maps(g, ratio)], 1)
        if self.coords:
            g = torch.cat([g, ops.subpixel_phase(x, size)], 1)
        hr = hr + self.mlp2(act(self.mlp1(g)))
        return hr.clamp(0.0, 1.0)

    def forward(self, f0, f1, t, size, exporting=False, d0=None, d1=None, u0=None, u1=None):
        return self.head(self.trunk(f0, f1, exporting, d0, d1, u0, u1), f0, f1, t, size, exporting)


class System(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.down = Down(cfg)
        self.reveal = Reveal(cfg)
        self.synth = Synth(cfg)

    @property
    def imsm(self):
        return self.down.imsm

    def reveal_fwd(self, lr, hint):
        return self.reveal(lr, hint, self.imsm)

    def param_counts(self):
        def n(m):
            return sum(p.numel() for p in m.parameters())

        down_only = n(self.down) - n(self.down.imsm)
        return {
            "encoder": down_only,
            "imsm": n(self.down.imsm),
            "reveal_head": n(self.reveal),
            "synth": n(self.synth),
            "total": n(self),
        }


def checkpoint(system, cfg, seed, step):
    """The keys every checkpoint of a System carries (train.py adds its run's history):
    reexport.load_system rebuilds the System from `net` and `state`."""
    return {"config": cfg, "net": cfg["net"], "step": step, "seed": seed,
            "state": {k: v.detach().cpu() for k, v in system.state_dict().items()}}


# ----------------------------------------------------------------------------- export wrappers
class DownGraph(nn.Module):
    """down.onnx, contract v2: the window comes as seven [1, 3, H, W] inputs frame0 .. frame6
    (slot k = frame{k}); they are concatenated into the [1, 21, H, W] window that `Down`
    (and training) uses."""

    def __init__(self, system):
        super().__init__()
        self.s = system

    def forward(self, frame0, frame1, frame2, frame3, frame4, frame5, frame6, offsets, valid, ratio, out_size,
                quality):
        frames = torch.cat([frame0, frame1, frame2, frame3, frame4, frame5, frame6], 1)
        y, cover, _, _ = self.s.down(frames, offsets, valid, ratio, out_size, quality, exporting=True)
        return guard_sent(self.s.cfg, cover, y).clamp(0.0, 1.0)


def guard_sent(net, cover, y):
    """The frame as the exported down graph sends it: `y` under the cover guard the network
    configuration `net` asks for (`cover_guard_psnr`, `cover_guard_420`), or as it is."""
    guard = net.get("cover_guard_psnr")
    if guard is None:
        return y
    return cover_guard(cover, y, float(guard), chroma420=bool(net.get("cover_guard_420", False)))


# (Kr, Kb) of the Y'CbCr matrices the elements convert with (src/engine/color.rs).
YCBCR_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def chroma420_roundtrip(c):
    """Chroma planes c [N, C, h, w] after the elements' 4:2:0 round trip
    (src/engine/color.rs): each 2x2 block averaged (only the pixels that exist at odd right
    and bottom edges), then upsampled under GStreamer's mpeg2 siting: even columns take the
    sample, odd ones the mean of the two neighbours; each luma row takes 3/4 of the nearest
    chroma row and 1/4 of the next nearest; edges clamped."""
    h, w = c.shape[-2:]
    # replicating one column and row makes an odd edge's block the mean of what exists;
    # at an even size the extra column and row fall outside the last block
    s = F.avg_pool2d(F.pad(c, (0, 1, 0, 1), mode="replicate"), 2)
    right = F.pad(s, (0, 1, 0, 0), mode="replicate")[..., 1:]
    x = torch.stack([s, 0.5 * (s + right)], dim=-1).flatten(-2)[..., :w]
    above = F.pad(x, (0, 0, 1, 0), mode="replicate")[..., :-1, :]
    below = F.pad(x, (0, 0, 0, 1), mode="replicate")[..., 1:, :]
    return torch.stack([0.75 * x + 0.25 * above, 0.75 * x + 0.25 * below], dim=-2).flatten(-3, -2)[..., :h, :]


def residual_mse(d, chroma420=False):
    """Per frame, the mean squared error a residual d [N, 3, h, w] (R'G'B') makes; with
    `chroma420` the largest of that and of what is left of it after a 4:2:0
    round trip (without its 8-bit rounding) under each matrix of YCBCR_KR_KB. The round trip is not an orthogonal
    projection in R'G'B', so it can raise the error: measured on imsm-full-focus's frames at
    60 -> 24 (davis_car-roundabout, BT.709) 36.4 dB after it against 37.0 before. The round
    trip is linear, so the residual's part is that of the two frames' difference."""
    mse = (d * d).mean(dim=(1, 2, 3), keepdim=True)
    if not chroma420:
        return mse
    for kr, kb in YCBCR_KR_KB.values():
        e = ycbcr420_roundtrip(d, kr, kb)
        mse = torch.maximum(mse, (e * e).mean(dim=(1, 2, 3), keepdim=True))
    return mse


def ycbcr420_roundtrip(x, kr, kb):
    """R'G'B' x [N, 3, h, w] through Y'CbCr with (Kr, Kb), its chroma through
    chroma420_roundtrip, and back (no 8-bit rounding; linear)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    kg = 1.0 - kr - kb
    luma = kr * r + kg * g + kb * b
    c = chroma420_roundtrip(torch.cat([(b - luma) / (2 * (1 - kb)), (r - luma) / (2 * (1 - kr))], 1))
    r2 = luma + 2 * (1 - kr) * c[:, 1:2]
    b2 = luma + 2 * (1 - kb) * c[:, 0:1]
    return torch.cat([r2, (luma - kr * r2 - kb * b2) / kg, b2], 1)


def cover_guard(cover, y, min_psnr, chroma420=False):
    """Scales the hidden residual y - cover of each frame down just enough that the frame
    stays `min_psnr` dB (PSNR on [0, 1]) from its cover, the plain downscale people watching
    the low-rate stream would otherwise see. Training keeps the residual in a PSNR band on
    crops; this holds the bar on whole frames at any size, where a frame can fall below it.
    With `chroma420` the bar holds after the elements' 4:2:0 round trip too (residual_mse),
    which is how the low-rate stream is sent and measured.
    Frames already above the bar are left exactly as they are."""
    d = y - cover
    mse = residual_mse(d, chroma420)
    max_mse = 10.0 ** (-min_psnr / 10.0)
    scale = torch.clamp(torch.sqrt(max_mse / (mse + 1e-20)), max=1.0)
    return cover + d * scale


class RevealGraph(nn.Module):
    def __init__(self, system):
        super().__init__()
        self.s = system

    def forward(self, lr, imsm):
        f, _, _ = self.s.reveal(lr, imsm, self.s.imsm)
        return f


class SynthGraph(nn.Module):
    def __init__(self, system):
        super().__init__()
        self.s = system

    def forward(self, feat0, feat1, t, out_size, shift0, shift1, index0, index1):
        # The engine's motion alignment (models/README.md, synth): each frame's features
        # moved by whole pixels towards the output instant before the network, as a whole
        # (shift0 / shift1: global motion) and then per pixel (index0 / index1: local motion).
        # A network with `synth_shift_maps` is also told how far each pixel was moved.
        d0 = d1 = None
        if self.s.synth.shift_maps:
            d0 = ops.displacement(shift0, index0, feat0, exporting=True)
            d1 = ops.displacement(shift1, index1, feat1, exporting=True)
        a0, a1 = align_features(feat0, shift0, index0), align_features(feat1, shift1, index1)
        return self.s.synth(a0, a1, t, out_size, exporting=True, d0=d0, d1=d1, u0=feat0, u1=feat1)


def align_features(feat, shift, index):
    """A frame's features as an exported synth graph reads them: moved by the engine's
    whole-frame `shift`, then gathered per pixel through `index` (models/README.md, synth)."""
    return ops.gather(ops.shift(feat, shift, exporting=True), index, exporting=True)


def _widen_input(state, key, channels):
    """`state` with `channels` zero input channels appended to the convolution weight `key`:
    the layer computes exactly what it did until they are trained."""
    state = dict(state)
    w = state[key]
    extra = torch.zeros(w.shape[0], channels, *w.shape[2:], dtype=w.dtype)
    state[key] = torch.cat([w, extra], 1)
    return state


def widen_for_shift_maps(state):
    """A checkpoint's weights for the same network with `synth_shift_maps`: the synth's
    input convolution gets zero weights for the displacement maps, so it computes exactly
    what it did."""
    return _widen_input(state, "synth.inp.weight", 2 * DISP_CHANNELS)


def _zero_synth_layers(state, net, option, layers):
    """`state` with the synth's `layers` (weight and bias), which the network option `option`
    adds to `net`, at zero: a widened checkpoint computes exactly what it did."""
    fresh = Synth(dict(net, **{option: True})).state_dict()
    state = dict(state)
    for key in (f"{layer}.{p}" for layer in layers for p in ("weight", "bias")):
        state["synth." + key] = torch.zeros_like(fresh[key])
    return state


def widen_for_unmoved(state, old_net):
    """A checkpoint's weights (network `old_net`) for the same network with `synth_unmoved`:
    the layer that reads the unmoved features starts at zero."""
    return _zero_synth_layers(state, old_net, "synth_unmoved", ("inp_unmoved",))


def widen_for_mlp_coords(state):
    """A checkpoint's weights for the same network with `mlp_coords`: the MLP's first layer
    gets zero weights for the phase maps, so it computes exactly what it did."""
    return _widen_input(state, "synth.mlp1.weight", COORD_CHANNELS)


# Network sizes a checkpoint can be deepened to (train.py --init-from): blocks appended as
# the identity, so the deepened network computes exactly what the checkpoint did.
DEEPENABLE = ("imsm_blocks", "rev_blocks")


def deepen(state, net):
    """A checkpoint's weights (`state`) for `net`, which has as many or
    more IMSM coupling blocks and reveal blocks: the new ones start as the identity (a
    coupling's last layers are zero-initialised already; a new reveal ResBlock gets a zero
    residual branch), so nothing changes until they are trained."""
    fresh = System(net).state_dict()
    state = dict(state)
    for key, value in fresh.items():
        if key in state:
            continue
        if not any(key.startswith(p) for p in ("down.imsm.blocks.", "reveal.body.")):
            raise KeyError(f"deepen: {key} is neither a new IMSM block nor a new reveal block")
        if key.startswith("reveal.body.") and ".c2." in key:
            value = torch.zeros_like(value)
        state[key] = value
    return state


def widen_for_synth_latent(state, old_net):
    """A checkpoint's weights (network `old_net`) for the same network with `synth_latent`:
    the synth's input convolution gets zero weights for each frame's latent channels, which
    follow that frame's features (feat0 | z0 | feat1 | z1 | displacement maps), so it
    computes exactly what it did."""
    state = dict(state)
    w = state["synth.inp.weight"]
    cf, cz = 3 + old_net["feat_ch"], old_net["cz"]
    zeros = torch.zeros(w.shape[0], cz, *w.shape[2:], dtype=w.dtype)
    state["synth.inp.weight"] = torch.cat([w[:, :cf], zeros, w[:, cf:2 * cf], zeros, w[:, 2 * cf:]], 1)
    return state


def widen_for_grid2(state, net):
    """A checkpoint's weights for the same network with `synth_grid2`: the 2x-grid layers
    start at zero, so it computes exactly what it did."""
    return _zero_synth_layers(state, net, "synth_grid2", ("delta2", "g2"))


def feature_channels(cfg):
    return 3 + cfg["feat_ch"] + (cfg["cz"] if cfg.get("synth_latent") else 0)
