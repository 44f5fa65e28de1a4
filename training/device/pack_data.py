#!/usr/bin/env python3
"""Packs the clip library into one tar small enough to travel to the GPU machine.

    python training/device/pack_data.py [--root ../shared/video] [--out .device/data.tar]

The GPU machine gets at most 64 MiB per call, the library is ~130 MB. `full` reads frames
scaled to a short side of at most 360 (data.load_clip), so each clip is stored at that
size (never upscaled), its first --frames frames, re-encoded with libx264 at CRF --crf
(preset slow, yuv420p) by ffmpeg; the manifest keeps every column, with file, size and
frame count updated, plus `packed` saying how. That is one more (mild) compression
generation on the training targets than training here from ../shared/video: the
provenance of a model trained from the pack names the pack (IMSM_VIDEO_ROOT) and this
script. Held-out and dev clips are packed too (train.py evaluates them at the end).

Nothing of the pack is committed (.device/ is ignored): most clips' licences do not
allow it.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None):
    from imsm import data

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=data.DEFAULT_VIDEO_ROOT)
    p.add_argument("--out", default=os.path.join(REPO, ".device", "data.tar"))
    p.add_argument("--short", type=int, default=360, help="short side at most (default 360, what `full` reads)")
    p.add_argument("--frames", type=int, default=88,
                   help="first N frames of each clip (default 88: 26.8 MiB, one 64 MiB call beside the repository; the PyAV wheel goes in another)")
    p.add_argument("--crf", type=int, default=20)
    p.add_argument("--splits", default="train,dev")
    args = p.parse_args(argv)

    rows = [r for r in data.read_manifest(args.root) if r["split"] in args.splits.split(",")]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out_rows = []
        for n, r in enumerate(rows, 1):
            src = data.clip_path(args.root, r)
            w, h = int(r["width"]), int(r["height"])
            f = min(1.0, args.short / min(w, h))
            # even sizes for 4:2:0, never larger than the source
            ow, oh = max(2, int(w * f) // 2 * 2), max(2, int(h * f) // 2 * 2)
            d = os.path.join(tmp, r["split"], r["clip"])
            os.makedirs(d)
            dst = os.path.join(d, "clip.mp4")
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", src, "-frames:v", str(args.frames), "-an",
                   "-vf", f"scale={ow}:{oh}:flags=area", "-c:v", "libx264", "-preset", "slow",
                   "-crf", str(args.crf), "-pix_fmt", "yuv420p", dst]
            subprocess.run(cmd, check=True)
            probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                    "-show_entries", "stream=nb_read_frames", "-of", "json", dst],
                                   check=True, capture_output=True, text=True)
            frames = int(json.loads(probe.stdout)["streams"][0]["nb_read_frames"])
            row = dict(r, file="clip.mp4", width=str(ow), height=str(oh), frames=str(frames),
                       bytes=str(os.path.getsize(dst)),
                       packed=f"pack_data.py: first {args.frames} frames, area-scaled to {ow}x{oh}, "
                              f"libx264 crf {args.crf} preset slow yuv420p")
            out_rows.append(row)
            print(f"[{n}/{len(rows)}] {r['split']}/{r['clip']}: {w}x{h} -> {ow}x{oh}, {frames} frames, "
                  f"{os.path.getsize(dst) / 1e6:.2f} MB", flush=True)
        with open(os.path.join(tmp, "manifest.csv"), "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
            wr.writeheader()
            wr.writerows(out_rows)
        with tarfile.open(args.out, "w") as tar:
            for name in sorted(os.listdir(tmp)):
                tar.add(os.path.join(tmp, name), arcname=name)
    print(f"wrote {args.out}: {len(out_rows)} clips, {os.path.getsize(args.out) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
