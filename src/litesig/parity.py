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

from . import quant
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
        """Defaults by what the file is (see docs/verification.md for why these numbers).

        `optimize` is a precision mode as precision.read_precision reads it from a file, or an
        --optimize name (the ai-edge-quantizer names map to the precision they produce).
        """
        from .precision import mode_of_optimize

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

    @property
    def passed(self) -> bool:
        """Every case that ran passed (at least one ran). Signatures in `unverified` do not count either way."""
        return bool(self.cases) and all(c.passed for c in self.cases)

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
    if not diff.size:  # nothing compared is not a pass: an empty output, or no value finite on both sides
        why = "nothing to compare: the output is empty" if not ref.size else "nothing to compare: no value is finite on both sides"
    elif bad_nan or bad_inf:
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
    from ._limits import check_array_size
    from .errors import InvalidInput, Problem

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
) -> VerifyReport:
    """Run each signature and the reference on the same inputs; report every output.

    With `inputs` (per signature, a list of input sets), those arrays are used instead of random ones.
    Signatures in `stateful` change variables (a training step): they run after the others, `steps`
    times on both sides from the same start, each step compared; then the other signatures run again
    so that what the steps changed is compared too. Signatures in `unverified` are not run.
    `shapes` fixes the shapes of inputs with dynamic dims ("<input>" or "<signature>/<input>").
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
            case = _case(runner, reference, sig, feed, tolerance, (ranges or {}).get(sig))
            if case.error and _needs_flex(case.error):  # an op in a called subgraph (a loop body) needs Flex
                skipped[sig] = f"it needs select-TF ops, which the ai-edge-litert Python runtime cannot run ({case.error})"
                ordinary.remove(sig)
                break
            cases.append(case)
    for sig in steppers:
        feed = feeds_by_sig[sig][0]
        for step in range(steps):
            cases.append(_case(runner, reference, sig, feed, tolerance, (ranges or {}).get(sig), label=f"step {step + 1} of {steps}"))
    if steppers:
        for sig in ordinary:
            cases.append(_case(runner, reference, sig, feeds_by_sig[sig][0], tolerance, (ranges or {}).get(sig),
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
          ranges: Mapping[str, tuple[float, float]] | None, label: str = "") -> CaseReport:
    shapes = {n: tuple(a.shape) for n, a in feed.items()}
    if label:
        shapes = {**shapes, "(when)": label}  # type: ignore[dict-item]
    try:
        got = quant.run_float(runner, feed, sig)
    except Exception as e:  # report, don't crash: a failing signature is a finding
        return CaseReport(sig, shapes, (), f".tflite failed: {e}{_range_hint(feed, ranges)}{_sizes_hint(runner, sig)}")
    try:
        want = reference(sig, feed)
    except Exception as e:
        from ._messages import framework_message

        return CaseReport(sig, shapes, (), f"reference failed: {framework_message(e)}{_range_hint(feed, ranges)}{_sizes_hint(runner, sig)}")
    reports = []
    for name, value in got.items():
        if name not in want:
            reports.append(OutputReport.failed(name, value.shape, f"the reference has no output {name!r} (it has: {', '.join(want)})"))
            continue
        reports.append(compare(name, want[name], value, tolerance))
    return CaseReport(sig, shapes, tuple(reports))


def _needs_flex(error: str) -> bool:
    return error.startswith(".tflite failed") and any(s in error for s in ("Flex", "Select TensorFlow op", "unresolved custom op"))


def _sizes_hint(runner: Runner, sig: str) -> str:
    """Say that litesig chose the sizes of dynamic dims, and how to choose them instead."""
    dynamic = [n for n, d in runner.input_details(sig).items() if -1 in d.shape_signature]
    if not dynamic:
        return ""
    return (f" (litesig chose the sizes of the dynamic dims of {', '.join(dynamic)}: the batch from --batch-sizes, "
            "other dynamic dims 4 or 7; give --shape NAME=D0,D1,... to choose)")


def _range_hint(feed: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]] | None) -> str:
    """For a failure on integer inputs drawn from a default range: say so, and how to give a real one."""
    guessed = [n for n, a in feed.items() if np.asarray(a).dtype.kind in "iu" and n not in (ranges or {})]
    if not guessed:
        return ""
    lo, hi = DEFAULT_INT_RANGE
    return (f" (integer inputs {', '.join(guessed)} were drawn from [{lo}, {hi}) because litesig could not learn their valid range "
            "from the model: give one with `range = [low, high]` on the input in the spec, or your own inputs with --verify-inputs)")


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
    code: Sequence[str | os.PathLike[str]] = (),
    progress: Callable[[str], None] | None = None,
    names: Any = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> VerifyReport:
    """Run every signature of `model` (or one) and `against` on the same inputs; report every output.

    The reference is the source called the way a user calls it (reference.py): a spec's models
    wired only through the spec's names, a SavedModel's signature of the same name by keyword, a
    Keras model on the input structure it declares, or another .tflite.

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
        unsafe / code: as for convert: load .keras files with code, import files defining custom classes.
        names: against another .tflite: a rename map (path or RenamePlan) from its names to this
            file's; without one, signatures/inputs/outputs are paired by name, else by structure.
        shapes: {"<input>" or "<signature>/<input>": shape} for inputs with dynamic dims.

    Returns:
        A VerifyReport; `.passed` is False when any output of any case fails.
    """
    from ._io import describe
    from .precision import looser, read_precision

    say = progress or (lambda _step: None)
    if code and not unsafe:
        from .errors import InvalidInput, Problem

        raise InvalidInput("verify", [Problem("--code", "importing Python files runs their code: pass --unsafe too if you trust them")])
    _check_sizes(samples, batch_sizes)
    runner = Runner(model)
    signatures = [runner.resolve(signature)] if signature else runner.signatures
    if not signatures:
        from .errors import LitesigError

        raise LitesigError(f"{describe(model)}: the model has no signatures to verify")
    detail = read_precision(runner.model) if runner.model is not None else None
    mode = detail.mode if detail is not None else "none"
    say(f"Preparing the reference ({_describe_against(against)})")
    if isinstance(names, (str, os.PathLike)):
        from .renaming import load_rename_map

        names = load_rename_map(names)
    reference, other_mode = _reference(against, signatures, runner, unsafe=unsafe, code=[Path(c) for c in code], names=names)
    described = f"{describe(model)}: {detail.label if detail else mode}"
    notes: list[str] = []
    if other_mode is not None:
        mode = looser(mode, other_mode)
        described += f"; {_describe_against(against)}: {_other_label(against, notes)}"
    base = Tolerance.for_mode(mode)
    tol = Tolerance(atol=base.atol if atol is None else atol, rtol=base.rtol if rtol is None else rtol,
                    min_cosine=base.min_cosine if min_cosine is None else min_cosine,
                    name=base.name if (atol, rtol, min_cosine) == (None, None, None) else f"{base.name}, overridden")
    feeds = _user_inputs(inputs, signatures, runner) if inputs is not None else None
    say("Running both sides")
    report = _run_against(runner, reference, signatures, tol, model_name=describe(model), against=_describe_against(against),
                          batch_sizes=batch_sizes, samples=samples, seed=seed, inputs=feeds, shapes=shapes,
                          inputs_note=f"yours: {os.fspath(inputs)}" if isinstance(inputs, (str, os.PathLike)) else
                          "yours" if inputs is not None else "")
    return replace(report, precision=described, quantization=report.quantization + tuple(notes))


def verify_spec(content: bytes, spec: Any, *, tolerance: Tolerance, model_name: str,
                calibration: Mapping[str, Sequence[Mapping[str, np.ndarray]]] | None = None) -> VerifyReport:
    """The check convert runs before writing: the file against the spec's models, loaded anew and called as a user would.

    Inputs: the spec's [verify] inputs when given; else random, within each input's realistic range
    (the spec's `range`, an Embedding's size, and for int8 the calibration data's range, whose first
    samples are also run).
    """
    from .reference import SpecReference

    runner = Runner(content, name=model_name)
    reference = SpecReference(spec)
    signatures = [s.name for s in spec.signatures if s.name in runner.signatures]
    feeds: dict[str, list[dict[str, np.ndarray]]] | None = None
    note = ""
    if spec.options.verify_inputs is not None:
        feeds = _user_inputs(spec.options.verify_inputs, signatures, runner)
        note = f"yours: {spec.options.verify_inputs}"
    ranges = reference.input_ranges()
    if calibration and feeds is None:
        feeds = {}
        for sig, samples_ in calibration.items():
            cal = ranges.setdefault(sig, {})
            for name in samples_[0] if samples_ else ():
                values = np.concatenate([np.asarray(s[name]).ravel() for s in samples_])
                if values.size and values.dtype.kind == "f":
                    cal.setdefault(name, (float(values.min()), float(values.max())))
                elif values.size and values.dtype.kind in "iu":  # integer ranges exclude their high end
                    cal.setdefault(name, (float(values.min()), float(values.max()) + 1))
            if samples_:
                details, _, cal = float_view(runner, sig, cal)  # integer I/O: the source still takes floats
                rng = np.random.default_rng(0)
                feeds[sig] = [dict(samples_[0])] + [sample_inputs(details, batch=b, dynamic=4, rng=rng, ranges=cal) for b in (1, 3)]
        note = "the calibration data's first sample, and random inputs within its range"
    return _run_against(runner, reference, signatures, tolerance, model_name=model_name, against=spec.source,
                        ranges=ranges, inputs=feeds, inputs_note=note)


def _run_against(runner: Runner, reference: Any, signatures: Sequence[str], tolerance: Tolerance, *, model_name: str,
                 against: str, inputs: Mapping[str, Sequence[Mapping[str, np.ndarray]]] | None = None,
                 ranges: Mapping[str, Mapping[str, tuple[float, float]]] | None = None, inputs_note: str = "",
                 **options: Any) -> VerifyReport:
    """Sort the signatures into those to run, those that step state, and those this runtime cannot run; then run."""
    if ranges is None:
        ranges = reference.input_ranges() if hasattr(reference, "input_ranges") else {}
    unverified = {}
    flex = _flex_by_signature(runner)
    for sig in signatures:
        touches = getattr(reference, "touches_files", lambda _s: False)(sig)
        if touches:
            unverified[sig] = "it reads or writes files (a checkpoint save/restore); litesig does not run it on either side"
        elif flex.get(sig):
            unverified[sig] = (f"it needs select-TF ops ({', '.join(flex[sig])}), which the ai-edge-litert Python runtime cannot run; "
                               "the app needs the select-TF-ops runtime")
    stateful = [s for s in signatures if getattr(reference, "stateful", lambda _s: False)(s) and s not in unverified]
    if not inputs_note:
        described = {sig: {n: list(r) for n, r in rs.items()} for sig, rs in ranges.items() if rs}
        inputs_note = "random" + (f", ranges {described}" if described else "")
    return run_parity(runner, reference, signatures=signatures, tolerance=tolerance, model_name=model_name, against=against,
                      ranges=ranges, inputs=inputs, stateful=stateful, unverified=unverified, inputs_note=inputs_note, **options)


def _flex_by_signature(runner: Runner) -> dict[str, list[str]]:
    """Per signature, the select-TF (Flex) ops its subgraph uses."""
    model = runner.model
    if model is None:
        return {}
    out = {}
    for s in model.signatures:
        if not 0 <= s.subgraph_index < len(model.subgraphs):
            continue
        ops = set()
        for op in model.subgraphs[s.subgraph_index].operators:
            if 0 <= op.opcode_index < len(model.operator_codes):
                code = model.operator_codes[op.opcode_index].custom_code
                if code and code.startswith("Flex"):
                    ops.add(code)
        out[s.key] = sorted(ops)
    return out


def _other_label(against: Any, notes: list[str]) -> str:
    """The other .tflite's precision label; notes on its integer I/O (verify quantizes and dequantizes it too)."""
    from .model_info import inspect

    info = inspect(against)
    for sig, s in info.signatures.items():
        ins = {n: p for n, t in s.inputs.items() if (p := _qparams(t)) is not None}
        outs = {n: p for n, t in s.outputs.items() if (p := _qparams(t)) is not None}
        notes += quantization_notes(sig, ins, outs, _describe_against(against))
    return info.precision_detail.label if info.precision_detail else info.precision


