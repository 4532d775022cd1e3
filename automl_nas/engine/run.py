"""The one-shot search loop. It knows no method and no space: samplers, objectives, the
space and the evaluator come from plugins; lifecycle hooks report progress.

Per epoch (spec §3): schedules move, then for each step a weight step on a
train batch and an architecture step on an arch batch (order from the recipe;
single-level methods do both from one batch), then the validation pass, the genotype
is derived, diagnostics are computed, the record is appended and a checkpoint written.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import sys
import time
from typing import Any, ContextManager, Iterator

import attrs
import torch
from torch import nn

from automl_nas.api.arch import Genotype
from automl_nas.api.evaluator import EvalContext
from automl_nas.api.objective import LossContext
from automl_nas.api.run import RunContext
from automl_nas.api.sampler import StructureChanging, ValidationObserver, child_samples, updates_arch
from automl_nas.api.space import InputSpec
from automl_nas.api.dataset import GraphSet
from automl_nas.data import BatchLoader, GraphLoader, graph_search_split, search_split
from automl_nas.determinism import deterministic_kernels
from automl_nas.devices import resolve_device, set_threads
from automl_nas.engine import checkpoint as ckpt
from automl_nas.engine.compile_watch import GraphWatch
from automl_nas.engine.diagnostics import collapse_diagnostics
from automl_nas.engine.distributed import World, join_from_environment, leave
from automl_nas.engine.hooks import HookRelay
from automl_nas.engine.readout import StepReadout, StepValues
from automl_nas.engine.second_order import unrolled_arch_grad
from automl_nas.errors import AutomlError, RecipeError, RunError, interface_breach
from automl_nas.evaluation import check_fit, score
from automl_nas.nn.mixed_op import set_fast_paths
from automl_nas.process_state import kept_process_state
from automl_nas.readback import lag_for
from automl_nas.records.input_files import ENV_KEY, check_unchanged, input_files
from automl_nas.records.rundir import RunDir, atomic_write_json, environment, rank0_path
from automl_nas.records.schema import EpochRecord, ExpectedCheck, RunResult
from automl_nas.recipe import Plan, dump_recipe
from automl_nas.schedules import Schedule

__all__ = ["Search", "execute"]


class Search:
    """Builds the components of a plan and runs (or resumes) the one-shot search.

    The engine owns the supernet, the parameters and the optimisers; plugins see them
    through the declared :class:`~automl_nas.api.RunContext` (``self.run``).
    """

    def __init__(self, plan: Plan, registry: Any, run_dir: RunDir, *, device: str, quiet: bool = False,
                 started: float | None = None) -> None:
        # This segment's start (``time.perf_counter()``); a resume adds the earlier segments' wall time.
        self.segment_started = time.perf_counter() if started is None else started
        self.earlier_wall_time = 0.0
        recipe = plan.recipe
        self.plan, self.recipe, self.registry, self.device = plan, recipe, registry, device
        self._first_sample_checked, self._objectives_checked = False, set()  # plugin returns, checked once
        self.world = World.current()  # data parallelism across processes (issue 15); size 1 otherwise
        if self.world.size > 1:  # before the data is loaded and anything is built
            self._check_ranks_run_one_recipe()
        torch.manual_seed(recipe.seed)
        set_threads(recipe.run.threads)
        self.space = plan.space.build(registry)
        self.data = plan.dataset.build(registry).load()
        self.sampler = plan.sampler.build(registry)
        self.objectives = [(r.build(registry), r.weight) for r in plan.objectives]
        self.evaluator = plan.evaluator.build(registry) if plan.evaluator else None
        if self.evaluator is not None:  # a mismatch surfaced only after the whole search
            check_fit(plan.evaluator.component, self.evaluator, self.space, self.data,
                      where=f"{plan.source}: evaluator")
        if isinstance(self.data, GraphSet):
            self._graph_loaders(device)
        else:
            self._image_loaders(device)
        for resolved, (objective, _) in zip(plan.objectives, self.objectives):
            objective.check_run(self.space, self.inputs, key=f"{plan.source}: {resolved.key}")
            self._device_note(objective, device, key=f"{plan.source}: {resolved.key}", quiet=quiet)
        self._check_every_phase_has_a_loss()
        if recipe.expected is not None and recipe.expected.changed and not quiet:
            # said after the run only: a --set data={...} table that dropped the recipe's split went unnoticed
            from automl_nas.recipe import protocol_note

            _echo(f"note: {protocol_note(recipe.expected.changed)}")
        generator = torch.Generator().manual_seed(recipe.seed)
        supernet = self.space.build_supernet(self.inputs).to(device)
        # issue 15: torch.compile traces the plain path. The fused path's autograd Functions ask the
        # running backward which gradients it wants (nn/grad_needs.py), which dynamo cannot trace: it
        # would run every cell eager behind a compiled shell, and CUDA graphs would capture nothing.
        set_fast_paths(supernet, recipe.run.fast_paths and not recipe.run.compile)
        if recipe.run.channels_last:  # issue 15: images follow in loss(); layout only, same maths
            supernet = supernet.to(memory_format=torch.channels_last)
        # issue 15: the compiled forward shares the supernet's parameters; structural changes
        # (DrNAS widening) recompile through dynamo's guards.
        # run.compile_mode = "reduce-overhead" adds CUDA graphs: the supernets of soft-weight methods are
        # static (new sample values, same graph), so one capture replays every step's launches.
        self.forward_net = torch.compile(supernet, mode=recipe.run.compile_mode) if recipe.run.compile else supernet
        self.graph_watch = GraphWatch()
        if not isinstance(self.data, GraphSet):  # each global batch splits evenly
            check_batch_splits(plan, self.world.size)
        # bf16 autocast of the forward passes (issue 8); the arch parameters and optimisers stay fp32.
        self.autocast_dtype = torch.bfloat16 if recipe.run.bf16 else None
        learnable = self.sampler.learnable
        init = self.sampler.init_params(self.space.groups(), generator)
        params = {k: nn.Parameter(v.to(device), requires_grad=learnable) for k, v in init.items()}
        self.steps = recipe.search.steps_per_epoch or len(self.train_loader)
        self.run = RunContext(
            recipe=recipe, run_dir=run_dir, device=device, supernet=supernet, params=params, generator=generator,
            num_epochs=recipe.search.epochs, steps_per_epoch=self.steps, space_name=plan.space.component.name,
            sampler_name=plan.sampler.component.name, weight_optimizer=self._weight_optimizer(supernet),
            arch_optimizer=self._arch_optimizer(params) if learnable else None,
            log=_echo if not quiet else _silent, valid_batches=self._valid_batches)
        self.costs = self._costs()
        self.lr_schedule = Schedule(kind="cosine", start=recipe.search.weights_optimizer.lr,
                                    end=recipe.search.weights_optimizer.lr_min, endpoint=False)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.search_time = 0.0

    def _check_ranks_run_one_recipe(self) -> None:
        """Every rank was given the same resolved recipe. Ranks launched with another seed ended
        with other architectures, and with another epoch count waited on each other's collectives
        until gloo's 30-minute timeout, blamed on a lost process."""
        from automl_nas.tracking.images import flat_recipe

        recipes = self.world.gather(flat_recipe(self.recipe))
        first = recipes[0]
        for rank, other in enumerate(recipes[1:], start=1):
            differ = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
            if differ:
                leave()  # every rank found the same difference: they part together (one aborted otherwise)
                shown = "; ".join(f"{k} = {first.get(k)!r} on rank 0, {other.get(k)!r} on rank {rank}" for k in differ[:3])
                more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
                raise RecipeError(f"{self.plan.source}: the {self.world.size} processes of this run were given different "
                                  f"recipes: {shown}{more}",
                                  hint="launch every rank with the same recipe, profile and --set: the ranks hold one "
                                       "architecture only when they take the same steps from the same seed")

    def wall_time(self) -> float:
        """Seconds of wall time this run has had: this segment's, plus each earlier one's up to
        the checkpoint it was resumed from."""
        return self.earlier_wall_time + time.perf_counter() - self.segment_started

    def _image_loaders(self, device: str) -> None:
        recipe, dcfg = self.recipe, self.recipe.data
        c, h, w = self.data.shape
        self.inputs = InputSpec(channels=c, height=h, width=w, num_classes=self.data.num_classes)
        with _in_recipe(self.plan.source):
            train_idx, valid_idx = search_split(self.data, mode=dcfg.split, train_fraction=dcfg.train_fraction,
                                                limit=dcfg.limit, seed=recipe.seed)
        if recipe.search.mode == "single_level":
            train_idx = torch.cat([train_idx, valid_idx])  # SNAS trains both on the whole training set
        _check_batch("data.batch_size", dcfg.batch_size, len(train_idx), "weight", self.plan.source)
        if recipe.search.mode == "bilevel":
            _check_batch("data.arch_batch_size" if dcfg.arch_batch_size else "data.batch_size",
                         dcfg.arch_batch_size or dcfg.batch_size, len(valid_idx), "architecture", self.plan.source)
        # issue 15: the (uint8) images move to the device once, so no step copies from the host;
        # on a CPU run .to() returns the same tensors.
        resident = {"images": self.data.train_x.to(device), "labels": self.data.train_y.to(device)}
        self.train_loader = BatchLoader(self.data, train_idx, batch_size=dcfg.batch_size, seed=recipe.seed,
                                        device=device, augment=dcfg.augment, **resident)
        self.arch_loader = BatchLoader(self.data, valid_idx, batch_size=dcfg.arch_batch_size or dcfg.batch_size,
                                       seed=recipe.seed + 1, device=device, augment=dcfg.augment, **resident)
        self.valid_loader = BatchLoader(self.data, valid_idx, batch_size=dcfg.eval_batch_size, seed=recipe.seed,
                                        device=device, augment=False, shuffle=False, drop_last=False, **resident)

    def _graph_loaders(self, device: str) -> None:
        """One graph (issue 17): full-batch steps on node splits; the space's networks take a
        :class:`~automl_nas.api.GraphBatch` and ``InputSpec.channels`` is the node-feature width."""
        recipe, dcfg = self.recipe, self.recipe.data
        if dcfg.limit:
            raise RecipeError(f"{self.plan.source}: data.limit = {dcfg.limit}: data set {self.data.name!r} is a graph, searched whole "
                              f"(full-batch steps on its node splits)", hint="remove data.limit")
        if recipe.run.channels_last:  # an image layout: a graph batch has none
            raise RecipeError(f"{self.plan.source}: run.channels_last = true: data set {self.data.name!r} is a graph, not images",
                              hint="remove run.channels_last")
        self.inputs = InputSpec(channels=self.data.num_features, height=1, width=1, num_classes=self.data.num_classes)
        with _in_recipe(self.plan.source):
            train_idx, valid_idx = graph_search_split(self.data, mode=dcfg.split, train_fraction=dcfg.train_fraction,
                                                      seed=recipe.seed)
        if recipe.search.mode == "single_level":
            train_idx = torch.cat([train_idx, valid_idx])
        self.train_loader = GraphLoader(self.data, train_idx, device=device)
        self.arch_loader = GraphLoader(self.data, valid_idx, device=device)
        self.valid_loader = self.arch_loader

    @staticmethod
    def _device_note(objective: Any, device: str, *, key: str, quiet: bool) -> None:
        note = getattr(objective, "device_note", None)  # absent from objectives written before it
        if note is None:
            return
        from automl_nas.profiling import device_name

        line = note(device, device_name(device), key=key)
        if line:
            (_silent if quiet else _echo)(f"warning: {line}")

    def _check_every_phase_has_a_loss(self) -> None:
        """Each kind of step the run makes needs an objective that contributes to it: without one
        the step had no loss to differentiate (an internal error at the first step)."""
        scfg = self.recipe.search
        if scfg.mode == "single_level":
            phases = ("single",)
        else:
            phases = ("weights", "arch") if self.sampler.learnable else ("weights",)
        names = [objective.name for objective, _ in self.objectives]
        listed = f"the objectives are {names}" if names else "the list is empty"
        for phase in phases:
            if not any(phase in objective.phases for objective, _ in self.objectives):
                raise RecipeError(f"{self.plan.source}: search.objectives: no objective contributes to the {phase} "
                                  f"step ({listed})",
                                  hint="add the task loss: search.objectives = [{ name = \"cross_entropy\" }, ...]")

    def _weight_optimizer(self, supernet: nn.Module) -> torch.optim.Optimizer:
        wcfg = self.recipe.search.weights_optimizer
        return torch.optim.SGD(supernet.parameters(), lr=wcfg.lr, momentum=wcfg.momentum,
                               nesterov=wcfg.nesterov and wcfg.momentum > 0, weight_decay=wcfg.weight_decay)

    def _arch_optimizer(self, params: dict[str, nn.Parameter]) -> torch.optim.Optimizer:
        acfg = self.recipe.search.arch_optimizer
        if acfg.name == "adam":
            return torch.optim.Adam(params.values(), lr=acfg.lr, betas=tuple(acfg.betas), weight_decay=acfg.weight_decay)
        return torch.optim.SGD(params.values(), lr=acfg.lr, momentum=acfg.momentum, weight_decay=acfg.weight_decay)

    def _valid_batch_count(self) -> int:
        limit = self.recipe.search.valid_batches
        return min(len(self.valid_loader), limit) if limit else len(self.valid_loader)

    def _valid_batches(self):
        yield from itertools.islice(self.valid_loader.epoch(0), self._valid_batch_count())

    def _costs(self) -> dict:
        try:
            costs = self.space.op_costs(self.inputs)
        except NotImplementedError:
            return {}
        return {g: {m: t.to(self.device) for m, t in table.items()} for g, table in costs.items()}

    # ------------------------------------------------------------------ steps

    def loss(self, phase: str, x: torch.Tensor, y: torch.Tensor, *, arch_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The phase's total loss, its logits and the sample; ``arch_grad=False`` keeps the
        sample out of the graph when no gradient w.r.t. the arch parameters will be taken."""
        run = self.run
        params = run.params if arch_grad else {k: v.detach() for k, v in run.params.items()}
        sample = self.sampler.sample(params, phase="weights" if phase == "single" else phase)
        if not self._first_sample_checked:  # once: a wrong sample surfaced as the space's error, far away
            self._check_sample(sample)
        if self.compiled and _picks_ops(sample):
            self._run_eager()
        if self.recipe.run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = self.forward_net(x, sample)
        if self.compiled and (note := self.graph_watch.after_call()):
            self._note(note)
        logits, aux = (out if isinstance(out, tuple) else (out, None))
        logits, aux = logits.float(), (aux.float() if aux is not None else None)  # losses in fp32 under bf16
        ctx = LossContext(phase=phase, logits=logits, targets=y, params=run.params, sample=sample,
                          sampler=self.sampler, costs=self.costs, aux_logits=aux)
        total = None
        for index, (objective, weight) in enumerate(self.objectives):
            if phase in objective.phases:
                value = objective(ctx)
                if index not in self._objectives_checked:  # once each: a float added no gradient, silently
                    self._check_term(index, value)
                term = weight * value
                total = term if total is None else total + term
        if phase in ("arch", "single"):
            reg = self.sampler.regularizer(run.params)
            if reg is not None:
                total = total + reg
        return total, logits, sample

    def _check_sample(self, sample: Any) -> None:
        """The sampler's first sample has the space's groups, each an :class:`EdgeWeights` of
        ``(edges, ops)`` weights (shapes are host metadata: no device read)."""
        from automl_nas.api import EdgeWeights

        groups = {g.name: (len(g.edges), len(g.ops)) for g in self.space.groups()}
        if not isinstance(sample, dict):
            problem = f"sample() returned {type(sample).__name__}, not {{group: EdgeWeights}}"
        elif set(sample) != set(groups):
            problem = f"sample() returned the groups {sorted(sample)}, the space has {sorted(groups)}"
        else:
            problem = next((f"sample()[{name!r}] is {type(w).__name__}, not EdgeWeights" for name, w in sample.items()
                            if not isinstance(w, EdgeWeights)), None)
            problem = problem or next(
                (f"sample()[{name!r}].weights has shape {tuple(getattr(w.weights, 'shape', ()))}, the group is "
                 f"{groups[name]} (edges, ops)" for name, w in sample.items()
                 if tuple(getattr(w.weights, "shape", ())) != groups[name]), None)
        if problem:
            raise interface_breach(self.plan.sampler.component, problem,
                                   hint="a sampler returns one EdgeWeights of (edges, ops) weights per group of "
                                        "space.groups() (automl_nas.api.Sampler.sample)")
        self._first_sample_checked = True

    def _check_term(self, index: int, value: Any) -> None:
        """An objective's first value is a 0-dim tensor (a float added no gradient; a vector was an
        internal error at backward)."""
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shown = type(value).__name__ if not isinstance(value, torch.Tensor) else f"a tensor of shape {tuple(value.shape)}"
            raise interface_breach(self.plan.objectives[index].component, f"returned {shown}, not a 0-dim tensor",
                                   hint="an objective returns a scalar tensor that carries its gradient "
                                        "(automl_nas.api.Objective.__call__)")
        self._objectives_checked.add(index)

    def autocast(self):
        """bf16 autocast of a forward pass when ``run.bf16`` is set, else a no-op context."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.run.device).type, dtype=self.autocast_dtype)

    def batch_statistics(self) -> ContextManager:
        """Around a data-parallel step's passes: batch norm over the global batch (``run.sync_batch_norm``)."""
        if not self.recipe.run.sync_batch_norm:
            return contextlib.nullcontext()
        return self.world.global_batch_statistics()

    @property
    def compiled(self) -> bool:
        """Whether the steps run the supernet through torch.compile (run.compile, unless left at the first
        hard sample); its graphs then hold the plain path."""
        return self.forward_net is not self.run.supernet

    def _run_eager(self) -> None:
        """Leave run.compile for a sampler that picks one op per edge (GDAS, uniform single path):
        each new pick is a new graph for dynamo, a compile per step until its recompile limit, then
        eager anyway; the fused eager path is the fastest there (issue 15)."""
        self.forward_net = self.run.supernet
        set_fast_paths(self.run.supernet, self.recipe.run.fast_paths)
        self._note(f"run.compile is off for this run: sampler {self.run.sampler_name!r} picks one op per edge, a new "
                   "graph every step for torch.compile; the supernet runs eager")

    def _note(self, text: str) -> None:
        """A one-off note on stderr, from rank 0 only in a data-parallel search (every rank compiles alike)."""
        if self.world.rank == 0:
            print(f"automl: note: {text}", file=sys.stderr, flush=True)

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        run, wcfg = self.run, self.recipe.search.weights_optimizer
        run.weight_optimizer.zero_grad(set_to_none=True)
        x, y = self.world.shard(x, y)
        with_arch = bool(wcfg.grad_clip and wcfg.clip_arch_grad and self.sampler.learnable)
        with self.batch_statistics():
            loss, logits, _ = self.loss("weights", x, y, arch_grad=with_arch)
        weights = [p for p in run.supernet.parameters() if p.requires_grad]
        params = list(run.params.values()) if with_arch else []
        loss.backward(inputs=weights + params)
        self.world.average_grads(weights + params)
        if wcfg.grad_clip:
            # clip_arch_grad: the official loops clip model.parameters(), alphas included, so the
            # arch gradient of the weight loss enters the norm; it is then dropped, never stepped.
            nn.utils.clip_grad_norm_(weights + params, wcfg.grad_clip)
            for p in params:
                p.grad = None
        run.weight_optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).float().mean().detach()

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> torch.Tensor:
        run, scfg = self.run, self.recipe.search
        run.arch_optimizer.zero_grad(set_to_none=True)
        params = list(run.params.values())
        (x, y), (xt, yt) = self.world.shard(x, y), self.world.shard(xt, yt)
        if scfg.second_order:
            with self.batch_statistics():
                loss, grads = unrolled_arch_grad(self, x, y, xt, yt)
            for p, g in zip(params, grads):
                p.grad = g
        else:
            with self.batch_statistics():
                loss, _, _ = self.loss("arch", x, y)
            loss.backward(inputs=params)
        self.world.average_grads(params)
        if scfg.arch_optimizer.grad_clip:
            nn.utils.clip_grad_norm_(params, scfg.arch_optimizer.grad_clip)
        run.arch_optimizer.step()
        return loss.detach()

    def single_step(self, x: torch.Tensor, y: torch.Tensor, update_arch: bool) -> tuple[torch.Tensor, torch.Tensor]:
        run, scfg = self.run, self.recipe.search
        run.weight_optimizer.zero_grad(set_to_none=True)
        run.arch_optimizer.zero_grad(set_to_none=True)
        x, y = self.world.shard(x, y)
        with self.batch_statistics():
            loss, logits, _ = self.loss("single", x, y)
        weights = [p for p in run.supernet.parameters() if p.requires_grad]
        params = list(run.params.values())
        loss.backward(inputs=weights + (params if update_arch else []))
        self.world.average_grads(weights + (params if update_arch else []))
        if scfg.weights_optimizer.grad_clip:
            # clip_arch_grad (SNAS single-GPU train_search.py:504): one norm over weights and alphas,
            # which scales the arch gradient too before its own clip below.
            clipped = weights + (params if update_arch and scfg.weights_optimizer.clip_arch_grad else [])
            nn.utils.clip_grad_norm_(clipped, scfg.weights_optimizer.grad_clip)
        run.weight_optimizer.step()
        if update_arch:
            if scfg.arch_optimizer.grad_clip:
                nn.utils.clip_grad_norm_(params, scfg.arch_optimizer.grad_clip)
            run.arch_optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).float().mean().detach()

    # ------------------------------------------------------------------ loop

    def enter_epoch(self, epoch: int) -> float:
        """Put sampler, supernet and weight LR in the state of ``epoch`` (progressive
        samplers prune/widen here); returns the epoch's learning rate."""
        run, epochs = self.run, self.recipe.search.epochs
        run._enter_epoch(epoch)
        self.sampler.set_epoch(epoch, epochs)
        if isinstance(self.sampler, StructureChanging):
            self.sampler.epoch_start(run)
        lr = self.lr_schedule.value(epoch, epochs)
        for group in run.weight_optimizer.param_groups:
            group["lr"] = lr
        run.supernet.train()
        return lr

    def run_epochs(self, guard, hooks: HookRelay) -> dict:
        run, scfg = self.run, self.recipe.search
        for epoch in range(self.start_epoch, scfg.epochs):
            # Arch batches are a function of the training epoch, so a resumed run sees the same ones.
            arch_iter = self.arch_loader.cycle(epoch << 16)
            started = time.perf_counter()
            lr = self.enter_epoch(epoch)
            update_arch = updates_arch(self.sampler, epoch)
            sums = {"loss": 0.0, "acc": 0.0, "arch_loss": 0.0}
            train_iter = self.train_loader.cycle(epoch) if scfg.steps_per_epoch else self.train_loader.epoch(epoch)
            readout = StepReadout(lag=lag_for(self.device))

            def step_done(values: StepValues) -> None:
                guard.check_step(run, epoch, values)
                sums["loss"] += values.loss
                sums["acc"] += values.acc
                sums["arch_loss"] += values.arch_loss
                hooks.call("automl_step_end", epoch=epoch, run=run, step=values.step,
                           metrics={"loss": values.loss, "acc": values.acc, "lr": lr, "steps": self.steps})

            for step in range(self.steps):
                x, y = next(train_iter)
                if scfg.mode == "single_level":
                    loss, acc = self.single_step(x, y, update_arch)
                    arch_loss = loss
                else:
                    xv, yv = next(arch_iter)
                    arch_loss = torch.zeros((), device=self.device)
                    if scfg.order == "arch_first" and update_arch:
                        arch_loss = self.arch_step(xv, yv, x, y)
                    loss, acc = self.weight_step(x, y)
                    if scfg.order == "weights_first" and update_arch:
                        arch_loss = self.arch_step(xv, yv, x, y)
                for values in readout.push(step, loss, acc, arch_loss, run.params.values()):
                    step_done(values)
                if run.stop_requested:
                    break
            if run.stop_requested:
                break  # an interrupted epoch is not recorded; the last checkpoint stands
            for values in readout.drain():
                step_done(values)
            means = {k: v / self.steps for k, v in sums.items()}
            if self.world.size > 1:  # each rank summed its own slice: the run's figures are the whole batch's
                (mean,) = self.world.mean([torch.tensor(list(means.values()), dtype=torch.float64, device=self.device)])
                means = dict(zip(means, mean.tolist()))
            record = self.epoch_record(epoch, means, lr, time.perf_counter() - started)
            self.search_time += record.epoch_time_s
            line = self.write_epoch(epoch, record)
            if self.recipe.run.checkpoint_every and (epoch + 1) % self.recipe.run.checkpoint_every == 0:
                ckpt.save(self, epoch + 1)
            # a copy: the dict is the record result.json's last_epoch is taken from, and hooks observe
            hooks.call("automl_epoch_end", epoch=epoch, run=run, metrics=copy.deepcopy(line), record=record)
        return self.history[-1] if self.history else {}

    # ------------------------------------------------------------------ per epoch

    def derive(self) -> Genotype:
        with torch.no_grad():
            params = {k: v.detach().cpu() for k, v in self.sampler.derive_params(self.run.params).items()}
        return self.space.derive(params)

    @torch.no_grad()
    def valid_accuracy(self, child: bool = False) -> float:
        run = self.run
        compiled = self.compiled
        if compiled:  # the compiled forward traces the plain path; this eager pass is fastest fused
            set_fast_paths(run.supernet, self.recipe.run.fast_paths)
        run.supernet.eval()
        correct, total = torch.zeros((), dtype=torch.long, device=self.device), 0
        try:
            # the pass's children drawn at once: one read of the probabilities, one transfer of the picks
            children = (iter(child_samples(self.sampler, run.params, self._valid_batch_count(), run.generator))
                        if child else None)
            for x, y in self._valid_batches():
                sample = next(children) if children is not None else self.sampler.sample(run.params, phase="eval")
                out = run.supernet(x, sample)
                logits = out[0] if isinstance(out, tuple) else out
                correct += (logits.argmax(1) == y).sum()  # summed on the device: one host read per pass (issue 15)
                total += len(y)
        finally:
            run.supernet.train()
            if compiled:
                set_fast_paths(run.supernet, False)
        return 100.0 * int(correct) / max(total, 1)

    def epoch_record(self, epoch: int, means: dict, lr: float, seconds: float) -> EpochRecord:
        run, scfg = self.run, self.recipe.search
        valid_acc = self.valid_accuracy()
        child_acc = self.valid_accuracy(child=True) if scfg.child_accuracy else None
        if isinstance(self.sampler, ValidationObserver):
            self.sampler.observe(run, valid_acc)
        genotype = self.derive()  # after the validation pass, so an observer's feedback counts
        collapse = collapse_diagnostics(self.space, genotype, self.sampler.probs(run.params))
        hessian = None
        if scfg.hessian_eigenvalue:
            from automl_nas.engine.diagnostics import dominant_hessian_eigenvalue

            hessian = dominant_hessian_eigenvalue(self)
        scores = None
        if self.evaluator and scfg.eval_every and (epoch + 1) % scfg.eval_every == 0 and epoch + 1 < scfg.epochs:
            # scoring along the way leaves the search as it is: an evaluator drawing from the global
            # generators would shift every later sample (and eval_every is no protocol change)
            with torch.random.fork_rng(devices=_cuda_indices(self.device)):
                scores = self.evaluate(genotype)
        return EpochRecord(
            epoch=epoch, lr=lr, train_loss=means["loss"], train_acc=100 * means["acc"],
            arch_loss=means["arch_loss"] if scfg.mode == "bilevel" else None, valid_acc=valid_acc,
            child_valid_acc=child_acc, sampler_status=dict(self.sampler.status()), genotype=genotype.text,
            param_free_ops=collapse.param_free_ops, skip_fraction=collapse.skip_fraction, entropy=collapse.entropy,
            edge_entropy=collapse.edge_entropy, hessian_eigenvalue=hessian, eval=scores, epoch_time_s=seconds)

    def write_epoch(self, epoch: int, record: EpochRecord) -> dict:
        """Append the record and the architecture history; returns the record's JSON line."""
        rd = self.run.run_dir
        line = record.to_json()
        rd.append_jsonl(rd.metrics_file, line)
        with torch.no_grad():
            probs = self.sampler.probs(self.run.params)
            hist = {"epoch": epoch,
                    "params": {k: v.detach().cpu().tolist() for k, v in self.run.params.items()},
                    "probs": {k: v.detach().cpu().tolist() for k, v in probs.items()}}
        rd.append_jsonl(rd.history_file, hist)
        self.history.append(line)
        return line

    def evaluate(self, genotype: Genotype) -> dict[str, float]:
        run = self.run
        ctx = EvalContext(space=self.space, data=self.data, device=run.device, seed=self.recipe.seed,
                          run_dir=run.run_dir.path, log=run.log)
        return score(self.plan.evaluator.component, self.evaluator, genotype, ctx)


