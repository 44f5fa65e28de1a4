#!/usr/bin/env python3
"""The gain of hiding from the probes probe.sh brought back: for each pair NAME1 / NAME0
(the same probe with and without hiding), the in-between PSNR of both and their
difference per clip and in the mean, with the stego frames' PSNR against their cover.

  python training/device/probe_table.py DIR_OR_PACK   (probes.tar.gz, or where it was unpacked)
"""

import json
import os
import sys
import tarfile
import tempfile


def read_results(root):
    """{probe name: result.json} for every probe directory under `root`."""
    out = {}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "result.json")
        if os.path.isfile(path):
            with open(path) as f:
                out[name] = json.load(f)
    return out


def gain_rows(results):
    """[(pair, clip, PSNR with hiding, without, gain, stego PSNR)], clip 'mean' last per
    pair; a pair is NAME1 with NAME0 present."""
    rows = []
    for name in sorted(results):
        if not name.endswith("1") or name[:-1] + "0" not in results:
            continue
        hid, plain = results[name], results[name[:-1] + "0"]
        by_clip = {r["clip"]: r for r in plain["rows"]}
        pairs = [(r, by_clip[r["clip"]]) for r in hid["rows"] if r["clip"] in by_clip]
        for h, p in pairs:
            rows.append((name[:-1], h["clip"], h["mid"], p["mid"], h["mid"] - p["mid"], h["stego"]))
        if pairs:
            n = len(pairs)
            mh, mp = sum(h["mid"] for h, _ in pairs) / n, sum(p["mid"] for _, p in pairs) / n
            rows.append((name[:-1], "mean", mh, mp, mh - mp, min(h["stego"] for h, _ in pairs)))
    return rows


def table(results):
    lines = ["| probe | clip | hiding | no hiding | gain | stego PSNR |", "|---|---|---:|---:|---:|---:|"]
    for pair, clip, h, p, g, s in gain_rows(results):
        lines.append(f"| {pair} | {clip} | {h:.2f} | {p:.2f} | {g:+.2f} | {s:.1f} |")
    steps = ", ".join(f"{n} {r['steps']} steps" for n, r in sorted(results.items()))
    return "\n".join(lines) + f"\n\n{steps}; stego PSNR of the mean row: the lowest clip's\n"


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    src = argv[0]
    if os.path.isfile(src):
        with tempfile.TemporaryDirectory() as d, tarfile.open(src) as t:
            t.extractall(d, filter="data")
            print(table(read_results(d)), end="")
    else:
        print(table(read_results(src)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
