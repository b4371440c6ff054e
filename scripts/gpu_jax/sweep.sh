#!/usr/bin/env bash
# One device call: train several runs side by side on one GPU and carry back each run's
# best model at float16 (`half_weights.py pack`), one .npz per run, plus one log.
#
#   scripts/gpu_jax/sweep.sh SWEEP_FILE BUDGET_S [OUT]
#
# SWEEP_FILE: one run a line, "NAME train_jax.py-arguments..." ('#' lines skipped).
# Wheels the machine lacks (keras, segmentation-models and its encoders) travel in .whl/.
# Every run gets the same time budget; its epoch count follows from two timed epochs
# and is recorded in its log.
set -uo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:?usage: sweep.sh SWEEP_FILE BUDGET_S [OUT]}
budget=${2:?usage: sweep.sh SWEEP_FILE BUDGET_S [OUT]}
out=${3:-${OUT:-/tmp/sweep_out}}
runs=${RUNS_DIR:-/tmp/runs}
mkdir -p "$out" "$runs"
wheels=${WHEELS:-.whl}  # WHEELS=none: the packages are installed already
if [ -d "$wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$wheels"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several processes share the GPU
log="$out/sweep.log"
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; } > "$log"
names=()
while read -r name args; do
  case "$name" in ''|'#'*) continue ;; esac
  names+=("$name")
  mkdir -p "$runs/$name"
  # shellcheck disable=SC2086
  # A run past its budget is stopped: its best model so far is still packed.
  timeout -s INT $((budget + 60)) python3 -m hc_tf.train.jax_backend.train_jax --run-dir "$runs/$name" --time-budget-s "$budget" \
      $args > "$runs/$name/stdout.log" 2>&1 &
done < "$sweep"
wait
for name in "${names[@]}"; do
  python3 -m hc_tf.train.jax_backend.half_weights pack "$runs/$name" "$out/$name.npz" \
      > "$runs/$name/pack.log" 2>&1 || echo "no model to pack" >> "$runs/$name/pack.log" &
done
wait
# A call returns at most 64 MB: packed runs past RETURN_MIB (default 58) wait in $runs/_rest
# on the warm machine, and the next call, scripts/gpu_jax/return_rest.sh, brings them back.
limit=$(( ${RETURN_MIB:-58} << 20 )) sent=0
mkdir -p "$runs/_rest"
for name in "${names[@]}"; do
  [ -f "$out/$name.npz" ] || continue
  size=$(stat -c %s "$out/$name.npz")
  if [ $((sent + size)) -gt "$limit" ]; then
    mv "$out/$name.npz" "$runs/_rest/"
    echo "held back $name.npz (over ${RETURN_MIB:-58} MiB this call): send scripts/gpu_jax/return_rest.sh next" >> "$log"
  else
    sent=$((sent + size))
  fi
done
for name in "${names[@]}"; do
  { echo "== $name"; grep -v "^Epoch\|step -" "$runs/$name/stdout.log" | tail -n 60
    grep -v "^Segmentation Models" "$runs/$name/pack.log"; } >> "$log"
done
nvidia-smi --query-gpu=memory.used --format=csv,noheader >> "$log" 2>/dev/null
ls -la "$out" >> "$log"