def _check_batch(key: str, size: int, available: int, split: str, source: str) -> None:
    """A batch larger than its split would be cut silently while the saved recipe says otherwise."""
    if size > available:
        raise RecipeError(f"{source}: {key} = {size} is larger than the {split} split ({available} images)",
                          hint=f"set {key} <= {available}, or use more data (data.limit = 0, another data set)")


def _picks_ops(sample: dict) -> bool:
    """Whether a sample runs one op per edge (hard samplers) instead of weighting every op."""
    return any(getattr(weights, "active", None) is not None for weights in sample.values())


def _echo(msg: str) -> None:
    import click

    click.echo(msg, err=True)


def _silent(msg: str) -> None:
    """``--quiet``: no progress, but a warning still reaches stderr (records found missing, a
    checkpoint loaded unverified: the run ends finished and nothing else would say so)."""
    if msg.startswith("warning:"):
        _echo(msg)


def _cuda_indices(device: str) -> list[int]:
    """The CUDA device whose generator a run on ``device`` draws from (none on a CPU)."""
    return [torch.device(device).index or 0] if str(device).startswith("cuda") else []


def expected_check(recipe, metrics: dict[str, float]) -> ExpectedCheck | None:
    exp = recipe.expected
    if exp is None:
        return None
    value = metrics.get(exp.metric)
    # nan (a table's empty field) is no value: it was reported as outside the paper's band
    inside = None if value is None or math.isnan(value) or exp.changed else bool(exp.low <= value <= exp.high)
    return ExpectedCheck(metric=exp.metric, paper=exp.value, low=exp.low, high=exp.high, source=exp.source,
                         ours=value, inside=inside, changed=list(exp.changed) or None)


