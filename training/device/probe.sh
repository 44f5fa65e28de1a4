#!/usr/bin/env bash
# Hiding-channel probes (training/probe_channel.py) on the GPU machine, several at once on
# its one GPU: does the project's sender and receiver gain from hiding at the GPU's scale
# what the design notes' calibration gained in 5 H100 minutes (+7-8 dB, 60 -> 30 at half
# size, lossless), and a calibration-shaped pair beside it, each against the same receiver
# trained without hiding? Run the same command in every call (training/device/README.md):
#   - unpacks the data pack (.device/data.tar) into $VIDEO_ROOT once per machine;
#   - starts every probe of PROBES that has not started as a daemon (setsid): they go on
#     between calls while the machine stays warm;
#   - waits up to WAIT_S seconds (default 540) or until all have ended, prints each one's
#     last lines and packs their logs and results into $OUT/probes.tar.gz (one file: the
#     device tool returns at most 8).
# Exit code: 0 all finished, 75 still running (call again at once), 3 no data, anything
# else: a probe failed (its log is in the pack).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUN="${RUN_DIR:-/tmp/imsm-probes}"
OUT="${OUT:-/tmp/imsm-out}"
WAIT_S="${WAIT_S:-540}"
DEVICE="${DEVICE:-cuda}"
VIDEO_ROOT="${VIDEO_ROOT:-/tmp/video}"
MINUTES="${MINUTES:-8}"
SEED="${SEED:-3}"
# WORKERS: DataLoader workers per probe making its batches (one batch at `full`'s size takes
# ~90 ms on one core, so in-process batches would hold each probe to ~11 steps/s)
WORKERS="${WORKERS:-3}"
# EXTRA: arguments for every probe (e.g. --eval-clips/--eval-frames for a dry run here)
EXTRA="${EXTRA:-}"
# PROBES: name=arguments, separated by ';'. By default the project's networks at `full`'s
# sizes (without the latent loss, which the CPU probes found harmful) and a calibration-
# shaped pair (96 channels, 4 sender and 8 receiver blocks, as MODEL_NOTES.md's probe),
# each with and without hiding.
DIRECT="--arch direct --config full --direct-ch 96 --direct-down-blocks 4 --direct-up-blocks 8"
# The imsm pair also writes its checkpoint (4.2 MB each, in the pack), which reexport.py
# turns into graphs that imsm-eval measures through the elements here: at the CPU's scale a
# probe trained on clips at short side 160 gained +0.39 dB from hiding on its small
# evaluation frames and +0.04 through the elements at full size; trained at 360, +0.40
# through the elements (docs/probe-hiding-margin/, eighteenth session).
PROBES="${PROBES:-imsm1=--arch imsm --hide 1 --config full --set latent=0 --save-checkpoint;imsm0=--arch imsm --hide 0 --config full --save-checkpoint;direct1=$DIRECT --hide 1;direct0=$DIRECT --hide 0}"
export PYTHONUNBUFFERED=1 IMSM_VIDEO_ROOT="$VIDEO_ROOT"
mkdir -p "$RUN" "$OUT"

if [[ ! -f "$VIDEO_ROOT/manifest.csv" && -f .device/data.tar ]]; then
    mkdir -p "$VIDEO_ROOT" && tar -xf .device/data.tar -C "$VIDEO_ROOT" || exit 1
fi
[[ -f "$VIDEO_ROOT/manifest.csv" ]] || { echo "no data: carry .device/data.tar"; exit 3; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader

IFS=';' read -ra entries <<< "$PROBES"
names=()
for e in "${entries[@]}"; do
    name="${e%%=*}" args="${e#*=}"
    names+=("$name")
    dir="$RUN/$name"
    if [[ ! -f "$dir/pid" ]]; then
        mkdir -p "$dir"
        echo "starting $name: $args"
        # shellcheck disable=SC2086
        setsid bash -c "python3 training/probe_channel.py $args --minutes $MINUTES --seed $SEED --device $DEVICE \
            --threads 2 --workers $WORKERS --out '$dir' $EXTRA > '$dir/console.log' 2>&1 < /dev/null; echo \$? > '$dir/rc'" &
        echo $! > "$dir/pid"
    fi
done

all_done() { for n in "${names[@]}"; do [[ -f "$RUN/$n/rc" ]] || return 1; done; }
start=$(date +%s)
while ! all_done && (( $(date +%s) - start < WAIT_S )); do
    sleep 5
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
failed=0
for n in "${names[@]}"; do
    echo "== $n"
    tail -n 3 "$RUN/$n/log.txt" 2>/dev/null || tail -n 3 "$RUN/$n/console.log"
    if [[ -f "$RUN/$n/rc" && "$(cat "$RUN/$n/rc")" != 0 ]]; then
        echo "$n failed (exit $(cat "$RUN/$n/rc")): see its console.log"
        failed=1
    fi
done
tar -czf "$OUT/probes.tar.gz" -C "$RUN" --exclude=pid .
((failed)) && exit 1
all_done && { echo "finished"; exit 0; }
echo "still running: call again now (the machine goes back after 30 s idle)"
exit 75
