"""The records a run writes, declared: one epoch line of ``metrics.jsonl`` and ``result.json``.

This module is the only writer and reader of their JSON form. Writing goes through
``to_json()``; reading goes through ``from_json()``, which accepts every earlier
``schema_version`` (migrations run on the raw dict before structuring, each commented with
the version it upgrades from) and tolerates unknown keys, so an old reader opens a new run.

Version history:

* 1 (automl-nas 0.1, no ``schema_version`` key): the same flat keys, written as dicts.
* 2: ``schema_version`` present; ``param_free_ops``/``skip_fraction`` are ``null`` when the
  search space declares no op traits (they were a silent 0).
* 3: a non-finite number (NaN, +-inf) is written as ``null``: ``NaN`` and ``Infinity`` are not
  JSON, and strict parsers refused the whole file (:mod:`automl_nas.records.strict_json`).
  A ``null`` where a number belongs reads back as NaN, whatever the version.
"""

from __future__ import annotations

from typing import Any

import attrs

from automl_nas.records.strict_json import nan_if_none

__all__ = ["EPOCH_NUMBERS", "SCHEMA_VERSION", "ArchSnapshot", "EpochRecord", "ExpectedCheck", "RunResult"]

SCHEMA_VERSION = 3

# Keys of the flat epoch line that are not sampler status scalars (their order is the file's).
_EPOCH_HEAD = ("epoch", "lr", "train_loss", "train_acc", "arch_loss", "valid_acc", "child_valid_acc")
_EPOCH_TAIL = ("genotype", "param_free_ops", "skip_fraction")
_EPOCH_END = ("edge_entropy", "hessian_eigenvalue", "eval", "epoch_time_s", "schema_version")
_ENTROPY = "entropy_"
#: The numbers every epoch record may hold at its top level, whatever the sampler (a study's
#: pruner reads one of them, a sampler status key or a dotted ``eval.NAME``).
EPOCH_NUMBERS = ("epoch", "lr", "train_loss", "train_acc", "arch_loss", "valid_acc", "child_valid_acc",
                 "param_free_ops", "skip_fraction", "epoch_time_s", "hessian_eigenvalue")


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    raw = dict(raw)
    # from 1: no version key; the keys are the same.
    raw.setdefault("schema_version", 1)
    return raw


@attrs.frozen(kw_only=True)
class EpochRecord:
    """One search epoch: losses, accuracies, the epoch's genotype and collapse diagnostics.

    JSON form: flat, ``sampler_status`` scalars (``temperature``, ``stage``) at the top level
    and each group's mean edge entropy as ``entropy_<group>``.
    """

    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    valid_acc: float
    genotype: str
    epoch_time_s: float
    arch_loss: float | None = None  # bilevel searches only
    child_valid_acc: float | None = None
    sampler_status: dict[str, float] = attrs.field(factory=dict)
    param_free_ops: int | None = None  # None: the space declares no op traits
    skip_fraction: float | None = None
    entropy: dict[str, float] = attrs.field(factory=dict)  # group -> mean edge entropy
    edge_entropy: dict[str, list[float]] = attrs.field(factory=dict)
    hessian_eigenvalue: float | None = None
    eval: dict[str, float] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _EPOCH_HEAD:
            value = getattr(self, key)
            if value is not None or key in ("epoch", "lr", "valid_acc"):
                out[key] = value
        clash = set(self.sampler_status) & set(attrs.fields_dict(EpochRecord))
        if clash:
            raise ValueError(f"sampler status keys {sorted(clash)} clash with epoch-record fields")
        out.update(self.sampler_status)
        for key in _EPOCH_TAIL:
            out[key] = getattr(self, key)
        out.update({f"{_ENTROPY}{g}": v for g, v in self.entropy.items()})
        for key in _EPOCH_END:
            value = getattr(self, key)
            if value is not None or key in ("epoch_time_s", "schema_version", "edge_entropy"):
                out[key] = value
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EpochRecord:
        raw = _upgrade(raw)
        known = attrs.fields_dict(cls)
        kwargs: dict[str, Any] = {k: raw[k] for k in _EPOCH_HEAD + _EPOCH_TAIL + _EPOCH_END if k in raw}
        for key in ("lr", "train_loss", "train_acc", "valid_acc"):  # absent, or null when not finite (version 3)
            kwargs[key] = nan_if_none(kwargs.get(key))
        kwargs["epoch_time_s"] = nan_if_none(kwargs.get("epoch_time_s", 0.0))
        if isinstance(kwargs.get("eval"), dict):
            kwargs["eval"] = {k: nan_if_none(v) for k, v in kwargs["eval"].items()}
        kwargs.setdefault("genotype", "")
        kwargs["entropy"] = {k[len(_ENTROPY):]: nan_if_none(v) for k, v in raw.items() if k.startswith(_ENTROPY)}
        # Every other scalar is sampler status (tolerant: unknown non-scalars are dropped).
        kwargs["sampler_status"] = {k: v for k, v in raw.items() if k not in known and not k.startswith(_ENTROPY)
                                    and isinstance(v, (int, float)) and not isinstance(v, bool)}
        return cls(**kwargs)


