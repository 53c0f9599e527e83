"""Pytest fixtures for JoyRL and its plugins, loaded by pytest wherever joyrl-core is installed.

A plugin distribution's own tests use them without a conftest of their own: ``registry`` (the installed
plugins), ``task_root`` (where a test's runs write), ``cli`` (the ``joyrl`` command in-process),
``run_joyrl`` (the installed script in a subprocess), ``make_distribution`` (a plugin distribution
made at runtime) and ``discover_package`` (a package project such as ``joyrl new-plugin`` writes, made
discoverable); the helpers ``quick_overrides``, ``read_episodes``, ``write_dist_info`` and
``start_local_ray`` are imported from here.
Everything a test writes goes under pytest's ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import joyrl_core
from joyrl_core.outputs.loggers import read_results_csv
from joyrl_core.plugins.registry import DISABLE_AUTOLOAD_ENV_VAR, DISABLE_ENV_VAR, PLUGINS_ENV_VAR

PLUGIN_ENV_VARS = (DISABLE_ENV_VAR, DISABLE_AUTOLOAD_ENV_VAR, PLUGINS_ENV_VAR)

EPISODES_HEADER = ["episode", "env_steps", "reward", "length", "wall_time", "terminated"]


@pytest.fixture(autouse=True)
def _no_disabled_plugins(monkeypatch):
    """A developer's own plugin switches (JOYRL_DISABLE_PLUGINS, ...) must not leak into the tests."""
    for var in PLUGIN_ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def registry() -> joyrl_core.Registry:
    """The registry of the installed plugins (core, joyrl-dqn, joyrl-testplugin, ...)."""
    return joyrl_core.load_registry()


@pytest.fixture
def task_root(tmp_path) -> Path:
    """Where runs of one test put their task folders."""
    return tmp_path / "tasks"


def start_local_ray():
    """Start a local Ray of 2 CPUs for a test and return the ``ray`` module (the Ray backend reuses a session
    it finds); the caller ends it with ``ray.shutdown()``. Skips the test where Ray is not installed."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    return ray


def quick_overrides(task_root: Path, **general) -> list[str]:
    """``--set`` overrides for a short, quiet run writing into ``task_root``."""
    values = {"task_dir": str(task_root), "loggers": "[csv]", "save_fig": "false", "online_eval": "false"}
    values.update({k: str(v) for k, v in general.items()})
    return [f"general_cfg.{k}={v}" for k, v in values.items()]


def read_episodes(task_root_or_csv: Path) -> list[dict[str, str]]:
    """Rows of ``results/episodes.csv`` (given a task folder or the CSV itself), header checked, a torn
    last line (a run killed mid-write) dropped."""
    path = task_root_or_csv
    if path.is_dir():
        path = path / "results" / "episodes.csv"
    header, rows = read_results_csv(path)
    assert header == EPISODES_HEADER
    return [dict(zip(header, row)) for row in rows]


class DistributionFactory:
    """Makes real plugin distributions at runtime: a module plus ``<name>-<version>.dist-info``.

    Each lives in its own folder prepended to ``sys.path``, so ``importlib.metadata`` discovers its
    ``joyrl`` entry point exactly as it would an installed wheel's. Modules imported from those
    folders are removed from ``sys.modules`` after the test.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.monkeypatch = monkeypatch
        self.modules: list[str] = []

    def __call__(self, dist_name: str, module: str, source: str, entry_point: str | None = None,
                 version: str = "0.1") -> Path:
        folder = self.root / f"dist_{dist_name}"
        folder.mkdir(parents=True)
        (folder / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = folder / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[joyrl]\n{entry_point or module} = {module}\n", encoding="utf-8"
        )
        self.modules.append(module)
        self.monkeypatch.syspath_prepend(str(folder))
        return folder

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


def write_dist_info(root: Path) -> dict:
    """A dist-info for the package project at ``root``, from its own pyproject.toml; returns [project].

    With ``root`` on ``sys.path`` the project's ``joyrl`` entry points are then found as a wheel's are.
    """
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = root / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    entry_points = project["entry-points"]["joyrl"]
    (info / "entry_points.txt").write_text(
        "[joyrl]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items()), encoding="utf-8"
    )
    return project


@pytest.fixture
def discover_package(monkeypatch):
    """``discover_package(root)``: make the package project at ``root`` (``joyrl new-plugin``'s output)
    an importable, discoverable distribution for the test; its modules are forgotten afterwards."""
    packages: list[str] = []

    def make(root: Path) -> dict:
        project = write_dist_info(root)
        packages.extend(target.split(".")[0] for target in project["entry-points"]["joyrl"].values())
        monkeypatch.syspath_prepend(str(root))
        return project

    yield make
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            del sys.modules[name]


@pytest.fixture
def make_distribution(tmp_path, monkeypatch):
    factory = DistributionFactory(tmp_path / "site", monkeypatch)
    yield factory
    factory.cleanup()


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the ``joyrl`` click command in-process: ``cli("list-plugins", "--json")``.

    ``joyrl run`` installs SIGINT/SIGTERM handlers; they are put back after the test.
    """
    from joyrl_core.cli.main import main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
        return runner.invoke(main, list(args), prog_name="joyrl")

    yield invoke
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def joyrl_script() -> Path:
    """The ``joyrl`` console script of the environment running the tests."""
    name = "joyrl.exe" if os.name == "nt" else "joyrl"
    script = Path(sys.executable).parent / name
    assert script.is_file(), f"no joyrl script next to {sys.executable}; is joyrl-core installed here?"
    return script


@pytest.fixture
def run_joyrl(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the installed ``joyrl`` script in a subprocess, in ``tmp_path``."""

    def run(args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "200", "MPLBACKEND": "Agg"}
        for var in PLUGIN_ENV_VARS:
            env.pop(var, None)
        return subprocess.run(
            [str(joyrl_script()), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )

    return run
