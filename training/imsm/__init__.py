"""gst-imsm training package: data, networks, channel, losses, export and checks.

See training/README.md. Entry point: training/train.py --config small|full --seed N --out DIR.
"""

CONTRACT = "1"
SLOTS = 7
OPSET = 17
IR_VERSION = 8
