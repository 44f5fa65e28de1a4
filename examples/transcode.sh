#!/usr/bin/env bash
# File -> imsmdown at a chosen frame rate and size -> x264 -> MP4.
#
#   examples/transcode.sh [IN [OUT [WIDTHxHEIGHT [FPS]]]]
#
# Defaults: the bundled clip media/flower_cc0.mp4 (960x540, 29.97 fps), out/transcode.mp4,
# 480x270, 24 fps (any rational rate works: 29.97 -> 24 is a ratio of 1.2487...).
# Environment: CRF (x264 constant quality, default 23), THREADS (ONNX Runtime threads,
# default 2), CHANNEL_QUALITY (imsmdown channel-quality, 0..1, default 0).
# IMSM_MODEL_DIR: the graphs (default models/, the reference graphs; e.g. $PWD/models/imsm-full-focus
# for the trained ones, far slower on a CPU).
# Needs the plugin built: bash scripts/setup.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

IN="${1:-$REPO/media/flower_cc0.mp4}"
OUT="${2:-$REPO/out/transcode.mp4}"
SIZE="${3:-480x270}"
FPS="${4:-24/1}"
CRF="${CRF:-23}"
THREADS="${THREADS:-2}"
CHANNEL_QUALITY="${CHANNEL_QUALITY:-0}"

[[ -f "$REPO/target/release/libgstimsm.so" ]] || { echo "plugin not built: run bash scripts/setup.sh" >&2; exit 1; }
[[ -f "$IN" ]] || { echo "no such input: $IN" >&2; exit 1; }
[[ $SIZE =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "size must be WIDTHxHEIGHT, not $SIZE" >&2; exit 1; }
W="${BASH_REMATCH[1]}" H="${BASH_REMATCH[2]}"
[[ $FPS == */* ]] || FPS="$FPS/1"
mkdir -p "$(dirname "$OUT")"
export GST_PLUGIN_PATH="$REPO/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

# decodebin picks the decoder; videoconvert is a no-op for formats imsmdown takes
# (I420 NV12 RGB RGBA BGRA RGBx BGRx) and converts anything else (e.g. 10-bit).
# The caps after imsmdown choose the output size and rate.
gst-launch-1.0 -e \
    filesrc location="$IN" ! decodebin ! videoconvert \
    ! imsmdown threads="$THREADS" channel-quality="$CHANNEL_QUALITY" \
    ! "video/x-raw,width=$W,height=$H,framerate=$FPS" \
    ! x264enc speed-preset=medium pass=qual quantizer="$CRF" \
    ! h264parse ! mp4mux ! filesink location="$OUT"

echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"
if command -v ffprobe >/dev/null; then
    ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames -of default=nw=1 "$OUT"
fi
