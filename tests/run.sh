#!/usr/bin/env bash
# Creates or reuses the project's environment (.venv) and runs the whole test suite.
# Usage: ./tests/run.sh [pytest arguments], e.g. ./tests/run.sh -k config -x
set -Eeuo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/environments/bootstrap.sh"
cd "$repo"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
exec "$repo/.venv/bin/python" -m pytest tests "$@"
