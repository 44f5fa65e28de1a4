#!/usr/bin/env bash
# A low-rate file -> imsmup -> a display's rate and size: 24 fps in, 60 fps and a
# bigger picture out, to the screen (autovideosink) or, with --headless, to a fakesink,
# counting the frames and the rate achieved.
#
#   examples/display-adapt.sh [--headless] [IN [WIDTHxHEIGHT [FPS]]]
#
# IN is an H.264 MP4 (swap qtdemux/h264parse/avdec_h264 for decodebin for other
# inputs). Default: out/flower_480x270_24fps.mp4, made first from the bundled clip with
# examples/transcode.sh when missing. Output default: 1280x720 at 60 fps.
# Environment: THREADS (ONNX Runtime threads, default 2).
# On a CPU with the reference graphs, imsmup is slower than real time at these sizes:
# on screen, late frames are dropped (the sink's QoS); --headless shows the real rate.
# IMSM_MODEL_DIR: the graphs (default models/, the reference graphs; e.g. $PWD/models/imsm-full-focus
# for the trained ones, far slower on a CPU).
# Needs the plugin built: bash scripts/setup.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

headless=0
if [[ ${1:-} == --headless ]]; then headless=1; shift; fi
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
IN="${1:-}"
SIZE="${2:-1280x720}"
FPS="${3:-60/1}"
THREADS="${THREADS:-2}"

[[ -f "$REPO/target/release/libgstimsm.so" ]] || { echo "plugin not built: run bash scripts/setup.sh" >&2; exit 1; }
if [[ -z $IN ]]; then
    IN="$REPO/out/flower_480x270_24fps.mp4"
    if [[ ! -f $IN ]]; then
        echo "making the 24 fps low-rate input $IN with examples/transcode.sh"
        bash "$REPO/examples/transcode.sh" "$REPO/media/flower_cc0.mp4" "$IN" 480x270 24/1 >/dev/null
    fi
fi
[[ -f "$IN" ]] || { echo "no such input: $IN" >&2; exit 1; }
[[ $SIZE =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "size must be WIDTHxHEIGHT, not $SIZE" >&2; exit 1; }
W="${BASH_REMATCH[1]}" H="${BASH_REMATCH[2]}"
[[ $FPS == */* ]] || FPS="$FPS/1"
export GST_PLUGIN_PATH="$REPO/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

if [[ $headless == 1 ]]; then
    # sync=false runs as fast as imsmup can; silent=false (with gst-launch -v) prints a
    # line per frame, which is how the frames are counted.
    sink=(fakesink name=out sync=false silent=false)
else
    sink=(autovideosink)
fi

# stream-kind=imsm: the input was made by imsmdown (use plain for ordinary video).
run() {
    gst-launch-1.0 -e "$@" \
        filesrc location="$IN" ! qtdemux ! h264parse ! avdec_h264 \
        ! imsmup threads="$THREADS" stream-kind=imsm \
        ! "video/x-raw,width=$W,height=$H,framerate=$FPS" \
        ! videoconvert ! "${sink[@]}"
}
if [[ $headless == 1 ]]; then
    start=$(date +%s%N)
    log="$(run -v 2>&1)" || { printf '%s\n' "$log" >&2; exit 1; }
    end=$(date +%s%N)
    frames=$(printf '%s\n' "$log" | grep -c 'out: last-message = chain' || true)
    ms=$(( (end - start) / 1000000 ))
    last_pts=$(printf '%s\n' "$log" | grep 'out: last-message = chain' | tail -n 1 | grep -o 'pts: [0-9:.]*' || true)
    rate=$(awk -v f="$frames" -v ms="$ms" 'BEGIN { printf "%.2f", (ms > 0 ? f * 1000 / ms : 0) }')
    echo "imsmup: $IN -> ${W}x${H} at $FPS: $frames frames (last $last_pts) in $ms ms wall time ($rate frames/s)"
else
    run
fi
