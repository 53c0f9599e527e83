"""Typed config: defaults < YAML < --set, validation errors that name the source and the key, round trip."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
import yaml

import joyrl_core
from joyrl_core.config import GeneralConfig, config_to_dict, parse_override, resolve_config
from joyrl_core.errors import ConfigError
from joyrl_dqn import DQNConfig, LayerConfig

from conftest import EXAMPLE_YAML, quick_overrides


@pytest.fixture
def write_yaml(tmp_path):
    def write(text: str, name: str = "cfg.yaml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def config_error(registry, yaml_path=None, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config(registry, yaml_path, list(overrides))
    message = str(info.value)
    assert "\n" not in message, "config errors are one line"
    return message


# -- layering -----------------------------------------------------------------------------------


def test_defaults_without_yaml(registry):
    cfg = resolve_config(registry)
    assert cfg.general == GeneralConfig()
    assert cfg.general.algo_name == "DQN" and cfg.general.max_episode == 100 and cfg.general.seed == 0
    assert cfg.algo == DQNConfig()
    assert cfg.algo.value_layers == [LayerConfig(), LayerConfig()]
    assert cfg.env.id == "CartPole-v1" and cfg.env.render_mode is None and cfg.env.extra == {}
    assert cfg.buffer is None
    assert cfg.source == "defaults"


def test_yaml_over_defaults_and_set_over_yaml(registry, write_yaml):
    path = write_yaml(textwrap.dedent("""\
        general_cfg:
          max_episode: 50
          seed: 5
          loggers: [csv]
        algo_cfg:
          lr: 0.01
          batch_size: 16
        env_cfg:
          id: Acrobot-v1
        """)
    )
    cfg = resolve_config(
        registry, path,
        [
            "general_cfg.max_episode=7",
            "general_cfg.loggers=[csv, jsonl]",
            "general_cfg.online_eval=true",
            "general_cfg.load_path=null",
            "algo_cfg.gamma=0.5",
            "algo_cfg.value_layers=[{layer_dim: [32], activation: tanh}]",
            "env_cfg.id=CartPole-v1",
            "env_cfg.max_episode_steps=30",
        ],
    )
    g = cfg.general
    assert g.max_episode == 7  # --set beats YAML
    assert g.seed == 5  # YAML beats defaults
    assert g.loggers == ["csv", "jsonl"]  # a YAML list on the command line
    assert g.online_eval is True
    assert g.load_path is None
    assert g.max_step is None  # untouched default: the env's own time limit
    assert cfg.algo.lr == 0.01 and cfg.algo.batch_size == 16 and cfg.algo.gamma == 0.5
    assert cfg.algo.value_layers == [LayerConfig(layer_dim=[32], activation="tanh")]
    assert cfg.algo.epsilon_decay == 500
    assert cfg.env.id == "CartPole-v1"
    assert cfg.env.extra == {"max_episode_steps": 30}
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    "override, attr, expected",
    [
        ("general_cfg.seed=12", "seed", 12),
        ("general_cfg.max_episode=-1", "max_episode", -1),
        ("general_cfg.max_episode=5.0", "max_episode", 5),
        ("general_cfg.save_fig=false", "save_fig", False),
        ("general_cfg.algo_name=RANDOM", "algo_name", "RANDOM"),
        ("general_cfg.load_path=Train_x_20240101-000000", "load_path", "Train_x_20240101-000000"),
        ("general_cfg.test_episode=3", "test_episode", 3),
        ("general_cfg.loggers=[]", "loggers", []),
        ("general_cfg.device=cuda:1", "device", "cuda:1"),
        ("general_cfg.load_model=best", "load_model", "best"),
        ("general_cfg.load_model='1500'", "load_model", "1500"),
    ],
)
def test_set_values_are_yaml_scalars(registry, override, attr, expected):
    # A load_path is kept only where the run loads from it.
    cfg = resolve_config(registry, None, [override, *(["general_cfg.mode=test"] if attr == "load_path" else [])])
    value = getattr(cfg.general, attr)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("where", ["yaml", "set"])
def test_load_model_update_step_as_number(registry, write_yaml, where):
    if where == "yaml":
        cfg = resolve_config(registry, write_yaml("general_cfg:\n  load_model: 1500\n"))
    else:
        cfg = resolve_config(registry, None, ["general_cfg.load_model=1500"])
    assert cfg.general.load_model == "1500"


def test_exponent_without_dot_is_a_float(registry, write_yaml):
    # PyYAML reads 1e-4 as the string "1e-4"; a float field still takes it.
    assert yaml.safe_load("lr: 1e-4") == {"lr": "1e-4"}
    cfg = resolve_config(registry, write_yaml("algo_cfg:\n  lr: 1e-4\n  epsilon_decay: 5e2\n"))
    assert cfg.algo.lr == pytest.approx(1e-4) and isinstance(cfg.algo.lr, float)
    assert cfg.algo.epsilon_decay == 500.0
    cfg = resolve_config(registry, None, ["algo_cfg.lr=3e-3"])
    assert cfg.algo.lr == pytest.approx(3e-3)


def test_null_keeps_the_default(registry, write_yaml):
    cfg = resolve_config(registry, write_yaml("general_cfg:\n  save_best_model:\n  model_save_fre: ~\n"))
    assert cfg.general.save_best_model is True
    assert cfg.general.model_save_fre == 500


def assert_reaches_config(given, resolved, where="") -> None:
    """Every non-null value of a YAML document appears, as written, in the resolved config's dict."""
    if isinstance(given, dict):
        assert isinstance(resolved, dict), where
        for key, value in given.items():
            if value is not None:
                assert key in resolved, f"{where}{key} missing from the resolved config"
                assert_reaches_config(value, resolved[key], f"{where}{key}.")
    elif isinstance(given, list):
        assert isinstance(resolved, list) and len(resolved) == len(given), where
        for i, (g, r) in enumerate(zip(given, resolved)):
            assert_reaches_config(g, r, f"{where}[{i}].")
    elif isinstance(given, str) and isinstance(resolved, float):
        assert float(given) == resolved, where  # 1e-4 written without a dot
    else:
        assert given == resolved and type(given) in (type(resolved), int), where


