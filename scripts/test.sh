#!/usr/bin/env bash
# One command: install what is missing, lint, then run the whole test suite (unit tests first,
# then the emulation tests, which need root). Arguments go to pytest, e.g. -m "not emulation".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
cd "$ROOT"
"$ROOT/.venv/bin/python" -m flake8 || { echo "[test] flake8 found the problems above" >&2; exit 1; }
exec "$ROOT/.venv/bin/python" -m pytest "$@"
