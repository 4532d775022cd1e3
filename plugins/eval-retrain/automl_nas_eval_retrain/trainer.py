"""The retraining loop: SGD with a per-epoch cosine learning rate, auxiliary loss, drop-path ramp,
cutout, gradient clipping, and a checkpoint after every epoch.

Follows DARTS ``train.py`` (SNAS-Series ``Analysis/darts/cnn``): per epoch, the learning rate
and ``drop_path_prob = prob * epoch / epochs`` are set first; each step minimises
``CE(logits) + auxiliary_weight * CE(aux_logits)`` and clips the gradient norm. NAS-Bench-201's
benchmark training is the same loop with Nesterov momentum and neither aux, cutout nor clipping.
Deviation: the last partial batch of an epoch is dropped (BatchNorm in the 1x1 auxiliary head
cannot train on one image), which the per-epoch reshuffle spreads over all images.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from torch import nn

from automl_nas.data import BatchLoader
from automl_nas.errors import RunError
from automl_nas.readback import LaggedReads, lag_for
from automl_nas.schedules import Schedule
from automl_nas_eval_retrain.augment import cutout
from automl_nas_eval_retrain.checkpoint import CheckpointDir
from automl_nas_eval_retrain.config import RetrainSettings
from automl_nas_eval_retrain.network import check_drop_path, drop_path_at, set_drop_path

__all__ = ["Trainer", "objective"]


def objective(output: Any, y: torch.Tensor, criterion: nn.Module, aux_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, logits)``: ``CE(logits) + aux_weight * CE(aux)`` when the net returned ``(logits, aux)``."""
    logits, aux = output if isinstance(output, (tuple, list)) else (output, None)
    loss = criterion(logits, y)
    if aux is not None and aux_weight > 0.0:
        loss = loss + aux_weight * criterion(aux, y)
    return loss, logits


