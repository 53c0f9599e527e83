"""Plugin discovery and the component registry.

Plugins come from the ``joyrl`` entry-point group of installed distributions (the core's built-ins
included). Each is loaded on its own: one that fails to import, or implements a hook that does not
exist, is recorded as broken and the others still load. Nothing is loaded at import time; call
:func:`load_registry` (the CLI does it once per command).

``JOYRL_DISABLE_PLUGINS=name,...`` skips some plugins (entry-point or distribution names);
``JOYRL_DISABLE_PLUGIN_AUTOLOAD=1`` skips every installed plugin but the core's own, and
``JOYRL_PLUGINS=name,...`` then loads the named ones only: to find which plugin breaks a run.

A distribution may declare the algorithm a run uses when ``general_cfg.algo_name`` is not given, as an
entry point ``algo_name = <NAME>`` in the ``joyrl.defaults`` group (metadata only: nothing is imported
to read it); the core itself names none.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from joyrl_core.contracts import hookspecs
from joyrl_core.contracts.buffer import REPLAY, BufferCapabilities
from joyrl_core.contracts.hookspecs import COMPONENT_KINDS
from joyrl_core.contracts.run_shape import RunShape
from joyrl_core.errors import (
    ComponentNotFoundError,
    DuplicateComponentError,
    PluginError,
)

ENTRY_POINT_GROUP = "joyrl"
DEFAULTS_GROUP = "joyrl.defaults"
DISABLE_ENV_VAR = "JOYRL_DISABLE_PLUGINS"
DISABLE_AUTOLOAD_ENV_VAR = "JOYRL_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV_VAR = "JOYRL_PLUGINS"
CORE_DISTRIBUTION = "joyrl-core"

# Component kinds, keyed by the hook that registers them.
KINDS: dict[str, str] = {kind.hook: kind.name for kind in COMPONENT_KINDS}


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
    capabilities: BufferCapabilities | None = None
    buffer_needs: Callable[[Any, RunShape], BufferCapabilities] | None = None


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
    # Asks the loaded plugins' ``install_hint`` hooks; a registry built by hand has none to ask.
    install_hint: Callable[[str, str], str | None] = field(default=lambda kind, name: None, repr=False)
    # Asks the loaded plugins' ``experiment_executor`` hooks: ``(config, address) -> Executor | None``.
    experiment_executor: Callable[[Any, str | None], Any] = field(default=lambda config, address: None, repr=False)

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
        hint = self.install_hint(kind, name)
        if hint:
            message += f"; install it with: {hint}"
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


def _names_in(var: str) -> set[str]:
    raw = os.environ.get(var, "")
    return {_normalize(name.strip()) for name in raw.split(",") if name.strip()}


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "<unknown>"


def _wanted(ep_name: str, dist: str) -> bool:
    """Whether the environment variables let the plugin ``ep_name`` of distribution ``dist`` load."""
    names = {_normalize(ep_name), _normalize(dist)}
    if names & _names_in(DISABLE_ENV_VAR):
        return False
    if os.environ.get(DISABLE_AUTOLOAD_ENV_VAR, "") not in ("", "0") and _normalize(dist) != CORE_DISTRIBUTION:
        return bool(names & _names_in(PLUGINS_ENV_VAR))
    return True


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def default_algorithm() -> str:
    """The algorithm of a run whose config names none: the one the loadable distributions declare.

    "" when no distribution declares one, or when several declare different ones (then the run must
    say which); see the module docstring for the declaration.
    """
    declared = default_algorithm_declarations()
    names = set(declared.values())
    return names.pop() if len(names) == 1 else ""


def default_algorithm_declarations() -> dict[str, str]:
    """``{distribution: algorithm}`` for every loadable distribution declaring a default algorithm."""
    loadable = {_normalize(_dist_name(ep)) for ep in _entry_points() if _wanted(ep.name, _dist_name(ep))}
    return {
        _dist_name(ep): ep.value
        for ep in importlib.metadata.entry_points(group=DEFAULTS_GROUP)
        if ep.name == "algo_name" and _normalize(_dist_name(ep)) in loadable
    }


def load_registry(
    extra_plugins: Iterable[tuple[str, object]] = (), trace: Callable[[str], None] | None = None
) -> Registry:
    """Load every installed plugin and collect the components they register.

    ``extra_plugins`` are ``(name, module_or_object)`` pairs registered as if they came from an entry
    point of a distribution called ``<local>``; tests and embedding applications use it. ``trace``
    receives pluggy's trace of every hook call (``joyrl --debug`` prints it).
    """
    pm = make_plugin_manager()
    if trace is not None:
        pm.trace.root.setwriter(trace)
        pm.enable_tracing()
    registry = Registry(install_hint=lambda kind, name: _ask_install_hint(pm, kind, name),
                        experiment_executor=lambda config, address: pm.hook.experiment_executor(
                            config=config, address=address))
    sources: dict[str, tuple[str, str]] = {}

    candidates: list[tuple[str, str, str, Callable[[], object]]] = []
    for ep in _entry_points():
        dist = _dist_name(ep)
        version = ep.dist.version if ep.dist is not None else ""
        if not _wanted(ep.name, dist):
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

    for kind in COMPONENT_KINDS:
        _call_register_hook(pm, registry, kind.hook, kind.name, sources)
    return registry


def _ask_install_hint(pm: pluggy.PluginManager, kind: str, name: str) -> str | None:
    try:
        hint = pm.hook.install_hint(kind=kind, name=name)
    except Exception:  # a plugin's hint must not replace the error it was asked to help with
        return None
    return hint if isinstance(hint, str) and hint else None


def _call_register_hook(
    pm: pluggy.PluginManager, registry: Registry, hook_name: str, kind: str, sources: dict[str, tuple[str, str]]
) -> None:
    """Call one register hook through pluggy's hook caller, each plugin in its own call.

    A plugin's failure must not cost the others their components, and a component must be credited to
    the plugin that registered it; so each plugin gets a caller of its own (``subset_hook_caller``
    leaves the others out), which still runs its tryfirst/trylast implementations, its wrappers and
    pluggy's tracing and monitoring as the plain hook call would.
    """
    hook = getattr(pm.hook, hook_name)
    plugins = [pm.get_name(impl.plugin) for impl in reversed(hook.get_hookimpls())]  # pluggy's call order
    for plugin_name in dict.fromkeys(plugins):
        others = [p for name, p in pm.list_name_plugin() if name != plugin_name]
        dist, version = sources[plugin_name]
        register = _Register(registry, kind, dist, version, plugin_name)
        try:
            pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
        except DuplicateComponentError:
            raise
        except PluginError as exc:
            registry.broken.append(BrokenPlugin(plugin_name, dist, str(exc)))
        except Exception as exc:  # a plugin's hook body is third-party code
            registry.broken.append(BrokenPlugin(plugin_name, dist, f"{hook_name} raised {type(exc).__name__}: {exc}"))


# The arguments the core passes to each kind's factory (hookspecs.py documents them).
_FACTORY_ARGUMENTS = {
    "algorithm": ("config", "env_spec", "device", "seed", "shape"),
    "buffer": ("capacity", "env_spec", "config", "seed", "shape"),
    "wrapper": ("env", "config"),
}


def _check_factory_arguments(kind: str, name: str, factory: Callable[..., Any]) -> None:
    """Refuse at registration a factory that cannot take what the core will pass it, naming the signature
    it needs: a plugin written before factories got the run's ``shape`` fails here, not mid-run."""
    arguments = _FACTORY_ARGUMENTS.get(kind)
    if arguments is None:
        return
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable Python cannot introspect: its call will tell
        return
    try:
        signature.bind(*arguments)
    except TypeError:
        raise PluginError(
            f"{kind} {name!r}: factory{signature} cannot be called as factory({', '.join(arguments)}); "
            f"{kind} factories take the run's shape (joyrl_core.RunShape) last: see 'Moving a plugin to "
            "the shape argument' in docs/plugins.md"
        ) from None


