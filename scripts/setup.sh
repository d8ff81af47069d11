#!/usr/bin/env bash
# Installs what npm start and npm test need on a fresh clone: npm packages, Debian packages when possible, the built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# npm packages: install when missing or when the lock file changed since the last install.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# Debian's Alertmanager 0.25 (the router must accept its payloads) and promtool; only when we may install.
missing=()
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    say "note: Debian packages ${missing[*]} are missing and cannot be installed here (not root); the tests that use them will say so"
  fi
fi

# Kubernetes, etcd, kube-state-metrics, Prometheus and Alertmanager from their Go modules (seconds when cached).
bash scripts/build-binaries.sh
