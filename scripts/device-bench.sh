#!/usr/bin/env bash
# imsm-bench on the lent GPU machine (issue 6), in two halves:
#
#   here:   bash scripts/device-bench.sh prepare
#       builds imsm-bench and the plugin (release), strips copies into .device/bin/, packs
#       ONNX Runtime's GPU build into .gpu-runtime/ (part0..partN, zstd, unpack.sh; from
#       ../shared/tools/ort-gpu-bundle.sh) and a GStreamer 1.22 runtime into
#       .device/gst-runtime.tar.gz (../shared/tools/gst-runtime-bundle.sh). All ignored by git.
#   there:  bash scripts/device-bench.sh run [SIZE...]     (default sizes 1920x1080 3840x2160)
#       carry .gpu-runtime/part0, .gpu-runtime/zstd, .gpu-runtime/unpack.sh in the first
#       call, the other parts in the next calls (<= 64 MiB a call with the working tree:
#       training/device/slim-tree.sh on first, the repository is ~40 MB), .device/bin and
#       .device/gst-runtime.tar.gz with the last part; each call with `run` unpacks what
#       has arrived and, once everything is there, runs imsm-bench for the CUDA and
#       TensorRT providers at each size (down: SIZE@60 -> SIZE/2@30, up: SIZE/2@30 ->
#       SIZE@60), writing bench-<provider>-<element>-<size>-colour-<c>-overlap-<o>.txt
#       to $OUT. PROVIDERS (default "cuda tensorrt") and ELEMENT (down, up, default both)
#       narrow a run; IMSM_MODEL_DIR picks the graphs (default models/, the reference ones).
#       COLOUR=host|graphs picks where I420 <-> RGB runs and OVERLAP=on|off the elements'
#       overlap (both default auto: colour graphs and overlap on the GPU); run it again
#       with COLOUR=host or OVERLAP=off to measure what each gains.
#       Until everything is there it says what is missing (exit 3).
# The CUDA 13 / cuDNN 9 libraries come from the machine's PyTorch (nvidia/*/lib in its
# site-packages); TensorRT's are not on that machine, so the tensorrt run is expected to end
# with imsm-bench's provider error, which is reported as it is.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode="${1:-}"; shift || true

if [[ "$mode" == prepare ]]; then
    set -e
    cargo build --release --bin imsm-bench --lib
    mkdir -p .device/bin
    strip -o .device/bin/imsm-bench target/release/imsm-bench
    strip -o .device/bin/libgstimsm.so target/release/libgstimsm.so
    [[ -f .gpu-runtime/unpack.sh ]] || bash ../shared/tools/ort-gpu-bundle.sh .gpu-runtime
    [[ -f .device/gst-runtime.tar.gz ]] || bash ../shared/tools/gst-runtime-bundle.sh .device/gst-runtime.tar.gz
    du -sh .device/bin/* .device/gst-runtime.tar.gz .gpu-runtime/*
    exit 0
fi
[[ "$mode" == run ]] || { echo "usage: $0 prepare|run [SIZE...]"; exit 2; }
OUT="${OUT:-/tmp/imsm-bench-out}"; mkdir -p "$OUT"
sizes=("$@"); ((${#sizes[@]})) || sizes=(1920x1080 3840x2160)
ORT=/tmp/ort-gpu/onnxruntime/capi/libonnxruntime.so.1.31.1

if [[ ! -f "$ORT" ]]; then
    parts=$(ls .gpu-runtime/part* 2>/dev/null | wc -l)
    echo "ONNX Runtime GPU: $parts part(s) here"
    # The bundle is complete when the last part is shorter than the split size (50 MB).
    last=$(ls .gpu-runtime/part* 2>/dev/null | sort | tail -n 1)
    if [[ -n "$last" && $(stat -c %s "$last") -lt 52428800 && -f .gpu-runtime/unpack.sh ]]; then
        bash .gpu-runtime/unpack.sh /tmp/ort-gpu >/dev/null || exit 1
    fi
fi
if [[ ! -f /tmp/gstrt/env.sh && -f .device/gst-runtime.tar.gz ]]; then
    mkdir -p /tmp/gstrt && tar -C /tmp/gstrt -xzf .device/gst-runtime.tar.gz || exit 1
fi
missing=()
[[ -f "$ORT" ]] || missing+=("ONNX Runtime GPU parts (.gpu-runtime)")
[[ -f /tmp/gstrt/env.sh ]] || missing+=(".device/gst-runtime.tar.gz")
[[ -x .device/bin/imsm-bench ]] || missing+=(".device/bin")
if ((${#missing[@]})); then echo "still missing: ${missing[*]}"; exit 3; fi

. /tmp/gstrt/env.sh
nv=$(python3 -c 'import glob, os, site; print(":".join(sorted({os.path.dirname(p) for d in site.getsitepackages() for p in glob.glob(d + "/nvidia/**/lib/*.so*", recursive=True)})))' 2>/dev/null)
export LD_LIBRARY_PATH="/tmp/ort-gpu/onnxruntime/capi${nv:+:$nv}:$LD_LIBRARY_PATH"
export ORT_DYLIB_PATH="$ORT" GST_PLUGIN_PATH="$PWD/.device/bin" IMSM_MODEL_DIR="${IMSM_MODEL_DIR:-$PWD/models}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
for provider in ${PROVIDERS:-cuda tensorrt}; do
    for size in "${sizes[@]}"; do
        echo "=== $provider $size"
        timeout 280 .device/bin/imsm-bench --provider "$provider" --size "$size" --frames "${FRAMES:-120}" \
            --runs 3 --element "${ELEMENT:-both}" --colour "${COLOUR:-auto}" --overlap "${OVERLAP:-auto}" --models "$IMSM_MODEL_DIR" 2>&1 \
            | tee "$OUT/bench-$provider-${ELEMENT:-both}-$size-colour-${COLOUR:-auto}-overlap-${OVERLAP:-auto}.txt"
    done
done
