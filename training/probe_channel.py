#!/usr/bin/env python3
"""Is the hiding's small margin the architecture's or the objective's? A controlled probe.

The shipped networks gain about +0.2 dB from hiding at 60 -> 30 (imsm against imsm-plain,
lossless), where the design notes' calibration probe (a plain residual sender and a
pixel-shuffle receiver, t = 1/2 only, 5 minutes on an H100) gained 7-8 dB. This trains,
from scratch and for the same minutes on the same batches, at the one setting the probe
used (rate ratio 2, scale 2, in-between targets, 8-bit lossless channel, no plain
samples, no codec, no 4:2:0):

  --arch imsm    the project's System (models.py: encoder + IMSM coupling blocks in the
                 sender, IMSM inverse + reveal head + continuous synth in the receiver)
                 at a `training/imsm/config.py` size;
  --arch direct  the calibration's shape, sized to about the same parameters: the sender
                 reads the HR key frame and the next, dropped HR frame (space-to-depth),
                 writes 0.2 tanh(residual) onto the cover; the receiver reads both
                 received frames and writes the in-between frame at 2x by pixel shuffle
                 over the bicubic upscale of their mean.

and --hide 0 for each: the same receiver trained on the plain cover (nothing hidden), so
hide 1 minus hide 0 is what the hiding is worth to that architecture. --receiver mixes
them (direct; or reveal-direct: the IMSM inverse and reveal head per frame, then the
direct receiver over their features), --set changes a setting of the configuration
(latent=0: no latent loss; net.synth_grid2=true), and --steps trains a number of steps
instead of minutes. Both senders pay the
trainer's cover loss (L2, plus the L1 term ramped in from 30 % and scaled by the dual
that keeps the stego PSNR in the 38-42 dB band), so the stego frames are equally visible.

Evaluation: train.py's six evaluation clips (first 17 frames, short side 192, at most 320
wide), 8-bit LR frames, in-between PSNR (pooled over the clip's in-between frames, 8-bit
output), and the stego frames' PSNR against their cover.

  python training/probe_channel.py --arch direct --hide 1 --minutes 12 --seed 3 --out DIR

--device cuda runs the networks on the GPU (the batches are still made on the CPU, in
--workers DataLoader workers or in the process; several probes can share one GPU). With
the defaults (cpu, no workers) the results are those of before these options (20-step
runs of both senders compared); --device cuda has not run on a GPU yet.

To measure a probe through the elements (imsm-eval at 60 -> 30, half size): --save-checkpoint
(the project's receiver; then reexport.py) or --export-graphs (reveal-direct: a diagnostic
synth graph that renders t = 1/2 by the pixel-shuffle head, whatever t is).
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from diagnose_hiding import q8  # noqa: E402
from imsm import SLOTS, config, data, models, ops  # noqa: E402
from imsm.channel import chroma420, quantize_ste  # noqa: E402
from imsm.evaluate import load_eval_clip  # noqa: E402
from imsm.losses import charbonnier, ramp  # noqa: E402
from imsm.trainer import per_target, update_dual  # noqa: E402

EVAL_CLIPS = data.VAL_CLIPS + data.DEV_EVAL_CLIPS
RATIO, SCALE = 2.0, 2.0
RES_BOUND = 0.2  # the calibration sender's residual bound


class DirectDown(nn.Module):
    """(HR key, HR next) -> cover + 0.2 tanh(residual); the residual's last layer starts at zero."""

    def __init__(self, ch, blocks):
        super().__init__()
        self.inp = models.conv(12 + 12 + 3, ch)
        self.body = nn.Sequential(*[models.ResBlock(ch) for _ in range(blocks)])
        self.out = models.conv(ch, 3, zero=True)

    def forward(self, key, nxt, cover):
        h = models.act(self.inp(torch.cat([ops.space_to_depth(key), ops.space_to_depth(nxt), cover], 1)))
        return cover + RES_BOUND * torch.tanh(self.out(self.body(h)))


class DirectUp(nn.Module):
    """Two received LR frames (or per-frame features whose first three channels are the
    frame) -> the HR frame halfway between them, by pixel shuffle over the bicubic upscale
    of the frames' mean."""

    def __init__(self, ch, blocks, cin=3):
        super().__init__()
        self.inp = models.conv(2 * cin, ch)
        self.body = nn.Sequential(*[models.ResBlock(ch) for _ in range(blocks)])
        self.out = models.conv(ch, 12, zero=True)

    def residual(self, lr0, lr1):
        """The head's correction at twice the LR size (pixel shuffle)."""
        return F.pixel_shuffle(self.out(self.body(models.act(self.inp(torch.cat([lr0, lr1], 1))))), 2)

    def forward(self, lr0, lr1, size):
        base = ops.bicubic(0.5 * (lr0[:, :3] + lr1[:, :3]), size)
        return (base + self.residual(lr0, lr1)).clamp(0.0, 1.0)


