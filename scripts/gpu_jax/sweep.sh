#!/usr/bin/env bash
# One device call: train several runs side by side on one GPU and carry back each run's
# best model at float16 (`half_weights.py pack`), one .npz per run, plus one log.
#
#   scripts/gpu_jax/sweep.sh SWEEP_FILE BUDGET_S [OUT]
#
# SWEEP_FILE: one run a line, "NAME train_jax.py-arguments..." ('#' lines skipped).
# Wheels the machine lacks (keras, segmentation-models and its encoders) travel in .whl/.
# BUDGET_S counts from the sweep's start (warm-up included): every run is stopped at the
# budget + 60 s; a run without a fixed --epochs fits its count into what is left after two
# timed epochs (recorded in its log).
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
# One compile for all: twelve runs compiling (and autotuning) at once on 16 cores reached no
# 5th epoch in 480 s (2026-12-04). A short warm-up run of each distinct training setup fills
# JAX's persistent cache first, and the runs load the compiled steps from it.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax_cache}
log="$out/sweep.log" t_sweep=$(date +%s)
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; } > "$log"
warm=${WARMUP_S:-240}  # WARMUP_S=0: no warm-up
if [ "$warm" -gt 0 ]; then
  declare -A setups=()
  while read -r name args; do
    case "$name" in ''|'#'*) continue ;; esac
    # The compiled step depends on the loss terms and the backbone, not on the fold or seed.
    key=setup:$(echo " $args " | grep -o -- '--\(boundary-weight\|hc-weight\|backbone\|batch-size\) [^ ]*' | sort | tr '\n' ' ')
    [ -n "${setups[$key]+x}" ] || setups[$key]="$args"
  done < "$sweep"
  t0=$(date +%s) i=0
  for key in "${!setups[@]}"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    timeout -k 10 "$warm" python3 -m hc_tf.train.jax_backend.train_jax --run-dir "$runs/_warmup$i" \
        ${setups[$key]} --epochs 1 --limit 48 --val-every 1 > "$runs/_warmup$i.log" 2>&1 &
  done
  wait
  echo "warm-up: ${#setups[@]} setup(s) compiled in $(( $(date +%s) - t0 )) s, $(ls "$JAX_COMPILATION_CACHE_DIR" 2>/dev/null | wc -l) cache entries" >> "$log"
  for ((k = 1; k <= i; k++)); do grep -v "cuda_timer" "$runs/_warmup$k.log" | tail -n 4 >> "$log"; done
fi
left=$(( budget - ($(date +%s) - t_sweep) ))  # the budget counts from the sweep's start
[ "$left" -ge 30 ] || left=30  # a warm-up past the budget: still a bounded run (timeout 0 never stops)
names=()
while read -r name args; do
  case "$name" in ''|'#'*) continue ;; esac
  names+=("$name")
  mkdir -p "$runs/$name"
  # shellcheck disable=SC2086
  # A run past its budget is stopped (SIGINT, SIGKILL 30 s later: a SIGINT can leave a JAX
  # run going): its latest saved model is still packed.
  timeout -k 30 -s INT $((left + 60)) python3 -m hc_tf.train.jax_backend.train_jax --run-dir "$runs/$name" --time-budget-s "$left" \
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
  # Keras's line per epoch ("44/44 - 3s - ...") is the progress: kept; the autotuner's not.
  { echo "== $name"; grep -v "cuda_timer\|^Epoch " "$runs/$name/stdout.log" | tail -n 80
    grep -v "^Segmentation Models" "$runs/$name/pack.log"; } >> "$log"
done
nvidia-smi --query-gpu=memory.used --format=csv,noheader >> "$log" 2>/dev/null
ls -la "$out" >> "$log"
