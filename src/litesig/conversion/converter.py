"""Calling the TFLite converter: options, int8 calibration data, crash isolation, readable errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import array_key, load_npy, load_npz, shape_fits
from .._io import captured_stderr
from ..errors import ConversionFailed, InvalidInput, Problem
from ..tflite.runtime_compat import tune_converter
from ..sources.spec import ConvertOptions, InputSpec

Calibration = dict[str, list[dict[str, np.ndarray]]]  # signature -> samples -> input name -> array


def run_converter(tf: Any, saved: Path, keys: list[str], options: ConvertOptions, calibration: Calibration | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=keys)
    if options.optimize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.optimize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    tune_converter(converter, options.optimize, options.target_runtime)  # older op versions where a target asks
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if options.optimize == "int8":
        def representative() -> Iterator[tuple[str, dict[str, np.ndarray]]]:
            for sig, samples in (calibration or {}).items():
                for sample in samples:
                    yield sig, sample

        converter.representative_dataset = representative
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    if options.select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    with captured_stderr() as log:
        try:
            return bytes(converter.convert())
        except Exception as e:
            message = _converter_message(e, log())
    hint = ""
    if "TensorList" in message:
        hint += ("\nRecurrent layers (GRU, LSTM, RNN) convert to builtin ops when the batch dimension is fixed: "
                 "give the input a shape such as [1, ...] (spec: shape = [1, 12, 4]; flags: --input-shape NAME=1,12,4).")
    if not options.select_tf_ops and any(s in message for s in ("Flex", "select TF ops", "SELECT_TF_OPS", "not supported", "illegal")):
        hint += ("\nSome ops have no LiteRT builtin. Retry with --select-tf-ops (or `select_tf_ops = true` under [convert]); "
                "the app then needs the select-TF-ops runtime (org.tensorflow:tensorflow-lite-select-tf-ops on Android). "
                "Signatures that use those ops cannot run on ai-edge-litert's Python runtime, so litesig reports them NOT "
                "verified; if none of the file's signatures can run, add --no-verify to write it unverified.")
    raise ConversionFailed(f"the TFLite converter refused the model:\n{message}{hint}")


def run_converter_isolated(saved: Path, keys: list[str], options: ConvertOptions,
                            calibration: Calibration) -> bytes:
    """Run the converter in a child process (see _convert_worker): a crash becomes a ConversionFailed."""
    import json
    import signal
    import subprocess
    import sys

    job = saved.parent / "job"
    job.mkdir()
    (job / "job.json").write_text(json.dumps({"saved_model": str(saved), "keys": keys, "optimize": options.optimize,
                                              "select_tf_ops": options.select_tf_ops, "target_runtime": options.target_runtime}))
    arrays = {f"{sig}/{i}/{name}": array for sig, samples in calibration.items()
              for i, sample in enumerate(samples) for name, array in sample.items()}
    np.savez(job / "calibration.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds too narrowly
    import os

    proc = subprocess.run([sys.executable, "-m", "litesig.conversion._worker", str(job)], capture_output=True, text=True,
                          env={**os.environ, "LITESIG_PARENT_PID": str(os.getpid())})  # the worker dies with us
    if proc.returncode == 0:
        return (job / "model.tflite").read_bytes()
    if proc.returncode == 3:
        raise ConversionFailed((job / "error.txt").read_text())
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise ConversionFailed(
            f"the TFLite converter crashed ({name}) while quantizing to int8; this is a fault in TensorFlow's converter, "
            "not in your spec. Models with control flow (GRU, LSTM, while loops) are known to crash its int8 calibrator: "
            "try --optimize dynamic-int8 or float16 instead."
        )
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    raise ConversionFailed(f"the TFLite converter failed (exit code {proc.returncode}):\n{tail}")


_LOCATION = re.compile(r"<unknown>:\d+:\s*|loc\(.*\):\s")


def _converter_message(error: Exception, log: str) -> str:
    """The converter's error lines, without MLIR location noise, each once."""
    lines = []
    for raw in (str(error) + "\n" + log).replace("\\n", "\n").splitlines():
        line = _LOCATION.sub("", raw.strip())
        if line.startswith("error:") or "not supported" in line or "Flex" in line:
            lines.append(line)
    text = "\n".join(dict.fromkeys(lines)) or str(error).strip() or type(error).__name__
    return text[:4000]


