"""Discovery: broken plugins are reported and the others live; clashes; blocking; strict mode."""

from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest

from automl_nas import Component, hookimpl
from automl_nas.errors import PluginError
from automl_nas.manager import build_registry, get_plugin_manager


class FakeDist:
    def __init__(self, name, version="1.2.3"):
        self.metadata = {"Name": name}
        self.version = version


class FakeEntryPoint:
    def __init__(self, name, value, loader, dist="fake-dist"):
        self.name, self.value, self._loader, self.dist = name, value, loader, FakeDist(dist)

    def load(self):
        return self._loader()


def good_plugin(name="alpha"):
    mod = types.ModuleType(f"plugin_{name}")

    @hookimpl
    def automl_register_samplers():
        return [Component(kind="sampler", name=name, impl="x:y")]

    mod.automl_register_samplers = automl_register_samplers
    return mod


def broken_import():
    raise ImportError("No module named 'missing_dependency'")


def test_import_error_is_reported_and_others_load():
    eps = [FakeEntryPoint("broken", "broken.hooks", broken_import, "automl-nas-broken"),
           FakeEntryPoint("alpha", "alpha.hooks", good_plugin)]
    pm = get_plugin_manager(entry_points=eps, disabled=[])
    registry = build_registry(pm)
    assert registry.names("sampler") == ["alpha"]
    (err,) = [e for e in registry.errors]
    assert err.plugin == "broken" and "automl-nas-broken 1.2.3" in str(err)
    assert "ImportError: No module named 'missing_dependency'" in str(err)


def test_duplicate_name_names_both_plugins():
    eps = [FakeEntryPoint("alpha", "a", lambda: good_plugin("same"), "dist-a"),
           FakeEntryPoint("beta", "b", lambda: good_plugin("same"), "dist-b")]
    registry = build_registry(get_plugin_manager(entry_points=eps, disabled=[]))
    assert registry.names("sampler") == ["same"]
    msg = str(registry.errors[0])
    assert "'alpha' (dist-a 1.2.3)" in msg and "'beta' (dist-b 1.2.3)" in msg
    # A recipe that names the clashing component is refused instead of silently getting one of them.
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.resolve import resolve_ref

    with pytest.raises(PluginError, match="provided twice"):
        resolve_ref(registry, "sampler", ComponentRef(name="same"), key="search.sampler", source="r.toml")


def test_a_plugin_component_named_like_a_built_in_is_left_out_and_the_built_in_kept():
    """CONTRIBUTING: a built-in's name stays the built-in's. Every recipe was refused instead (the
    default objective cross_entropy was 'provided twice')."""
    mod = types.ModuleType("plugin_copycat")

    @hookimpl
    def automl_register_objectives():
        return [Component(kind="objective", name="cross_entropy", impl="x:y")]

    mod.automl_register_objectives = automl_register_objectives
    eps = [FakeEntryPoint("copycat", "c", lambda: mod, "dist-c")]
    registry = build_registry(get_plugin_manager(entry_points=eps, disabled=[]))
    kept = registry.get("objective", "cross_entropy")
    assert kept.dist == "automl-nas (built-in)" and registry.clash("objective", "cross_entropy") is None
    (said,) = [str(e) for e in registry.errors]
    assert "objective 'cross_entropy' of plugin 'copycat' (dist-c 1.2.3) is left out: the name is automl-nas's " \
           "built-in objective's" in said and "rename the plugin's component" in said
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.resolve import resolve_ref

    assert resolve_ref(registry, "objective", ComponentRef(name="cross_entropy"), key="search.objectives[0]",
                       source="r.toml").component.dist == "automl-nas (built-in)"


def test_a_name_its_plugin_s_raising_hook_would_have_given_says_so():
    """A plugin whose other hooks worked: "unknown sampler 'tempered'" alone, the hook's failure
    only in a warning printed long before."""
    from automl_nas.errors import RecipeError

    mod = types.ModuleType("plugin_half")

    @hookimpl
    def automl_register_samplers():
        raise RuntimeError("boom")

    @hookimpl
    def automl_register_objectives():
        return [Component(kind="objective", name="entropy-of-arch", impl="x:y")]

    mod.automl_register_samplers, mod.automl_register_objectives = automl_register_samplers, automl_register_objectives
    registry = build_registry(get_plugin_manager(entry_points=[FakeEntryPoint("half", "h", lambda: mod)], disabled=[]))
    with pytest.raises(RecipeError, match=r"plugin\(s\) 'half' raised in automl_register_samplers, and the name may "
                                          r"be one of theirs"):
        registry.get("sampler", "tempered")


def test_unknown_hook_drops_only_the_culprit():
    bad = types.ModuleType("bad")

    @hookimpl
    def automl_register_samplerz():
        return []

    bad.automl_register_samplerz = automl_register_samplerz
    eps = [FakeEntryPoint("bad", "bad", lambda: bad), FakeEntryPoint("alpha", "a", good_plugin)]
    pm = get_plugin_manager(entry_points=eps, disabled=[])
    assert not pm.has_plugin("bad") and pm.has_plugin("alpha")
    assert "does not fit the automl_nas hook contract" in str(pm.load_errors[0])
    assert "did you mean 'automl_register_samplers' for 'automl_register_samplerz'" in str(pm.load_errors[0])


