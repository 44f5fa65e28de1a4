#!/usr/bin/env python3
"""Compares two sets of graphs measured by imsm-eval on the same clips (in-between PSNR).

    python3 scripts/compare_evals.py --new LABEL RESULTS.json... --old LABEL RESULTS.json... \
        --mci RESULTS.json [--title TEXT]

Each RESULTS.json is an imsm-eval results.json (or a merge of several: a list of rows).
`--new` holds the graphs under test (methods imsm-plain and imsm), `--old` the graphs they
are compared with (the same methods), `--mci` a run with ffmpeg's mci on the same clips,
frames, settings and channels. A row (setting, channel) averages the clips that both sets
measured; i-p = imsm - imsm-plain, the hiding's margin over not hiding. Prints a Markdown
table and the per-clip figures of the new graphs.
"""

import argparse
import json
import os
import sys


def index(paths):
    rows = [r for p in paths for r in json.load(open(p))]
    return {(os.path.basename(r["clip"]), r["setting"], r["channel"], r["method"]): r for r in rows}


def short(clip):
    return clip.split(".")[0].replace("_yuv420", "").replace("davis_", "").replace("-roundabout", "")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new", nargs="+", required=True, metavar=("LABEL", "RESULTS"))
    ap.add_argument("--old", nargs="+", required=True, metavar=("LABEL", "RESULTS"))
    ap.add_argument("--mci", nargs="+", required=True, metavar="RESULTS")
    ap.add_argument("--title", default=None, help="first line (default: names both labels)")
    a = ap.parse_args(argv)
    if len(a.new) < 2 or len(a.old) < 2:
        ap.error("--new and --old take a label and at least one results.json")
    na, A = a.new[0], index(a.new[1:])
    nb, B = a.old[0], index(a.old[1:])
    M = index(a.mci)

    def mid(D, k):
        return D[k]["psnr_mid"]

    print(a.title or f"In-between PSNR (dB), mean over the clips measured; i-p = imsm - imsm-plain; {nb} against {na}")
    print()
    print(f"| setting | channel (clips) | mci | imsm-plain {nb} / {na} | imsm {nb} / {na} | imsm {na} - mci | "
          f"i-p {nb}: mean, worst | i-p {na}: mean, worst | clips below imsm-plain {nb} / {na} | "
          f"LR PSNR {na}, min | kbit/s classic / imsm {nb} / imsm {na} |")
    print("|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|")
    rows = []
    for s in ("t2s2", "t25s15"):
        for ch in ("lossless", "crf18", "crf23", "crf28"):
            cl = sorted(c for (c, s_, ch_, m) in A
                        if s_ == s and ch_ == ch and m == "imsm" and (c, s, ch, "imsm") in B and (c, s, ch, "mci") in M)
            if not cl:
                continue
            n = len(cl)

            def k(c, m, s=s, ch=ch):
                return (c, s, ch, m)

            def mean(D, m, cl=cl, k=k):
                return sum(mid(D, k(c, m)) for c in cl) / len(cl)

            ipa = {c: mid(A, k(c, "imsm")) - mid(A, k(c, "imsm-plain")) for c in cl}
            ipb = {c: mid(B, k(c, "imsm")) - mid(B, k(c, "imsm-plain")) for c in cl}
            wa, wb = min(ipa, key=ipa.get), min(ipb, key=ipb.get)
            lr = min(A[k(c, "imsm")]["lr_psnr"] for c in cl)

            def kb(D, m, cl=cl, k=k):
                return sum(D[k(c, m)]["kbps"] or 0 for c in cl) / len(cl)

            bits = f"{kb(A, 'imsm-plain'):.0f} / {kb(B, 'imsm'):.0f} / {kb(A, 'imsm'):.0f}" if kb(A, "imsm") else "-"
            print(f"| {s} | {ch} ({n}) | {mean(M, 'mci'):.2f} | {mean(B, 'imsm-plain'):.2f} / {mean(A, 'imsm-plain'):.2f} | "
                  f"{mean(B, 'imsm'):.2f} / {mean(A, 'imsm'):.2f} | {mean(A, 'imsm') - mean(M, 'mci'):+.2f} | "
                  f"{sum(ipb.values()) / n:+.2f}, {ipb[wb]:+.2f} ({short(wb)}) | {sum(ipa.values()) / n:+.2f}, {ipa[wa]:+.2f} ({short(wa)}) | "
                  f"{sum(v < 0 for v in ipb.values())} / {sum(v < 0 for v in ipa.values())} | {lr:.1f} | {bits} |")
            rows.append((s, ch, cl))
    print()
    print(f"Per clip: imsm-plain, imsm ({na}), i-p {na} (i-p {nb}), imsm {na} - mci, LR PSNR ({na})")
    for s, ch, cl in rows:
        print(s, ch)
        for c in cl:
            def k(m, c=c, s=s, ch=ch):
                return (c, s, ch, m)

            print(f"  {short(c):16s} plain {mid(A, k('imsm-plain')):6.2f}  imsm {mid(A, k('imsm')):6.2f}  "
                  f"i-p {mid(A, k('imsm')) - mid(A, k('imsm-plain')):+.2f} ({mid(B, k('imsm')) - mid(B, k('imsm-plain')):+.2f})  "
                  f"i-mci {mid(A, k('imsm')) - mid(M, k('mci')):+.2f}  lr {A[k('imsm')]['lr_psnr']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
