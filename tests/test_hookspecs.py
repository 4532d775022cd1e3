"""Meta-tests: every hook is documented like an API, prefixed, and exercised in the hook-order test."""

from __future__ import annotations

import inspect

from automl_nas import hookspecs


def all_hooks():
    return [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("automl_")]


def test_every_hook_is_documented_and_typed():
    for name, fn in all_hooks():
        doc = inspect.getdoc(fn) or ""
        assert "**Called:**" in doc, name
        assert ".. versionadded::" in doc, name
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
            assert f":param {param.name}:" in doc, f"{name}: {param.name} undocumented"
        if getattr(fn, "automl_nas_spec", {}).get("firstresult"):
            assert "Stops at the first non-None result" in doc


def test_hook_order_of_a_run(tmp_path):
    from automl_nas.testing import run_recipe
    from tests.conftest import TOY_RECIPE

    outcome = run_recipe(tmp_path, TOY_RECIPE.format(data_extra=""))
    lifecycle = [c for c in outcome.hook_calls if not c.startswith("automl_register")]
    steps = outcome.result["last_epoch"] and len([c for c in lifecycle if c == "automl_step_end"]) // 2
    expected = (["automl_run_start"] + (["automl_step_end"] * steps + ["automl_epoch_end"]) * 2 + ["automl_run_end"])
    assert lifecycle == expected


def test_parse_genotype_firstresult(pm):
    assert pm.hook.automl_parse_genotype(text="toy:none,skip_connect,conv_3x3").space == "toy"
    assert pm.hook.automl_parse_genotype(text="certainly not a genotype") is None
