"""Per-op cost tables: the latency table of ``automl profile-ops``, and what an architecture costs.

A per-op table maps each architecture group to a ``(cells, E, K)`` tensor: the cost of op
``k`` on edge ``e`` of the group's ``c``-th cell. ``SearchSpace.op_costs`` gives such tables
for ``params``/``flops``/``mac``; a latency table gives one for ``latency`` (milliseconds).
:func:`expected_cost` and :func:`genotype_cost` work the same way for all of them.

Latency table format (JSON, written by ``automl profile-ops``; one file per space
configuration, input size and device)::

    {
      "format": "automl-nas/latency-table", "version": 1, "unit": "ms",
      "space": "nb201",
      "options": {"channels": 16, ...},        # the space's options, to regenerate it
      "fingerprint": {"name": "nb201", ...},   # space.fingerprint(); must equal the run's
      "inputs": {"channels": 3, "height": 32, "width": 32},
      "measured": {"device": "cpu", "device_name": "...", "torch": "2.5.1", "threads": 1,
                   "batch": 64, "repeats": 20, "warmup": 5, "backward": false, "created": "..."},
      "groups": {"cell": {"ops": [...K names], "edges": [...E labels], "cells": 15,
                          "latency_ms": [[[t_cek for k] for e] for c]}},
      "summary": {"cell": {"nor_conv_3x3": {"mean_ms": ..., "min_ms": ..., "max_ms": ...}, ...}}
    }

``latency_ms[c][e][k]`` is the median wall time of one call of op ``k`` at that position
for a batch of ``measured.batch`` images (forward, plus backward when ``measured.backward``).

An objective that reads a latency table implements ``Objective.check_run`` with
:meth:`LatencyTable.check_space`, so a table of another space is refused before the first
step with the recipe key and the command that regenerates it. Nothing here imports torch
at module level (``automl validate`` reads tables without it).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from automl_nas.errors import RecipeError, missing_file
from automl_nas.records.rundir import replace_atomically

if TYPE_CHECKING:
    import torch

    from automl_nas.api.space import InputSpec, SearchSpace

__all__ = [
    "FORMAT",
    "LatencyTable",
    "GroupLatency",
    "expected_cost",
    "genotype_cost",
    "load_latency_table",
    "measured_costs",
    "network_costs",
    "read_latency_table",
    "plain_data",
    "regenerate_command",
    "space_options",
]

FORMAT = "automl-nas/latency-table"
VERSION = 1
_INPUT_KEYS = ("channels", "height", "width")


@attrs.frozen(kw_only=True)
class GroupLatency:
    """One group's latencies: ``latency_ms[cell][edge][op]``."""

    ops: tuple[str, ...]
    edges: tuple[str, ...]
    cells: int
    latency_ms: tuple  # nested tuples, shape (cells, E, K)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.cells, len(self.edges), len(self.ops))