def raising_plugin():
    mod = types.ModuleType("raiser")

    @hookimpl
    def automl_register_samplers():
        raise RuntimeError("boom")

    mod.automl_register_samplers = automl_register_samplers
    return mod


def test_hook_that_raises_is_reported():
    mod = raising_plugin()
    registry = build_registry(get_plugin_manager(entry_points=[FakeEntryPoint("raiser", "r", lambda: mod),
                                                               FakeEntryPoint("alpha", "a", good_plugin)], disabled=[]))
    assert registry.names("sampler") == ["alpha"]
    assert "raised in automl_register_samplers: RuntimeError: boom" in str(registry.errors[0])


def test_blocking_and_strict_mode():
    eps = [FakeEntryPoint("broken", "b", broken_import), FakeEntryPoint("alpha", "a", good_plugin)]
    pm = get_plugin_manager(entry_points=eps, disabled=["broken"])
    assert not pm.load_errors
    with pytest.raises(PluginError, match="failed to import"):
        get_plugin_manager(entry_points=eps, disabled=[], strict=True)


def test_importing_package_loads_no_torch():
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import sys, automl_nas, automl_nas.manager, automl_nas.recipe; "
                          "from automl_nas.manager import build_registry, get_plugin_manager; build_registry(get_plugin_manager()); "
                          "print('torch' in sys.modules)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "discovery must not import torch (plugins' hooks.py must stay light)"


def test_real_entry_points_include_first_party_and_outside_plugin():
    names = {ep.name: ep.dist.metadata["Name"] for ep in metadata.entry_points(group="automl_nas")}
    assert names.get("toy") == "automl-nas-toy"
    assert names.get("space-nb201") == "automl-nas-space-nb201"


def _plugin_returning(name, value):
    mod = types.ModuleType(f"plugin_{name}")

    @hookimpl
    def automl_register_samplers():
        return value

    mod.automl_register_samplers = automl_register_samplers
    return mod


def test_a_hook_that_returns_one_component_or_a_non_attrs_config_is_a_load_error_and_the_others_live():
    """A single Component (not a list) made every command an internal error, `automl plugins`
    included; a dataclass or dict config reached attrs in validate and `plugins --options`."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class DataclassConfig:
        temp: float = 1.0

    eps = [FakeEntryPoint("single", "s", lambda: _plugin_returning(
               "single", Component(kind="sampler", name="single", impl="x:y"))),
           FakeEntryPoint("dc", "d", lambda: _plugin_returning(
               "dc", [Component(kind="sampler", name="dc", impl="x:y", config=DataclassConfig)])),
           FakeEntryPoint("dict", "d2", lambda: _plugin_returning(
               "dict", [Component(kind="sampler", name="dict", impl="x:y", config={"temp": 1.0})])),
           FakeEntryPoint("alpha", "a", good_plugin)]
    registry = build_registry(get_plugin_manager(entry_points=eps, disabled=[]))
    assert registry.names("sampler") == ["alpha"]
    single, dc, as_dict = (str(e) for e in registry.errors)
    assert "plugin 'single'" in single and "a contribution hook returns a list of Component" in single
    assert "'dc'" in dc and "not an attrs class" in dc and "@attrs.frozen(kw_only=True)" in dc
    assert "'dict'" in as_dict and "which is not a class" in as_dict


def test_a_second_distribution_with_a_taken_entry_point_name_is_reported_not_dropped():
    eps = [FakeEntryPoint("alpha", "a", lambda: good_plugin("first"), "dist-a"),
           FakeEntryPoint("alpha", "b", lambda: good_plugin("second"), "dist-b"),
           FakeEntryPoint("objectives", "c", lambda: good_plugin("third"), "dist-c")]
    pm = get_plugin_manager(entry_points=eps, disabled=[])
    # which one loaded depended on discovery order (a reinstall could swap a recipe's implementation): neither does
    assert build_registry(pm).names("sampler") == []
    clash, builtin = (str(e) for e in pm.load_errors)
    assert "plugin 'alpha' is not loaded: the entry-point name 'alpha' is claimed by dist-a 1.2.3 and dist-b 1.2.3" \
           in clash and "uninstall all but one of them, or rename the entry point" in clash
    assert {e.message for e in get_plugin_manager(entry_points=eps[::-1], disabled=[]).load_errors} == \
           {e.message for e in pm.load_errors}
    assert "already taken by automl-nas (built-in)" in builtin
    # the same distribution found twice on sys.path is one plugin, not a clash
    same = [FakeEntryPoint("alpha", "a", good_plugin, "dist-a"), FakeEntryPoint("alpha", "a", good_plugin, "dist-a")]
    assert not get_plugin_manager(entry_points=same, disabled=[]).load_errors


def test_strict_mode_fails_on_registration_errors_too_and_blocked_plugins_say_so():
    eps = [FakeEntryPoint("raiser", "r", raising_plugin), FakeEntryPoint("alpha", "a", good_plugin)]
    with pytest.raises(PluginError, match="raised in automl_register_samplers: RuntimeError: boom"):
        build_registry(get_plugin_manager(entry_points=eps, disabled=[], strict=True))
    twice = [FakeEntryPoint("alpha", "a", lambda: good_plugin("same"), "dist-a"),
             FakeEntryPoint("beta", "b", lambda: good_plugin("same"), "dist-b")]
    with pytest.raises(PluginError, match="provided twice"):
        build_registry(get_plugin_manager(entry_points=twice, disabled=[], strict=True))
    pm = get_plugin_manager(entry_points=eps, disabled=["raiser"])
    assert pm.dist_of("raiser") == "disabled by AUTOML_NAS_DISABLE_PLUGINS" and pm.dist_of("alpha") == "fake-dist 1.2.3"


def test_a_hook_with_a_misspelt_argument_keeps_pluggy_s_reason():
    mod = types.ModuleType("typo")

    @hookimpl
    def automl_epoch_end(run, epoch, metrics, recrd):
        pass

    mod.automl_epoch_end = automl_epoch_end
    pm = get_plugin_manager(entry_points=[FakeEntryPoint("typo", "t", lambda: mod)], disabled=[])
    (err,) = pm.load_errors
    assert "recrd" in str(err) and "automl_epoch_end" in str(err)


def test_a_data_set_option_named_like_a_host_data_key_is_a_load_error():
    import attrs

    @attrs.frozen(kw_only=True)
    class Shadowed:
        batch_size: int = 8
        path: str = ""

    mod = types.ModuleType("shadow")

    @hookimpl
    def automl_register_datasets():
        return [Component(kind="dataset", name="shadow", impl="x:y", config=Shadowed)]

    mod.automl_register_datasets = automl_register_datasets
    registry = build_registry(get_plugin_manager(entry_points=[FakeEntryPoint("shadow", "s", lambda: mod)], disabled=[]))
    assert registry.names("dataset") == []
    assert "option(s) batch_size are [data] keys the host reads itself" in str(registry.errors[0])


def test_a_plugin_whose_hooks_import_torch_is_named_by_automl_plugins(monkeypatch):
    """Every command imports every plugin's hooks module: one importing torch there slows them all."""
    from click.testing import CliRunner

    from automl_nas import manager
    from automl_nas.cli import main

    monkeypatch.setattr(manager, "HEAVY_MODULES", ("automl_nas_test_heavy_stand_in",))
    monkeypatch.delitem(sys.modules, "automl_nas_test_heavy_stand_in", raising=False)

    def heavy_plugin():
        monkeypatch.setitem(sys.modules, "automl_nas_test_heavy_stand_in", types.ModuleType("automl_nas_test_heavy_stand_in"))
        return good_plugin("heavy")

    eps = [FakeEntryPoint("light", "l", good_plugin), FakeEntryPoint("heavy", "h", heavy_plugin, "automl-nas-heavy")]
    pm = get_plugin_manager(entry_points=eps, disabled=[])
    assert pm.heavy_imports == {"heavy": ["automl_nas_test_heavy_stand_in"]}
    monkeypatch.setattr(manager, "get_plugin_manager", lambda **kw: pm)
    out = CliRunner().invoke(main, ["plugins"]).output
    heavy = out[out.index("heavy  (automl-nas-heavy"):]
    assert "note: loading this plugin imports automl_nas_test_heavy_stand_in, so every automl command waits" in heavy
    assert "note:" not in out[:out.index("heavy  (automl-nas-heavy")]


def test_a_component_of_a_disabled_plugin_says_the_plugin_is_disabled(monkeypatch):
    """`unknown sampler 'snas'; did you mean 'drnas'?` sent the user the wrong way; a misspelt
    name in AUTOML_NAS_DISABLE_PLUGINS blocked nothing, without a word."""
    from pathlib import Path

    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = Path(__file__).parents[1] / "recipes" / "snas.toml"
    monkeypatch.setenv("AUTOML_NAS_DISABLE_PLUGINS", "snas,no-such-plugin")
    result = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick"])
    text = " ".join(result.output.split())
    assert result.exit_code == 3, text
    assert "sampler 'snas' is not available: plugin 'snas' (automl-nas-snas" in text and "did you mean" not in text
    assert "AUTOML_NAS_DISABLE_PLUGINS names 'no-such-plugin', which no installed plugin is called" in text


def test_an_impl_naming_a_class_its_module_lacks_says_to_correct_the_impl():
    """It said to reinstall the distribution, which cannot mend a misnamed class."""
    component = Component(kind="sampler", name="x", impl="automl_nas.registry:NoSuchClass", plugin="p", dist="d 1")
    with pytest.raises(PluginError, match=r"names 'automl_nas.registry:NoSuchClass', but module 'automl_nas.registry' "
                                          r"has no 'NoSuchClass'") as info:
        component.load()
    assert "correct the Component's impl" in info.value.hint
