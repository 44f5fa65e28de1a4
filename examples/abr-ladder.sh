#!/usr/bin/env bash
# One decode, three imsmdown rungs, each with its own x264 encoder and MP4 file: an
# adaptive-bitrate ladder.
#
#   examples/abr-ladder.sh [IN [OUTDIR]]
#
# Defaults: media/flower_cc0.mp4 (960x540, 29.97 fps) and out/ladder/. The rungs are
# WIDTHxHEIGHT@FPS:KBITS, set with RUNGS (default below). A rung whose size and rate
# equal the input's makes imsmdown a passthrough (the top rung, for the bundled clip).
# Environment: RUNGS, THREADS (ONNX Runtime threads per rung, default 1),
# GOP_SECONDS (key-frame interval, default 2, so segments can be cut at the same
# instants on every rung).
# IMSM_MODEL_DIR: the graphs (default models/, the reference graphs; e.g. $PWD/models/imsm-full-focus
# for the trained ones, far slower on a CPU).
# Needs the plugin built: bash scripts/setup.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

IN="${1:-$REPO/media/flower_cc0.mp4}"
OUTDIR="${2:-$REPO/out/ladder}"
RUNGS="${RUNGS:-960x540@30000/1001:2000 640x360@24000/1001:1000 480x270@15000/1001:400}"
THREADS="${THREADS:-1}"
GOP_SECONDS="${GOP_SECONDS:-2}"

[[ -f "$REPO/target/release/libgstimsm.so" ]] || { echo "plugin not built: run bash scripts/setup.sh" >&2; exit 1; }
[[ -f "$IN" ]] || { echo "no such input: $IN" >&2; exit 1; }
mkdir -p "$OUTDIR"
export GST_PLUGIN_PATH="$REPO/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

# Decode once; a tee feeds every rung, each behind its own queue (its own thread).
pipeline=(filesrc location="$IN" ! decodebin ! videoconvert ! tee name=split)
outputs=()
for rung in $RUNGS; do
    [[ $rung =~ ^([0-9]+)x([0-9]+)@([0-9]+)(/([0-9]+))?:([0-9]+)$ ]] \
        || { echo "bad rung '$rung' (want WIDTHxHEIGHT@FPS:KBITS, e.g. 640x360@24000/1001:1000)" >&2; exit 1; }
    w="${BASH_REMATCH[1]}" h="${BASH_REMATCH[2]}" num="${BASH_REMATCH[3]}" den="${BASH_REMATCH[5]:-1}"
    kbits="${BASH_REMATCH[6]}"
    gop=$(( (GOP_SECONDS * num + den - 1) / den ))   # key frame every GOP_SECONDS
    out="$OUTDIR/${w}x${h}_$(( (num + den / 2) / den ))fps.mp4"
    outputs+=("$out")
    pipeline+=(split. ! queue
        ! imsmdown threads="$THREADS" ! "video/x-raw,width=$w,height=$h,framerate=$num/$den"
        ! x264enc bitrate="$kbits" speed-preset=medium key-int-max="$gop"
        ! h264parse ! mp4mux ! filesink location="$out")
done

gst-launch-1.0 -e "${pipeline[@]}"

for out in "${outputs[@]}"; do
    if command -v ffprobe >/dev/null; then
        info="$(ffprobe -v error -select_streams v:0 -count_frames -show_entries \
            stream=width,height,r_frame_rate,nb_read_frames,bit_rate -of csv=p=0 "$out")"
        echo "wrote $out: width,height,rate,bit_rate,frames = $info"
    else
        echo "wrote $out"
    fi
done
