"""Meta-test: every hook is documented like an API (the per-hook tests live in test_hooks.py)."""

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
