"""Perceptual hashes (dHash, pHash) with Pillow and plain Python: 64-bit values as 16 hex digits."""

from __future__ import annotations

import math
from functools import cache
from typing import cast

from PIL import Image


def dhash(image: Image.Image) -> str:
    """Difference hash: is each pixel brighter than its right neighbour, on a 9x8 greyscale image."""
    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    px = cast(list[int], list(small.get_flattened_data()))  # an "L" image: one int per pixel
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"


@cache
def _dct_matrix(n: int) -> tuple[tuple[float, ...], ...]:
    def weight(u: int) -> float:
        return math.sqrt((1 if u == 0 else 2) / n)

    def row(u: int) -> tuple[float, ...]:
        return tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * n)) * weight(u) for x in range(n))

    return tuple(row(u) for u in range(n))


def phash(image: Image.Image) -> str:
    """DCT hash: the top-left 8x8 DCT coefficients of a 32x32 greyscale image against their median."""
    n = 32
    small = image.convert("L").resize((n, n), Image.Resampling.LANCZOS)
    px = cast(list[int], list(small.get_flattened_data()))
    rows = [px[i * n : (i + 1) * n] for i in range(n)]
    c = _dct_matrix(n)
    # Only the 8 lowest frequencies are needed in each direction: 2 * 8 * 32 * 32 multiplications.
    row_dct = [[sum(c[u][x] * row[x] for x in range(n)) for u in range(8)] for row in rows]
    coeffs = [sum(c[v][y] * row_dct[y][u] for y in range(n)) for v in range(8) for u in range(8)]
    median = sorted(coeffs[1:])[len(coeffs[1:]) // 2]  # the DC term would dominate the median
    bits = 0
    for value in coeffs:
        bits = (bits << 1) | (value > median)
    return f"{bits:016x}"
