"""convert(): a spec (or a model path with flags) to one verified .tflite.

The steps, each in its own module: the model-path form becomes a spec (flags.py); the sources
are loaded, routed and traced into one tf.Module (wrapping.py); it is saved as a SavedModel and
converted with `signature_keys` (converter.py, quantizer.py); integer I/O is edited per tensor
(io_plan.py, tflite.io_types); the result is run on LiteRT against the sources called as a
user calls them (verification) before anything is written.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar


from .._io import check_writable, overwrites_input, source_problem, temp_dir_prefix, write_atomic
from ..errors import ConversionFailed, InvalidInput, LitesigError, Problem, VerificationFailed
from ..tflite.io_types import set_io_dtypes
from .io_plan import io_problems, wanted_io_dtypes, with_flag_io_dtypes
from ..verification.parity import Tolerance, VerifyReport
from .quantizer import needs_calibration, uses_quantizer
from .quantizer import quantize as quantize_tflite
from ..sources.routing import Plan, plan_signatures
from ..tflite.runtime_compat import check_target
from ..sources.models import Loader
from ..sources.spec import FIXED_SHAPE_TARGETS, ConvertOptions, Spec, load_spec
from ._timing import Progress, timed
from .converter import load_calibration, run_converter, run_converter_isolated
from .flags import ModelFlags, spec_from_flags, split_keywords
from .wrapping import trace

@dataclass(frozen=True)
class ConvertResult:
    """What `convert` wrote."""

    path: Path
    size_bytes: int
    optimize: str
    signatures: dict[str, dict[str, list[str]]]  # name -> {"inputs": [...], "outputs": [...]}
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    verification: VerifyReport | None = None
    notes: list[str] = field(default_factory=list)  # things the user asked for that did not happen as expected
    wiring: dict[str, list[str]] = field(default_factory=dict)  # signature -> "model.input <- input", "output <- model.output"

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `litesig convert --json`."""
        return {"path": str(self.path), "size_bytes": self.size_bytes, "optimize": self.optimize, "signatures": self.signatures,
                "wiring": self.wiring, "timings": self.timings,
                "verification": self.verification.to_dict() if self.verification else None, "notes": self.notes}


_PYTHON_ARGUMENTS = {"input_shape": "input_shapes", "target": "targets", "verify_input": "verify_inputs"}


def python_name(where: str) -> str:
    """A problem's location as a Python caller wrote it: '--input-names' -> 'input_names', 'options.optimize' -> 'optimize'."""
    where = where.removeprefix("options.")
    return re.sub(r"--([a-z][a-z-]*)", lambda m: _PYTHON_ARGUMENTS.get(m[1].replace("-", "_"), m[1].replace("-", "_")), where)


P = ParamSpec("P")
R = TypeVar("R")


def _argument_names(fn: Callable[P, R]) -> Callable[P, R]:
    """Python callers get each problem named by the argument they wrote (`input_names`); the CLI passes `_cli=True`
    and keeps its flags (`--input-names`), which is how problems are raised inside."""

    @functools.wraps(fn)
    def named(*args: P.args, **keywords: P.kwargs) -> R:
        from_cli = bool(keywords.pop("_cli", False))
        try:
            return fn(*args, **keywords)
        except InvalidInput as e:
            if from_cli:
                raise
            raise InvalidInput(e.source, [Problem(python_name(p.where), p.message) for p in e.problems]) from None

    return named


