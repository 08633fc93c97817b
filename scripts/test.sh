#!/usr/bin/env bash
# One command: install what is missing, lint (flake8, mypy), then run the whole test suite (unit tests first,
# then the emulation tests, which need root). Other arguments go to pytest.
#   scripts/test.sh           the whole suite (what CI runs)
#   scripts/test.sh --unit    the fast lane: lint and the unit tests only (no emulation)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lane=()
if [ "${1:-}" = "--unit" ]; then
    shift
    lane=(-m "not emulation")
fi
bash "$ROOT/scripts/install.sh"
cd "$ROOT"
"$ROOT/.venv/bin/python" -m flake8 || { echo "[test] flake8 found the problems above" >&2; exit 1; }
"$ROOT/.venv/bin/python" -m mypy || { echo "[test] mypy found the problems above" >&2; exit 1; }
exec "$ROOT/.venv/bin/python" -m pytest "${lane[@]}" "$@"
