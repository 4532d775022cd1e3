#!/usr/bin/env bash
# Create .venv/ at the repository root and install automl-nas, every first-party
# plugin (each its own distribution, registered through entry points) and the
# test tools. Idempotent: re-running upgrades in place.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
# Pinned: the CUDA build of torch 2.14.1 runs on CPU and pairs with torchvision 0.29.1
# (the CPU-only 2.13.0 wheel breaks torchvision's compiled ops).
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
$PIP install -q -e ".[test]"
plugins=()
for plugin in plugins/*/; do
  # A plugin's optional readers are tested too: install its [test] extra when it has one.
  if grep -q '^test *=' "$plugin/pyproject.toml"; then
    plugins+=(-e "${plugin%/}[test]")
  else
    plugins+=(-e "${plugin%/}")
  fi
done
# One pip run for all plugins, so that a plugin depending on another first-party plugin
# (eval-nasbench-graph on space-gnn) resolves it here rather than on the package index.
$PIP install -q --no-build-isolation "${plugins[@]}"
$PIP install -q --no-build-isolation -e tests/outside_plugin
echo "automl-nas installed in .venv/ ($(.venv/bin/automl plugins --json | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin); print(len(d["plugins"]), "plugins,", len(d["errors"]), "load errors")'))"
