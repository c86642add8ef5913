#!/usr/bin/env bash
# One GPU session in one call: set up on a bare, offline GPU machine, run the CUDA tests, a short
# training run, the kernel benchmarks and the end-to-end benchmark under time limits, and leave
# logs, weights and results in $OUT.
#
# Usage (from the repository root of a copy of the working tree on the GPU machine):
#     tools/gpu_session.sh                 # setup, then the stages tests, train, kernels, e2e
#     tools/gpu_session.sh train e2e       # setup, then the named stages in this order
# From a session here, with the device tool (the carry folder comes from tools/prepare_gpu_carry.sh):
#     run(command="QGAC_COMMIT=<sha> tools/gpu_session.sh", carry=[".carry"], timeout_s=600)
#
# Setup uses the machine's own python3, torch and triton; from ./.carry (when present) it installs
# the PyTurboJPEG wheel and builds the extension against the unpacked libjpeg-turbo .debs
# (QGAC_FAST_LIBJPEG_PREFIX); qgac_fast is installed into $SITE (not the machine's environment) and
# found through PYTHONPATH. Without .carry it builds against the system's libjpeg, if any.
# GPU_SESSION_SETUP=0 skips all that and uses the qgac_fast that $PYTHON already imports.
#
# Stages: tests (the CUDA tests), train (qgac-fast train on .carry/train-pack: `default` continued
# from its shipped weights with a weight average beside it, one joint stage in bf16, batches
# compressed on the GPU, ended by --time-limit with validation on 16 held-back crops; the better of
# the two comes back in bfloat16), kernels (the kernel benchmarks: pytest-benchmark cases, each JSON
# rendered by bench/report.py), e2e (the end-to-end benchmark, python -m bench.end_to_end, the one
# benchmark outside pytest-benchmark: it skips the rows its time budget cannot fit). The default
# order puts the tests first (a minute says whether the CUDA paths the training uses are right),
# then the training (the session's most valuable result), then the benchmarks, which make do with
# what is left.
#
# Time: the whole script keeps within GPU_SESSION_BUDGET_S (default 560 s, under the device tool's
# 600 s per call). Each stage but the last gets at most its default limit, less where the stages
# after it would get under their minimum; the last stage gets all that is left (less 25 s to
# collect). The train stage gives the trainer its limit less GPU_TRAIN_RESERVE_S (50 s: start-up,
# validation, saving) as --time-limit, and is skipped under 30 s of that.
#     stage     default limit           minimum   with a 45 s setup (not yet measured on a GPU)
#     tests     GPU_TESTS_S   (75 s)     45 s      75 s
#     train     GPU_TRAIN_S   (270 s)   150 s     270 s (220 s of training)
#     kernels   GPU_KERNELS_S (60 s)     45 s      60 s
#     e2e       GPU_E2E_S     (120 s)    60 s      the rest: about 85 s
# The end-to-end benchmark skips the rows it cannot finish in its budget and writes what it has. A
# stage past its limit gets SIGINT (pytest and the e2e benchmark still write their results), then
# SIGKILL 30 s later.
#
# Output ($OUT, 7 files at most, under the device tool's 8 files of 16 MiB each): session.log
# (set-up, versions, stage summary, $OUT's listing), tests.log, train.log, kernels.log, e2e.log,
# train-<gpu>.safetensors (the trained weights, parameters in bfloat16: 15.5 MiB for `default`), and
# results.tar.gz (every file written under bench/results/ in this session: the tests' JUnit XML,
# the kernel and e2e benchmarks' JSON, Markdown and plot; and train-<gpu>/log.jsonl, the training
# log with its validation).
#
# Other knobs: PYTHON (python3), SITE (/tmp/qgac-site), GPU_TESTS_ARGS (pytest arguments replacing
# the CUDA test selection), GPU_TRAIN_ARGS (extra qgac-fast train arguments, after the stage's own,
# so they override them: e.g. "--model default --batch-size 32"), KERNEL_BENCH_ARGS (extra
# pytest-benchmark arguments), E2E_ARGS (extra bench.end_to_end arguments), QGAC_COMMIT
# (recorded in the results when the copy has no .git). GPU_SESSION_SMOKE=1 rehearses the whole
# script on a CPU machine (interpreter, tiny sizes; train: a pack of the bundled samples, tiny
# batches, 3 s of training); tests/test_gpu_session.py runs its train stage so.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
START=$(date +%s)
BUDGET=${GPU_SESSION_BUDGET_S:-560}
OUT=${OUT:-/tmp/gpu-session-out}
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/qgac-site}
SMOKE=${GPU_SESSION_SMOKE:-0}
CARRY=$ROOT/.carry
mkdir -p "$OUT" bench/results
STAMP=$(mktemp)  # results newer than this were written by this session
WORK=$(mktemp -d)  # the training run's folder (its checkpoint does not come back)
SUMMARY=()