class DirectSynthGraph(nn.Module):
    """The synth graph of a `reveal-direct` probe, a diagnostic under contract v2's names:
    both frames' features moved as models.SynthGraph moves them (the engine's alignment),
    then the direct head, its 2x pixel-shuffle residual resized to out_size. It renders the
    instant halfway between the frames whatever t is, so through the elements only the
    in-between frames of a 60 -> 30 stream at half size mean anything."""

    def __init__(self, up):
        super().__init__()
        self.up = up

    def forward(self, feat0, feat1, t, out_size, shift0, shift1, index0, index1):
        f0, f1 = models.align_features(feat0, shift0, index0), models.align_features(feat1, shift1, index1)
        base = ops.bicubic(0.5 * (f0[:, :3] + f1[:, :3]), out_size)
        res = self.up.residual(f0, f1)
        # t is a contract input the head does not read: kept in the graph, adding nothing
        return (base + ops.resize_like(res, base, exporting=True) + 0.0 * t.reshape(1, 1, 1, 1)).clamp(0.0, 1.0)


DIRECT_SYNTH_DESCRIPTION = (
    "DIAGNOSTIC probe synth (training/probe_channel.py, reveal-direct): features moved by the engine's "
    "alignment, then residual blocks and a 2x pixel shuffle over the bicubic upscale of the two frames' "
    "mean; renders t = 1/2 whatever t is (60 -> 30 at half size only).")


def export_graphs(probe, out_dir, kind):
    """The three graphs of a `reveal-direct` probe (--arch imsm) in `out_dir`: the System's
    down (with its configuration's cover guard) and reveal, and DirectSynthGraph as synth;
    -> the paths."""
    from imsm import export

    os.makedirs(out_dir, exist_ok=True)
    system = probe.system.cpu().eval()
    paths = {g: export.export_graph(system, g, os.path.join(out_dir, g + ".onnx"), kind) for g in ("down", "reveal")}
    paths["synth"] = export.export_graph(system, "synth", os.path.join(out_dir, "synth.onnx"), kind,
                                         module=DirectSynthGraph(probe.up.cpu()), description=DIRECT_SYNTH_DESCRIPTION)
    return paths


def direct_synth_parity(probe, path, h=19, w=27, seed=0):
    """Max |probe.receive - the exported synth graph| on two received frames' features at
    2x, alignment inputs set to no move."""
    from imsm import checks

    g = torch.Generator().manual_seed(seed)
    c = models.feature_channels(probe.system.cfg)
    f0, f1 = torch.rand(1, c, h, w, generator=g), torch.rand(1, c, h, w, generator=g)
    with torch.no_grad():
        want = probe.up.cpu().eval()(f0, f1, (2 * h, 2 * w)).numpy()
    ident = np.arange(h * w, dtype=np.int64)
    zero = np.zeros(2, np.int64)
    got = checks.session(path).run(None, {"feat0": f0.numpy(), "feat1": f1.numpy(), "t": np.array([0.3], np.float32),
                                          "out_size": np.array([2 * h, 2 * w], np.int64), "shift0": zero,
                                          "shift1": zero, "index0": ident, "index1": ident})[0]
    return float(np.abs(got - want).max())


def slot_at(win, off, val, offset):
    """[N, 3, H, W]: each sample's window frame at `offset` LR intervals (the nearest valid
    slot; at ratio 2 the key frame is offset 0 and the next, dropped frame offset 0.5)."""
    d = (off - offset).abs() + (1.0 - val) * 1e3
    k = d.argmin(1)
    frames = win.reshape(win.shape[0], SLOTS, 3, *win.shape[-2:])
    return frames[torch.arange(win.shape[0], device=win.device), k]


