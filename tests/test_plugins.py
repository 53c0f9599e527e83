"""Plugin discovery through real entry points, broken and clashing plugins, and the hook contract."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect

import gymnasium as gym
import pytest

import joyrl_core
from joyrl_core.config import GeneralConfig
from joyrl_core.contracts import hookspecs
from joyrl_core.errors import ComponentNotFoundError, DuplicateComponentError
from joyrl_core.plugins.registry import (
    DISABLE_AUTOLOAD_ENV_VAR,
    DISABLE_ENV_VAR,
    ENTRY_POINT_GROUP,
    KINDS,
    PLUGINS_ENV_VAR,
    Registry,
)

from conftest import quick_overrides

CORE_BUILTINS = {
    "algorithm": {"RANDOM"},
    "buffer": {"REPLAY_QUE"},
    "env": {"gym"},
    "backend": {"single"},
    "logger": {"console", "csv"},
}

BROKEN_MODULE = """
raise RuntimeError("boom: broken_pkg cannot be imported")
"""

DUPLICATE_DQN_MODULE = """
from joyrl_core import hookimpl


def make(config, env_spec, device, seed, shape):
    raise AssertionError("never built")


@hookimpl
def register_algorithms(register):
    register("DQN", make, None, "a second DQN")
"""

MISSPELLED_HOOK_MODULE = """
from joyrl_core import hookimpl


def make(config, env_spec, device, seed, shape):
    raise AssertionError("never built")


@hookimpl
def register_algorithm(register):  # missing the final "s"
    register("TYPO_ALGO", make, None, "registered through a hook that does not exist")


@hookimpl
def register_buffers(register):
    register("TYPO_BUFFER", make, None, "from the same broken plugin")
