"""Learning from pixels: image observations stay compact in the buffers, and a CNN DQN and a CNN PPO
learn Catch (joyrl-envs-custom) from its 10x5 board in a short run."""

from __future__ import annotations

import time

import numpy as np
import pytest

import joyrl_core
from joyrl_core import EnvSpec, ReplayQueue, RolloutBuffer

from conftest import REPO_ROOT


@pytest.mark.parametrize("dtype, shape", [(np.uint8, (4, 84, 84)), (np.bool_, (10, 10, 4))])
def test_buffers_keep_image_observations_in_their_own_dtype(dtype, shape):
    spec = EnvSpec("pixels", shape, np.dtype(dtype), "discrete", n_actions=3)
    frames = np.ones((2, *shape), dtype=dtype)
    replay = ReplayQueue(8, spec, seed=0)
    replay.push_batch(frames, np.zeros(2), np.zeros(2), frames, np.zeros(2))
    batch = replay.sample(4)
    assert replay._obs.dtype == replay._next_obs.dtype == dtype  # no float copy of the frames is stored
    assert batch.obs.dtype == batch.next_obs.dtype == dtype
    rollout = RolloutBuffer(2, 2, spec, seed=0)
    rollout.push_batch(frames, np.zeros(2), np.zeros(2), frames, np.zeros(2),
                       extras={"value": np.zeros(2, np.float32), "log_prob": np.zeros(2, np.float32)})
    assert rollout.batch(np.arange(2)).obs.dtype == dtype


@pytest.mark.parametrize("example, budget", [("catch_dqn_cnn.yaml", 6000), ("catch_ppo_cnn.yaml", 12288)])
def test_a_cnn_learns_catch_in_a_short_run(tmp_path, example, budget):
    registry = joyrl_core.load_registry()
    config = joyrl_core.resolve_config(registry, REPO_ROOT / "examples" / example, [
        f"general_cfg.task_dir={tmp_path}", f"general_cfg.max_env_steps={budget}", "general_cfg.save_fig=false"])
    start = time.process_time()  # CPU time: the shared test machine's load does not count
    summary, _ = joyrl_core.start_run(config, registry)
    seconds = time.process_time() - start
    evals = [mean for _, mean in summary.eval_mean_rewards]
    # Catch scores +1 a caught ball, -1 a missed one: a mean of 1 over the evaluation's episodes is perfect.
    assert summary.best_eval_reward == 1.0, evals
    assert summary.env_steps < budget, "stop_reward should end the run at the first perfect evaluation"
    assert seconds < 30, f"{summary.env_steps} env steps took {seconds:.1f} s of CPU time"