def test_shipped_example_loads_as_it_stands(registry):
    cfg = resolve_config(registry, EXAMPLE_YAML)
    assert_reaches_config(yaml.safe_load(EXAMPLE_YAML.read_text(encoding="utf-8")), config_to_dict(cfg))
    g = cfg.general
    assert (g.algo_name, g.env_name, g.mp_backend) == ("DQN", "gym", "single")
    assert g.save_best_model is True  # written as an empty value in the example: the default
    assert isinstance(cfg.algo, DQNConfig) and all(isinstance(layer, LayerConfig) for layer in cfg.algo.value_layers)
    assert cfg.env.id == "CartPole-v1"
    assert cfg.source == str(EXAMPLE_YAML)


# tune_*.yaml files are `joyrl tune` studies, checked by test_experiments_tune.py.
@pytest.mark.parametrize("path", sorted(p for p in EXAMPLE_YAML.parent.glob("*.yaml") if not p.name.startswith("tune_")),
                         ids=lambda p: p.name)
def test_every_shipped_example_resolves(registry, path):
    given = yaml.safe_load(path.read_text(encoding="utf-8"))
    overrides = []
    if "load_path" in given.get("general_cfg", {}) and given["general_cfg"]["load_path"] is None:
        # Examples that load a checkpoint say: --set general_cfg.load_path=<task folder>.
        overrides.append("general_cfg.load_path=Train_CartPole-v1_DQN_20260101-120000")
    cfg = resolve_config(registry, path, overrides)
    assert_reaches_config(given, config_to_dict(cfg))


def test_empty_yaml_file_means_defaults(registry, write_yaml):
    cfg = resolve_config(registry, write_yaml("# nothing here\n"))
    assert cfg.general == GeneralConfig() and cfg.algo == DQNConfig()


# -- errors --------------------------------------------------------------------------------------


def test_unknown_section(registry, write_yaml):
    path = write_yaml("genral_cfg:\n  seed: 1\n")
    message = config_error(registry, path)
    assert message.startswith(f"{path}: unknown section 'genral_cfg'")
    assert "did you mean 'general_cfg'?" in message
    assert "general_cfg, algo_cfg, env_cfg" in message


def test_unknown_key_suggests_closest(registry, write_yaml):
    path = write_yaml("general_cfg:\n  max_episodes: 5\n")
    message = config_error(registry, path)
    assert message.startswith(f"{path}: unknown key general_cfg.max_episodes")
    assert "(did you mean 'max_episode'?)" in message
    assert "allowed keys:" in message and "max_step" in message


def test_unknown_key_from_set(registry):
    message = config_error(registry, None, ["algo_cfg.learning_rate=0.1"])
    assert message.startswith("--set algo_cfg.learning_rate: unknown key algo_cfg.learning_rate")


