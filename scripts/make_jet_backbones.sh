#!/usr/bin/env bash
# Make the shipped jet backbones pet-tiny-jets and pt-tiny-jets from scratch:
# Pythia 8 + FastJet corpus (306k jets, 9 classes) -> split -> supervised pretraining of both
# tiny backbones -> check on fresh jets (another seed) -> zoo entries with model cards.
# Every step resumes: rerun the script after an interruption. On 2 CPU cores: about 1 h of
# generation and 15-30 min of training per backbone.
#   bash scripts/make_jet_backbones.sh [DATA_DIR] [RUNS_DIR] [ZOO_DIR]
set -euo pipefail
DATA=${1:-data}
RUNS=${2:-runs}
ZOO=${3:-src/hepfm/zoo}
HEPFM=${HEPFM:-.venv/bin/hepfm}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE
CORPUS_CMD="hepfm simulate jets $DATA/jets-corpus --n-per-class 34000 --n-shards 340 --seed 1 --pthat-factor 0.8 --workers 2"

$HEPFM simulate jets "$DATA/jets-corpus" --n-per-class 34000 --n-shards 340 --seed 1 --pthat-factor 0.8 --workers 2
[ -d "$DATA/jets/train" ] || $HEPFM data split "$DATA/jets-corpus" "$DATA/jets" --seed 0

for model in pet-tiny pt-tiny; do
  run="$RUNS/pretrain-$model-jets"
  [ -f "$run/report.json" ] || $HEPFM pretrain -c "configs/jets/pretrain-$model.yaml" --data "$DATA/jets/train" --out "$run"
  [ -f "$run/fresh_check.json" ] || $PY -m hepfm.experiments.jet_check "$run/best" --out "$run/fresh_check.json"
  $HEPFM zoo add "$run" --name "$model-jets" --dest "$ZOO" --overwrite --metrics "$run/fresh_check.json" \
    --data-command "$CORPUS_CMD; hepfm data split $DATA/jets-corpus $DATA/jets --seed 0" \
    --description "$model backbone pretrained with supervised 9-class jet tagging on the training split (80 %) of a 306,000-jet JetClass-like Pythia 8 + FastJet corpus; made by scripts/make_jet_backbones.sh."
done
