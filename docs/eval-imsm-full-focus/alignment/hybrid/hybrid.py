# Run in the imsm-eval output folder's parent: dump-on/ and dump-off/ are imsm-eval --dump-frames runs
# (alignment on / off, methods imsm,imsm-cover); prints in-between PSNR of each output and of the hybrids.
import numpy as np, json, os
on, off = 'dump-on', 'dump-off'
meta = json.load(open(on + '/meta.json'))
res = {}
for r in json.load(open(on + '/results.json')):
    res[(os.path.basename(r['clip']), r['method'], 'on')] = r['psnr_mid']
for r in json.load(open(off + '/results.json')):
    res[(os.path.basename(r['clip']), r['method'], 'off')] = r['psnr_mid']
def load(d, stem, name, shape):
    a = np.fromfile(f'{d}/frames/{stem}/{name}.rgb', np.uint8)
    return a.reshape(-1, *shape).astype(np.float64)
def psnr(x, y):
    return 10 * np.log10(255.0 ** 2 / ((x - y) ** 2).mean())
out = {}
for c in meta['clips']:
    path, rest = c.split(' (')
    w, h = map(int, rest.split(',')[0].split('x'))
    stem = os.path.basename(path)
    src = load(on, stem, 'source', (h, w, 3))
    A = load(on, stem, 't2s2_lossless_imsm', (h, w, 3)); Ac = load(on, stem, 't2s2_lossless_imsm-cover', (h, w, 3))
    U = load(off, stem, 't2s2_lossless_imsm', (h, w, 3)); Uc = load(off, stem, 't2s2_lossless_imsm-cover', (h, w, 3))
    n = min(len(src), len(A), len(U), len(Ac), len(Uc))
    mid = [i for i in range(n) if i % 2 == 1]
    s = src[mid]
    row = {'A': psnr(A[mid], s), 'Ac': psnr(Ac[mid], s), 'U': psnr(U[mid], s), 'Uc': psnr(Uc[mid], s),
           'A+dU': psnr(np.clip(A[mid] + U[mid] - Uc[mid], 0, 255), s),
           'Ac+dU': psnr(np.clip(Ac[mid] + U[mid] - Uc[mid], 0, 255), s)}
    out[stem] = row
    print(f"{stem:24s} n={n} reported A {res.get((stem,'imsm','on'),0):.2f} " + ' '.join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
keys = list(next(iter(out.values())).keys())
print('mean', ' '.join(f"{k} {np.mean([r[k] for r in out.values()]):.3f}" for k in keys))
json.dump(out, open('hybrid.json', 'w'), indent=1)
