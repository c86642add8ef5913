#!/usr/bin/env bash
# Fills ./.carry (git-ignored) with what tools/gpu_session.sh needs on a GPU machine that has no
# network: libjpeg-turbo's Debian 12 packages unpacked with dpkg -x (headers + shared libraries for
# building the extension with QGAC_FAST_LIBJPEG_PREFIX, libturbojpeg.so.0 for PyTurboJPEG) and a
# PyTurboJPEG 1.8.3 wheel (PyPI has only its sdist: built here into a pure-Python wheel).
#
# Run HERE, on a networked Debian 12 (amd64) machine, from the repository root, as root (or with
# the apt lists already present):  tools/prepare_gpu_carry.sh
# Then pass carry=[".carry"] to the device tool's run call. Re-running replaces .carry.
#
# Environment: PYTHON (default .venv/bin/python, else python3) builds the wheel.
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

{
    echo "prepared $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) by tools/prepare_gpu_carry.sh"
    for deb in "$CARRY"/debs/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
    ls "$CARRY/wheels"
} > "$CARRY/MANIFEST"
cat "$CARRY/MANIFEST"
du -sh "$CARRY"