exec > >(tee -a "$OUT/session.log") 2>&1
TEE_PID=$!

elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(date +%s) + START )); }
say() { echo "[$(printf '%4d' "$(elapsed)")s] $*"; }

# run_stage NAME LIMIT_S LOG COMMAND...: run with a time limit, log to $OUT/LOG, record the outcome
run_stage() {
    local name=$1 limit=$2 log=$3
    shift 3
    if [ "$limit" -lt 20 ]; then
        say "$name: skipped (only ${limit}s left)"
        SUMMARY+=("$name: skipped (time)")
        return 0
    fi
    say "$name: start (limit ${limit}s) -> $log"
    local t0 rc
    t0=$(date +%s)
    timeout -s INT -k 30 "$limit" "$@" >>"$OUT/$log" 2>&1
    rc=$?
    local took=$(( $(date +%s) - t0 ))
    case $rc in
        0) SUMMARY+=("$name: ok (${took}s)") ;;
        124|130|137) SUMMARY+=("$name: stopped at its ${limit}s limit (rc $rc, ${took}s)") ;;
        *) SUMMARY+=("$name: FAILED rc $rc (${took}s)") ;;
    esac
    say "$name: rc $rc after ${took}s"
    tail -n 5 "$OUT/$log" | sed "s/^/    $name| /"
    return 0
}

# ------------------------------------------------------------------ stages to run, in this order
STAGES=("$@")
if [ ${#STAGES[@]} -eq 0 ] || [ "${STAGES[0]}" = all ]; then STAGES=(tests train kernels e2e); fi
for s in "${STAGES[@]}"; do
    case $s in tests|train|kernels|e2e) ;;
        *) echo "error: unknown stage '$s' (tests, train, kernels, e2e, all)"; exit 2 ;;
    esac
done

if [ "$SMOKE" = 1 ]; then
    export QGAC_BENCH_CPU_SMOKE=1 TRITON_INTERPRET=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi
export PYTHONUNBUFFERED=1

# ------------------------------------------------------------------ setup
say "gpu_session: stages ${STAGES[*]}; budget ${BUDGET}s; OUT=$OUT; smoke=$SMOKE"
say "host $(hostname), $(getconf _NPROCESSORS_ONLN) CPUs, $(uname -r); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm \
    --format=csv,noheader | sed 's/^/    gpu| /'
say "python: $(command -v "$PY") ($("$PY" -V 2>&1))"
# -P: the repository root is not put on sys.path, so qgac_fast is the one built into $SITE
"$PY" -P -c pass 2>/dev/null || { say "error: $PY has no -P (Python >= 3.11 needed)"; exit 2; }
"$PY" - <<'EOF' 2>&1 | sed 's/^/    env| /'
import importlib.metadata as md
import torch
for name in ("torch", "triton", "numpy", "pillow", "pybind11", "setuptools", "pytest", "pytest-benchmark",
             "hypothesis", "matplotlib", "safetensors", "PyTurboJPEG"):
    try:
        print(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name} (not installed)")
print(f"cuda available: {torch.cuda.is_available()}, torch.version.cuda {torch.version.cuda}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name()}, capability {torch.cuda.get_device_capability()}")
EOF

COMMIT=${QGAC_COMMIT:-$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)}
export QGAC_COMMIT=$COMMIT
say "commit: $COMMIT"