@_argument_names
def convert(
    source: Spec | str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: ConvertOptions | None = None,
    *,
    flags: ModelFlags | None = None,
    dry_run: bool = False,
    force: bool = False,
    verify: bool = True,
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
    **keywords: Any,
) -> ConvertResult:
    """Convert models to one .tflite with the signatures a spec (or the flags) name.

    Args:
        source: a Spec, a .toml spec path, a .keras/.h5 file, or a SavedModel directory.
        output: the .tflite path to write (atomically; refused if it exists unless `force`).
        options: how to convert (precision, calibration, target runtime, ...): replaces the spec's
            [convert] table; default: the spec's, else `ConvertOptions()`.
        flags: for a model path (not a spec): the signature name, new input/output names, shapes
            (`ModelFlags`); a spec says these itself.
        dry_run: load and plan only: return the wiring and names, convert and write nothing.
        force: replace `output` if it exists.
        verify: run the result against the source before writing; fail if it differs.
        tolerance: override the default tolerance for the optimize mode.
        progress: called with a short description as each slow step starts.
        **keywords: the thin layer that mirrors the CLI flags: any field of `ConvertOptions`
            (optimize="float16", calibration="calib.npz", select_tf_ops=True, unsafe=True, code=[...],
            verify_inputs=..., target_runtime="2.14", input_dtype="uint8", output_dtype=..., recipe=...)
            or of `ModelFlags` (signature="classify", signature_keys=[...], input_names=["image"] or
            "image", output_names=..., input_shapes={"x": [1, 12, 4]}, input_map={"old": "new"},
            output_map=...). Each given one overrides `options`/`flags`; None means not given.

    Raises:
        InvalidInput: a bad spec or flags (every problem listed).
        ConversionFailed: the converter refused the model.
        VerificationFailed: the converted model does not compute what the source does.
        TypeError: a keyword argument that is no option.
    """
    say = progress or (lambda _step: None)
    timings: dict[str, float] = {}
    out_path = check_writable(output, force=force or dry_run)

    spec = source if isinstance(source, Spec) else None
    if spec is None and _is_spec_file(source):
        spec = load_spec(source)  # type: ignore[arg-type]
    base = options if options is not None else (spec.options if spec else ConvertOptions())
    options, flags = split_keywords(base, flags or ModelFlags(), keywords)
    problems = options.problems("options")
    if spec is not None and flags.given():
        problems.append(Problem("flags", f"{', '.join(flags.given())}: these are for a model path; a spec says them itself"))
    if spec is None:  # before TensorFlow loads: a wrong path answers at once
        unusable = source_problem(source)  # type: ignore[arg-type]
        if unusable:
            problems.append(Problem("", unusable))
    read = [source if spec is None else spec.source, *(m.path for m in (spec.models.values() if spec else ())),
            *(p for p in (options.calibration, options.verify_inputs, options.recipe) if p is not None), *options.code]
    clash = None if dry_run else overwrites_input(out_path, [r for r in read if isinstance(r, (str, os.PathLike))])
    if clash:
        problems.append(Problem("output", f"{out_path} {clash}"))
    if spec is not None and not problems:
        problems += _calibration_keys(spec, options)
    if problems:
        raise InvalidInput(spec.source if spec else str(source), problems)

    with timed(timings, "import_tensorflow"):
        say("Loading TensorFlow")
        from .._tf import import_tf

        tf = import_tf()
    loader = Loader(unsafe=options.unsafe, code=options.code)
    if spec is None:
        with timed(timings, "load_models"):
            say("Loading models")
            spec = spec_from_flags(Path(source), loader, flags, options)  # type: ignore[arg-type]
    else:
        spec = replace(spec, options=options)
    if dry_run:
        with timed(timings, "load_models"):
            say("Loading models")
            plans = plan_signatures(spec, {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()})
        return ConvertResult(path=out_path, size_bytes=0, optimize=options.optimize, signatures=_names(plans), timings=timings,
                             notes=["dry run: nothing was converted or written", *spec.notes], wiring={p.name: p.wiring() for p in plans})
    spec = with_flag_io_dtypes(spec, options.input_dtype, options.output_dtype)
    io_errors = io_problems(spec, options.optimize)
    if io_errors:
        raise InvalidInput(spec.source, io_errors)
    traced = trace(spec, loader=loader, timings=timings, progress=say, fixed_shapes=next((t for t in options.targets if t in FIXED_SHAPE_TARGETS), None),
                   web_boundary="web" in options.targets)
    plans, functions = traced.plans, traced.functions
    quantizing = uses_quantizer(options.optimize, options.recipe)
    calibrate = options.optimize == "int8" or (quantizing and needs_calibration(options.optimize, options.recipe))
    calibration_data = load_calibration(options, [(p.name, p.inputs) for p in plans]) if calibrate else None

    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix()) as tmp:  # a killed run's folder is removed by the next
        saved = Path(tmp) / "saved_model"
        with timed(timings, "save"):
            say("Saving the wrapped SavedModel")
            try:
                tf.saved_model.save(traced.module, str(saved), signatures=functions)
            except Exception as e:
                raise ConversionFailed(f"saving the wrapped models as a SavedModel failed: {type(e).__name__}: {e}") from None
        with timed(timings, "convert"):
            n = len(next(iter(calibration_data.values()))) if calibration_data else 0
            say("Converting" + (f" and calibrating int8 on {n} samples per signature" if calibration_data else ""))
            if calibration_data and not quantizing:
                content = run_converter_isolated(saved, [p.name for p in plans], options, calibration_data)
            else:  # ai-edge-quantizer's modes start from the float conversion
                content = run_converter(tf, saved, [p.name for p in plans], replace(options, optimize="none") if quantizing else options, None)
        if quantizing:
            with timed(timings, "quantize"):
                say(f"Quantizing with ai-edge-quantizer ({options.recipe or options.optimize})")
                content = quantize_tflite(content, options.optimize, recipe=options.recipe, calibration=calibration_data)
        content = set_io_dtypes(content, wanted_io_dtypes(spec), source=spec.source)

    target_notes = check_target(content, options.optimize, options.target_runtime, out_path)  # TargetRuntimeMissed: nothing written
    from ..tflite.restructure import reorder  # the converter sorts names; the SignatureDefs list them as declared

    order_notes = []
    try:
        content = reorder(content, {p.name: ([i.name for i in p.inputs], [r.output for r in p.routes]) for p in plans},
                          signatures=[p.name for p in plans])
    except LitesigError as e:  # the file is still right; only the order is the converter's
        order_notes.append(f"the signatures keep the converter's order, not the declared one: {e}")
    report = None
    if verify:
        with timed(timings, "verify"):
            say("Verifying the result against the source, called as you would call it")
            report = _verify(content, spec, tolerance or Tolerance.for_mode(_precision_mode(content) if options.recipe else options.optimize),
                             out_path, calibration_data, options.targets)
        if not report.cases and report.unverified:
            flex = _flex_ops(content)
            raise VerificationFailed(
                f"{out_path} was not written: no signature could be run here, so litesig cannot prove the file computes what "
                "the source does:\n  - " + "\n  - ".join(report.notes) + "\nPass --no-verify to write it unverified"
                + (" (the app needs the select-TF-ops runtime)" if flex else "")
                + (", or fix the batch dimension so recurrent layers convert to builtin ops." if any("TensorList" in f for f in flex) else "."),
                report,
            )
        if not report.passed:
            raise VerificationFailed(
                f"{out_path} was not written: the converted model does not compute what the source computes:\n  - "
                + "\n  - ".join(report.failures()[:10]),
                report,
            )
    metadata = next((s.metadata for s in spec.signatures if s.metadata is not None), None)
    if metadata is not None:  # [signatures.NAME.metadata]: what `litesig metadata` writes, on the proven bytes
        from ..tflite.metadata import add_metadata

        content = add_metadata(content, metadata, spec.source)
    write_atomic(out_path, content, replace=force)  # without force, a file created meanwhile is not overwritten
    notes = list(spec.notes) + _notes(content, options) + traced.notes + order_notes + target_notes
    if report is not None:
        notes += report.notes
    return ConvertResult(
        path=out_path,
        size_bytes=len(content),
        optimize=options.optimize,
        signatures=_names(plans),
        timings=timings,
        verification=report,
        notes=notes,
        wiring={p.name: p.wiring() for p in plans},
    )


