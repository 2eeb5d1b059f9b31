#!/usr/bin/env bash
# The full jets -> neutrino transfer study of docs/transfer.md, on this machine.
# 1. 120,000 MINERvA-like events (CH, NuMI-like nu_mu flux, seed 7), split 87.5 / 4 / 8.5 %
#    (>= 100k training events for the largest labelled size; a small validation set keeps the
#    frequent validations cheap).
# 2. hepfm experiment transfer --config configs/transfer/neutrino.yaml (324 runs; resumes), as
#    JOBS processes of one thread each, each on its own tasks (JOBS=1: one process, all threads).
# 3. The report of all runs, copied to docs/transfer-results (PUBLISH= to skip).
#   bash scripts/run_transfer_study.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-data/neutrino}
OUT=${2:-runs/transfer-neutrino}
HEPFM=${HEPFM:-.venv/bin/hepfm}
JOBS=${JOBS:-2}
PUBLISH=${PUBLISH-docs/transfer-results}
CONFIG=configs/transfer/neutrino.yaml
export OMP_WAIT_POLICY=PASSIVE
$HEPFM simulate neutrino "$DATA-all" --n-events 120000 --seed 7 --n-shards 4 --workers 2
[ -d "$DATA/train" ] || $HEPFM data split "$DATA-all" "$DATA" --fractions 0.875,0.04,0.085 --seed 0
study=($HEPFM experiment transfer --config $CONFIG --set "data.train=$DATA/train" --out "$OUT")
if [ "$JOBS" = 1 ]; then
  "${study[@]}"
else
  [ "$JOBS" = 2 ] || { echo "JOBS must be 1 or 2" >&2; exit 2; }
  # two processes, two tasks each (a study folder can be shared by processes on different tasks)
  mkdir -p "$(dirname "$OUT")"
  OMP_NUM_THREADS=1 "${study[@]}" --set "tasks=[cc1pi_charged, ccnpi_charged]" > "$OUT.part1.log" 2>&1 &
  first=$!
  OMP_NUM_THREADS=1 "${study[@]}" --set "tasks=[cc1pi0, e_available]" > "$OUT.part2.log" 2>&1 &
  wait $first && wait $!
fi
"${study[@]}" --only-report ${PUBLISH:+--publish "$PUBLISH"}
