#!/usr/bin/env bash
# The sweep that chose the default workload (docs/results.md): each candidate with 3 training seeds
# through DVC's experiment queue, selected on the full validation split (1,200 rows), then
# `sentibench aggregate` per candidate. The first candidates are relative to params.yaml as it was before
# the bucketed default (random batches, pretraining on; the pretraining ones ran with seed 42 only); the
# b-* and c-* ones are relative to the bucketed default (its params.yaml as committed; c-*: the compact
# vocabulary, and pretraining with it); the d-* ones are relative to the portable default of 2026-12-01, all three
# with native kernels (twice as fast; a choice between candidates does not rest on rounding), to cut what
# dropout costs per step; the e-* ones are relative to the no-attention-dropout default of 2026-12-01, with
# native kernels like the d-* ones, to draw dropout's masks from PCG64. Each queued experiment pretrains again: it runs in a fresh copy,
# and DVC's run-cache skips stages with persistent or uncached outputs, which pretrain has. Evaluation cadence does not change the weights, so the sweep
# evaluates rarely. One queue worker: each run already uses both cores.
#   benchmark/sweep-default.sh                    queue and run everything (hours on 2 cores)
#   benchmark/sweep-default.sh --run c-           only the candidates whose name starts with c-
#   benchmark/sweep-default.sh --table [PREFIX]   only print the aggregate table of finished experiments
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:---run}
prefix=${2:-}
common=(-S data.validation_rows=null -S train.eval_steps=200 -S train.save_steps=200 -S train.eval_batch_size=64)
declare -A candidates=(
  [random]="-S pretrain.enabled=false -S train.sampler=random"
  [bucketed]="-S pretrain.enabled=false -S train.sampler=bucketed"
  [bucketed-bf16]="-S pretrain.enabled=false -S train.sampler=bucketed -S train.bf16=true"
  [pretrain-lr1e-3]="-S pretrain.enabled=true -S pretrain.steps=1000 -S train.sampler=bucketed"
  [pretrain-lr5e-4]="-S pretrain.enabled=true -S pretrain.steps=1000 -S train.sampler=bucketed -S train.learning_rate=5e-4"
  [b-4ep]="-S train.epochs=4"
  [b-lr2e-3]="-S train.learning_rate=2e-3"
  [b-3layers]="-S model.config.num_hidden_layers=3"
  [b-wide]="-S model.config.hidden_size=256 -S model.config.intermediate_size=1024"
  [c-compact]="-S preprocess.vocabulary=compact"
  [c-pretrain2k-lr5e-4]="-S preprocess.vocabulary=compact -S pretrain.enabled=true -S pretrain.steps=2000 -S train.learning_rate=5e-4"
  [c-pretrain4k-lr5e-4]="-S preprocess.vocabulary=compact -S pretrain.enabled=true -S pretrain.steps=4000 -S train.learning_rate=5e-4"
  [d-native]="-S runtime.portable=false"
  [d-native-no-attention-dropout]="-S runtime.portable=false -S ++model.config.attention_probs_dropout_prob=0.0"
  [e-native-pcg64-masks]="-S runtime.portable=false -S train.dropout_masks=pcg64"
  [d-native-no-dropout]="-S runtime.portable=false -S ++model.config.attention_probs_dropout_prob=0.0 -S ++model.config.hidden_dropout_prob=0.0"
)
seeds=(42 43 44)
if [[ $mode != --table ]]; then
  for name in "${!candidates[@]}"; do
    [[ $name == "$prefix"* ]] || continue
    for seed in "${seeds[@]}"; do
      # shellcheck disable=SC2086  # the candidate's -S flags are meant to split
      dvc exp run --queue -n "$name-s$seed" "${common[@]}" ${candidates[$name]} -S train.seed="$seed"
    done
  done
  dvc queue start -j 1
  until [[ $(dvc queue status) != *Queued* && $(dvc queue status) != *Running* ]]; do sleep 30; done
fi
for name in "${!candidates[@]}"; do
  [[ $name == "$prefix"* ]] || continue
  echo "## $name"
  sentibench aggregate "${seeds[@]/#/$name-s}" --format md --out "results/sweep/$name.json" \
    | grep -E '^\| (metric|---|eval\.(accuracy|f1_macro|reference\.accuracy) |train\.(eval_accuracy|padding_efficiency|steps_to_target) |train_timing\.(train_runtime_s|train_samples_per_second) )'
done
