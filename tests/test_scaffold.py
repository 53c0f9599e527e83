"""``joyrl_core.cli.scaffold.create_plugin``: generated plugin packages load, register and run.

A generated package is made discoverable the way an installed one is, without pip: a real
``<dist>-<version>.dist-info`` (METADATA + entry_points.txt taken from the generated pyproject.toml)
beside its package, and the folder prepended to ``sys.path``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import joyrl_core
from joyrl_core.errors import JoyRLError
from joyrl_core.plugins.registry import DISABLE_ENV_VAR
from joyrl_core.cli.scaffold import SCAFFOLD_KINDS, create_plugin, plugin_names

from joyrl_core.testing import write_dist_info

from conftest import quick_overrides

REGISTRY_KIND = {"algo": "algorithm", "env": "env", "buffer": "buffer", "logger": "logger", "backend": "backend",
                 "wrapper": "wrapper"}


def run_with(registry, task_root: Path, *overrides: str):
    config = joyrl_core.resolve_config(
        registry, None, [*quick_overrides(task_root, max_episode=3, max_step=50, seed=4, loggers="[]"), *overrides]
    )
    return config, *joyrl_core.start_run(config, registry)


@pytest.mark.parametrize("kind", SCAFFOLD_KINDS)
def test_generated_plugin_registers_and_runs(kind, tmp_path, discover_package):
    names = plugin_names(f"scaffolded-{kind}", kind)
    root = create_plugin(f"scaffolded-{kind}", kind, tmp_path / "src")
    assert root == tmp_path / "src" / f"joyrl-scaffolded-{kind}"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted([
        "README.md", "pyproject.toml", f"{names.package}/__init__.py", f"{names.package}/plugin.py",
        "tests/test_plugin.py",
    ])
    project = discover_package(root)
    assert project["name"] == names.dist
    assert project["entry-points"]["joyrl"] == {names.entry_point: f"{names.package}.plugin"}

    if kind == "buffer":  # a buffer needs an algorithm that samples from it: a generated one
        discover_package(create_plugin("scaffolded-learner", "algo", tmp_path / "src"))

    registry = joyrl_core.load_registry()
    assert [b for b in registry.broken if b.distribution.startswith("joyrl-scaffolded")] == []
    component = registry.get(REGISTRY_KIND[kind], names.component)
    assert (component.distribution, component.version) == (names.dist, "0.1.0")
    assert component.name in registry.names(REGISTRY_KIND[kind])

    task_root = tmp_path / "tasks"
    if kind == "algo":
        _, summary, task = run_with(registry, task_root, f"general_cfg.algo_name={names.component}",
                                    "algo_cfg.batch_size=8")
        assert summary.episodes == 3 and summary.update_steps > 0
        assert (task.models / f"{summary.update_steps}.pt").is_file()
    elif kind == "env":
        _, summary, task = run_with(registry, task_root, f"general_cfg.env_name={names.component}",
                                    "general_cfg.algo_name=RANDOM", "env_cfg.length=3")
        assert summary.episodes == 3 and 0 < summary.env_steps <= 150
        assert task.root.name.startswith(f"Train_{names.component}_RANDOM_")
    elif kind == "buffer":
        config, summary, _ = run_with(registry, task_root, "general_cfg.algo_name=SCAFFOLDED_LEARNER",
                                      f"algo_cfg.buffer_type={names.component}", "algo_cfg.recent_window=64",
                                      "algo_cfg.batch_size=8")
        assert config.buffer.recent_window == 64  # the buffer's own option, read from algo_cfg
        assert summary.update_steps > 0
    elif kind == "logger":
        _, summary, task = run_with(registry, task_root, "general_cfg.algo_name=RANDOM",
                                    f"general_cfg.loggers=[csv, {names.component}]")
        lines = [json.loads(line) for line in (task.logs / f"{names.entry_point}.jsonl").read_text().splitlines()]
        assert [line["episode"] for line in lines if line["event"] == "episode"] == [1, 2, 3]
        assert any(line["event"] == "metrics" for line in lines)
    elif kind == "wrapper":
        _, summary, task = run_with(registry, task_root, "general_cfg.algo_name=RANDOM", "general_cfg.collect_traj=true",
                                    f"env_cfg.wrappers=[{{name: {names.component}, scale: -2}}]")
        assert all(float(r) == -2.0 for t in joyrl_core.load_trajectories(task.results) for r in t.rewards)
    else:
        _, summary, task = run_with(registry, task_root, "general_cfg.algo_name=RANDOM",
                                    f"general_cfg.mp_backend={names.component}")
        assert summary.episodes == 3 and not summary.interrupted
        assert f"backend {names.component}" in (task.logs / "run.log").read_text()


def test_generated_test_suites_pass(tmp_path):
    """Each package's own tests/test_plugin.py passes once the package is discoverable (one pytest run)."""
    roots = [create_plugin(f"selftest-{kind}", kind, tmp_path / "src") for kind in SCAFFOLD_KINDS]
    for root in roots:
        write_dist_info(root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(r) for r in roots), "MPLBACKEND": "Agg"}
    env.pop(DISABLE_ENV_VAR, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         *(str(r / "tests") for r in roots)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


def test_generated_code_imports_only_the_public_api(tmp_path):
    public = set(joyrl_core.__all__)
    for kind in SCAFFOLD_KINDS:
        root = create_plugin(f"api-{kind}", kind, tmp_path)
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("joyrl_core"):
                    assert node.module == "joyrl_core", f"{path}: imports from private {node.module}"
                    assert {a.name for a in node.names} <= public, f"{path}: {[a.name for a in node.names]}"
                if isinstance(node, ast.Import):
                    assert not any(a.name.startswith("joyrl_core.") for a in node.names), path
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "joyrl_core":
                    assert node.attr in public, f"{path}: joyrl_core.{node.attr} is not public"


def test_names_are_derived_from_the_short_name():
    names = plugin_names("joyrl-my-algo", "algorithm")
    assert (names.dist, names.package, names.entry_point, names.component, names.camel, names.kind) == (
        "joyrl-my-algo", "joyrl_my_algo", "my_algo", "MY_ALGO", "MyAlgo", "algo"
    )
    assert plugin_names("my_logger2", "logger").component == "my_logger2"
    assert plugin_names("grid", "env").dist == "joyrl-grid"


@pytest.mark.parametrize("name", ["", "My-Algo", "1algo", "my algo", "my--algo", "-algo", "algo-", "my.algo",
                                  "../evil", "core", "joyrl-core", "joyrl-1st", "class"])
def test_invalid_names_are_refused_and_nothing_is_written(name, tmp_path):
    with pytest.raises(JoyRLError, match="invalid plugin name"):
        create_plugin(name, "algo", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_lists_the_kinds(tmp_path):
    with pytest.raises(JoyRLError, match="algo, buffer, env, backend, logger"):
        create_plugin("thing", "optimizer", tmp_path)


def test_existing_folder_is_left_alone(tmp_path):
    existing = tmp_path / "joyrl-taken"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(JoyRLError, match="already exists"):
        create_plugin("taken", "env", tmp_path)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joyrl-taken"]  # no staging folder left behind


def test_name_of_an_installed_distribution_is_refused(tmp_path):
    with pytest.raises(JoyRLError, match="joyrl-dqn is already installed"):
        create_plugin("dqn", "algo", tmp_path)
