"""Parity reports: run a .tflite and a reference on the same inputs and compare every output.

This module imports neither TensorFlow nor Keras at import time; references that need them
(a spec, a SavedModel, a .keras file) import them when built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .runtime import Runner, TensorDetail

# Reference: (signature, inputs) -> outputs keyed by the same names as the .tflite signature.
Reference = Callable[[str, Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Tolerance:
    """When an output passes: max abs error <= atol * scale + rtol * |ref| elementwise, and cosine >= min_cosine.

    `scale` is max(1, max |reference|): tolerances are relative to the output's magnitude.
    """

    atol: float
    rtol: float
    min_cosine: float
    name: str = "custom"

    @classmethod
    def for_mode(cls, optimize: str) -> Tolerance:
        """Defaults by what the file is (see docs/verification.md for why these numbers)."""
        return {
            "none": cls(atol=1e-5, rtol=1e-5, min_cosine=0.99999, name="float32"),
            "float16": cls(atol=2e-2, rtol=2e-2, min_cosine=0.999, name="float16"),
            "dynamic-int8": cls(atol=math.inf, rtol=0.0, min_cosine=0.99, name="dynamic-int8"),
            "int8": cls(atol=math.inf, rtol=0.0, min_cosine=0.95, name="int8"),
        }[optimize]


@dataclass(frozen=True)
class OutputReport:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    rmse: float
    cosine: float
    nan: int  # NaN/Inf in the .tflite output that the reference does not have
    inf: int
    passed: bool
    why: str = ""


@dataclass(frozen=True)
class CaseReport:
    signature: str
    input_shapes: dict[str, tuple[int, ...]]
    outputs: tuple[OutputReport, ...]
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outputs)


@dataclass(frozen=True)
class VerifyReport:
    model: str
    against: str
    tolerance: Tolerance
    cases: tuple[CaseReport, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    def worst(self) -> dict[str, OutputReport]:
        """Per signature/output, the case with the largest max abs error."""
        worst: dict[str, OutputReport] = {}
        for case in self.cases:
            for out in case.outputs:
                key = f"{case.signature}/{out.name}"
                if key not in worst or _badness(out) > _badness(worst[key]):
                    worst[key] = out
        return worst

    def failures(self) -> list[str]:
        lines = []
        for case in self.cases:
            if case.error:
                lines.append(f"{case.signature} {case.input_shapes}: {case.error}")
            for out in case.outputs:
                if not out.passed:
                    lines.append(f"{case.signature}/{out.name} at {case.input_shapes}: {out.why}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return _json_safe(d)


def _badness(out: OutputReport) -> tuple[int, float]:
    return (0 if out.passed else 1, out.max_abs if math.isfinite(out.max_abs) else math.inf)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def compare(name: str, reference: np.ndarray, got: np.ndarray, tol: Tolerance) -> OutputReport:
    """Compare one output against its reference."""
    ref = np.asarray(reference)
    out = np.asarray(got)
    if ref.shape != out.shape:
        return OutputReport(name, tuple(out.shape), math.inf, math.inf, math.inf, 0.0, 0, 0, False,
                            f"shape {list(out.shape)} but the reference has {list(ref.shape)}")
    r = ref.astype(np.float64)
    o = out.astype(np.float64)
    bad_nan = int(np.count_nonzero(np.isnan(o) & ~np.isnan(r)))
    bad_inf = int(np.count_nonzero(np.isinf(o) & ~np.isinf(r)))
    finite = np.isfinite(r) & np.isfinite(o)
    diff = np.abs(o - r)[finite]
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = max(1.0, float(np.abs(r[finite]).max()) if diff.size else 1.0)
    max_rel = float((diff / (np.abs(r[finite]) + 1e-6 * scale)).max()) if diff.size else 0.0
    rmse = float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
    cosine = _cosine(r[finite], o[finite])
    why = ""
    if bad_nan or bad_inf:
        why = f"{bad_nan} NaN and {bad_inf} Inf values the reference does not have"
    elif diff.size and np.any(diff > tol.atol * scale + tol.rtol * np.abs(r[finite])):
        why = f"max abs error {max_abs:.3g} exceeds atol {tol.atol:g} x scale {scale:.3g} + rtol {tol.rtol:g} x |ref|"
    elif cosine < tol.min_cosine:
        why = f"cosine similarity {cosine:.6f} below {tol.min_cosine}"
    return OutputReport(name, tuple(out.shape), max_abs, max_rel, rmse, cosine, bad_nan, bad_inf, not why, why)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-12 and nb < 1e-12:
        return 1.0
    if na < 1e-12 or nb < 1e-12:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))


def sample_inputs(
    details: Mapping[str, TensorDetail],
    *,
    batch: int,
    dynamic: int,
    rng: np.random.Generator,
    int_high: int | None = None,
) -> dict[str, np.ndarray]:
    """Random inputs honouring dtype and shape: the first dynamic dim is `batch`, later ones `dynamic`.

    Floats are uniform in [-1, 1]; integers in [0, int_high) (an Embedding's size when known, else 10);
    bools are fair coins.
    """
    arrays = {}
    for name, d in details.items():
        shape = []
        for i, dim in enumerate(d.shape_signature):
            shape.append(dim if dim != -1 else (batch if i == 0 else dynamic))
        dtype = d.dtype
        if dtype == np.bool_:
            arrays[name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            high = min(int_high or 10, int(info.max) + 1)
            low = 0 if info.min >= 0 or int_high else max(int(info.min), -10)
            arrays[name] = rng.integers(low, high, size=shape).astype(dtype)
        else:
            arrays[name] = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    return arrays


def run_parity(
    runner: Runner,
    reference: Reference,
    *,
    signatures: Sequence[str],
    tolerance: Tolerance,
    model_name: str,
    against: str,
    batch_sizes: Iterable[int] = (1, 3),
    samples: int = 1,
    seed: int = 0,
    int_high: Mapping[str, int | None] | None = None,
    inputs: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> VerifyReport:
    """Run each signature and the reference on the same inputs; report every output.

    With `inputs` (per signature), those arrays are used instead of random ones.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for sig in signatures:
        details = runner.input_details(sig)
        if inputs is not None and sig in inputs:
            feeds = [dict(inputs[sig])]
        else:
            feeds = [
                sample_inputs(details, batch=b, dynamic=(4, 7)[k % 2], rng=rng, int_high=(int_high or {}).get(sig))
                for b in batch_sizes
                for k in range(samples)
            ]
        for feed in feeds:
            shapes = {n: tuple(a.shape) for n, a in feed.items()}
            try:
                got = runner.run(feed, signature=sig)
            except Exception as e:  # report, don't crash: a failing signature is a finding
                cases.append(CaseReport(sig, shapes, (), f".tflite failed: {e}"))
                continue
            try:
                want = reference(sig, feed)
            except Exception as e:
                cases.append(CaseReport(sig, shapes, (), f"reference failed: {type(e).__name__}: {e}"))
                continue
            reports = []
            for name, value in got.items():
                if name not in want:
                    reports.append(OutputReport(name, tuple(value.shape), math.inf, math.inf, math.inf, 0.0, 0, 0, False,
                                                f"the reference has no output {name!r} (it has: {', '.join(want)})"))
                    continue
                reports.append(compare(name, want[name], value, tolerance))
            cases.append(CaseReport(sig, shapes, tuple(reports)))
    return VerifyReport(model=model_name, against=against, tolerance=tolerance, cases=tuple(cases))