class Trainer:
    """Trains ``net`` with ``settings`` on ``train_loader`` batches; scores ``test_loader``.

    Call :meth:`restore` (resume from ``checkpoints``), then :meth:`train`, then
    :meth:`test_accuracy`. ``history`` holds one record per finished epoch.
    """

    def __init__(self, net: nn.Module, settings: RetrainSettings, train_loader: BatchLoader, test_loader: BatchLoader, *,
                 seed: int, log: Callable[[str], None] = print, checkpoints: CheckpointDir | None = None,
                 step_every_s: float = 10.0) -> None:
        self.net, self.settings, self.seed, self.log, self.checkpoints = net, settings, seed, log, checkpoints
        # a step line this often within an epoch: an epoch of the papers' presets on a CPU is
        # minutes of silence otherwise (the search prints one every 10 s too)
        self.step_every_s = step_every_s
        self.train_loader, self.test_loader = train_loader, test_loader
        s = settings
        check_drop_path(net, s.drop_path_prob)
        self.optimizer = torch.optim.SGD(net.parameters(), lr=s.lr, momentum=s.momentum,
                                         nesterov=s.nesterov and s.momentum > 0, weight_decay=s.weight_decay)
        # torch's CosineAnnealingLR(T_max=epochs) stepped once per epoch, as DARTS and NB201 do.
        self.lr_schedule = Schedule(kind="cosine", start=s.lr, end=s.lr_min, endpoint=False)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
        self.history: list[dict[str, Any]] = []
        self.train_time = 0.0
        self.start_epoch = 0

    # ---- checkpoints ----

    def restore(self) -> bool:
        """Continue from the job's last checkpoint; ``False`` when there is none."""
        if self.checkpoints is None:
            return False
        device = str(next(self.net.parameters()).device)
        state = self.checkpoints.load(device)
        if state is None:
            return False
        self.net.load_state_dict(state["model"])
        if "optimizer" in state:  # a finished job's weights are kept without it
            self.optimizer.load_state_dict(state["optimizer"])
        _set_rng(state["rng"])
        self.history, self.train_time, self.start_epoch = state["history"], state["train_time"], state["epochs_done"]
        self.log(f"retrain: resumed {self.checkpoints.path} after epoch {self.start_epoch}/{self.settings.epochs}")
        return True

    def state(self) -> dict[str, Any]:
        return {"epochs_done": len(self.history), "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": _get_rng(), "history": self.history, "train_time": self.train_time}

    # ---- training ----

    def train(self) -> None:
        epochs = self.settings.epochs
        for epoch in range(self.start_epoch, epochs):
            record = self.train_epoch(epoch)
            self.history.append(record)
            if self.checkpoints is not None:  # before the log line: a crash after it loses nothing
                self.checkpoints.save(self.state())
            eta = self.train_time / len(self.history) * (epochs - epoch - 1)
            self.log(f"retrain epoch {epoch + 1}/{epochs}  loss {record['loss']:.4f}  train_acc {record['train_acc']:.2f}%  "
                     f"lr {record['lr']:.5f}  drop_path {record['drop_path']:.3f}  {record['seconds']:.1f}s  "
                     f"ETA {_minutes_seconds(eta)} (then the test pass)")

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        s = self.settings
        lr = self.lr_schedule.value(epoch, s.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        drop = drop_path_at(s.drop_path_prob, epoch, s.epochs)
        set_drop_path(self.net, drop)
        self.net.train()
        started = last_line = time.perf_counter()
        total_loss, correct, seen, tallied = 0.0, 0, 0, 0
        # Each step's loss and correct count are read in one transfer; on a GPU one step late,
        # once the next step is queued, so the device never waits for the host's bookkeeping.
        reads: LaggedReads[tuple[int, int]] = LaggedReads(lag=lag_for(self.train_loader.device))

        def tally(due: list[tuple[tuple[int, int], list[float]]]) -> None:
            nonlocal total_loss, correct, tallied
            for (b, n), (loss, right) in due:
                if not math.isfinite(loss):
                    raise RunError(f"retrain: the training loss is {loss} at epoch {epoch + 1}, step {b + 1}",
                                   hint="lower evaluator.lr or set evaluator.grad_clip; the last finished epoch's "
                                        "checkpoint is kept")
                total_loss += loss * n
                correct += int(right)
                tallied += n

        for b, (x, y) in enumerate(self.train_loader.epoch(epoch)):
            if s.cutout:
                x = cutout(x, s.cutout, torch.Generator().manual_seed(((self.seed + 7_919) * 100_003 + epoch) * 10_007 + b))
            loss, logits = self.step(x, y)
            seen += len(y)
            tally(reads.push((b, len(y)), torch.stack([loss.float(), (logits.argmax(1) == y).sum().float()])))
            if tallied and time.perf_counter() - last_line >= self.step_every_s:
                last_line = time.perf_counter()
                self.log(f"  retrain epoch {epoch + 1}/{s.epochs} step {b + 1}/{len(self.train_loader)}  "
                         f"loss {total_loss / tallied:.4f}  train_acc {100.0 * correct / tallied:.2f}%")
        tally(reads.drain())
        seconds = time.perf_counter() - started
        self.train_time += seconds
        return {"epoch": epoch, "loss": total_loss / seen, "train_acc": 100.0 * correct / seen, "lr": lr,
                "drop_path": drop, "seconds": round(seconds, 3)}

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step; ``(loss, logits)`` stay on the device (nothing is read back here: a
        non-finite loss is caught when :meth:`train_epoch` reads it, before the epoch's
        checkpoint, so the weights it spoilt are never kept)."""
        loss, logits = objective(self.net(x), y, self.criterion, self.settings.auxiliary_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        return loss.detach(), logits.detach()

    @torch.no_grad()
    def test_accuracy(self) -> float:
        """Top-1 accuracy (%) of the eval-mode network on the test loader."""
        self.net.eval()
        correct, seen = torch.zeros((), dtype=torch.long, device=self.test_loader.device), 0
        for x, y in self.test_loader.epoch(0):
            out = self.net(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            correct += (logits.argmax(1) == y).sum()  # summed on the device: one read per pass
            seen += len(y)
        return 100.0 * int(correct) / seen


def _minutes_seconds(seconds: float) -> str:
    """``"3m07s"`` (``"0.0 min"`` said nothing of a short wait)."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


# Only torch's generators: drop-path draws from them; data order and augmentation have their own.
def _get_rng() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
