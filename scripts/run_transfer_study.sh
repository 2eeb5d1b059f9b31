#!/usr/bin/env bash
# The full jets -> neutrino transfer study of docs/transfer.md, on this machine.
# 1. 120,000 MINERvA-like events (CH, NuMI-like nu_mu flux, seed 7), split 87.5 / 4 / 8.5 %
#    (>= 100k training events for the largest labelled size; a small validation set keeps the
#    frequent validations cheap).
# 2. hepfm experiment transfer --config configs/transfer/neutrino.yaml (324 runs at 5e11 FLOPs;
#    resumes), as JOBS processes of one thread each, each on its own tasks (JOBS=1: one process,
#    all threads); the report of all runs is copied to docs/transfer-results (PUBLISH= to skip).
# 3. The 4x-budget check (2e12 FLOPs; pt random init vs pt-tiny-jets full fine-tuning; 10^5
#    events; seeds 0-2: 24 runs) -> docs/transfer-results-long.
#   bash scripts/run_transfer_study.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-data/neutrino}
OUT=${2:-runs/transfer-neutrino}
HEPFM=${HEPFM:-.venv/bin/hepfm}
JOBS=${JOBS:-2}
PUBLISH=${PUBLISH-docs/transfer-results}
export OMP_WAIT_POLICY=PASSIVE
$HEPFM simulate neutrino "$DATA-all" --n-events 120000 --seed 7 --n-shards 4 --workers 2
[ -d "$DATA/train" ] || $HEPFM data split "$DATA-all" "$DATA" --fractions 0.875,0.04,0.085 --seed 0

study() {  # study OUT_DIR PUBLISH_DIR [--set ...]: run (resuming) in JOBS processes, then the report
  local out=$1 publish=$2
  shift 2
  local cmd=($HEPFM experiment transfer --config configs/transfer/neutrino.yaml --set "data.train=$DATA/train"
             --out "$out" "$@")
  if [ "$JOBS" = 1 ]; then
    "${cmd[@]}"
  else
    [ "$JOBS" = 2 ] || { echo "JOBS must be 1 or 2" >&2; exit 2; }
    mkdir -p "$(dirname "$out")"
    # two processes, two tasks each (a study folder can be shared by processes on different tasks)
    OMP_NUM_THREADS=1 "${cmd[@]}" --set "tasks=[cc1pi_charged, ccnpi_charged]" > "$out.part1.log" 2>&1 &
    local first=$!
    OMP_NUM_THREADS=1 "${cmd[@]}" --set "tasks=[cc1pi0, e_available]" > "$out.part2.log" 2>&1 &
    wait $first && wait $!
  fi
  "${cmd[@]}" --only-report ${PUBLISH:+--publish "$publish"}
}

study "$OUT" "$PUBLISH"
study "$OUT-long" "$PUBLISH-long" --set budget.max_flops=2e12 --set "seeds=[0, 1, 2]" --set "train_sizes=[100000]" \
  --set "strategies=[full]" --set "families=[{name: pt, backbone: pt-tiny-jets}]" --set mlp=null
