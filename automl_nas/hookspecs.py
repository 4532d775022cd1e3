"""The automl-nas plugin contract: every hook a plugin may implement.

Two kinds of hooks, never mixed (see ``CONTRIBUTING.md``):

* *contribution* hooks return a list of :class:`automl_nas.registry.Component`
  descriptors; the host gathers them into a :class:`~automl_nas.registry.Registry`
  keyed by ``(kind, name)``. Registration is cheap: a descriptor names its
  implementation as ``"module:attr"`` and nothing heavy is imported until a
  component is built.
* *lifecycle* hooks observe a run and return ``None``.

``automl_parse_genotype`` is the one ``firstresult`` question hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from automl_nas.api.arch import Genotype
    from automl_nas.api.run import RunContext
    from automl_nas.records.schema import EpochRecord, RunResult
    from automl_nas.records.trial import TrialSpec
    from automl_nas.registry import Component

PROJECT = "automl_nas"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Contribution hooks: one per component kind.
# --------------------------------------------------------------------------


@hookspec
def automl_register_search_spaces() -> list[Component]:
    """Contribute search spaces.

    **Called:** whenever a registry is built: once per command (``automl plugins``,
    ``automl validate``, ``automl run``), and once more in each trial of a seed batch or
    study (a trial builds its own). Keep it cheap and free of side effects.

    **Returns:** a list of ``Component(kind="search_space", ...)`` whose
    ``impl`` builds an :class:`automl_nas.api.SearchSpace` from its config.
    Must not import torch.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_samplers() -> list[Component]:
    """Contribute one-shot architecture distributions (samplers).

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="sampler", ...)`` whose ``impl``
    builds an :class:`automl_nas.api.Sampler`.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_proposers() -> list[Component]:
    """Contribute black-box proposers (ask/tell architecture search).

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="proposer", ...)`` whose ``impl``
    builds an :class:`automl_nas.api.Proposer`.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_objectives() -> list[Component]:
    """Contribute loss terms (task losses and resource-aware penalties).

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="objective", ...)`` whose ``impl``
    builds an :class:`automl_nas.api.Objective`. A recipe combines several,
    each with a ``weight``.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_evaluators() -> list[Component]:
    """Contribute evaluators (genotype -> metrics).

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="evaluator", ...)`` whose ``impl``
    builds an :class:`automl_nas.api.Evaluator`.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_datasets() -> list[Component]:
    """Contribute data sets.

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="dataset", ...)`` whose ``impl``
    builds an :class:`automl_nas.api.DatasetProvider`.

    .. versionadded:: 0.1
    """


@hookspec
def automl_register_benchmarks() -> list[Component]:
    """Contribute benchmark tables for the store (``automl bench list/import/fetch``).

    **Called:** whenever a registry is built (once per command, and per trial); ``automl bench`` lists every
    table contributed here, installed or not.

    **Returns:** a list of ``Component(kind="benchmark", ...)`` whose ``impl``
    builds (without arguments) an :class:`automl_nas.benchstore.BenchmarkTable`:
    its name, how to get it, and the importer that writes it into the store.
    Must not import torch.

    .. versionadded:: 0.2
    """


@hookspec
def automl_register_trackers() -> list[Component]:
    """Contribute experiment trackers (TensorBoard, W&B, MLflow, ...).

    **Called:** whenever a registry is built (once per command, and per trial).

    **Returns:** a list of ``Component(kind="tracker", ...)`` whose ``impl`` builds an
    :class:`automl_nas.api.Tracker`. A tracker does nothing until a recipe selects it by
    name (``[run] trackers = ["tensorboard"]`` or ``automl run --tracker NAME``); the
    session then builds it for that run only and feeds it the lifecycle hooks through a
    guard, so a tracker that fails warns once and never stops the search.

    .. versionadded:: 0.2
    """


# --------------------------------------------------------------------------
# Input hooks.
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def automl_parse_genotype(text: str) -> Genotype | None:
    """Recognise a genotype written as text (for ``automl eval`` / ``export``).

    **Called:** when the user passes a genotype string without naming its
    space; implementations are tried until one answers.

    :param text: the user's text, e.g. ``|nor_conv_3x3~0|+|...|``.

    **Returns:** a :class:`automl_nas.api.Genotype`, or ``None`` if the text is
    not in this plugin's format. Stops at the first non-None result, whose
    ``space`` names the space and whose ``text`` is what is evaluated or
    exported (so a plugin may accept another spelling and answer with the
    canonical one). An implementation that raises, or returns anything else,
    is reported as a plugin error naming it.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------
# Lifecycle hooks: observe and return None.
# --------------------------------------------------------------------------


@hookspec
def automl_run_start(run: RunContext) -> None:
    """A run is about to start searching.

    **Called:** once per run, after the components are built and the run
    directory exists, before the first epoch (also after ``--resume``, with
    ``run.start_epoch`` the first epoch still to run).

    :param run: the declared run context (:class:`automl_nas.api.RunContext`):
        what a plugin may read, and the named changes it may make.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``run`` is the declared :class:`automl_nas.api.RunContext`.
    """


@hookspec
def automl_step_end(run: RunContext, epoch: int, step: int, metrics: dict[str, Any]) -> None:
    """One search step (weight step plus architecture step) finished.

    **Called:** after every step; keep implementations cheap.

    :param run: the run context.
    :param epoch: 0-based epoch.
    :param step: 0-based step within the epoch.
    :param metrics: plain floats: ``loss``, ``acc`` (fraction), ``lr``, ``steps`` (per epoch).

    .. versionadded:: 0.1
    """


@hookspec
def automl_epoch_end(run: RunContext, epoch: int, metrics: dict[str, Any], record: EpochRecord) -> None:
    """One search epoch finished.

    **Called:** once per epoch, after the genotype of the epoch was derived and
    the record was appended to ``metrics.jsonl`` (and the checkpoint written).

    :param run: the run context.
    :param epoch: 0-based epoch.
    :param metrics: the record's JSON line, as written to ``metrics.jsonl``.
    :param record: the same record, typed (:class:`automl_nas.records.EpochRecord`).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``record`` added.
    """


@hookspec
def automl_run_end(run: RunContext, result: dict[str, Any], record: RunResult) -> None:
    """A run ended (finished, interrupted or failed).

    **Called:** once per run, after ``result.json`` was written.

    :param run: the run context.
    :param result: the content of ``result.json`` (``status`` tells how it ended).
    :param record: the same result, typed (:class:`automl_nas.records.RunResult`).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``record`` added.
    """


@hookspec
def automl_trial_end(trial: TrialSpec, result: dict[str, Any]) -> None:
    """A trial of a multi-seed run or a study ended (driver side).

    **Called:** in the driver process, once per trial, when its result arrives.

    :param trial: the :class:`automl_nas.records.TrialSpec` that ran.
    :param result: the trial's ``result.json`` plus ``status``, ``run_dir``, ``seed``,
        ``trial`` and ``attempts``.

    .. versionadded:: 0.1
    """