"""


# -- discovery ----------------------------------------------------------------------------------


def test_entry_points_of_installed_distributions():
    by_name = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert by_name["core"].value == "joyrl_core.plugins.builtins"
    assert by_name["core"].dist.name == "joyrl-core"
    assert by_name["dqn"].dist.name == "joyrl-dqn"
    assert by_name["testplugin"].dist.name == "joyrl-testplugin"
    assert by_name["testplugin"].value == "joyrl_testplugin.plugin"


def test_components_come_with_their_distribution(registry):
    assert registry.broken == []
    for kind, names in CORE_BUILTINS.items():
        for name in names:
            component = registry.get(kind, name)
            assert (component.distribution, component.plugin) == ("joyrl-core", "core")
            assert component.version == joyrl_core.__version__
            assert component.summary

    dqn = registry.get("algorithm", "DQN")
    assert (dqn.distribution, dqn.plugin, dqn.version) == ("joyrl-dqn", "dqn", "0.1.0")
    from joyrl_dqn import DQNConfig

    assert dqn.config_type is DQNConfig

    from joyrl_testplugin import ConstantConfig, JsonlLogger

    jsonl = registry.get("logger", "jsonl")
    assert (jsonl.distribution, jsonl.plugin, jsonl.version) == ("joyrl-testplugin", "testplugin", "0.1.0")
    assert jsonl.factory is JsonlLogger
    constant = registry.get("algorithm", "CONSTANT")
    assert constant.distribution == "joyrl-testplugin"
    assert constant.config_type is ConstantConfig
    assert [f.name for f in dataclasses.fields(ConstantConfig)] == ["action"]
    assert dataclasses.fields(ConstantConfig)[0].metadata == {"help": "the action always taken", "ge": 0}

    assert {"CONSTANT", "DQN", "RANDOM"} <= set(registry.names("algorithm"))
    assert {"console", "csv", "jsonl"} <= set(registry.names("logger"))


# -- broken, clashing and disabled plugins -------------------------------------------------------


def test_plugin_that_fails_to_import_is_reported_and_others_load(make_distribution):
    make_distribution("broken-dist", "broken_pkg", BROKEN_MODULE, entry_point="broken")

    registry = joyrl_core.load_registry()

    assert [(b.name, b.distribution) for b in registry.broken] == [("broken", "broken-dist")]
    assert registry.broken[0].error == "RuntimeError: boom: broken_pkg cannot be imported"
    assert registry.get("algorithm", "DQN").distribution == "joyrl-dqn"
    assert registry.get("logger", "jsonl").distribution == "joyrl-testplugin"
    assert registry.get("backend", "single").distribution == "joyrl-core"
    # A run that does not need the broken plugin resolves; one that misses a name hears about it.
    joyrl_core.resolve_config(registry, None, ["general_cfg.max_episode=1"])
    with pytest.raises(ComponentNotFoundError) as info:
        registry.get("algorithm", "NOT_INSTALLED")
    assert "plugin 'broken' (broken-dist) failed to load: RuntimeError: boom" in str(info.value)


def test_duplicate_name_names_both_distributions(make_distribution):
    make_distribution("dup-dqn", "dup_dqn_plugin", DUPLICATE_DQN_MODULE)

    with pytest.raises(DuplicateComponentError) as info:
        joyrl_core.load_registry()

    message = str(info.value)
    assert "algorithm 'DQN' is registered twice" in message
    assert "by joyrl-dqn (plugin 'dqn')" in message
    assert "by dup-dqn (plugin 'dup_dqn_plugin')" in message
    assert DISABLE_ENV_VAR in message


def test_duplicate_resolved_by_disabling_one(make_distribution, monkeypatch):
    make_distribution("dup-dqn", "dup_dqn_plugin", DUPLICATE_DQN_MODULE)
    monkeypatch.setenv(DISABLE_ENV_VAR, "dup-dqn")

    registry = joyrl_core.load_registry()

    assert registry.get("algorithm", "DQN").distribution == "joyrl-dqn"
    assert registry.broken == []


def test_misspelled_hook_is_reported_by_check_pending(make_distribution):
    make_distribution("typo-dist", "typo_plugin", MISSPELLED_HOOK_MODULE, entry_point="typo")

    registry = joyrl_core.load_registry()

    assert [(b.name, b.distribution) for b in registry.broken] == [("typo", "typo-dist")]
    assert "register_algorithm" in registry.broken[0].error
    assert "unknown hook" in registry.broken[0].error
    # The broken plugin contributes nothing, not even through its correctly named hook ...
    assert "TYPO_ALGO" not in registry.names("algorithm")
    assert "TYPO_BUFFER" not in registry.names("buffer")
    # ... and the plugins loaded after it are not blamed for it.
    assert {"DQN", "CONSTANT", "RANDOM"} <= set(registry.names("algorithm"))
    assert "REPLAY_QUE" in registry.names("buffer")


def test_hook_body_that_raises_is_reported(make_distribution):
    make_distribution("raising-dist", "raising_plugin", """
        from joyrl_core import hookimpl

        @hookimpl
        def register_envs(register):
            raise KeyError("no such thing")
    """)
    registry = joyrl_core.load_registry()
    assert [(b.name, b.distribution) for b in registry.broken] == [("raising_plugin", "raising-dist")]
    assert registry.broken[0].error == "register_envs raised KeyError: 'no such thing'"
    assert "gym" in registry.names("env")


@pytest.mark.parametrize(
    "bad_call, expected",
    [
        ('register("", make, None, "x")', "logger names must be non-empty strings"),
        ('register("bad", 42, None, "x")', "logger 'bad': factory 42 is not callable"),
        ('register("bad", make, dict, "x")', "logger 'bad': config_type must be a dataclass type"),
    ],
)
def test_invalid_registration_is_reported(make_distribution, bad_call, expected):
    make_distribution("invalid-dist", "invalid_plugin", f"""
        from joyrl_core import hookimpl

        def make(run):
            raise AssertionError("never built")

        @hookimpl
        def register_loggers(register):
            {bad_call}
    """)
    registry = joyrl_core.load_registry()
    assert [b.name for b in registry.broken] == ["invalid_plugin"]
    assert expected in registry.broken[0].error
    assert "bad" not in registry.names("logger")


def test_a_factory_written_before_the_shape_argument_is_refused_at_registration(make_distribution):
    make_distribution("old-dist", "old_plugin", """
        from joyrl_core import hookimpl

        def make_agent(config, env_spec, device, seed):
            raise AssertionError("never built")

        def make_buffer(capacity, env_spec, config, seed, shape=None):
            raise AssertionError("never built")

        @hookimpl
        def register_algorithms(register):
            register("OLD_ALGO", make_agent, None, "written against the four-argument factory")

        @hookimpl
        def register_buffers(register):
            register("NEW_BUFFER", make_buffer, None, "takes the shape")
    """)
    registry = joyrl_core.load_registry()
    assert [b.name for b in registry.broken] == ["old_plugin"]
    error = registry.broken[0].error
    assert "algorithm 'OLD_ALGO': factory(config, env_spec, device, seed) cannot be called as " in error
    assert "factory(config, env_spec, device, seed, shape)" in error
    assert "docs/plugins.md" in error
    assert "OLD_ALGO" not in registry.names("algorithm")


def test_same_entry_point_name_twice_is_reported(make_distribution):
    make_distribution("other-dqn", "other_dqn_plugin", "", entry_point="dqn")

    registry = joyrl_core.load_registry()

    assert len(registry.broken) == 1
    broken = registry.broken[0]
    assert broken.name == "dqn"
    other = {"joyrl-dqn": "other-dqn", "other-dqn": "joyrl-dqn"}[broken.distribution]
    assert broken.error == f"a plugin named 'dqn' is already loaded from {other}"


@pytest.mark.parametrize("value", ["testplugin", "joyrl-testplugin", " dqn , testplugin "])
def test_disable_plugins_by_entry_point_or_distribution(monkeypatch, value):
    monkeypatch.setenv(DISABLE_ENV_VAR, value)

    registry = joyrl_core.load_registry()

    assert "CONSTANT" not in registry.names("algorithm")
    assert "jsonl" not in registry.names("logger")
    assert registry.broken == []
    assert "RANDOM" in registry.names("algorithm")
    assert ("DQN" in registry.names("algorithm")) == ("dqn" not in value)


def test_missing_component_lists_installed_and_a_missing_default_says_what_to_do(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV_VAR, "dqn")
    registry = joyrl_core.load_registry()

    with pytest.raises(ComponentNotFoundError) as info:
        registry.get("algorithm", "DQN")
    message = str(info.value)
    assert message.startswith("no algorithm named 'DQN' is installed (installed: ")
    for name in registry.names("algorithm"):
        assert name in message
    assert "CONSTANT" in message and "RANDOM" in message
    assert "pip install" not in message, "the core knows no plugin to recommend"

    # joyrl-dqn declared the default algorithm; disabled, it declares nothing, so nothing is chosen.
    assert GeneralConfig().algo_name == ""
    with pytest.raises(ComponentNotFoundError) as info:
        joyrl_core.resolve_config(registry, None, [])
    message = str(info.value)
    assert message.startswith(
        "defaults: general_cfg.algo_name is not set and no installed plugin declares a default algorithm "
        "(installed: "
    )
    assert "CONSTANT, " in message and "RANDOM" in message
    assert "install an algorithm plugin" in str(info.value)


def test_missing_component_suggests_close_name(registry):
    with pytest.raises(ComponentNotFoundError) as info:
        registry.get("buffer", "REPLAY_QUEUE")
    assert "did you mean 'REPLAY_QUE'?" in str(info.value)
    assert "pip install" not in str(info.value)


# -- the hook contract ---------------------------------------------------------------------------


def _hookspecs() -> dict[str, object]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {name: obj for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, marker)}


# What each kind's factory must build, as the hook docstrings say.
FACTORY_PRODUCTS = {
    "algorithm": joyrl_core.Agent,
    "buffer": joyrl_core.Buffer,
    "env": gym.Env,
    "backend": joyrl_core.Backend,
    "logger": joyrl_core.Logger,
    "wrapper": gym.Env,
}


def test_every_hookspec_is_documented_and_known():
    specs = _hookspecs()
    assert set(specs) == set(KINDS) | {"install_hint", "experiment_executor"}, \
        "every other hook spec registers one kind of component"
    assert list(inspect.signature(specs.pop("install_hint")).parameters) == ["kind", "name"]
    assert list(inspect.signature(specs.pop("experiment_executor")).parameters) == ["config", "address"]
    assert set(FACTORY_PRODUCTS) == set(KINDS.values()), "a new kind needs a line in FACTORY_PRODUCTS"
    for name, spec in specs.items():
        doc = inspect.getdoc(spec)
        assert doc, f"hook spec {name} has no docstring"
        assert "factory" in doc and "Called" in doc, f"{name}: say what the factory takes and when it is called"
        assert list(inspect.signature(spec).parameters) == ["register"]


def test_every_hookspec_is_exercised_by_a_real_run(registry, task_root):
    """Each kind's factory is called by a run and builds what its hook's docstring promises."""
    calls: dict[str, list[object]] = {kind: [] for kind in KINDS.values()}

    def recording(component):
        def factory(*args, **kwargs):
            product = component.factory(*args, **kwargs)
            calls[component.kind].append(product)
            return product

        return dataclasses.replace(component, factory=factory)

    watched = Registry(
        components={kind: {n: recording(c) for n, c in by_name.items()} for kind, by_name in registry.components.items()}
    )
    cfg = joyrl_core.resolve_config(
        watched, None,
        [*quick_overrides(task_root, max_episode=2, max_step=30, seed=1, loggers="[csv, jsonl]"),
         "algo_cfg.batch_size=8", "env_cfg.wrappers=[{name: scale_reward, factor: 2}]"],
    )
    summary, _ = joyrl_core.start_run(cfg, watched)

    assert summary.update_steps > 0
    for spec_name, kind in KINDS.items():
        assert calls[kind], f"{spec_name}: no {kind} factory was called by the run"
        for product in calls[kind]:
            assert isinstance(product, FACTORY_PRODUCTS[kind]), f"{kind} factory built {type(product).__name__}"
    assert [type(p).__name__ for p in calls["logger"]] == ["CsvLogger", "JsonlLogger"]
    assert len(calls["backend"]) == 1


# -- the hook caller, autoloading, declared defaults and install hints ------------------------------


ORDERED_LOGGERS = """
from joyrl_core import hookimpl


