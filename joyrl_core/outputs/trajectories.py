"""Trajectories for imitation and offline RL: ``results/trajs_<k>.npz``, up to ``per_file`` episodes each.

Format choice: each file is a numpy ``.npz`` archive, not a pickle. Loading a pickle runs whatever code
the file names, which turns a shared data set into a way to run code on its reader's machine.
``numpy.savez`` stores raw arrays, and ``numpy.load(allow_pickle=False)`` reads nothing else, so a
pickle (crafted or not) and any object array are refused before anything is built from them. The
archive is read member by member, so trajectories stream one at a time instead of the whole file being
loaded. Folders written before the files were named for what they are hold the same archives as
``trajs_<k>.pkl``; :func:`load_trajectories` reads those too. ``joyrl export-minari`` turns a folder's
trajectories into a Minari dataset (:mod:`joyrl_core.outputs.minari_export`).

Layout of one file: ``header`` (uint8 bytes of a JSON object: format, version, count),
``episode_rewards`` (float64, one per trajectory) and, for trajectory ``i``, the arrays
``<i>.states``, ``<i>.actions``, ``<i>.rewards``, ``<i>.next_states``, ``<i>.terminated``,
``<i>.truncated``.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.task import atomic_write

FORMAT = "joyrl-trajectories"
FORMAT_VERSION = 1
FIELDS = ("states", "actions", "rewards", "next_states", "terminated", "truncated")
SUFFIX = ".npz"
_FILE_RE = re.compile(r"trajs_(\d+)\.(?:npz|pkl)")
# What numpy and zipfile raise on a truncated, corrupt or foreign file.
_READ_ERRORS = (ValueError, TypeError, OSError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError)


@dataclass
class Trajectory:
    """One episode, step-aligned: row ``t`` of every array is the transition at step ``t``."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_reward: float

    def __len__(self) -> int:
        return len(self.rewards)


class TrajectoryWriter:
    """Buffers trajectories and writes every ``per_file`` of them to the next ``trajs_<k>.npz``.

    ``close()`` writes the last, partial file; a writer closed with nothing pending writes nothing.
    """

    def __init__(self, results_dir: Path, per_file: int = 1000):
        if per_file < 1:
            raise JoyRLError(f"trajectories per file must be at least 1, got {per_file}")
        self.results_dir = Path(results_dir)
        self.per_file = per_file
        self.paths: list[Path] = []
        self._pending: list[Trajectory] = []

    def add(self, traj: Trajectory) -> None:
        # Copy now: a collector may reuse its arrays for the next episode, and an object array must
        # fail here, at its episode, rather than at a flush a thousand episodes later.
        arrays = {}
        for name in FIELDS:
            value = np.array(getattr(traj, name))
            if value.dtype.hasobject:
                raise JoyRLError(f"trajectory field {name!r} has dtype object; only numeric and bool arrays can be saved")
            arrays[name] = value
        self._pending.append(Trajectory(**arrays, episode_reward=float(traj.episode_reward)))
        if len(self._pending) >= self.per_file:
            self._flush()

    def close(self) -> None:
        if self._pending:
            self._flush()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _flush(self) -> None:
        header = {"format": FORMAT, "version": FORMAT_VERSION, "count": len(self._pending)}
        arrays: dict[str, np.ndarray] = {
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            "episode_rewards": np.array([t.episode_reward for t in self._pending], dtype=np.float64),
        }
        for i, traj in enumerate(self._pending):
            for name in FIELDS:
                arrays[f"{i}.{name}"] = getattr(traj, name)
        path = self.results_dir / f"trajs_{len(self.paths)}{SUFFIX}"
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
        self.paths.append(path)
        self._pending = []


def load_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Stream the trajectories of one ``trajs_<k>.npz`` file, or of every one in a folder by ``k``.

    A missing path or a folder without trajectory files fails here; a corrupt file, or one that is not
    a JoyRL trajectory archive (a real pickle included), raises :class:`JoyRLError` when reached.
    """
    path = Path(path)
    if path.is_dir():
        numbered = sorted(
            (int(m.group(1)), p) for p in path.iterdir() if (m := _FILE_RE.fullmatch(p.name)) and p.is_file()
        )
        if not numbered:
            raise JoyRLError(f"{path}: no trajs_*.npz files in this folder")
        files = [p for _, p in numbered]
    elif path.is_file():
        files = [path]
    else:
        raise JoyRLError(f"{path}: no such trajectory file or folder")
    return (traj for file in files for traj in _read_file(file))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_file(path: Path) -> Iterator[Trajectory]:
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        if "pickle" in str(exc):
            raise JoyRLError(f"{path}: refused to load: it holds a pickle, which can run code; "
                             "JoyRL trajectory files are numpy archives") from None
        raise JoyRLError(f"{path}: corrupt or not a JoyRL trajectory file ({_first_line(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise JoyRLError(f"{path}: not a JoyRL trajectory file (a single array, not an archive)")
    with archive:
        try:
            header = json.loads(archive["header"].tobytes().decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise JoyRLError(f"{path}: not a JoyRL trajectory file (no {FORMAT} header)")
            if header.get("version") != FORMAT_VERSION:
                raise JoyRLError(f"{path}: trajectory format version {header.get('version')} is not supported "
                                 f"(expected {FORMAT_VERSION})")
            rewards = archive["episode_rewards"]
            for i in range(int(header["count"])):
                arrays = {name: archive[f"{i}.{name}"] for name in FIELDS}
                yield Trajectory(**arrays, episode_reward=float(rewards[i]))
        except _READ_ERRORS as exc:
            raise JoyRLError(f"{path}: corrupt trajectory file ({type(exc).__name__}: {_first_line(exc)})") from None
