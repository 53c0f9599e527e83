"""Tiny numpy drawing helpers for ``render_mode="rgb_array"`` (no pygame, no PIL)."""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
GRID: Color = (210, 210, 210)
WALL: Color = (70, 70, 70)
PIT: Color = (40, 20, 20)
GOAL: Color = (80, 190, 90)
START: Color = (190, 215, 240)
AGENT: Color = (40, 90, 210)
FOOD: Color = (220, 50, 50)
BODY: Color = (60, 170, 80)
HEAD: Color = (20, 110, 40)


def canvas(height: int, width: int, color: Color = WHITE) -> np.ndarray:
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[...] = color
    return img


def fill_cell(img: np.ndarray, row: int, col: int, px: int, color: Color, margin: int = 0) -> None:
    """Fill the ``px``-sized square of grid cell (row, col), shrunk by ``margin`` pixels on each side."""
    img[row * px + margin : (row + 1) * px - margin, col * px + margin : (col + 1) * px - margin] = color


def fill_disc(img: np.ndarray, row: int, col: int, px: int, color: Color, radius_frac: float = 0.35) -> None:
    """A filled disc centred in grid cell (row, col)."""
    top, left = row * px, col * px
    yy, xx = np.ogrid[:px, :px]
    centre = (px - 1) / 2
    mask = (yy - centre) ** 2 + (xx - centre) ** 2 <= (radius_frac * px) ** 2
    img[top : top + px, left : left + px][mask] = color


def grid_lines(img: np.ndarray, px: int, color: Color = GRID) -> None:
    img[::px, :] = color
    img[:, ::px] = color
    img[-1, :] = color
    img[:, -1] = color
