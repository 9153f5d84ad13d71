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

# Skip everything when torch 2.13.0, the package, its key dependencies and the console script are
# present and pyproject.toml has not changed since the last install (one Python start: fast).
STAMP="$VENV/.pairwise-trainer-installed"
WANT="$(sha256sum "$ROOT/trainer/pyproject.toml" | cut -d' ' -f1) $EXTRAS"
CHECK='
import importlib.metadata as md, importlib.util as u, sys
ok = md.version("torch").split("+")[0] == "2.13.0" and all(
    u.find_spec(m) for m in ("pairwise_trainer", "transformers", "peft", "accelerate", "pytest", "ruff"))
sys.exit(0 if ok else 1)'
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/pairwise-train" ] \
   && "$VPY" -c "$CHECK" 2>/dev/null; then
  echo "setup-python: up to date"
  exit 0
fi

if ! "$VPY" -c 'import importlib.metadata as md, sys; sys.exit(0 if md.version("torch").split("+")[0] == "2.13.0" else 1)' 2>/dev/null; then
  echo "setup-python: installing torch==2.13.0"
  "$VPY" -m pip install -q torch==2.13.0
fi

echo "setup-python: installing trainer[$EXTRAS]"
"$VPY" -m pip install -q -e "$ROOT/trainer[$EXTRAS]"
"$VPY" -c 'import pairwise_trainer'
echo "$WANT" > "$STAMP"
echo "setup-python: done"
