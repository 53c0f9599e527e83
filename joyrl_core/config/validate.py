"""Type checking of one config section by pydantic, and its errors as one JoyRL line each.

pydantic validates the mapping against the section's dataclass (a ``TypeAdapter`` over it, no model
classes of our own) in strict mode, so YAML's ``1`` is not a bool, ``true`` not an integer and
``"5"`` not a number; bounds come from the fields' ``ge``/``le`` metadata (:func:`option` writes them)
and non-finite numbers are refused. What stays ours: a YAML ``null`` for a key that cannot be null
keeps the default, an integral number (``5.0``) is accepted where an integer is wanted, a choice
written as a YAML 1.1 boolean word (``fast_path: off``) is the word, extra keys of
an :class:`ExtraKeys` section are kept aside, and each error becomes "<source>: <section>.<key>:
expected ..., got ..." with the closest key for a typo.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pydantic
import pydantic_core

from joyrl_core.errors import ConfigError

# A value is fixed up (integral float, boolean word) at most this many times per section (one per key in practice).
_MAX_FIXES = 64
# YAML 1.1 reads these words as booleans, so `fast_path: off` arrives as False; where a choice of strings
# allows one of the words, the user meant the word.
_BOOL_WORDS = {False: ("off", "no", "false"), True: ("on", "yes", "true")}


def describe_type(tp: Any) -> str:
    """A short human description of a type hint, for error messages and ``joyrl info``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe_type(a) for a in args)
    if origin is list:
        described_as = getattr(args[0], "DESCRIBED_AS", None) if args else None
        if described_as:
            return described_as
        return f"a list of {describe_type(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def accepts_extra_keys(cls: type) -> bool:
    return getattr(cls, "ACCEPTS_EXTRA_KEYS", False)


@functools.lru_cache(maxsize=None)
def _validator(cls: type) -> pydantic_core.SchemaValidator:
    """pydantic's validator for ``cls`` with every scalar made strict, floats finite, extra keys refused.

    Strict mode as a config setting would also demand dataclass instances instead of mappings, so the
    strictness goes onto the scalar schemas of the generated core schema instead.
    """
    schema = copy.deepcopy(pydantic.TypeAdapter(cls).core_schema)
    _make_strict(schema)
    return pydantic_core.SchemaValidator(schema)


def _make_strict(node: Any) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("int", "float", "bool", "str"):
            node["strict"] = True
        if kind == "float":
            node["allow_inf_nan"] = False
        if kind == "dataclass-args":
            node["extra_behavior"] = "forbid"
        for value in node.values():
            _make_strict(value)
    elif isinstance(node, list):
        for value in node:
            _make_strict(value)


def validate_section(cls: type, raw: Mapping[str, Any], section: str, source: Callable[[str], str]) -> Any:
    """Build the config dataclass ``cls`` from the mapping ``raw`` of YAML section ``section``.

    ``source(key)`` names where a top-level key's value came from (the YAML file or its ``--set``).
    """
    data = _drop_nulls(cls, {str(k): v for k, v in raw.items()})
    if accepts_extra_keys(cls):
        names = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "extra"}
        data = {k: v for k, v in data.items() if k in names} | {"extra": {k: v for k, v in data.items() if k not in names}}
    for _ in range(_MAX_FIXES):
        try:
            return _validator(cls).validate_python(data)
        except pydantic_core.ValidationError as exc:
            errors = exc.errors(include_url=False)
        if not _fix_yaml_readings(cls, data, errors):
            break
    raise ConfigError(_message(cls, errors, section, source)) from None