@attrs.frozen(kw_only=True)
class LatencyTable:
    """A loaded latency table (see the module docstring for the file format)."""

    path: str
    space: str
    fingerprint: dict
    inputs: dict
    groups: dict  # name -> GroupLatency, in the space's group order
    options: dict = attrs.field(factory=dict)
    measured: dict = attrs.field(factory=dict)
    summary: dict = attrs.field(factory=dict)

    def tensors(self, *, dtype: Any = None, device: Any = None) -> dict[str, torch.Tensor]:
        """``{group: tensor (cells, E, K)}`` in milliseconds."""
        import torch

        dtype = dtype or torch.get_default_dtype()
        return {name: torch.tensor(g.latency_ms, dtype=dtype, device=device) for name, g in self.groups.items()}

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "unit": "ms", "space": self.space, "options": self.options,
            "fingerprint": self.fingerprint, "inputs": self.inputs, "measured": self.measured,
            "groups": {name: {"ops": list(g.ops), "edges": list(g.edges), "cells": g.cells,
                              "latency_ms": [[list(row) for row in cell] for cell in g.latency_ms]}
                       for name, g in self.groups.items()},
            "summary": self.summary,
        }

    def save(self, path: str | Path) -> None:
        """Write the table as JSON (atomically: a half-written table never replaces a good one)."""
        replace_atomically(Path(path), _dump(self.to_json()).encode("utf-8"))

    # ---- checks against the run ----

    def check_shapes(self, shapes: dict[str, tuple[int, ...]], *, key: str, regen: str | None = None) -> None:
        """Refuse the table unless it has exactly ``shapes`` (``{group: (cells, E, K)}``)."""
        ours = {name: g.shape for name, g in self.groups.items()}
        if set(ours) != set(shapes) or any(tuple(shapes[n]) != s for n, s in ours.items()):
            self._refuse(key, f"has groups {_shapes_text(ours)} but the search space has {_shapes_text(shapes)}", regen)

    def check_space(self, space: SearchSpace, inputs: InputSpec, *, key: str) -> None:
        """Refuse the table unless it was measured for this space configuration and input size."""
        # A table made by another tool (not `automl profile-ops`, which needs op_modules) says how.
        made_by = self.measured.get("regenerate") if isinstance(self.measured, dict) else None
        regen = (made_by.replace("{out}", self.path) if isinstance(made_by, str)
                 else regenerate_command(space.name, space_options(space), inputs, self.path))
        if self.space != space.name:
            self._refuse(key, f"was measured for search space {self.space!r}, not {space.name!r}", regen)
        theirs = plain_data(space.fingerprint())
        if self.fingerprint != theirs:
            diff = sorted(set(self.fingerprint) | set(theirs))
            diff = [k for k in diff if self.fingerprint.get(k) != theirs.get(k)]
            detail = ", ".join(f"{k} (table {self.fingerprint.get(k)!r}, run {theirs.get(k)!r})" for k in diff)
            self._refuse(key, f"was measured for another {space.name} configuration: {detail}", regen)
        run_inputs = {k: getattr(inputs, k) for k in _INPUT_KEYS}
        if self.inputs != run_inputs:
            self._refuse(key, f"was measured for {_input_text(self.inputs)} images, the run's data are "
                              f"{_input_text(run_inputs)}", regen)
        groups = {g.name: (g.cells, len(g.edges), len(g.ops)) for g in space.groups()}
        self.check_shapes(groups, key=key, regen=regen)
        for g in space.groups():
            mine = self.groups[g.name]
            if mine.ops != tuple(g.ops) or mine.edges != tuple(g.edges):
                self._refuse(key, f"group {g.name!r} lists ops {list(mine.ops)} / edges {list(mine.edges)}, the space "
                                  f"{list(g.ops)} / {list(g.edges)}", regen)

    def device_note(self, device: str, name: str, *, key: str) -> str | None:
        """A line for a run on ``device`` (``name``: its GPU or CPU model) when the table was timed
        on another kind of device or another model, else ``None``. Not a refusal: a table from the
        deployment device is the point of a latency term, but a user who meant this machine's
        should hear that the times are another device's. A table without ``measured.device``
        (e.g. fitted to a benchmark's measurements) says nothing to compare."""
        theirs = self.measured.get("device") if isinstance(self.measured, dict) else None
        if not isinstance(theirs, str):
            return None
        their_name = self.measured.get("device_name")
        kind, their_kind = device.split(":", 1)[0], theirs.split(":", 1)[0]
        if kind == their_kind and (not isinstance(their_name, str) or their_name == name):
            return None
        timed = f"{theirs} ({their_name})" if isinstance(their_name, str) else theirs
        # the command that measured this table (its space options and input size: the run's, as
        # check_space found), on this run's device; a bare one was refused for its other options
        again = regenerate_command(self.space, self.options, self.inputs, "FILE") + f" --device {kind}"
        return (f"{key}: latency table {self.path} was timed on {timed}; this run is on {device} ({name}), so the "
                f"latency term weighs the ops as that device times them (measure this device's with `{again}` if "
                f"that is not the intent)")

    def _refuse(self, key: str, what: str, regen: str | None = None) -> None:
        cmd = regen or f"automl profile-ops {self.space} [--set space.KEY=VALUE ...] --out {self.path}"
        raise RecipeError(f"{key}: latency table {self.path} {what}",
                          hint=f"regenerate it for this run's space with `{cmd}`, or point {key.rsplit(': ', 1)[-1]} at a matching table")


