import imageio.v3 as iio
import numpy as np
import pytest

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.video import FRAME_CAP, write_gif


def frames(n: int, h: int = 32, w: int = 48) -> list[np.ndarray]:
    out = []
    for i in range(n):
        frame = np.zeros((h, w, 3), dtype=np.uint8)
        frame[:, (i * 3) % w] = 255  # each frame differs, so the GIF writer keeps them all
        frame[..., 1] = i * 10
        out.append(frame)
    return out


def test_gif_round_trip(tmp_path):
    path = write_gif(frames(12), tmp_path / "videos" / "episode.gif", fps=20)
    assert path == tmp_path / "videos" / "episode.gif"
    back = iio.imread(path, index=None)
    assert back.shape[0] == 12
    assert back.shape[1:3] == (32, 48)
    meta = iio.immeta(path)
    assert meta.get("loop") == 0
    assert not list(path.parent.glob(".*.tmp"))


def test_rgba_frames(tmp_path):
    rgba = [np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in frames(3)]
    back = iio.imread(write_gif(rgba, tmp_path / "a.gif"), index=None)
    assert back.shape[0] == 3


def test_no_frames_is_an_error(tmp_path):
    with pytest.raises(JoyRLError, match="no frames"):
        write_gif([], tmp_path / "empty.gif")
    assert not (tmp_path / "empty.gif").exists()


def test_bad_frames_are_an_error(tmp_path):
    with pytest.raises(JoyRLError, match="differ in shape"):
        write_gif(frames(2) + frames(1, h=10), tmp_path / "x.gif")
    with pytest.raises(JoyRLError, match="uint8"):
        write_gif([np.zeros((4, 4, 3), dtype=np.float32)], tmp_path / "x.gif")


def test_frame_cap():
    assert FRAME_CAP == 1000
