#!/usr/bin/env bash
# One call on the GPU machine for the `full` training; run the same command in every call
# (training/device/README.md gives the sequence):
#   - installs the carried wheels (.device/whl/*.whl, PyAV for x264 in the loop) into
#     /tmp/site and unpacks the data pack (.device/data.tar) into /tmp/video, each once per
#     machine, when they have been carried;
#   - restores a checkpoint brought back from an earlier machine (.device/resume/);
#   - starts train.py --resume as a daemon (setsid) unless it runs or has ended: it goes on
#     between calls while the machine stays warm;
#   - waits up to WAIT_S seconds (default 520, inside the 10-minute command limit) or until training ends, then copies
#     checkpoint.pt, train.log and console.log (and, when finished, the graphs and
#     provenance.json) to $OUT.
# Exit code: 0 finished, 75 still training (call again at once), 3 waiting for the wheel
# or the data, anything else failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUN="${RUN_DIR:-/tmp/imsm-full}"
WAIT_S="${WAIT_S:-520}"
SEED="${SEED:-1}"
# MAX_MINUTES: training wall time when the session has less than the configuration's 20
# minutes of device time to spare (train.py --max-minutes)
MAX_MINUTES="${MAX_MINUTES:-}"
# CONFIG: the configuration (default `full`); INIT_FROM: a checkpoint (directory) in the
# repository to fine-tune from (train.py --init-from; ignored once a checkpoint exists);
# EVAL_CLIPS: train.py --eval-clips ('none' leaves the evaluation to a later
# `train.py --resume` on the CPU, so no device time goes to it)
CONFIG="${CONFIG:-full}"
INIT_FROM="${INIT_FROM:-}"
EVAL_CLIPS="${EVAL_CLIPS:-}"
# SOURCE_COMMIT: the commit the carried working tree is at (`git rev-parse HEAD` here, put
# into the command): the machine's .git is the session's first state, so train.py records
# this one instead (provenance.json, train.log)
export IMSM_SOURCE_COMMIT="${SOURCE_COMMIT:-}"
OUT="${OUT:-/tmp/imsm-out}"
mkdir -p "$RUN" "$OUT"
export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 IMSM_VIDEO_ROOT=/tmp/video

if ! python3 -c 'import av' 2>/dev/null && compgen -G ".device/whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl || exit 1
fi
if [[ ! -f /tmp/video/manifest.csv && -f .device/data.tar ]]; then
    mkdir -p /tmp/video && tar -xf .device/data.tar -C /tmp/video || exit 1
fi
if [[ -f .device/resume/checkpoint.pt && ! -f "$RUN/checkpoint.pt" ]]; then
    cp .device/resume/* "$RUN/"
fi
python3 -c 'import av' 2>/dev/null || { echo "PyAV missing: carry .device/whl"; exit 3; }
[[ -f /tmp/video/manifest.csv ]] || { echo "no data: carry .device/data.tar"; exit 3; }
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader || true

running() { [[ -f "$RUN/pid" ]] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; }
if ! running && [[ ! -f "$RUN/rc" ]]; then
    echo "starting training in $RUN"
    setsid bash -c "python3 training/train.py --config $CONFIG --seed $SEED --out '$RUN' --device cuda --resume ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} \
        ${INIT_FROM:+--init-from $INIT_FROM} ${EVAL_CLIPS:+--eval-clips $EVAL_CLIPS} \
        >>'$RUN/console.log' 2>&1 < /dev/null; echo \$? > '$RUN/rc'" &
    echo $! > "$RUN/pid"
fi
start=$(date +%s)
while running && [[ ! -f "$RUN/rc" ]] && (( $(date +%s) - start < WAIT_S )); do
    sleep 5
done
sleep 1
tail -n 5 "$RUN/train.log" 2>/dev/null
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader || true
cp "$RUN"/checkpoint.pt "$RUN"/train.log "$RUN"/console.log "$OUT/" 2>/dev/null
if [[ -f "$RUN/rc" ]]; then
    rc=$(cat "$RUN/rc")
    if [[ "$rc" == 0 ]]; then
        cp "$RUN"/down.onnx "$RUN"/reveal.onnx "$RUN"/synth.onnx "$RUN"/provenance.json "$OUT/"
        echo "finished"
    else
        echo "training failed (exit $rc); see console.log"
    fi
    exit "$rc"
fi
echo "still training: call again now (the machine goes back after 30 s idle)"
exit 75
