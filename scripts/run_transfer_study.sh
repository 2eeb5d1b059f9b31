#!/usr/bin/env bash
# The full jets -> neutrino transfer study of docs/transfer.md, on this machine.
# 1. 120,000 MINERvA-like events (CH, NuMI-like nu_mu flux, seed 7), split 87.5 / 4 / 8.5 %
#    (>= 100k training events for the largest labelled size; a small validation set keeps the
#    frequent validations cheap).
# 2. hepfm experiment transfer --config configs/transfer/neutrino.yaml (324 runs; resumes).
#   bash scripts/run_transfer_study.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-data/neutrino}
OUT=${2:-runs/transfer-neutrino}
HEPFM=${HEPFM:-.venv/bin/hepfm}
export OMP_WAIT_POLICY=PASSIVE
$HEPFM simulate neutrino "$DATA-all" --n-events 120000 --seed 7 --n-shards 4 --workers 2
[ -d "$DATA/train" ] || $HEPFM data split "$DATA-all" "$DATA" --fractions 0.875,0.04,0.085 --seed 0
$HEPFM experiment transfer --config configs/transfer/neutrino.yaml --set "data.train=$DATA/train" --out "$OUT"
