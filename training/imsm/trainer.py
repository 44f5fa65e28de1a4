"""The training loop: sender -> channel -> receiver, end to end."""

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import channel as chn
from . import ops
from .data import batches
from .losses import charbonnier, per_sample_charbonnier, psnr, ramp
from .models import System, blend_slots, plain_down, window_weights


def make_plain(win, off, val, ratio, size, rng):
    """Ordinary low-rate video from a window (no hiding), one of:
    the reference down (bicubic of the linear blend), an antialiased bilinear downscale of
    the blend, or the nearest HR frame (what videorate does) downscaled either way."""
    n = win.shape[0]
    out = []
    for k in range(n):
        w_, o_, v_, r_ = win[k:k + 1], off[k:k + 1], val[k:k + 1], ratio[k:k + 1]
        u = rng.random()
        if u < 0.3:  # nearest frame instead of the blend
            d = (o_.abs() + (1 - v_) * 1e3)
            o_ = torch.zeros_like(o_)
            v_ = F.one_hot(d.argmin(1), v_.shape[1]).float()
        if rng.random() < 0.6:
            out.append(plain_down(w_, o_, v_, r_, size))
        else:
            b = blend_slots(w_, window_weights(o_, v_, r_, 0.0))
            out.append(F.interpolate(b, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1))
    return torch.cat(out)


# imsmup's global-motion alignment (src/engine/motion.rs), for training with it in the loop
ALIGN_ACCEPT = 0.95  # ACCEPT_RATIO
ALIGN_MIN_REACH = 3  # MIN_ALIGN_REACH
ALIGN_NEAR_REACH = 2.0  # NEAR_REACH


def global_shifts(a, b):
    """[N, 2] int64 (dy, dx): for each pair of received LR frames a -> b ([N, 3, h, w]) the
    whole-pixel translation g with b(y, x) ~ a(y - dy, x - dx), as the engine's
    `global_shift` measures it: luma, up to a quarter of the shorter side, zero unless it
    lowers the mean difference to 95 % of none and reaches 3 px. Searched exhaustively
    (the engine goes coarse to fine) over the interior that every candidate sees."""
    n, _, h, w = a.shape
    out = torch.zeros(n, 2, dtype=torch.int64, device=a.device)
    R = min(h, w) // 4
    if R < ALIGN_MIN_REACH:
        return out
    wts = torch.tensor([0.299, 0.587, 0.114], device=a.device).reshape(1, 3, 1, 1)
    ya, yb = (a * wts).sum(1), (b * wts).sum(1)
    inner = yb[:, R:h - R, R:w - R]
    cands, diffs = [], []
    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            cands.append((dy, dx))
            diffs.append((inner - ya[:, R - dy:h - R - dy, R - dx:w - R - dx]).abs().mean((1, 2)))
    d = torch.stack(diffs, 1)  # [N, C]
    reach = torch.tensor([max(abs(y), abs(x)) for y, x in cands], dtype=d.dtype, device=d.device)
    best = (d + 1e-7 * reach).argmin(1)  # ties to the shorter shift
    none = d[:, cands.index((0, 0))]
    for k in range(n):
        c = cands[int(best[k])]
        if max(abs(c[0]), abs(c[1])) >= ALIGN_MIN_REACH and d[k, best[k]] < ALIGN_ACCEPT * none[k]:
            out[k, 0], out[k, 1] = c[0], c[1]
    return out


def move_beyond_reach(disp):
    """The engine's rule: each frame moves by the part of its displacement from the output
    instant beyond 2 px per axis, rounded half away from zero (features at LR size)."""
    m = (disp.abs() - ALIGN_NEAR_REACH).clamp(min=0.0)
    return (torch.sign(disp) * torch.floor(m + 0.5)).to(torch.int64)


def shift_each(f, shifts):
    """f [M, C, h, w] with each sample moved by its own whole-pixel shift ([M, 2])."""
    if not bool((shifts != 0).any()):
        return f
    return torch.cat([ops.shift_torch(f[i:i + 1], shifts[i]) for i in range(f.shape[0])])


