import os
import pickle

import numpy as np
import pytest

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.trajectories import Trajectory, TrajectoryWriter, load_trajectories


def make_traj(i: int, length: int = 5) -> Trajectory:
    rng = np.random.default_rng(i)
    return Trajectory(
        states=rng.normal(size=(length, 4)).astype(np.float32),
        actions=rng.integers(0, 2, size=length),
        rewards=np.ones(length, dtype=np.float32) * i,
        next_states=rng.normal(size=(length, 4)).astype(np.float32),
        terminated=np.arange(length) == length - 1,
        truncated=np.zeros(length, dtype=bool),
        episode_reward=float(length * i) + 0.1,
    )


def assert_same(a: Trajectory, b: Trajectory) -> None:
    for name in ("states", "actions", "rewards", "next_states", "terminated", "truncated"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y)
    assert a.episode_reward == b.episode_reward


def test_split_into_chunks_and_round_trip(tmp_path):
    trajs = [make_traj(i, length=1 + i % 4) for i in range(2500)]
    writer = TrajectoryWriter(tmp_path, per_file=1000)
    for traj in trajs:
        writer.add(traj)
    assert [p.name for p in writer.paths] == ["trajs_0.npz", "trajs_1.npz"]
    writer.close()
    assert sorted(p.name for p in tmp_path.glob("trajs_*.npz")) == ["trajs_0.npz", "trajs_1.npz", "trajs_2.npz"]
    assert [sum(1 for _ in load_trajectories(tmp_path / f"trajs_{k}.npz")) for k in range(3)] == [1000, 1000, 500]

    loaded = list(load_trajectories(tmp_path))
    assert len(loaded) == 2500
    for original, back in zip(trajs, loaded):
        assert_same(original, back)
    assert not list(tmp_path.glob(".*.tmp"))


def test_folder_read_in_numeric_order(tmp_path):
    with TrajectoryWriter(tmp_path, per_file=1) as writer:
        for i in range(12):  # trajs_10.npz must come after trajs_9.npz, not after trajs_1.npz
            writer.add(make_traj(i))
    assert [t.episode_reward for t in load_trajectories(str(tmp_path))] == [make_traj(i).episode_reward for i in range(12)]


def test_close_with_nothing_pending_writes_nothing(tmp_path):
    writer = TrajectoryWriter(tmp_path, per_file=2)
    writer.close()
    writer.add(make_traj(1))
    writer.add(make_traj(2))
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["trajs_0.npz"]


def test_writer_copies_arrays(tmp_path):
    traj = make_traj(3)
    with TrajectoryWriter(tmp_path) as writer:
        writer.add(traj)
        traj.states[:] = 0  # a collector reusing its buffer must not change what was added
    (back,) = load_trajectories(tmp_path / "trajs_0.npz")
    assert_same(make_traj(3), back)


def test_object_arrays_rejected_on_add(tmp_path):
    traj = make_traj(1)
    traj.actions = np.array([{"a": 1}] * len(traj), dtype=object)
    with pytest.raises(JoyRLError, match="dtype object"):
        TrajectoryWriter(tmp_path).add(traj)


class Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    pwned = tmp_path / "pwned"
    bad = tmp_path / "trajs_0.npz"
    bad.write_bytes(pickle.dumps([{"states": Exploit(pwned)}], protocol=5))
    with pytest.raises(JoyRLError, match="trajs_0.npz") as info:
        list(load_trajectories(bad))
    assert "\n" not in str(info.value)
    with pytest.raises(JoyRLError):
        list(load_trajectories(tmp_path))
    assert not pwned.exists()


def test_object_array_inside_archive_is_refused(tmp_path):
    pwned = tmp_path / "pwned"
    with TrajectoryWriter(tmp_path) as writer:
        writer.add(make_traj(1))
    # Rebuild the archive with a pickled object member, as a hand-crafted file could.
    with np.load(tmp_path / "trajs_0.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["0.states"] = np.array([Exploit(pwned)], dtype=object)
    with open(tmp_path / "trajs_0.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(JoyRLError, match="trajs_0.npz"):
        list(load_trajectories(tmp_path / "trajs_0.npz"))
    assert not pwned.exists()


@pytest.mark.parametrize("content", [b"", b"garbage bytes", b"PK\x03\x04truncated"])
def test_corrupt_files_raise_one_line_error(tmp_path, content):
    bad = tmp_path / "trajs_0.npz"
    bad.write_bytes(content)
    with pytest.raises(JoyRLError, match="trajs_0.npz") as info:
        list(load_trajectories(bad))
    assert "\n" not in str(info.value)


def test_truncated_archive_raises(tmp_path):
    with TrajectoryWriter(tmp_path) as writer:
        for i in range(20):
            writer.add(make_traj(i))
    path = tmp_path / "trajs_0.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(JoyRLError, match="trajs_0.npz"):
        list(load_trajectories(path))


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(JoyRLError, match="no such"):
        load_trajectories(tmp_path / "nope")
    with pytest.raises(JoyRLError, match="no trajs_"):
        load_trajectories(tmp_path)


def test_folders_from_before_the_rename_still_load(tmp_path):
    """Older runs named the same archives trajs_<k>.pkl; a folder of them (or mixed) still reads in order."""
    with TrajectoryWriter(tmp_path, per_file=1) as writer:
        for i in range(3):
            writer.add(make_traj(i))
    (tmp_path / "trajs_0.npz").rename(tmp_path / "trajs_0.pkl")
    assert [t.episode_reward for t in load_trajectories(tmp_path)] == [make_traj(i).episode_reward for i in range(3)]
