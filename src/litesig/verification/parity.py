"""Parity: run a .tflite and a reference on the same inputs and compare every output.

What passes (Tolerance), what was seen (OutputReport, CaseReport, VerifyReport), realistic
inputs drawn over the ranges the reference declares (runtimes.inputs) and the run itself (run_parity). Which reference to compare with is
verify.py's concern; this module knows only "a callable from inputs to outputs".
It imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..runtimes import quant
from ..runtimes.inputs import DEFAULT_INT_RANGE, sample_inputs
from ..runtimes.interpreter import Runner, TensorDetail

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
        """Defaults by what the file is (see docs/verification.md for why these numbers).

        `optimize` is a precision mode as precision.read_precision reads it from a file, or an
        --optimize name (the ai-edge-quantizer names map to the precision they produce).
        """
        from ..tflite.precision import mode_of_optimize

        return {
            "none": cls(atol=1e-5, rtol=1e-5, min_cosine=0.99999, name="float32"),
            "float16": cls(atol=2e-2, rtol=2e-2, min_cosine=0.999, name="float16"),
            "weight-only-int8": cls(atol=math.inf, rtol=0.0, min_cosine=0.99, name="weight-only-int8"),
            "dynamic-int8": cls(atol=math.inf, rtol=0.0, min_cosine=0.99, name="dynamic-int8"),
            "weight-only-int4": cls(atol=math.inf, rtol=0.0, min_cosine=0.9, name="weight-only-int4"),
            "dynamic-int4": cls(atol=math.inf, rtol=0.0, min_cosine=0.9, name="dynamic-int4"),
            "int16": cls(atol=math.inf, rtol=0.0, min_cosine=0.95, name="int16"),  # static: clamps outside the calibrated range, like int8
            "int8": cls(atol=math.inf, rtol=0.0, min_cosine=0.95, name="int8"),
        }[mode_of_optimize(optimize)]


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
    unverified: tuple[tuple[str, str], ...] = ()  # (signature, why it could not be run here)
    inputs: str = "random"  # where the inputs came from: "random (ranges ...)", "yours: file.npz", "calibration data"
    precision: str = ""  # what the file holds (and the other .tflite, if any): where the tolerance comes from
    quantization: tuple[str, ...] = ()  # inputs quantized / outputs dequantized with a file's own parameters
    runtime: str = "Interpreter"  # the runtime the .tflite ran on
    accelerated: str = ""  # what ran on the accelerator, where the runtime says
    unavailable: str = ""  # why this runtime could not load or run the file at all (then nothing ran: a failure)
    others: tuple[VerifyReport, ...] = ()  # the same cases on the other runtimes asked for (verify --on)

    @property
    def passed(self) -> bool:
        """Every case that ran passed (at least one ran), here and on every other runtime asked for.
        Signatures in `unverified` do not count either way."""
        return bool(self.cases) and all(c.passed for c in self.cases) and all(o.passed for o in self.others)

    @property
    def notes(self) -> list[str]:
        """What the user must know about what was not verified."""
        return [f"signature {sig!r} NOT verified: {why}" for sig, why in self.unverified]

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
        for other in self.others:
            lines += [f"on {other.runtime}: {other.unavailable}"] if other.unavailable else [f"on {other.runtime}: {f}" for f in other.failures()]
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, others=()))
        d["passed"] = self.passed
        d["others"] = [o.to_dict() for o in self.others]
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
    if ref.dtype.kind in "SUOb" or out.dtype.kind in "SUOb":
        return _compare_exactly(name, ref, out)
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
    if not diff.size:  # nothing compared is not a pass: an empty output, or no value finite on both sides
        why = "nothing to compare: the output is empty" if not ref.size else "nothing to compare: no value is finite on both sides"
    elif bad_nan or bad_inf:
        why = f"{bad_nan} NaN and {bad_inf} Inf values the reference does not have"
    elif diff.size and np.any(diff > tol.atol * scale + tol.rtol * np.abs(r[finite])):
        why = f"max abs error {max_abs:.3g} exceeds atol {tol.atol:g} x scale {scale:.3g} + rtol {tol.rtol:g} x |ref|"
    elif cosine < tol.min_cosine:
        why = f"cosine similarity {cosine:.6f} below {tol.min_cosine}"
    return OutputReport(name, tuple(out.shape), max_abs, max_rel, rmse, cosine, bad_nan, bad_inf, not why, why)


def _compare_exactly(name: str, ref: np.ndarray, out: np.ndarray) -> OutputReport:
    """Strings and bools have no distance: equal element by element, or the count that differs."""
    def text(a: np.ndarray) -> np.ndarray:
        if a.dtype.kind in "SUO":
            return np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else bytes(v), otypes=[object])(a) if a.size else a
        return a

    r, o = text(ref), text(out)
    if (ref.dtype.kind in "SUO") != (out.dtype.kind in "SUO"):
        return OutputReport.failed(name, out.shape, f"dtype {out.dtype} but the reference has {ref.dtype}")
    if not ref.size:
        return OutputReport.failed(name, out.shape, "nothing to compare: the output is empty")
    differ = int(np.count_nonzero(r != o))
    why = f"{differ} of {ref.size} values differ (compared exactly)" if differ else ""
    return OutputReport(name, tuple(out.shape), float(differ > 0), 0.0, 0.0, 1.0 if not differ else 0.0, 0, 0, not why, why)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-12 and nb < 1e-12:
        return 1.0
    if na < 1e-12 or nb < 1e-12:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))


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
    ranges: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    inputs: Mapping[str, Sequence[Mapping[str, np.ndarray]]] | None = None,
    stateful: Sequence[str] = (),
    unverified: Mapping[str, str] | None = None,
    steps: int = 3,
    inputs_note: str = "random",
    shapes: Mapping[str, Sequence[int]] | None = None,
    command: str = "verify",
) -> VerifyReport:
    """Run each signature and the reference on the same inputs; report every output.

    With `inputs` (per signature, a list of input sets), those arrays are used instead of random ones.
    Signatures in `stateful` change variables (a training step): they run after the others, `steps`
    times on both sides from the same start, each step compared; then the other signatures run again
    so that what the steps changed is compared too. Signatures in `unverified` are not run.
    `shapes` fixes the shapes of inputs with dynamic dims ("<input>" or "<signature>/<input>").
    `command` ("verify" or "convert") is whose flags the hints of a failure name.
    """
    rng = np.random.default_rng(seed)
    skipped = dict(unverified or {})
    cases: list[CaseReport] = []
    feeds_by_sig: dict[str, list[dict[str, np.ndarray]]] = {}
    notes: list[str] = []
    if shapes:
        from ._shapes import check_shapes

        check_shapes(shapes, {sig: runner.input_details(sig) for sig in signatures if sig not in skipped})
    for sig in signatures:
        if sig in skipped:
            continue
        details, qin, sig_ranges = float_view(runner, sig, (ranges or {}).get(sig))
        notes += quantization_notes(sig, qin, quant.io_params(runner.output_details(sig)), model_name)
        if shapes:
            from ._shapes import with_shapes

            details = with_shapes(details, sig, shapes)
        if inputs is not None and sig in inputs:  # integers given for a quantized input: the reference sees their real values
            feeds_by_sig[sig] = [{n: quant.dequantize(a, qin[n]) if n in qin and np.asarray(a).dtype.kind in "iu" else a
                                  for n, a in f.items()} for f in inputs[sig]]
        else:
            feeds_by_sig[sig] = [  # other dynamic dims alternate between 4 and 7, so two sizes are tried even with one sample
                sample_inputs(details, batch=b, dynamic=(4, 7)[(i + k) % 2], rng=rng, ranges=sig_ranges)
                for i, b in enumerate(batch_sizes)
                for k in range(samples)
            ]
    ordinary = [s for s in feeds_by_sig if s not in stateful]
    steppers = [s for s in feeds_by_sig if s in stateful]
    for sig in list(ordinary):
        for feed in feeds_by_sig[sig]:
            case = _case(runner, reference, sig, feed, tolerance, (ranges or {}).get(sig), command=command)
            if case.error and _needs_flex(case.error):  # an op in a called subgraph (a loop body) needs Flex
                skipped[sig] = f"it needs select-TF ops, which the ai-edge-litert Python runtime cannot run ({case.error})"
                ordinary.remove(sig)
                break
            cases.append(case)
    for sig in steppers:
        feed = feeds_by_sig[sig][0]
        for step in range(steps):
            cases.append(_case(runner, reference, sig, feed, tolerance, (ranges or {}).get(sig), label=f"step {step + 1} of {steps}",
                               command=command))
    if steppers:
        for sig in ordinary:
            cases.append(_case(runner, reference, sig, feeds_by_sig[sig][0], tolerance, (ranges or {}).get(sig), command=command,
                               label=f"after {steps} steps of {', '.join(steppers)}"))
    return VerifyReport(model=model_name, against=against, tolerance=tolerance, cases=tuple(cases),
                        unverified=tuple(sorted(skipped.items())), inputs=inputs_note, quantization=tuple(notes))


def float_view(runner: Runner, sig: str, ranges: Mapping[str, tuple[float, float]] | None
               ) -> tuple[dict[str, TensorDetail], dict[str, quant.QuantParams], dict[str, tuple[float, float]]]:
    """A signature's inputs as the float source sees them: quantized integer inputs become float32, drawn
    within what their integer type represents (intersected with any known range, else with [-1, 1])."""
    details = runner.input_details(sig)
    qin = quant.io_params(details)
    out_ranges = dict(ranges or {})
    for name, p in qin.items():
        lo, hi = p.real_range
        want_lo, want_hi = out_ranges.get(name, (-1.0, 1.0))
        a, b = max(lo, want_lo), min(hi, want_hi)
        out_ranges[name] = (a, b) if a < b else (lo, hi)
    return ({n: replace(d, dtype=np.dtype(np.float32)) if n in qin else d for n, d in details.items()}, qin, out_ranges)


def quantization_notes(sig: str, ins: Mapping[str, quant.QuantParams], outs: Mapping[str, quant.QuantParams], where: str) -> list[str]:
    """What verify did to a file's integer I/O, one line per tensor."""
    return ([f"{where} {sig}/{n}: float inputs quantized to {p.dtype} with the file's scale {p.scale:.6g} and zero point {p.zero_point}"
             for n, p in ins.items()]
            + [f"{where} {sig}/{n}: {p.dtype} output dequantized with the file's scale {p.scale:.6g} and zero point {p.zero_point} before comparing"
               for n, p in outs.items()])


