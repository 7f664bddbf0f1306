#!/usr/bin/env bash
# GPU check in one command, for a short GPU allocation (under 8 minutes including install):
#   1. a venv with gpudecode[gpu,test] installed the README way; says what it found
#      (nvidia-smi, CuPy's device, numba.cuda, cuML) and stops if CUDA is not usable;
#   2. every numba.cuda twin against its CPU kernel on the GPU (after compiling the CPU kernels)
#      (GPUDECODE_REAL_CUDA=1 pytest -m cudasim tests: every test marked cudasim);
#   3. fits/s on the real-session shape (49 cells, 120 trials, 53 window features,
#      20 shuffles x (test + 5 folds), linear-svm/logistic/tree, 100 permutations), GPU and CPU;
#   4. the demo, whole process, GPU and CPU.
# Steps run in that order (most valuable first), each under `timeout`, within one time budget;
# everything goes to one folder ($OUT, else ./gpu-check-<UTC time>) with summary.md, a section
# ready to paste into bench/RESULTS.md. See bench/README.md.
#
# Usage: bench/gpu_check.sh [--cpu] [--python PY] [--venv DIR] [--extras LIST] [--budget S]
#                           [--steps LIST] [--tests PATHS] [--quick] [--offline]
set -uo pipefail
# One block, so bash reads the whole script before running it (an edit or a pull during a run
# cannot change what runs).
{

usage() {
    cat <<'EOF'
usage: bench/gpu_check.sh [options]
  --cpu           CPU mode (also GPUDECODE_GPU_CHECK_CPU=1): no GPU needed; the twin tests run
                  in numba's CUDA simulator, the 'gpu' legs on the CPU, at tiny sizes (--quick);
                  checks the script itself, measures nothing
  --python PY     use this Python (gpudecode and pytest installed) instead of creating a venv
  --offline       no package index (a GPU machine that reaches nothing): install this checkout
                  into --python PY (default python3) with --no-deps --no-index; the
                  dependencies (numpy, numba, numba-cuda, CuPy, scikit-learn, h5py, typer, rich,
                  matplotlib, pytest) must already be there
  --venv DIR      where to create the venv (default ~/.cache/gpudecode/gpu-check-venv; reused)
  --extras LIST   extras to install (default gpu,test; CPU mode: test)
  --budget S      time budget for the whole run in seconds (default 465)
  --steps LIST    steps to run, comma-separated (default: install,probe,compile,tests,fits,demo)
  --tests PATHS   test files or ids for the tests step (default: tests, i.e. every cudasim test)
  --quick         tiny sizes for the fits and demo steps (default in CPU mode)
Output folder: $OUT if set, else ./gpu-check-<UTC date-time>.
Exit status: 0 every step ran, 1 a step failed or timed out, 2 usage,
             3 CUDA not usable (GPU mode), 4 nothing could be installed or imported.
EOF
}

# ------------------------------------------------------------------------------- options
MODE=gpu
[ "${GPUDECODE_GPU_CHECK_CPU:-}" = 1 ] && MODE=cpu
PY=""
VENV="${HOME:-/tmp}/.cache/gpudecode/gpu-check-venv"
EXTRAS=""
BUDGET_S=465
STEPS="install,probe,compile,tests,fits,demo"
TEST_PATHS=""
QUICK=0
OFFLINE=0
ARGS=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) MODE=cpu ;;
        --python) PY="${2:?--python needs a path}"; shift ;;
        --venv) VENV="${2:?--venv needs a folder}"; shift ;;
        --extras) EXTRAS="${2:?--extras needs a list}"; shift ;;
        --budget) BUDGET_S="${2:?--budget needs seconds}"; shift ;;
        --steps) STEPS="${2:?--steps needs a list}"; shift ;;
        --tests) TEST_PATHS="${2:?--tests needs paths}"; shift ;;
        --quick) QUICK=1 ;;
        --offline) OFFLINE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$BUDGET_S" in ''|*[!0-9]*) echo "gpu_check: --budget must be whole seconds, got $BUDGET_S" >&2; exit 2 ;; esac
[ "$MODE" = cpu ] && QUICK=1
[ -z "$EXTRAS" ] && { [ "$MODE" = cpu ] && EXTRAS="test" || EXTRAS="gpu,test"; }

INVOKED_FROM="$PWD"
OUT_DIR="${OUT:-$INVOKED_FROM/gpu-check-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT_DIR" || { echo "gpu_check: cannot create $OUT_DIR" >&2; exit 2; }
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
if [ -n "$PY" ]; then
    case "$PY" in /*) ;; */*) PY="$INVOKED_FROM/$PY" ;; *) PY="$(command -v "$PY" || echo "$PY")" ;; esac
fi
cd "$(dirname "$0")/.." || exit 2
REPO="$PWD"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

