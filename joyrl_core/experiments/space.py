"""The ``tune:`` section of a config file: the study's settings and its search space.

```yaml
tune:
  n_trials: 16
  objective: last_evals      # mean of the last `last_k` online evaluations, or auc
  space:
    algo_cfg.lr: {loguniform: [1.0e-5, 1.0e-2]}
    algo_cfg.batch_size: {categorical: [32, 64, 128]}
    algo_cfg.train_freq: {int: [1, 16]}
    algo_cfg.gamma: {uniform: [0.9, 0.999]}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from joyrl_core.config import SECTIONS, option
from joyrl_core.config.resolve import build_section
from joyrl_core.errors import ConfigError

KINDS = ("loguniform", "uniform", "int", "categorical")
# The tuner sets these itself (each trial's seed and folder) or compares trials by them.
_RESERVED = ("general_cfg.seed", "general_cfg.task_dir", "general_cfg.online_eval", "general_cfg.eval_every_steps",
             "general_cfg.mode")


@dataclass
class TuneConfig:
    """``tune``: how many trials, what to optimise, how to sample and prune, and over which keys."""

    n_trials: int = option(20, "trials in the study; a rerun continues the study up to this many", minimum=1)
    objective: Literal["last_evals", "auc"] = option(
        "last_evals", "last_evals: mean of the last last_k online evaluations; auc: mean eval reward over training "
        "(area under the eval curve per env step)")
    last_k: int = option(3, "online evaluations averaged by the last_evals objective", minimum=1)
    direction: Literal["maximize", "minimize"] = option("maximize", "whether the objective is maximized")
    sampler: Literal["tpe", "random"] = option("tpe", "Optuna sampler: tpe (TPESampler) or random")
    pruner: Literal["median", "halving", "hyperband", "none"] = option(
        "median", "Optuna pruner fed by each trial's best online evaluation so far: median, halving "
        "(asynchronous successive halving), hyperband or none")
    startup_trials: int = option(5, "TPE's random start-up trials (RL Zoo's 5)", minimum=0)
    pruner_startup_trials: int | None = option(
        None, "trials finished before the median pruner prunes; null: an eighth of n_trials (at least 2)", minimum=0)
    warmup_steps: int | None = option(
        None, "env steps of a trial before the median pruner may stop it; null: a tenth of max_env_steps", minimum=0)
    min_resource: int | None = option(
        None, "env steps of the halving pruner's first rung (then x3, x9, ...); null: two evaluations", minimum=1)
    seed: int = option(0, "sampler seed (with the trial's index); 0 = unseeded", minimum=0)
    jobs: int = option(1, "trials run at once, each in its own process (--jobs overrides it)", minimum=1)
    space: dict[str, Any] = option(
        {}, "search space: section.key -> {loguniform: [low, high]}, {uniform: [low, high]}, "
        "{int: [low, high]} or {categorical: [v1, v2, ...]}")


@dataclass(frozen=True)
class Param:
    """One searched key and its distribution."""

    key: str  # section.key, e.g. algo_cfg.lr
    kind: str
    values: tuple[Any, ...]  # (low, high) for ranges, the choices for categorical

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]

    def distribution(self, optuna: Any) -> Any:
        distributions = optuna.distributions
        if self.kind == "categorical":
            return distributions.CategoricalDistribution(list(self.values))
        low, high = self.values
        if self.kind == "int":
            return distributions.IntDistribution(low, high)
        return distributions.FloatDistribution(low, high, log=self.kind == "loguniform")


def _number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float))


def parse_param(key: Any, spec: Any, label: str) -> Param:
    where = f"{label}: tune.space.{key}"
    key = str(key)
    section, dot, name = key.partition(".")
    if section not in SECTIONS or not dot or not name:
        raise ConfigError(f"{where}: expected a key like algo_cfg.lr (sections: {', '.join(SECTIONS)})")
    if key in _RESERVED:
        raise ConfigError(f"{where}: the tuner sets this key itself; it cannot be searched")
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise ConfigError(f"{where}: expected one of {{{': ..., '.join(KINDS)}: ...}}, got {spec!r}")
    kind, values = next(iter(spec.items()))
    if kind == "categorical":
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: categorical needs a non-empty list of choices, got {values!r}")
        if any(v is not None and not isinstance(v, (bool, int, float, str)) for v in values):
            raise ConfigError(f"{where}: categorical choices must be numbers, strings, booleans or null")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{where}: categorical lists a choice more than once: {values!r}")
        return Param(key, kind, tuple(values))
    integer = kind == "int"
    if not isinstance(values, list) or len(values) != 2 or not all(
            _number(v, integer) or (not integer and isinstance(v, str) and _float(v) is not None) for v in values):
        what = "integers" if integer else "numbers"
        raise ConfigError(f"{where}: {kind} needs [low, high], two {what}, got {values!r}")
    low, high = (v if integer else _float(v) for v in values)
    if not low < high:
        raise ConfigError(f"{where}: the range [{low}, {high}] is empty (low must be below high)")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: loguniform needs low > 0, got {low}")
    return Param(key, kind, (low, high))


def _float(value: Any) -> float | None:
    # PyYAML reads exponents without a dot (1e-4) as strings, as the config does.
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_tune_section(raw: Any, label: str) -> tuple[TuneConfig, list[Param]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: section tune must be a mapping of keys to values")
    tune = build_section(TuneConfig, raw, "tune", label)
    if not tune.space:
        raise ConfigError(f"{label}: tune.space is empty; name at least one key to search, e.g. "
                          "algo_cfg.lr: {loguniform: [1.0e-5, 1.0e-2]}")
    return tune, [parse_param(key, spec, label) for key, spec in tune.space.items()]