@contextlib.contextmanager
def _in_recipe(source: str) -> Iterator[None]:
    """An error of the recipe's [data] keys names the recipe file, as its neighbours' do."""
    try:
        yield
    except AutomlError as exc:
        raise type(exc)(f"{source}: {exc.message}", hint=exc.hint) from None


def check_batch_splits(plan: Plan, processes: int) -> None:
    """Each global batch of an image search splits into ``processes`` equal parts, one per rank."""
    if processes <= 1:
        return
    dcfg = plan.recipe.data
    for key, size in (("data.batch_size", dcfg.batch_size), ("data.arch_batch_size", dcfg.arch_batch_size)):
        if size % processes:
            raise RecipeError(f"{plan.source}: {key} = {size} does not split into {processes} equal "
                              f"parts, one per process", hint=f"set {key} to a multiple of {processes} "
                              f"(torchrun --nproc-per-node, executor.ranks), e.g. {size - size % processes or processes}")


def build_search(plan: Plan, registry: Any, *, device: str | None = None) -> Search:
    """Build what a run of ``plan`` builds before its first step, and run its checks, with no
    run directory (``automl validate --build``); ``device``: the recipe's when ``None``. A
    trial of ``executor.ranks`` processes is checked for that many (this process is one)."""
    with kept_process_state(), deterministic_kernels(plan.recipe.run.deterministic):
        device = device or resolve_device(plan.recipe.run.device)
        from automl_nas.engine.guards import building_memory

        with building_memory(device):
            search = Search(plan, registry, RunDir(plan.recipe.run.root), device=device, quiet=True)
    if not isinstance(search.data, GraphSet):
        check_batch_splits(plan, plan.recipe.executor.ranks)
    return search


