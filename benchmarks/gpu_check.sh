#!/usr/bin/env bash
# The device run (benchmarks/gpu_check.py's docstring): its log goes to $OUT with the JSON, so a run cut off still brings it back.
set -o pipefail; PYTHONUNBUFFERED=1 python3 "$(dirname "$0")/gpu_check.py" --out "${OUT:?OUT must name the results folder}" "$@" 2>&1 | tee "$OUT/gpu_check.log"