def update_dual(dual, stego_ema, l2, f, cfg):
    """One step of the cover weight's dual: the batch's stego PSNR (from `l2`, the stego
    frames' mean squared error against the cover), its moving average, and, once progress
    `f` reaches the cover ramp's start, the dual raised 3 % while that average is below
    `stego_band` (default 38..42 dB), lowered 3 % while above, bounded to [0.05, 200].
    -> (dual, stego_ema, stego)."""
    stego = 10 * math.log10(1.0 / max(l2, 1e-10))
    stego_ema = stego if stego_ema is None else 0.9 * stego_ema + 0.1 * stego
    if f >= cfg["cover_ramp"][0]:
        lo, hi = cfg.get("stego_band", (38.0, 42.0))
        if stego_ema < lo:
            dual = min(dual * 1.03, 200.0)
        elif stego_ema > hi:
            dual = max(dual / 1.03, 0.05)
    return dual, stego_ema, stego


def per_target(f, k):
    """[N, ...] -> [N * k, ...]: each sample's tensor once per target frame (K targets share
    the pair's features)."""
    return f[:, None].expand(f.shape[0], k, *f.shape[1:]).reshape(f.shape[0] * k, *f.shape[1:])


def param_groups(system, lr_mult):
    """The optimiser's parameter groups: parameters whose name starts with a key of
    `lr_mult` train at that multiple of the schedule's learning rate (layers added to a
    converged checkpoint start at zero and barely move at a fine-tune's rate), the rest at 1.
    Every group keeps its multiplier under "lr_mult"."""
    groups = {}
    for name, p in system.named_parameters():
        mult = next((m for prefix, m in lr_mult.items() if name.startswith(prefix)), 1.0)
        groups.setdefault(float(mult), []).append(p)
    unknown = [k for k in lr_mult if not any(n.startswith(k) for n, _ in system.named_parameters())]
    if unknown:
        raise ValueError(f"lr_mult names no parameter: {unknown}")
    return [{"params": ps, "lr_mult": m} for m, ps in sorted(groups.items())]