setup() {
    mkdir -p "$SITE"
    if [ -d "$CARRY/wheels" ] && ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
        say "installing carried wheels: $(cd "$CARRY/wheels" && ls *.whl | tr '\n' ' ')"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$CARRY"/wheels/*.whl \
            || return 1
    fi
    local build_env=()
    if [ -d "$CARRY/libjpeg/usr/include" ]; then
        local lib="$CARRY/libjpeg/usr/lib/x86_64-linux-gnu"
        export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"  # PyTurboJPEG finds libturbojpeg.so.0 here
        build_env=(QGAC_FAST_LIBJPEG_PREFIX="$CARRY/libjpeg")
        say "libjpeg-turbo from $CARRY/libjpeg ($(cat "$CARRY/MANIFEST" 2>/dev/null | grep -c Package) packages)"
    else
        say "no $CARRY/libjpeg: building against the system's libjpeg (run tools/prepare_gpu_carry.sh and carry .carry)"
    fi
    say "building qgac_fast into $SITE"  # always: the code is copied there (build/ keeps the compiled objects)
    env "${build_env[@]}" "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
        --upgrade --target "$SITE" "$ROOT" || return 1
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -P -m qgac_fast.env || return 1
    # every stage imports these: each must come from $SITE (a package missing from the wheel would
    # otherwise fail a stage later, or be supplied from elsewhere by an editable install's finder)
    "$PY" -P - "$SITE" <<'EOF' || return 1
import os, sys
import qgac_fast.cli, qgac_fast.inference, qgac_fast.kernels, qgac_fast.model, qgac_fast.train.loop
site = os.path.realpath(sys.argv[1])
strays = sorted(f"{name} ({module.__file__})" for name, module in sys.modules.items()
                if name.split(".")[0] == "qgac_fast" and getattr(module, "__file__", None)
                and not os.path.realpath(module.__file__).startswith(site + os.sep))
if strays:
    sys.exit("qgac_fast modules not from the installed copy: " + ", ".join(strays))
print(f"qgac_fast and its {sum(n.startswith('qgac_fast.') for n in sys.modules)} modules imported from {site}")
EOF
    "$PY" -P -c "import turbojpeg; turbojpeg.TurboJPEG(); print('PyTurboJPEG loads libturbojpeg')" \
        || say "warning: PyTurboJPEG unusable: tests that encode with it will fail"
}
t0=$(date +%s)
if [ "${GPU_SESSION_SETUP:-1}" = 0 ]; then
    say "setup skipped (GPU_SESSION_SETUP=0): using the qgac_fast that $PY imports"
    setup() { "$PY" -P -c "import qgac_fast; print('qgac_fast', qgac_fast.__version__, 'from', qgac_fast.__file__)"; }
fi
if setup; then
    SUMMARY+=("setup: ok ($(( $(date +%s) - t0 ))s)")
    say "setup ok"
else
    SUMMARY+=("setup: FAILED ($(( $(date +%s) - t0 ))s)")
    say "setup FAILED: see above; nothing else can run"
    STAGES=()
fi
GPU_SLUG=$("$PY" -P - <<'EOF' 2>/dev/null || echo unknown
import torch
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu-smoke"
name = "".join(c.lower() if c.isalnum() else "-" for c in name.replace("NVIDIA", ""))
print("-".join(p for p in name.split("-") if p)[:40] or "gpu")
EOF
)

# ------------------------------------------------------------------ stages
# stage_limit DEFAULT IS_LAST LATER: DEFAULT seconds, or all that is left (less a reserve for
# collecting) for the last stage; never more than leaves LATER seconds for the stages after it
stage_limit() {
    local default=$1 is_last=$2 later=$3
    local avail=$(( $(left) - 25 - later ))
    if [ "$is_last" = 1 ] || [ "$avail" -lt "$default" ]; then echo "$avail"; else echo "$default"; fi
}

stage_tests() {  # the CUDA tests
    local limit=$1 test_args
    if [ -n "${GPU_TESTS_ARGS:-}" ]; then
        read -r -a test_args <<<"$GPU_TESTS_ARGS"
    elif [ "$SMOKE" = 1 ]; then
        test_args=(tests/test_dispatch.py)
    else
        # test_kernels_dct runs every test on CUDA when present; jpeg/cfm parametrize by device (their
        # "cpu-..." cases run Triton in the interpreter, which a GPU machine does not use)
        test_args=(tests/test_kernels_dct.py tests/test_kernels_jpeg.py tests/test_kernels_cfm.py tests/test_dispatch.py
                   -k "cuda or test_kernels_dct or test_dispatch")
    fi
    run_stage tests "$limit" tests.log "$PY" -P -m pytest -q -p no:cacheprovider -rfEs --durations=15 \
        --junitxml="bench/results/tests-$GPU_SLUG.xml" "${test_args[@]}"
}

