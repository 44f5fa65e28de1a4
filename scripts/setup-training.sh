#!/usr/bin/env bash
# The training environment: .venv-train with training/requirements-train.txt (PyTorch from
# PyPI, ~6 GB with its CUDA libraries; `small` and the tests run on the CPU). Idempotent: a
# venv that already has exactly these requirements is kept.
# Environment: PYTHON (interpreter for the venv, default python3).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"
REQ=training/requirements-train.txt
STAMP=.venv-train/.imsm-requirements

if cmp -s "$REQ" "$STAMP" && .venv-train/bin/python -c 'import torch, onnx, onnxruntime, av, cv2' >/dev/null 2>&1; then
    echo "[setup-training] .venv-train already has $REQ"
    exit 0
fi
if ! .venv-train/bin/python -c 'import sys' >/dev/null 2>&1; then
    echo "[setup-training] creating .venv-train with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear .venv-train
fi
echo "[setup-training] pip install -r $REQ (PyTorch: a few GB)"
start=$(date +%s)
.venv-train/bin/python -m pip install --disable-pip-version-check -q -r "$REQ"
cp "$REQ" "$STAMP"
echo "[setup-training] done in $(( $(date +%s) - start )) s"
