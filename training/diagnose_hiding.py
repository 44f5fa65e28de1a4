#!/usr/bin/env python3
"""Where does the hidden motion get lost? Two measurements on a trained checkpoint, at one
setting (default 60 -> 30 at half size), lossless 8-bit channel, on train.py's evaluation
clips (first 17 frames at short side 192, at most 320 wide), in PyTorch:

1. Linear probe. Target: each in-between low-rate frame (the dropped HR frame downscaled
   with the model's own cover filter) minus the mean of the two received frames around it,
   per LR pixel. Ridge regression (in-sample; the pixels far outnumber the weights) of that
   residual on what the receiver has or could have, both frames' channels at the pixel:
     y3x3    the two received (stego) frames, 3x3 neighbourhoods
     feat0   the reveal head's features on the plain covers (hint 0): no hiding
     feat    the reveal head's features on the stego frames (hint 1; with the network
             option synth_latent they include z_hat)
     z       the latent the sender hid (exact)
     z_hat   the latent the receiver recovers (IMSM inverse of the 8-bit stego frame)
   and feat0 + each of the others. R^2 is the share of the residual's variance explained;
   feat0 + z against feat0 + z_hat is how much the stego channel loses.
2. Receiver substitutions: in-between PSNR of the synth when the reveal head is given
   the exact cover and latent ("oracle"), the exact latent only, or no latent, against
   the normal path and the plain cover (imsm-cover).

  python training/diagnose_hiding.py --models models/imsm-full-focus [--ratio 2 --scale 2]
"""

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from imsm import SLOTS, data, models, ops  # noqa: E402
from imsm.evaluate import hr_instants, load_eval_clip  # noqa: E402

PROBES = ("y3x3", "feat0", "feat", "z", "z_hat")
RECEIVERS = ("normal", "oracle", "z-exact", "z-zero", "cover")


def q8(x):
    return torch.round(x.clamp(0, 1) * 255) / 255


def ridge_r2(a, y, lam=1e-3):
    """R^2 of the ridge regression of y [n, k] on a [n, m] (with a bias) and its residual rms."""
    a = np.concatenate([a, np.ones((len(a), 1))], 1).astype(np.float64)
    y = y.astype(np.float64)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y)
    e = y - a @ w
    total = ((y - y.mean(0)) ** 2).sum()
    return 1.0 - (e ** 2).sum() / total, float(np.sqrt((e ** 2).mean()))


def correlation(a, b):
    """Pearson correlation; 0 where either side is constant (nothing recovered)."""
    a, b = a - a.mean(), b - b.mean()
    d = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / d if d > 0 else 0.0


def head(reveal, lr, c_hat, z_hat, hint):
    """The reveal head (models.Reveal after its IMSM inverse) on a given cover and latent."""
    hmap = ops.const_map(lr, hint.reshape(-1, 1))
    h = models.act(reveal.inp(torch.cat([lr, c_hat - lr, z_hat, hmap], 1)))
    return reveal.features(lr, reveal.out(reveal.body(h)), z_hat)


def window(x, j, r):
    n, _, H, W = x.shape
    win = data.contract_window(j * r, r, lambda i: 0 <= i < n)
    fr = torch.empty(1, 3 * SLOTS, H, W)
    off, val = torch.zeros(1, SLOTS), torch.zeros(1, SLOTS)
    for k in range(SLOTS):
        i, o = win[min(k, len(win) - 1)]
        fr[0, 3 * k:3 * k + 3] = x[i]
        if k < len(win):
            off[0, k], val[0, k] = o, 1.0
    return fr, off, val


def send_clip(system, name, r, s, frames, short, max_w):
    """Evaluation clip `name` through the sender as the exported down graph runs it (cover
    guard included, 8-bit output): the HR frames [n, 3, H, W] in [0, 1], the LR size and,
    per LR frame, (8-bit stego frame, cover, latent z)."""
    hr, _ = load_eval_clip(name, frames, short, max_w)
    n, H, W, _ = hr.shape
    x = torch.from_numpy(hr.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)
    size = (max(1, round(H / s)), max(1, round(W / s)))
    sent = []
    with torch.no_grad():
        for j in range(int(math.floor((n - 1) / r + 1e-9)) + 1):
            fr, off, val = window(x, j, r)
            y, cover, z, _ = system.down(fr, off, val, torch.tensor([r]), size, torch.zeros(1))
            y = models.guard_sent(system.cfg, cover, y)
            sent.append((q8(y), cover, z))
    return x, size, sent


def flat(t):
    """[1, C, h, w] -> [h * w, C]."""
    return t[0].reshape(t.shape[1], -1).T.numpy()


