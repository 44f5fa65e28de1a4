#!/usr/bin/env python3
"""Train the gst-imsm networks and write checkpoint, the three ONNX graphs and provenance.

  python training/train.py --config small --seed 1 --out models/imsm-small   # CPU, minutes
  python training/train.py --config full  --seed 1 --out out/imsm-full --device cuda

Writes into --out: checkpoint.pt, down.onnx, reveal.onnx, synth.onnx (model contract
version 2, see models/README.md), provenance.json (command, commit, data lists, steps,
hardware, wall time, checks and validation metrics) and train.log.
"""

import argparse
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# OpenMP threads that spin while waiting are ruinous on a shared CPU (measured 5.2 s vs 0.44 s
# per small step with 2 threads on a loaded 2-core machine); must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from imsm import CONTRACT, checks, config, data, evaluate, export, models  # noqa: E402
from imsm.trainer import Trainer  # noqa: E402

REPO = os.path.dirname(HERE)

# Exit code of a run paused by --segment-minutes (EX_TEMPFAIL): not finished, not failed.
EXIT_PAUSED = 75

PARITY_CASES = [(37, 53, 19, 27), (64, 48, 33, 17), (31, 29, 40, 41), (16, 16, 1, 1), (1, 1, 3, 5),
                (97, 61, 24, 15), (45, 80, 45, 80)]


def git_commit():
    # The GPU machine's copy of the repository brings a .git of the session's start, not of
    # the commit the working tree is at: training/device/full.sh passes that commit here.
    given = os.environ.get("IMSM_SOURCE_COMMIT")
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        if given and given != head:
            return given, None  # whether training/ differs from it cannot be told here
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return head, bool(dirty)
    except Exception:  # noqa: BLE001
        return given, None


def hardware(device):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    hw = {"cpu": cpu, "cpu_cores_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
          "machine": platform.machine(), "device": str(device), "gpu": None}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
    try:
        hw["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return hw


def versions():
    import av
    import cv2
    import onnx
    import onnxruntime

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "av": av.__version__,
            "opencv": cv2.__version__}


# Network options that add inputs or layers, and how a checkpoint without them is widened
# (zero weights on the new inputs and layers): the synth's displacement maps, the MLP's
# phase maps, the latent in the features, the synth's 2x grid, the synth's layer for the
# unmoved features. Each takes (state, the checkpoint's network).
WIDENABLE = {"synth_shift_maps": lambda st, _: models.widen_for_shift_maps(st),
             "mlp_coords": lambda st, _: models.widen_for_mlp_coords(st),
             "synth_latent": models.widen_for_synth_latent,
             "synth_grid2": models.widen_for_grid2,
             "synth_unmoved": models.widen_for_unmoved}


