#!/usr/bin/env bash
# Installs the Debian packages some tests use, when they are missing: slurm-wlm and munge (the
# SLURM tests start a real one-node cluster) and chromium (the HTML reports rendered as a browser
# shows them). Needs root and apt-get; without them, or without the packages, those tests skip.
# Usage: sudo environments/system_packages.sh
set -Eeuo pipefail

packages=(slurm-wlm munge chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "system packages: ${missing[*]} missing; installing them needs root and apt-get (their tests skip)" >&2
    exit 0
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