def _calibration_keys(spec: Spec, options: ConvertOptions) -> list[Problem]:
    """A spec declares its signatures' input names: a calibration .npz without a key for one is refused before
    TensorFlow loads (seconds sooner). Only the member names are read; the arrays are checked later, as always."""
    import zipfile

    path = options.calibration
    calibrates = options.optimize == "int8" or (uses_quantizer(options.optimize, options.recipe)
                                                and needs_calibration(options.optimize, options.recipe))
    if path is None or not calibrates or Path(path).suffix.lower() != ".npz":
        return []
    from .._io import open_regular

    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as zf:  # a FIFO or a device is refused, not waited on
            keys = {n.removesuffix(".npy") for n in zf.namelist()}
    except (OSError, LitesigError, zipfile.BadZipFile, ValueError):
        return []  # unreadable: load_calibration says why, with the file's name
    missing = [f"{sig.name}/{inp.name}" for sig in spec.signatures for inp in sig.inputs
               if f"{sig.name}/{inp.name}" not in keys and inp.name not in keys]
    return [Problem(m, f"no array for this input in {path} (keys are \"<signature>/<input>\" or \"<input>\"; the file has: "
                       f"{', '.join(sorted(keys)[:20]) or 'none'})") for m in missing]


def _names(plans: Sequence[Plan]) -> dict[str, dict[str, list[str]]]:
    return {p.name: {"inputs": [i.name for i in p.inputs], "outputs": [r.output for r in p.routes]} for p in plans}


def _precision_mode(content: bytes) -> str:
    from ..tflite.flatbuffer import read_model
    from ..tflite.model_info import precision

    return precision(read_model(content))


def _notes(content: bytes, options: ConvertOptions) -> list[str]:
    """What to tell the user about the result that they may not expect."""
    from ..tflite.flatbuffer import read_model
    from ..tflite.model_info import precision

    got = precision(read_model(content))
    if options.optimize != "none" and got == "none":
        return [f"--optimize {options.optimize} left every weight in float32: the converter quantizes only weight tensors "
                "of at least 1024 elements, and this model has none that large"]
    return []


def _flex_ops(content: bytes) -> list[str]:
    from ..tflite.model_info import inspect

    return inspect(content).flex_ops


def _is_spec_file(source: object) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".toml"


# ---------------------------------------------------------------------------------------------
# Verifying what was converted, before it is written


def _verify(content: bytes, spec: Spec, tolerance: Tolerance, out_path: Path, calibration: Any, targets: Sequence[str] = ()) -> VerifyReport:
    """Run the file against the source models called as a user calls them (reference.py), never the wrapper;
    on the Interpreter and on every target runtime."""
    from ..verification.verify import verify_spec

    try:
        return verify_spec(content, spec, tolerance=tolerance, model_name=str(out_path), calibration=calibration, on=targets)
    except VerificationFailed:
        raise
    except LitesigError as e:
        raise VerificationFailed(f"{out_path} was not written: the converted model cannot be run: {e}") from None
