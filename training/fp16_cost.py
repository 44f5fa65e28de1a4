#!/usr/bin/env python3
"""What fp16 costs the receiver, measured: in-between PSNR of imsmup's graphs in fp32
(ONNX Runtime, as shipped) against the same networks run in fp16.

Issue 6 allows fp16 "where it costs <= 0.1 dB (measured)". `tensorrt-fp16` builds the
synth graph in fp16 and keeps the invertible pair (down / reveal) in fp32. No GPU was
lent for that measurement, so this script emulates fp16 with PyTorch's float16 on the
CPU: the checkpoint's networks converted with `.half()` (weights and activations in
fp16), inputs cast to fp16, outputs back to fp32. TensorRT's fp16 kernels round and
accumulate in their own way (often fp32 accumulation, some layers kept in fp32), so
this is an estimate of the precision cost, not a TensorRT figure.

Per clip (first N frames, short side S, centre crop to W, as train.py evaluates), per
setting (r, s) and channel (lossless 8-bit; x264 at the given CRFs through PyAV): the
low-rate stream comes from the shipped down graph (ONNX Runtime, fp32); then imsmup is
run three ways: all fp32 (ONNX Runtime); synth in fp16; reveal and synth in fp16.
Printed: mean in-between (and key-frame) PSNR per variant and the mean and worst change.

Usage: python3 training/fp16_cost.py --models models/imsm-small-80 [--clips A,B] [--frames 17]
           [--crfs 23] [--json OUT]
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reexport  # noqa: E402
from imsm import data, evaluate  # noqa: E402
from imsm.channel import x264_roundtrip  # noqa: E402


class Fp16Up:
    """evaluate.Graphs' receiver interface; reveal and/or synth run by PyTorch in fp16."""

    def __init__(self, system, onnx_graphs, reveal_half):
        self.system = system
        self.onnx = onnx_graphs
        self.reveal_half = reveal_half

    def run_reveal(self, lr, hint):
        if not self.reveal_half:
            return self.onnx.run_reveal(lr, hint)
        with torch.no_grad():
            f = self.system.reveal_fwd(torch.from_numpy(lr).half(), torch.tensor([hint]).half())[0]
        return f.float().numpy()

    def run_synth(self, f0, f1, t, size):
        with torch.no_grad():
            y = self.system.synth(torch.from_numpy(f0).half(), torch.from_numpy(f1).half(),
                                  torch.tensor([t]).half(), tuple(size))
        return y.float().numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="a trained model directory with checkpoint.pt")
    ap.add_argument("--clips", default=",".join(data.VAL_CLIPS + data.DEV_EVAL_CLIPS))
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--short", type=int, default=192)
    ap.add_argument("--max-w", type=int, default=320)
    ap.add_argument("--crfs", default="23")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    system, _ = reexport.load_system(os.path.join(args.models, "checkpoint.pt"))
    half = reexport.load_system(os.path.join(args.models, "checkpoint.pt"))[0].half()
    ours = evaluate.Graphs(args.models, args.threads)
    variants = {"fp32": ours, "synth fp16": Fp16Up(half, ours, False), "reveal+synth fp16": Fp16Up(half, ours, True)}
    crfs = [int(c) for c in args.crfs.split(",") if c]
    rows = []
    for clip in args.clips.split(","):
        hr, _ = evaluate.load_eval_clip(clip, args.frames, args.short, args.max_w)
        n, H, W, _ = hr.shape
        for r, s in ((2.0, 2.0), (2.5, 1.5)):
            size = (max(1, round(H / s)), max(1, round(W / s)))
            sent = evaluate.down_sequence(ours, hr, r, size)
            for crf in [None] + crfs:
                recv = sent if crf is None else x264_roundtrip(sent, crf, preset="medium", fps=30.0 / r, tune=None)[0]
                row = {"clip": clip, "setting": f"r{r:g}s{s:g}", "channel": "lossless" if crf is None else f"x264-crf{crf}"}
                for name, graphs in variants.items():
                    sc = evaluate.score(evaluate.up_sequence(graphs, recv, r, n, (H, W), 1.0), hr)
                    row[name] = {"mid": sc["mid"], "key": sc["key"]}
                rows.append(row)
                print("%-22s %-8s %-12s " % (clip, row["setting"], row["channel"])
                      + "  ".join(f"{k}: mid {v['mid']:.3f} key {v['key']:.3f}" for k, v in row.items()
                                  if isinstance(v, dict)), flush=True)

    summary = {}
    for name in ("synth fp16", "reveal+synth fp16"):
        for what in ("mid", "key"):
            d = [row[name][what] - row["fp32"][what] for row in rows if row[name][what] is not None]
            summary[f"{name} {what}"] = {"mean_db": round(float(np.mean(d)), 4), "worst_db": round(float(np.min(d)), 4),
                                         "n": len(d)}
    means = {name: round(float(np.mean([row[name]["mid"] for row in rows])), 3) for name in variants}
    print("mean in-between PSNR: " + ", ".join(f"{k} {v:.3f} dB" for k, v in means.items()))
    for k, v in summary.items():
        print(f"{k}: change vs fp32 mean {v['mean_db']:+.4f} dB, worst {v['worst_db']:+.4f} dB over {v['n']} cases")
    elapsed = time.time() - t0
    print(f"{elapsed:.0f} s on {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": "python3 training/fp16_cost.py " + " ".join(argv or sys.argv[1:]),
                       "models": args.models, "rows": rows, "mean_mid_psnr": means, "change_vs_fp32": summary,
                       "elapsed_s": round(elapsed, 1), "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPU",
                       "torch": torch.__version__}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
