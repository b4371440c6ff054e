#!/usr/bin/env bash
# One device call: train several runs side by side on one GPU and carry back each run's
# best model at float16 (`half_weights.py pack`), one .npz per run, plus one log.
#
#   scripts/gpu_jax/sweep.sh SWEEP_FILE BUDGET_S [OUT]
#
# SWEEP_FILE: one run a line, "NAME train_jax.py-arguments..." ('#' lines skipped); at most
# MAX_RUNS (6) runs unless FORCE=1 (twelve at once reached no 5th epoch in 480 s, 2026-12-04).
# Wheels the machine lacks (keras, segmentation-models and its encoders) travel in .whl/.
# BUDGET_S counts from the sweep's start (wheels and warm-up included): every run is stopped at
# the budget + STOP_S (SIGINT), killed KILL_S later, and packed as soon as it exits (the pack
# capped at PACK_S), its .npz put in OUT at once: a call killed at its timeout still returns
# the runs that had finished. The sweep ends by BUDGET_S + STOP_S + KILL_S + PACK_S + a few
# seconds: cv5_device.sh's MARGIN_S (140) is what a call's timeout_s must exceed BUDGET_S by.
# A run without a fixed --epochs fits its count into what is left after two timed epochs.
set -uo pipefail
cd "$(dirname "$0")/../.."
STOP_S=60 KILL_S=30 PACK_S=40  # cv5_device.sh: MARGIN_S = STOP_S + KILL_S + PACK_S + 10
t_sweep=$(date +%s)
sweep=${1:?usage: sweep.sh SWEEP_FILE BUDGET_S [OUT]}
budget=${2:?usage: sweep.sh SWEEP_FILE BUDGET_S [OUT]}
out=${3:-${OUT:-/tmp/sweep_out}}
runs=${RUNS_DIR:-/tmp/runs}
names=()
while read -r name _; do
  case "$name" in ''|'#'*) continue ;; esac
  names+=("$name")
done < "$sweep"
max_runs=${MAX_RUNS:-6}
if [ "${#names[@]}" -gt "$max_runs" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "$sweep holds ${#names[@]} runs, over $max_runs at once (12 at once reached no 5th epoch in 480 s," \
       "2026-12-04): pick a prefix (cv5_device.sh SWEEP PREFIX) or set FORCE=1"
  exit 2
fi
mkdir -p "$out" "$runs/_rest"
rmdir "$runs/.lock" 2>/dev/null  # a lock left by a sweep killed on this (warm) machine
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
log="$out/sweep.log"
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; } > "$log"
# The warm-up leaves the runs at least 50 s of the budget (the deadline above holds).
warm=${WARMUP_S:-240}  # WARMUP_S=0: no warm-up
[ "$warm" -le $((budget - 60)) ] || warm=$((budget - 60))
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
    rm -rf "$runs/_warmup$i"  # a warm machine's earlier warm-up would resume, not compile
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
echo "runs: ${#names[@]}, each stopped $((left + STOP_S)) s from now (budget $budget s from the sweep's start)" >> "$log"

# One call returns at most 8 files, 64 MiB together (16 MiB each): sweep.log and up to 7 packs
# under RETURN_MIB (default 60: five Lite0 folds, 62.1 MB, come back in one call); the others
# wait in $runs/_rest on the warm machine for scripts/gpu_jax/return_rest.sh, sent at once.
limit=$(( ${RETURN_MIB:-60} << 20 ))
lock() { until mkdir "$runs/.lock" 2>/dev/null; do sleep 0.2; done; }
unlock() { rmdir "$runs/.lock"; }

summary() {  # NAME RC: the run's lines for sweep.log
  local dir=$runs/$1
  case "$2" in
    0) echo "== $1" ;;
    124) echo "== $1 (stopped at the budget: SIGINT)" ;;
    137) echo "== $1 (killed: SIGKILL ${KILL_S} s after the SIGINT)" ;;
    *) echo "== $1 (exit $2)" ;;
  esac
  # The validated epochs and the end first (a stopped run's tail is its KeyboardInterrupt).
  grep -E '^ *epoch [0-9]+:|^done:|epochs in the budget' "$dir/stdout.log" | tail -n 12
  grep '^Epoch ' "$dir/stdout.log" | tail -n 1 | sed 's/^/last started: /'
  # Keras's line per epoch ("44/44 - 3s - ...") is the progress: kept; the autotuner's not.
  grep -v "cuda_timer\|^Epoch " "$dir/stdout.log" | tail -n 80
  grep -v "^Segmentation Models" "$dir/pack.log"
  [ ! -f "$dir/best.keras" ] || [ -f "$dir/best.json" ] ||
      echo "no best.json: killed while saving, the packed model's epoch is unknown"
}

finish() {  # NAME RC: pack the run that just exited, hand the pack to OUT (or _rest), log it
  local name=$1 dir=$runs/$1 size sent=0 count=0 f cap
  # A run that ends early packs unhurried; one stopped at the budget has PACK_S left.
  cap=$(( t_sweep + budget + STOP_S + KILL_S + PACK_S - $(date +%s) ))
  [ "$cap" -ge "$PACK_S" ] || cap=$PACK_S
  timeout -k 5 "$cap" python3 -m hc_tf.train.jax_backend.half_weights pack "$dir" "$dir/pack.npz" \
      > "$dir/pack.log" 2>&1 || { echo "no model to pack" >> "$dir/pack.log"; rm -f "$dir/pack.npz"; }
  lock
  if [ -f "$dir/pack.npz" ]; then
    size=$(stat -c %s "$dir/pack.npz")
    for f in "$out"/*.npz; do
      [ -f "$f" ] || continue
      sent=$((sent + $(stat -c %s "$f"))) count=$((count + 1))
    done
    if [ $((sent + size)) -gt "$limit" ] || [ "$count" -ge 7 ]; then
      mv "$dir/pack.npz" "$runs/_rest/$name.npz"
      echo "held back $name.npz (over ${RETURN_MIB:-60} MiB or 7 files this call): send scripts/gpu_jax/return_rest.sh next" >> "$log"
    else  # OUT may be another file system: copied under a temporary name, then renamed
      cp "$dir/pack.npz" "$out/$name.npz.tmp" && mv "$out/$name.npz.tmp" "$out/$name.npz"
    fi
  fi
  summary "$name" "$2" >> "$log"
  unlock
}

while read -r name args; do
  case "$name" in ''|'#'*) continue ;; esac
  # A run folder of an earlier call on this warm machine: its best.keras would be packed as
  # this run's if this one died before its first validation.
  rm -rf "${runs:?}/$name" "$runs/_rest/$name.npz"
  mkdir -p "$runs/$name"
  # A run past its budget is stopped (SIGINT, SIGKILL KILL_S later: a SIGINT can leave a JAX
  # run going): its latest saved model is still packed.
  (
    # shellcheck disable=SC2086
    timeout -k "$KILL_S" -s INT $((left + STOP_S)) python3 -m hc_tf.train.jax_backend.train_jax \
        --run-dir "$runs/$name" --time-budget-s "$left" $args > "$runs/$name/stdout.log" 2>&1
    finish "$name" $?
  ) &
done < "$sweep"
wait
echo "sweep: $(( $(date +%s) - t_sweep )) s" >> "$log"
nvidia-smi --query-gpu=memory.used --format=csv,noheader >> "$log" 2>/dev/null
ls -la "$out" >> "$log"
