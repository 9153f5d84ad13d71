#!/usr/bin/env bash
# Lint and test the Python trainer: setup (idempotent), ruff, then pytest -q.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup-python.sh"
VENV="$ROOT/trainer/.venv"
cd "$ROOT"
"$VENV/bin/ruff" check trainer bench/trainer
"$VENV/bin/ruff" format --check trainer bench/trainer
cd "$ROOT/trainer"
"$VENV/bin/python" -m pytest tests -q "$@"
