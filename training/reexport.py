#!/usr/bin/env python3
"""Re-export a trained model directory's graphs from its checkpoint with the current export code.

  python training/reexport.py --models models/imsm-small

Use it when the model contract (models/README.md) or the export code changes but the
weights do not (e.g. contract version 2: down takes frame0 .. frame6 instead of one
21-channel `frames` tensor). No training, no data.

- loads DIR/checkpoint.pt (written by train.py: configuration and weights) into a System;
- exports down.onnx, reveal.onnx and synth.onnx with imsm/export.py into a temporary
  directory inside DIR; `imsm.kind` stays the model's name (provenance.json "model", else
  the old down.onnx's metadata, else imsm-<config>-s<seed>; --kind overrides);
- runs the checks train.py runs: the contract (names, types, symbolic H/W, metadata),
  PyTorch vs ONNX Runtime parity on train.PARITY_CASES (< 1e-3) and IMSM invertibility
  (< 1e-4); only when they pass are the three graphs moved into DIR (replacing the old ones);
- appends an entry to the list "exports" of DIR/provenance.json: contract, git commit
  (HEAD) and whether training/ differed from it, command, date (UTC), the checks' results,
  graph sizes and versions. The training record (every other key) is left as it was:
  its "graphs" / "checks" describe the export made at the end of training.

`--cover-guard-psnr DB` exports down with the cover guard (models.cover_guard: each low-rate
frame's hidden residual scaled down just enough to stay DB dB from its plain downscale);
`--cover-guard-420` makes that bar hold after the elements' 4:2:0 round trip as well, as the
low-rate stream is sent and measured;
`--cover-filter bilinear` exports down with a bilinear cover (models.downscale) instead of
the bicubic one the weights were trained on (a zero-shot diagnostic);
`--out DIR2` writes the graphs and a copy of the provenance with the new entry to DIR2
instead of replacing DIR's.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import onnx  # noqa: E402
import torch  # noqa: E402

import train  # noqa: E402  (git_commit, versions, PARITY_CASES: the same checks as at training time)
from imsm import CONTRACT, checks, export, models  # noqa: E402

GRAPHS = ("down", "reveal", "synth")


def load_system(ckpt_path):
    """The System of a train.py checkpoint, on the CPU, in eval mode. Returns (system, checkpoint)."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    system = models.System(ckpt["net"])
    system.load_state_dict(ckpt["state"], strict=True)
    return system.eval(), ckpt


def model_kind(model_dir, prov, ckpt):
    if prov.get("model"):
        return prov["model"]
    old = os.path.join(model_dir, "down.onnx")
    if os.path.exists(old):
        kind = {p.key: p.value for p in onnx.load(old, load_external_data=False).metadata_props}.get("imsm.kind")
        if kind and kind != "reference":
            return kind
    return f"imsm-{ckpt['config'].get('name', 'model')}-s{ckpt['seed']}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True, help="model directory holding checkpoint.pt (and provenance.json)")
    p.add_argument("--kind", default=None, help="imsm.kind metadata (default: the model's name, see above)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--cover-guard-psnr", type=float, default=None,
                   help="export down with the cover guard at this PSNR (dB; models.cover_guard); "
                        "default: what the checkpoint's configuration says (none for older ones)")
    p.add_argument("--cover-guard-420", action="store_true",
                   help="the cover guard holds its PSNR after the elements' 4:2:0 round trip too "
                        "(models.residual_mse); default: what the checkpoint's configuration says "
                        "(R'G'B' only for older ones)")
    p.add_argument("--cover-filter", choices=models.COVER_FILTERS, default=None,
                   help="export down with this cover downscale (models.downscale), the weights unchanged; "
                        "default: what the checkpoint's configuration says (bicubic for older ones)")
    p.add_argument("--out", default=None, help="write the graphs here instead of --models (provenance stays)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    model_dir = args.models
    prov_path = os.path.join(model_dir, "provenance.json")
    prov = {}
    if os.path.exists(prov_path):
        with open(prov_path) as f:
            prov = json.load(f)
    system, ckpt = load_system(os.path.join(model_dir, "checkpoint.pt"))
    if args.cover_guard_psnr is not None:
        system.cfg["cover_guard_psnr"] = args.cover_guard_psnr
    if args.cover_guard_420:
        system.cfg["cover_guard_420"] = True
    if args.cover_filter is not None:
        system.cfg["cover_filter"] = args.cover_filter
        system.down.cover_filter = args.cover_filter
    kind = args.kind or model_kind(model_dir, prov, ckpt)
    seed = int(prov.get("seed", ckpt.get("seed", 0)))
    command = "python training/reexport.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commit, dirty = train.git_commit()
    print(f"{command} | checkpoint step {ckpt.get('step')} | kind {kind} | contract {CONTRACT} | commit {commit} "
          f"(training/ modified: {dirty})", flush=True)

    target_dir = args.out or model_dir
    os.makedirs(target_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".reexport-", dir=target_dir)
    try:
        paths = export.export_all(system, tmp, kind)
        for g, path in paths.items():
            checks.check_contract(path, g)
        par = checks.parity(system, paths, train.PARITY_CASES, seed=seed)
        inv = checks.invertibility(system)
        print(f"parity max abs err {par}; invertibility {inv:.2e}", flush=True)
        assert max(par.values()) < 1e-3, par
        assert inv < 1e-4, inv
        sizes = {g: os.path.getsize(paths[g]) for g in GRAPHS}
        for g in GRAPHS:
            os.replace(paths[g], os.path.join(target_dir, g + ".onnx"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    entry = {
        "contract": CONTRACT,
        "git_commit": commit,
        "training_dir_modified_vs_commit": dirty,
        "command": command,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kind": kind,
        "checkpoint_step": ckpt.get("step"),
        "graphs": {g: {"file": g + ".onnx", "bytes": sizes[g]} for g in GRAPHS},
        "parity_max_abs_err": par,
        "parity_cases_HWhw": train.PARITY_CASES,
        "invertibility_max_abs_err": inv,
        "cover_guard_psnr": system.cfg.get("cover_guard_psnr"),
        "cover_guard_420": bool(system.cfg.get("cover_guard_420", False)),
        "cover_filter": system.down.cover_filter,
        "versions": train.versions(),
    }
    prov.setdefault("exports", []).append(entry)
    prov_path = os.path.join(target_dir, "provenance.json")
    tmp_prov = prov_path + ".tmp"
    with open(tmp_prov, "w") as f:
        json.dump(prov, f, indent=1)
    os.replace(tmp_prov, prov_path)
    print(f"wrote {', '.join(g + '.onnx' for g in GRAPHS)} ({sizes} bytes) and the exports entry of {prov_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