def execute(plan: Plan, registry: Any, pm: Any, run_dir: RunDir, *, quiet: bool = False, resume: bool = False) -> RunResult:
    """Run (or resume) a search end to end and write ``result.json``; returns the result.

    Nothing is created on disk until the components are built and the data is loaded (a run
    refused there leaves no directory); the run directory is locked for the run's life."""
    recipe = plan.recipe
    device = join_from_environment(resolve_device(recipe.run.device))  # under torchrun: this rank's device
    started = time.perf_counter()
    from automl_nas.engine.guards import building_memory

    with kept_process_state(), deterministic_kernels(recipe.run.deterministic):
        with building_memory(device):
            search = Search(plan, registry, run_dir, device=device, quiet=quiet, started=started)
        if resume and search.world.size > 1:
            _check_ranks_hold_one_checkpoint(search)
        with run_dir.claim(fresh=not resume, log=search.run.log):
            result = _execute(search, pm, resume=resume)
    if search.world.size > 1:
        leave()  # every rank tears the process group down together (after a failure a barrier could hang)
    return result


def _execute(search: Search, pm: Any, *, resume: bool) -> RunResult:
    from automl_nas.engine.guards import Guard
    from automl_nas.interrupts import signals_held

    plan, recipe, run, run_dir = search.plan, search.recipe, search.run, search.run.run_dir
    hooks = HookRelay(pm)
    if resume:
        recorded = _recorded_env(run_dir, run.log)
        check_unchanged(recorded.get(ENV_KEY), plan, run_dir=run_dir.path)
        ckpt.load(search)
        _record_resumed_source(search, recorded)
    else:
        run_dir.write_text(run_dir.recipe_file, dump_recipe(recipe))
        env = environment(search.device, recipe.seed, recipe.data.name, search.data.source)
        from automl_nas.evaluation import evaluator_source

        # what the evaluator answers from (an installed table's origin), pinned for the run
        answered = {"evaluator_source": evaluator_source(search.evaluator)} if search.evaluator is not None else {}
        atomic_write_json(run_dir.env_file, {**env, ENV_KEY: input_files(plan), **answered}, hint=run_dir.write_hint)
    base = RunResult(recipe=recipe.name, space=search.space.name or plan.space.component.name,
                     sampler=plan.sampler.component.name, dataset=recipe.data.name, seed=recipe.seed,
                     run_dir=str(run_dir.path.resolve()))  # absolute, as a resume writes it
    guard = Guard(search)
    hooks.call("automl_run_start", run=run)
    try:
        with guard.signals(), guard.memory():
            last = search.run_epochs(guard, hooks)
        if run.stop_requested:
            raise guard.interrupted()
        with guard.memory(), guard.stops_evaluation():
            result = _finish(search, base, last)
    except AutomlError as exc:
        with signals_held():  # the stop is recorded whole (torchrun SIGTERMs a lost rank's peers at once)
            result = _ended_early(search, base, getattr(exc, "status", "failed"), str(exc))
            exc.result = result.to_json()  # the CLI prints it on stdout too
            _end(run_dir, hooks, run, result, failing=True)
        raise
    except Exception as exc:  # a bug, or a lost peer process: the run still ends recorded, its finished epochs kept
        with signals_held():
            failure = _lost_rank(search, exc) or _unexpected(search, exc)
            result = _ended_early(search, base, "failed", str(failure) if failure else f"{type(exc).__name__}: {exc}")
            _end(run_dir, hooks, run, result, failing=True)
        if failure is None:
            raise  # the host's own fault: the CLI reports an internal error
        failure.result = result.to_json()
        raise failure from exc
    result = attrs.evolve(result, wall_time_s=round(search.wall_time(), 3))
    _end(run_dir, hooks, run, result)
    return result


