#!/usr/bin/env bash
# Create .venv and install hepfm with the CPU build of PyTorch (no multi-GB CUDA download).
# Usage: bash scripts/setup.sh [test]     ('test' also installs the test extras)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
if python -c "import torch" 2>/dev/null; then
  :  # a torch is already installed in this environment
elif ls "${PIP_FIND_LINKS:-/nonexistent}"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  pip install -q torch==2.13.0            # local CPU wheel
else
  pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
pip install -q -e ".${extras}"
echo "hepfm installed in .venv (activate with: . .venv/bin/activate)"
