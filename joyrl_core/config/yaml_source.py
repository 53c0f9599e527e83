"""Reading config YAML: the file's three sections and ``--set`` values, safely and as YAML 1.2 numbers.

The loader is PyYAML's safe loader (no tags that build objects) with two changes. Numbers written
with an exponent but no dot (``1e-4``, ``5e2``) are floats, as YAML 1.2 reads them, not the strings
PyYAML's YAML 1.1 rules make of them. And a document whose aliases expand to more than
:data:`MAX_EXPANDED_NODES` nodes is refused right after parsing: the parsed graph shares the aliased
nodes, so a few hundred bytes of nested aliases are cheap to parse, but everything that walks the
config afterwards (validation, the resolved config written to the task folder) pays for every copy.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from joyrl_core.errors import ConfigError

SECTIONS = ("general_cfg", "algo_cfg", "env_cfg")
# Far above any real config (the largest shipped example has ~100 nodes), far below a slow one.
MAX_EXPANDED_NODES = 100_000

_YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class _TooLarge(Exception):
    """A document whose aliases expand past ``MAX_EXPANDED_NODES``: refused before it is built."""


class _ConfigLoader(yaml.SafeLoader):
    def compose_document(self) -> Any:
        node = super().compose_document()
        _expanded_size(node, {}, MAX_EXPANDED_NODES)
        return node


_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789"))


def _expanded_size(node: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    """How many nodes ``node`` stands for once every alias is copied out; raises past ``limit``.

    Each distinct node is sized once (``sizes``), so this is linear in the parsed document.
    """
    key = id(node)
    if key in sizes:
        return sizes[key]
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, limit) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes, limit) + _expanded_size(v, sizes, limit) for k, v in node.value)
    if size > limit:
        raise _TooLarge
    sizes[key] = size
    return size


def load_yaml(text: str) -> Any:
    """``text`` parsed with the config loader; ``yaml.YAMLError`` on bad YAML, ``_TooLarge`` on a bomb."""
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass


def _too_large(where: str) -> ConfigError:
    return ConfigError(
        f"{where}: refused: nested too deeply, or its aliases (*name) expand to more than "
        f"{MAX_EXPANDED_NODES:,} values"
    )


def read_yaml_file(path: str | Path, extra_sections: Sequence[str] = ()) -> dict[str, Any]:
    """The top-level mapping of a YAML config file, or a ConfigError saying why there is none.

    ``extra_sections`` are further sections the caller reads itself (``joyrl tune``'s ``tune``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    try:
        data = load_yaml(text)
    except (_TooLarge, RecursionError):
        raise _too_large(str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    return check_document(data, str(path), extra_sections)


def check_document(data: Any, label: str, extra_sections: Sequence[str] = ()) -> dict[str, Any]:
    """A config document (YAML file contents or a dict) as its sections, each a fresh mapping.

    ``label`` names where it came from in errors; ``extra_sections`` may appear beside the config's.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a mapping with sections {', '.join(SECTIONS)}, got {type(data).__name__}")
    for section, body in data.items():
        if section not in SECTIONS and section not in extra_sections:
            close = difflib.get_close_matches(str(section), SECTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if section == "tune":
                hint = " (a tune section is read by `joyrl tune`)"
            raise ConfigError(f"{label}: unknown section {section!r}{hint}; allowed sections: {', '.join(SECTIONS)}")
        if body is not None and not isinstance(body, Mapping):
            raise ConfigError(f"{label}: section {section} must be a mapping of keys to values")
    return {section: copy.deepcopy(dict(body or {})) for section, body in data.items()}


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` into its parts; the value is read as a YAML scalar or list."""
    target, sep, raw_value = text.partition("=")
    section, dot, key = target.strip().partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set {text}: expected section.key=value, e.g. --set algo_cfg.lr=0.001")
    if section not in SECTIONS:
        raise ConfigError(f"--set {text}: unknown section {section!r}; allowed sections: {', '.join(SECTIONS)}")
    try:
        value = load_yaml(raw_value) if raw_value.strip() else None
    except (_TooLarge, RecursionError):
        raise _too_large(f"--set {section}.{key}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--set {text}: the value is not valid YAML") from None
    return section, key, value
