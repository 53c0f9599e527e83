"""``joyrl new-plugin``: a ready-to-install plugin package for one kind of component.

:func:`create_plugin` writes ``<dest>/joyrl-<name>/`` holding ``pyproject.toml`` (with its ``joyrl``
entry point), the package ``joyrl_<name>/`` whose ``plugin.py`` implements the hook and a small but
working component, ``tests/test_plugin.py`` (loads it through its entry point and runs it), and a
README. ``pip install -e <folder>`` and ``pytest <folder>`` work straight away; then replace the
component with your own. Generated code imports only ``joyrl_core``'s public names.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from string import Template

from joyrl_core.errors import JoyRLError

SCAFFOLD_KINDS = ("algo", "env", "buffer", "logger", "backend")
_KIND_ALIASES = {"algorithm": "algo"}
# The kind as the registry (and ``joyrl list-plugins --kind``) names it, and the hook that registers it.
_REGISTRY_KIND = {"algo": "algorithm", "env": "env", "buffer": "buffer", "logger": "logger", "backend": "backend"}
_HOOK = {"algo": "register_algorithms", "env": "register_envs", "buffer": "register_buffers",
         "logger": "register_loggers", "backend": "register_backends"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_RESERVED = {"core"}  # joyrl-core itself


@dataclass(frozen=True)
class PluginNames:
    """Every name a new plugin needs, derived from the one the user gave."""

    dist: str  # distribution, what pip installs: joyrl-my-algo
    package: str  # import package: joyrl_my_algo
    entry_point: str  # entry point in the joyrl group: my_algo
    component: str  # what YAML selects: MY_ALGO (algorithms, buffers) or my_algo (others)
    camel: str  # class-name prefix: MyAlgo
    kind: str  # algo, env, buffer, logger or backend


def plugin_names(name: str, kind: str) -> PluginNames:
    """Validate ``name`` and ``kind`` and derive the plugin's names; a :class:`JoyRLError` says what is wrong."""
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in SCAFFOLD_KINDS:
        raise JoyRLError(f"unknown plugin kind {kind!r}; choose one of: {', '.join(SCAFFOLD_KINDS)}")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise JoyRLError(
            f"invalid plugin name {name!r}: use lowercase letters and digits, starting with a letter, "
            "words joined by single hyphens (e.g. my-algo)"
        )
    base = name.replace("_", "-")
    if base.startswith("joyrl-"):
        base = base[len("joyrl-"):]
    if not base[0].isalpha():
        raise JoyRLError(f"invalid plugin name {name!r}: the part after 'joyrl-' must start with a letter")
    if base in _RESERVED:
        raise JoyRLError(f"invalid plugin name {name!r}: joyrl-{base} is JoyRL's own distribution")
    words = base.split("-")
    entry_point = "_".join(words)
    if keyword.iskeyword(entry_point):
        raise JoyRLError(f"invalid plugin name {name!r}: {entry_point!r} is a Python keyword")
    component = entry_point.upper() if kind in ("algo", "buffer") else entry_point
    return PluginNames(
        dist=f"joyrl-{base}",
        package=f"joyrl_{entry_point}",
        entry_point=entry_point,
        component=component,
        camel="".join(w.capitalize() for w in words),
        kind=kind,
    )


def create_plugin(name: str, kind: str, dest: Path) -> Path:
    """Write a new plugin package for a component of ``kind`` under ``dest``; return its folder.

    ``name`` is the plugin's short name (``my-algo``; a leading ``joyrl-`` is accepted), ``kind`` one of
    algo, env, buffer, logger, backend. The folder is ``dest/joyrl-<name>``; it must not exist yet. The
    files are written to a temporary folder first and renamed into place, so a failure leaves nothing.
    """
    names = plugin_names(name, kind)
    if _installed(names.dist):
        raise JoyRLError(f"a distribution named {names.dist} is already installed; choose another plugin name")
    dest = Path(dest)
    target = dest / names.dist
    if target.exists():
        raise JoyRLError(f"{target}: already exists; choose another plugin name or another destination folder")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JoyRLError(f"{dest}: cannot create the destination folder: {exc.strerror}") from None
    if not dest.is_dir():
        raise JoyRLError(f"{dest}: not a folder")
    staging = _staging_folder(dest, names.dist)
    try:
        for relative, text in _render(names).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            if target.exists():
                raise JoyRLError(f"{target}: already exists; choose another plugin name or another destination folder") from None
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _installed(dist: str) -> bool:
    try:
        distribution(dist)
    except PackageNotFoundError:
        return False
    return True