class Probe(nn.Module):
    """A sender ("imsm" or "direct") and a receiver ("imsm", "direct", or "reveal-direct":
    the IMSM inverse and reveal head per frame, then the direct receiver over both frames'
    features instead of the synth), on windows as data.BatchMaker makes them. Mixed
    (`receiver` other than `arch`) is a diagnostic only."""

    def __init__(self, arch, hide, net, direct_ch, direct_down_blocks, direct_up_blocks, receiver=None):
        super().__init__()
        self.arch, self.hide = arch, hide
        self.receiver = receiver or arch
        self.cover_filter = net.get("cover_filter", "bicubic") if arch == "imsm" else "bicubic"
        if "imsm" in (arch, self.receiver) or self.receiver == "reveal-direct":
            self.system = models.System(net)
        if arch == "direct":
            self.down = DirectDown(direct_ch, direct_down_blocks)
        if self.receiver == "direct":
            self.up = DirectUp(direct_ch, direct_up_blocks)
        if self.receiver == "reveal-direct":
            self.up = DirectUp(direct_ch, direct_up_blocks, models.feature_channels(net))

    def used_parameters(self):
        """The number of parameters the sender and the receiver run: the System's synth sits
        unused under a `reveal-direct` receiver, its encoder under a `direct` sender or
        when nothing is hidden (the IMSM runs whenever the receiver inverts it)."""
        mods = []
        if self.hide:
            mods.append(self.system.down if self.arch == "imsm" else self.down)
        if self.receiver in ("imsm", "reveal-direct"):
            mods += [self.system.reveal, self.system.imsm]
        mods.append(self.system.synth if self.receiver == "imsm" else self.up)
        params = {id(p): p for m in mods for p in m.parameters()}  # the IMSM is in down too
        return sum(p.numel() for p in params.values())

    def send(self, win, off, val, ratio, size):
        """-> (LR frame as sent, its cover, hidden latent or None)."""
        cover = models.plain_down(win, off, val, ratio, size, self.cover_filter)
        if not self.hide:
            return cover, cover, None
        if self.arch == "imsm":
            q = torch.zeros(win.shape[0], device=win.device)
            y, cover, z, _ = self.system.down(win, off, val, ratio, size, q)
            return y, cover, (z if self.receiver != "direct" else None)
        key, nxt = slot_at(win, off, val, 0.0), slot_at(win, off, val, 0.5)
        return self.down(key, nxt, cover), cover, None

    def receive(self, lr0, lr1, t, size):
        """-> (in-between frames [N, 3, H, W], recovered latents of lr0 and lr1 or None)."""
        if self.receiver == "direct":
            return self.up(lr0, lr1, size), None
        hint = torch.full((lr0.shape[0] * 2,), float(self.hide), device=lr0.device)
        feats, _, z_hat = self.system.reveal_fwd(torch.cat([lr0, lr1]), hint)
        n = lr0.shape[0]
        if self.receiver == "reveal-direct":
            return self.up(feats[:n], feats[n:], size), z_hat
        return self.system.synth(feats[:n], feats[n:], t, size), z_hat


