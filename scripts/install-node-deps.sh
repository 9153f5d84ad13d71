#!/usr/bin/env bash
# Installs the exact npm dependencies from package-lock.json unless they are already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.pairwise-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
