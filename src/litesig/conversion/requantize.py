"""quantize(): any float .tflite (Keras export, litert-torch, a download) to a smaller or integer one, proven.

No TensorFlow: ai-edge-quantizer edits the .tflite (the `quantize` extra), the file's signatures,
names and order survive, the associated files (a zip after the flatbuffer) are carried over, and
every signature of the result is run against the float file, on the calibration samples for the
static modes, with the quantization-aware tolerance convert uses, before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_writable, write_atomic
from ..errors import InvalidInput, Problem, VerificationFailed
from ..sources.spec import IO_DTYPES, ConvertOptions, InputSpec
from ..tflite import flatbuffer as fb
from ..verification.parity import VerifyReport
from ._timing import Progress
from .quantizer import FILE_RECIPES, STATIC, needs_calibration

QUANTIZE_MODES = tuple(FILE_RECIPES)  # dynamic-int8 by ai-edge-quantizer's equivalent of the converter's mode


@dataclass(frozen=True)
class QuantizeResult:
    """What `quantize` wrote and proved."""

    path: Path
    size_bytes: int
    source_bytes: int
    optimize: str
    precision: str
    signatures: dict[str, dict[str, list[str]]]
    verification: VerifyReport | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size_bytes": self.size_bytes, "source_bytes": self.source_bytes, "optimize": self.optimize,
                "precision": self.precision, "signatures": self.signatures,
                "verification": self.verification.to_dict() if self.verification else None, "notes": self.notes}


def quantize(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    optimize: str | None = None,
    recipe: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    input_dtype: str | None = None,
    output_dtype: str | None = None,
    target_runtime: str | None = None,
    force: bool = False,
    verify: bool = True,
    progress: Progress | None = None,
) -> QuantizeResult:
    """Quantize a float .tflite and prove every signature against it before writing.

    Args:
        model: the float .tflite.
        output: the .tflite to write (atomically; refused if it exists unless `force`).
        optimize: one of QUANTIZE_MODES (dynamic-int8, weight-only-int8/int4, dynamic-int4, blockwise-int4,
            static-int8, static-int16), or None with `recipe`.
        recipe: an ai-edge-quantizer recipe .json instead of a mode.
        calibration: static modes: an .npz of sample inputs keyed "<signature>/<input>" or "<input>",
            first axis = samples (as for convert), or a .npy for a single input.
        input_dtype / output_dtype: int8/int16 (or uint8) I/O for every signature (static modes).
        target_runtime: refuse a result that this LiteRT/TF Lite release cannot load (e.g. "2.14").
        verify: run the result against `model` first (default); fail and write nothing if it differs.

    Raises:
        InvalidInput: bad flags, a model that is not float, calibration that fits no input; nothing written.
        ConversionFailed: ai-edge-quantizer refused the model.
        VerificationFailed: the result does not compute what the float file does; nothing written.
    """
    from ..runtimes.interpreter import Runner
    from ..tflite.precision import read_precision
    from ..tflite.runtime_compat import check_target, target_problem
    from ..verification.verify import verify as verify_file
    from .converter import load_calibration
    from .quantizer import quantize as quantize_bytes

    say = progress or (lambda _step: None)
    source = Path(model)
    read = [source, *(Path(p) for p in (recipe, calibration) if p is not None)]
    out_path = check_writable(output, force=force, inputs=read)
    problems = []
    if (optimize is None) == (recipe is None):
        problems.append(Problem("--optimize", f"give one of {', '.join(QUANTIZE_MODES)}, or --recipe FILE.json"))
    elif optimize is not None and optimize not in QUANTIZE_MODES:
        hint = (" (float16 and the converter's int8 start from the source: litesig convert ... --optimize float16|int8)"
                if optimize in ("float16", "int8") else "")
        problems.append(Problem("--optimize", f"unknown mode {optimize!r}; expected one of {', '.join(QUANTIZE_MODES)}{hint}"))
    for flag, value in (("--input-dtype", input_dtype), ("--output-dtype", output_dtype)):
        if value is not None and value not in IO_DTYPES:
            problems.append(Problem(flag, f"unknown I/O type {value!r}; expected one of {', '.join(IO_DTYPES)}"))
    static = (optimize in STATIC) or (recipe is not None and needs_calibration("none", Path(recipe)))
    if (input_dtype or output_dtype) and not static:
        problems.append(Problem("--input-dtype/--output-dtype", "integer I/O needs integer activations: --optimize static-int8 or static-int16"))
    if static and calibration is None:
        problems.append(Problem("--calibration", "static modes quantize activations: give sample inputs (.npz keyed like convert's)"))
    if target_runtime is not None and (why := target_problem(target_runtime)):
        problems.append(Problem("--target-runtime", why))
    if problems:
        raise InvalidInput(str(source), problems)

    runner = Runner(source)
    precision = read_precision(runner.model) if runner.model is not None else None
    if precision is not None and precision.mode != "none":
        raise InvalidInput(str(source), [Problem("", f"already quantized ({precision.label}); quantize starts from a float32 "
                                                     "file: give the float one")])
    content, _ = fb.load(source)
    samples = None
    if static:
        signatures = [(sig, [InputSpec(n, d.dtype.name, tuple(d.shape_signature)) for n, d in runner.input_details(sig).items()])
                      for sig in runner.signatures]
        samples = load_calibration(ConvertOptions(calibration=Path(calibration)), signatures)  # type: ignore[arg-type]
    say(f"Quantizing with ai-edge-quantizer ({recipe or optimize})")
    mode = optimize or "recipe"
    result = quantize_bytes(content, mode, recipe=Path(recipe) if recipe is not None else None, calibration=samples)
    if input_dtype or output_dtype:
        from ..tflite.io_types import set_io_dtypes

        wanted = {sig: {"inputs": {n: input_dtype for n in runner.input_details(sig)} if input_dtype else {},
                        "outputs": {n: output_dtype for n in runner.output_details(sig)} if output_dtype else {}}
                  for sig in runner.signatures}
        result = set_io_dtypes(result, wanted, source=str(source))
    result = _with_associated_files(result, content)
    notes = check_target(result, mode, target_runtime, out_path)
    report = None
    if verify:
        say("Verifying every signature against the float file")
        feeds = _calibration_feeds(samples) if samples else None
        report = verify_file(result, source, inputs=feeds)
        if not report.passed:
            raise VerificationFailed(f"{out_path} was not written: the quantized file does not compute what {source} computes:\n  - "
                                     + "\n  - ".join(report.failures()[:10]), report)
    write_atomic(out_path, result, replace=force)
    parsed = fb.read_model(result)
    return QuantizeResult(
        path=out_path, size_bytes=len(result), source_bytes=len(content), optimize=str(recipe or optimize),
        precision=read_precision(parsed).label,
        signatures={s.key: {"inputs": [t.name for t in s.inputs], "outputs": [t.name for t in s.outputs]} for s in parsed.signatures},
        verification=report, notes=notes + (report.notes if report else []))


def _calibration_feeds(samples: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """The first calibration sample of each signature, keyed "<signature>/<input>": the proof runs on real data."""
    return {f"{sig}/{name}": array for sig, rows in samples.items() if rows for name, array in rows[0].items()}


def _with_associated_files(result: bytes, original: bytes) -> bytes:
    """Carry the original's associated files (a zip after the flatbuffer) over, if the quantizer dropped them."""
    from ..tflite.merge import BUFFER_ALIGN, associated_zip

    zip_bytes, _ = associated_zip(original, fb.read_model(original))
    if not zip_bytes or associated_zip(result, fb.read_model(result))[0]:
        return result
    return result + b"\0" * (-len(result) % BUFFER_ALIGN) + zip_bytes