def _case(runner: Runner, reference: Reference, sig: str, feed: Mapping[str, np.ndarray], tolerance: Tolerance,
          ranges: Mapping[str, tuple[float, float]] | None, label: str = "", command: str = "verify") -> CaseReport:
    shapes = {n: tuple(a.shape) for n, a in feed.items()}
    if label:
        shapes = {**shapes, "(when)": label}  # type: ignore[dict-item]
    try:
        got = quant.run_float(runner, feed, sig)
    except Exception as e:  # report, don't crash: a failing signature is a finding
        return CaseReport(sig, shapes, (), f".tflite failed: {e}{_hints(runner, sig, feed, ranges, str(e), command)}")
    try:
        want = reference(sig, feed)
    except Exception as e:
        from .._messages import framework_message

        error = framework_message(e)
        return CaseReport(sig, shapes, (), f"reference failed: {error}{_hints(runner, sig, feed, ranges, error, command)}")
    reports = []
    for name, value in got.items():
        if name not in want:
            reports.append(OutputReport.failed(name, value.shape, f"the reference has no output {name!r} (it has: {', '.join(want)})"))
            continue
        reports.append(compare(name, want[name], value, tolerance))
    return CaseReport(sig, shapes, tuple(reports))


def _needs_flex(error: str) -> bool:
    return error.startswith(".tflite failed") and any(s in error for s in ("Flex", "Select TensorFlow op", "unresolved custom op"))