def read_init(path, net, error):
    """The weights of a finished or paused run (checked against this configuration's
    network before any data is loaded) and what they were."""
    import hashlib

    ck_path = os.path.join(path, "checkpoint.pt") if os.path.isdir(path) else path
    if not os.path.exists(ck_path):
        error(f"--init-from: {ck_path} does not exist")
    with open(ck_path, "rb") as f:
        raw = f.read()  # read once: hashed and loaded from the same bytes
    ck = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    # the cover guard acts only in the exported down graph: it does not change the weights;
    # the cover's filter (cover_filter) has no weights: a fine-tune may change it; the inputs
    # of WIDENABLE can be added to a checkpoint without them (never taken away)
    # and the blocks of models.DEEPENABLE can be appended (never taken away)
    def arch(n):
        return {k: v for k, v in (n or {}).items()
                if k not in ("cover_guard_psnr", "cover_guard_420", "cover_filter", *WIDENABLE, *models.DEEPENABLE)}

    old_net = ck.get("net") or {}
    if (arch(old_net) != arch(net) or any(old_net.get(k) and not net.get(k) for k in WIDENABLE)
            or any(net.get(k, 0) < old_net.get(k, 0) for k in models.DEEPENABLE)):
        error(f"--init-from: {ck_path} has another network ({ck.get('net')}) than this configuration ({net})")
    if net.get("synth_unmoved") and not old_net.get("synth_unmoved") and bool(net.get("synth_latent")) != bool(old_net.get("synth_latent")):
        error("--init-from: synth_unmoved and synth_latent cannot be added in one fine-tune (the unmoved layer is sized from the checkpoint's features)")
    state = ck["state"]
    for key, widen in WIDENABLE.items():
        if net.get(key) and not old_net.get(key):  # new inputs start with zero weights: the same network at first
            state = widen(state, old_net)
    if any(net.get(k) != old_net.get(k) for k in models.DEEPENABLE):  # new blocks start as the identity
        state = models.deepen(state, net)
    digest = hashlib.sha256(raw).hexdigest()
    model = None
    prov = os.path.join(os.path.dirname(ck_path), "provenance.json")
    if os.path.exists(prov):
        with open(prov) as f:
            model = json.load(f).get("model")
    rel = os.path.relpath(os.path.abspath(ck_path), REPO)
    return state, {"path": rel if not rel.startswith("..") else os.path.abspath(ck_path), "sha256": digest,
                         "model": model, "step": ck.get("step"), "config": ck.get("config", {}).get("name")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=sorted(config.CONFIGS), required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the configuration's, 1 for small, 8 for full)")
    p.add_argument("--steps", type=int, default=None, help="override the configuration's steps")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--n-clips", type=int, default=None, help="override the number of training clips (0 = all)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--eval-clips", default=None,
                   help="comma-separated clips to evaluate (default: held-out train clips + 2 dev clips; 'none' to skip)")
    p.add_argument("--eval-frames", type=int, default=None)
    p.add_argument("--kind", default=None, help="imsm.kind metadata (default imsm-<config>-s<seed>)")
    p.add_argument("--segment-minutes", type=float, default=None,
                   help="stop this process after this much training and save a resumable checkpoint "
                        f"(exit code {EXIT_PAUSED}); run the same command with --resume to go on")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint.pt (same config and seed); "
                        "without a checkpoint there, start it")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of this checkpoint.pt (or directory holding one) of a run "
                        "with the same network, e.g. --config small-codec from a `small` run; recorded in "
                        "provenance.json with its sha256")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override one configuration value, e.g. --set p_codec=1.0 --set "
                        "'codec_mix={\"libx264\": 0.5, \"libx265\": 0.5}' (recorded in provenance.json)")
    args = p.parse_args(argv)

    cfg = config.get(args.config, steps=args.steps, batch=args.batch, n_clips=args.n_clips,
                     max_frames=args.max_frames, eval_frames=args.eval_frames)
    for item in args.set:
        try:
            config.override(cfg, item)
        except ValueError as e:
            p.error(f"--set {item}: {e}")
    args.threads = args.threads or cfg["threads"]
    torch.set_num_threads(args.threads)
    max_minutes = args.max_minutes if args.max_minutes is not None else cfg["max_minutes"]
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    resumed = None
    if args.resume and os.path.exists(ckpt_path):
        resumed = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if "segments" not in resumed:
            p.error(f"{ckpt_path} was written by an older train.py without resumable state")
        if resumed["config"] != cfg or resumed["seed"] != args.seed:
            p.error(f"{ckpt_path} was trained with another configuration or seed: cannot resume")
    init_state = init_from = None
    if args.init_from and not resumed:
        init_state, init_from = read_init(args.init_from, cfg["net"], p.error)
    logf = open(os.path.join(args.out, "train.log"), "a" if resumed else "w")

    def log(msg):
        line = f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    t_start = time.time()
    command = "python training/train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commit, dirty = git_commit()
    log(f"{command} | commit {commit} (training/ modified: {dirty}) | device {args.device}")
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    clips, clip_info = data.load_training_clips(cfg, args.seed, log=log)
    _, val_rows, dev_rows = data.split_clips()
    log(f"data: {len(clips)} training clips, {sum(c['frames'] for c in clip_info)} frames; "
        f"held out: {', '.join(data.VAL_CLIPS)}")
    t_data = time.time() - t_start

    start_step = resumed["step"] if resumed else 0
    segments = list(resumed["segments"]) if resumed else []
    # A resumed segment draws other batches than the first (no replay), deterministically.
    trainer = Trainer(cfg, clips, args.seed, device=args.device, log=log,
                      data_seed=args.seed + 7919 * start_step if start_step else None)
    # A checkpoint without trainer state is a finished run: only export and evaluation are
    # (re)done, e.g. after the process was stopped during them.
    already_finished = bool(resumed) and "trainer" not in resumed
    if already_finished:
        trainer.system.load_state_dict({k: v.to(args.device) for k, v in resumed["state"].items()})
        log(f"training already finished at step {start_step}: exporting and evaluating")
    elif resumed:
        trainer.load_state({k: v.to(args.device) for k, v in resumed["state"].items()}, resumed["trainer"],
                           sum(sg["train_seconds"] for sg in segments))
        log(f"resumed at step {start_step} after {trainer.seconds_before:.0f}s of training in {len(segments)} segment(s)")
    if resumed:
        init_from = resumed.get("init_from")
    if init_state is not None:
        trainer.system.load_state_dict({k: v.to(args.device) for k, v in init_state.items()})
        log(f"initialised from {init_from['path']} (step {init_from['step']}, sha256 {init_from['sha256'][:12]})")
    counts = trainer.system.param_counts()
    log(f"parameters: {counts}")
    segment = {"command": command, "git_commit": commit, "training_dir_modified_vs_commit": dirty,
               "start_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "hardware": hardware(args.device), "step_from": start_step}

    def save_ckpt(step, t_segment=None, finished=False):
        ck = dict(models.checkpoint(trainer.system, cfg, args.seed, step), init_from=init_from,
                  segments=segments + [dict(segment, step_to=step, train_seconds=round(
                      time.time() - trainer.t0 if t_segment is None else t_segment, 1))])
        if not finished:
            ck["trainer"] = trainer.state()
        tmp = ckpt_path + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, ckpt_path)  # a kill mid-write leaves the previous checkpoint

    if already_finished:
        steps_done, finished = start_step, True
    else:
        steps_done, t_train, finished = trainer.run(ckpt_cb=save_ckpt, max_minutes=max_minutes,
                                                    start_step=start_step, segment_minutes=args.segment_minutes)
        save_ckpt(steps_done, t_train, finished)
        segments.append(dict(segment, step_to=steps_done, train_seconds=round(t_train, 1)))
    if not finished:
        log(f"paused after {steps_done} steps ({sum(sg['train_seconds'] for sg in segments):.0f}s of training); "
            "run the same command with --resume to continue")
        logf.close()
        return EXIT_PAUSED
    t_train = sum(sg["train_seconds"] for sg in segments)
    log(f"trained {steps_done} steps in {t_train:.1f}s ({len(segments)} segment(s))")

    kind = args.kind or f"imsm-{args.config}-s{args.seed}"
    system = trainer.system.cpu().eval()
    paths = export.export_all(system, args.out, kind)
    for g, path in paths.items():
        checks.check_contract(path, g)
    par = checks.parity(system, paths, PARITY_CASES, seed=args.seed)
    inv = checks.invertibility(system)
    sizes = {g: os.path.getsize(pth) for g, pth in paths.items()}
    log(f"export: {sizes} bytes; parity max abs err {par}; invertibility {inv:.2e}")
    assert max(par.values()) < 1e-3, par
    assert inv < 1e-4, inv

    if args.eval_clips == "none":
        eval_clips = []
    elif args.eval_clips:
        eval_clips = args.eval_clips.split(",")
    else:
        eval_clips = list(data.VAL_CLIPS) + list(data.DEV_EVAL_CLIPS)
    rows, summary = [], {}
    t_eval0 = time.time()
    if eval_clips:
        rows = evaluate.evaluate(args.out, eval_clips, n_frames=cfg["eval_frames"], short=cfg["eval_short"],
                                 max_w=cfg["eval_max_w"], log=log, threads=args.threads)
        summary = {
            "held_out_train_clips": evaluate.summarize(rows, [c for c in eval_clips if c in data.VAL_CLIPS]),
            "dev_clips": evaluate.summarize(rows, [c for c in eval_clips if c not in data.VAL_CLIPS]),
            "all": evaluate.summarize(rows, eval_clips),
        }
        log("summary (mean over clips and settings): " + json.dumps(summary["all"]))
    t_eval = time.time() - t_eval0

    prov = {
        "model": kind,
        "contract": CONTRACT,
        "command": command,
        "git_commit": commit,
        "training_dir_modified_vs_commit": dirty,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": args.config,
        "seed": args.seed,
        "hyperparameters": cfg,
        "init_from": init_from,
        "parameters": counts,
        "steps": steps_done,
        "steps_planned": cfg["steps"],
        "segments": segments,
        "hardware": hardware(args.device),
        "versions": versions(),
        "wall_time_s": {"data": round(t_data, 1), "train": round(t_train, 1), "eval": round(t_eval, 1),
                        "total": round(time.time() - t_start, 1)},
        "data": {
            "video_root": ("../shared/video (not in the repository)" if data.VIDEO_ROOT == data.DEFAULT_VIDEO_ROOT
                           else data.VIDEO_ROOT),
            "train_clips": clip_info,
            "held_out_train_clips": list(data.VAL_CLIPS),
            "dev_clips_evaluated": [c for c in eval_clips if c in data.DEV_EVAL_CLIPS],
            "synthetic": f"{cfg['p_synthetic']:.0%} of samples: textured background under an affine camera + "
                         "0-3 textured sprites with occlusion, rendered at exact fractional instants "
                         "(textures cut from the training clips)",
        },
        "graphs": {g: {"file": os.path.basename(pth), "bytes": sizes[g]} for g, pth in paths.items()},
        "checks": {"parity_max_abs_err": par, "parity_cases_HWhw": PARITY_CASES,
                   "invertibility_max_abs_err": inv},
        "evaluation": {
            "protocol": "ONNX Runtime CPU, exported graphs; first %d frames of each clip, short side %d, "
                        "centre crop to width <= %d; settings (r, s) %s; LR frame j at HR position j*r; "
                        "channels: lossless 8-bit and libx264 (PyAV, preset medium, yuv420p) at CRF 23; "
                        "PSNR RGB 8-bit pooled over key / in-between frames; reference = bicubic + linear "
                        "blend graphs (models/reference); imsm-plain = reference LR into our reveal(imsm=0)"
                        "/synth; lr_psnr = received LR vs reference down output" % (
                            cfg["eval_frames"], cfg["eval_short"], cfg["eval_max_w"], list(evaluate.SETTINGS)),
            "summary": summary,
            "rows": rows,
        },
    }
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(prov, f, indent=1)
    log(f"wrote {args.out}/provenance.json; total {time.time() - t_start:.1f}s")
    logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
