"""Parity reports: run a .tflite and a reference on the same inputs and compare every output.

This module imports neither TensorFlow nor Keras at import time; references that need them
(a spec, a SavedModel, a .keras file) import them when built.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
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

    @classmethod
    def failed(cls, name: str, shape: Sequence[int], why: str) -> OutputReport:
        """An output that could not be compared at all: every error metric infinite."""
        return cls(name, tuple(shape), math.inf, math.inf, math.inf, 0.0, 0, 0, False, why)


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
        return OutputReport.failed(name, out.shape, f"shape {list(out.shape)} but the reference has {list(ref.shape)}")
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
            feeds = [  # other dynamic dims alternate between 4 and 7, so two sizes are tried even with one sample
                sample_inputs(details, batch=b, dynamic=(4, 7)[(i + k) % 2], rng=rng, int_high=(int_high or {}).get(sig))
                for i, b in enumerate(batch_sizes)
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
                    reports.append(OutputReport.failed(name, value.shape, f"the reference has no output {name!r} (it has: {', '.join(want)})"))
                    continue
                reports.append(compare(name, want[name], value, tolerance))
            cases.append(CaseReport(sig, shapes, tuple(reports)))
    return VerifyReport(model=model_name, against=against, tolerance=tolerance, cases=tuple(cases))


def verify(
    model: str | os.PathLike[str] | bytes,
    against: Any,
    *,
    signature: str | None = None,
    samples: int = 1,
    batch_sizes: Sequence[int] = (1, 3),
    inputs: str | os.PathLike[str] | Mapping[str, np.ndarray] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    min_cosine: float | None = None,
    seed: int = 0,
    unsafe: bool = False,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Run every signature of `model` (or one) and `against` on the same inputs; report every output.

    Args:
        model: the .tflite to check (path or bytes).
        against: a litesig.toml spec (or Spec), a SavedModel directory (its signature of the same
            name), a .keras/.h5 model (for a single-signature file), or another .tflite.
        signature: check only this signature.
        samples: random input sets per batch size.
        batch_sizes: sizes tried for the first dynamic dim (later dynamic dims take 4 and 7).
        inputs: your own inputs instead of random ones: an .npz or a dict keyed
            "<signature>/<input>" or "<input>".
        atol / rtol / min_cosine: override the defaults chosen from what the file is.

    Returns:
        A VerifyReport; `.passed` is False when any output of any case fails.
    """
    from ._io import describe
    from .model_info import precision

    say = progress or (lambda _step: None)
    runner = Runner(model)
    signatures = [runner.resolve(signature)] if signature else runner.signatures
    if not signatures:
        from .errors import LitesigError

        raise LitesigError(f"{describe(model)}: the model has no signatures to verify")
    mode = precision(runner.model) if runner.model is not None else "none"
    say(f"Preparing the reference ({_describe_against(against)})")
    reference, other_mode, int_high = _reference(against, signatures, runner, unsafe=unsafe)
    if other_mode is not None and _MODES.index(other_mode) > _MODES.index(mode):
        mode = other_mode
    base = Tolerance.for_mode(mode)
    tol = Tolerance(atol=base.atol if atol is None else atol, rtol=base.rtol if rtol is None else rtol,
                    min_cosine=base.min_cosine if min_cosine is None else min_cosine,
                    name=base.name if (atol, rtol, min_cosine) == (None, None, None) else f"{base.name}, overridden")
    feeds = _user_inputs(inputs, signatures, runner) if inputs is not None else None
    say("Running both sides")
    return run_parity(runner, reference, signatures=signatures, tolerance=tol, model_name=describe(model),
                      against=_describe_against(against), batch_sizes=batch_sizes, samples=samples, seed=seed,
                      int_high=int_high, inputs=feeds)


_MODES = ("none", "float16", "dynamic-int8", "int8")


def _describe_against(against: Any) -> str:
    source = getattr(against, "source", None)
    return str(source) if source else os.fspath(against) if isinstance(against, (str, os.PathLike)) else f"<{type(against).__name__}>"