def test_unknown_nested_key(registry, write_yaml):
    path = write_yaml("algo_cfg:\n  value_layers:\n    - layer_dimm: [64]\n")
    message = config_error(registry, path)
    assert message.startswith(f"{path}: unknown key algo_cfg.value_layers[0].layer_dimm")
    assert "(did you mean 'layer_dim'?)" in message
    assert message.endswith("allowed keys: activation, kernel_size, layer_dim, layer_type, padding, stride")


def test_options_for_a_component_without_config(registry, write_yaml):
    path = write_yaml("general_cfg:\n  algo_name: RANDOM\nalgo_cfg:\n  lr: 0.1\n")
    message = config_error(registry, path)
    assert message == f"{path}: algorithm 'RANDOM' takes no algo_cfg options, got: lr"


YAML_ERRORS = [
    # (yaml text, expected after "<file>: ")
    ("general_cfg:\n  max_episode: ten\n", "general_cfg.max_episode: expected an integer, got 'ten'"),
    ("general_cfg:\n  max_episode: 2.5\n", "general_cfg.max_episode: expected an integer, got 2.5"),
    ("general_cfg:\n  online_eval: 1\n", "general_cfg.online_eval: expected true or false, got 1"),
    ("general_cfg:\n  loggers: csv\n", "general_cfg.loggers: expected a list of a string, got 'csv'"),
    ("algo_cfg:\n  batch_size: true\n", "algo_cfg.batch_size: expected an integer, got True"),
    ("algo_cfg:\n  lr: fast\n", "algo_cfg.lr: expected a number, got 'fast'"),
    ("algo_cfg:\n  value_layers: 3\n", "algo_cfg.value_layers: expected a layer list (see `joyrl info layers`), got 3"),
    ("algo_cfg:\n  value_layers:\n    - layer_dim: 64\n",
     "algo_cfg.value_layers[0].layer_dim: expected a list of an integer, got 64"),
    # bounds, choices and __post_init__ checks
    ("general_cfg:\n  max_step: 0\n", "general_cfg.max_step: expected a value >= 1, got 0"),
    ("general_cfg:\n  max_episode: -2\n", "general_cfg.max_episode: expected a value >= -1, got -2"),
    ("general_cfg:\n  mode: eval\n", "general_cfg.mode: expected one of 'train', 'test', got 'eval'"),
    ("env_cfg:\n  render_mode: rgb\n", "env_cfg.render_mode: expected one of 'human', 'rgb_array' or null, got 'rgb'"),
    ("general_cfg:\n  max_episode: 0\n", "general_cfg.max_episode: must be a positive number of episodes"),
    ("general_cfg:\n  device: gpu\n", "general_cfg.device: expected cpu, cuda, cuda:N or auto, got 'gpu'"),
    ("algo_cfg:\n  gamma: 1.5\n", "algo_cfg.gamma: expected a value <= 1.0, got 1.5"),
    ("algo_cfg:\n  lr: -0.1\n", "algo_cfg.lr: expected a value >= 0.0, got -0.1"),
    ("algo_cfg:\n  value_layers:\n    - activation: swish\n", "algo_cfg.value_layers[0].activation: expected one of"),
    ("algo_cfg:\n  value_layers:\n    - layer_dim: [0]\n",
     "algo_cfg.value_layers[0].layer_dim: expected one positive width such as [256], got [0]"),
]


@pytest.mark.parametrize("text, expected", YAML_ERRORS)
def test_value_errors_name_file_and_key(registry, write_yaml, text, expected):
    path = write_yaml(text)
    message = config_error(registry, path)
    assert message.startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("general_cfg.max_step=0", "--set general_cfg.max_step: general_cfg.max_step: expected a value >= 1, got 0"),
        ("general_cfg.mode=eval", "--set general_cfg.mode: general_cfg.mode: expected one of 'train', 'test'"),
        ("general_cfg.device=gpu", "--set general_cfg.device: general_cfg.device: expected cpu, cuda"),
        ("general_cfg.test_episode=0", "--set general_cfg.test_episode: general_cfg.test_episode: expected a value >= 1"),
        ("algo_cfg.gamma=1.5", "--set algo_cfg.gamma: algo_cfg.gamma: expected a value <= 1.0, got 1.5"),
        ("algo_cfg.value_layers=[{activation: swish}]",
         "--set algo_cfg.value_layers: algo_cfg.value_layers[0].activation: expected one of"),
    ],
)
def test_value_errors_from_set_name_the_override(registry, write_yaml, override, expected):
    # A YAML file is given too: the message must blame the override, not the file.
    message = config_error(registry, write_yaml("general_cfg:\n  seed: 1\n"), [override])
    assert message.startswith(expected)