def load_calibration(options: ConvertOptions, signatures: Sequence[tuple[str, Sequence[InputSpec]]]) -> Calibration:
    """Samples per signature from the .npz: keys "<signature>/<input>" or "<input>", first axis = samples."""
    path = options.calibration
    assert path is not None  # ConvertOptions.problems() guarantees it for int8
    if Path(path).suffix.lower() == ".npy":  # one array: only for one signature with one input
        if len(signatures) != 1 or len(signatures[0][1]) != 1:
            raise InvalidInput(str(path), [Problem("", "a .npy holds one array, for a single signature with a single input; "
                                                       "give an .npz keyed \"<signature>/<input>\" or \"<input>\"")])
        arrays = {signatures[0][1][0].name: load_npy(path, "calibration")}
    else:
        arrays = load_npz(path)
    problems = []
    out: Calibration = {}
    for sig_name, sig_inputs in signatures:
        per_input: dict[str, list[np.ndarray]] = {}
        for inp in sig_inputs:
            key = array_key(arrays, sig_name, inp.name)
            if key is None:
                problems.append(Problem(f"{sig_name}/{inp.name}", f"no array for this input (keys are \"<signature>/<input>\" or \"<input>\"; the file has: {', '.join(arrays) or 'none'})"))
                continue
            samples = _samples(arrays[key], inp, key, problems)
            if samples is not None:
                per_input[inp.name] = samples
        if len(per_input) == len(sig_inputs):
            counts = {len(s) for s in per_input.values()}
            if len(counts) != 1:
                problems.append(Problem(sig_name, f"the inputs have different sample counts: {', '.join(f'{k}: {len(v)}' for k, v in per_input.items())}"))
                continue
            out[sig_name] = [{name: s[i] for name, s in per_input.items()} for i in range(counts.pop())]
    if problems:
        raise InvalidInput(str(path), problems)
    return out


def _samples(array: np.ndarray, inp: InputSpec, key: str, problems: list[Problem]) -> list[np.ndarray] | None:
    shape = inp.shape or ()
    if array.ndim == len(shape) + 1:
        samples = [array[i] for i in range(len(array))]
    elif array.ndim == len(shape) and shape and shape[0] in (-1, 1):  # rows are samples of batch 1
        samples = [array[i : i + 1] for i in range(len(array))]
    else:
        problems.append(Problem(key, f"shape {list(array.shape)} does not hold samples of {list(shape)} (first axis = samples)"))
        return None
    if not samples:
        problems.append(Problem(key, "no samples"))
        return None
    got = samples[0].shape
    if not shape_fits(got, shape):
        problems.append(Problem(key, f"array of shape {list(array.shape)} gives samples of shape {list(got)}; the input takes {list(shape)} (first axis = samples)"))
        return None
    want = np.dtype(inp.dtype)
    # Integer values for a float input are those values (a uint8 image 0..255 for a float model that takes 0..255):
    # what an app that feeds uint8 has at hand. Floats for an integer input would be rounded: refused.
    if array.dtype.kind != want.kind and not (array.dtype.kind in "iub" and want.kind == "f"):
        problems.append(Problem(key, f"dtype {array.dtype}, the input takes {inp.dtype}"))
        return None
    if array.dtype.kind == "f" and array.size and not np.isfinite(array).any():
        problems.append(Problem(key, "no finite value (all NaN or Inf): nothing to calibrate on"))
        return None
    return [s.astype(inp.dtype) for s in samples]
