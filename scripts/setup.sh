#!/usr/bin/env bash
# Sets up everything gst-imsm needs, on Debian 12 (bookworm), and builds the plugin.
#
#   bash scripts/setup.sh            # as a normal user (calls sudo for apt-get only) or as root
#   bash scripts/setup.sh --no-apt   # skip the system-package step (other distributions)
#
# Steps, each skipped when it is already done, so a re-run takes seconds:
#   1. apt-get install the GStreamer 1.22 development files, plugins and tools, ffmpeg and
#      the Python/C build tools, if `dpkg -s` says any of them is missing;
#   2. check that Rust (cargo, via rustup) is installed and new enough;
#   3. create .venv and pip install training/requirements-ci.txt (onnx, onnxruntime, numpy);
#   4. copy ONNX Runtime's libonnxruntime.so.1.31.1 from that wheel into .ort/, where the
#      plugin looks for it by default;
#   5. cargo build --release, giving target/release/libgstimsm.so;
#   6. check that GStreamer loads the plugin and that it starts ONNX Runtime.
#
# Environment: PYTHON (interpreter for the venv, default python3).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

ORT_VERSION=1.31.1
ORT_LIB="libonnxruntime.so.${ORT_VERSION}"
# The locked dependencies (gstreamer-rs 0.25, ort 2.0.0-rc.15) need this rustc.
MIN_RUST=1.92
APT_PACKAGES=(
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    ffmpeg python3-venv python3-pip build-essential
)

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

skip_apt=0
for arg in "$@"; do
    case "$arg" in
        --no-apt) skip_apt=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done

# --- 1. system packages ------------------------------------------------------------------
if [[ $skip_apt == 0 ]]; then
    if command -v dpkg-query >/dev/null 2>&1; then
        missing=()
        for pkg in "${APT_PACKAGES[@]}"; do
            status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
            [[ $status == "install ok installed" ]] || missing+=("$pkg")
        done
        if ((${#missing[@]})); then
            log "installing missing packages: ${missing[*]}"
            if [[ $EUID -eq 0 ]]; then
                SUDO=()
            elif command -v sudo >/dev/null 2>&1; then
                SUDO=(sudo)
            else
                die "not root and no sudo: install these packages as root, then re-run: ${missing[*]}"
            fi
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
        else
            log "system packages: all ${#APT_PACKAGES[@]} present"
        fi
    else
        log "no dpkg here (not Debian?): skipping apt; install GStreamer >= 1.22 with its development"
        log "files, the base/good/bad/ugly/libav plugins, gst-launch-1.0, ffmpeg and python3-venv yourself"
    fi
fi

# Run with sudo by a normal user: the system step needed root, the rest should belong to
# that user (a root-owned target/ or .venv would get in their way later).
if [[ $EUID -eq 0 && -n ${SUDO_USER:-} && ${SUDO_USER} != root ]]; then
    log "continuing as $SUDO_USER"
    exec sudo -u "$SUDO_USER" -H -- bash "${BASH_SOURCE[0]}" --no-apt
fi

# --- 2. Rust -----------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    cat >&2 <<EOF
[setup] ERROR: cargo was not found. gst-imsm needs Rust >= $MIN_RUST, from rustup
(Debian's own rustc is too old). Install it as the user who builds, then re-run:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . "\$HOME/.cargo/env"
    bash scripts/setup.sh
EOF
    exit 1
fi
rust_version="$(rustc --version | awk '{print $2}')"
if [[ "$(printf '%s\n%s\n' "$MIN_RUST" "${rust_version%%-*}" | sort -V | head -n1)" != "$MIN_RUST" ]]; then
    die "rustc $rust_version is older than $MIN_RUST: run 'rustup update stable' and re-run"
fi
log "rust: $(cargo --version)"

# --- 3. Python venv with the pinned onnx / onnxruntime / numpy -----------------------------
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (apt-get install python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$("$PYTHON" --version 2>&1) is too old: the pinned numpy needs Python >= 3.11 (set PYTHON=...)"
if ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    log "creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear .venv || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
REQ=training/requirements-ci.txt
STAMP=.venv/.imsm-requirements
if cmp -s "$REQ" "$STAMP" && .venv/bin/python -c 'import onnx, onnxruntime, numpy' >/dev/null 2>&1; then
    log "python: .venv already has $REQ"
else
    log "python: pip install -r $REQ"
    .venv/bin/python -m pip install --disable-pip-version-check -q -r "$REQ"
    cp "$REQ" "$STAMP"
fi

# --- 4. ONNX Runtime library -------------------------------------------------------------
capi="$(.venv/bin/python -c 'import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')"
[[ -f "$capi/$ORT_LIB" ]] || die "$capi/$ORT_LIB not found: is onnxruntime==$ORT_VERSION installed in .venv?"
mkdir -p .ort
for lib in "$ORT_LIB" libonnxruntime_providers_shared.so; do
    [[ -f "$capi/$lib" ]] || continue
    if cmp -s "$capi/$lib" ".ort/$lib"; then
        log "onnxruntime: .ort/$lib up to date"
    else
        install -m 0755 "$capi/$lib" ".ort/$lib"
        log "onnxruntime: copied $lib into .ort/"
    fi
done

# --- 5. build ----------------------------------------------------------------------------
log "cargo build --release"
cargo build --release
PLUGIN="$REPO/target/release/libgstimsm.so"
[[ -f "$PLUGIN" ]] || die "the build did not produce $PLUGIN"

# --- 6. smoke check ----------------------------------------------------------------------
export GST_PLUGIN_PATH="$REPO/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
for element in imsmdown imsmup; do
    gst-inspect-1.0 "$element" >/dev/null 2>&1 || die "GStreamer cannot load $element from $PLUGIN (try: GST_PLUGIN_PATH=$REPO/target/release gst-inspect-1.0 $element)"
done
if ! smoke="$(gst-launch-1.0 -q videotestsrc num-buffers=4 ! video/x-raw,width=64,height=36,framerate=30/1 \
        ! imsmdown threads=1 ! fakesink 2>&1)"; then
    printf '%s\n' "$smoke" >&2
    die "imsmdown did not run (is $REPO/.ort/$ORT_LIB loadable?)"
fi
log "ok: GStreamer loads imsmdown and imsmup from $PLUGIN; ONNX Runtime from $REPO/.ort/$ORT_LIB"
log "use the plugin with: export GST_PLUGIN_PATH=$REPO/target/release"
