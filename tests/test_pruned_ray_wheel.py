"""scripts/pruned_ray_wheel.py: the ray wheel the device call carries stays a consistent wheel (issue 15)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from automl_nas.testing import script_fixture

REPO = Path(__file__).resolve().parents[1]

pruned_ray_wheel = script_fixture(REPO / "scripts" / "pruned_ray_wheel.py")


def _fake_wheel(path: Path) -> None:
    files = {"ray/__init__.py": b"", "ray/jars/ray_dist.jar": b"x" * 1000, "ray/rllib/__init__.py": b"",
             "ray/dashboard/client/build/index.html": b"<html>", "ray/dashboard/head.py": b"",
             "ray/core/src/ray/raylet/raylet": b"\x7fELF"}
    record = "".join(f"{name},sha256=x,{len(data)}\n" for name, data in files.items()) + "ray-9.9.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            mode = 0o755 if name.endswith("raylet") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            z.writestr(info, data)
        z.writestr("ray-9.9.dist-info/RECORD", record)


def test_prune_drops_the_java_jar_rllib_and_web_assets_and_their_record_lines(pruned_ray_wheel, tmp_path):
    wheel, dest = tmp_path / "ray-9.9-cp312-cp312-manylinux2014_x86_64.whl", tmp_path / "out"
    dest.mkdir()
    _fake_wheel(wheel)
    pruned = pruned_ray_wheel.prune(wheel, dest)
    assert pruned.name == wheel.name
    with zipfile.ZipFile(pruned) as z:
        assert z.testzip() is None
        names = set(z.namelist())
        assert names == {"ray/__init__.py", "ray/dashboard/head.py", "ray/core/src/ray/raylet/raylet",
                         "ray-9.9.dist-info/RECORD"}
        recorded = {line.split(",")[0] for line in z.read("ray-9.9.dist-info/RECORD").decode().splitlines()}
        assert recorded == names  # every file listed, nothing listed that is gone
        # pip restores the executable bit from the archive: Ray's binaries must keep it
        assert (z.getinfo("ray/core/src/ray/raylet/raylet").external_attr >> 16) & 0o111
        assert z.read("ray/core/src/ray/raylet/raylet") == b"\x7fELF"
