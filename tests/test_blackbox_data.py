"""Issue 18: `automl search` loads an optional [data] table for evaluators that train (retrain)."""

from __future__ import annotations

from click.testing import CliRunner

from automl_nas.cli import main

RECIPE = """name = "bbdata"
[space]
name = "macro"
channels = 4
stages = 2
[data]
name = "npz"
path = "{path}"
[evaluator]
name = "retrain"
epochs = 1
[blackbox]
proposer = {{ name = "morphism" }}
queries = 2
"""


def test_validate_checks_the_blackbox_data_table(tmp_path):
    recipe = tmp_path / "bb.toml"
    recipe.write_text(RECIPE.format(path=tmp_path / "missing.npz"))
    out = CliRunner().invoke(main, ["validate", str(recipe)])
    assert out.exit_code != 0 and "data" in out.output and "missing.npz" in out.output


def test_search_trains_on_the_data_table(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 3, 8, 8), dtype=np.uint8)
    y = np.arange(60) % 3
    x[y == 1, 0] = 255  # a learnable colour cue
    np.savez(tmp_path / "tiny.npz", x=x, y=y)
    recipe = tmp_path / "bb.toml"
    recipe.write_text(RECIPE.format(path=tmp_path / "tiny.npz").replace('path = "', 'test_fraction = 0.25\npath = "')
                      + f'[run]\nroot = "{tmp_path / "runs"}"\n')
    out = CliRunner().invoke(main, ["search", str(recipe), "-q"])
    assert out.exit_code == 0, out.output
    assert '"queries": 2' in out.output and len(list((tmp_path / "runs").glob("*/retrain/*/last.pt"))) == 2
