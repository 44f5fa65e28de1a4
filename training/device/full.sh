#!/usr/bin/env bash
# One call on the GPU machine for the `full` training; run the same command in every call
# (training/device/README.md gives the sequence):
#   - installs the carried wheels (.device/whl/*.whl, PyAV for x264 in the loop) into
#     /tmp/site and unpacks the data pack (.device/data.tar) into $VIDEO_ROOT, each once per
#     machine, when they have been carried;
#   - restores a checkpoint brought back from an earlier machine (.device/resume/: a
#     checkpoint.pt, or the parts checkpoint.pt.00, .01 ... this script returned);
#   - starts train.py --resume as a daemon (setsid) unless it runs or has ended: it goes on
#     between calls while the machine stays warm;
#   - waits up to WAIT_S seconds (default 520, inside the 10-minute command limit) or until training ends, then copies
#     checkpoint.pt, train.log and console.log (and, when finished, the graphs and
#     provenance.json) to $OUT. A checkpoint over 15 MiB comes back in parts
#     (checkpoint.pt.00, .01 ...; the device tool returns files of at most 16 MiB, and a
#     resumable checkpoint of full-channel is ~21 MiB): `cat checkpoint.pt.* > checkpoint.pt`.
# Exit code: 0 finished, 75 still training (call again at once), 4 segment done
# (SEGMENT_MINUTES: carry the checkpoint into .device/resume/ in a later session),
# 3 waiting for the wheel or the data, anything else failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUN="${RUN_DIR:-/tmp/imsm-full}"
WAIT_S="${WAIT_S:-520}"
SEED="${SEED:-1}"
# MAX_MINUTES: training wall time when the session has less than the configuration's 20
# minutes of device time to spare (train.py --max-minutes)
MAX_MINUTES="${MAX_MINUTES:-}"
# SEGMENT_MINUTES: train this many minutes on this machine, then pause with a resumable
# checkpoint (train.py --segment-minutes), so that one run of MAX_MINUTES spans several
# sessions' device time (15 minutes each, the machine's start included)
SEGMENT_MINUTES="${SEGMENT_MINUTES:-}"
# DEVICE: torch device (cuda; cpu for a dry run of this script here). VIDEO_ROOT: where
# the pack is unpacked and read (a clip library with manifest.csv is read as it is).
# RESUME_DIR: where a checkpoint brought back is looked for. PART_MIB: the size of the
# parts a larger checkpoint comes back in (the device tool returns files of <= 16 MiB).
DEVICE="${DEVICE:-cuda}"
VIDEO_ROOT="${VIDEO_ROOT:-/tmp/video}"
RESUME_DIR="${RESUME_DIR:-.device/resume}"
PART_MIB="${PART_MIB:-15}"
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
export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 IMSM_VIDEO_ROOT="$VIDEO_ROOT"

if ! python3 -c 'import av' 2>/dev/null && compgen -G ".device/whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl || exit 1
fi
if [[ ! -f "$VIDEO_ROOT/manifest.csv" && -f .device/data.tar ]]; then
    mkdir -p "$VIDEO_ROOT" && tar -xf .device/data.tar -C "$VIDEO_ROOT" || exit 1
fi
if [[ ! -f "$RUN/checkpoint.pt" ]]; then
    if [[ -f "$RESUME_DIR/checkpoint.pt" ]]; then
        cp "$RESUME_DIR"/* "$RUN/"
    elif [[ -f "$RESUME_DIR/checkpoint.pt.00" ]]; then
        cat "$RESUME_DIR"/checkpoint.pt.[0-9][0-9] > "$RUN/checkpoint.pt.tmp" && mv "$RUN/checkpoint.pt.tmp" "$RUN/checkpoint.pt" || exit 1
        cp "$RESUME_DIR/train.log" "$RUN/" 2>/dev/null
    fi
fi
python3 -c 'import av' 2>/dev/null || { echo "PyAV missing: carry .device/whl"; exit 3; }
[[ -f "$VIDEO_ROOT/manifest.csv" ]] || { echo "no data: carry .device/data.tar"; exit 3; }
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader || true

running() { [[ -f "$RUN/pid" ]] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; }
if ! running && [[ ! -f "$RUN/rc" ]]; then
    echo "starting training in $RUN"
    setsid bash -c "python3 training/train.py --config $CONFIG --seed $SEED --out '$RUN' --device $DEVICE --resume ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} \
        ${SEGMENT_MINUTES:+--segment-minutes $SEGMENT_MINUTES} \
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
cp "$RUN"/train.log "$RUN"/console.log "$OUT/" 2>/dev/null
# the trainer replaces checkpoint.pt by a rename, so this reads one whole version of it
if [[ -f "$RUN/checkpoint.pt" ]]; then
    if (( $(stat -c %s "$RUN/checkpoint.pt") > PART_MIB * 1024 * 1024 )); then
        split -b "${PART_MIB}M" -d -a 2 "$RUN/checkpoint.pt" "$OUT/checkpoint.pt."
    else
        cp "$RUN/checkpoint.pt" "$OUT/"
    fi
fi
if [[ -f "$RUN/rc" ]]; then
    rc=$(cat "$RUN/rc")
    if [[ "$rc" == 0 ]]; then
        cp "$RUN"/down.onnx "$RUN"/reveal.onnx "$RUN"/synth.onnx "$RUN"/provenance.json "$OUT/"
        echo "finished"
    elif [[ "$rc" == 75 ]]; then
        echo "segment done: put what came back in .device/resume/ and carry it in a later session"
        exit 4
    else
        echo "training failed (exit $rc); see console.log"
    fi
    exit "$rc"
fi
echo "still training: call again now (the machine goes back after 30 s idle)"
exit 75
