"""The task folder each run writes: config, models, results, logs, videos."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from joyrl_core.errors import OutputError


@dataclass(frozen=True)
class TaskPaths:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"


def safe_name(part: str) -> str:
    """``part`` with only characters that are safe in a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-") or "env"


# Keys that tell the seeds of one config apart but not the configs themselves.
PER_RUN_KEYS = ("seed", "task_dir")


def config_identity(config: dict[str, Any]) -> str:
    """What the seeds of one config share: a task's resolved config without its seed and task folder."""
    import yaml

    general = {k: v for k, v in (config.get("general_cfg") or {}).items() if k not in PER_RUN_KEYS}
    return yaml.safe_dump({**config, "general_cfg": general}, sort_keys=True)


def create_task_dir(task_root: str | Path, mode: str, env_id: str, algo: str) -> TaskPaths:
    """Make ``<task_root>/<Mode>_<env id>_<algo>_<YYYYMMDD-HHMMSS>[-N]`` with models/, results/, logs/.

    ``mkdir`` without ``exist_ok`` is atomic, so two runs started in the same second get different
    folders (the second gets a ``-1`` suffix) even when they race.
    """
    root = Path(task_root)
    try:
        paths = TaskPaths(create_unique_dir(task_root, f"{mode.capitalize()}_{safe_name(env_id)}_{safe_name(algo)}"))
        # videos/ is made by the first GIF written (atomic_write), so a run without one has none.
        for sub in (paths.models, paths.results, paths.logs):
            sub.mkdir()
    except OSError as exc:
        if (root.exists() or root.is_symlink()) and not root.is_dir():
            # A file, or a symlink to nothing, in the folder's place.
            raise OutputError(f"general_cfg.task_dir {str(task_root)!r}: {root} exists and is not a folder") from None
        raise OutputError(f"general_cfg.task_dir {str(task_root)!r}: cannot create a task folder in {root}: "
                          f"{(exc.strerror or str(exc)).lower()}") from None
    return paths



def create_unique_dir(parent: str | Path, prefix: str) -> Path:
    """Make ``<parent>/<prefix>_<YYYYMMDD-HHMMSS>[-N]``: the first free name, taken atomically."""
    base = f"{prefix}_{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    suffix = 0
    while True:
        candidate = root / (base if suffix == 0 else f"{base}-{suffix}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            suffix += 1


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in the same folder and rename it into place.

    A reader (or a crash) never sees a half-written file: it is either the old one or the new one; a
    failed write (a full disk) is an :class:`OutputError` naming ``path``, and leaves the old one. The
    temporary file's name holds the writer's process id, so :func:`remove_stale_temps` can tell the
    leftovers of a killed process from a live writer's file.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX)
    except OSError as exc:
        raise OutputError.writing(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError.writing(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


_TMP_SUFFIX = ".tmp"
_TMP_NAME = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left in ``folder`` when its process was killed.

    Files of a process that is still running (another run writing there now) are left alone.
    """
    removed = []
    for path in folder.glob(".*" + _TMP_SUFFIX):
        match = _TMP_NAME.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
