#!/usr/bin/env bash
# Fresh clone → running app: installs dependencies, builds, seeds the demo project and accounts
# (printed below), then serves http://localhost:${PORT:-3000} with the embedded defaults (SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node-deps.sh
npm run build
echo
npx pairwise demo seed
echo
export NODE_ENV=production
exec node build/pairwise-server.js
