#!/usr/bin/env bash
# The analysis of run.sh with an ALP-model variant of one's own: NGC 1275 with a log-parabola
# intrinsic spectrum (user_models/ngc1275_logparabola.py, a subclass of the shipped ALP model).
# The spectrum's rows 4 and 6 become its alpha and beta; everything else is run.sh's.
# Run it from anywhere: ./cluster_runs/alp_logparabola.sh [name=value ...]
set -Eeuo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" \
    run_name=alp_logparabola \
    model=user_models/ngc1275_logparabola.py \
    param3="  [-9.5, -8.5]  | -9.044 | -9.044 | 1 | U | Amplitude | TeV^{-1}cm^{-2}s^{-1} " \
    param4="  [2.1, 3.1]    | 2.64   | 2.64   | 0 | U | alpha     | none " \
    param6="  [0, 0.6]      | 0.267  | 0.267  | 0 | U | beta      | none " \
    "$@"
