"""Diagnostic only (docs/eval-imsm-cover/README.md, "A bilinear cover"): a reference down graph whose cover is a bilinear (half-pixel, no
antialiasing) downscale of the blend instead of the bicubic; reveal/synth copied from
models/reference. Used with imsm-eval --reference DIR --methods imsm-cover."""
import os, shutil, sys
sys.path.insert(0, "training")
import torch
from imsm import config, export, models, ops

class BilinearDown(torch.nn.Module):
    def __init__(self, system):
        super().__init__()
    def forward(self, frame0, frame1, frame2, frame3, frame4, frame5, frame6, offsets, valid, ratio, out_size, quality):
        frames = torch.cat([frame0, frame1, frame2, frame3, frame4, frame5, frame6], 1)
        w = models.window_weights(offsets, valid, ratio, 0.0)
        out = ops.resize_linear(models.blend_slots(frames, w), out_size, 1)
        return (out + quality.reshape(1, 1, 1, 1) * 0.0).clamp(0.0, 1.0)

# run from the repository root: .venv-train/bin/python docs/eval-imsm-cover/make_bilinear_reference.py DIR
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
spec = export.SPECS["down"]
export.SPECS["down"] = (BilinearDown,) + tuple(spec[1:])
s = models.System(config.get("small")["net"]).eval()
export.export_graph(s, "down", os.path.join(out, "down.onnx"), "diagnostic-bilinear-cover")
for g in ("reveal", "synth"):
    shutil.copy(f"models/reference/{g}.onnx", os.path.join(out, g + ".onnx"))
print("ok")
