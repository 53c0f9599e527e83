"""Odd config values refused with one line naming the key: non-finite numbers, an out-of-range seed,
strings where numbers are wanted, and YAML whose aliases expand absurdly (refused at once)."""

from __future__ import annotations

import time

import pytest

from joyrl_core.config import resolve_config
from joyrl_core.config.yaml_source import MAX_EXPANDED_NODES
from joyrl_core.errors import ConfigError


def config_error(registry, yaml_path=None, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config(registry, yaml_path, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "override, expected",
    [
        ("algo_cfg.lr=.inf", "--set algo_cfg.lr: algo_cfg.lr: expected a finite number, got inf"),
        ("algo_cfg.lr=1e999", "--set algo_cfg.lr: algo_cfg.lr: expected a finite number, got inf"),
        ("algo_cfg.gamma=.nan", "--set algo_cfg.gamma: algo_cfg.gamma: expected a finite number, got nan"),
        ("general_cfg.stop_reward=-.inf", "--set general_cfg.stop_reward: general_cfg.stop_reward: expected a finite number, got -inf"),
        ("general_cfg.seed=4294967296", "--set general_cfg.seed: general_cfg.seed: expected a value <= 4294967295, got 4294967296"),
        ("general_cfg.max_episode='5'", "--set general_cfg.max_episode: general_cfg.max_episode: expected an integer, got '5'"),
        ("algo_cfg.lr='0.1'", "--set algo_cfg.lr: algo_cfg.lr: expected a number, got '0.1'"),
        ("algo_cfg.double='true'", "--set algo_cfg.double: algo_cfg.double: expected true or false, got 'true'"),
        ("general_cfg.load_model=2.5", "--set general_cfg.load_model: general_cfg.load_model: expected a string or an integer, got 2.5"),
    ],
)
def test_odd_values_name_their_key(registry, override, expected):
    assert config_error(registry, None, [override]) == expected


def test_largest_seed_and_integral_floats_are_accepted(registry):
    cfg = resolve_config(registry, None, ["general_cfg.seed=4294967295", "algo_cfg.buffer_size=1e4"])
    assert cfg.general.seed == 2**32 - 1
    assert cfg.algo.buffer_size == 10_000 and type(cfg.algo.buffer_size) is int


@pytest.mark.parametrize("written", ["off", "'off'"])
def test_a_choice_written_as_a_yaml_boolean_word_is_the_word(registry, written):
    # YAML 1.1 reads a bare `off` as false; the choice 'auto'/'off' means the word.
    cfg = resolve_config(registry, None, [f"algo_cfg.fast_path={written}"])
    assert cfg.algo.fast_path == "off"
    # A boolean where the choice has no such word is still refused, naming the choices.
    assert config_error(registry, None, ["algo_cfg.fast_path=true"]) == (
        "--set algo_cfg.fast_path: algo_cfg.fast_path: expected one of 'auto', 'off', got True")


BOMB = "general_cfg:\n  loggers: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


def test_alias_bomb_is_refused_at_once(registry, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    assert len(BOMB) < 1000
    start = time.perf_counter()
    message = config_error(registry, path)
    # Expanded, the document has 10**9 values; refusing it must not walk them (seconds at most).
    assert time.perf_counter() - start < 5
    assert message == (
        f"{path}: refused: nested too deeply, or its aliases (*name) expand to more than "
        f"{MAX_EXPANDED_NODES:,} values"
    )
    # An alias of ordinary size is still read as YAML reads it.
    assert config_error(registry, None, ["general_cfg.loggers=[&c csv, *c]"]) == (
        "--set general_cfg.loggers: general_cfg.loggers: lists csv more than once"
    )


def test_deeply_nested_yaml_is_refused_in_one_line(registry, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("general_cfg:\n  loggers: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert config_error(registry, path).startswith(f"{path}: refused: nested too deeply")
