#!/usr/bin/env bash
# Creates the project's Python environment in .venv at the repository root, or reuses it when it
# was made from the current environments/requirements.lock and pyproject.toml.
# Usage: environments/bootstrap.sh        (prints one line per step; pip's output goes to .venv/setup.log)
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo/.venv
lock=$repo/environments/requirements.lock
stamp=$venv/.environment-stamp
wanted=$(cat "$lock" "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1)

# Two commands started at once (tests and a run) must not build the environment twice.
exec 9>"$repo/.venv.lock"
flock 9

if [[ -f $stamp && $(<"$stamp") == "$wanted" ]]; then
    exit 0
fi

python=${ALPSWYFT_PYTHON:-}
if [[ -z $python ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            python=$candidate
            break
        fi
    done
fi
if [[ -z $python ]]; then
    echo "environment: Python 3.11 is required (the pinned stack is verified on it); none was found on PATH." >&2
    echo "environment: install it, or point ALPSWYFT_PYTHON at a Python 3.11 interpreter." >&2
    exit 1
fi

start=$SECONDS
step() { echo "environment [$1/3, $((SECONDS - start)) s] $2"; }
log=$venv/setup.log

step 1 "creating the virtual environment $venv with $($python --version)"
"$python" -m venv "$venv"
: >"$log"

step 2 "installing the pinned packages from environments/requirements.lock (about 1.8 GB; a few minutes the first time)"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -r "$lock" >>"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -n 25 >&2
    echo "environment: pip failed; the whole log is $log" >&2
    exit 1
fi

step 3 "installing the packages alpswyft, polar and analysis_core (editable) from analysis_scripts/"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    echo "environment: installing the packages failed; the whole log is $log" >&2
    exit 1
fi

echo "$wanted" >"$stamp"
echo "environment ready in $((SECONDS - start)) s: $venv"