stage_train() {  # continue training `default` from its shipped weights on the carried pack (docs/gpu.md says why)
    local limit=$1 more=() run=$WORK/train-$GPU_SLUG pack=$CARRY/train-pack args
    local seconds=$(( limit - ${GPU_TRAIN_RESERVE_S:-50} ))
    if [ "$SMOKE" = 1 ]; then  # a pack of the bundled samples, tiny batches, on the CPU
        pack=$WORK/smoke-pack
        "$PY" -P tools/training_pack.py --data qgac_fast/samples --out "$pack" --crop 64 --max-mib 0.25 \
            --hold-out 0 --max-per-image 4 >>"$OUT/train.log" 2>&1 || { SUMMARY+=("train: FAILED (smoke pack)"); return 0; }
        args=(--crop 32 --batch-size 2 --workers 0 --val-images 2)
        seconds=3
    else
        args=(--crop 128 --batch-size 64 --workers 6 --val-images 16)
    fi
    if [ ! -f "$pack/pack.json" ]; then
        say "train: skipped (no $pack: run tools/prepare_gpu_carry.sh and carry .carry)"
        SUMMARY+=("train: skipped (no training pack)")
        return 0
    fi
    if [ "$seconds" -lt 30 ] && [ "$SMOKE" != 1 ]; then
        say "train: skipped (a ${limit}s limit leaves ${seconds}s of training)"
        SUMMARY+=("train: skipped (time)")
        return 0
    fi
    [ -n "${GPU_TRAIN_ARGS:-}" ] && read -r -a more <<<"$GPU_TRAIN_ARGS"
    # a warm restart of the shipped weights, as the CPU long run's pieces are (lr 2e-4, 100 warm-up
    # steps), with a weight average kept beside them; the final validation picks which comes back
    run_stage train "$limit" train.log "$PY" -P -m qgac_fast train --data "$pack" --out "$run" --stages joint \
        --init default --lr 2e-4 --warmup 100 --ema 0.999 --steps 1000000 --time-limit "$seconds" \
        --precision auto --weights-dtype bfloat16 --val-every 0 --quiet "${args[@]}" "${more[@]}"
    local best
    best=$("$PY" -P - "$run" <<'EOF' 2>>"$OUT/train.log"
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
last = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"validation"' in line][-1]
gains = {"weights.safetensors": last["validation"]["gain_db"]}
gains |= {f"weights-ema{float(d):g}.safetensors": r["gain_db"] for d, r in last.get("validation_ema", {}).items()}
print(max((g, name) for name, g in gains.items() if (run / name).is_file())[1])
EOF
)
    if [ -n "$best" ]; then  # in $OUT at once: later stages may run out of time
        cp "$run/$best" "$OUT/train-$GPU_SLUG.safetensors"
        say "train: returning $best (the better final validation)"
        grep '"validation"' "$run/log.jsonl" | tail -n 1 | sed 's/^/    train| /'
    fi
}

# bench_env: the benchmarks import the bench package from the repository root, which goes last on the
# path, so that qgac_fast still comes from $SITE (pytest's --import-mode=append keeps it last too)
bench_env() { echo "PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$ROOT"; }

# kernel_bench STAGE LIMIT RESULT FILES...: pytest-benchmark on FILES into bench/results/RESULT.json,
# then its report (RESULT.md)
kernel_bench() {
    local stage=$1 limit=$2 result=$3 extra=() rounds
    shift 3
    [ -n "${KERNEL_BENCH_ARGS:-}" ] && read -r -a extra <<<"$KERNEL_BENCH_ARGS"
    if [ "$SMOKE" = 1 ]; then rounds=(--benchmark-min-rounds=1 --benchmark-max-time=0.01); else
        rounds=(--benchmark-min-rounds=5 --benchmark-max-time=0.2); fi
    run_stage "$stage" "$limit" kernels.log env "$(bench_env)" "$PY" -P -m pytest --import-mode=append "$@" -q \
        -p no:cacheprovider --benchmark-only --benchmark-warmup=on "${rounds[@]}" \
        --benchmark-json="bench/results/$result.json" "${extra[@]}"
    if [ -s "bench/results/$result.json" ]; then
        env "$(bench_env)" "$PY" -P -m bench.report "bench/results/$result.json" >>"$OUT/kernels.log" 2>&1
    fi
}

