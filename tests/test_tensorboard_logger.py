import builtins
import types

import pytest

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from joyrl_core.errors import JoyRLError
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord
from joyrl_core.outputs.task import TaskPaths
from joyrl_core.outputs.tensorboard_logger import TensorBoardLogger


def make_run(tmp_path):
    task = TaskPaths(tmp_path)
    task.logs.mkdir()
    return types.SimpleNamespace(task=task)


def scalars(log_dir):
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_episodes_and_metrics_become_scalars(tmp_path):
    logger = TensorBoardLogger(make_run(tmp_path))
    assert isinstance(logger, Logger)
    logger.log_episode(EpisodeRecord("train", 1, 20, 20.0, 20, 0.1, True))
    logger.log_metrics(20, {"train/loss": 0.5, "time/steps_per_sec": 1000.0})
    logger.log_episode(EpisodeRecord("train", 2, 55, 35.0, 35, 0.1, False))
    logger.log_episode(EpisodeRecord("eval", 1, 55, 99.0, 99, 0.1, True))
    logger.log_metrics(55, {"eval/mean_reward": 42.5, "eval/std_reward": 1.5})
    logger.log_episode(EpisodeRecord("test", 1, 10, 7.0, 10, 0.1, True))
    logger.close()
    logger.close()  # a second close is harmless

    got = scalars(tmp_path / "logs" / "tensorboard")
    assert got["train/episode_reward"] == [(20, 20.0), (55, 35.0)]
    assert got["train/episode_length"] == [(20, 20.0), (55, 35.0)]
    assert got["train/loss"] == [(20, 0.5)]
    assert got["time/steps_per_sec"] == [(20, 1000.0)]
    assert got["eval/mean_reward"] == [(55, 42.5)]
    assert got["eval/std_reward"] == [(55, 1.5)]
    assert got["test/episode_reward"] == [(10, 7.0)]
    assert "eval/episode_reward" not in got


def test_missing_tensorboard_is_a_joyrl_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("TensorBoard logging requires TensorBoard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(JoyRLError, match="pip install tensorboard"):
        TensorBoardLogger(make_run(tmp_path))
