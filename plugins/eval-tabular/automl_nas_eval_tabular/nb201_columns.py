"""Column names of the stored NAS-Bench-201 table (``automl bench import nb201``), one place.

Per data set ``D`` in ``cifar10``, ``cifar100``, ``ImageNet16-120`` (NAS-Bench-201 paper,
Dong & Yang, ICLR 2020, §3 and Table 4; NATS-Bench ``get_more_info`` conventions):

============================  =================================================================
``D``                          test accuracy (%), 200 epochs, mean over seeds. CIFAR-10: the
                               original test set after training on train+valid ("cifar10",
                               ``ori-test``); CIFAR-100 / ImageNet16-120: the ``x-test`` half.
``D_valid``                    validation accuracy (%), 200 epochs, mean over seeds. CIFAR-10:
                               ``x-valid`` after training on the train half ("cifar10-valid");
                               others: the ``x-valid`` half.
``D_test_sS``, ``D_valid_sS``  the same for seed ``S`` alone (777, 888, 999 where present).
``D_valid_12ep``               validation accuracy after the 12-epoch schedule (``hp="12"``),
                               mean over seeds: the signal of the paper's black-box baselines.
``D_params``, ``D_flops``      parameters (MB) and FLOPs (M) of the network on ``D``.
``D_latency``                  inference latency (s), where measured.
``D_train_time``               training time of the 200-epoch schedule (s), mean over seeds.
``D_time_12ep``                simulated cost (s) of one 12-epoch query: 12-epoch training time
                               plus one validation pass (NATS-Bench ``simulate_train_eval``).
============================  =================================================================

The bare ``D`` name keeps the layout of the project's ``nb201-test-accuracy.csv``
(``arch,cifar10,cifar100,ImageNet16-120``), so recipes' ``[expected] metric = "cifar10"``
reads the same number from either.
"""

from __future__ import annotations

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
QUANTITIES = ("test", "valid", "valid_12ep", "params", "flops", "latency", "train_time", "time_12ep")
SEEDS = (777, 888, 999)


def column(dataset: str, quantity: str = "test", seed: int | None = None) -> str:
    """The column of ``quantity`` on ``dataset`` (optionally of one seed)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown NAS-Bench-201 data set {dataset!r} (one of {', '.join(DATASETS)})")
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r} (one of {', '.join(QUANTITIES)})")
    name = dataset if quantity == "test" else f"{dataset}_{quantity}"
    if seed is not None:
        name = f"{dataset}_{quantity}_s{seed}"
    return name


def is_accuracy(name: str) -> bool:
    """Whether the column ``name`` holds an accuracy in percent (test or validation, any seed)."""
    for dataset in DATASETS:
        if name == dataset:
            return True
        rest = name.removeprefix(f"{dataset}_")
        if rest != name and (rest in ("valid", "valid_12ep")
                             or any(rest == f"{q}_s{s}" for q in ("test", "valid") for s in SEEDS)):
            return True
    return False


def default_columns(available: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """What the evaluator reports by default: test and validation accuracy of every data set present."""
    wanted = [column(d, q) for q in ("test", "valid") for d in DATASETS]
    return tuple(c for c in wanted if c in available)
