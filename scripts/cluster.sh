#!/usr/bin/env bash
# One command: install what is missing, then start the cluster (arguments go to run.py).
#   sudo scripts/cluster.sh [--mode nat|tun|dr] [--clients N] [--webs N] [--no-cli]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/topologies/run.py" "$@"
