"""The Python API (train from a dict or YAML, load a task as a policy) and ``joyrl test TASK_DIR``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import read_episodes

import joyrl_core
from joyrl_core.errors import CheckpointError, ConfigError

TINY = {
    "general_cfg": {"algo_name": "DQN", "max_episode": 4, "max_step": 100, "seed": 2, "online_eval": True,
                    "online_eval_episode": 2, "eval_every_steps": 100, "save_fig": False, "loggers": ["csv"]},
    "algo_cfg": {"value_layers": [{"layer_type": "linear", "layer_dim": [8], "activation": "relu"}],
                 "batch_size": 8, "learning_starts": 16},
}


@pytest.fixture
def trained(tmp_path):
    summary, task = joyrl_core.train(TINY, [f"general_cfg.task_dir={tmp_path / 'tasks'}"])
    return summary, task


def test_train_from_a_dict_and_predict_like_the_evaluation(trained):
    summary, task = trained
    assert summary.episodes == 4 and len(read_episodes(task.root)) == 4
    policy = joyrl_core.load_policy(task.root)
    assert policy.checkpoint.name == "best.pt"
    env = policy.make_env()
    obs, _ = env.reset(seed=0)
    action = policy.predict(obs)
    assert np.ndim(action) == 0 and action in (0, 1)
    batch = policy.predict(np.stack([obs, obs, obs]))
    assert batch.shape == (3,) and (batch == action).all()
    env.close()
    assert joyrl_core.load_policy(task.root, "latest").checkpoint.name != "best.pt"


def test_api_errors_are_the_cli_errors(tmp_path, trained):
    with pytest.raises(ConfigError, match=r"<dict>: unknown key algo_cfg.lrr \(did you mean 'lr'\?\)"):
        joyrl_core.train({"algo_cfg": {"lrr": 1}})
    with pytest.raises(CheckpointError):
        joyrl_core.load_policy(trained[1].root, 999)


def test_joyrl_test_plays_the_best_checkpoint(cli, trained):
    _, task = trained
    result = cli("test", str(task.root), "--episodes", "3", "--gif")
    assert result.exit_code == 0, result.output
    assert "test reward over 3 episodes (best checkpoint)" in result.output
    [test_task] = [p for p in task.root.parent.iterdir() if p.name.startswith("Test_")]
    assert len(read_episodes(test_task)) == 3 and (test_task / "videos" / "video.gif").is_file()
