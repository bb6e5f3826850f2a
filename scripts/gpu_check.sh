#!/usr/bin/env bash
# The GPU path checked on one NVIDIA GPU in a fixed budget (issue 40). Run from the repository root:
#
#   bash scripts/gpu_check.sh                 # on the GPU machine; results under $OUT (default ./gpu_check_out)
#   TINY=1 BUDGET_S=300 VENV=.venv SKIP_INSTALL=1 bash scripts/gpu_check.sh   # a CPU rehearsal, cpu-tiny sized
#
# Steps: install the package (offline: its dependencies must be on the machine, or wheels in $WHEELS), run the
# tests marked `cuda`, measure training throughput of the `paper` and `colab-t4` presets under the precision
# the trainer picks, time both depthwise kernels, then train `colab-t4` for the minutes left and write the
# checkpoint, its validation curve and a log under $OUT.
# Data: DATA=DIR|DIR.tar (a wsj0-2mix-layout set brought along, e.g. data/mixed from `make natural-data`:
# espeak voices and people), or NATURAL_CACHE=DIR (people's recordings from `tasnet-edu fetch-speech`, mixed
# here), else espeak voices only, made on this machine's CPU cores (it says so: no network for Debian's).
set -uo pipefail

BUDGET_S=${BUDGET_S:-540}          # 9 minutes in all
OUT=${OUT:-$PWD/gpu_check_out}
TINY=${TINY:-0}
export TINY
mkdir -p "$OUT"
START=$(date +%s)
LOG="$OUT/gpu_check.log"
log() { echo "[gpu_check +$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }
step() {  # step NAME SECONDS COMMAND…: run with a time limit, log its output, never stop the script
    local name=$1 limit=$2; shift 2
    log "$name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -n 40
    local rc=${PIPESTATUS[0]}
    log "$name: exit $rc"
    return "$rc"
}

# ---- 1. install -----------------------------------------------------------------------------------------
PY=${PYTHON:-python3}
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)
log "python: $($PY --version 2>&1); GPU: ${GPU:-none (no nvidia-smi)}"
VENV=${VENV:-/tmp/gpu_check_venv}
if [ ! -x "$VENV/bin/python" ]; then
    # the machine's own torch (with CUDA) is kept: the venv sees the system's packages
    $PY -m venv --system-site-packages "$VENV" >>"$LOG" 2>&1 || log "could not make a venv; using $PY"
fi
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"
if [ -n "${WHEELS:-}" ]; then
    step "install wheels brought along" 300 $PY -m pip install -q --no-index --find-links "$WHEELS" \
        "$WHEELS"/*.whl || true
fi
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
    log "SKIP_INSTALL=1: using $PY as it is"
elif ! step "install the package" 120 $PY -m pip install -q --no-deps --no-build-isolation -e .; then
    log "pip install failed: using the checkout on PYTHONPATH"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
MISSING=$($PY - <<'EOF'
import importlib.util
need = ["torch", "numpy", "scipy", "soundfile", "tqdm", "espeakng_loader", "pytest", "librosa", "matplotlib"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
[ -n "$MISSING" ] && log "MISSING on this machine (bring wheels in WHEELS=DIR): $MISSING"
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.is_available())" \
    2>&1 | tee -a "$LOG"

# ---- 2. the tests marked cuda (skipped without a GPU) ------------------------------------------------------
step "pytest -m cuda" $(( $(left) < 240 ? $(left) : 240 )) $PY -m pytest -q -m cuda tests/test_gpu_path.py -rs

# ---- 3. throughput and the depthwise kernels ---------------------------------------------------------------
PRESETS="paper colab-t4"; TRAIN_PRESET=colab-t4
[ "$TINY" = 1 ] && { PRESETS="cpu-tiny"; TRAIN_PRESET=cpu-tiny; }
step "throughput" $(( $(left) < 150 ? $(left) : 150 )) $PY scripts/gpu_check.py throughput "$OUT" $PRESETS
step "depthwise kernels" $(( $(left) < 60 ? $(left) : 60 )) $PY scripts/gpu_check.py kernels "$OUT"

# ---- 4. train colab-t4 for the rest of the budget (data included) --------------------------------------------
TRAIN_S=$(( $(left) - 30 ))          # 30 s for writing the results and leaving
if [ "$TRAIN_S" -gt 30 ]; then
    step "train $TRAIN_PRESET" $(( TRAIN_S + 20 )) \
        $PY scripts/gpu_check.py train "$OUT" "$TRAIN_PRESET" "$TRAIN_S"
else
    log "no time left to train ($TRAIN_S s)"
fi
log "done; results in $OUT:"
ls -la "$OUT" "$OUT"/run-* 2>/dev/null | tee -a "$LOG"