# ---------------------------------------------------------------- loading


def read_latency_table(path: str | Path) -> LatencyTable:
    """Read and validate a latency table; ``ValueError`` says what is wrong with the file."""
    path = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"latency table {missing_file(path)}") from None
    except OSError as exc:
        raise ValueError(f"latency table {path} cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"latency table {path} is not valid JSON ({exc})") from None
    try:
        return _from_json(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"latency table {path} is malformed: {detail}") from None


def load_latency_table(path: str | Path, *, key: str) -> LatencyTable:
    """:func:`read_latency_table` with a :class:`RecipeError` naming the recipe ``key``."""
    try:
        return read_latency_table(path)
    except ValueError as exc:
        raise RecipeError(f"{key}: {exc}", hint=f"create it with `automl profile-ops SPACE [--set space.KEY=VALUE ...] "
                                                 f"--out {path}` for the run's space") from None


def _from_json(data: Any, path: str) -> LatencyTable:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not an automl-nas latency table (expected \"format\": {FORMAT!r})")
    if data.get("version") != VERSION or data.get("unit") != "ms":
        raise ValueError(f"version {data.get('version')!r} / unit {data.get('unit')!r} is not version {VERSION} in ms")
    inputs = data["inputs"]
    if not isinstance(inputs, dict) or set(inputs) != set(_INPUT_KEYS) or not all(isinstance(inputs[k], int) for k in _INPUT_KEYS):
        raise ValueError(f"inputs must be {{channels, height, width}} integers, got {inputs!r}")
    if not isinstance(data["fingerprint"], dict) or not isinstance(data["space"], str):
        raise ValueError("space must be a name and fingerprint an object")
    raw_groups = data["groups"]
    if not isinstance(raw_groups, dict) or not raw_groups:
        raise ValueError("groups must be a non-empty object")
    groups = {name: _group(name, g) for name, g in raw_groups.items()}
    return LatencyTable(path=path, space=data["space"], fingerprint=data["fingerprint"], inputs=dict(inputs),
                        groups=groups, options=data.get("options", {}), measured=data.get("measured", {}),
                        summary=data.get("summary", {}))


def _group(name: str, g: dict) -> GroupLatency:
    ops, edges, cells = tuple(g["ops"]), tuple(g["edges"]), g["cells"]
    if not ops or not edges or not isinstance(cells, int) or cells < 1:
        raise ValueError(f"group {name!r} needs non-empty ops and edges and cells >= 1")
    values = g["latency_ms"]
    shape = (cells, len(edges), len(ops))
    ok = (isinstance(values, list) and len(values) == cells
          and all(isinstance(c, list) and len(c) == shape[1] and all(isinstance(r, list) and len(r) == shape[2] for r in c)
                  for c in values))
    if not ok:
        raise ValueError(f"group {name!r}: latency_ms must have shape (cells, edges, ops) = {shape}")
    flat = [v for c in values for r in c for v in r]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in flat):
        raise ValueError(f"group {name!r}: latency_ms must hold finite non-negative numbers")
    return GroupLatency(ops=ops, edges=edges, cells=cells,
                        latency_ms=tuple(tuple(tuple(float(v) for v in r) for r in c) for c in values))


# ---------------------------------------------------------------- helpers


