"""The one-shot search loop. It knows no method: samplers, objectives, the space
and the evaluator come from plugins; lifecycle hooks report progress.

Per epoch (spec §3): schedules move, then for each step a weight step on a
train batch and an architecture step on an arch batch (order from the recipe;
single-level methods do both from one batch), then the genotype is derived,
diagnostics are computed, the record is appended and a checkpoint written.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from typing import Any

import torch
from torch import nn

from automl_nas.api.arch import Genotype
from automl_nas.api.dataset import GraphSet
from automl_nas.api.evaluator import EvalContext
from automl_nas.api.objective import LossContext
from automl_nas.api.space import InputSpec
from automl_nas.data import BatchLoader, GraphLoader, graph_search_split, search_split
from automl_nas.engine import checkpoint as ckpt
from automl_nas.engine.mixed_op import set_fast_paths
from automl_nas.engine.second_order import unrolled_arch_grad
from automl_nas.errors import AutomlError, PluginError, RecipeError, RunError, one_line
from automl_nas.records.rundir import RunDir, environment
from automl_nas.recipe import Plan, dump_recipe
from automl_nas.schedules import Schedule

PARAM_FREE = ("skip_connect", "max_pool_3x3", "avg_pool_3x3")


class RunContext:
    """What hooks and samplers see of a run. Samplers may replace ``weight_optimizer``."""

    def __init__(self, plan: Plan, registry, pm, run_dir: RunDir, *, device: str, quiet: bool = False) -> None:
        self.plan, self.recipe, self.registry, self.pm, self.run_dir = plan, plan.recipe, registry, pm, run_dir
        self.device = device
        self.quiet = quiet
        self.epoch = 0
        self.num_epochs = plan.recipe.search.epochs
        self.generator = torch.Generator().manual_seed(plan.recipe.seed)
        self.stop_requested: str | None = None

    def log(self, msg: str) -> None:
        if not self.quiet:
            import click

            click.echo(msg, err=True)

    def call_hook(self, name: str, **kwargs: Any) -> None:
        """Fire a lifecycle hook; a plugin raising inside it is named, not hidden."""
        hook = getattr(self.pm.hook, name)
        try:
            hook(**kwargs)
        except AutomlError:
            raise
        except Exception as exc:  # noqa: BLE001
            plugin = _culprit(self.pm, name, exc)
            raise PluginError(f"plugin {plugin!r} ({self.pm.dist_of(plugin)}) raised in {name} at epoch {self.epoch}: {one_line(exc)}",
                              plugin=plugin, hint=f"fix the plugin or block it with AUTOML_NAS_DISABLE_PLUGINS={plugin}") from exc


def _culprit(pm, hook_name: str, exc: BaseException) -> str:
    tb = exc.__traceback__
    files = set()
    while tb is not None:
        files.add(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if impl.function.__code__.co_filename in files:
            return pm.get_name(impl.plugin) or "?"
    return "?"


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"run.device = {name!r} but no CUDA device is available", hint="use --set run.device=cpu")
    return name


class Search:
    """Builds the components of a plan and runs (or resumes) the one-shot search."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        plan, recipe = run.plan, run.recipe
        torch.manual_seed(recipe.seed)
        if recipe.run.threads:
            torch.set_num_threads(recipe.run.threads)
        self.space = plan.space.build(run.registry)
        self.data = plan.dataset.build(run.registry).load()
        self.sampler = plan.sampler.build(run.registry)
        self.objectives = [(r.build(run.registry), r.weight) for r in plan.objectives]
        self.evaluator = plan.evaluator.build(run.registry) if plan.evaluator else None
        if isinstance(self.data, GraphSet):
            self._graph_loaders()
        else:
            self._image_loaders()
        run.supernet = self.space.build_supernet(self.inputs).to(run.device)
        set_fast_paths(run.supernet, recipe.run.fast_paths)
        # bf16 autocast of the forward passes (issue 8); the arch parameters and optimisers stay fp32.
        self.autocast_dtype = torch.bfloat16 if recipe.run.bf16 else None
        init = self.sampler.init_params(self.space.groups(), run.generator)
        run.params = {k: nn.Parameter(v.to(run.device)) for k, v in init.items()}
        self.costs = self._costs()
        wcfg = recipe.search.weights_optimizer
        run.weight_optimizer = torch.optim.SGD(run.supernet.parameters(), lr=wcfg.lr, momentum=wcfg.momentum,
                                               nesterov=wcfg.nesterov and wcfg.momentum > 0, weight_decay=wcfg.weight_decay)
        acfg = recipe.search.arch_optimizer
        if acfg.name == "adam":
            run.arch_optimizer = torch.optim.Adam(run.params.values(), lr=acfg.lr, betas=tuple(acfg.betas), weight_decay=acfg.weight_decay)
        else:
            run.arch_optimizer = torch.optim.SGD(run.params.values(), lr=acfg.lr, momentum=acfg.momentum, weight_decay=acfg.weight_decay)
        self.lr_schedule = Schedule(kind="cosine", start=wcfg.lr, end=wcfg.lr_min, endpoint=False)
        self.steps = recipe.search.steps_per_epoch or len(self.train_loader)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.search_time = 0.0

    def _image_loaders(self) -> None:
        run, recipe, dcfg = self.run, self.run.recipe, self.run.recipe.data
        c, h, w = self.data.shape
        self.inputs = InputSpec(channels=c, height=h, width=w, num_classes=self.data.num_classes)
        train_idx, valid_idx = search_split(self.data, mode=dcfg.split, train_fraction=dcfg.train_fraction,
                                            limit=dcfg.limit, seed=recipe.seed)
        if recipe.search.mode == "single_level":
            train_idx = torch.cat([train_idx, valid_idx])  # SNAS trains both on the whole training set
        self.train_loader = BatchLoader(self.data, train_idx, batch_size=dcfg.batch_size, seed=recipe.seed,
                                        device=run.device, augment=dcfg.augment)
        self.arch_loader = BatchLoader(self.data, valid_idx, batch_size=dcfg.arch_batch_size or dcfg.batch_size,
                                       seed=recipe.seed + 1, device=run.device, augment=dcfg.augment)
        self.valid_loader = BatchLoader(self.data, valid_idx, batch_size=dcfg.eval_batch_size, seed=recipe.seed,
                                        device=run.device, augment=False, shuffle=False, drop_last=False)

    def _graph_loaders(self) -> None:
        """One graph (issue 17): full-batch steps on node splits; the space's networks take a
        :class:`~automl_nas.api.GraphBatch` and ``InputSpec.channels`` is the node-feature width."""
        run, recipe, dcfg = self.run, self.run.recipe, self.run.recipe.data
        if dcfg.limit:
            raise RecipeError(f"data.limit = {dcfg.limit}: data set {self.data.name!r} is a graph, searched whole "
                              f"(full-batch steps on its node splits)", hint="remove data.limit")
        self.inputs = InputSpec(channels=self.data.num_features, height=1, width=1, num_classes=self.data.num_classes)
        train_idx, valid_idx = graph_search_split(self.data, mode=dcfg.split, train_fraction=dcfg.train_fraction,
                                                  seed=recipe.seed)
        if recipe.search.mode == "single_level":
            train_idx = torch.cat([train_idx, valid_idx])
        self.train_loader = GraphLoader(self.data, train_idx, device=run.device)
        self.arch_loader = GraphLoader(self.data, valid_idx, device=run.device)
        self.valid_loader = self.arch_loader

    def _costs(self) -> dict:
        try:
            costs = self.space.op_costs(self.inputs)
        except NotImplementedError:
            return {}
        return {g: {m: t.to(self.run.device) for m, t in table.items()} for g, table in costs.items()}

    # ------------------------------------------------------------------ steps

    def loss(self, phase: str, x: torch.Tensor, y: torch.Tensor, *, arch_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The phase's total loss, its logits and the sample; ``arch_grad=False`` keeps the
        sample out of the graph when no gradient w.r.t. the arch parameters will be taken."""
        run = self.run
        params = run.params if arch_grad else {k: v.detach() for k, v in run.params.items()}
        sample = self.sampler.sample(params, phase="weights" if phase == "single" else phase)
        with self.autocast():
            out = run.supernet(x, sample)
        logits, aux = (out if isinstance(out, tuple) else (out, None))
        logits, aux = logits.float(), (aux.float() if aux is not None else None)  # losses in fp32 under bf16
        ctx = LossContext(phase=phase, logits=logits, targets=y, params=run.params, sample=sample,
                          sampler=self.sampler, costs=self.costs, aux_logits=aux)
        total = None
        for objective, weight in self.objectives:
            if phase in objective.phases:
                term = weight * objective(ctx)
                total = term if total is None else total + term
        if phase in ("arch", "single"):
            reg = self.sampler.regularizer(run.params)
            if reg is not None:
                total = total + reg
        return total, logits, sample

    def autocast(self):
        """bf16 autocast of a forward pass when ``run.bf16`` is set, else a no-op context."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.run.device).type, dtype=self.autocast_dtype)

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        run, wcfg = self.run, self.run.recipe.search.weights_optimizer
        run.weight_optimizer.zero_grad(set_to_none=True)
        loss, logits, _ = self.loss("weights", x, y, arch_grad=False)
        weights = [p for p in run.supernet.parameters() if p.requires_grad]
        loss.backward(inputs=weights)
        if wcfg.grad_clip:
            nn.utils.clip_grad_norm_(weights, wcfg.grad_clip)
        run.weight_optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).float().mean().detach()

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> torch.Tensor:
        run, scfg = self.run, self.run.recipe.search
        run.arch_optimizer.zero_grad(set_to_none=True)
        params = list(run.params.values())
        if scfg.second_order:
            loss, grads = unrolled_arch_grad(self, x, y, xt, yt)
            for p, g in zip(params, grads):
                p.grad = g
        else:
            loss, _, _ = self.loss("arch", x, y)
            loss.backward(inputs=params)
        if scfg.arch_optimizer.grad_clip:
            nn.utils.clip_grad_norm_(params, scfg.arch_optimizer.grad_clip)
        run.arch_optimizer.step()
        return loss.detach()

    def single_step(self, x: torch.Tensor, y: torch.Tensor, update_arch: bool) -> tuple[torch.Tensor, torch.Tensor]:
        run, scfg = self.run, self.run.recipe.search
        run.weight_optimizer.zero_grad(set_to_none=True)
        run.arch_optimizer.zero_grad(set_to_none=True)
        loss, logits, _ = self.loss("single", x, y)
        weights = [p for p in run.supernet.parameters() if p.requires_grad]
        params = list(run.params.values())
        loss.backward(inputs=weights + (params if update_arch else []))
        if scfg.weights_optimizer.grad_clip:
            nn.utils.clip_grad_norm_(weights, scfg.weights_optimizer.grad_clip)
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
        run, epochs = self.run, self.run.recipe.search.epochs
        run.epoch = epoch
        self.sampler.set_epoch(epoch, epochs)
        self.sampler.epoch_start(run)
        lr = self.lr_schedule.value(epoch, epochs)
        for group in run.weight_optimizer.param_groups:
            group["lr"] = lr
        run.supernet.train()
        return lr

    def run_epochs(self, guard) -> dict:
        run, scfg = self.run, self.run.recipe.search
        for epoch in range(self.start_epoch, scfg.epochs):
            # Arch batches are a function of the training epoch, so a resumed run sees the same ones.
            arch_iter = self.arch_loader.cycle(epoch << 16)
            started = time.perf_counter()
            lr = self.enter_epoch(epoch)
            update_arch = self.sampler.updates_arch(epoch)
            sums = {"loss": 0.0, "acc": 0.0, "arch_loss": 0.0}
            train_iter = self.train_loader.cycle(epoch) if scfg.steps_per_epoch else self.train_loader.epoch(epoch)
            for step in range(self.steps):
                x, y = next(train_iter)
                if scfg.mode == "single_level":
                    loss, acc = self.single_step(x, y, update_arch)
                    arch_loss = loss
                else:
                    xv, yv = next(arch_iter)
                    arch_loss = torch.zeros(())
                    if scfg.order == "arch_first" and update_arch:
                        arch_loss = self.arch_step(xv, yv, x, y)
                    loss, acc = self.weight_step(x, y)
                    if scfg.order == "weights_first" and update_arch:
                        arch_loss = self.arch_step(xv, yv, x, y)
                guard.check_step(run, epoch, step, loss, arch_loss)
                sums["loss"] += float(loss)
                sums["acc"] += float(acc)
                sums["arch_loss"] += float(arch_loss)
                run.call_hook("automl_step_end", run=run, epoch=epoch, step=step,
                              metrics={"loss": float(loss), "acc": float(acc), "lr": lr, "steps": self.steps})
                if run.stop_requested:
                    break
            if run.stop_requested:
                break  # an interrupted epoch is not recorded; the last checkpoint stands
            record = self.epoch_record(epoch, {k: v / self.steps for k, v in sums.items()}, lr, time.perf_counter() - started)
            self.search_time += record["epoch_time_s"]
            self.write_epoch(epoch, record)
            if run.recipe.run.checkpoint_every and (epoch + 1) % run.recipe.run.checkpoint_every == 0:
                ckpt.save(self, epoch + 1)
            run.call_hook("automl_epoch_end", run=run, epoch=epoch, metrics=record)
        return self.history[-1] if self.history else {}

    # ------------------------------------------------------------------ per epoch

    def derive(self) -> Genotype:
        with torch.no_grad():
            params = {k: v.detach().cpu() for k, v in self.sampler.derive_params(self.run.params).items()}
        return self.space.derive(params)

    @torch.no_grad()
    def valid_accuracy(self, child: bool = False) -> float:
        run, limit = self.run, self.run.recipe.search.valid_batches
        run.supernet.eval()
        correct = total = 0
        for i, (x, y) in enumerate(self.valid_loader.epoch(0)):
            if limit and i >= limit:
                break
            if child:
                sample = self.sampler.child_sample(run.params, run.generator)
            else:
                sample = self.sampler.sample(run.params, phase="eval")
            out = run.supernet(x, sample)
            logits = out[0] if isinstance(out, tuple) else out
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        run.supernet.train()
        return 100.0 * correct / max(total, 1)

    def epoch_record(self, epoch: int, means: dict, lr: float, seconds: float) -> dict:
        run, scfg = self.run, self.run.recipe.search
        genotype = self.derive()
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "train_loss": means["loss"], "train_acc": 100 * means["acc"]}
        if scfg.mode == "bilevel":
            record["arch_loss"] = means["arch_loss"]
        record["valid_acc"] = self.valid_accuracy()
        if scfg.child_accuracy:
            record["child_valid_acc"] = self.valid_accuracy(child=True)
        record.update(self.sampler.status())
        record["genotype"] = genotype.text
        record.update(collapse_diagnostics(genotype, self.sampler.probs(run.params), self.space))
        if scfg.hessian_eigenvalue:
            from automl_nas.engine.diagnostics import dominant_hessian_eigenvalue

            record["hessian_eigenvalue"] = dominant_hessian_eigenvalue(self)
        if self.evaluator and scfg.eval_every and (epoch + 1) % scfg.eval_every == 0 and epoch + 1 < scfg.epochs:
            record["eval"] = self.evaluate(genotype)
        record["epoch_time_s"] = seconds
        return record

    def write_epoch(self, epoch: int, record: dict) -> None:
        rd = self.run.run_dir
        rd.append_jsonl(rd.metrics_file, record)
        with torch.no_grad():
            probs = self.sampler.probs(self.run.params)
            hist = {"epoch": epoch,
                    "params": {k: v.detach().cpu().tolist() for k, v in self.run.params.items()},
                    "probs": {k: v.detach().cpu().tolist() for k, v in probs.items()}}
        rd.append_jsonl(rd.history_file, hist)
        self.history.append(record)

    def evaluate(self, genotype: Genotype) -> dict:
        run = self.run
        ctx = EvalContext(space=self.space, data=self.data, device=run.device, seed=run.recipe.seed,
                          run_dir=run.run_dir.path, log=run.log)
        try:
            metrics = self.evaluator.evaluate(genotype, ctx)
        except AutomlError:
            raise
        except Exception as exc:  # noqa: BLE001
            comp = run.plan.evaluator.component
            raise PluginError(f"evaluator {comp.name!r} from plugin {comp.plugin!r} ({comp.dist}) failed on {genotype.text}: {one_line(exc)}",
                              plugin=comp.plugin, hint="check the evaluator's options (e.g. the table path) in the recipe") from exc
        return {k: float(v) for k, v in metrics.items()}


