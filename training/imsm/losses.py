"""Losses: Charbonnier reconstruction (key and in-between frames), the cover loss (stego
vs the plain downscale; L2 from the start, L1 ramped in after ~30 % of the steps: an L1
cover loss from step 0 pins a zero-initialised sender at zero), and a small latent
recovery term (z' recovered by the receiver vs the z the sender hid)."""

import torch


def charbonnier(x, y, eps=1e-3):
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def per_sample_charbonnier(out, target, n, eps=1e-3):
    """[n * K, 3, H, W] -> [n]: the Charbonnier loss of each of n samples' K frames."""
    return torch.sqrt((out - target) ** 2 + eps * eps).reshape(n, -1).mean(1)


def ramp(f, start_end):
    """0 before start, 1 after end, linear between; f = training progress in [0, 1]."""
    a, b = start_end
    if f <= a:
        return 0.0
    if f >= b:
        return 1.0
    return (f - a) / (b - a)


def psnr(x, y):
    mse = torch.mean((x.clamp(0, 1) - y) ** 2).item()
    return 10.0 * torch.log10(torch.tensor(1.0 / max(mse, 1e-10))).item()