def space_options(space: Any) -> dict:
    """The space's options as plain data (its attrs ``config``), else its fingerprint without the name."""
    config = getattr(space, "config", None)
    if config is not None and attrs.has(type(config)):
        return plain_data(attrs.asdict(config))
    return {k: v for k, v in plain_data(space.fingerprint()).items() if k != "name"}


def regenerate_command(space_name: str, options: dict, inputs: Any, out: str | Path) -> str:
    """The ``automl profile-ops`` command line that measures a table for these options and inputs."""
    sets = " ".join(f"--set space.{k}={_toml_literal(v)}" for k, v in options.items())
    shape = "x".join(str(getattr(inputs, k) if not isinstance(inputs, dict) else inputs[k]) for k in _INPUT_KEYS)
    return " ".join(part for part in ("automl profile-ops", space_name, sets, f"--input {shape}", f"--out {out}") if part)


def _dump(data: dict) -> str:
    """Indented JSON with every flat list on one line (a latency row per line, not a number per line)."""
    text = json.dumps(data, indent=1)

    def one_line(match: re.Match) -> str:
        try:
            return json.dumps(json.loads(match.group(0)))
        except json.JSONDecodeError:  # brackets inside a string ("[--set KEY=VALUE]"), not a list
            return match.group(0)

    return re.sub(r"\[[^\[\]{}]*\]", one_line, text) + "\n"


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_toml_literal(v) for v in value) + "]"
    return str(value)


def plain_data(value: Any) -> Any:
    """What ``value`` becomes after a JSON round trip (tuples -> lists), for comparisons."""
    return json.loads(json.dumps(value, default=str))


def _shapes_text(shapes: dict) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items()) or "(none)"


def _input_text(inputs: dict) -> str:
    return f"{inputs['channels']}x{inputs['height']}x{inputs['width']}"


def expected_cost(table: dict[str, torch.Tensor], probs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Expected cost of the architecture distribution ``probs`` (``{group: (E, K)}``, rows on the simplex).

    ``sum over groups, cells, edges, ops of probs[g][e, k] * table[g][c, e, k]``: every cell
    of a group shares the group's distribution. Differentiable in ``probs``.

    Example:
        >>> import torch
        >>> expected_cost({"cell": torch.tensor([[[1.0, 3.0]]])}, {"cell": torch.tensor([[0.5, 0.5]])})
        tensor(2.)
    """
    import torch

    def one(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(t.dtype, p.dtype)  # never round a float64 table to float32
        return (t.to(device=p.device, dtype=dtype) * p.to(dtype).unsqueeze(0)).sum()

    return sum(one(table[g], p) for g, p in probs.items())


def genotype_cost(table: dict[str, torch.Tensor], choices: dict[str, torch.Tensor]) -> float:
    """Exact cost of a genotype: :func:`expected_cost` of ``space.genotype_choices(genotype)``."""
    return float(expected_cost(table, choices))


def measured_costs(net: Any, inputs: InputSpec) -> dict[str, float]:
    """``params`` and ``flops`` (multiply-adds per image) of a built network, measured: the
    parameters outside an ``auxiliary*`` head, and half the FLOPs torch's ``FlopCounterMode``
    counts in one eval-mode forward of one image. For spaces without a cost model
    (``SearchSpace.genotype_costs`` raises ``NotImplementedError``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for name, p in net.named_parameters() if not name.startswith("auxiliary"))
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, inputs.channels, inputs.height, inputs.width, device=device))
    finally:
        net.train(was_training)
    return {"params": float(params), "flops": float(counter.get_total_flops() / 2)}


def network_costs(space: Any, genotype: Any, inputs: InputSpec, net: Any) -> dict[str, float]:
    """What ``genotype``'s network costs: the space's cost model (``SearchSpace.genotype_costs``),
    else ``net`` (the built network) measured by :func:`measured_costs`."""
    try:
        return space.genotype_costs(genotype, inputs)
    except NotImplementedError:
        return measured_costs(net, inputs)