def collapse_diagnostics(genotype: Genotype, probs: dict, space) -> dict:
    """Parameter-free op count in the derived cell and per-edge entropies (spec §11.1)."""
    names = set()
    for g in space.groups():
        names.update(g.ops)
    found = [m for m in re.findall(r"[A-Za-z_]+[0-9x_]*", genotype.text) if m in names]
    non_none = [m for m in found if m != "none"]
    param_free = sum(1 for m in non_none if m in PARAM_FREE)
    skips = sum(1 for m in non_none if m == "skip_connect")
    out: dict[str, Any] = {"param_free_ops": param_free, "skip_fraction": skips / max(len(non_none), 1)}
    entropies = {}
    for group, p in probs.items():
        p = p.detach().double().clamp_min(1e-12)
        ent = -(p * p.log()).sum(-1)
        entropies[group] = [round(float(e), 6) for e in ent]
        out[f"entropy_{group}"] = float(ent.mean())
    out["edge_entropy"] = entropies
    return out


def expected_check(recipe, metrics: dict) -> dict | None:
    exp = recipe.expected
    if exp is None:
        return None
    value = metrics.get(exp.metric)
    inside = None if value is None else bool(exp.low <= value <= exp.high)
    return {"metric": exp.metric, "paper": exp.value, "low": exp.low, "high": exp.high, "source": exp.source,
            "ours": value, "inside": inside}


