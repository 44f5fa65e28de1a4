#!/usr/bin/env python3
"""Evaluate a directory of trained graphs against the reference graphs through ONNX Runtime
(the protocol of imsm/evaluate.py) at several x264 CRFs, and time the graphs on the CPU.

  python training/eval_models.py --models models/imsm-small --crfs 18,23,28 \
      --out models/imsm-small/eval-crf18-23-28.json
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from imsm import checks, data, evaluate  # noqa: E402


def time_graphs(model_dir, lr_hw, hr_hw, threads, reps=5):
    g = evaluate.Graphs(model_dir, threads)
    h, w = lr_hw
    H, W = hr_hw
    rng = np.random.default_rng(0)
    frames = checks.split_frames(rng.random((1, 21, H, W), dtype=np.float32))  # frame0 .. frame6
    off = np.array([[-0.8, -0.4, 0, 0.4, 0.8, 0, 0]], np.float32)
    val = np.array([[1, 1, 1, 1, 1, 0, 0]], np.float32)
    res = {}
    lr = g.run_down(frames, off, val, 2.5, (h, w))
    f = g.run_reveal(lr, 1.0)
    for name, fn in (("down", lambda: g.run_down(frames, off, val, 2.5, (h, w))),
                     ("reveal", lambda: g.run_reveal(lr, 1.0)),
                     ("synth", lambda: g.run_synth(f, f, 0.4, (H, W)))):
        fn()
        t = time.time()
        for _ in range(reps):
            fn()
        res[name] = round((time.time() - t) / reps * 1000, 1)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True)
    p.add_argument("--clips", default=",".join(data.VAL_CLIPS + data.DEV_EVAL_CLIPS))
    p.add_argument("--crfs", default="18,23,28")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--short", type=int, default=192)
    p.add_argument("--max-w", type=int, default=320)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    clips = args.clips.split(",")
    crfs = tuple(int(c) for c in args.crfs.split(","))
    t0 = time.time()
    rows = evaluate.evaluate(args.models, clips, n_frames=args.frames, short=args.short, max_w=args.max_w,
                             crfs=crfs, threads=args.threads)
    summary = {
        "held_out_train_clips": evaluate.summarize(rows, [c for c in clips if c in data.VAL_CLIPS]),
        "dev_clips": evaluate.summarize(rows, [c for c in clips if c not in data.VAL_CLIPS]),
        "all": evaluate.summarize(rows, clips),
    }
    timing = {
        "lr 320x180 -> hr 640x360 (r 2.5)": time_graphs(args.models, (180, 320), (360, 640), args.threads),
        "reference, same sizes": time_graphs(evaluate.REFERENCE_DIR, (180, 320), (360, 640), args.threads),
    }
    res = {"models": args.models, "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "python training/eval_models.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores visible, onnxruntime CPU, {args.threads} thread(s)",
           "protocol": evaluate.__doc__, "clips": clips, "settings": [list(s) for s in evaluate.SETTINGS],
           "frames": args.frames, "short_side": args.short, "max_width": args.max_w,
           "summary": summary, "cpu_ms_per_call": timing, "rows": rows, "wall_s": round(time.time() - t0, 1)}
    for ch, ms in summary["all"].items():
        print(ch, json.dumps(ms))
    print("cpu ms per call", json.dumps(timing))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
