"""Found architectures as plain PyTorch modules, without the CLI.

:func:`build_model` builds a genotype's standalone network from any installed search space;
:func:`load_model` rebuilds what ``automl export`` wrote, with its weights, as an eager module.
Importing this module imports no torch (the functions do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_nas.errors import RunError

if TYPE_CHECKING:
    from torch import nn

    from automl_nas.api import Genotype, InputSpec

__all__ = ["build_model", "load_model"]


def build_model(genotype: str | Genotype, *, space: str | None = None, inputs: InputSpec | dict | None = None,
                seed: int | None = 0, **options: Any) -> nn.Module:
    """The standalone network of ``genotype`` with fresh weights: from ``seed`` (the caller's
    random state is left as it was), or with ``seed=None`` drawn from torch's global generator
    like any ``nn.Module``'s (two calls differ).

    Args:
        genotype: the canonical text a search printed, or a :class:`~automl_nas.api.Genotype`.
        space: the search space's name; recognised from the text when omitted.
        inputs: image shape and classes, an :class:`~automl_nas.api.InputSpec` or a dict of its
            fields (default CIFAR-10: 3x32x32, 10 classes).
        options: the space's options that shape the network (e.g. ``eval_channels=36, eval_layers=20``
            for DARTS); one that shapes only the search supernet (``channels``) is refused.

    Example:
        >>> import torch
        >>> from automl_nas import build_model
        >>> net = build_model("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        >>> net.eval()(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    return _built(genotype, space, inputs, seed, options, supernet_options="refuse")


def _built(genotype: str | Genotype, space: str | None, inputs: InputSpec | None, seed: int | None,
           options: dict[str, Any], *, supernet_options: str) -> nn.Module:
    """``build_model``; ``supernet_options``: ``"refuse"`` an option that shapes only the search
    supernet (a caller's, which would do nothing), or ``"drop"`` it (a run's recorded options)."""
    import torch

    from automl_nas.api import Genotype, InputSpec, parse_genotype, supernet_only_problem
    from automl_nas.api.space import supernet_only_options
    from automl_nas.errors import RecipeError
    from automl_nas.recipe.converter import structure
    from automl_nas.session import open_session

    session = open_session()
    if isinstance(genotype, Genotype) or space:
        text = genotype.text if isinstance(genotype, Genotype) else str(genotype)
        name = space or genotype.space
    else:  # the recognising plugin's genotype: its space, and its text (it may accept another spelling)
        found = _recognise(session, str(genotype))
        text, name = found.text, found.space
    component = session.registry.get("search_space", name, where="build_model(space=...)")
    if supernet_options == "drop":
        options = {k: v for k, v in options.items() if k not in supernet_only_options(component.config, options)}
    elif (unused := supernet_only_problem(name, component.config, options)) is not None:
        raise RecipeError(f"build_model: {unused}", hint="pass the option the network reads, or leave it out")
    config = (structure(dict(options), component.config, source="build_model", prefix="space",
                        hint=f"pass the keyword arguments the space takes (`automl plugins --options {name}` lists them)")
              if component.config else None)
    if isinstance(inputs, dict):  # the fields of an InputSpec, as a dict
        try:
            inputs = InputSpec(**inputs)
        except TypeError as exc:
            raise RecipeError(f"build_model: inputs: {exc}", hint="pass InputSpec(channels=3, height=32, width=32, "
                                                                  "num_classes=10) or a dict of those keys") from None
    built = session.registry.create("search_space", name, config)
    parsed = parse_genotype(built, text, where="build_model(genotype=...)")
    if seed is None:  # drawn from torch's global generator, as torch's own modules are (an ensemble differs)
        return built.build_network(parsed, inputs or InputSpec())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return built.build_network(parsed, inputs or InputSpec())


def load_model(export_dir: str | Path) -> nn.Module:
    """The network ``automl export`` wrote into ``export_dir``, as an eager module in eval mode,
    with the exported weights (read from the TorchScript file, whose parameter names are the
    eager network's)."""
    import torch

    from automl_nas.api import InputSpec

    folder = Path(export_dir)
    record_file = folder / "genotype.json"
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        scripted = torch.jit.load(str(folder / record["files"]["torchscript"]), map_location="cpu")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise RunError(f"{folder}: not an `automl export` directory ({type(exc).__name__}: {exc})",
                       hint="pass the --out directory of `automl export` (genotype.json and model.pt)") from None
    net = _built(record["text"], record["space"], InputSpec(**record["inputs"]), 0, record.get("space_options", {}),
                 supernet_options="drop")
    net.load_state_dict(scripted.state_dict())
    return net.eval()


def _recognise(session: Any, text: str) -> Genotype:
    from automl_nas.standalone.target import recognise_genotype

    return recognise_genotype(text, session.pm, session.registry, space_option="build_model(..., space=NAME)")
