"""Animated GIFs of rendered episodes, written to the task's ``videos`` folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.task import atomic_write

# The most frames a run records. A 600x400 RGB frame is about 0.7 MB and frames are held in memory
# until the GIF is written, so recording stops at this many (about 33 s at 30 fps, ~700 MB at most).
FRAME_CAP = 1000


def write_gif(frames: Sequence[np.ndarray], path: Path, fps: int = 30) -> Path:
    """Write ``frames`` (H x W x 3 or 4, uint8, all the same shape) to ``path`` as a looping GIF.

    The GIF format keeps frame times in 10 ms steps, so the played rate is only close to ``fps``.
    Pillow merges consecutive identical frames into one longer frame, so a still scene reads back as
    fewer frames at the same total duration.
    """
    import imageio.v3 as iio

    path = Path(path)
    if len(frames) == 0:
        raise JoyRLError(f"{path}: no frames to write (was the env created with render_mode='rgb_array'?)")
    if fps <= 0:
        raise JoyRLError(f"{path}: fps must be positive, got {fps}")
    shapes = {np.shape(frame) for frame in frames}
    if len(shapes) != 1:
        raise JoyRLError(f"{path}: frames differ in shape ({', '.join(map(str, sorted(shapes)))})")
    stack = np.stack([np.asarray(frame) for frame in frames])
    if stack.dtype != np.uint8 or stack.ndim != 4 or stack.shape[-1] not in (3, 4):
        raise JoyRLError(
            f"{path}: frames must be uint8 H x W x 3 or 4 images, got dtype {stack.dtype} shape {stack.shape[1:]}"
        )
    data = iio.imwrite("<bytes>", stack, extension=".gif", duration=1000 / fps, loop=0)
    atomic_write(path, lambda fh: fh.write(data))
    return path