START_S=$SECONDS
DEADLINE_S=$((START_S + BUDGET_S))
RESERVE_S=10     # kept back for the summary
MIN_STEP_S=15    # a step with less time left than this is skipped
FAILED=0
: >"$OUT_DIR/steps.tsv"

say() { printf 'gpu_check: %s\n' "$*"; }
want() { case ",$STEPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$OUT_DIR/meta.tsv"; }
now() { local t="${EPOCHREALTIME:-$(date +%s.%N)}"; printf '%s' "${t/,/.}"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT_DIR/steps.tsv"; }

# run_step NAME CAP_S CMD...: run CMD under timeout (CAP_S, GPU_CHECK_CAP_<NAME>, or the time
# left), its output in OUT/NAME.log; records the status and whole-process seconds. Sets RC.
run_step() {
    local name=$1 cap=$2; shift 2
    local var="GPU_CHECK_CAP_${name//-/_}"
    var="${var^^}"
    case "${!var:-}" in ''|*[!0-9]*) ;; *) cap="${!var}" ;; esac
    local left=$((DEADLINE_S - SECONDS - RESERVE_S))
    if [ "$left" -lt "$MIN_STEP_S" ]; then
        record "$name" "skipped: out of time (budget ${BUDGET_S} s)" "" ""
        say "[$name] skipped: out of time (budget ${BUDGET_S} s)"
        RC=124
        FAILED=1
        return
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    say "[$name] up to ${cap} s: $*"
    local t0 t1 seconds status
    t0=$(now)
    RC=0
    timeout -k 10 "$cap" "$@" >"$OUT_DIR/$name.log" 2>&1 || RC=$?
    t1=$(now)
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    case "$RC" in
        0) status="ok" ;;
        124|137) status="timed out after ${cap} s"; FAILED=1 ;;
        *) status="failed (exit $RC)"; FAILED=1 ;;
    esac
    record "$name" "$status" "$seconds" "$cap"
    say "[$name] $status in ${seconds} s"
    if [ "$RC" -ne 0 ]; then
        tail -n 15 "$OUT_DIR/$name.log" | sed 's/^/    /'
    fi
}

finish() {
    meta finished_utc "$(date -u +'%Y-%m-%d %H:%M:%S UTC')"
    local sum_py="${PY:-python3}"
    [ -x "$sum_py" ] || sum_py=python3
    if timeout 60 "$sum_py" bench/gpu_check.py summary "$OUT_DIR" >"$OUT_DIR/summary.log" 2>&1 \
            || timeout 60 python3 bench/gpu_check.py summary "$OUT_DIR" >>"$OUT_DIR/summary.log" 2>&1; then
        say "summary: $OUT_DIR/summary.md ($((SECONDS - START_S)) s in all)"
    else
        say "could not write the summary (see $OUT_DIR/summary.log)"
    fi
    exit "$1"
}

: >"$OUT_DIR/meta.tsv"
meta started_utc "$(date -u +'%Y-%m-%d %H:%M:%S UTC')"
meta mode "$MODE"
meta budget_s "$BUDGET_S"
meta steps "$STEPS"
meta command "bench/gpu_check.sh${ARGS[*]:+ ${ARGS[*]}}"
meta commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
say "mode $MODE, budget ${BUDGET_S} s, output in $OUT_DIR"

# --------------------------------------------------------------------- 1. install, probe
if [ "$OFFLINE" = 1 ] && want install; then
    PY="${PY:-$(command -v python3)}"
    # No index: this checkout only, against the packages the environment already has.
    run_step install 120 "$PY" -m pip install --progress-bar off --no-deps --no-index \
        --no-build-isolation .
elif [ -n "$PY" ] && want install; then
    say "[install] skipped: using $PY (--python)"