def _check_ranks_hold_one_checkpoint(search: Search) -> None:
    """Every rank of a resumed torchrun search holds a checkpoint of the same epoch, or none
    resumes: a kill between two ranks' checkpoint writes left rank 0 without one while rank 1
    resumed, lost its peer and named a resume that failed the same way every time."""
    from automl_nas.records.rundir import saved_epochs

    held = search.world.gather(saved_epochs(search.run.run_dir.checkpoint_file))
    if len(set(held)) == 1:
        return
    leave()  # every rank saw the same list: they part together
    shown = ", ".join(f"rank {r}: {'no checkpoint' if e is None else f'after epoch {e}'}" for r, e in enumerate(held))
    raise RunError(f"{rank0_path(search.run.run_dir.path)}: the ranks' checkpoints differ ({shown}); the processes were "
                   f"stopped between their checkpoint writes and cannot continue one search",
                   hint="start a new run (a new --run-dir); the records of this one stay readable with `automl show`")


def _record_resumed_source(search: Search, recorded: dict) -> None:
    """A resumed run's evaluator is a new one, pinned to what it reads now (a table re-imported
    since the start answers from here on): when that differs from the source ``env.json``
    recorded, it is said and added to ``evaluator_source_resumed`` (with the epoch it resumed
    at), so the records name what every answer came from. The records kept naming the first."""
    import json

    from automl_nas.evaluation import evaluator_source

    if search.evaluator is None or "evaluator_source" not in recorded:
        return
    now, run_dir = evaluator_source(search.evaluator), search.run.run_dir
    resumed = [r for r in recorded.get("evaluator_source_resumed", []) if isinstance(r, dict)]
    latest = resumed[-1].get("source") if resumed else recorded["evaluator_source"]
    if now == latest:
        return
    search.run.log(f"warning: {run_dir.path}: the evaluator answers from another source than before this resume "
                   f"(then {json.dumps(latest)}; now {json.dumps(now)}); its answers from epoch "
                   f"{search.run.start_epoch} on come from the new one ({run_dir.env_file.name} records both)")
    entry = {"epoch": search.run.start_epoch, "source": now}
    atomic_write_json(run_dir.env_file, {**recorded, "evaluator_source_resumed": [*resumed, entry]},
                      hint=run_dir.write_hint)


