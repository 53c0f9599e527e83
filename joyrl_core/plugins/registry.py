"""Plugin discovery and the component registry.

Plugins come from the ``joyrl`` entry-point group of installed distributions (the core's built-ins
included). Each is loaded on its own: one that fails to import, or implements a hook that does not
exist, is recorded as broken and the others still load. Nothing is loaded at import time; call
:func:`load_registry` (the CLI does it once per command).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from joyrl_core.contracts import hookspecs
from joyrl_core.errors import (
    ComponentNotFoundError,
    DuplicateComponentError,
    PluginError,
)

ENTRY_POINT_GROUP = "joyrl"
DISABLE_ENV_VAR = "JOYRL_DISABLE_PLUGINS"

# Component kinds, keyed by the hook that registers them.
KINDS: dict[str, str] = {
    "register_algorithms": "algorithm",
    "register_buffers": "buffer",
    "register_envs": "env",
    "register_backends": "backend",
    "register_loggers": "logger",
}

# Where to get components that are not installed, for "pip install ..." hints.
KNOWN_PROVIDERS: dict[tuple[str, str], str] = {
    ("algorithm", "DQN"): "joyrl-dqn",
    ("backend", "ray"): "joyrl-backend-ray",
}


@dataclass(frozen=True)
class Component:
    """One registered component: what a plugin passed to ``register`` plus who provided it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config_type: type | None
    summary: str
    distribution: str
    version: str
    plugin: str


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded, with the reason."""

    name: str
    distribution: str
    error: str


@dataclass
class Registry:
    """Every component the installed plugins provide, by kind and name."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS.values()}
    )
    broken: list[BrokenPlugin] = field(default_factory=list)

    def all(self) -> list[Component]:
        return [c for by_name in self.components.values() for c in by_name.values()]

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``, or an error that lists what is installed."""
        by_name = self.components[kind]
        if name in by_name:
            return by_name[name]
        installed = ", ".join(sorted(by_name)) or "none"
        message = f"no {kind} named {name!r} is installed (installed: {installed})"
        close = difflib.get_close_matches(name, list(by_name), n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        provider = KNOWN_PROVIDERS.get((kind, name))
        if provider:
            message += f"; install it with: pip install {provider}"
        if self.broken:
            failed = "; ".join(f"plugin {b.name!r} ({b.distribution}) failed to load: {b.error}" for b in self.broken)
            message += f"; note: {failed}"
        raise ComponentNotFoundError(message)

    def _add(self, component: Component) -> None:
        by_name = self.components[component.kind]
        existing = by_name.get(component.name)
        if existing is not None:
            raise DuplicateComponentError(
                f"{component.kind} {component.name!r} is registered twice: by {existing.distribution} "
                f"(plugin {existing.plugin!r}) and by {component.distribution} (plugin {component.plugin!r}); "
                f"uninstall one of them or disable one with {DISABLE_ENV_VAR}"
            )
        by_name[component.name] = component


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager that knows JoyRL's hook specs and holds no plugins yet."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _normalize(name: str) -> str:
    """Distribution names compare the PEP 503 way: ``joyrl_dqn`` is ``joyrl-dqn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _disabled_plugins() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {_normalize(name.strip()) for name in raw.split(",") if name.strip()}


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_registry(extra_plugins: Iterable[tuple[str, object]] = ()) -> Registry:
    """Load every installed plugin and collect the components they register.

    ``extra_plugins`` are ``(name, module_or_object)`` pairs registered as if they came from an entry
    point of a distribution called ``<local>``; tests and embedding applications use it.
    """
    pm = make_plugin_manager()
    registry = Registry()
    disabled = _disabled_plugins()
    sources: dict[str, tuple[str, str]] = {}

    candidates: list[tuple[str, str, str, Callable[[], object]]] = []
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else "<unknown>"
        version = ep.dist.version if ep.dist is not None else ""
        if _normalize(ep.name) in disabled or _normalize(dist) in disabled:
            continue
        candidates.append((ep.name, dist, version, ep.load))
    for name, obj in extra_plugins:
        candidates.append((name, "<local>", "", lambda obj=obj: obj))

    for name, dist, version, load in candidates:
        if pm.has_plugin(name):
            registry.broken.append(
                BrokenPlugin(name, dist, f"a plugin named {name!r} is already loaded from {sources[name][0]}")
            )
            continue
        try:
            plugin = load()
            pm.register(plugin, name=name)
        except Exception as exc:  # a third-party import can raise anything; report it, load the rest
            registry.broken.append(BrokenPlugin(name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            pm.unregister(name=name)
            registry.broken.append(BrokenPlugin(name, dist, str(exc)))
            continue
        sources[name] = (dist, version)

    for hook_name, kind in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist, version = sources[impl.plugin_name]
            register = _make_register(registry, kind, dist, version, impl.plugin_name)
            try:
                impl.function(register=register)
            except DuplicateComponentError:
                raise
            except PluginError as exc:
                registry.broken.append(BrokenPlugin(impl.plugin_name, dist, str(exc)))
            except Exception as exc:  # a plugin's hook body is third-party code
                registry.broken.append(
                    BrokenPlugin(impl.plugin_name, dist, f"{hook_name} raised {type(exc).__name__}: {exc}")
                )
    return registry


def _make_register(registry: Registry, kind: str, dist: str, version: str, plugin: str) -> Callable[..., None]:
    def register(name: str, factory: Callable[..., Any], config_type: type | None = None, summary: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{kind} names must be non-empty strings, got {name!r}")
        if not callable(factory):
            raise PluginError(f"{kind} {name!r}: factory {factory!r} is not callable")
        if config_type is not None and not dataclasses.is_dataclass(config_type):
            raise PluginError(f"{kind} {name!r}: config_type must be a dataclass type, got {config_type!r}")
        registry._add(Component(kind, name, factory, config_type, summary, dist, version, plugin))

    return register
