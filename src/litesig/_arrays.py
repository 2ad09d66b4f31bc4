"""Small helpers about shapes and arrays that convert, run, bench and verify share."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidInput, Problem


def shape_fits(shape: Sequence[int], signature: Sequence[int]) -> bool:
    """Whether `shape` fits a shape signature: same rank, and equal wherever the signature is not -1."""
    return len(shape) == len(signature) and all(want in (-1, got) for got, want in zip(shape, signature))


def load_npz(path: str | os.PathLike[str], where: str = "") -> dict[str, Any]:
    """Every array of an .npz (no pickles), or InvalidInput naming the file."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):
            raise ValueError("it holds a single array (np.save); expected named arrays (np.savez)")
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    except FileNotFoundError:
        raise InvalidInput(os.fspath(path), [Problem(where, "no such file")]) from None
    except Exception as e:
        raise InvalidInput(os.fspath(path), [Problem(where, f"not a readable .npz file: {e}")]) from None


def array_key(arrays: Mapping[str, Any], signature: str, name: str) -> str | None:
    """The key holding `name`'s array: "<signature>/<name>" if present, else "<name>", else None."""
    for key in (f"{signature}/{name}", name):
        if key in arrays:
            return key
    return None