def _staging_folder(dest: Path, dist: str) -> Path:
    """A new hidden folder beside the target, created with the user's umask (unlike ``mkdtemp``'s 0700)."""
    for attempt in range(100):
        staging = dest / f".{dist}.tmp-{os.getpid()}-{attempt}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue
    raise JoyRLError(f"{dest}: cannot create a temporary folder for {dist}; remove stale .{dist}.tmp-* folders")


def _render(names: PluginNames) -> dict[str, str]:
    values = {
        "dist": names.dist,
        "package": names.package,
        "entry_point": names.entry_point,
        "component": names.component,
        "Camel": names.camel,
        "registry_kind": _REGISTRY_KIND[names.kind],
        "hook": _HOOK[names.kind],
        "summary": _SUMMARY[names.kind],
        "extra_dependencies": ', "gymnasium>=1.0"' if names.kind == "env" else "",
        "yaml": Template(_YAML[names.kind]).substitute(component=names.component),
        "edit": _EDIT[names.kind],
        "numpy_import": "import numpy as np\n\n" if names.kind in ("algo", "buffer") else "",
    }

    def fill(template: str) -> str:
        return Template(template).substitute(values)

    return {
        "pyproject.toml": fill(_PYPROJECT),
        "README.md": fill(_README),
        f"{names.package}/__init__.py": fill(_INIT),
        f"{names.package}/plugin.py": fill(_PLUGINS[names.kind]),
        "tests/test_plugin.py": fill(_TEST_COMMON) + fill(_TESTS[names.kind]),
    }


# -- templates ---------------------------------------------------------------------------------------
# string.Template: ${name} is substituted, $$ is a literal dollar sign.

_SUMMARY = {
    "algo": "linear Q-learning, epsilon-greedy, from a replay buffer",
    "env": "a corridor: walk right to the goal",
    "buffer": "FIFO ring buffer in numpy arrays, sampling from the newest transitions",
    "logger": "every episode and metric as JSON lines in logs/",
    "backend": "one process, like the built-in single backend, through the public Trainer",
}

_EDIT = {
    "algo": "Replace the linear Q-function with your algorithm. Keep every `Agent` method: the trainer calls\n"
            "`sample_action`/`update` each env step, checkpoints use `state_dict`/`load_state_dict` (plain data:\n"
            "tensors, numbers, strings, lists, dicts; numpy arrays are refused by the safe loader), and other\n"
            "backends move `get_weights` to their workers.",
    "env": "Replace the corridor with your env. It must follow the gymnasium API (`reset(seed=...)`, the\n"
           "five-tuple `step`) and have a Box or Discrete observation space; `tests/test_plugin.py` runs\n"
           "gymnasium's `check_env` on it.",
    "buffer": "Change how transitions are stored and sampled. `push` gets `terminated` and `truncated` (the last\n"
              "step of an episode cut by a time limit or `max_step`); `sample` returns a `joyrl_core.Batch`.\n"
              "Buffer options sit in `algo_cfg` beside the algorithm's, so give them names no algorithm uses.",
    "logger": "Send the events where you need them. `log_episode` gets every train, test and eval episode,\n"
              "`log_metrics` tagged scalars on the env-step axis; `close` is called once, also after an error.",
    "backend": "Decide where rollouts and learning run. `run()` must honour `general_cfg.mode`, end cleanly on\n"
               "Ctrl-C (write the final checkpoint, return a summary with `interrupted=True`) and return a\n"
               "`joyrl_core.RunSummary`; the public `Trainer` does all of that for one process.",
}

_YAML = {
    "algo": "general_cfg:\n  algo_name: ${component}\nalgo_cfg:\n  lr: 0.01\n  epsilon: 0.1\n"
            "  buffer_type: REPLAY_QUE\n  buffer_size: 10000\nenv_cfg:\n  id: CartPole-v1\n",
    "env": "general_cfg:\n  env_name: ${component}\n  algo_name: RANDOM\nenv_cfg:\n  length: 8\n",
    "buffer": "algo_cfg:\n  buffer_type: ${component}\n  buffer_size: 10000\n  recent_window: 0  # this buffer's own option\n",
    "logger": "general_cfg:\n  loggers: [console, ${component}]\n",
    "backend": "general_cfg:\n  mp_backend: ${component}\n",
}

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "${dist}"
version = "0.1.0"
description = "JoyRL plugin: ${summary}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["joyrl-core>=0.1", "numpy>=1.24"${extra_dependencies}]

