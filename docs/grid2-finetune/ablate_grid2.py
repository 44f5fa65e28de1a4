"""Ablation of the synth's 2x grid in a fine-tuned checkpoint (docs/grid2-finetune/).

    .venv-train/bin/python docs/grid2-finetune/ablate_grid2.py CHECKPOINT OUT_DIR

Sets the 2x-grid layers (synth.delta2, synth.g2) of CHECKPOINT to zero, exports the
graphs to OUT_DIR and runs train.py's evaluation on them (the six clips, 60 -> 30 half size
and 60 -> 24 at 1/1.5 size, lossless), one thread: what the networks render without the
grid, against the same networks' figures in train.log.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from imsm import data, evaluate, export, models  # noqa: E402

torch.set_num_threads(1)
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
system = models.System(ck["net"])
system.load_state_dict(ck["state"])
system.eval()
with torch.no_grad():
    for layer in (system.synth.delta2, system.synth.g2):
        layer.weight.zero_()
        layer.bias.zero_()
export.export_all(system, sys.argv[2], "ablation-grid2-zeroed")
evaluate.evaluate(sys.argv[2], list(data.VAL_CLIPS + data.DEV_EVAL_CLIPS), settings=[(2.0, 2.0), (2.5, 1.5)],
                  crfs=(), threads=1)