def _qparams(t: Any) -> quant.QuantParams | None:
    q = t.quantization
    if q is None or q.per_axis or q.scale is None:
        return None
    return quant.params(t.dtype, (q.scale, q.zero_point or 0))


def _check_sizes(samples: int, batch_sizes: Sequence[int]) -> None:
    """Zero, negative or absurd sizes are bad input (exit 2), not a pass on nothing."""
    from .errors import InvalidInput, Problem

    problems = []
    if not 1 <= samples <= 10_000:
        problems.append(Problem("--samples", f"{samples}: expected 1 to 10000"))
    if not batch_sizes:
        problems.append(Problem("--batch-sizes", "none given"))
    problems += [Problem("--batch-sizes", f"{b}: expected 1 to 1000000") for b in batch_sizes if not 1 <= b <= 1_000_000]
    if problems:
        raise InvalidInput("verify", problems)


def _describe_against(against: Any) -> str:
    source = getattr(against, "source", None)
    return str(source) if source else os.fspath(against) if isinstance(against, (str, os.PathLike)) else f"<{type(against).__name__}>"


def _reference(against: Any, signatures: Sequence[str], runner: Runner, *, unsafe: bool,
               code: Sequence[Path] = (), names: Any = None) -> tuple[Any, str | None]:
    """A callable computing the expected outputs (reference.py), and the other side's precision if it is a .tflite."""
    from .errors import InvalidInput, LitesigError, Problem
    from .spec import Spec, load_spec

    if isinstance(against, Spec) or (isinstance(against, (str, os.PathLike)) and Path(against).suffix.lower() == ".toml"):
        from .reference import SpecReference

        spec = against if isinstance(against, Spec) else load_spec(against)
        spec = replace(spec, options=replace(spec.options, unsafe=spec.options.unsafe or unsafe,
                                             code=spec.options.code or tuple(code)))
        for sig in signatures:
            spec.signature(sig)  # SignatureNotFound if the spec lacks it
        return SpecReference(spec), None

    if not isinstance(against, (str, os.PathLike)):
        raise LitesigError(f"cannot verify against {type(against).__name__}; give a spec, a SavedModel directory, a .keras/.h5 file or a .tflite")
    path = Path(against)
    if not path.exists():
        raise InvalidInput(str(path), [Problem("--against", "no such file or directory")])
    if path.suffix.lower() == ".tflite":  # followed across renames: by --map, by name, or by structure
        from .model_info import precision
        from .reference_tflite import tflite_reference

        reference, other_model, _ = tflite_reference(path, signatures, runner, names=names)
        return reference, precision(other_model) if other_model else "none"
    if names is not None:
        raise InvalidInput(str(path), [Problem("--map", "a names map pairs a .tflite with another .tflite; this reference is not one")])

    if path.is_dir():
        from .reference import SavedModelReference

        return SavedModelReference(path, signatures, unsafe=unsafe, code=code), None

    if len(signatures) != 1:
        raise LitesigError(f"{path} is one model and the .tflite has {len(signatures)} signatures ({', '.join(signatures)}); "
                           "pick one with --signature, or verify against a spec")
    return _keras_reference(path, signatures[0], runner, unsafe=unsafe, code=code), None


