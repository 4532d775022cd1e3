"""The ``gnn-train`` evaluator: train a genotype's standalone network on the run's graph.

Protocol of NAS-Bench-Graph's trainer: full-batch Adam on the training nodes, the
model state of the best validation accuracy is the one reported (its test accuracy),
evaluated every step. Accuracies are in % (the engine's convention).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from automl_nas import DataError
from automl_nas.api import EvalContext, Evaluator, Genotype, GraphSet, InputSpec
from automl_nas_space_gnn.config import GnnTrainConfig

__all__ = ["GnnTrain"]


class GnnTrain(Evaluator):
    name = "gnn-train"
    metrics = ("test_acc", "valid_acc", "params")
    higher_is_better = True

    def __init__(self, config: GnnTrainConfig | None = None) -> None:
        self.config = config or GnnTrainConfig()

    def check(self, space: Any, data: Any) -> None:
        if data is None:
            raise DataError("evaluator 'gnn-train' trains on a graph, and no data set was given",
                            hint='give a graph data set: [data] name = "sbm", "pyg" or "graph-file" in the recipe, '
                                 "or `automl eval ... --data sbm`")
        if not isinstance(data, GraphSet):
            raise DataError(f"evaluator 'gnn-train' trains on a graph, but the data set {data.name!r} holds images",
                            hint='use a graph data set ([data] name = "sbm", "pyg" or "graph-file"), or an image '
                                 "evaluator (retrain) for an image space")
        if len(data.test_idx) == 0:  # test_acc came back null, without a word
            raise DataError(f"evaluator 'gnn-train' reports accuracy on the test nodes, and the graph {data.name!r} "
                            f"has none", hint="give the graph a test mask, or let its split leave test nodes "
                                              "(graph-file without masks: train_nodes + valid_nodes < 1)")

    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        data = ctx.data
        self.check(ctx.space, data)
        device = torch.device(ctx.device)
        # The caller's generators stay as they were (a search that evaluates mid-run goes on as
        # one that does not), as the retrain evaluator's do.
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(ctx.seed)
            return self._train(genotype, data, device, ctx)

    def _train(self, genotype: Genotype, data: GraphSet, device: torch.device, ctx: EvalContext) -> dict[str, float]:
        cfg = self.config
        inputs = InputSpec(channels=data.num_features, height=1, width=1, num_classes=data.num_classes)
        net = ctx.space.build_network(genotype, inputs).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        (train, y_train), (valid, y_valid), (test, y_test) = (
            (g.to(device), y.to(device)) for g, y in (data.batch(s) for s in ("train", "valid", "test")))
        best = (-1.0, 0.0)
        started = time.perf_counter()
        for _ in range(cfg.epochs):
            net.train()
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(train), y_train).backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                valid_acc = _accuracy(net(valid), y_valid)
                if valid_acc > best[0]:
                    best = (valid_acc, _accuracy(net(test), y_test) if len(y_test) else float("nan"))
        return {"test_acc": best[1], "valid_acc": best[0], "params": float(sum(p.numel() for p in net.parameters())),
                "train_time_s": time.perf_counter() - started}


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * float((logits.argmax(1) == y).float().mean())