def diagnose(system, clips, r, s, frames=17, short=192, max_w=320, log=print, latent_decoder=None):
    """`latent_decoder(y8, z_hat)`, if given: another estimate of the latent from the
    received frame (probe_latent_decoder.py), probed as `z_dec` beside z_hat."""
    cover_filter = system.cfg.get("cover_filter", "bicubic")
    probes = PROBES + (("z_dec",) if latent_decoder is not None else ())
    xs = {k: [] for k in probes}
    ys = []
    sq = {k: [] for k in RECEIVERS}
    one, zero = torch.ones(1), torch.zeros(1)
    with torch.no_grad():
        for name in clips:
            x, size, sent = send_clip(system, name, r, s, frames, short, max_w)
            n, _, H, W = x.shape
            J = len(sent) - 1
            per = []
            for y8, cover, z in sent:
                f, _, z_hat = system.reveal(y8, one, system.imsm)
                f_cover = system.reveal(q8(cover), zero, system.imsm)[0]
                c_hat, _ = system.imsm.inverse(y8, torch.zeros_like(z))
                extra = {"z_dec": latent_decoder(y8, z_hat)} if latent_decoder is not None else {}
                per.append(dict(
                    **extra, y=y8, z=z, z_hat=z_hat, feat=f[:, 3:], feat0=f_cover[:, 3:],
                    rx={"normal": f, "oracle": head(system.reveal, y8, cover, z, one),
                        "z-exact": head(system.reveal, y8, c_hat, z, one),
                        "z-zero": head(system.reveal, y8, c_hat, torch.zeros_like(z), one),
                        "cover": f_cover}))
            psnr = {}
            for k in RECEIVERS:
                errs = []
                for i, j, t in hr_instants(n, J, r):
                    if t == 0.0:  # key frames: nothing to interpolate
                        continue
                    out = system.synth(per[j]["rx"][k], per[min(j + 1, J)]["rx"][k], torch.tensor([t]), (H, W))
                    errs.append(float(((torch.round(out.clamp(0, 1) * 255) - x[i:i + 1] * 255) ** 2).mean()))
                psnr[k] = 10 * math.log10(255 ** 2 / np.mean(errs))
                sq[k].append(psnr[k])
            log(f"{name:22s} " + " ".join(f"{k} {v:.2f}" for k, v in psnr.items()))
            # the linear probe: in-between LR frames with a whole number of HR frames (r integer)
            for j in range(J):
                mid_pos = j * r + r / 2
                if abs(mid_pos - round(mid_pos)) > 1e-6:
                    continue
                a, b = per[j], per[j + 1]
                mid = models.downscale(x[int(round(mid_pos))][None], size, cover_filter)
                ys.append(flat(mid - 0.5 * (a["y"] + b["y"])))
                for k in ("z", "z_hat", "feat", "feat0") + (("z_dec",) if latent_decoder is not None else ()):
                    xs[k].append(flat(torch.cat([a[k], b[k]], 1)))
                xs["y3x3"].append(F.unfold(torch.cat([a["y"], b["y"]], 1), 3, padding=1)[0].T.numpy())
    out = {"receivers": {k: float(np.mean(v)) for k, v in sq.items()}}
    log("in-between PSNR, mean over the clips: " + " ".join(f"{k} {v:.2f}" for k, v in out["receivers"].items()))
    if ys:
        y = np.concatenate(ys)
        out["residual_rms"] = float(np.sqrt((y ** 2).mean()) * 255)
        out["probe"] = {}
        cat = {k: np.concatenate(v) for k, v in xs.items()}
        sets = [(k,) for k in probes] + [("feat0", k) for k in ("feat", "z", "z_hat") + probes[len(PROBES):]]
        for ks in sets:
            r2, rms = ridge_r2(np.concatenate([cat[k] for k in ks], 1), y)
            out["probe"]["+".join(ks)] = {"r2": round(float(r2), 4), "rms": round(rms * 255, 2)}
        z, zh = cat["z"][:, :cat["z"].shape[1] // 2], cat["z_hat"][:, :cat["z_hat"].shape[1] // 2]
        out["latent_corr"] = float(np.mean([correlation(z[:, c], zh[:, c]) for c in range(z.shape[1])]))
        log(f"linear probe on {len(y)} LR pixels, residual rms {out['residual_rms']:.2f} code values:")
        for k, v in out["probe"].items():
            log(f"  {k:12s} R^2 {v['r2']:.3f}  residual rms {v['rms']:.2f}")
        log(f"  latent recovered: mean per-channel correlation of z_hat with z {out['latent_corr']:.3f}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True, help="model directory holding checkpoint.pt, or the file")
    p.add_argument("--ratio", type=float, default=2.0)
    p.add_argument("--scale", type=float, default=2.0)
    p.add_argument("--clips", default=",".join(data.VAL_CLIPS + data.DEV_EVAL_CLIPS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    path = args.models if args.models.endswith(".pt") else os.path.join(args.models, "checkpoint.pt")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    system = models.System(ckpt["net"])
    system.load_state_dict(ckpt["state"], strict=True)
    system.eval()
    print(f"{path}: setting r{args.ratio:g} s{args.scale:g}, lossless 8-bit")
    diagnose(system, args.clips.split(","), args.ratio, args.scale)


if __name__ == "__main__":
    main()