[project.optional-dependencies]
test = ["pytest>=8"]

# JoyRL finds plugins through this entry-point group: name = "module that implements the hooks".
[project.entry-points.joyrl]
${entry_point} = "${package}.plugin"

[tool.setuptools.packages.find]
include = ["${package}*"]
'''

_INIT = '''\
"""${dist}: a JoyRL plugin providing the ${registry_kind} ``${component}``."""
'''

_README = '''\
# ${dist}

A JoyRL plugin: the ${registry_kind} `${component}` (${summary}).

## Install and check

```
pip install -e .
joyrl list-plugins --kind ${registry_kind}     # ${component} ... ${dist} 0.1.0
pip install pytest && pytest tests
```

## Use

```yaml
${yaml}```

## Make it yours

${edit}

The hook lives in `${package}/plugin.py` (`${hook}`); the `[project.entry-points.joyrl]` table of
`pyproject.toml` is how JoyRL finds it. Import only names from `joyrl_core` itself (its `__all__`);
raise a `joyrl_core` error (`ConfigError`, `EnvError`, ...) for a mistake a user can fix.
'''

_PLUGIN_ALGO = '''\
"""${dist}: the ``${component}`` algorithm for JoyRL.

A linear Q-function, ``Q(s, a) = s @ w[:, a] + b[a]``, learned by one-step Q-learning on minibatches
from the replay buffer, acting epsilon-greedily. Small on purpose: replace it with your algorithm and
keep every method of the ``Agent`` contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from joyrl_core import Agent, Buffer, ConfigError, EnvSpec, hookimpl, option


@dataclass
class ${Camel}Config:
    """``algo_cfg`` of ${component}: each field is a YAML key, checked against its type and minimum."""

    lr: float = option(0.01, "step size of the Q-learning update", minimum=0.0)
    gamma: float = option(0.99, "discount factor", minimum=0.0)
    epsilon: float = option(0.1, "probability of a random action while training", minimum=0.0)
    batch_size: int = option(32, "transitions per update", minimum=1)
    buffer_type: str = option("REPLAY_QUE", "buffer component (see `joyrl list-plugins --kind buffer`)")
    buffer_size: int = option(10000, "buffer capacity in transitions", minimum=1)

    def __post_init__(self) -> None:
        # A ValueError "key: message" becomes a ConfigError naming the file and the key.
        if self.gamma > 1:
            raise ValueError(f"gamma: must lie in [0, 1], got {self.gamma}")
        if self.epsilon > 1:
            raise ValueError(f"epsilon: must lie in [0, 1], got {self.epsilon}")


class ${Camel}Agent(Agent):
    def __init__(self, config: ${Camel}Config, env_spec: EnvSpec, device: str, seed: int | None):
        if env_spec.action_kind != "discrete":
            raise ConfigError(f"${component} needs discrete actions; env {env_spec.env_id!r} has continuous ones")
        self.cfg = config
        self.n_actions = int(env_spec.n_actions)
        n_features = int(np.prod(env_spec.obs_shape)) if env_spec.obs_shape else 1
        self.w = np.zeros((n_features, self.n_actions))
        self.b = np.zeros(self.n_actions)
        self._rng = np.random.default_rng(seed)
        self._updates = 0

    def _q(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64).reshape(len(obs), -1) @ self.w + self.b

    # -- acting: batched observations in, one action per row out ------------------------------------

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        actions = self.predict_action(obs)
        explore = self._rng.random(len(actions)) < self.cfg.epsilon
        actions[explore] = self._rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self._q(obs).argmax(axis=1)

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"epsilon": self.cfg.epsilon}

    # -- learning: called after every env step; learn when there is enough data ---------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if len(buffer) < self.cfg.batch_size:
            return None
        batch = buffer.sample(self.cfg.batch_size)
        x = batch.obs.reshape(len(batch), -1).astype(np.float64)
        taken = np.eye(self.n_actions)[batch.actions]
        q = (self._q(batch.obs) * taken).sum(axis=1)
        target = batch.rewards + self.cfg.gamma * (1.0 - batch.terminated) * self._q(batch.next_obs).max(axis=1)
        td = np.clip(target - q, -1.0, 1.0) * batch.weights  # the Huber loss's gradient keeps it stable
        self.w += self.cfg.lr * x.T @ (taken * td[:, None]) / len(batch)
        self.b += self.cfg.lr * (taken * td[:, None]).mean(axis=0)
        self._updates += 1
        return {"td_error": float(np.abs(td).mean())}

    # -- weights (learner -> workers) and checkpoints (plain data only) -----------------------------

    def get_weights(self) -> dict[str, Any]:
        return {"w": self.w.tolist(), "b": self.b.tolist()}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        w, b = np.asarray(weights["w"], dtype=np.float64), np.asarray(weights["b"], dtype=np.float64)
        if w.shape != self.w.shape or b.shape != self.b.shape:
            raise ValueError(f"weights of shape {w.shape}, {b.shape} do not fit {self.w.shape}, {self.b.shape}")
        self.w, self.b = w, b

    def state_dict(self) -> dict[str, Any]:
        return {**self.get_weights(), "update_steps": self._updates, "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"w", "b", "update_steps", "rng"} - set(state)
        if missing:
            raise ValueError(f"not a ${component} checkpoint: missing {sorted(missing)}")
        self.set_weights(state)
        self._updates = int(state["update_steps"])
        self._rng.bit_generator.state = state["rng"]


def make_agent(config: ${Camel}Config, env_spec: EnvSpec, device: str, seed: int | None) -> ${Camel}Agent:
    return ${Camel}Agent(config, env_spec, device, seed)


@hookimpl
def register_algorithms(register):
    register("${component}", make_agent, ${Camel}Config, "${summary}")
'''

_PLUGIN_ENV = '''\
"""${dist}: the ``${component}`` env for JoyRL, a gymnasium env selected by ``env_name: ${component}``."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from joyrl_core import EnvError, hookimpl, option


