"""Verification: run a .tflite and a reference on the same inputs and report every output.

The reference is built here from what the user gives (a spec, a SavedModel, a Keras model,
another .tflite); reference.py calls the sources the way a user would, never through the
wrapper conversion.py traced. The comparison itself (inputs, cases, tolerances) is parity.py.
Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .._io import source_problem
from ..sources.spec import TARGETS
from ..runtimes import quant
from .parity import Tolerance, VerifyReport, quantization_notes, run_parity
from ..runtimes.interpreter import Runner


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
    on: Sequence[str] = ("interpreter",),
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
        on: the runtimes to run the file on (RUNTIMES): the Interpreter always runs; "compiled" and
            "gpu" add LiteRT 2's CompiledModel on the CPU and the GPU accelerator, each compared with
            the same reference on the same inputs (report.others).

    Returns:
        A VerifyReport; `.passed` is False when any output of any case fails, on any runtime.
    """
    from .._io import describe
    from ..tflite.precision import looser, read_precision

    say = progress or (lambda _step: None)
    if code and not unsafe:
        from ..errors import InvalidInput, Problem

        raise InvalidInput("verify", [Problem("--code", "importing Python files runs their code: pass --unsafe too if you trust them")])
    _check_sizes(samples, batch_sizes)
    unknown = [r for r in on if r not in RUNTIMES]
    if unknown:
        from ..errors import InvalidInput, Problem

        from ..errors import did_you_mean

        raise InvalidInput("verify", [Problem("--on", f"unknown runtime {r!r}; expected one of {', '.join(RUNTIMES)}"
                                                      f"{did_you_mean(r, RUNTIMES)}") for r in unknown])
    runner = Runner(model)
    signatures = [runner.resolve(signature)] if signature else runner.signatures
    if not signatures:
        from ..errors import LitesigError

        raise LitesigError(f"{describe(model)}: the model has no signatures to verify")
    detail = read_precision(runner.model) if runner.model is not None else None
    mode = detail.mode if detail is not None else "none"
    say(f"Preparing the reference ({_describe_against(against)})")
    if isinstance(names, (str, os.PathLike)):
        from ..tflite.rename import load_rename_map

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
    note = f"yours: {os.fspath(inputs)}" if isinstance(inputs, (str, os.PathLike)) else "yours" if inputs is not None else ""

    def run_on(target: Any) -> VerifyReport:
        return _run_against(target, reference, signatures, tol, model_name=describe(model), against=_describe_against(against),
                            batch_sizes=batch_sizes, samples=samples, seed=seed, inputs=feeds, shapes=shapes, inputs_note=note)

    report = run_on(runner)
    others = []
    for name in dict.fromkeys(r for r in on if r != "interpreter"):
        say(f"Running on {name}")
        others.append(_on_runtime(name, model, runner, tol, run_on))
    return replace(report, precision=described, quantization=report.quantization + tuple(notes), others=tuple(others))


RUNTIMES = ("interpreter", *TARGETS, "web-gpu")  # the Interpreter, every runtime convert --target can name, LiteRT.js on WebGPU


def _on_runtime(name: str, model: Any, runner: Runner, tol: Tolerance, run_on: Callable[[Any], VerifyReport]) -> VerifyReport:
    """The same cases on another runtime, or a failed report saying why it cannot run the file."""
    from .._io import describe
    from ..runtimes import litertjs
    from ..runtimes.compiled import CompiledRunner, RuntimeUnavailable, label

    accelerator = "gpu" if name == "gpu" else "cpu"
    target: CompiledRunner | litertjs.WebRunner
    web = {"web": ("node", "wasm"), "web-gpu": ("chromium", "webgpu")}.get(name)
    try:
        if web:
            target = litertjs.WebRunner(model, runner=runner, where=web[0], accelerator=web[1])
        else:
            target = CompiledRunner(model, accelerator=accelerator, runner=runner)
    except RuntimeUnavailable as e:
        shown = litertjs.label(*web) if web else label(accelerator)
        return VerifyReport(describe(model), "", tol, runtime=shown, unavailable=str(e))
    try:
        report = run_on(target)
    finally:
        target.close()
    fell_back = getattr(target, "fallback", "")
    accelerated = ("fully accelerated" if target.fully_accelerated else
                   f"partly: on the CPU: {fell_back}" if fell_back else
                   "partly: some ops fell back to the CPU (the runtime does not say which)") if name in ("gpu", "web-gpu") else ""
    return replace(report, runtime=target.label, accelerated=accelerated)


