#!/usr/bin/env bash
# The cross-validation recipe on a CPU, one fold at a time, across sessions: every line of the
# queue file (LEVER FOLD [OPTION...]) trains fold FOLD with `hc-tf train --folds 5` plus OPTIONs
# into RUNS/fold{FOLD}_{LEVER}, then evaluates it into RUNS/table_{LEVER}
# (`hc_tf.train.cross_validate --only FOLD`), and, for a lever, compares it image by image with
# the plain recipe's same fold (`cv_report --baseline RUNS/table_e50`). The held-out images are
# measured every 5th epoch and at the last (`--val-every 5`: nothing is chosen by them, and each
# measurement costs ~15% of a CPU epoch). FOLD `all` trains the
# release's last step instead (`--train-on-all`: train + validation, the fixed 50 epochs, the
# last kept) into RUNS/all_{LEVER}; nothing is held out, so nothing is evaluated. Resumable: run it again
# after a kill or in the next session; a finished line costs seconds (training leaves a finished
# run as it is, cross_validate keeps what it made).
#
#   scripts/cpu_cv/run_queue.sh [QUEUE_FILE]      # default: scripts/cpu_cv/queue.txt
#
# Environment: RUNS (~/hc-runs/cv), DATA_DIR (~/hc-runs/tfds, from `hc-tf prepare`), ENCODER
# (~/hc-runs/lite0_imagenet.npz, hc_tf/modeling/lite_pytorch_weights.py), ENCODERS
# (~/hc-runs/encoders: a line with `--backbone efficientnetliteN`, the full tier, starts from
# ENCODERS/liteN_imagenet.npz), PYTHON (python3 of the venv with the [train] extra), NICE (19:
# the machine stays usable).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
queue=${1:-$here/queue.txt}
runs=${RUNS:-$HOME/hc-runs/cv}
data_dir=${DATA_DIR:-$HOME/hc-runs/tfds}
encoder=${ENCODER:-$HOME/hc-runs/lite0_imagenet.npz}
encoders=${ENCODERS:-$HOME/hc-runs/encoders}
python=${PYTHON:-python3}
nice_level=${NICE:-19}
baseline=e50   # the plain recipe's name: ImageNet Lite0, 224x320, batch 16, 50-epoch cosine

[ -f "$queue" ] || { echo "error: $queue: no such queue file" >&2; exit 2; }
for need in "$data_dir" "$encoder"; do
    [ -e "$need" ] || { echo "error: $need: missing (see docs/reproducing.md, section 6)" >&2; exit 2; }
done
cd "$here/../.."
export CUDA_VISIBLE_DEVICES= TF_CPP_MIN_LOG_LEVEL=2

n=0
while read -r lever fold options || [ -n "$lever" ]; do  # (a last line without a newline too)
    n=$((n + 1))
    case "$lever" in ""|"#"*) continue ;; esac
    if ! [[ "$lever" =~ ^[A-Za-z0-9_]+$ && "$fold" =~ ^([0-4]|all)$ ]]; then
        echo "error: $queue line $n: want LEVER FOLD [OPTION...] (LEVER letters, digits, _; FOLD 0-4 or all)" >&2
        exit 2
    fi
    if [ "$lever" = "$baseline" ] && [ -n "$options" ]; then
        echo "error: $queue line $n: $baseline is the plain recipe; give a lever its own name" >&2
        exit 2
    fi
    line_encoder=$encoder
    if [[ " $options " =~ \ --backbone\ efficientnetlite([1-9])\  ]]; then
        line_encoder="$encoders/lite${BASH_REMATCH[1]}_imagenet.npz"
        [ -e "$line_encoder" ] || {
            echo "error: $queue line $n: $line_encoder: missing (docs/reproducing.md, the full tier)" >&2; exit 2; }
    fi
    if [ "$fold" = all ]; then
        run="$runs/all_${lever}"
        echo "== $(date -u +%H:%M) line $n: all data, $lever ${options:-(plain recipe)} -> $run"
        # shellcheck disable=SC2086
        nice -n "$nice_level" "$python" -m hc_tf.cli train --data-dir "$data_dir" --run-dir "$run" \
            --encoder-weights "$line_encoder" --epochs 50 --batch-size 16 --val-every 5 --train-on-all $options </dev/null
        continue
    fi
    run="$runs/fold${fold}_${lever}"
    echo "== $(date -u +%H:%M) line $n: fold $fold, $lever ${options:-(plain recipe)} -> $run"
    # shellcheck disable=SC2086  # OPTIONS are words by design
    nice -n "$nice_level" "$python" -m hc_tf.cli train --data-dir "$data_dir" --run-dir "$run" \
        --encoder-weights "$line_encoder" --epochs 50 --batch-size 16 --val-every 5 --folds 5 --fold "$fold" \
        $options </dev/null
    nice -n "$nice_level" "$python" -m hc_tf.train.cross_validate \
        --source "$runs/fold{fold}_${lever}/best.keras" --only "$fold" --data-dir "$data_dir" \
        --work "$runs/table_${lever}" </dev/null
    if [ "$lever" != "$baseline" ] && [ -d "$runs/table_${baseline}/fold${fold}" ]; then
        "$python" -m hc_tf.surfaces.cv_report "$runs/table_${lever}" --baseline "$runs/table_${baseline}" </dev/null
    fi
done < "$queue"
echo "== queue done: $queue"
