"""``joyrl new-plugin``: a ready-to-install plugin package for one kind of component.

:func:`create_plugin` writes ``<dest>/joyrl-<name>/`` holding ``pyproject.toml`` (with its ``joyrl``
entry point), the package ``joyrl_<name>/`` whose ``plugin.py`` implements the hook and a small but
working component, ``tests/test_plugin.py`` (loads it through its entry point and runs it), and a
README. ``pip install -e <folder>`` and ``pytest <folder>`` work straight away; then replace the
component with your own. Generated code imports only ``joyrl_core``'s public names.

The files come from ``templates/`` (package data, read with ``importlib.resources``): ``common/`` for
every kind, ``<kind>/`` for one (its ``plugin.py``, the kind's tests, an example YAML, the README's
"make it yours" text, the summary). Each template is the file it produces with ``string.Template``
placeholders (``${component}``, ``${Camel}``, ...; ``$$`` is a dollar sign).
"""

from __future__ import annotations

import keyword
import os
from importlib import resources
import re
import shutil
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from string import Template

from joyrl_core.contracts.hookspecs import COMPONENT_KINDS
from joyrl_core.errors import JoyRLError

_KIND_OF_SHORT = {kind.short: kind for kind in COMPONENT_KINDS}
SCAFFOLD_KINDS = tuple(_KIND_OF_SHORT)
_KIND_ALIASES = {kind.name: kind.short for kind in COMPONENT_KINDS}
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
    kind: str  # algo, env, buffer, logger, backend or wrapper


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
    algo, env, buffer, logger, backend, wrapper. The folder is ``dest/joyrl-<name>``; it must not exist yet. The
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
    kind_dir = f"{names.kind}/"
    values = {
        "dist": names.dist,
        "package": names.package,
        "entry_point": names.entry_point,
        "component": names.component,
        "Camel": names.camel,
        "registry_kind": _KIND_OF_SHORT[names.kind].name,
        "hook": _KIND_OF_SHORT[names.kind].hook,
        "summary": _template(kind_dir + "summary.txt").strip(),
        "extra_dependencies": ', "gymnasium>=1.0"' if names.kind in ("env", "wrapper") else "",
        "numpy_import": "import numpy as np\n\n" if names.kind in ("algo", "buffer") else "",
    }
    values["yaml"] = _fill(kind_dir + "example.yaml.tmpl", values)
    values["edit"] = _fill(kind_dir + "make_it_yours.md.tmpl", values).rstrip("\n")
    return {
        "pyproject.toml": _fill("common/pyproject.toml.tmpl", values),
        "README.md": _fill("common/README.md.tmpl", values),
        f"{names.package}/__init__.py": _fill("common/__init__.py.tmpl", values),
        f"{names.package}/plugin.py": _fill(kind_dir + "plugin.py.tmpl", values),
        "tests/test_plugin.py": _fill("common/test_plugin.py.tmpl", values) + "\n\n"
        + _fill(kind_dir + "test_plugin.py.tmpl", values),
    }


def _template(relative: str) -> str:
    return resources.files(__package__).joinpath("templates", relative).read_text(encoding="utf-8")


def _fill(relative: str, values: dict[str, str]) -> str:
    """The template file ``templates/<relative>`` with its ``${name}`` placeholders filled in."""
    return Template(_template(relative)).substitute(values)