def verify_spec(content: bytes, spec: Any, *, tolerance: Tolerance, model_name: str,
                calibration: Mapping[str, Sequence[Mapping[str, np.ndarray]]] | None = None,
                on: Sequence[str] = ()) -> VerifyReport:
    """The check convert runs before writing: the file against the spec's models, loaded anew and called as a user would.

    Inputs: the spec's [verify] inputs when given; else for a calibrated file the calibration samples
    themselves (never values drawn uniformly over their range: real data is not uniform); else random,
    within each input's realistic range (the spec's `range`, an Embedding's size).
    """
    from .reference import SpecReference

    # Bytes the converter just wrote, validated like any file; not forked into a probe child, because this
    # process runs TensorFlow's thread pools and a fork of a multi-threaded process may deadlock.
    runner = Runner(content, name=model_name, isolate=False)
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
                feeds[sig], note = _calibration_cases(samples_, runner.input_details(sig))

    def run_on(target: Any) -> VerifyReport:
        return _run_against(target, reference, signatures, tolerance, model_name=model_name, against=spec.source,
                            ranges=ranges, inputs=feeds, inputs_note=note, command="convert")

    report = run_on(runner)
    others = tuple(_on_runtime(name, content, runner, tolerance, run_on) for name in dict.fromkeys(on) if name != "interpreter")
    return replace(report, others=others)


def _calibration_cases(samples: Sequence[Mapping[str, np.ndarray]], details: Mapping[str, Any]
                       ) -> tuple[list[dict[str, np.ndarray]], str]:
    """Up to four calibration samples spread over the data, and, where every input's batch is dynamic, three of them as one batch."""
    n = len(samples)
    picks = sorted({0, n // 3, (2 * n) // 3, n - 1})
    cases = [dict(samples[i]) for i in picks]
    note = f"the calibration samples themselves (#{', #'.join(str(i) for i in picks)} of {n})"
    batch = picks[:3]
    dynamic = all(d.shape_signature[:1] == (-1,) for d in details.values()) and all(
        np.asarray(samples[0][name]).shape[:1] == (1,) for name in samples[0])
    if dynamic and len(batch) > 1:
        cases.append({name: np.concatenate([np.asarray(samples[i][name]) for i in batch]) for name in samples[0]})
        note += f", and #{', #'.join(str(i) for i in batch)} as one batch"
    return cases, note


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
        effects: list[str] = getattr(reference, "effects", lambda _s: [])(sig)
        if effects:
            unverified[sig] = (f"it has effects outside the model: {'; '.join(effects)}; litesig does not run it on either side, "
                               "so nothing it does happens while verifying")
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
    from ..tflite.model_info import inspect

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
    from ..errors import InvalidInput, Problem

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
    from ..errors import InvalidInput, LitesigError, Problem
    from ..sources.spec import Spec, load_spec

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
    unusable = source_problem(path)
    if unusable:
        raise InvalidInput(str(path), [Problem("--against", unusable)])
    if path.suffix.lower() == ".tflite":  # followed across renames: by --map, by name, or by structure
        from ..tflite.model_info import precision
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
    from ..errors import LitesigError
    from .reference import call_source
    from ..sources.models import Loader

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
    from ..errors import InvalidInput, Problem

    from .._arrays import array_key, load_npz

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
