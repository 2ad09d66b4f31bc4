"""Shapes the user gives for inputs with dynamic dims (verify --shape), keyed "<input>" or "<signature>/<input>"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._arrays import shape_fits
from ..errors import InvalidInput, Problem
from ..runtimes.interpreter import TensorDetail


def _lookup(shapes: Mapping[str, Sequence[int]], sig: str, name: str) -> Sequence[int] | None:
    return shapes.get(f"{sig}/{name}", shapes.get(name))


def check_shapes(shapes: Mapping[str, Sequence[int]], details: Mapping[str, Mapping[str, TensorDetail]]) -> None:
    """Every key names an input of a checked signature and every shape fits it; else InvalidInput listing all."""
    problems = []
    for key, shape in shapes.items():
        sig, _, name = key.rpartition("/")
        owners = [s for s in details if (not sig or s == sig) and name in details[s]]
        if not owners:
            known = ", ".join(f"{s}/{n}" for s, ds in details.items() for n in ds)
            problems.append(Problem(f"--shape {key}", f"no such input; the inputs are: {known}"))
            continue
        for s in owners:
            want = details[s][name].shape_signature
            if not shape_fits(tuple(shape), want):
                problems.append(Problem(f"--shape {key}", f"{list(shape)} contradicts {s}/{name}'s shape {list(want)} (-1 = any size)"))
    if problems:
        raise InvalidInput("verify", problems)


def with_shapes(details: Mapping[str, TensorDetail], sig: str, shapes: Mapping[str, Sequence[int]]) -> dict[str, TensorDetail]:
    """The details with the given shapes in place of dynamic ones (so random inputs take them)."""
    out = {}
    for name, d in details.items():
        shape = _lookup(shapes, sig, name)
        out[name] = d if shape is None else TensorDetail(d.name, d.dtype, tuple(int(x) for x in shape), d.quantization)
    return out
