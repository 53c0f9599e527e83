"""Checkpoints: one file per save point, written atomically, loaded without executing code.

A checkpoint is ``models/<update_step>.pt`` (and ``models/best.pt``): a ``torch.save`` of plain data
(tensors, numbers, strings, lists, dicts) that ``torch.load(weights_only=True)`` reads back, so a file
crafted to run code on load is rejected instead of run.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from joyrl_core.errors import CheckpointError
from joyrl_core.outputs.task import atomic_write

FORMAT = "joyrl-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Counters:
    """Training progress that a resumed run continues from."""

    episodes: int = 0
    env_steps: int = 0
    update_steps: int = 0


def _check_plain(value: Any, where: str) -> None:
    """Refuse, at save time, what ``weights_only`` loading would refuse at resume time."""
    import torch

    if isinstance(value, (torch.Tensor, bool, int, float, str, type(None))):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(f"checkpoint key {where}[{key!r}]: keys must be strings or ints")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"checkpoint value {where} is a {type(value).__module__}.{type(value).__name__}; a state_dict may hold "
        "only tensors, numbers, strings, None and lists/dicts of them (convert numpy arrays with torch.as_tensor)"
    )


def save_checkpoint(path: Path, agent_state: Mapping[str, Any], counters: Counters, config: Mapping[str, Any],
                    extra: Mapping[str, Any] | None = None, normalizer: Mapping[str, Any] | None = None) -> None:
    """Write a checkpoint atomically; a value ``torch.load(weights_only=True)`` could not read back is
    a :class:`CheckpointError` now rather than at resume time.

    ``normalizer`` holds the env's running statistics (``env_cfg.normalize_obs``/``normalize_reward``):
    ``{"obs"|"reward": {"mean": tensor, "var": tensor, "count": float}}``, empty without normalization.
    """
    _check_plain(dict(agent_state), "agent")
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "counters": asdict(counters),
        "config": dict(config),
        "agent": dict(agent_state),
        "extra": dict(extra or {}),
        "normalizer": dict(normalizer or {}),
    }
    check_normalizer_state(payload["normalizer"], str(path))
    import torch

    # Serialised in memory first: torch reports a failed file write (a full disk) as an opaque
    # RuntimeError, a plain write reports it as the OSError it is.
    data = io.BytesIO()
    torch.save(payload, data)
    atomic_write(path, lambda fh: fh.write(data.getbuffer()))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The payload of checkpoint ``path``; a :class:`CheckpointError` if it is missing or not one."""
    import torch

    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not zipfile.is_zipfile(path) and not _looks_like_pickle(path):
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint (not a torch archive)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Name what was blocked; never repeat torch's advice to load with weights_only=False.
        blocked = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"it calls {blocked.group(1)}" if blocked else "it holds objects other than tensors and plain data"
        raise CheckpointError(f"{path}: refused to load: {what}, and loading it could run code") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a JoyRL checkpoint")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('version')} is not supported (expected {FORMAT_VERSION})"
        )
    _check_structure(path, payload)
    return payload


def _check_structure(path: Path, payload: dict[str, Any]) -> None:
    """Refuse a well-formed archive whose fields are not what a run reads back: the counters exactly
    ``Counters``' fields as non-negative integers, and the other sections mappings."""
    for section in ("counters", "config", "agent", "extra"):
        if not isinstance(payload.get(section), dict):
            got = "missing" if section not in payload else f"a {type(payload[section]).__name__}"
            raise CheckpointError(f"{path}: field {section}: expected a mapping, got {got}")
    counters = payload["counters"]
    expected = [f.name for f in fields(Counters)]
    unknown = sorted(str(key) for key in counters if key not in expected)
    if unknown:
        raise CheckpointError(f"{path}: field counters: unknown key(s) {', '.join(unknown)} (expected {', '.join(expected)})")
    for name in expected:
        value = counters.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            shown = "missing" if name not in counters else repr(value)
            raise CheckpointError(f"{path}: field counters.{name}: expected a non-negative integer, got {shown}")
    # Absent from checkpoints written before normalization existed: they hold no statistics.
    check_normalizer_state(payload.get("normalizer", {}), str(path))
    best = payload["extra"].get("best_eval")
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
        raise CheckpointError(f"{path}: field extra.best_eval: expected a number or null, got {best!r}")


def check_normalizer_state(state: Any, where: str) -> None:
    """Refuse a checkpoint's ``normalizer`` section that is not what :meth:`Normalizer.load_state_dict` reads."""
    import torch

    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: field normalizer: expected a mapping, got a {type(state).__name__}")
    for key, stats in state.items():
        field = f"{where}: field normalizer.{key}"
        if key not in ("obs", "reward"):
            raise CheckpointError(f"{field}: unknown statistics (expected obs, reward)")
        if not isinstance(stats, dict) or sorted(stats) != ["count", "mean", "var"]:
            raise CheckpointError(f"{field}: expected a mapping of mean, var and count")
        for name in ("mean", "var"):
            value = stats[name]
            if not isinstance(value, torch.Tensor) or not bool(torch.isfinite(value).all()):
                raise CheckpointError(f"{field}.{name}: expected a tensor of finite numbers")
        if not bool((stats["var"] >= 0).all()):
            raise CheckpointError(f"{field}.var: variances cannot be negative")
        count = stats["count"]
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not math.isfinite(count) or count <= 0:
            raise CheckpointError(f"{field}.count: expected a positive number, got {count!r}")


def _looks_like_pickle(path: Path) -> bool:
    """Legacy (non-zip) torch files are pickles: protocol 2 to 5 opcode first."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def find_checkpoint(load_path: str, task_root: str | Path, which: str) -> Path:
    """The checkpoint file ``which`` (latest, best, or an update step) of a task folder or path.

    ``load_path`` is a task folder name under ``task_root``, a path to a task folder or its
    ``models`` folder, or a path to a checkpoint file.
    """
    candidates = [Path(load_path), Path(task_root) / load_path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    for candidate in candidates:
        models = candidate / "models" if (candidate / "models").is_dir() else candidate
        if not models.is_dir():
            continue
        if which == "latest":
            steps = numbered_checkpoints(models)
            if not steps:
                raise CheckpointError(f"{models}: no checkpoints in this folder")
            return steps[-1]
        path = models / f"{which}.pt"
        if not path.is_file():
            present = ", ".join(sorted(p.stem for p in models.glob("*.pt"))) or "none"
            raise CheckpointError(f"{path}: checkpoint not found (present: {present})")
        return path
    raise CheckpointError(
        f"load_path {load_path!r}: no such task folder or checkpoint (looked in {candidates[1]} and {candidates[0]})"
    )


def numbered_checkpoints(models: Path) -> list[Path]:
    """The ``<update step>.pt`` checkpoints of a models folder, oldest first (``best.pt`` is not one)."""
    return [path for _, path in sorted((int(p.stem), p) for p in models.glob("*.pt") if p.stem.isdigit())]


def prune_checkpoints(models: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` numbered checkpoints (``keep`` 0: delete none).

    ``best.pt`` is a file of its own, so it stays whatever its update step.
    """
    if keep <= 0:
        return
    for path in numbered_checkpoints(models)[:-keep]:
        path.unlink(missing_ok=True)
