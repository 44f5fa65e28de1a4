#!/usr/bin/env bash
# Leaves what the GPU machine does not need out of the copy the device tool sends.
#
# The device tool sends the working tree (tracked files and untracked files git does not
# ignore) plus the carried paths, 64 MiB in all per call. The repository with its graphs
# and docs is ~40 MB (2026-11-24), so a 50 MB ONNX Runtime part, PyAV's wheel (35 MB) or
# the data pack (27 MB) no longer fit beside it. `on` untracks docs/ and the model
# folders in the index only (git rm --cached: the files stay on disk, no commit) and
# ignores them through .git/info/exclude, leaving ~6 MB: the code, models/*.onnx (the
# reference graphs) and whatever KEEP names (default: models/imsm-full-focus, the
# checkpoint for --init-from and the graphs to benchmark; `none` keeps no model folder,
# ~1.5 MB, for a run from scratch). `off` puts the index back.
# Never commit between `on` and `off`: the commit would delete those files.
#
#   bash training/device/slim-tree.sh on [KEEP...]     e.g. on models/imsm-full-focus/checkpoint.pt
#   bash training/device/slim-tree.sh off
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exclude=.git/info/exclude
begin="# slim-tree.sh begin" end="# slim-tree.sh end"
case "${1:-}" in
on)
    shift
    keep=("${@:-models/imsm-full-focus}")
    [[ "${keep[*]}" == none ]] && keep=()
    grep -qxF "$begin" "$exclude" 2>/dev/null && { echo "already on (run: $0 off)"; exit 1; }
    git diff --cached --quiet || { echo "the index has staged changes: commit or unstage them first"; exit 1; }
    # every tracked file under docs/ and models/*/ except those under a KEEP path
    mapfile -t drop < <(git ls-files docs 'models/*/*' | while read -r f; do
        skip=0; for k in ${keep[@]+"${keep[@]}"}; do [[ "$f" == "$k" || "$f" == "$k"/* ]] && skip=1; done
        ((skip)) || echo "$f"; done)
    git rm -q --cached -- "${drop[@]}"
    mkdir -p .git/info
    { echo "$begin"; printf '/%s\n' "${drop[@]}"; echo "$end"; } >> "$exclude"
    echo "left out ${#drop[@]} files; travels now: $(git ls-files -co --exclude-standard -z | xargs -0 du -cb | tail -n 1 | cut -f1) bytes"
    ;;
off)
    grep -qxF "$begin" "$exclude" 2>/dev/null || { echo "not on"; exit 0; }
    git reset -q -- docs models
    sed -i "/^$begin\$/,/^$end\$/d" "$exclude"
    git status --short | head -n 5
    echo "index restored"
    ;;
*) echo "usage: $0 on [KEEP...] | off"; exit 2 ;;
esac
