"""gst-imsm training package: data, networks, channel, losses, export and checks.

See training/README.md. Entry point: training/train.py --config small|full --seed N --out DIR.
"""

CONTRACT = "2"
SLOTS = 7
# contract v2: the down graph takes the window as seven [1, 3, H, W] inputs, slot k = frame{k}
DOWN_FRAME_INPUTS = tuple(f"frame{k}" for k in range(SLOTS))
OPSET = 17
IR_VERSION = 8
