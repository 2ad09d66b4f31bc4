"""Random inputs for a signature's tensor details: the dtype and shape the runtime expects.

Used by bench (any values do) and by verification, which gives `ranges` from what the source
declares (a spec's `range`, an Embedding's size, the calibration data) so values are realistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .._limits import check_array_size
from ..errors import InvalidInput, Problem
from .interpreter import TensorDetail

DEFAULT_INT_RANGE = (0, 10)


def _random_words(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Bytes words of 1 to 6 lowercase letters; real text for a vocabulary comes from --verify-inputs."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    count = int(np.prod(shape, dtype=np.int64))
    words = [letters[rng.integers(0, 26, size=int(rng.integers(1, 7)))].tobytes() for _ in range(count)]
    return np.array(words, dtype=np.bytes_).reshape(tuple(shape))


def sample_inputs(
    details: Mapping[str, TensorDetail],
    *,
    batch: int,
    dynamic: int,
    rng: np.random.Generator,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Random inputs honouring dtype and shape: the first dynamic dim is `batch`, later ones `dynamic`.

    Values come from `ranges[name]` ([low, high], high excluded for integers) when given: the spec's
    `range`, an Embedding's size, the calibration data's range. Otherwise floats are uniform in
    [-1, 1] and integers in [0, 10); bools are fair coins.
    """
    arrays = {}
    for name, d in details.items():
        shape = []
        for i, dim in enumerate(d.shape_signature):
            shape.append(dim if dim != -1 else (batch if i == 0 else dynamic))
        too_big = check_array_size(shape, np.dtype(d.dtype).itemsize, f"a random input of shape {shape[:8]}")
        if too_big:  # checked before allocating: the shape comes from the file
            raise InvalidInput("inputs", [Problem(name, too_big)])
        dtype = d.dtype
        low, high = (ranges or {}).get(name, (None, None))
        if dtype == np.bool_:
            arrays[name] = rng.random(shape) < 0.5
        elif np.dtype(dtype).kind in "SUO":  # strings: random lowercase words (mostly outside a model's vocabulary)
            arrays[name] = _random_words(rng, shape)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            lo = max(int(info.min), int(np.ceil(low))) if low is not None else DEFAULT_INT_RANGE[0]
            hi = min(int(info.max) + 1, int(np.ceil(high))) if high is not None else DEFAULT_INT_RANGE[1]
            arrays[name] = rng.integers(lo, max(hi, lo + 1), size=shape).astype(dtype)
        else:
            lo_f = -1.0 if low is None else float(low)
            hi_f = 1.0 if high is None else float(high)
            arrays[name] = rng.uniform(lo_f, hi_f, size=shape).astype(dtype)
    return arrays
