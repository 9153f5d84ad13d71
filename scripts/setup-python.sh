#!/usr/bin/env bash
# Idempotent setup of the trainer virtualenv at trainer/.venv.
# Installs torch==2.13.0 first (the CPU wheel that lies on local disk; any other
# torch spec may pull multi-GB CUDA builds), then `pip install -e 'trainer[dev]'`.
# Re-runs are fast: each step is skipped when already satisfied.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/trainer/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
EXTRAS="${PAIRWISE_TRAINER_EXTRAS:-dev}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup-python: creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

if ! "$VPY" -c 'import torch, sys; sys.exit(0 if torch.__version__.split("+")[0] == "2.13.0" else 1)' 2>/dev/null; then
  echo "setup-python: installing torch==2.13.0"
  "$VPY" -m pip install -q torch==2.13.0
fi

# Skip the editable install when the package, its extras and its console script are present
# and pyproject.toml has not changed since the last install.
STAMP="$VENV/.pairwise-trainer-installed"
WANT="$(sha256sum "$ROOT/trainer/pyproject.toml" | cut -d' ' -f1) $EXTRAS"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/pairwise-train" ] \
   && "$VPY" -c 'import pairwise_trainer, transformers, peft, accelerate, pytest' 2>/dev/null; then
  echo "setup-python: up to date"
  exit 0
fi
echo "setup-python: installing trainer[$EXTRAS]"
"$VPY" -m pip install -q -e "$ROOT/trainer[$EXTRAS]"
"$VPY" -c 'import pairwise_trainer' 
echo "$WANT" > "$STAMP"
echo "setup-python: done"