elif want install; then
    base="${PYTHON3:-python3}"
    if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        say "gpudecode needs Python >= 3.11; $base is $("$base" -V 2>&1) (set PYTHON3=/path/to/python3.11+)"
        record install "failed: no Python >= 3.11" "" ""
        finish 4
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        run_step venv 60 "$base" -m venv "$VENV"
    else
        say "[venv] reusing $VENV"
    fi
    PY="$VENV/bin/python"
    # The README way: pip install ".[gpu,test]" in a fresh venv.
    run_step install 270 "$PY" -m pip install --progress-bar off ".[$EXTRAS]"
    if [ "$RC" -ne 0 ] && ! timeout 60 "$PY" -m pip index versions setuptools \
            >"$OUT_DIR/index-check.log" 2>&1; then
        say "no package index reachable from this machine (pip index versions setuptools: $(grep -m 1 -i 'error' "$OUT_DIR/index-check.log" | cut -c1-160)); install gpudecode[$EXTRAS] by hand, or rerun with --python PATH of an environment that has it"
    elif [ "$RC" -ne 0 ]; then
        say "pip could not install .[$EXTRAS]: $(grep -E '^ERROR' "$OUT_DIR/install.log" | tail -n 1 | cut -c1-200)"
        if case ",$EXTRAS," in *,gpu,*) true ;; *) false ;; esac; then
            # cuML publishes wheels for fewer Pythons and platforms than CuPy and numba-cuda: try
            # the gpu extra without it (gpudecode uses cuML only where installed).
            mapfile -t no_cuml < <("$PY" -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"]; print("\n".join(d for d in deps if not d.startswith("cuml")))')
            extras_rest="$(printf '%s' ",$EXTRAS," | sed 's/,gpu,/,/g; s/^,//; s/,$//')"
            say "installing without cuML: .${extras_rest:+[$extras_rest]} ${no_cuml[*]}"
            run_step install-without-cuml 240 "$PY" -m pip install --progress-bar off \
                ".${extras_rest:+[$extras_rest]}" "${no_cuml[@]}"
        fi
    fi
fi
[ -z "$PY" ] && PY="$(command -v python3)"
# -P: the installed gpudecode, not the source tree in the working directory (Python >= 3.11)
if ! "$PY" -P -c 'import gpudecode' >/dev/null 2>&1; then
    say "gpudecode does not import with $PY: nothing to run (see $OUT_DIR/install.log)"
    finish 4
fi
GD=("$PY" -P -c 'import sys; from gpudecode.cli import main; sys.argv[0] = "gpudecode"; main()')
[ -x "$(dirname "$PY")/gpudecode" ] && GD=("$(dirname "$PY")/gpudecode")

if want probe; then
    run_step probe 90 "$PY" bench/gpu_check.py probe "$OUT_DIR"
    sed 's/^/    /' "$OUT_DIR/probe.log"
    if [ -f "$OUT_DIR/cuda_problem.txt" ] && [ "$MODE" = gpu ]; then
        say "CUDA not usable here: $(cat "$OUT_DIR/cuda_problem.txt"); stopping (--cpu checks the script without a GPU)"
        finish 3
    fi
fi

# ------------- the CPU kernels compiled once for this machine (in parallel), before the tests
# use them as the twins' reference
if want compile; then
    run_step compile 120 "$PY" -P -c 'from gpudecode.backend import Backend; print(Backend.from_device("cpu", verbose=True).reason)'
fi

# ---------------------------------------------------------- 2. twin tests on the device
if want tests; then
    if [ -n "$TEST_PATHS" ]; then
        read -r -a tests <<<"$TEST_PATHS"
    else
        tests=(tests)  # every test marked cudasim, wherever it is
    fi
    if [ "$MODE" = cpu ]; then
        cuda_var=NUMBA_ENABLE_CUDASIM
        cuda_env=(env -u GPUDECODE_REAL_CUDA NUMBA_ENABLE_CUDASIM=1)
    else
        cuda_var=GPUDECODE_REAL_CUDA
        cuda_env=(env -u NUMBA_ENABLE_CUDASIM GPUDECODE_REAL_CUDA=1)
    fi
    meta tests_command "$cuda_var=1 pytest -m cudasim ${tests[*]}"
    run_step tests 200 "${cuda_env[@]}" "$PY" -P -m pytest -q -m cudasim -rfEs \
        --junitxml="$OUT_DIR/tests.xml" "${tests[@]}"
fi

# ------------------------------------------------- 3. fits/s on the real-session shape
if [ "$QUICK" = 1 ]; then
    fits_args=(--cells 2 --trials 36 --frames 8 --window 4 --shuffles 2 --folds 2 --permutations 2)
    demo_args=(--permutations 10 --shuffles 2)
else
    fits_args=(--cells 49 --trials 120 --frames 56 --window 4 --shuffles 20 --folds 5 --permutations 100)
    demo_args=()
fi
fits_args+=(--classifier "linear-svm,logistic,tree" --baseline-cells 1)
if [ "$MODE" = cpu ]; then gpu_device=cpu; else gpu_device=gpu; fi
if want fits; then
    meta fits_command "gpudecode bench single-cell ${fits_args[*]}"
    run_step fits-gpu 150 "${GD[@]}" bench single-cell "${fits_args[@]}" --device "$gpu_device" --json "$OUT_DIR/fits-gpu.json"
    run_step fits-cpu 150 "${GD[@]}" bench single-cell "${fits_args[@]}" --device cpu --json "$OUT_DIR/fits-cpu.json"
fi

# ------------------------------------------------------------ 4. the demo, GPU and CPU
if want demo; then
    meta demo_command "gpudecode demo${demo_args[*]:+ ${demo_args[*]}}"
    run_step demo-gpu 180 "${GD[@]}" demo "${demo_args[@]}" --device "$gpu_device" --out "$WORK/demo-gpu"
    run_step demo-cpu 240 "${GD[@]}" demo "${demo_args[@]}" --device cpu --out "$WORK/demo-cpu"
fi

finish "$FAILED"
}