def make(run):
    raise AssertionError("never built")


@hookimpl(tryfirst=True)
def register_loggers(register):
    register("first_logger", make, None, "registered before every other logger")
"""

WRAPPER_ENVS = """
from joyrl_core import hookimpl


def make(config, render_mode):
    raise AssertionError("never built")


@hookimpl(wrapper=True)
def register_envs(register):
    register("wrapped_env", make, None, "registered by a new-style wrapper")
    return (yield)
"""


def test_hooks_go_through_pluggys_caller(make_distribution):
    """tryfirst puts a plugin's registration before the others', a wrapper is run, tracing sees calls."""
    make_distribution("ordered-dist", "ordered_plugin", ORDERED_LOGGERS)
    make_distribution("wrapper-dist", "wrapper_plugin", WRAPPER_ENVS)
    traced: list[str] = []

    registry = joyrl_core.load_registry(trace=traced.append)

    assert registry.broken == []
    assert list(registry.components["logger"])[0] == "first_logger"
    assert registry.get("env", "wrapped_env").distribution == "wrapper-dist"
    trace = "".join(traced)
    assert "register_loggers [hook]" in trace
    assert "<register loggers of plugin 'ordered_plugin' (ordered-dist)>" in trace


def test_autoload_off_loads_only_the_core_and_the_named_plugins(monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV_VAR, "1")
    registry = joyrl_core.load_registry()
    assert {c.distribution for c in registry.all()} == {"joyrl-core"}
    assert registry.broken == []

    monkeypatch.setenv(PLUGINS_ENV_VAR, "dqn")
    registry = joyrl_core.load_registry()
    assert {c.distribution for c in registry.all()} == {"joyrl-core", "joyrl-dqn"}
    assert "CONSTANT" not in registry.names("algorithm")
    assert GeneralConfig().algo_name == "DQN"


def _declare_default(folder, algo_name: str) -> None:
    info = next(folder.glob("*.dist-info"))
    with open(info / "entry_points.txt", "a", encoding="utf-8") as fh:
        fh.write(f"\n[joyrl.defaults]\nalgo_name = {algo_name}\n")


def test_a_distribution_declares_the_default_algorithm(make_distribution, monkeypatch, task_root):
    monkeypatch.setenv(DISABLE_ENV_VAR, "dqn")
    _declare_default(make_distribution("const-default", "const_default", ""), "CONSTANT")
    registry = joyrl_core.load_registry()

    cfg = joyrl_core.resolve_config(registry, None, [])
    assert cfg.general.algo_name == "CONSTANT" and cfg.general == GeneralConfig()

    monkeypatch.delenv(DISABLE_ENV_VAR)
    with pytest.raises(ComponentNotFoundError) as info:
        joyrl_core.resolve_config(joyrl_core.load_registry(), None, [])
    assert str(info.value) == (
        "defaults: general_cfg.algo_name is not set and the installed plugins declare different defaults: "
        "CONSTANT (const-default), DQN (joyrl-dqn); set it"
    )
    assert joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=RANDOM"]).general.algo_name == "RANDOM"


def test_a_plugin_gives_the_install_hint_for_names_it_knows(make_distribution):
    make_distribution("hint-dist", "hint_plugin", """
        from joyrl_core import hookimpl

        @hookimpl
        def install_hint(kind, name):
            if (kind, name) == ("algorithm", "ATARI_DQN"):
                return "pip install joyrl-atari[rom]"
            return None
    """)
    registry = joyrl_core.load_registry()
    with pytest.raises(ComponentNotFoundError) as info:
        registry.get("algorithm", "ATARI_DQN")
    assert str(info.value).endswith("; install it with: pip install joyrl-atari[rom]")
    with pytest.raises(ComponentNotFoundError) as info:
        registry.get("algorithm", "SOMETHING_ELSE")
    assert "install it with" not in str(info.value)
