#!/usr/bin/env python
"""What pruning saves: ``examples/tune_cartpole_dqn.yaml`` (DQN on CartPole-v1 over lr, batch size,
train_freq, target update and the epsilon schedule, each trial at most 30k env steps) as two studies in
one run, with the example's pruner (asynchronous successive halving on each trial's best online
evaluation so far, first rung at two evaluations) and without one.

Needs ``pip install -c constraints.txt ".[experiments]"`` (or ``tox -e bench``). For each study it
prints the trials' states, the env steps all trials used, the wall time and the best objective; the
last line is machine-readable: ``summary: pruned_steps_ratio=X best_solves=yes|no`` (the pruned study's
env steps over the unpruned one's, target <= 0.5; whether the pruned study's best trial solves, its
eval mean >= 475). Both studies use the same sampler seed, so their first trials are the same.

    python benchmarks/tune_cartpole.py [--trials 16] [--jobs 1] [--seed 1] [--dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from joyrl_core import load_registry
from joyrl_core.experiments.results import read_curve
from joyrl_core.experiments.tune import plan_tune, run_tune

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tune_cartpole_dqn.yaml"
SOLVED = 475.0


def study(root: Path, pruner: str | None, trials: int, jobs: int, seed: int | None) -> tuple[int, float, float | None]:
    """Run one study (``pruner`` None: the example's); returns its env steps, wall time and the best
    trial's best evaluation."""
    plan = plan_tune(load_registry(), EXAMPLE, [f"general_cfg.task_dir={root}"], root / f"study_{pruner or 'example'}", jobs)
    plan.tune.pruner = pruner or plan.tune.pruner
    plan.tune.n_trials = trials
    plan.tune.seed = plan.tune.seed if seed is None else seed
    start = time.perf_counter()
    result = run_tune(plan, show_progress=False)
    wall = time.perf_counter() - start
    states: dict[str, int] = {}
    for trial in result.trials:
        states[trial["state"]] = states.get(trial["state"], 0) + 1
    steps = sum(trial["env_steps"] or 0 for trial in result.trials)
    best_eval = None
    if result.best is not None:
        best_eval = float(read_curve(Path(result.best["task"])).reward.max())
    best = "-" if result.best is None else f"{result.best['value']:.1f} (its best eval {best_eval:.1f})"
    print(f"pruner {plan.tune.pruner}: {len(result.trials)} trials ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}), "
          f"{steps} env steps, {wall:.0f} s, best objective {best}", flush=True)
    return steps, wall, best_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=1, help="trials at once in each study")
    parser.add_argument("--seed", type=int, help="the studies' sampler seed (default: the example's, 1)")
    parser.add_argument("--dir", type=Path, help="where the studies go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        pruned_steps, _, pruned_best = study(root, None, args.trials, args.jobs, args.seed)
        full_steps, _, _ = study(root, "none", args.trials, args.jobs, args.seed)
    solves = pruned_best is not None and pruned_best >= SOLVED
    print(f"summary: pruned_steps_ratio={pruned_steps / max(full_steps, 1):.2f} best_solves={'yes' if solves else 'no'}")


if __name__ == "__main__":
    main()
