#!/usr/bin/env bash
# Builds the explorer (explorer/dist): npm ci (the committed package-lock.json), the
# TypeScript check, then the esbuild bundle. The devnet serves explorer/dist under /explorer/.
set -euo pipefail
cd "$(dirname "$0")/../explorer"
if [ ! -d node_modules/@dfinity/agent ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc --noEmit
node build.mjs