class ${Camel}Env(gym.Env):
    """A corridor of ``length`` cells. Each episode starts in a random cell; action 0 steps left, 1 right.

    Reaching the last cell gives +1 and ends the episode (``terminated``); every other step costs 0.01.
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 8):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._cell = 0

    def _obs(self) -> np.ndarray:
        return np.array([self._cell / (self.length - 1)], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # seeds self.np_random on the first (seeded) reset
        self._cell = int(self.np_random.integers(0, self.length - 1))
        return self._obs(), {}

    def step(self, action):
        move = 1 if int(action) == 1 else -1
        self._cell = min(max(self._cell + move, 0), self.length - 1)
        terminated = self._cell == self.length - 1
        return self._obs(), 1.0 if terminated else -0.01, terminated, False, {}


@dataclass
class ${Camel}Config:
    """``env_cfg`` of ${component}: each field is a YAML key, checked against its type and minimum."""

    length: int = option(8, "cells in the corridor; the goal is the last one", minimum=2)


def make_env(config: ${Camel}Config, render_mode: str | None) -> gym.Env:
    if render_mode is not None:
        raise EnvError(f"env ${component} cannot render (asked for render_mode {render_mode!r})")
    return ${Camel}Env(config.length)


@hookimpl
def register_envs(register):
    register("${component}", make_env, ${Camel}Config, "${summary}")
'''

_PLUGIN_BUFFER = '''\
"""${dist}: the ``${component}`` buffer for JoyRL, selected by ``algo_cfg.buffer_type: ${component}``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from joyrl_core import Batch, Buffer, EnvSpec, allocate_transitions, hookimpl, option, write_transitions


@dataclass
class ${Camel}Config:
    """The buffer's own options. They are read from ``algo_cfg``, beside the algorithm's keys."""

    recent_window: int = option(0, "sample from the newest this many transitions only; 0 = all stored", minimum=0)


