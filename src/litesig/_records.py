"""Records (named tuples) as the plain dicts and lists of the --json contracts."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """Records as dicts, recursively, in linear time: lists of ints (a 4M-dim shape) are copied in one pass.

    (dataclasses.asdict deep-copies element by element: 20 s for such a shape.)
    """
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a record (NamedTuple)
        return {name: plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, (list, tuple)):
        return list(value) if all(type(v) is int for v in value) else [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