stage_kernels() {  # kernel benchmarks: bench_jpeg and bench_cfm 2/3 of the time, bench_dct the rest
    local limit=$1 t0
    t0=$(date +%s)
    kernel_bench kernels-pytest $(( limit * 2 / 3 )) "kernels-$GPU_SLUG" bench/bench_jpeg.py bench/bench_cfm.py
    # the smoke run's shape is bench_dct's own; two ops are enough to check the code under the interpreter
    [ "$SMOKE" = 1 ] && local -x QGAC_BENCH_DCT_OPS="idct dequantize_idct_uint8"
    kernel_bench kernels-dct $(( limit - $(date +%s) + t0 )) "dct-$GPU_SLUG" bench/bench_dct.py
}

stage_e2e() {  # the end-to-end benchmark: it skips the rows it cannot finish within --budget-s
    local limit=$1 more=()
    local e2e_args=(--name "e2e-$GPU_SLUG" --budget-s $(( limit > 80 ? limit - 40 : limit / 2 )))
    [ "$SMOKE" = 1 ] && e2e_args+=(--configs default --sizes 32 --batches 1 2 --no-compile)
    [ -n "${E2E_ARGS:-}" ] && { read -r -a more <<<"$E2E_ARGS"; e2e_args+=("${more[@]}"); }
    run_stage e2e "$limit" e2e.log env "$(bench_env)" "$PY" -P -m bench.end_to_end "${e2e_args[@]}"
}

declare -A DEFAULT_LIMIT=([tests]=${GPU_TESTS_S:-75} [train]=${GPU_TRAIN_S:-270} [kernels]=${GPU_KERNELS_S:-60}
                          [e2e]=${GPU_E2E_S:-120})
declare -A MIN_LIMIT=([tests]=45 [train]=150 [kernels]=45 [e2e]=60)  # kept back for the stages still to come
for ((i = 0; i < ${#STAGES[@]}; i++)); do
    stage=${STAGES[$i]}
    later=0
    for ((j = i + 1; j < ${#STAGES[@]}; j++)); do later=$(( later + ${MIN_LIMIT[${STAGES[$j]}]} )); done
    "stage_$stage" "$(stage_limit "${DEFAULT_LIMIT[$stage]}" $(( i == ${#STAGES[@]} - 1 )) "$later")"
done

# ------------------------------------------------------------------ collect
say "summary:"
for line in "${SUMMARY[@]}"; do echo "    $line"; done
grep -h -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)" "$OUT/tests.log" 2>/dev/null | tail -n 15 | sed 's/^/    tests| /'
mapfile -t fresh < <(find bench/results -type f -newer "$STAMP" | sort)
# bench/results/... from the repository root, then train-<gpu>/log.jsonl from $WORK
[ -f "$WORK/train-$GPU_SLUG/log.jsonl" ] && fresh+=(-C "$WORK" "train-$GPU_SLUG/log.jsonl")
if [ ${#fresh[@]} -gt 0 ]; then
    tar czf "$OUT/results.tar.gz" "${fresh[@]}"
    say "results.tar.gz: $(tar tzf "$OUT/results.tar.gz" | tr '\n' ' ')"
fi
rm -rf "$STAMP" "$WORK"
say "done in $(elapsed)s; \$OUT holds:"
(cd "$OUT" && find . -type f -printf '%s %P\n' | sort -k2) | while read -r bytes name; do
    # session.log is still being written: it stays far under the limit
    note=""; [ "$bytes" -gt 16777216 ] && note=" (over the device tool's 16 MiB: it will not come back)"
    echo "    $name $(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }') MiB$note"
done
[ "$(find "$OUT" -type f | wc -l)" -le 8 ] || say "warning: \$OUT holds over 8 files: the device tool brings back 8"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null || sleep 0.5
exit 0
