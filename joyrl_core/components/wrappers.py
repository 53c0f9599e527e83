"""``env_cfg.wrappers``: gymnasium wrappers, by class name, and plugin-registered ones, from YAML.

Each entry is a mapping ``{name: <wrapper>, <option>: <value>, ...}``. A name is a wrapper class that
``gymnasium.wrappers`` exports (its options are the class's keyword arguments) or a wrapper a plugin
registers through the ``register_wrappers`` hook (its options are checked against the plugin's config
dataclass). Only those names resolve: nothing in a YAML file can import a module or build a callable.
"""

from __future__ import annotations

import difflib
import inspect
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym

from joyrl_core.config.validate import validate_section
from joyrl_core.errors import ComponentNotFoundError, ConfigError, EnvError, JoyRLError

# Wrappers the core applies itself from env_cfg switches: listing them again would apply them twice, and
# their statistics would then be neither saved in checkpoints nor frozen for evaluation.
_CORE_APPLIED = {
    "NormalizeObservation": "env_cfg.normalize_obs: true",
    "NormalizeReward": "env_cfg.normalize_reward: true",
    "RecordEpisodeStatistics": "nothing: the core records every episode's return itself",
}


@dataclass(frozen=True)
class WrapperSpec:
    """One resolved ``env_cfg.wrappers`` entry: what to build and with what (picklable, for async envs)."""

    where: str  # "<source>: env_cfg.wrappers[i] (name)", for messages
    factory: Callable[..., gym.Env]  # a gymnasium wrapper class, or a plugin's factory(env, config)
    options: Mapping[str, Any] | None = None  # a gymnasium wrapper's keyword arguments
    config: Any = None  # a plugin wrapper's config_type instance

    def apply(self, env: gym.Env) -> gym.Env:
        try:
            if self.options is not None:
                wrapped = self.factory(env, **self.options)
            else:
                wrapped = self.factory(env, self.config)
        except JoyRLError:
            raise
        except Exception as exc:  # a wrapper's constructor checks its options and the env its own way
            raise EnvError(f"{self.where} could not wrap the env: {type(exc).__name__}: {exc}") from None
        if not isinstance(wrapped, gym.Env):
            raise EnvError(f"{self.where} returned {type(wrapped).__name__}, not a gymnasium.Env")
        return wrapped


def gymnasium_wrapper_names() -> list[str]:
    """The wrapper classes ``gymnasium.wrappers`` exports (names only: some import optional packages)."""
    return sorted(name for name in gym.wrappers.__all__ if name != "vector")


def describe_gymnasium_wrapper(name: str) -> str:
    """One paragraph for ``joyrl info <gymnasium wrapper>``: how to list it, and its options."""
    cls = _gymnasium_wrapper(name, f"joyrl info {name}")
    if cls is None:
        return f"{name} is not a wrapper class of gymnasium.wrappers"
    params = list(inspect.signature(cls).parameters.values())[1:]
    options = ", ".join(p.name if p.default is p.empty else f"{p.name} (default {p.default!r})" for p in params
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or "none"
    summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    text = [f"gymnasium wrapper {name} (an env_cfg.wrappers entry: {{name: {name}, ...}}): {summary}",
            f"options: {options}"]
    return "\n".join(textwrap.fill(line, 80) for line in text)


def _gymnasium_wrapper(name: str, where: str) -> type | None:
    if name not in gymnasium_wrapper_names():
        return None
    try:
        cls = getattr(gym.wrappers, name)
    except ImportError as exc:  # gymnasium imports a few wrappers' dependencies on first use
        raise ConfigError(f"{where}: gymnasium's {name} needs a package that is not installed: {exc}") from None
    return cls if inspect.isclass(cls) and issubclass(cls, gym.Wrapper) else None


def _gymnasium_spec(cls: type, options: dict[str, Any], where: str, label: str) -> WrapperSpec:
    """Check ``options`` against the wrapper's keyword arguments (gymnasium's constructor checks values)."""
    params = list(inspect.signature(cls).parameters.values())[1:]  # the first is the env
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown option {key!r}{hint}; {cls.__name__} takes: "
                              f"{', '.join(accepted) or 'no options'}")
    for p in params:
        if p.name in accepted and p.default is p.empty and p.name not in options:
            raise ConfigError(f"{where}: {cls.__name__} needs the option {p.name!r}")
        if "Callable" in str(p.annotation) and p.name in options:
            raise ConfigError(f"{where}: {cls.__name__}'s {p.name!r} is a function, which a YAML file cannot give; "
                              "a plugin can register a wrapper that builds it (register_wrappers)")
    # YAML has no tuples; gymnasium's shape and bound arguments expect them.
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    return WrapperSpec(label, cls, options=options)


def resolve_wrappers(entries: Sequence[Any], registry: Any, source: str) -> list[WrapperSpec]:
    """The ``env_cfg.wrappers`` list as :class:`WrapperSpec` s, in order; a bad entry is a one-line
    :class:`ConfigError` naming ``source`` (the file or ``--set``), the entry, the value and what is allowed."""
    specs = []
    for i, entry in enumerate(entries):
        where = f"{source}: env_cfg.wrappers[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}: expected a mapping with a wrapper name, e.g. {{name: ClipReward, "
                              f"min_reward: -1, max_reward: 1}}, got {entry!r}")
        name = entry["name"]
        options = {str(k): v for k, v in entry.items() if k != "name"}
        if name in _CORE_APPLIED:
            raise ConfigError(f"{where}: {name} is applied by the core; use {_CORE_APPLIED[name]}")
        label = f"{where} ({name})"
        if name in registry.components.get("wrapper", {}):
            component = registry.get("wrapper", name)
            specs.append(WrapperSpec(label, component.factory, config=_plugin_config(component, options, where)))
            continue
        cls = _gymnasium_wrapper(name, where)
        if cls is None:
            known = gymnasium_wrapper_names() + list(registry.components.get("wrapper", {}))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            plugins = ", ".join(registry.names("wrapper")) if "wrapper" in registry.components else ""
            install = registry.install_hint("wrapper", name)
            raise ComponentNotFoundError(
                f"{where}: unknown wrapper {name!r}{hint}; a name gymnasium.wrappers exports (e.g. ClipReward, "
                f"TimeAwareObservation, FrameStackObservation) or one a plugin registers "
                f"(installed: {plugins or 'none'})" + (f"; install it with: {install}" if install else "")
            )
        specs.append(_gymnasium_spec(cls, options, where, label))
    return specs


def _plugin_config(component: Any, options: dict[str, Any], where: str) -> Any:
    if component.config_type is None:
        if options:
            raise ConfigError(f"{where}: wrapper {component.name!r} ({component.distribution}) takes no options, "
                              f"got: {', '.join(options)}")
        return None
    source, _, section = where.rpartition(": ")
    return validate_section(component.config_type, options, section, lambda key: source)


def apply_wrappers(env: gym.Env, specs: Sequence[WrapperSpec]) -> gym.Env:
    for spec in specs:
        env = spec.apply(env)
    return env


def find_wrapper(env: gym.Env, cls: type) -> gym.Env | None:
    """The outermost ``cls`` wrapper in ``env``'s chain of wrappers, or ``None``."""
    while True:
        if isinstance(env, cls):
            return env
        if not isinstance(env, gym.Wrapper):
            return None
        env = env.env
