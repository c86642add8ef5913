#!/usr/bin/env bash
# Runs the whole test suite against other torch releases, so that setup.py's torch range is a
# tested one, not a guess. CI tests only the requirements.txt pins; this is run by hand when the
# range changes (PyPI's Linux torch wheels are CUDA builds: a few GB each, so not in CI).
#
# usage: tools/torch_versions.sh VERSION...      e.g. tools/torch_versions.sh 2.4.1 2.15.0
#
# For each VERSION: a fresh venv under build/torch-VERSION/ gets torch==VERSION from PyPI (with the
# triton it requires) and the other requirements.txt pins; the committed tree (git archive HEAD)
# is installed into it (editable, so the tests see the same layout as `make test`), and pytest runs
# there. One summary line per version goes to stdout and build/torch-versions.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }
PYTHON=${PYTHON:-python3}
summary=build/torch-versions.txt
mkdir -p build
for version in "$@"; do
    work=build/torch-$version
    rm -rf "$work" && mkdir -p "$work/src"
    git archive HEAD | tar -x -C "$work/src"
    "$PYTHON" -m venv "$work/venv"
    pip=("$work/venv/bin/python" -m pip --disable-pip-version-check -q)
    # torch and triton come from this version's own requirements, and setuptools (it only builds
    # the extension) from whatever range that torch allows; everything else stays pinned.
    grep -v -E '^(torch|triton|setuptools)==' requirements.txt > "$work/requirements.txt"
    if ! "${pip[@]}" install "torch==$version" setuptools -r "$work/requirements.txt" > "$work/pip.log" 2>&1; then
        echo "torch $version | not installable here: $(grep -m 1 -E '^ERROR' "$work/pip.log")" | tee -a "$summary"
        continue
    fi
    (cd "$work/src" && "../venv/bin/python" -m pip --disable-pip-version-check -q install \
        --no-build-isolation --no-deps -e .)
    versions=$("$work/venv/bin/python" -c \
        'import importlib.metadata as m, sys; print(" ".join(f"{p} {m.version(p)}" for p in ("torch", "triton", "numpy")), "python", sys.version.split()[0])')
    start=$(date +%s)
    set +e
    (cd "$work/src" && "../venv/bin/python" -m pytest -q -p no:cacheprovider > ../pytest.log 2>&1)
    status=$?
    set -e
    result=$(tail -n 1 "$work/pytest.log")
    line="$versions | exit $status | $result | $(( $(date +%s) - start )) s | log $work/pytest.log"
    echo "$line" | tee -a "$summary"
done
