"""The README stays true: every config key documented, the first commands point at real files."""

from __future__ import annotations

import re

import pytest

from joyrl_core.config import EnvWrapConfig, GeneralConfig, VectorConfig, describe_options
from joyrl_core.components.frame_replay import FrameReplayConfig
from joyrl_core.components.gym_env import GymEnvConfig
from joyrl_dqn.config import DQNConfig, LayerConfig, PERConfig

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("cls", [GeneralConfig, VectorConfig, EnvWrapConfig, DQNConfig, LayerConfig, PERConfig,
                                 FrameReplayConfig, GymEnvConfig])
def test_every_key_is_in_the_yaml_reference(cls):
    missing = [row.key for row in describe_options(cls) if f"| `{row.key}` |" not in README]
    assert not missing, f"README's YAML reference lacks {cls.__name__} keys {missing}"


def test_the_first_two_commands_set_up_train_and_test():
    blocks = re.findall(r"```\n(.*?)\n```", README, flags=re.S)
    train, test = blocks[0].strip(), blocks[1].strip()
    assert "-c constraints.txt" in train and "joyrl run examples/cartpole_dqn.yaml" in train
    assert "tox" in test
    for path in ("constraints.txt", "examples/cartpole_dqn.yaml", "tox.ini", ".ci/run"):
        assert (REPO_ROOT / path).is_file()
    assert "tox -e py311" in (REPO_ROOT / ".ci" / "run").read_text()


def test_every_example_the_readme_names_exists():
    for name in set(re.findall(r"examples/[\w/.-]+\.yaml", README)):
        assert (REPO_ROOT / name).is_file(), name
