#!/usr/bin/env bash
# The prepared device check of issue 15 (see benchmarks/gpu_check.py for the sections):
#   bash benchmarks/gpu_check.sh OUT_DIR                       # on a GPU machine
#   bash benchmarks/gpu_check.sh OUT_DIR --device cpu --quick  # the CPU run (a few minutes)
# Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md; exits non-zero if a section failed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
cd "$repo"
exec "$python" "$repo/benchmarks/gpu_check.py" "$@"
