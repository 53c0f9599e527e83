"""The ``joyrl`` command line: in-process with click's CliRunner, and once as a real subprocess."""

from __future__ import annotations

import json

import pytest

import joyrl_core
from joyrl_core.errors import ComponentNotFoundError, ConfigError
from joyrl_core.plugins.registry import DISABLE_ENV_VAR

from conftest import read_episodes

BAD_KEY_YAML = "general_cfg:\n  max_episodes: 5\n"


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output == f"joyrl, version {joyrl_core.__version__}\n"
    assert joyrl_core.__version__ == "0.1.0"


def test_help_lists_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "list-plugins", "--debug", "--version"):
        assert command in result.output


def test_list_plugins_table(cli):
    result = cli("list-plugins")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def row(kind, name):
        found = [line for line in lines if f" {kind} " in line and f" {name} " in line]
        assert len(found) == 1, f"no single table row for {kind} {name}:\n{result.output}"
        return found[0]

    assert "joyrl-testplugin 0.1.0" in row("logger", "jsonl")
    assert "joyrl-testplugin 0.1.0" in row("algorithm", "CONSTANT")
    assert "joyrl-dqn 0.1.0" in row("algorithm", "DQN")
    assert "joyrl-core 0.1.0" in row("buffer", "REPLAY_QUE")
    assert "joyrl-core 0.1.0" in row("backend", "single")
    assert "failed to load" not in result.output


def test_list_plugins_json(cli, registry):
    result = cli("list-plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["broken"] == []
    listed = {(c["kind"], c["name"]): c for c in data["components"]}
    assert set(listed) == {(c.kind, c.name) for c in registry.all()}
    assert listed[("logger", "jsonl")] == {
        "kind": "logger", "name": "jsonl", "distribution": "joyrl-testplugin", "version": "0.1.0",
        "summary": registry.get("logger", "jsonl").summary,
    }
    assert listed[("algorithm", "DQN")]["distribution"] == "joyrl-dqn"
    assert listed[("env", "gym")]["distribution"] == "joyrl-core"
    kinds = [c["kind"] for c in data["components"]]
    assert kinds == sorted(kinds, key=["algorithm", "buffer", "env", "backend", "logger", "wrapper"].index)


@pytest.mark.parametrize("kind", ["algorithm", "logger"])
def test_list_plugins_kind_filter(cli, registry, kind):
    result = cli("list-plugins", "--json", "--kind", kind)
    assert result.exit_code == 0
    components = json.loads(result.output)["components"]
    assert {c["kind"] for c in components} == {kind}
    assert [c["name"] for c in components] == registry.names(kind)
    table = cli("list-plugins", "--kind", kind)
    assert table.exit_code == 0
    other = "buffer"
    assert f" {other} " not in table.output and "REPLAY_QUE" not in table.output


def test_list_plugins_bad_kind(cli):
    result = cli("list-plugins", "--kind", "algorithms")
    assert result.exit_code == 2
    assert "Invalid value for '--kind'" in result.output


def test_list_plugins_reports_broken_plugin(cli, make_distribution):
    make_distribution("broken-dist", "broken_pkg", 'raise ImportError("needs libfoo")\n', entry_point="broken")

    result = cli("list-plugins", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["broken"] == [{"plugin": "broken", "distribution": "broken-dist", "error": "ImportError: needs libfoo"}]
    assert any(c["name"] == "DQN" for c in data["components"])

    table = cli("list-plugins")
    assert table.exit_code == 0
    assert "plugin 'broken' (broken-dist) failed to load: ImportError: needs libfoo" in table.output


def test_run_with_bad_key_is_one_error_line(cli, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_KEY_YAML)

    result = cli("run", str(config))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {config}: unknown key general_cfg.max_episodes (did you mean 'max_episode'?)")
    assert "Traceback" not in result.output
    assert not (tmp_path / "tasks").exists(), "a config error creates no task folder"


def test_run_with_malformed_set(cli):
    result = cli("run", "--set", "general_cfg.max_episode")
    assert result.exit_code == 1
    assert result.stderr == "Error: --set general_cfg.max_episode: expected section.key=value, e.g. --set algo_cfg.lr=0.001\n"


def test_run_missing_config_file(cli, tmp_path):
    missing = tmp_path / "missing.yaml"
    result = cli("run", str(missing))
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: ")
    assert str(missing) in result.stderr and "Traceback" not in result.output


def test_run_without_an_algorithm_plugin_says_what_to_install(cli, tmp_path):
    result = cli("run", "--set", f"general_cfg.task_dir={tmp_path}", env={DISABLE_ENV_VAR: "dqn"})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: defaults: general_cfg.algo_name is not set and no installed plugin declares a default algorithm"
    )
    assert "install an algorithm plugin" in result.stderr
    assert isinstance(result.exception, SystemExit)
    assert list(tmp_path.iterdir()) == [], "no task folder for a refused run"


def test_debug_raises_the_real_exception(cli, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_KEY_YAML)
    result = cli("--debug", "run", str(config))
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert "unknown key general_cfg.max_episodes" in str(result.exception)

    result = cli("--debug", "run", env={DISABLE_ENV_VAR: "dqn"})
    assert isinstance(result.exception, ComponentNotFoundError)


def test_plugin_crash_is_an_internal_error_line(cli, tmp_path, make_distribution):
    make_distribution("crashing-dist", "crashing_plugin", """
        from joyrl_core import hookimpl

        def make_logger(run):
            return 1 / 0

        @hookimpl
        def register_loggers(register):
            register("crash", make_logger, None, "fails when built")
    """)
    args = ["run", "--set", f"general_cfg.task_dir={tmp_path / 'tasks'}", "--set", "general_cfg.loggers=[crash]",
            "--set", "general_cfg.max_episode=1"]

    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: internal error: ZeroDivisionError: division by zero (run `joyrl --debug ...` for the traceback)\n"
    )
    result = cli("--debug", *args)
    assert isinstance(result.exception, ZeroDivisionError)