def train(probe, cfg, clips, seed, minutes, log, max_steps=None, workers=0, chroma=False):
    """Trains for `minutes` (progress, and so the learning rate, by the clock) or, with
    `max_steps`, for that many steps (progress by the step count): the latter to match
    another run's steps when the machine was shared unevenly. The batches are made on the
    CPU and moved to the probe's device: in this process, or with `workers` > 0 in that
    many DataLoader workers (other batches than in-process: each worker draws its own), so
    that a GPU is not held by the batch making. `chroma`: every sent frame goes through a
    4:2:0 chroma round trip (channel.chroma420) before the 8-bit rounding."""
    dev = next(probe.parameters()).device
    torch.manual_seed(seed)
    batches = data.batches(clips, cfg, seed, workers, pin_memory=dev.type == "cuda")
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg["lr"], weight_decay=0.0, betas=(0.9, 0.99))
    dual, stego_ema, step, t0 = 1.0, None, 0, time.time()
    agg = {}
    while True:
        f = min(1.0, step / max_steps if max_steps else (time.time() - t0) / 60.0 / minutes)
        if f >= 1.0:
            break
        lr = cfg["lr"] * min(1.0, (step + 1) / cfg["warmup"]) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * f)))
        for g in opt.param_groups:
            g["lr"] = lr
        b = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in next(batches).items()}
        win, off, val, ratio, size = b["win"], b["off"], b["val"], b["ratio"], b["size"]
        B, K = b["tgt"].shape[:2]
        both = lambda a: torch.cat([a[0], a[1]])  # noqa: E731
        y, cover, z = probe.send(both(win), both(off), both(val), torch.cat([ratio, ratio]), size)
        # the cover loss judges the frame as sent (8 bits), the receiver gets it through the channel
        y = y.clamp(0.0, 1.0)
        sent = quantize_ste(y)
        y = quantize_ste(chroma420(y)) if chroma else sent
        lr0, lr1 = y[:B], y[B:]
        # every target of a batch is an in-between instant; at ratio 2 that is t = 1/2
        out, z_hat = probe.receive(per_target(lr0, K), per_target(lr1, K), b["t"].reshape(-1), b["tgt"].shape[-2:])
        loss = charbonnier(out, b["tgt"].reshape(B * K, 3, *b["tgt"].shape[-2:]))
        m = {"rec": loss.item()}
        if probe.hide:
            l2 = F.mse_loss(sent, cover)
            l1 = (sent - cover).abs().mean()
            w1 = cfg["cover_l1"] * ramp(f, cfg["cover_ramp"]) * dual
            loss = loss + cfg["cover_l2"] * l2 + w1 * l1
            if z is not None:
                zh = torch.cat([z_hat[::K][:B], z_hat[B * K:][::K]])
                lat = F.mse_loss(zh, z.detach())
                loss = loss + cfg["latent"] * lat
                m["lat"] = lat.item()
            dual, stego_ema, m["stego"] = update_dual(dual, stego_ema, l2.item(), f, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(probe.parameters(), cfg["grad_clip"])
        opt.step()
        step += 1
        for k, v in m.items():
            agg.setdefault(k, []).append(v)
        if step % 50 == 0:
            log(f"step {step:5d} {time.time() - t0:6.0f}s " + " ".join(f"{k}={np.mean(v):.4g}" for k, v in agg.items())
                + f" dual={dual:.3g}")
            agg = {}
    return step


@torch.no_grad()
def evaluate(probe, log, clips=EVAL_CLIPS, frames=17, short=192, max_w=320, chroma=False):
    """In-between PSNR per clip at ratio 2, scale 2, lossless 8-bit (4:2:0 first with
    `chroma`); stego PSNR of the frames as sent (8-bit, before the channel) vs cover."""
    probe.eval()
    dev = next(probe.parameters()).device
    rows = []
    for name in clips:
        hr, _ = load_eval_clip(name, frames, short, max_w)
        n, H, W, _ = hr.shape
        x = torch.from_numpy(hr).permute(0, 3, 1, 2).float() / 255.0
        size = (round(H / SCALE), round(W / SCALE))
        J = (n - 1) // 2
        lr, sent, covers = [], [], []
        for j in range(J + 1):
            wd = data.contract_window(2 * j, RATIO, lambda i: 0 <= i < n)
            win, off, val = data.pack_window(lambda idx: x[idx], wd, H, W)
            y, cover, _ = probe.send(win[None].to(dev), off[None].to(dev), val[None].to(dev),
                                     torch.tensor([RATIO], device=dev), size)
            sent.append(q8(y))
            lr.append(q8(chroma420(y.clamp(0.0, 1.0))) if chroma else sent[-1])
            covers.append(q8(cover))
        lr, sent, covers = torch.cat(lr), torch.cat(sent), torch.cat(covers)
        se, ref = [], []
        for j in range(J):
            out, _ = probe.receive(lr[j:j + 1], lr[j + 1:j + 2], torch.tensor([0.5], device=dev), (H, W))
            tgt = x[2 * j + 1:2 * j + 2].to(dev)
            se.append(float(((q8(out) - tgt) ** 2).mean()))
            blend = ops.bicubic(0.5 * (covers[j:j + 1] + covers[j + 1:j + 2]), (H, W)).clamp(0, 1)
            ref.append(float(((q8(blend) - tgt) ** 2).mean()))
        psnr = lambda v: 10 * math.log10(1.0 / max(np.mean(v), 1e-12))  # noqa: E731
        stego = psnr([float(((sent - covers) ** 2).mean())]) if probe.hide else None
        rows.append({"clip": name, "mid": psnr(se), "blend": psnr(ref), "stego": stego})
        log(f"eval {name:22s} mid {rows[-1]['mid']:.2f} (blend of covers {rows[-1]['blend']:.2f})"
            + (f" stego {stego:.1f}" if stego is not None else ""))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=("imsm", "direct"), required=True)
    ap.add_argument("--hide", type=int, choices=(0, 1), required=True)
    ap.add_argument("--receiver", choices=("imsm", "direct", "reveal-direct"),
                    help="default: the --arch's own (diagnostic)")
    ap.add_argument("--config", default="small", help="data, optimiser and (for imsm) network sizes")
    ap.add_argument("--direct-ch", type=int, default=24)
    ap.add_argument("--direct-down-blocks", type=int, default=4)
    ap.add_argument("--direct-up-blocks", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--steps", type=int, help="train this many steps instead of --minutes")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader workers making the batches (0: in this process, as the logged runs)")
    ap.add_argument("--device", default="cpu",
                    help="torch device for the networks (cuda on the GPU machine; the batches are made on the CPU)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="a setting of the configuration (config.override): net.KEY for the imsm "
                         "networks (e.g. net.synth_grid2=true) or a loss weight (e.g. latent=0)")
    ap.add_argument("--eval-clips", default=",".join(EVAL_CLIPS), help="comma-separated clips to evaluate")
    ap.add_argument("--eval-frames", type=int, default=17)
    ap.add_argument("--chroma420", action="store_true",
                    help="the channel is 8-bit 4:2:0 (as the elements' lossless I420 stream), not 8-bit RGB, "
                         "in training and evaluation")
    ap.add_argument("--out", required=True)
    ap.add_argument("--save-checkpoint", action="store_true",
                    help="--arch imsm --receiver imsm only: write OUT/checkpoint.pt as train.py does "
                         "(configuration and weights), so that reexport.py makes the three graphs "
                         "and the elements can run them")
    ap.add_argument("--export-graphs", action="store_true",
                    help="--arch imsm --receiver reveal-direct only: write OUT/graphs/{down,reveal,synth}.onnx "
                         "(a diagnostic synth that renders t = 1/2 at any t: for imsm-eval at 60 -> 30, half size)")
    a = ap.parse_args()
    if a.export_graphs and (a.arch, a.receiver) != ("imsm", "reveal-direct"):
        ap.error("--export-graphs: only --arch imsm --receiver reveal-direct (--save-checkpoint exports the System)")
    if a.save_checkpoint and (a.arch, a.receiver or a.arch) != ("imsm", "imsm"):
        ap.error("--save-checkpoint: only the project's System (--arch imsm, receiver imsm) exports")
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    logf = open(os.path.join(a.out, "log.txt"), "w")

    def log(s):
        line = f"[{time.strftime('%H:%M:%S')}] {s}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    cfg = config.get(a.config)
    cfg.update(p_plain=0.0, p_codec=0.0, p_chroma=0.0,
               focus={"p": 1.0, "ratios": [RATIO], "scales": [SCALE]})
    for item in a.set:
        try:
            config.override(cfg, item)
        except ValueError as e:
            ap.error(f"--set {item}: {e}")
    log(" ".join(sys.argv))
    clips, _ = data.load_training_clips(cfg, a.seed, log=log)
    torch.manual_seed(a.seed)  # the networks' initial weights
    probe = Probe(a.arch, bool(a.hide), cfg["net"], a.direct_ch, a.direct_down_blocks, a.direct_up_blocks,
                  a.receiver).to(a.device)
    n_params = sum(p.numel() for p in probe.parameters())
    log(f"sender {a.arch} receiver {probe.receiver} hide {a.hide}: {n_params} parameters "
        f"({probe.used_parameters()} in what this sender and receiver run), {len(clips)} clips")
    steps = train(probe, cfg, clips, a.seed, a.minutes, log, a.steps, a.workers, a.chroma420)
    if a.save_checkpoint:
        # trained at one setting (r2 s2, lossless, every sample hidden or every one plain),
        # so a diagnostic, not a release
        torch.save(models.checkpoint(probe.system, cfg, a.seed, steps), os.path.join(a.out, "checkpoint.pt"))
        log(f"wrote {os.path.join(a.out, 'checkpoint.pt')}")
    if a.export_graphs:
        paths = export_graphs(probe, os.path.join(a.out, "graphs"), f"probe-reveal-direct-h{a.hide}")
        err = direct_synth_parity(probe, paths["synth"])
        log(f"wrote {', '.join(paths.values())}; synth parity max abs err {err:.2e}")
        if err > 1e-3:
            raise SystemExit(f"--export-graphs: the synth graph differs from the probe by {err}")
        probe.to(a.device)
    rows = evaluate(probe, log, clips=a.eval_clips.split(","), frames=a.eval_frames, chroma=a.chroma420)
    mean = float(np.mean([r["mid"] for r in rows]))
    log(f"mean in-between PSNR {mean:.3f} after {steps} steps")
    with open(os.path.join(a.out, "result.json"), "w") as f:
        json.dump({"args": vars(a), "parameters": n_params, "parameters_used": probe.used_parameters(), "steps": steps, "rows": rows, "mean_mid": mean}, f,
                  indent=1)


if __name__ == "__main__":
    main()