def _keras_reference(path: Path, sig: str, runner: Runner, *, unsafe: bool, code: Sequence[Path]) -> Any:
    """A Keras model against a one-signature file: inputs and outputs matched by name, else in the file's order."""
    from .errors import LitesigError
    from .reference import call_source
    from .sources import Loader

    src = Loader(unsafe=unsafe, code=code).load("model", path)
    tflite_inputs = _file_order(runner, sig, "inputs")
    model_inputs = list(src.input_names())
    if len(tflite_inputs) != len(model_inputs):
        raise LitesigError(f"{path} takes {len(model_inputs)} inputs ({', '.join(model_inputs)}); signature {sig!r} has {len(tflite_inputs)}")
    by_name = set(model_inputs) == set(tflite_inputs)
    input_map = {m: m for m in model_inputs} if by_name else dict(zip(model_inputs, tflite_inputs))
    tflite_outputs = _file_order(runner, sig, "outputs")
    model_outputs = list(src.output_names)
    if len(model_outputs) != len(tflite_outputs):
        raise LitesigError(f"{path} has {len(model_outputs)} outputs; signature {sig!r} has {len(tflite_outputs)}")
    output_map = {m: m for m in model_outputs} if set(model_outputs) == set(tflite_outputs) else dict(zip(model_outputs, tflite_outputs))

    class KerasReference:
        def __call__(self, _sig: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            outs = call_source(src, {m: feed[t] for m, t in input_map.items()})
            return {output_map[m]: v for m, v in outs.items()}

        def input_ranges(self) -> dict[str, dict[str, tuple[float, float]]]:
            return {sig: {input_map[i.name]: i.int_range for i in src.inputs if i.int_range}}

    return KerasReference()


def _file_order(runner: Runner, sig: str, kind: str) -> list[str]:
    """Signature input/output names in the order the file stores them (the order they were converted in)."""
    if runner.model is None:
        return list(runner.input_details(sig) if kind == "inputs" else runner.output_details(sig))
    s = next(s for s in runner.model.signatures if s.key == sig)
    return [tm.name for tm in (s.inputs if kind == "inputs" else s.outputs)]


def _user_inputs(inputs: str | os.PathLike[str] | Mapping[str, np.ndarray], signatures: Sequence[str],
                 runner: Runner) -> dict[str, list[dict[str, np.ndarray]]]:
    from .errors import InvalidInput, Problem

    from ._arrays import array_key, load_npz

    source = "inputs" if isinstance(inputs, Mapping) else os.fspath(inputs)
    arrays = dict(inputs) if isinstance(inputs, Mapping) else load_npz(inputs, "--inputs")
    feeds: dict[str, list[dict[str, np.ndarray]]] = {}
    problems = []
    for sig in signatures:
        names = list(runner.input_details(sig))
        feed = {n: arrays[key] for n in names if (key := array_key(arrays, sig, n)) is not None}
        if len(feed) == len(names):
            feeds[sig] = [feed]
        else:
            problems.append(Problem(sig, f"no arrays for inputs {', '.join(n for n in names if n not in feed)} "
                                         f"(keys \"<signature>/<input>\" or \"<input>\"; the file has: {', '.join(arrays) or 'none'})"))
    if problems:
        raise InvalidInput(source, problems)
    return feeds
