"""``docs/plugins.md`` stays true: its minimal plugin runs, and every hook and contract method is documented."""

from __future__ import annotations

import inspect
import re
import shlex

import pytest

import joyrl_core
from joyrl_core import Agent, Backend, Buffer, JoyRLError, Logger
from joyrl_core.contracts import hookspecs
from joyrl_core.plugins.registry import DISABLE_ENV_VAR, ENTRY_POINT_GROUP

from joyrl_core.cli.scaffold import _render, create_plugin, plugin_names

from conftest import REPO_ROOT, quick_overrides, read_episodes

DOC = REPO_ROOT / "docs" / "plugins.md"
# A fenced block whose info string names a file: ```python title="joyrl_linear_q.py"
FILE_BLOCK = re.compile(r'^```(\w+) title="?([^"\s]+)"?[ \t]*\n(.*?)^```[ \t]*$', re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def sections(text: str) -> dict[str, str]:
    """Level-2 sections by heading text (with its backticks), each with everything up to the next one."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2])}


def minimal_plugin(text: str) -> dict[str, str]:
    section = sections(text)["A complete minimal plugin"]
    return {title: body for _, title, body in FILE_BLOCK.findall(section)}


def test_minimal_plugin_is_the_generated_algo_package(doc):
    files = minimal_plugin(doc)
    generated = _render(plugin_names("linear-q", "algo"))
    assert sorted(files) == ["joyrl_linear_q/plugin.py", "pyproject.toml"]
    for name, body in files.items():
        assert body == generated[name], f"docs/plugins.md's {name} is not what `joyrl new-plugin` writes"


def test_minimal_plugin_installs_registers_and_runs(doc, tmp_path, discover_package, task_root, cli):
    project = discover_package(create_plugin("linear-q", "algo", tmp_path / "src"))

    registry = joyrl_core.load_registry()
    assert not [b for b in registry.broken if b.distribution == project["name"]], registry.broken
    component = registry.get("algorithm", "LINEAR_Q")
    assert (component.distribution, component.version) == ("joyrl-linear-q", "0.1.0")

    cfg = joyrl_core.resolve_config(
        registry, None, quick_overrides(task_root, algo_name="LINEAR_Q", max_episode=5, max_step=100, seed=3)
    )
    summary, task = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 5 and summary.update_steps > 0
    assert len(read_episodes(task.root)) == 5

    # The checkpoint it wrote loads back (test mode): state_dict holds plain data only.
    tested, _ = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="LINEAR_Q", mode="test", load_checkpoint="true",
                         load_path=str(task.root), test_episode=2, max_step=100, seed=3),
    ]), registry)
    assert len(tested.test_rewards) == 2

    # The commands the doc tells the reader to type.
    commands = [line.split("#")[0].split() for line in doc.splitlines() if line.startswith("joyrl ")]
    info = next(c for c in commands if c[1] == "info")
    result = cli(*info[1:])
    assert result.exit_code == 0 and "epsilon" in result.output, result.output
    run = next(shlex.split(" ".join(c)) for c in commands if c[1] == "run" and "algo_name=LINEAR_Q" in " ".join(c))
    result = cli(*run[1:], *(f"--set={o}" for o in quick_overrides(task_root, max_episode=20)))
    assert result.exit_code == 0, result.output
    assert "20 episodes" in result.output


def hook_names() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker))


def test_every_hook_spec_has_its_own_section(doc):
    found = sections(doc)
    register_hooks = sorted(kind.hook for kind in hookspecs.COMPONENT_KINDS)
    assert hook_names() == sorted([*register_hooks, "experiment_executor", "install_hint"])
    assert "def install_hint(kind, name)" in found["install_hint"]
    assert "`config`" in found["experiment_executor"] and "`address`" in found["experiment_executor"]
    for hook in register_hooks:
        assert hook in found, f"docs/plugins.md has no '## {hook}' section"
        body = found[hook]
        assert f"def {hook}(register)" in body, hook
        for part in ("**Selected by**", "**Factory**", "**Returns**", "**Lifecycle**"):
            assert part in body, f"## {hook} says nothing under {part}"
        # The factory signature is the one the hook spec documents.
        spec_signature = re.search(r"factory\([^)]*\)", inspect.getdoc(getattr(hookspecs, hook))).group(0)
        assert spec_signature in body, f"## {hook} does not give {spec_signature}"


@pytest.mark.parametrize("cls, heading", [
    (Agent, "The Agent contract"), (Buffer, "The Buffer contract"),
    (Logger, "The Logger contract"), (Backend, "The Backend contract"),
])
def test_every_contract_method_is_documented(doc, cls, heading):
    body = sections(doc)[heading]
    public = {name for name in vars(cls) if not name.startswith("_")} | set(cls.__abstractmethods__)
    missing = sorted(name for name in public if f"`{name}" not in body)
    assert not missing, f"'## {heading}' does not document {missing}"


def test_errors_config_and_disabling_are_documented(doc):
    found = sections(doc)
    errors = [name for name in joyrl_core.__all__
              if isinstance(getattr(joyrl_core, name), type) and issubclass(getattr(joyrl_core, name), JoyRLError)]
    assert not [name for name in errors if f"`{name}`" not in found["Errors"]]
    config = found["Typed configuration"]
    assert list(inspect.signature(joyrl_core.option).parameters) == ["default", "help", "minimum", "maximum"]
    assert "option(default, help, *, minimum=None, maximum=None)" in config and "`ExtraKeys`" in config
    assert f"Disabling plugins: `{DISABLE_ENV_VAR}`" in found
    assert f"The `{ENTRY_POINT_GROUP}` entry-point group" in found