def test_set_on_a_yaml_value_blames_the_override_only_for_that_key(registry, write_yaml):
    path = write_yaml("general_cfg:\n  max_step: 0\n")
    message = config_error(registry, path, ["general_cfg.seed=3"])
    assert message.startswith(f"{path}: general_cfg.max_step:")


def test_constant_plugin_option_minimum(registry):
    message = config_error(registry, None, ["general_cfg.algo_name=CONSTANT", "algo_cfg.action=-1"])
    assert message == "--set algo_cfg.action: algo_cfg.action: expected a value >= 0, got -1"


def test_nested_post_init_error_from_set_names_the_override(registry):
    message = config_error(registry, None, ["algo_cfg.value_layers=[{layer_dim: [0]}]"])
    assert message.startswith("--set algo_cfg.value_layers: algo_cfg.value_layers[0].layer_dim:")


def test_epsilon_end_error_names_epsilon_end(registry):
    message = config_error(registry, None, ["algo_cfg.epsilon_end=2"])
    assert message.startswith("--set algo_cfg.epsilon_end: algo_cfg.epsilon_end:")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("general_cfg.max_episode", "--set general_cfg.max_episode: expected section.key=value"),
        ("max_episode=5", "--set max_episode=5: expected section.key=value"),
        ("general_cfg.=5", "--set general_cfg.=5: expected section.key=value"),
        ("general.max_episode=5", "--set general.max_episode=5: unknown section 'general'"),
        ("general_cfg.loggers=[csv", "--set general_cfg.loggers=[csv: the value is not valid YAML"),
    ],
)
def test_malformed_set(registry, override, expected):
    message = config_error(registry, None, [override])
    assert message.startswith(expected)
    with pytest.raises(ConfigError):
        parse_override(override)


@pytest.mark.parametrize(
    "text, line, column",
    [
        ("general_cfg:\n  max_episode: 5\n seed: 3\n", 3, 2),
        ("general_cfg:\n\tmax_episode: 5\n", 2, 1),
    ],
)
def test_invalid_yaml_gives_line(registry, write_yaml, text, line, column):
    path = write_yaml(text)
    message = config_error(registry, path)
    assert message.startswith(f"{path}: invalid YAML (line {line}, column {column}): ")


def test_yaml_that_is_not_a_mapping(registry, write_yaml):
    path = write_yaml("- general_cfg\n- algo_cfg\n")
    assert config_error(registry, path).startswith(f"{path}: expected a mapping with sections")
    path = write_yaml("general_cfg: 5\n", "section.yaml")
    assert config_error(registry, path) == f"{path}: section general_cfg must be a mapping of keys to values"


def test_missing_file(registry, tmp_path):
    path = tmp_path / "nope.yaml"
    assert config_error(registry, path) == f"{path}: config file not found"


# -- the resolved config in the task folder ------------------------------------------------------


def test_config_yaml_round_trip(registry, task_root):
    overrides = [
        *quick_overrides(task_root, max_episode=1, max_step=10, seed=9),
        "algo_cfg.lr=1e-4",
        "algo_cfg.value_layers=[{layer_dim: [16], activation: tanh}]",
        "env_cfg.max_episode_steps=50",
    ]
    cfg = resolve_config(registry, EXAMPLE_YAML, overrides)
    _, task = joyrl_core.start_run(cfg, registry)

    assert task.config_file == task.root / "config.yaml"
    written = yaml.safe_load(task.config_file.read_text(encoding="utf-8"))
    assert written == config_to_dict(cfg)
    assert written["general_cfg"]["task_dir"] == str(task_root)
    assert written["env_cfg"]["max_episode_steps"] == 50
    assert written["algo_cfg"]["value_layers"] == [{"layer_type": "linear", "layer_dim": [16], "activation": "tanh",
                                                    "kernel_size": 3, "stride": 1, "padding": 0}]

    again = resolve_config(registry, task.config_file)
    assert again.general == cfg.general
    assert again.algo == cfg.algo
    assert again.env == cfg.env
    assert again.buffer == cfg.buffer
    assert dataclasses.replace(again, source=cfg.source) == cfg
    assert config_to_dict(again) == config_to_dict(cfg)
