"""Ray for the device machine: the wheels its image lacks, small enough to travel (issue 15).

The device image has no ``ray``, and a device call carries at most 64 MiB (working tree and
carried folders together). Ray's wheel is 79 MB; 32 MB of it is ``ray/jars/ray_dist.jar``
(Java workers), which no Python trial loads. This script downloads, for the device's Python:

* ``ray`` at the version installed here (the one CI tests), rewritten without ``ray/jars/``,
  ``ray/rllib/`` and ``ray/dashboard/client/build/`` (the dashboard's web assets; the image has
  no ``ray[default]``, so no dashboard starts) and without their lines in the wheel's RECORD;
* the dependencies of ``ray`` and ``ray[tune]`` that the image lacks (``/work/.library/device/KINDS.md``):
  ``jsonschema``, ``pydantic`` (``ray.tune`` imports ``ray.train.v2``, which needs it) and what
  they need, and ``tensorboardX``; each at the version installed here, so that the device runs
  what CI tests (pydantic pins its core exactly).

Everything else ``ray`` and ``ray[tune]`` require (click, filelock, msgpack, protobuf, pyyaml,
requests, pandas, pyarrow, fsspec) is in the image. Usage:

    python scripts/pruned_ray_wheel.py DEST_DIR [--python-version 3.12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

PRUNED = ("ray/jars/", "ray/rllib/", "ray/dashboard/client/build/")
IMAGE_LACKS = ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "tensorboardX",
               "pydantic", "pydantic-core", "annotated-types", "typing-inspection")


def download(names: list[str], dest: Path, python_version: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", python_version, "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "-d", str(dest), *names], check=True)


def prune(wheel: Path, dest: Path) -> Path:
    """``wheel`` without the ``PRUNED`` trees, as a valid wheel of the same name in ``dest``."""
    out = dest / wheel.name
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename.startswith(PRUNED):
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line + b"\n" for line in data.splitlines() if not line.decode().startswith(PRUNED))
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)  # keeps the mode bits
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", type=Path)
    p.add_argument("--python-version", default="3.12", help="the device image's Python (default 3.12)")
    args = p.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    raw = args.dest / "raw"
    raw.mkdir(exist_ok=True)
    ray = f"ray=={version('ray')}"
    download([ray], raw, args.python_version)
    (wheel,) = raw.glob("ray-*.whl")
    for old in args.dest.glob("*.whl"):  # two versions of one package stop the device's whole install
        old.unlink()
    pruned, full_mb = prune(wheel, args.dest), wheel.stat().st_size / 1e6
    wheel.unlink()
    raw.rmdir()
    download([f"{name}=={version(name)}" for name in IMAGE_LACKS], args.dest, args.python_version)
    print(f"{ray} for Python {args.python_version}: {full_mb:.1f} MB, {pruned.stat().st_size / 1e6:.1f} MB pruned; "
          f"with {', '.join(IMAGE_LACKS)} in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