def _recorded_env(run_dir: RunDir, log: Any) -> dict:
    """The run's ``env.json``; a damaged one is said (its record of the input files is lost, so
    they are not checked) and the resume goes on: the checkpoint holds the search."""
    import json

    try:
        env = json.loads(run_dir.env_file.read_text(encoding="utf-8"))
        if not isinstance(env, dict):
            raise ValueError("not an object")
        return env
    except (OSError, ValueError) as exc:
        log(f"warning: {run_dir.env_file} is unreadable ({type(exc).__name__}: {exc}): the files the run started "
            f"with cannot be checked against those it resumes with")
        return {}


def _ended_early(search: Search, base: RunResult, status: str, error: str) -> RunResult:
    """The record of a run that stopped before it finished: its finished epochs and last genotype."""
    return attrs.evolve(base, status=status, error=error, epochs_done=len(search.history), wall_time_s=round(search.wall_time(), 3),
                        genotype=search.history[-1]["genotype"] if search.history else None)


def _lost_rank(search: Search, exc: Exception) -> AutomlError | None:
    """Under torchrun, a collective whose peer died (a killed rank, a lost node) as a RunError
    with the torchrun line that resumes the run, not an internal error."""
    from automl_nas.engine.distributed import is_lost_rank
    from automl_nas.errors import RunError
    from automl_nas.records.rundir import resume_command

    if search.world.size <= 1 or not is_lost_rank(exc):
        return None
    done = len(search.history)
    return RunError(f"another process of this {search.world.size}-process run was lost (killed, or its node went away) "
                    f"after {done} finished epoch(s): {str(exc).splitlines()[0][:200]}",
                    hint=f"continue every rank from the last checkpoint with `{resume_command(search.run.run_dir.path)}`")