def execute(plan: Plan, registry, pm, run_dir: RunDir, *, quiet: bool = False, resume: bool = False) -> dict:
    """Run (or resume) a search end to end and write ``result.json``; returns the result."""
    from automl_nas.engine.guards import Guard

    recipe = plan.recipe
    device = resolve_device(recipe.run.device)
    run = RunContext(plan, registry, pm, run_dir, device=device, quiet=quiet)
    started = time.perf_counter()
    search = Search(run)
    run.search = search
    if resume:
        ckpt.load(search)
    else:
        run_dir.write_text(run_dir.recipe_file, dump_recipe(recipe))
        from automl_nas.records.rundir import atomic_write_json

        atomic_write_json(run_dir.env_file, environment(device, recipe.seed, recipe.data.name, search.data.source))
    result: dict[str, Any] = {"recipe": recipe.name, "space": search.space.name or plan.space.component.name,
                              "sampler": plan.sampler.component.name, "dataset": recipe.data.name, "seed": recipe.seed}
    guard = Guard(search)
    run.call_hook("automl_run_start", run=run)
    try:
        with guard.signals():
            last = search.run_epochs(guard)
        if run.stop_requested:
            raise guard.interrupted()
        genotype = search.derive()
        result.update(status="finished", genotype=genotype.text, epochs=recipe.search.epochs,
                      search_time_s=round(search.search_time, 3), last_epoch=last)
        if search.evaluator is not None:
            result["metrics"] = search.evaluate(genotype)
        try:
            result["costs"] = search.space.genotype_costs(genotype, search.inputs)
        except NotImplementedError:
            pass
        check = expected_check(recipe, result.get("metrics", {}))
        if check:
            result["expected"] = check
        ckpt.save(search, recipe.search.epochs)
    except AutomlError as exc:
        result.update(status=getattr(exc, "status", "failed"), error=str(exc), epochs_done=len(search.history),
                      genotype=search.history[-1]["genotype"] if search.history else None)
        run_dir.write_result(result)
        run.call_hook("automl_run_end", run=run, result=result)
        raise
    result["wall_time_s"] = round(time.perf_counter() - started, 3)
    run_dir.write_result(result)
    run.call_hook("automl_run_end", run=run, result=result)
    return result