_ABOUT_SIZES = re.compile(r"shape|dimension|dims?\b|size|resiz|broadcast|mismatch|incompatible", re.IGNORECASE)


def _hints(runner: Runner, sig: str, feed: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]] | None,
           error: str, command: str) -> str:
    """What the user can do about a failed case, naming only flags the command has."""
    return _range_hint(feed, ranges, command) + (_sizes_hint(runner, sig, command) if _ABOUT_SIZES.search(error) else "")


def _sizes_hint(runner: Runner, sig: str, command: str) -> str:
    """Say that litesig chose the sizes of dynamic dims, and how to choose them instead."""
    dynamic = [n for n, d in runner.input_details(sig).items() if -1 in d.shape_signature]
    if not dynamic:
        return ""
    if command == "convert":
        return (f" (litesig chose the sizes of the dynamic dims of {', '.join(dynamic)}: batch 1 and 3, other dynamic dims 4 or 7; "
                "fix them with --input-shape NAME=D0,D1,... or `shape = [...]` in the spec, or give your inputs with --verify-inputs)")
    return (f" (litesig chose the sizes of the dynamic dims of {', '.join(dynamic)}: the batch from --batch-sizes, "
            "other dynamic dims 4 or 7; give --shape NAME=D0,D1,... to choose)")


def _range_hint(feed: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]] | None, command: str = "verify") -> str:
    """For a failure on integer inputs drawn from a default range: say so, and how to give a real one."""
    guessed = [n for n, a in feed.items() if np.asarray(a).dtype.kind in "iu" and n not in (ranges or {})]
    if not guessed:
        return ""
    lo, hi = DEFAULT_INT_RANGE
    return (f" (integer inputs {', '.join(guessed)} were drawn from [{lo}, {hi}) because litesig could not learn their valid range "
            "from the model: give one with `range = [low, high]` on the input in the spec, or your own inputs with "
            + ("--verify-inputs)" if command == "convert" else "--inputs)"))
