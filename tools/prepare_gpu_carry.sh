#!/usr/bin/env bash
# Fills ./.carry (git-ignored) with what tools/gpu_session.sh needs on a GPU machine that has no
# network: libjpeg-turbo's Debian 12 packages unpacked with dpkg -x (headers + shared libraries for
# building the extension with QGAC_FAST_LIBJPEG_PREFIX, libturbojpeg.so.0 for PyTurboJPEG), a
# PyTurboJPEG 1.8.3 wheel (PyPI has only its sdist: built here into a pure-Python wheel), and the
# training pack .carry/train-pack (tools/training_pack.py: PNG crops of the training sets
# bsds500_trainval and urban100 under $QGAC_FAST_DATASETS, ../shared/datasets unless set; they do
# not travel; never the evaluation sets) for the session's train stage. .carry/MANIFEST names it all.
#
# Run HERE, on a networked Debian 12 (amd64) machine, from the repository root, as root (or with
# the apt lists already present):  tools/prepare_gpu_carry.sh
# Then pass carry=[".carry"] to the device tool's run call. Re-running replaces .carry.
#
# Size: the device tool carries 64 MiB at most, the working tree included. The pack gets what
# keeps .carry within CARRY_MAX_MIB (40) and the tree with .carry 4 MiB under the 64 (so it
# shrinks as the repository grows); the script fails when that leaves under 8 MiB.
#
# Environment: PYTHON (default .venv/bin/python, else python3) builds the wheel and cuts the pack;
# CARRY_MAX_MIB (40); PACK_CROP (192: crop side, at least the session's --crop), PACK_SEED (0).
set -euo pipefail

cd "$(dirname "$0")/.."
CARRY=.carry
PACKAGES=(libjpeg62-turbo libjpeg62-turbo-dev libturbojpeg0 libturbojpeg0-dev)
PYTURBOJPEG=PyTurboJPEG==1.8.3
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

git check-ignore -q "$CARRY/" || { echo "error: $CARRY/ is not git-ignored (add /$CARRY/ to .gitignore)" >&2; exit 1; }
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || { echo "error: this machine's Debian architecture is $arch; the GPU machines need amd64 packages" >&2; exit 1; }

rm -rf "$CARRY"
mkdir -p "$CARRY/debs" "$CARRY/libjpeg" "$CARRY/wheels"

# --- Debian packages -> .carry/debs, unpacked into .carry/libjpeg (usr/include, usr/lib/x86_64-linux-gnu)
download() { (cd "$CARRY/debs" && apt-get download "${PACKAGES[@]}"); }
if ! download; then
    echo "apt-get download failed; running apt-get update once and retrying"
    if [ "$(id -u)" -ne 0 ]; then echo "error: apt-get update needs root" >&2; exit 1; fi
    apt-get update -qq
    download
fi
for deb in "$CARRY"/debs/*.deb; do
    dpkg -x "$deb" "$CARRY/libjpeg"
done
lib="$CARRY/libjpeg/usr/lib/x86_64-linux-gnu"
for f in usr/include/jpeglib.h usr/include/x86_64-linux-gnu/jconfig.h usr/include/turbojpeg.h; do
    [ -e "$CARRY/libjpeg/$f" ] || { echo "error: $f missing after unpacking" >&2; exit 1; }
done
for f in libjpeg.so libjpeg.so.62 libturbojpeg.so.0; do
    [ -e "$lib/$f" ] || { echo "error: $lib/$f missing after unpacking" >&2; exit 1; }
done

# --- PyTurboJPEG 1.8.3: sdist only on PyPI -> a pure-Python wheel
sdist_dir=$(mktemp -d)
trap 'rm -rf "$sdist_dir"' EXIT
"$PYTHON" -m pip download -q --no-deps --no-binary=:all: "$PYTURBOJPEG" -d "$sdist_dir"
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$CARRY/wheels" "$sdist_dir"/*
ls "$CARRY"/wheels/*-py3-none-any.whl >/dev/null

# --- the training pack, in what the 64 MiB leave: tracked and untracked-not-ignored files travel too
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
carry_bytes=$(du -sb "$CARRY" | cut -f1)
pack_mib=$(awk -v t="$tree_bytes" -v c="$carry_bytes" -v cap="${CARRY_MAX_MIB:-40}" 'BEGIN {
    m = 1048576; a = cap - c / m; b = 64 - 4 - (t + c) / m; printf "%.1f", (a < b ? a : b) }')
echo "working tree $(mib "$tree_bytes") MiB, .carry so far $(mib "$carry_bytes") MiB: training pack budget $pack_mib MiB"
awk -v p="$pack_mib" 'BEGIN { exit !(p >= 8) }' \
    || { echo "error: only $pack_mib MiB left for the training pack (at least 8 needed)" >&2; exit 1; }
export QGAC_FAST_DATASETS="${QGAC_FAST_DATASETS:-../shared/datasets}"
pack=$("$PYTHON" tools/training_pack.py --out "$CARRY/train-pack" --max-mib "$pack_mib" --crop "${PACK_CROP:-192}" \
    --seed "${PACK_SEED:-0}")

{
    echo "prepared $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) by tools/prepare_gpu_carry.sh"
    for deb in "$CARRY"/debs/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
    ls "$CARRY/wheels"
    echo "$pack"
} > "$CARRY/MANIFEST"
cat "$CARRY/MANIFEST"
echo ".carry: $(mib "$(du -sb "$CARRY" | cut -f1)") MiB"
