"""The one line that ends a run: did it solve the env, and where is the model to use.

Solved means a greedy score (the best online evaluation while training, the test mean in test mode)
reached the env's reward threshold: gymnasium's ``spec.reward_threshold`` (475 for CartPole-v1), or
the run's ``stop_reward`` for an env without one.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from joyrl_core.config import GeneralConfig
from joyrl_core.contracts.records import RunSummary
from joyrl_core.outputs.checkpoint import numbered_checkpoints
from joyrl_core.outputs.task import TaskPaths


def reward_threshold(env: gym.Env, general: GeneralConfig) -> tuple[float | None, str]:
    """The score that counts as solving ``env``, and where it comes from (for the verdict line)."""
    threshold = getattr(getattr(env, "spec", None), "reward_threshold", None)
    if threshold is not None:
        return float(threshold), "the env's reward threshold"
    if general.stop_reward is not None:
        return float(general.stop_reward), "stop_reward"
    return None, ""


def judge(summary: RunSummary, threshold: float | None) -> None:
    """Set ``summary.reward_threshold`` and ``summary.solved``."""
    summary.reward_threshold = threshold
    score = _score(summary)
    summary.solved = None if threshold is None or score is None else bool(score >= threshold)


def _score(summary: RunSummary) -> float | None:
    if summary.test_rewards:
        return float(np.mean(summary.test_rewards))
    return summary.best_eval_reward


def _final_checkpoint(task: TaskPaths) -> str | None:
    numbered = numbered_checkpoints(task.models)
    return str(numbered[-1]) if numbered else None


def verdict_line(summary: RunSummary, general: GeneralConfig, task: TaskPaths, env_id: str,
                 threshold_source: str, step_axis: str = "env_steps") -> str:
    """One line: solved or not against the threshold, by which score, and the model file to use."""
    threshold = summary.reward_threshold
    if summary.test_rewards:
        score = float(np.mean(summary.test_rewards))
        if threshold is None:
            return f"test mean {score:.2f} over {len(summary.test_rewards)} greedy episodes ({env_id} sets no reward threshold)"
        word = "solved" if summary.solved else "NOT solved"
        sign = ">=" if summary.solved else "<"
        return (f"{word} {env_id}: test mean {score:.2f} over {len(summary.test_rewards)} greedy episodes "
                f"{sign} {threshold:g} ({threshold_source})")
    if general.mode == "test":
        return "no test episode finished"
    final = _final_checkpoint(task)
    final_text = f"final model: {final}" if final else "no model was saved"
    if summary.best_eval_reward is None:
        reason = "online_eval is off" if not general.online_eval else "no evaluation ran"
        return f"not evaluated ({reason}): {final_text}; `joyrl test {task.root}` plays it greedily"
    evals = summary.eval_mean_rewards
    axis = step_axis.replace("_", " ").removesuffix("s")
    # A backend may carry a best evaluation over from before this run's own evaluations.
    best_step = next((step for step, mean in evals if mean == summary.best_eval_reward), None)
    last_step, last_mean = evals[-1] if evals else (None, None)
    best = task.models / "best.pt"
    if best_step is None:
        where = "before this run's evaluations"
    elif general.stop_reward is not None and last_mean >= general.stop_reward:
        where = f"at {axis} {best_step}, where training stopped"
    elif last_step == best_step:
        where = f"at {axis} {best_step}, the last evaluation"
    else:
        where = f"at {axis} {best_step} (last evaluation: {last_mean:.2f} at {axis} {last_step})"
    model = f"best model: {best}" if best.is_file() else f"{final_text} (save_best_model is off)"
    if threshold is None:
        return f"best greedy eval {summary.best_eval_reward:.2f} {where} ({env_id} sets no reward threshold); {model}"
    word, sign = ("solved", ">=") if summary.solved else ("NOT solved", "<")
    return (f"{word} {env_id}: best greedy eval {summary.best_eval_reward:.2f} {sign} {threshold:g} "
            f"({threshold_source}) {where}; {model}")