class Trainer:
    def __init__(self, cfg, clips, seed, device="cpu", log=print, data_seed=None):
        """`data_seed`: seed of the batch stream (default `seed`); a resumed run passes a
        different one so that it does not replay the batches of the first segment."""
        self.cfg, self.device, self.log = cfg, torch.device(device), log
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed + 17)
        data_seed = seed if data_seed is None else data_seed
        self.system = System(cfg["net"]).to(self.device)
        self.opt = torch.optim.AdamW(param_groups(self.system, cfg.get("lr_mult") or {}), lr=cfg["lr"],
                                     weight_decay=cfg["weight_decay"], betas=(0.9, 0.99))
        self.steps = cfg["steps"]
        self.dual = 1.0  # multiplier of the L1 cover weight (keeps stego PSNR in a band)
        self.stego_ema = None
        chn.set_codec_threads(cfg.get("codec_threads", 1))
        chn.check_encoders(["libx264"] + sorted(cfg.get("codec_mix") or {}))
        self.t0, self.max_minutes = time.time(), None
        # Training seconds of earlier segments of a resumed run (schedules run on the total).
        self.seconds_before = 0.0
        self.batches = batches(clips, cfg, data_seed, cfg["num_workers"], pin_memory=self.device.type == "cuda")

    def progress(self, step):
        """Training progress in [0, 1]: step / steps, or, with a time budget (`time_budget`
        in the configuration), the larger of that and elapsed / max_minutes, so that the
        schedules (learning rate, ramps) complete on a slow or shared machine."""
        f = step / max(1, self.steps)
        if self.cfg.get("time_budget") and self.max_minutes:
            f = max(f, self.train_seconds() / 60.0 / self.max_minutes)
        return min(1.0, f)

    def train_seconds(self):
        """Training wall time so far, all segments."""
        return self.seconds_before + (time.time() - self.t0)

    def state(self):
        """Everything beyond the weights that a resumed run needs to continue."""
        st = {"optimizer": self.opt.state_dict(), "dual": self.dual, "stego_ema": self.stego_ema,
              "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            st["cuda_rng"] = torch.cuda.get_rng_state_all()
        return st

    def load_state(self, weights, st, seconds_before):
        self.system.load_state_dict(weights)
        self.opt.load_state_dict(st["optimizer"])
        self.dual, self.stego_ema = st["dual"], st["stego_ema"]
        self.rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        if "cuda_rng" in st and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.seconds_before = seconds_before

    def lr_at(self, step, f):
        cfg = self.cfg
        if step < cfg["warmup"]:
            return cfg["lr"] * (step + 1) / cfg["warmup"]
        return cfg["lr"] * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * f)))

    def step(self, step, batch, f=None):
        cfg, dev, rng, s = self.cfg, self.device, self.rng, self.system
        f = step / max(1, self.steps) if f is None else f
        win = batch["win"].to(dev, non_blocking=True)
        off, val = batch["off"].to(dev), batch["val"].to(dev)
        ratio, tgt, tt = batch["ratio"].to(dev), batch["tgt"].to(dev, non_blocking=True), batch["t"].to(dev)
        size = batch["size"]
        B, K = tgt.shape[:2]
        H, W = tgt.shape[-2:]
        bp = int(round(B * cfg["p_plain"])) if B > 1 else 0
        bi = B - bp
        codec_p = cfg["p_codec"] * ramp(f, (cfg["codec_start"], cfg["codec_start"] + 0.1))
        use_codec = rng.random() < codec_p
        crfs = [int(rng.integers(cfg["crf"][0], cfg["crf"][1] + 1)) for _ in range(B)]
        presets = [str(rng.choice(cfg.get("codec_presets", ("veryfast",)))) for _ in range(B)]
        encoders = ["libx264"] * B
        if cfg.get("codec_mix"):  # drawn only where configured: the other configurations' draws stay as they were
            names = sorted(cfg["codec_mix"])
            w = np.array([cfg["codec_mix"][k] for k in names], dtype=float)
            encoders = [str(e) for e in rng.choice(names, size=B, p=w / w.sum())]
        q = torch.zeros(B, device=dev)
        if use_codec:
            # the rest of the coded samples go through unannounced (q = 0, as for lossless)
            p_known = cfg.get("p_quality_known", 0.7)
            for n in range(B):
                if rng.random() < p_known:
                    q[n] = chn.crf_to_quality(crfs[n], encoders[n])
        # sender
        cat = lambda a: torch.cat([a[0, :bi], a[1, :bi]])  # noqa: E731
        y, cover, z, _ = s.down(cat(win), cat(off), cat(val), torch.cat([ratio[:bi]] * 2), size,
                                torch.cat([q[:bi]] * 2))
        with torch.no_grad():
            plain = [make_plain(win[j, bi:], off[j, bi:], val[j, bi:], ratio[bi:], size, rng) for j in range(2)]
        lr0 = torch.cat([y[:bi], plain[0]])
        lr1 = torch.cat([y[bi:], plain[1]])
        # channel
        chroma = torch.from_numpy(rng.random(B) < cfg["p_chroma"]).to(dev).reshape(-1, 1, 1, 1)
        lr0 = torch.where(chroma, chn.chroma420(lr0.clamp(0, 1)), lr0)
        lr1 = torch.where(chroma, chn.chroma420(lr1.clamp(0, 1)), lr1)
        lr0, lr1 = chn.quantize_ste(lr0), chn.quantize_ste(lr1)
        if use_codec:
            lr0, lr1 = chn.codec_ste(lr0, lr1, crfs, presets, encoders)
        # receiver
        hint = torch.tensor([1.0 if n < bi else 0.0 for n in range(B)], device=dev)
        unk = torch.from_numpy(rng.random(B) < 0.3).to(dev)
        hint = torch.where(unk, torch.full_like(hint, 0.5), hint)
        feats, _, z_hat = s.reveal_fwd(torch.cat([lr0, lr1]), torch.cat([hint, hint]))
        f0, f1 = feats[:B], feats[B:]
        def rep(f):
            return per_target(f, K)

        out, aligned = self.render(f0, f1, lr0, lr1, tt, (H, W))
        target = tgt.reshape(B * K, 3, H, W)
        loss_rec = charbonnier(out, target)
        # cover + latent losses (imsm samples only)
        yc = y.clamp(0, 1)
        l2 = F.mse_loss(yc, cover)
        l1 = (yc - cover).abs().mean()
        w1 = cfg["cover_l1"] * ramp(f, cfg["cover_ramp"]) * self.dual
        zh = torch.cat([z_hat[:bi], z_hat[B:B + bi]])
        loss_lat = F.mse_loss(zh, z.detach())
        loss = loss_rec + cfg["cover_l2"] * l2 + w1 * l1 + cfg["latent"] * loss_lat
        gap = None
        if cfg.get("never_worse", 0.0) > 0 and use_codec and bi:
            gap = self.never_worse_gap(out[:bi * K], target[:bi * K], cover, chroma[:bi], crfs[:bi],
                                       presets[:bi], tt[:bi], (H, W), encoders[:bi])
            loss = loss + cfg["never_worse"] * torch.relu(gap).mean()
        # the cover weight's dual keeps the stego PSNR against the plain downscale in a band
        self.dual, self.stego_ema, stego = update_dual(self.dual, self.stego_ema, l2.item(), f, cfg)
        # metrics
        with torch.no_grad():
            o = out.reshape(B, K, 3, H, W)
            key = (tt == 0) | (tt == 1)
            m = {"loss": loss.item(), "rec": loss_rec.item(), "stego_psnr": stego, "lat": loss_lat.item(),
                 "w1": w1, "codec": float(use_codec)}
            if self.cfg.get("align"):
                m["aligned"] = aligned  # share of targets whose frames were moved
            if gap is not None:
                m["nw_gap"] = float(gap.mean())  # > 0: hiding worse than plain on this codec batch
                m["nw_worse"] = float((gap > 0).float().mean())
            if bi:
                m["psnr_imsm"] = psnr(o[:bi], tgt[:bi])
                mid = ~key[:bi]
                if mid.any():
                    m["psnr_imsm_mid"] = psnr(o[:bi][mid], tgt[:bi][mid])
            if bp:
                m["psnr_plain"] = psnr(o[bi:], tgt[bi:])
            # the reference (bicubic + linear blend) on the same channel: for plain samples the
            # LR frames as received; for imsm samples their plain cover (chroma + 8 bit, no codec)
            ch = lambda v: torch.round(torch.where(chroma, chn.chroma420(v), v).clamp(0, 1) * 255) / 255  # noqa: E731
            c0 = torch.cat([ch(torch.cat([cover[:bi], plain[0]]))[:bi], lr0[bi:]])
            c1 = torch.cat([ch(torch.cat([cover[bi:], plain[1]]))[:bi], lr1[bi:]])
            t4 = tt.reshape(-1, 1, 1, 1)
            ref = ops.bicubic(rep(c0) * (1 - t4) + rep(c1) * t4, (H, W)).clamp(0, 1).reshape(B, K, 3, H, W)
            if bi:
                m["ref_imsm"] = psnr(ref[:bi], tgt[:bi])
                if mid.any():
                    m["ref_imsm_mid"] = psnr(ref[:bi][mid], tgt[:bi][mid])
            if bp:
                m["ref_plain"] = psnr(ref[bi:], tgt[bi:])
        return loss, m

    def render(self, f0, f1, lr0, lr1, t, size):
        """The synth on a batch of pairs (features f0, f1 of received frames lr0, lr1), every
        pair at its K instants t ([N, K]) -> ([N * K, 3, H, W], share of the instants whose
        frames were moved). With `align` in the configuration both frames' features are first
        moved towards each instant as imsmup's global-motion alignment moves them (the trunk
        then runs per instant, not per pair); without it the share is 0."""
        s, K = self.system, t.shape[1]
        tk = t.reshape(-1)
        if not self.cfg.get("align"):
            x = s.synth.trunk(f0, f1)
            return s.synth.head(per_target(x, K), per_target(f0, K), per_target(f1, K), tk, size), 0.0
        with torch.no_grad():
            g = per_target(global_shifts(lr0.detach(), lr1.detach()).float(), K)
            s0 = move_beyond_reach(tk[:, None] * g)
            s1 = move_beyond_reach((tk[:, None] - 1.0) * g)
        u0, u1 = per_target(f0, K), per_target(f1, K)
        a0, a1 = shift_each(u0, s0), shift_each(u1, s1)
        d0, d1 = ops.constant_displacement(s0, a0), ops.constant_displacement(s1, a1)
        moved = float(((s0 != 0) | (s1 != 0)).any(1).float().mean())
        return s.synth.head(s.synth.trunk(a0, a1, d0=d0, d1=d1, u0=u0, u1=u1), a0, a1, tk, size), moved

    def never_worse_gap(self, out_imsm, target, cover, chroma, crfs, presets, t, size, encoders=None):
        """Per hiding sample: its reconstruction loss minus that of the same sample sent as
        ordinary video (the plain downscale `cover` of both LR frames, same chroma subsampling,
        8 bits, encoder, CRF and preset; receiver told `plain`, as imsm-plain is). The plain
        side is a fixed target (no gradient): the hinge on this gap makes the hiding path
        pay only where hiding loses to not hiding, which is what a user can compare."""
        s, bi = self.system, chroma.shape[0]
        K = out_imsm.shape[0] // bi
        with torch.no_grad():
            p0, p1 = cover[:bi], cover[bi:]
            p0 = torch.where(chroma, chn.chroma420(p0), p0)
            p1 = torch.where(chroma, chn.chroma420(p1), p1)
            p0, p1 = chn.codec_ste(chn.quantize_ste(p0), chn.quantize_ste(p1), crfs, presets, encoders)
            feats, _, _ = s.reveal_fwd(torch.cat([p0, p1]), torch.zeros(2 * bi, device=p0.device))
            f0, f1 = feats[:bi], feats[bi:]
            out_plain, _ = self.render(f0, f1, p0, p1, t.reshape(bi, K), size)
            plain = per_sample_charbonnier(out_plain, target, bi)
        return per_sample_charbonnier(out_imsm, target, bi) - plain

    def train_step(self, step):
        batch = next(self.batches)
        f = self.progress(step)
        for g in self.opt.param_groups:
            # a resumed optimiser takes its groups from the checkpoint: ones saved before
            # lr_mult existed have no multiplier
            g["lr"] = self.lr_at(step, f) * g.get("lr_mult", 1.0)
        self.system.train()
        loss, m = self.step(step, batch, f)
        m["progress"] = f
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(self.system.parameters(), self.cfg["grad_clip"])
        m["grad_norm"] = float(gn)
        if torch.isfinite(loss):
            self.opt.step()
        return m

    def run(self, ckpt_cb=None, max_minutes=None, start_step=0, segment_minutes=None):
        """Trains from `start_step` until `steps` or the time budget `max_minutes` (all
        segments together): returns (steps done, seconds of this segment, finished). With
        `segment_minutes`, this call stops earlier (finished = False) so that the run can
        go on in another process (`train.py --resume`), e.g. on a machine that allows
        10 minutes per command."""
        t0 = self.t0 = time.time()
        self.max_minutes = max_minutes
        agg, done, finished = {}, start_step, True
        last_ckpt = t0
        for step in range(start_step, self.steps):
            if max_minutes and self.train_seconds() / 60.0 > max_minutes:
                self.log(f"time limit {max_minutes} min reached at step {step}")
                break
            if segment_minutes and (time.time() - t0) / 60.0 > segment_minutes:
                self.log(f"segment limit {segment_minutes} min reached at step {step}: pausing")
                finished = False
                break
            m = self.train_step(step)
            done = step + 1
            for k, v in m.items():
                agg.setdefault(k, []).append(v)
            if done % self.cfg["log_every"] == 0 or done == self.steps:
                el = self.train_seconds()
                self.log(f"step {done:6d} {el:7.1f}s " + " ".join(
                    f"{k}={np.mean(v):.4g}" for k, v in agg.items()) + f" dual={self.dual:.3g}")
                agg = {}
            # every ckpt_every steps, and at least every ckpt_minutes (a GPU machine can be
            # taken back between calls: its last checkpoint is what a resumed run starts from)
            if ckpt_cb and (done % self.cfg["ckpt_every"] == 0 or (
                    self.cfg.get("ckpt_minutes") and time.time() - last_ckpt > 60.0 * self.cfg["ckpt_minutes"])):
                ckpt_cb(done)
                last_ckpt = time.time()
        return done, time.time() - t0, finished