@dataclass(frozen=True)
class _Register:
    """The ``register`` argument one plugin's hook gets: it credits what it registers to that plugin."""

    registry: Registry
    kind: str
    dist: str
    version: str
    plugin: str

    def __call__(self, name: str, factory: Callable[..., Any], config_type: type | None = None, summary: str = "", *,
                 capabilities: BufferCapabilities | None = None,
                 buffer_needs: Callable[[Any, RunShape], BufferCapabilities] | None = None) -> None:
        kind = self.kind
        if not isinstance(name, str) or not name:
            raise PluginError(f"{kind} names must be non-empty strings, got {name!r}")
        if not callable(factory):
            raise PluginError(f"{kind} {name!r}: factory {factory!r} is not callable")
        _check_factory_arguments(kind, name, factory)
        if config_type is not None and not dataclasses.is_dataclass(config_type):
            raise PluginError(f"{kind} {name!r}: config_type must be a dataclass type, got {config_type!r}")
        if capabilities is not None and (kind != "buffer" or not isinstance(capabilities, BufferCapabilities)):
            raise PluginError(f"{kind} {name!r}: capabilities is for buffers, a joyrl_core.BufferCapabilities")
        if buffer_needs is not None and (kind != "algorithm" or not callable(buffer_needs)):
            raise PluginError(f"{kind} {name!r}: buffer_needs is for algorithms, a callable (config, shape)")
        if kind == "wrapper":
            from joyrl_core.components.wrappers import gymnasium_wrapper_names

            if name in gymnasium_wrapper_names():
                raise PluginError(f"wrapper {name!r}: gymnasium.wrappers exports a wrapper of this name, which "
                                  "env_cfg.wrappers selects; choose another name")
        if kind == "buffer" and capabilities is None:
            capabilities = REPLAY
        self.registry._add(Component(kind, name, factory, config_type, summary, self.dist, self.version, self.plugin,
                                     capabilities, buffer_needs))

    def __repr__(self) -> str:  # what pluggy's trace shows for the argument
        return f"<register {self.kind}s of plugin {self.plugin!r} ({self.dist})>"
