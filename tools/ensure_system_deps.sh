#!/usr/bin/env bash
# Makes sure libjpeg-turbo's development files (Debian 12: libjpeg62-turbo-dev, libturbojpeg0-dev)
# are installed: the extension compiles against jpeglib.h and PyTurboJPEG loads libturbojpeg.so.0.
# Also wants libjpeg-turbo-progs (cjpeg, djpeg, jpegtran), which the real-file corpus, its tests and
# the fuzz harness use; without it those tests skip, so its absence alone fails nothing. And
# libtcmalloc-minimal4, the malloc that `qgac-fast correct` and `eval` preload where they find it
# (qgac_fast/allocator.py); without it they run on glibc's, slower.
# Installs what is missing with apt-get when running as root; otherwise says what to install, and
# fails only if a package the build needs is missing.
set -euo pipefail

required=(libjpeg62-turbo-dev libturbojpeg0-dev)
optional=(libjpeg-turbo-progs libtcmalloc-minimal4)
missing_required=()
missing_optional=()
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
for pkg in "${required[@]}"; do installed "$pkg" || missing_required+=("$pkg"); done
for pkg in "${optional[@]}"; do installed "$pkg" || missing_optional+=("$pkg"); done
missing=("${missing_required[@]}" "${missing_optional[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif [ ${#missing_required[@]} -gt 0 ]; then
    echo "error: qgac_fast needs the Debian packages: ${missing_required[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
else
    echo "warning: missing ${missing_optional[*]}: the corpus and fuzz tests skip without cjpeg," \
        "and the command line runs on glibc's malloc without tcmalloc" >&2
    echo "install it with: sudo apt-get install ${missing_optional[*]}" >&2
fi
