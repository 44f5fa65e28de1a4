# comparison.txt: python3 comparison.py t2s2/results.json t25s15/results.json street-t25s15/results.json t25s15-crf18-28/results.json > comparison.txt (from this folder)
# imsm-full-bilinear (these runs) against imsm-full (../eval-imsm-full/merged.json) and
# ffmpeg's mci (../eval-global-motion/full-alignment-first-run/results.json), same clips,
# frames, settings, channels and machine.
import json, os, sys
def idx(rs): return {(os.path.basename(r['clip']), r['setting'], r['channel'], r['method']): r for r in rs}
A = idx([r for p in sys.argv[1:] for r in json.load(open(p))])
B = idx(json.load(open('../eval-imsm-full/merged.json')))
M = idx(json.load(open('../eval-global-motion/full-alignment-first-run/results.json')))
short = lambda c: c.split('.')[0].replace('_yuv420', '').replace('davis_', '').replace('-roundabout', '')
def mid(D, k): return D[k]['psnr_mid']
print("In-between PSNR (dB), mean over the clips measured; bilinear = models/imsm-full-bilinear, full = models/imsm-full; i-p = imsm - imsm-plain")
print()
print("| setting | channel (clips) | mci | imsm-plain full / bilinear | imsm full / bilinear | imsm bilinear - mci | i-p full: mean, worst | i-p bilinear: mean, worst | clips below imsm-plain full / bilinear | LR PSNR bilinear, min | kbit/s classic / imsm full / imsm bilinear |")
print("|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|")
rows = []
for s in ('t2s2', 't25s15'):
    for ch in ('lossless', 'crf18', 'crf23', 'crf28'):
        cl = sorted(c for (c, s_, ch_, m) in A if s_ == s and ch_ == ch and m == 'imsm' and (c, s, ch, 'imsm') in B)
        if not cl:
            continue
        n = len(cl)
        k = lambda c, m: (c, s, ch, m)
        mean = lambda D, m: sum(mid(D, k(c, m)) for c in cl) / n
        ipa = {c: mid(A, k(c, 'imsm')) - mid(A, k(c, 'imsm-plain')) for c in cl}
        ipb = {c: mid(B, k(c, 'imsm')) - mid(B, k(c, 'imsm-plain')) for c in cl}
        wa, wb = min(ipa, key=ipa.get), min(ipb, key=ipb.get)
        lr = min(A[k(c, 'imsm')]['lr_psnr'] for c in cl)
        kb = lambda D, m: sum(D[k(c, m)]['kbps'] or 0 for c in cl) / n
        bits = f"{kb(A, 'imsm-plain'):.0f} / {kb(B, 'imsm'):.0f} / {kb(A, 'imsm'):.0f}" if kb(A, 'imsm') else "-"
        print(f"| {s} | {ch} ({n}) | {mean(M, 'mci'):.2f} | {mean(B, 'imsm-plain'):.2f} / {mean(A, 'imsm-plain'):.2f} | "
              f"{mean(B, 'imsm'):.2f} / {mean(A, 'imsm'):.2f} | {mean(A, 'imsm') - mean(M, 'mci'):+.2f} | "
              f"{sum(ipb.values()) / n:+.2f}, {ipb[wb]:+.2f} ({short(wb)}) | {sum(ipa.values()) / n:+.2f}, {ipa[wa]:+.2f} ({short(wa)}) | "
              f"{sum(v < 0 for v in ipb.values())} / {sum(v < 0 for v in ipa.values())} | {lr:.1f} | {bits} |")
        rows.append((s, ch, cl))
print()
print("Per clip: imsm-plain, imsm (bilinear), i-p bilinear (i-p full), imsm bilinear - mci, LR PSNR (bilinear, against models/reference-bilinear)")
for s, ch, cl in rows:
    print(s, ch)
    for c in cl:
        k = lambda m: (c, s, ch, m)
        print(f"  {short(c):16s} plain {mid(A, k('imsm-plain')):6.2f}  imsm {mid(A, k('imsm')):6.2f}  "
              f"i-p {mid(A, k('imsm')) - mid(A, k('imsm-plain')):+.2f} ({mid(B, k('imsm')) - mid(B, k('imsm-plain')):+.2f})  "
              f"i-mci {mid(A, k('imsm')) - mid(M, k('mci')):+.2f}  lr {A[k('imsm')]['lr_psnr']:.1f}")
