#!/usr/bin/env python3
"""How much of the hidden latent can a bigger receiver get back? With a trained sender
frozen, trains a separate latent decoder (a plain CNN: the received 8-bit stego frame and
the IMSM inverse's estimate z_hat in, a better estimate of the latent z out, starting from
z_hat) on the training clips at one setting (default 60 -> 30 at half size, lossless), then
measures it on train.py's evaluation clips with diagnose_hiding's linear probe: if it
recovers much more of z than the IMSM inverse does, the receiver's capacity is what holds
the channel; if not, the hidden signal itself is entangled with the cover.

  python training/probe_latent_decoder.py --models models/imsm-full-focus --minutes 15
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import diagnose_hiding as dh  # noqa: E402
from imsm import data, models  # noqa: E402


class LatentDecoder(nn.Module):
    """z_hat + CNN(y, z_hat): the correction starts at zero, so it starts as the IMSM inverse."""

    def __init__(self, cz, ch=64, blocks=6):
        super().__init__()
        self.inp = models.conv(3 + cz, ch)
        self.body = nn.Sequential(*[models.ResBlock(ch) for _ in range(blocks)])
        self.out = models.conv(ch, cz, zero=True)

    def forward(self, y, z_hat):
        return z_hat + self.out(self.body(models.act(self.inp(torch.cat([y, z_hat], 1)))))


def sender_pairs(system, clips, r, s, frames, short, max_w):
    """(8-bit stego frame, z_hat, z) of every LR frame of the clips."""
    out = []
    with torch.no_grad():
        for name in clips:
            for y8, _, z in dh.send_clip(system, name, r, s, frames, short, max_w)[2]:
                _, _, z_hat = system.reveal(y8, torch.ones(1), system.imsm)
                out.append((y8, z_hat, z))
    return out


def latent_correlation(pairs, predict):
    """Mean per-channel correlation of `predict(y8, z_hat)` with z over `pairs`."""
    zs, ps = [], []
    with torch.no_grad():
        for y8, z_hat, z in pairs:
            zs.append(dh.flat(z))
            ps.append(dh.flat(predict(y8, z_hat)))
    z, p = np.concatenate(zs), np.concatenate(ps)
    return float(np.mean([dh.correlation(z[:, c], p[:, c]) for c in range(z.shape[1])]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--train-clips", required=True, help="comma-separated training clips (e.g. the run's provenance)")
    ap.add_argument("--ratio", type=float, default=2.0)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--crop", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the figures here (JSON)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    path = args.models if args.models.endswith(".pt") else os.path.join(args.models, "checkpoint.pt")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    system = models.System(ckpt["net"])
    system.load_state_dict(ckpt["state"], strict=True)
    system.eval()
    for p in system.parameters():
        p.requires_grad_(False)
    t0 = time.time()
    train = sender_pairs(system, args.train_clips.split(","), args.ratio, args.scale, 17, 192, 320)
    test = sender_pairs(system, list(data.VAL_CLIPS + data.DEV_EVAL_CLIPS), args.ratio, args.scale, 17, 192, 320)
    print(f"{len(train)} training and {len(test)} evaluation LR frames in {time.time() - t0:.0f}s", flush=True)
    dec = LatentDecoder(system.reveal.cz, args.channels, args.blocks)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3)
    c = args.crop
    step, t0 = 0, time.time()
    while time.time() - t0 < args.minutes * 60:
        ys, zhs, zs = [], [], []
        for _ in range(args.batch):
            y8, z_hat, z = train[rng.integers(len(train))]
            h, w = y8.shape[-2:]
            i, k = rng.integers(0, max(1, h - c + 1)), rng.integers(0, max(1, w - c + 1))
            ys.append(y8[..., i:i + c, k:k + c])
            zhs.append(z_hat[..., i:i + c, k:k + c])
            zs.append(z[..., i:i + c, k:k + c])
        pred = dec(torch.cat(ys), torch.cat(zhs))
        loss = ((pred - torch.cat(zs)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(f"step {step} {time.time() - t0:.0f}s loss {loss.item():.5f}", flush=True)
    dec.eval()
    res = {"models": path, "steps": step, "minutes": args.minutes, "decoder": {"channels": args.channels, "blocks": args.blocks}}
    res["corr_imsm_inverse"] = latent_correlation(test, lambda y8, zh: zh)
    res["corr_decoder"] = latent_correlation(test, dec)
    res["corr_decoder_train"] = latent_correlation(train, dec)
    # The linear probe of diagnose_hiding with the decoder's estimate in place of z_hat.
    out = dh.diagnose(system, list(data.VAL_CLIPS + data.DEV_EVAL_CLIPS), args.ratio, args.scale,
                      log=lambda *_: None, latent_decoder=dec)
    res["probe"] = out["probe"]
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