def _unexpected(search: Search, exc: Exception) -> AutomlError | None:
    """A plugin's bug as a :class:`PluginError` naming the component, or ``None`` for the host's."""
    from automl_nas.engine.blame import blamed_component
    from automl_nas.errors import plugin_failure
    from automl_nas.records.rundir import resume_command

    plan = search.plan
    chosen = [plan.space, plan.dataset, plan.sampler, *plan.objectives, plan.evaluator, *plan.trackers]
    component = blamed_component(exc, [r.component for r in chosen if r is not None])
    if component is None:
        return None
    done = len(search.history)
    where = f"in epoch {done + 1}" if done < search.recipe.search.epochs else "after the search"
    saved = (search.run.run_dir.path / "checkpoints" / "last.pt").is_file()
    then = (f"`{resume_command(search.run.run_dir.path)}` continues from its checkpoint" if saved
            else "run the recipe again into a new --run-dir (no checkpoint was written yet, so there is nothing to resume)")
    return plugin_failure(exc, subject=f"{component.kind.replace('_', ' ')} {component.name!r}",
                          plugin=component.plugin, dist=component.dist, action=f"failed {where}",
                          hint=f"the run is kept with its {done} finished epoch(s); fix or update the plugin "
                               f"(AUTOML_NAS_DEBUG=1 shows the traceback), then {then}")