def _reference(against: Any, signatures: Sequence[str], runner: Runner, *, unsafe: bool) -> tuple[Reference, str | None, dict[str, int | None]]:
    """A callable computing the expected outputs, the other side's precision if it is a .tflite, integer bounds."""
    from .errors import InvalidInput, LitesigError, Problem, SignatureNotFound
    from .spec import Spec, load_spec

    if isinstance(against, Spec) or (isinstance(against, (str, os.PathLike)) and Path(against).suffix.lower() == ".toml"):
        from .conversion import trace

        spec = against if isinstance(against, Spec) else load_spec(against)
        spec = replace(spec, options=replace(spec.options, unsafe=spec.options.unsafe or unsafe))
        for sig in signatures:
            spec.signature(sig)  # SignatureNotFound if the spec lacks it
        traced = trace(spec)
        return traced, None, traced.int_high()

    if not isinstance(against, (str, os.PathLike)):
        raise LitesigError(f"cannot verify against {type(against).__name__}; give a spec, a SavedModel directory, a .keras/.h5 file or a .tflite")
    path = Path(against)
    if not path.exists():
        raise InvalidInput(str(path), [Problem("--against", "no such file or directory")])
    if path.suffix.lower() == ".tflite":
        from .model_info import precision

        other = Runner(path)
        for sig in signatures:
            if sig not in other.signatures:
                raise SignatureNotFound(sig, other.signatures)
        return (lambda sig, feed: other.run(feed, signature=sig)), precision(other.model) if other.model else "none", {}

    from .sources import Loader

    loader = Loader(unsafe=unsafe)
    if path.is_dir():
        available = loader.saved_model_signatures(path)
        for sig in signatures:
            if sig not in available:
                raise SignatureNotFound(sig, available)
        models = {sig: loader.load(sig, path, sig) for sig in signatures}

        def saved_model(sig: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            src = models[sig]
            missing = [n for n in src.input_names() if n not in feed]
            if missing:
                raise LitesigError(f"the SavedModel's {sig!r} takes inputs {', '.join(src.input_names())}; the .tflite has {', '.join(feed)}")
            return {name: value.numpy() for name, value in src.call([feed[n] for n in src.input_names()])}

        return saved_model, None, {}

    if len(signatures) != 1:
        raise LitesigError(f"{path} is one model and the .tflite has {len(signatures)} signatures ({', '.join(signatures)}); "
                           "pick one with --signature, or verify against a spec")
    src = loader.load("model", path)
    sig = signatures[0]
    tflite_inputs = list(runner.input_details(sig))
    model_inputs = list(src.input_names())
    if len(tflite_inputs) != len(model_inputs):
        raise LitesigError(f"{path} takes {len(model_inputs)} inputs ({', '.join(model_inputs)}); signature {sig!r} has {len(tflite_inputs)}")
    order = model_inputs if set(model_inputs) == set(tflite_inputs) else _file_order(runner, sig, "inputs")
    tflite_outputs = _file_order(runner, sig, "outputs")

    def keras_model(sig: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = src.call([feed[n] for n in order])
        names = [n for n, _ in outs]
        if set(names) == set(tflite_outputs):
            return {n: np.asarray(v) for n, v in outs}
        if len(outs) != len(tflite_outputs):
            raise LitesigError(f"{path} has {len(outs)} outputs; signature {sig!r} has {len(tflite_outputs)}")
        return {t: np.asarray(v) for t, (_, v) in zip(tflite_outputs, outs)}

    return keras_model, None, {sig: src.int_high}


def _file_order(runner: Runner, sig: str, kind: str) -> list[str]:
    """Signature input/output names in the order the file stores them (the order they were converted in)."""
    if runner.model is None:
        return list(runner.input_details(sig) if kind == "inputs" else runner.output_details(sig))
    s = next(s for s in runner.model.signatures if s.key == sig)
    return [tm.name for tm in (s.inputs if kind == "inputs" else s.outputs)]


def _user_inputs(inputs: str | os.PathLike[str] | Mapping[str, np.ndarray], signatures: Sequence[str], runner: Runner) -> dict[str, dict[str, np.ndarray]]:
    from .errors import InvalidInput, Problem

    from ._arrays import array_key, load_npz

    source = "inputs" if isinstance(inputs, Mapping) else os.fspath(inputs)
    arrays = dict(inputs) if isinstance(inputs, Mapping) else load_npz(inputs, "--inputs")
    feeds: dict[str, dict[str, np.ndarray]] = {}
    problems = []
    for sig in signatures:
        names = list(runner.input_details(sig))
        feed = {n: arrays[key] for n in names if (key := array_key(arrays, sig, n)) is not None}
        if len(feed) == len(names):
            feeds[sig] = feed
        else:
            problems.append(Problem(sig, f"no arrays for inputs {', '.join(n for n in names if n not in feed)} "
                                         f"(keys \"<signature>/<input>\" or \"<input>\"; the file has: {', '.join(arrays) or 'none'})"))
    if problems:
        raise InvalidInput(source, problems)
    return feeds
