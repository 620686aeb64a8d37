#!/usr/bin/env bash
# Install the browser tests' front-end assets (axe-core, pinned in tests/browser/package-lock.json)
# from the npm registry with `npm ci`, when they are missing. Installs Debian's npm when there is
# no npm on the machine. Idempotent and quiet when everything is already there.
set -euo pipefail

cd "$(dirname "$0")/../tests/browser"

if [ -f node_modules/axe-core/axe.min.js ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "ensure-test-assets: need root (or sudo) to install Debian's npm" >&2; exit 1
    fi
  fi
  echo "ensure-test-assets: installing Debian's npm"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

echo "ensure-test-assets: npm ci in tests/browser (axe-core)"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
test -f node_modules/axe-core/axe.min.js || { echo "ensure-test-assets: axe-core missing after npm ci" >&2; exit 1; }