class ${Camel}Buffer(Buffer):
    """A first-in-first-out ring of ``capacity`` transitions in preallocated numpy arrays.

    When full, a push overwrites the oldest transition. ``sample`` draws uniformly, with replacement,
    from the newest ``recent_window`` transitions (all of them when it is 0).
    """

    def __init__(self, capacity: int, env_spec: EnvSpec, config: ${Camel}Config, seed: int | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.recent_window = config.recent_window
        self._columns = allocate_transitions(capacity, env_spec)
        (self._obs, self._actions, self._rewards, self._next_obs, self._terminated, self._truncated) = self._columns
        self._next = 0  # where the next transition goes
        self._size = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        self.push_batch(np.asarray(obs)[None], np.asarray(action)[None], np.asarray([reward]),
                        np.asarray(next_obs)[None], np.asarray([terminated]), np.asarray([truncated]))

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        n = len(rewards)
        idx = (self._next + np.arange(n)) % self.capacity  # with n > capacity the newest rows win
        write_transitions(self._columns, idx, obs, actions, rewards, next_obs, terminated, truncated)
        self._next = int((self._next + n) % self.capacity)
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        window = min(self.recent_window or self._size, self._size)
        idx = (self._next - 1 - self._rng.integers(0, window, size=batch_size)) % self.capacity
        return Batch(obs=self._obs[idx], actions=self._actions[idx], rewards=self._rewards[idx],
                     next_obs=self._next_obs[idx], terminated=self._terminated[idx],
                     truncated=self._truncated[idx], indices=idx, weights=np.ones(batch_size, dtype=np.float32))


def make_buffer(capacity: int, env_spec: EnvSpec, config: ${Camel}Config, seed: int | None) -> ${Camel}Buffer:
    return ${Camel}Buffer(capacity, env_spec, config, seed)


@hookimpl
def register_buffers(register):
    register("${component}", make_buffer, ${Camel}Config, "${summary}")
'''

_PLUGIN_LOGGER = '''\
"""${dist}: the ``${component}`` logger for JoyRL, enabled by ``general_cfg.loggers: [..., ${component}]``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from joyrl_core import EpisodeRecord, Logger, RunContext, hookimpl


class ${Camel}Logger(Logger):
    """One JSON object per line in ``<task folder>/logs/${entry_point}.jsonl``: every episode and metrics call."""

    def __init__(self, run: RunContext):
        self.path = run.task.logs / "${entry_point}.jsonl"
        self._fh = open(self.path, "w", encoding="utf-8")

    def log_episode(self, record: EpisodeRecord) -> None:
        self._write({"event": "episode", **dataclasses.asdict(record)})

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        self._write({"event": "metrics", "env_steps": env_steps, "metrics": {k: float(v) for k, v in metrics.items()}})

    def _write(self, obj: dict) -> None:
        self._fh.write(json.dumps(obj, sort_keys=True) + "\\n")
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


@hookimpl
def register_loggers(register):
    register("${component}", ${Camel}Logger, None, "${summary}")
'''

_PLUGIN_BACKEND = '''\
"""${dist}: the ``${component}`` backend for JoyRL, selected by ``general_cfg.mp_backend: ${component}``."""

from __future__ import annotations

from joyrl_core import Backend, RunContext, RunSummary, Trainer, hookimpl


class ${Camel}Backend(Backend):
    """Acting and learning in this process, one env, one agent: the built-in ``single`` backend's recipe.

    A backend decides where rollouts and learning happen; start from here to move them elsewhere.
    """

    def __init__(self, run: RunContext):
        self.ctx = run

    def run(self) -> RunSummary:
        run = self.ctx
        run.log.info("backend ${component}: %s mode in one process", run.config.general.mode)
        agent = run.make_agent(run.seed_for("train"))
        if run.config.general.mode == "test":
            return Trainer(run, agent, None).test()
        return Trainer(run, agent, run.make_buffer(run.seed_for("train"))).train()


@hookimpl
def register_backends(register):
    register("${component}", ${Camel}Backend, None, "${summary}")
'''

_PLUGINS = {"algo": _PLUGIN_ALGO, "env": _PLUGIN_ENV, "buffer": _PLUGIN_BUFFER, "logger": _PLUGIN_LOGGER,
            "backend": _PLUGIN_BACKEND}

_TEST_COMMON = '''\
"""Tests of ${dist}: found through its entry point, registered, and working in a short run.

Run them after ``pip install -e .`` (the entry point exists only once the distribution is installed).
"""

from __future__ import annotations

import importlib.metadata

${numpy_import}import joyrl_core

DIST = "${dist}"
KIND = "${registry_kind}"
NAME = "${component}"


def quick_run(tmp_path, *overrides: str):
    """A short, quiet, seeded run with its task folder in ``tmp_path``."""
    registry = joyrl_core.load_registry()
    config = joyrl_core.resolve_config(registry, None, [
        f"general_cfg.task_dir={tmp_path}", "general_cfg.loggers=[]", "general_cfg.save_fig=false",
        "general_cfg.max_episode=3", "general_cfg.max_step=50", "general_cfg.seed=1", *overrides,
    ])
    return joyrl_core.start_run(config, registry)


def test_entry_point_loads():
    found = [ep for ep in importlib.metadata.entry_points(group="joyrl") if ep.name == "${entry_point}"]
    assert found, "no joyrl entry point ${entry_point}: install the plugin first (pip install -e .)"
    assert found[0].dist.name == DIST
    assert hasattr(found[0].load(), "${hook}")


def test_registered_under_its_kind():
    registry = joyrl_core.load_registry()
    assert not [b for b in registry.broken if b.distribution == DIST], registry.broken
    component = registry.get(KIND, NAME)
    assert component.distribution == DIST
'''

_TEST_ALGO = '''

def test_trains_and_restores_from_its_checkpoint(tmp_path):
    summary, task = quick_run(tmp_path, f"general_cfg.algo_name={NAME}", "algo_cfg.batch_size=8")
    assert summary.episodes == 3 and summary.update_steps > 0
    checkpoint = joyrl_core.load_checkpoint(task.models / f"{summary.update_steps}.pt")

    registry = joyrl_core.load_registry()
    config = joyrl_core.resolve_config(registry, None, [f"general_cfg.algo_name={NAME}"])
    spec = joyrl_core.EnvSpec("test", (4,), np.dtype(np.float32), "discrete", n_actions=2)
    agent = registry.get(KIND, NAME).factory(config.algo, spec, "cpu", 0)
    agent.load_state_dict(checkpoint["agent"])
    assert agent.update_steps == summary.update_steps
    twin = registry.get(KIND, NAME).factory(config.algo, spec, "cpu", 1)
    twin.set_weights(agent.get_weights())
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    assert (twin.predict_action(obs) == agent.predict_action(obs)).all()
'''

_TEST_ENV = '''

def test_follows_the_gymnasium_api():
    from gymnasium.utils.env_checker import check_env

    registry = joyrl_core.load_registry()
    component = registry.get(KIND, NAME)
    env = component.factory(component.config_type(), None)
    check_env(env, skip_render_check=True)


def test_runs_in_a_short_run(tmp_path):
    summary, task = quick_run(tmp_path, f"general_cfg.env_name={NAME}", "general_cfg.algo_name=RANDOM",
                              "env_cfg.length=4")
    assert summary.episodes == 3 and 0 < summary.env_steps <= 150
'''

_TEST_BUFFER = '''

def make(capacity: int, **options):
    registry = joyrl_core.load_registry()
    component = registry.get(KIND, NAME)
    spec = joyrl_core.EnvSpec("test", (3,), np.dtype(np.float32), "discrete", n_actions=2)
    return component.factory(capacity, spec, component.config_type(**options), 0)


def test_first_in_first_out():
    buffer = make(4)
    for i in range(6):
        buffer.push(np.full(3, i), i % 2, float(i), np.full(3, i + 1), i == 5, False)
    assert len(buffer) == 4
    batch = buffer.sample(64)
    assert len(batch) == 64 and set(batch.rewards.tolist()) == {2.0, 3.0, 4.0, 5.0}
    assert (batch.obs[:, 0] == batch.rewards).all() and (batch.terminated == (batch.rewards == 5)).all()


def test_recent_window_and_push_batch():
    buffer = make(10, recent_window=2)
    n = 5
    buffer.push_batch(np.zeros((n, 3)), np.zeros(n), np.arange(n, dtype=float), np.zeros((n, 3)), np.zeros(n))
    assert len(buffer) == 5 and set(buffer.sample(64).rewards.tolist()) == {3.0, 4.0}
'''

_TEST_LOGGER = '''

def test_writes_every_episode(tmp_path):
    import json

    summary, task = quick_run(tmp_path, "general_cfg.algo_name=RANDOM", f"general_cfg.loggers=[{NAME}]")
    lines = [json.loads(line) for line in (task.logs / "${entry_point}.jsonl").read_text().splitlines()]
    episodes = [line for line in lines if line["event"] == "episode"]
    assert [e["episode"] for e in episodes] == [1, 2, 3]
    assert episodes[-1]["env_steps"] == summary.env_steps
'''

_TEST_BACKEND = '''

def test_trains_then_tests(tmp_path):
    summary, task = quick_run(tmp_path, "general_cfg.algo_name=RANDOM", f"general_cfg.mp_backend={NAME}")
    assert summary.episodes == 3 and not summary.interrupted
    assert "backend ${component}" in (task.logs / "run.log").read_text()
    tested, _ = quick_run(tmp_path, "general_cfg.algo_name=RANDOM", f"general_cfg.mp_backend={NAME}",
                          "general_cfg.mode=test", "general_cfg.load_checkpoint=true",
                          f"general_cfg.load_path={task.root}", "general_cfg.test_episode=2")
    assert len(tested.test_rewards) == 2
'''

_TESTS = {"algo": _TEST_ALGO, "env": _TEST_ENV, "buffer": _TEST_BUFFER, "logger": _TEST_LOGGER,
          "backend": _TEST_BACKEND}