def _finish(search: Search, base: RunResult, last: dict) -> RunResult:
    recipe = search.recipe
    genotype = search.derive()
    metrics = eval_error = eval_retry = None
    if search.world.size > 1:
        # Every rank holds the same genotype: rank 0 alone scores it. The ranks part first, so
        # no rank waits in a collective while rank 0 retrains (gloo's timeout is 30 minutes),
        # and N identical retrainings are not run.
        leave()
        if search.world.rank > 0:
            search.run.log(f"rank {search.world.rank}: the final evaluation runs on rank 0 (its result.json has the metrics)")
    if search.evaluator is not None and search.world.rank == 0:
        try:
            metrics = search.evaluate(genotype)
        except AutomlError as exc:  # the search itself succeeded: keep its genotype (issue 13)
            eval_error, eval_retry = str(exc), f"automl eval {search.run.run_dir.path}"
    try:
        costs = search.space.genotype_costs(genotype, search.inputs)
    except NotImplementedError:
        costs = None
    scored_in = None if search.world.rank == 0 else str(rank0_path(search.run.run_dir.path))
    declared = tuple(getattr(search.evaluator, "metrics", ()) or ()) if metrics else ()
    result = attrs.evolve(base, status="finished", genotype=genotype.text, epochs=recipe.search.epochs,
                          search_time_s=round(search.search_time, 3), last_epoch=last, metrics=metrics, costs=costs,
                          expected=None if scored_in else expected_check(recipe, metrics or {}),
                          eval_error=eval_error, eval_retry=eval_retry, scored_in=scored_in,
                          primary_metric=declared[0] if declared else None,
                          primary_higher_is_better=bool(getattr(search.evaluator, "higher_is_better", True))
                          if declared else None)
    ckpt.save(search, recipe.search.epochs)
    return result


def _end(run_dir: RunDir, hooks: HookRelay, run: RunContext, result: RunResult, *, failing: bool = False) -> None:
    try:
        run_dir.write_result(result)
    except AutomlError:
        if not failing:
            raise
        # The run already failed (e.g. the disk filled up): its own error is the one to report.
        run.log(f"note: {run_dir.result_file} could not be written either")
    try:
        hooks.call("automl_run_end", run=run, result=result.to_json(), record=result)
    except AutomlError as exc:  # result.json is written: the summary still reaches stdout
        if failing:  # the run's own error is the one to report
            run.log(f"note: {exc.message}")
            return
        exc.message += f" (the run itself {result.status}; {run_dir.result_file} is written)"
        exc.result = result.to_json()
        raise

