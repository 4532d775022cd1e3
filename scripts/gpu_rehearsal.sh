#!/usr/bin/env bash
# A rehearsal of scripts/gpu_session.sh here, on the CPU, in an environment like the device image's.
#
# A GPU is lent to few sessions and for 15 minutes at most, so the prepared device check must
# not meet a missing package or a torch API for the first time there. The device image differs
# from our CI environment (/work/.library/device/KINDS.md, read 2026-11): its python3 holds
# torch 2.11.0 and torchvision 0.26.0 (CI: 2.14.1 / 0.29.1) and has neither ray, optuna nor
# plotly; cattrs, tomli-w and a pruned ray travel as wheels in .gpu-carry. This script:
#   1. builds, once, a venv (REHEARSAL_VENV, default .gpu-rehearsal/) on a Python 3.12 like the
#      image's where one is found (REHEARSAL_PYTHON, python3.12, pyenv's; else python3), with those
#      versions and the image's packages that the project imports, without ray/optuna/plotly;
#   2. clones HEAD (commit first) into a temporary directory with no ../shared beside it (none
#      travels) and copies .gpu-carry in (run `scripts/gpu_session.sh --prepare` first); on
#      another Python than 3.12, its ray wheels are swapped for the same builds for that Python;
#   3. runs the session script there as the device would, in its CPU mode
#      (`gpu_session.sh OUT --device cpu --quick`), then its --spread part on one epoch;
#   4. stops non-zero where a section of the check (gpu_check exits 1) or the spread fails;
#      OUT keeps gpu_check.json/.md and bf16-spread.json/.txt.
# Usage: bash scripts/gpu_rehearsal.sh OUT_DIR        (~3 min once the venv exists; ~5 to build it)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:?usage: gpu_rehearsal.sh OUT_DIR}" && cd "$1" && pwd)"
venv="${REHEARSAL_VENV:-$repo/.gpu-rehearsal}"
[ -d "$repo/.gpu-carry/wheels" ] || { echo "gpu_rehearsal: no .gpu-carry; run scripts/gpu_session.sh --prepare first" >&2; exit 2; }
# The image's Python is 3.12: REHEARSAL_PYTHON, else python3.12 on PATH, else pyenv's 3.12, else
# python3 (then the carried cp312 wheels are swapped for the same builds for its version, below).
base="${REHEARSAL_PYTHON:-}"
if [ -z "$base" ]; then
  for candidate in python3.12 $(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12*/bin/python3.12 2>/dev/null) python3; do
    if "$candidate" -c 'import venv' 2>/dev/null; then base="$candidate"; break; fi  # a shim may not run
  done
fi
want="$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$want" ]; then
  rm -rf "$venv"  # built with another Python
fi
if [ ! -x "$venv/bin/python" ]; then
  "$base" -m venv "$venv"
  # setuptools < 82: torch 2.11's own pin; wheel: editable installs without build isolation.
  "$venv/bin/python" -m pip install -q torch==2.11.0 torchvision==0.26.0 "setuptools>=70,<82" wheel \
    attrs pluggy click numpy pyarrow tqdm matplotlib onnx onnxscript onnxruntime scikit-learn \
    safetensors tensorboard torch_geometric pytest hypothesis
fi
# What ray and ray[tune] need that the image holds (pandas, msgpack, pyyaml, ...): topped up here.
"$venv/bin/python" -m pip install -q pandas msgpack pyyaml protobuf requests filelock fsspec
# The image state: nothing carried, and no automl-nas, until gpu_session.sh installs them into its
# own folder; whatever of them an earlier rehearsal installed into the venv itself goes first.
"$venv/bin/python" -m pip uninstall -q -y $(ls "$repo"/.gpu-carry/wheels*/ | grep '\.whl$' | cut -d- -f1) \
  $("$venv/bin/python" -m pip list 2>/dev/null | awk 'tolower($1) ~ /^automl-nas/ {print $1}') 2>/dev/null || true
pyver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
dists() { ls "$1" 2>/dev/null | cut -d- -f1-2 | sort; }  # the name-version of each wheel
if [ "$pyver" != 3.12 ] && [ -d "$repo/.gpu-carry/wheels-ray" ] \
   && [ "$(dists "$repo/.gpu-carry/wheels-ray")" != "$(dists "$venv/wheels-ray")" ]; then
  rm -rf "$venv/wheels-ray"
  "$repo/.venv/bin/python" "$repo/scripts/pruned_ray_wheel.py" "$venv/wheels-ray" --python-version "$pyver"
fi
for absent in ray optuna plotly cattrs tomli_w automl_nas; do
  if (cd / && "$venv/bin/python" -c "import $absent" 2>/dev/null); then  # from /: not this checkout's
    echo "gpu_rehearsal: $venv has $absent, which the device image lacks; remove it or the venv" >&2; exit 2
  fi
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/checkout"
cp -r "$repo/.gpu-carry" "$work/checkout/"
if [ "$pyver" != 3.12 ] && [ -d "$work/checkout/.gpu-carry/wheels-ray" ]; then  # cp312 -> this venv's
  rm -rf "$work/checkout/.gpu-carry/wheels-ray" && cp -r "$venv/wheels-ray" "$work/checkout/.gpu-carry/wheels-ray"
fi
cd "$work/checkout"
GPU_WORK="$work/gpu-check" GPU_SITE="$work/site" PYTHON="$venv/bin/python" bash scripts/gpu_session.sh "$out" --device cpu --quick
SPREAD_DEVICE=cpu SPREAD_EPOCHS=1 SPREAD_SEEDS=2 SPREAD_EXTRA=--quick GPU_SITE="$work/site" PYTHON="$venv/bin/python" \
  bash scripts/gpu_session.sh "$out" --spread
# What a device call returns of $OUT: at most 8 files, 16 MiB each, 64 MiB in all, 2 folders deep.
files=$(find "$out" -type f | wc -l); deep=$(find "$out" -mindepth 4 | wc -l)
big=$(find "$out" -type f -size +16M | wc -l); total=$(du -sb "$out" | cut -f1)
if [ "$files" -gt 8 ] || [ "$deep" -gt 0 ] || [ "$big" -gt 0 ] || [ "$total" -gt $((64 * 1024 * 1024)) ]; then
  echo "gpu_rehearsal: $out holds $files files ($deep too deep, $big over 16 MiB, $total bytes): a device call would not return it" >&2
  exit 3
fi
echo "gpu_rehearsal: the check and the spread ran; summaries in $out ($files files, as a device call returns them)"
