#!/usr/bin/env bash
# Makes sure libjpeg-turbo's development files (Debian 12: libjpeg62-turbo-dev, libturbojpeg0-dev)
# are installed: the extension compiles against jpeglib.h and PyTurboJPEG loads libturbojpeg.so.0.
# Installs them with apt-get when running as root; otherwise says what to install and fails.
set -euo pipefail

packages=(libjpeg62-turbo-dev libturbojpeg0-dev)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "error: qgac_fast needs the Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