def test_debug_prints_the_traceback(run_joyrl, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_KEY_YAML)

    plain = run_joyrl(["run", str(config)])
    assert plain.returncode == 1
    assert plain.stderr.startswith("Error: ") and plain.stderr.count("\n") == 1
    assert "Traceback" not in plain.stderr

    debug = run_joyrl(["--debug", "run", str(config)])
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert "joyrl_core.errors.ConfigError: " in debug.stderr
    assert "resolve_config" in debug.stderr


def test_real_run_in_a_subprocess(run_joyrl, tmp_path):
    task_root = tmp_path / "tasks"
    result = run_joyrl([
        "run", "--set", f"general_cfg.task_dir={task_root}", "--set", "general_cfg.max_episode=3",
        "--set", "general_cfg.max_step=20", "--set", "general_cfg.seed=2", "--set", "general_cfg.save_fig=false",
        "--set", "algo_cfg.batch_size=8", "--set", "algo_cfg.value_layers=[{layer_dim: [16]}]",
    ])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    (task,) = task_root.iterdir()
    assert task.name.startswith("Train_CartPole-v1_DQN_")
    stdout = result.stdout.splitlines()
    assert stdout[0] == f"task folder: {task}"
    rows = read_episodes(task)
    env_steps = sum(int(r["length"]) for r in rows)
    updates = env_steps - 7
    assert len(rows) == 3
    assert stdout[1].startswith(f"3 episodes, {env_steps} env steps, {updates} update steps in ")
    assert stdout[2].startswith("mean reward of the last 3 episodes: ")
    # The last line says whether it solved; without online evaluation, that it was not evaluated.
    assert stdout[3] == (f"not evaluated (online_eval is off): final model: {task / 'models' / f'{updates}.pt'}; "
                         f"`joyrl test {task}` plays it greedily")
    assert (task / "config.yaml").is_file() and (task / "logs" / "run.log").is_file()
    assert [p.name for p in (task / "models").glob("*.pt")] == [f"{updates}.pt"]
    # Nothing was written where the command ran except the task root asked for.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks"]
