#!/usr/bin/env bash
# The one prepared script for a session lent a GPU machine (issue 15).
#
# Here (with the network), once:   bash scripts/gpu_session.sh --prepare
#   puts the wheels the device image lacks (cattrs, tomli-w; ray pruned to 43 MB and its missing
#   dependencies, unless RAY_WHEEL=0) and the 5k CIFAR-10 npz into .gpu-carry/ (ignored by git,
#   ~60 MB), which the device call must carry; it checks the 64 MiB a call carries. With DRNAS_SRC and/or
#   AUTODL_SRC set to checkouts of github.com/xiangning-chen/DrNAS and D-X-Y/AutoDL-Projects, their
#   search code goes along too, and the device check times the official DrNAS, DARTS-V1 and GDAS
#   steps beside ours (step_time.py --official-src).
# On the device machine (its python3 holds torch; nothing can be fetched there):
#   run(command="bash scripts/gpu_session.sh \$OUT", carry=[".gpu-carry"], timeout_s=600)
#   installs this checkout and the carried wheels (ray too) into /tmp/automl-nas-site on PYTHONPATH, then runs
#   benchmarks/gpu_check.sh into a scratch folder (GPU_WORK, else a new /tmp/gpu-check-*: searches, checkpoints and Ray
#   batches are far more than a call returns) and, after every section, copies gpu_check.json,
#   gpu_check.md, cuda-tests.xml and details.tar.gz (the per-row JSON) into $OUT: a call returns at most
#   8 files, 2 folders deep. The targets and decisions tables are also the last lines printed.
# A lent task has about 15 minutes of device time in all, a machine's start included: plan on this ONE
#   call. The calls below are for a session whose `status` still shows budget after it (a warm machine
#   is kept 30 s; a new one needs 4 minutes). The check's last section, ray_seeds (seed trials on Ray,
#   1/4 GPU each), is the first to go when its deadline comes; arguments after OUT go to gpu_check:
#   run(command="bash scripts/gpu_session.sh \$OUT --sections env,ray_seeds", carry=[".gpu-carry"])
#   Compiled step rows (CUDA graphs) compile for minutes; those the first call had no budget for:
#   run(command="bash scripts/gpu_session.sh \$OUT --sections env,step_time --kinds eager-fp32,compiled-fp32
#       --configs darts-nb201,drnas-nb201 --budget-s 900", carry=[".gpu-carry"], timeout_s=600)
#   and, if the "defaults these figures decide" table turns run.compile on, the real searches with it:
#   run(command="bash scripts/gpu_session.sh \$OUT --sections env,search --searches drnas,darts
#       --search-set run.compile=true --search-set 'run.compile_mode=\"reduce-overhead\"'", ...)
# With device time left after it (a second call, <= 10 min):
#   run(command="bash scripts/gpu_session.sh \$OUT --spread", carry=[".gpu-carry"], timeout_s=560)
#   runs benchmarks/bf16_spread.py instead: 3 seeds of DARTS (NB201, paper size) in fp32 and bf16,
#   30 epochs on the 5k images, scored by the NAS-Bench-201 table that --prepare carried;
#   bf16-spread.json/.txt in $OUT. (DARTS, not GDAS: on this short protocol GDAS' supernets stay
#   at chance and its cells are random; measured on CPU.)
# Before a GPU is lent: scripts/gpu_rehearsal.sh runs this script here, in an environment like the
#   device image's (its torch, no ray/optuna/plotly), in CPU mode.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
carry="$repo/.gpu-carry"
if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$carry/wheels" && mkdir -p "$carry/wheels"  # one version of each: two stop the device's install
  "$repo/.venv/bin/python" -m pip download -q --no-deps -d "$carry/wheels" "cattrs>=23.2" "tomli-w>=1.0"
  cp "$repo/../shared/data/cifar10-5k.npz" "$repo/../shared/benchmarks/nb201-test-accuracy.csv" "$carry/"
  # the device's copy of the tree has no .git: the check's summary names this commit instead
  # (run --prepare right before the device call: the stamp is of the tree as it is now, untracked files too)
  (cd "$repo" && echo "$(git rev-parse HEAD)$([ -z "$(git status --porcelain -- . ':!.gpu-carry')" ] || echo '+uncommitted')") \
    >"$carry/commit"
  if [ -n "${DRNAS_SRC:-}" ]; then
    rm -rf "$carry/DrNAS" && mkdir -p "$carry/DrNAS"
    cp -r "$DRNAS_SRC/201-space" "$DRNAS_SRC"/*.py "$carry/DrNAS/"
  fi
  if [ -n "${AUTODL_SRC:-}" ]; then
    rm -rf "$carry/AutoDL-Projects" && mkdir -p "$carry/AutoDL-Projects"
    cp -r "$AUTODL_SRC/xautodl" "$carry/AutoDL-Projects/"
  fi
  if [ "${RAY_WHEEL:-1}" != 0 ]; then
    # The image has no ray: a pruned wheel (scripts/pruned_ray_wheel.py) for gpu_check's ray_seeds.
    "$repo/.venv/bin/python" "$repo/scripts/pruned_ray_wheel.py" "$carry/wheels-ray" --python-version 3.12
  fi
  # A device call carries 64 MiB in all, the working tree included: without room, ray stays here.
  tree=$(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null \
         | awk '{s += $1} END {print s + 0}')
  total=$(( $(du -sb "$carry" | cut -f1) + tree ))
  if [ "$total" -gt $((64 * 1024 * 1024)) ] && [ -d "$carry/wheels-ray" ]; then
    echo "gpu_session: carry + tree = $((total / 1048576)) MiB, over the 64 MiB a device call carries: ray left out" >&2
    rm -rf "$carry/wheels-ray"
    total=$(( $(du -sb "$carry" | cut -f1) + tree ))
  fi
  echo "gpu_session: .gpu-carry + working tree = $((total / 1048576)) MiB (a device call carries 64 MiB)"
  exit 0
fi
out="${1:?usage: gpu_session.sh OUT_DIR | --prepare}"
py="${PYTHON:-python3}"
cd "$repo"
# As the device README installs carried packages: into a folder of their own on PYTHONPATH, which
# works whether or not python3's environment is writable (nothing is fetched there: --no-index).
# Our packages go in as wheels built from this checkout, with their entry points, as a user's would.
site="${GPU_SITE:-/tmp/automl-nas-site}"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
into_site() { "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$@"; }
into_site "$carry"/wheels/*.whl
if [ -d "$carry/wheels-ray" ] && [ "${2:-}" != "--spread" ]; then
  into_site "$carry"/wheels-ray/*.whl
fi
into_site --no-build-isolation . $(for p in plugins/*/; do printf -- '%s ' "${p%/}"; done) tests/outside_plugin
[ -f "$carry/commit" ] && export AUTOML_NAS_COMMIT="$(cat "$carry/commit")"
if [ "${2:-}" = "--spread" ]; then
  mkdir -p "$out"
  # SPREAD_DEVICE/SEEDS/EPOCHS/EXTRA: scripts/gpu_rehearsal.sh runs this part on a CPU, shortened.
  # The JSON is rewritten after every search, and stderr (its progress) is kept too: a call cut
  # short still returns what finished.
  PYTHONUNBUFFERED=1 "$py" benchmarks/bf16_spread.py --device "${SPREAD_DEVICE:-cuda}" --data "$carry/cifar10-5k.npz" \
    --table "$carry/nb201-test-accuracy.csv" --recipe recipes/darts-nb201.toml --seeds "${SPREAD_SEEDS:-3}" \
    --epochs "${SPREAD_EPOCHS:-30}" ${SPREAD_EXTRA:-} --json "$out/bf16-spread.json" 2>&1 | tee "$out/bf16-spread.txt"
  exit 0
fi
official=()
[ -d "$carry/DrNAS/201-space" ] && official+=(--official-src "$carry/DrNAS")
[ -d "$carry/AutoDL-Projects/xautodl" ] && official+=(--official-src "$carry/AutoDL-Projects")
work="${GPU_WORK:-$(mktemp -d /tmp/gpu-check-XXXXXX)}"  # its own: a warm machine keeps the last call's files
export PYTHON="$py" PYTHONUNBUFFERED=1
# exec: a signal to this script (a caller's stop) reaches the check, which then stops its children
exec bash benchmarks/gpu_check.sh "$work" --return-to "$out" --data "$carry/cifar10-5k.npz" "${official[@]}" "${@:2}"