@attrs.frozen(kw_only=True)
class ExpectedCheck:
    """The recipe's ``[expected]`` band next to this run's value."""

    metric: str
    paper: float
    low: float
    high: float
    source: str
    ours: float | None
    inside: bool | None  # None: the evaluator did not report the metric, or the protocol was changed
    changed: list[str] | None = None  # the protocol keys the run changed from its recipe file (no verdict then)


@attrs.frozen(kw_only=True)
class RunResult:
    """``result.json``: how a run ended and what it found.

    ``status`` is ``finished``, ``interrupted`` or ``failed``; on a failure ``error`` says
    why and ``genotype`` is the last epoch's (kept for ``automl eval RUN_DIR``).
    """

    recipe: str
    space: str
    sampler: str
    dataset: str
    seed: int
    status: str = "running"
    genotype: str | None = None
    epochs: int | None = None
    epochs_done: int | None = None
    search_time_s: float | None = None
    wall_time_s: float | None = None
    last_epoch: dict[str, Any] | None = None  # the last EpochRecord's JSON form
    metrics: dict[str, float] | None = None
    costs: dict[str, float] | None = None
    expected: ExpectedCheck | None = None
    error: str | None = None
    eval_error: str | None = None  # the search finished but its final evaluation failed (issue 13)
    eval_retry: str | None = None  # the command that re-scores the kept genotype
    eval_record: str | None = None  # the `automl eval` record whose metrics completed a failed evaluation
    scored_in: str | None = None  # rank R > 0 of a torchrun search: rank 0's run directory, which has the metrics
    primary_metric: str | None = None  # the evaluator's first declared metric, which ranks runs of one recipe
    primary_higher_is_better: bool | None = None  # its direction
    run_dir: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in attrs.asdict(self, recurse=True).items() if v is not None}
        out.setdefault("genotype", None)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RunResult:
        raw = _upgrade(raw)
        names = attrs.fields_dict(cls)
        kwargs = {k: v for k, v in raw.items() if k in names}  # tolerant: newer keys are ignored
        for key in ("recipe", "space", "sampler", "dataset"):
            kwargs.setdefault(key, "")
        kwargs.setdefault("seed", 0)
        for key in ("metrics", "costs"):  # a null value was not finite (version 3)
            table = kwargs.get(key)
            if table is None:
                continue
            if not isinstance(table, dict):
                raise TypeError(f"{key} is {type(table).__name__} {table!r}, not a table")
            wrong = next(((k, v) for k, v in table.items()
                          if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))), None)
            if wrong is not None:  # an edit: show and the batch statistics compared it with numbers
                raise ValueError(f"{key}.{wrong[0]} is {wrong[1]!r}, not a number")
            kwargs[key] = {k: nan_if_none(v) for k, v in table.items()}
        if isinstance(kwargs.get("expected"), dict):
            exp = kwargs["expected"]
            kwargs["expected"] = ExpectedCheck(**{k: exp.get(k) for k in attrs.fields_dict(ExpectedCheck)})
        return cls(**kwargs)


@attrs.frozen(kw_only=True)
class ArchSnapshot:
    """One line of ``arch_history.jsonl``: the architecture parameters and the sampler's
    probabilities after an epoch, one ``E x K`` matrix (edges x ops) per group.

    The engine writes the line as ``{"epoch", "params", "probs"}`` (no version key: the
    layout has not changed since 0.1); reading tolerates unknown keys.
    """

    epoch: int
    params: dict[str, list[list[float]]] = attrs.field(factory=dict)
    probs: dict[str, list[list[float]]] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "params": self.params, "probs": self.probs}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ArchSnapshot:
        return cls(epoch=int(raw["epoch"]), params=dict(raw.get("params") or {}), probs=dict(raw.get("probs") or {}))
