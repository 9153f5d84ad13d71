#!/usr/bin/env bash
# Fresh clone → every test: installs what the tests need (npm packages, Debian's Chromium, the
# trainer's Python virtualenv), then runs type checks, unit + integration tests, browser tests
# against the production build, and the trainer's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node-deps.sh
bash scripts/install-chromium.sh
# The trainer's virtualenv first: integration tests run the real Python worker against the server.
bash scripts/setup-python.sh
# One tiny model for every suite that needs one (built once, ~1 min; data/ is git-ignored).
if [ ! -f data/test-cache/tiny-base/config.json ]; then
  trainer/.venv/bin/pairwise-train tiny-model --out data/test-cache/tiny-base
fi
export PAIRWISE_TINY_MODEL="$PWD/data/test-cache/tiny-base"

echo "== typecheck"
npm run typecheck

echo "== unit and integration tests"
npx vitest run

echo "== production build"
npm run build

if ls tests/e2e/*.test.ts >/dev/null 2>&1; then
  echo "== browser tests"
  npx vitest run --config vitest.e2e.config.ts
fi

echo "== trainer tests"
bash scripts/test-trainer.sh
echo "== all test suites passed"
