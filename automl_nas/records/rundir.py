"""The one module that owns a run directory's layout.

::

    runs/<recipe>-<timestamp>/
      recipe.toml           fully resolved recipe
      env.json              package versions, device, seed, data set
      metrics.jsonl         one record per epoch (and per logged step)
      arch_history.jsonl    architecture parameters and probabilities per epoch
      checkpoints/last.pt   latest checkpoint (atomic: written, then renamed)
      result.json           final result (status: finished | interrupted | failed)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from automl_nas.errors import RunError

if TYPE_CHECKING:
    from automl_nas.records.schema import ArchSnapshot, EpochRecord, RunResult


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n").encode())


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


class RunDir:
    """A run directory; creating it checks that it can be written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, name: str, path: str | Path | None = None) -> "RunDir":
        if path is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(root) / f"{name}-{stamp}"
            n = 1
            while path.exists():
                n += 1
                path = Path(root) / f"{name}-{stamp}-{n}"
        run = cls(path)
        try:
            (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            probe = run.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunError(f"run directory {run.path} cannot be written: {exc.strerror or exc}",
                           hint="choose a writable root with `--set run.root=DIR` or `--run-dir DIR`") from None
        return run

    # ---- layout ----
    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def env_file(self) -> Path:
        return self.path / "env.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def history_file(self) -> Path:
        return self.path / "arch_history.jsonl"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    # ---- writes ----
    def write_text(self, path: Path, text: str) -> None:
        atomic_write_bytes(path, text.encode())

    def append_jsonl(self, path: Path, record: dict) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_default) + "\n")
            fh.flush()

    def truncate_jsonl(self, path: Path, keep: int) -> None:
        """Keep the first ``keep`` records whose ``epoch`` < keep (resume drops records past the checkpoint)."""
        if not path.exists():
            return
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("epoch", -1) < keep]
        atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())

    def write_result(self, result: RunResult) -> None:
        atomic_write_json(self.result_file, result.to_json())

    # ---- reads (tolerant: earlier schema versions and unknown keys are accepted) ----
    def read_metrics(self) -> list[dict]:
        """The epoch lines of ``metrics.jsonl`` as written (a line cut by a crash is skipped)."""
        return read_jsonl(self.metrics_file)

    def read_epochs(self) -> list[EpochRecord]:
        """The epoch records, typed."""
        from automl_nas.records.schema import EpochRecord

        return [EpochRecord.from_json(line) for line in self.read_metrics() if "epoch" in line]

    def read_arch_history(self) -> list[ArchSnapshot]:
        """The lines of ``arch_history.jsonl``, typed (parameters and probabilities per epoch)."""
        from automl_nas.records.schema import ArchSnapshot

        return [ArchSnapshot.from_json(line) for line in read_jsonl(self.history_file) if "epoch" in line]

    def read_result(self) -> RunResult | None:
        """``result.json`` typed, or ``None`` while the run has not ended; a damaged file is a
        :class:`~automl_nas.errors.RunError` naming it."""
        from automl_nas.records.schema import RunResult

        if not self.result_file.exists():
            return None
        try:
            raw = json.loads(self.result_file.read_text(encoding="utf-8"))
            return RunResult.from_json(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise RunError(f"{self.result_file}: not a readable result record ({type(exc).__name__}: {exc})",
                           hint="the file was cut or edited; the epoch records in metrics.jsonl are intact, "
                                f"and `automl run --resume {self.path}` rewrites it when a checkpoint exists") from None


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
    return out


def environment(device: str, seed: int, dataset: str, source: str = "") -> dict:
    import platform
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("automl-nas") or name in ("torch", "torchvision", "numpy", "pluggy", "attrs", "cattrs", "ray", "optuna"):
            packages[name] = dist.version
    info = {"python": platform.python_version(), "platform": platform.platform(), "packages": dict(sorted(packages.items())),
            "device": device, "seed": seed, "dataset": dataset, "dataset_source": source}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available() and device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001
        pass
    return info
