"""Offline RL on CartPole-v1: BC and CQL from an expert's episodes, and from expert and random ones.

The data is made the way a user makes it: DQN trained with examples/cartpole_dqn_fast.yaml (its best
model is the expert), its greedy test episodes collected with ``collect_traj``, and the RANDOM
algorithm's episodes collected the same way. Two datasets:

- ``expert``: ``--episodes`` expert episodes;
- ``mixed``: the same expert episodes and as many random episodes (50/50 by episodes).

BC and CQL (examples/cartpole_bc.yaml, examples/cartpole_cql.yaml) each learn from each dataset on
``--seeds`` seeds; the final evaluation's mean reward (10 greedy episodes) is reported per run, with
the mean over seeds, and the summary line ``summary: bc_expert=X cql_mixed=Y``. Targets: BC on the
expert data >= 475; CQL on the mixed data >= 400 and above BC on the same data.

    python benchmarks/offline_cartpole.py [--seeds 1 2 3] [--episodes 50]

It takes minutes on 2 CPU cores; the times it prints are wall-clock and noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from joyrl_core import load_registry, resolve_config, start_run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(registry, yaml: Path | None, overrides: list[str]):
    return start_run(resolve_config(registry, yaml, overrides), registry)


def collect(registry, root: Path, episodes: int) -> tuple[Path, Path, float, float]:
    """The expert's and the random player's task folders, and their mean episode rewards."""
    quiet = [f"general_cfg.task_dir={root}", "general_cfg.loggers=[csv]", "general_cfg.save_fig=false"]
    start = time.perf_counter()
    _, trained = run(registry, EXAMPLES / "cartpole_dqn_fast.yaml", quiet + ["general_cfg.seed=1"])
    print(f"expert: DQN trained in {time.perf_counter() - start:.1f} s ({trained.root.name})", flush=True)
    # The collect example's network is cartpole_dqn.yaml's; the fast config's is smaller.
    expert_summary, expert = run(registry, EXAMPLES / "cartpole_dqn_collect.yaml", quiet + [
        f"general_cfg.load_path={trained.root}", f"general_cfg.test_episode={episodes}", "general_cfg.seed=11",
        "algo_cfg.value_layers=[{layer_dim: [64]}, {layer_dim: [64]}]"])
    random_summary, random_play = run(registry, None, quiet + [
        "general_cfg.algo_name=RANDOM", "general_cfg.collect_traj=true", f"general_cfg.max_episode={episodes}",
        "general_cfg.max_step=500", "general_cfg.seed=12", "env_cfg.id=CartPole-v1"])
    return (expert.root, random_play.root, float(np.mean(expert_summary.test_rewards)),
            float(np.mean(random_summary.last_rewards)))


def learn(registry, root: Path, algo: str, sources: list[Path], seed: int) -> tuple[float, float]:
    """The final evaluation mean of one offline run, and its wall time."""
    yaml = EXAMPLES / ("cartpole_bc.yaml" if algo == "BC" else "cartpole_cql.yaml")
    dataset = "[" + ", ".join(f"'{source}'" for source in sources) + "]"
    start = time.perf_counter()
    summary, _ = run(registry, yaml, [f"general_cfg.task_dir={root}", "general_cfg.loggers=[csv]",
                                      "general_cfg.save_fig=false", f"general_cfg.seed={seed}",
                                      f"algo_cfg.dataset={dataset}"])
    return summary.eval_mean_rewards[-1][1], time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--episodes", type=int, default=50, help="expert episodes (and random ones in mixed)")
    args = parser.parse_args(argv)
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="joyrl-offline-bench-") as tmp:
        root = Path(tmp)
        expert, random_play, expert_mean, random_mean = collect(registry, root / "data", args.episodes)
        print(f"data: {args.episodes} expert episodes (mean {expert_mean:.1f}), "
              f"{args.episodes} random episodes (mean {random_mean:.1f})", flush=True)
        datasets = {"expert": [expert], "mixed": [expert, random_play]}
        means: dict[tuple[str, str], float] = {}
        print(f"{'algo':<5} {'data':<7} " + " ".join(f"seed {s:<3}" for s in args.seeds) + "   mean   time/run")
        for algo in ("BC", "CQL"):
            for name, sources in datasets.items():
                results = [learn(registry, root / "runs", algo, sources, seed) for seed in args.seeds]
                finals = [final for final, _ in results]
                means[(algo, name)] = float(np.mean(finals))
                print(f"{algo:<5} {name:<7} " + " ".join(f"{final:8.1f}" for final in finals)
                      + f" {means[(algo, name)]:7.1f} {np.mean([t for _, t in results]):8.1f} s", flush=True)
    bc_expert, cql_mixed, bc_mixed = means[("BC", "expert")], means[("CQL", "mixed")], means[("BC", "mixed")]
    print(f"targets: bc_expert >= 475: {bc_expert >= 475}; cql_mixed >= 400: {cql_mixed >= 400}; "
          f"cql_mixed > bc_mixed ({bc_mixed:.1f}): {cql_mixed > bc_mixed}")
    print(f"summary: bc_expert={bc_expert:.1f} cql_mixed={cql_mixed:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
