#!/usr/bin/env bash
# Fresh clone → running app with its embedded defaults:
#   - installs the npm packages and the trainer's Python virtualenv (CPU torch),
#   - builds the app, and a tiny base policy for the built-in arithmetic task (once, ~1 min),
#   - seeds the demo projects and accounts (credentials printed below),
#   - serves http://localhost:${PORT:-3000} (SQLite at data/pairwise.db) with one local CPU worker.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-3000}"
export PORT
bash scripts/install-node-deps.sh
bash scripts/setup-python.sh
npm run build
mkdir -p data
MODEL_DIR="data/models/tiny-base"
if [ ! -f "$MODEL_DIR/config.json" ]; then
  echo "Building the tiny base policy for the arithmetic demo (once)…"
  trainer/.venv/bin/pairwise-train tiny-model --out "$MODEL_DIR"
fi
echo
PAIRWISE_DEMO_MODEL="$MODEL_DIR" npx pairwise demo seed
echo
# The local worker's token lives only on this machine (data/ is git-ignored).
TOKEN_FILE="data/local-worker.token"
if [ ! -s "$TOKEN_FILE" ]; then
  (umask 077 && npx pairwise worker create --name local-cpu | tail -n 1 > "$TOKEN_FILE")
fi
export NODE_ENV=production
node build/pairwise-server.js &
SERVER=$!
WORKER=""
cleanup() {
  [ -n "$WORKER" ] && kill "$WORKER" 2>/dev/null || true
  kill "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1 && break
  sleep 0.5
done
trainer/.venv/bin/pairwise-worker --server "http://127.0.0.1:$PORT" --token "$(cat "$TOKEN_FILE")" --name local-cpu &
WORKER=$!
echo "Pairwise is running at http://localhost:$PORT with a local CPU worker (pid $WORKER). Ctrl-C stops both."
wait "$SERVER"
