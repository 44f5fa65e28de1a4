#!/usr/bin/env bash
# The round trip on the bundled clip: sets everything up (scripts/setup.sh), then
# imsmdown -> x264 -> imsmup next to videorate/videoscale at the same x264 setting, and
# prints bitrates and PSNR (examples/roundtrip.rs).
#
#   bash scripts/demo.sh [--crf N] [--threads N] [--classic-scale METHOD] [--model-dir DIR] [--keep DIR] [CLIP]
#
# CLIP defaults to media/flower_cc0.mp4; --threads to 2 (ONNX Runtime threads);
# --model-dir to models/imsm-full-focus, the trained graphs (models/ holds the reference ones).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_DIR="$PWD"
cd "$REPO"
# Paths given on the command line are the caller's: relative ones are taken from where
# the script was called, not from the repository root it runs in.
from_caller() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s' "$CALLER_DIR/$1" ;; esac; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

# Find whether a clip was given (the options with a value are the ones listed above).
args=(--threads 2)
clip=""
model_dir=models/imsm-full-focus
while (($#)); do
    case "$1" in
        --model-dir) model_dir="$(from_caller "${2:?$1 needs a value}")"; shift 2 ;;
        --keep) args+=("$1" "$(from_caller "${2:?$1 needs a value}")"); shift 2 ;;
        --crf|--threads|--classic-scale) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -*) args+=("$1"); shift ;;
        *) clip="$(from_caller "$1")"; shift ;;
    esac
done
clip="${clip:-media/flower_cc0.mp4}"
args+=(--model-dir "$model_dir")

echo "[demo] cargo run --release --example roundtrip -- ${args[*]} $clip" >&2
cargo run --release --quiet --example roundtrip -- "${args[@]}" "$clip"
