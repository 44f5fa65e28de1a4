# comparison.txt: python3 comparison.py merged.json ../eval-local-motion/local/results.json ../eval-global-motion/full-alignment-first-run/results.json
import json, sys
new = json.load(open(sys.argv[1])); old = json.load(open(sys.argv[2])); mci = json.load(open(sys.argv[3]))
def idx(rs): return {(r['clip'].split('/')[-1], r['setting'], r['channel'], r['method']): r for r in rs}
A, B, M = idx(new), idx(old), idx(mci)
clips = sorted({k[0] for k in A}); sets = ['t2s2', 't25s15']; chans = ['lossless', 'crf18', 'crf23', 'crf28']
short = {c: c.split('.')[0].replace('_yuv420','').replace('davis_','').replace('-roundabout','') for c in clips}
def mid(D, c, s, ch, m): return D[(c, s, ch, m)]['psnr_mid']
n = len(clips)
print("In-between PSNR (dB), mean of the eight clips; imsm-small-codec = the shipped small graphs (docs/eval-local-motion/local), imsm-full = models/imsm-full (docs/eval-imsm-full)")
print()
print("| setting | channel | mci | imsm-plain small / full | imsm small / full | imsm full - mci | imsm - imsm-plain (full): mean, worst clip | rows below | LR PSNR imsm full, min | kbit/s classic / imsm full |")
print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
for s in sets:
    for ch in chans:
        cl = [c for c in clips if (c, s, ch, 'imsm') in A and (c, s, ch, 'imsm-plain') in A]
        n = len(cl)
        mm = sum(mid(M, c, s, ch, 'mci') for c in cl) / n
        po = sum(mid(B, c, s, ch, 'imsm-plain') for c in cl) / n
        pn = sum(mid(A, c, s, ch, 'imsm-plain') for c in cl) / n
        io = sum(mid(B, c, s, ch, 'imsm') for c in cl) / n
        i_n = sum(mid(A, c, s, ch, 'imsm') for c in cl) / n
        diffs = {c: mid(A, c, s, ch, 'imsm') - mid(A, c, s, ch, 'imsm-plain') for c in cl}
        w = min(diffs, key=diffs.get)
        below = sum(1 for v in diffs.values() if v < 0)
        lr = min(A[(c, s, ch, 'imsm')]['lr_psnr'] for c in cl)
        kp = sum((A[(c, s, ch, 'imsm-plain')]['kbps'] or 0) for c in cl) / n
        ki = sum((A[(c, s, ch, 'imsm')]['kbps'] or 0) for c in cl) / n
        print(f"| {s} | {ch} ({n}) | {mm:.2f} | {po:.2f} / {pn:.2f} | {io:.2f} / {i_n:.2f} | {i_n - mm:+.2f} | {sum(diffs.values())/n:+.2f}, {diffs[w]:+.2f} ({short[w]}) | {below} | {lr:.1f} | " + (f"{kp:.0f} / {ki:.0f}" if kp else "-") + " |")
print()
print("Per clip: in-between PSNR imsm-plain small -> full, imsm small -> full, mci; i-p = imsm - imsm-plain (full); i-mci = imsm (full) - mci; lr = LR PSNR of imsm (full)")
for s in sets:
    for ch in chans:
        print(s, ch)
        for c in clips:
            if (c, s, ch, 'imsm') not in A or (c, s, ch, 'imsm-plain') not in A:
                print(f"  {short[c]:14s} not measured (cut off as stuck, see README)"); continue
            print(f"  {short[c]:14s} plain {mid(B,c,s,ch,'imsm-plain'):6.2f} -> {mid(A,c,s,ch,'imsm-plain'):6.2f} ({mid(A,c,s,ch,'imsm-plain')-mid(B,c,s,ch,'imsm-plain'):+.2f})  imsm {mid(B,c,s,ch,'imsm'):6.2f} -> {mid(A,c,s,ch,'imsm'):6.2f} ({mid(A,c,s,ch,'imsm')-mid(B,c,s,ch,'imsm'):+.2f})  mci {mid(M,c,s,ch,'mci'):6.2f}  i-p {mid(A,c,s,ch,'imsm')-mid(A,c,s,ch,'imsm-plain'):+.2f}  i-mci {mid(A,c,s,ch,'imsm')-mid(M,c,s,ch,'mci'):+.2f}  lr {A[(c,s,ch,'imsm')]['lr_psnr']:.1f}")