def _drop_nulls(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the ``None`` values of fields that cannot be ``None``, nested sections included."""
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in data.items():
        hint = hints.get(key)
        if value is None and hint is not None and not _admits_none(hint):
            continue
        out[key] = _drop_nested_nulls(hint, value)
    return out


def _drop_nested_nulls(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _drop_nulls(hint, {str(k): v for k, v in value.items()})
    if typing.get_origin(hint) is list and isinstance(value, list) and typing.get_args(hint):
        return [_drop_nested_nulls(typing.get_args(hint)[0], item) for item in value]
    return value


def _admits_none(tp: Any) -> bool:
    return tp is Any or (typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp))


def _fix_yaml_readings(cls: type, data: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """Put back what YAML's reading changed; True if any value was changed.

    YAML writes counts such as ``5.0`` as floats (strict mode alone would refuse them): each one pydantic
    wanted as an int becomes ``5``. A choice of strings written as ``off``/``on``/``yes``/``no`` arrives as
    a bool: it becomes the word, where the choice allows it.
    """
    fixed = False
    for error in errors:
        value = error.get("input")
        keys, hint, _ = _walk(cls, tuple(error["loc"]))
        if error["type"] == "int_type" and isinstance(value, float) and value.is_integer():
            replacement: Any = int(value)
        elif error["type"] == "literal_error" and isinstance(value, bool):
            allowed = typing.get_args(_strip_optional(hint))
            replacement = next((w for w in _BOOL_WORDS[value] if w in allowed), None)
            if replacement is None:
                continue
        else:
            continue
        container: Any = data
        try:
            for key in keys[:-1]:
                container = container[key]
            if keys and container[keys[-1]] is value:
                container[keys[-1]] = replacement
                fixed = True
        except (KeyError, IndexError, TypeError):
            continue
    return fixed


def _walk(cls: type, loc: tuple[Any, ...]) -> tuple[list[str | int], Any, type | None]:
    """For an error ``loc``: the keys and indexes of the data it points at (pydantic's tags for union
    members left out), the type hint there, and the innermost dataclass on the way (whose keys a typo
    is compared with). The hint is ``None`` for a key the dataclass does not have."""
    keys: list[str | int] = []
    hint: Any = cls
    owner = cls
    for part in loc:
        hint = _strip_optional(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            member = next((m for m in typing.get_args(hint) if getattr(m, "__name__", None) == part), None)
            if member is not None and dataclasses.is_dataclass(member):
                hint = member
            continue  # the tag of a member that failed: the error is about the union as a whole
        if isinstance(part, int) and typing.get_origin(hint) is list:
            keys.append(part)
            hint = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        elif isinstance(part, str) and dataclasses.is_dataclass(hint):
            owner = hint
            keys.append(part)
            hint = typing.get_type_hints(hint).get(part)
        else:
            break
    return keys, hint, owner


def _dotted(keys: list[str | int]) -> str:
    path = ""
    for key in keys:
        path += f"[{key}]" if isinstance(key, int) else ("." if path else "") + key
    return path


def _strip_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return hint


def _message(cls: type, errors: list[dict[str, Any]], section: str, source: Callable[[str], str]) -> str:
    # An unknown key is the likeliest mistake (a typo) and makes other errors moot: report it first.
    errors = sorted(errors, key=lambda e: e["type"] != "unexpected_keyword_argument")
    error = errors[0]
    loc = tuple(error["loc"])
    keys, hint, owner = _walk(cls, loc)
    path = _dotted(keys)
    top = str(keys[0]) if keys else ""
    if error["type"] == "unexpected_keyword_argument":
        allowed = sorted(f.name for f in dataclasses.fields(owner))
        leaf = path.rsplit(".", 1)[-1]
        message = f"{source(top)}: unknown key {section}.{path}"
        close = difflib.get_close_matches(leaf, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        return message + "; allowed keys: " + ", ".join(allowed)
    if error["type"] == "value_error":
        # A __post_init__ check: its message starts with the field it is about.
        text = str(error.get("ctx", {}).get("error", error["msg"]))
        field = text.split(":")[0].split(".")[0].split("[")[0]
        prefix = f"{path}." if path else ""
        return f"{source(top or field)}: {section}.{prefix}{text}"
    value = error.get("input")
    ctx = error.get("ctx", {})
    if error["type"] in ("greater_than_equal", "greater_than"):
        expected = f"a value {'>=' if error['type'] == 'greater_than_equal' else '>'} {ctx.get('ge', ctx.get('gt'))}"
    elif error["type"] in ("less_than_equal", "less_than"):
        expected = f"a value {'<=' if error['type'] == 'less_than_equal' else '<'} {ctx.get('le', ctx.get('lt'))}"
    elif error["type"] == "finite_number":
        expected = "a finite number"
    elif error["type"] == "missing_argument":
        return f"{source(top)}: {section}.{path}: a value is required"
    else:
        expected = describe_type(hint) if hint is not None else error["msg"]
    return f"{source(top)}: {section}.{path}: expected {expected}, got {value!r}"
