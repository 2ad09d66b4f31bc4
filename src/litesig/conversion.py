"""Wrapping source models into named signatures and calling the TFLite converter.

The wrapping that is correct on TensorFlow 2.21 + Keras 3 (docs/how-it-works.md): one
`tf.Module` that tracks the models' underlying `tf.Variable`s explicitly, one `tf.function`
per signature whose `TensorSpec` names become the signature's input names and whose returned
dict keys become its output names, saved as a SavedModel and converted with `signature_keys`.
The result is then run on LiteRT against the same functions in TensorFlow before it is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import shape_fits
from ._io import check_writable, write_atomic
from .errors import ConversionFailed, InvalidInput, LitesigError, Problem, VerificationFailed
from .parity import Tolerance, VerifyReport, run_parity
from .sources import Loader, SourceModel
from .spec import ConvertOptions, InputSpec, ModelSource, OutputRef, SignatureSpec, Spec, load_spec, spec_from_dict
from .tflite_converter import load_calibration, run_converter, run_converter_isolated

Progress = Callable[[str], None]


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `litesig convert --json`."""
        return {"path": str(self.path), "size_bytes": self.size_bytes, "optimize": self.optimize, "signatures": self.signatures,
                "timings": self.timings, "verification": self.verification.to_dict() if self.verification else None,
                "notes": self.notes}


@dataclass(frozen=True)
class _Route:
    """One output of one signature: which model, fed which signature inputs, which of its outputs."""

    output: str
    model: str
    args: tuple[str, ...]
    index: int  # position in the model's outputs


@dataclass(frozen=True)
class _Plan:
    name: str
    inputs: tuple[InputSpec, ...]  # dtype and shape resolved
    routes: tuple[_Route, ...]


def convert(
    source: Spec | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    optimize: str | None = None,
    calibration: str | os.PathLike[str] | None = None,
    select_tf_ops: bool | None = None,
    unsafe: bool | None = None,
    signature: str | None = None,
    signature_keys: Sequence[str] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    force: bool = False,
    verify: bool = True,
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Convert models to one .tflite with the signatures a spec (or the flags) name.

    Args:
        source: a Spec, a .toml spec path, a .keras/.h5 file, or a SavedModel directory.
        output: the .tflite path to write (atomically; refused if it exists unless `force`).
        optimize: "none", "float16", "dynamic-int8" or "int8" (overrides the spec's).
        calibration: .npz of sample inputs for int8, keyed "<signature>/<input>" or "<input>".
        select_tf_ops: allow TensorFlow ops the LiteRT builtins lack (needs the Flex runtime).
        unsafe: load .keras files with Keras' safe mode off (they may run code).
        signature: without a spec, the signature name to give the model's one signature.
        signature_keys: without a spec, which signatures of a SavedModel to keep.
        input_names / output_names: without a spec, new names for the inputs / outputs, in order.
        input_shapes: without a spec, shapes for inputs by (new) name, e.g. {"x": [1, 12, 4]} to fix a batch.
        verify: run the result against the source before writing; fail if it differs.
        tolerance: override the default tolerance for the optimize mode.
        progress: called with a short description as each slow step starts.

    Raises:
        InvalidInput: a bad spec or flags (every problem listed).
        ConversionFailed: the converter refused the model.
        VerificationFailed: the converted model does not compute what the source does.
    """
    say = progress or (lambda _step: None)
    timings: dict[str, float] = {}
    out_path = check_writable(output, force=force)

    spec = source if isinstance(source, Spec) else None
    if spec is None and _is_spec_file(source):
        spec = load_spec(source)  # type: ignore[arg-type]
    options = spec.options if spec else ConvertOptions()
    options = replace(  # flags override the spec's [convert] table
        options,
        optimize=options.optimize if optimize is None else optimize,
        calibration=options.calibration if calibration is None else Path(calibration),
        select_tf_ops=options.select_tf_ops if select_tf_ops is None else select_tf_ops,
        unsafe=options.unsafe if unsafe is None else unsafe,
    )
    problems = options.problems("options")
    if spec is not None and any(x is not None for x in (signature, signature_keys, input_names, output_names, input_shapes)):
        problems.append(Problem("flags", "--signature, --signature-keys, --input-names, --output-names and --input-shape are for a model path; "
                                         "a spec says these itself"))
    if problems:
        raise InvalidInput(spec.source if spec else str(source), problems)

    with _timed(timings, "import_tensorflow"):
        say("Loading TensorFlow")
        from ._tf import import_tf

        tf = import_tf()
    loader = Loader(unsafe=options.unsafe)
    if spec is None:
        with _timed(timings, "load_models"):
            say("Loading models")
            spec = _spec_from_flags(Path(source), loader, signature, signature_keys, input_names, output_names,  # type: ignore[arg-type]
                                    input_shapes or {}, options)
    traced = trace(spec, loader=loader, timings=timings, progress=say)
    plans, functions = traced.plans, traced.functions
    calibration_data = load_calibration(options, [(p.name, p.inputs) for p in plans]) if options.optimize == "int8" else None

    with tempfile.TemporaryDirectory(prefix="litesig-") as tmp:
        saved = Path(tmp) / "saved_model"
        with _timed(timings, "save"):
            say("Saving the wrapped SavedModel")
            try:
                tf.saved_model.save(traced.module, str(saved), signatures=functions)
            except Exception as e:
                raise ConversionFailed(f"saving the wrapped models as a SavedModel failed: {type(e).__name__}: {e}") from None
        with _timed(timings, "convert"):
            n = len(next(iter(calibration_data.values()))) if calibration_data else 0
            say("Converting" + (f" and calibrating int8 on {n} samples per signature" if calibration_data else ""))
            if calibration_data:
                content = run_converter_isolated(saved, [p.name for p in plans], options, calibration_data)
            else:
                content = run_converter(tf, saved, [p.name for p in plans], options, calibration_data)

    report = None
    if verify:
        flex = _flex_ops(content)
        if flex:
            raise VerificationFailed(
                f"{out_path} was not written: the converted model uses select-TF ops ({', '.join(flex)}), which the "
                "ai-edge-litert Python runtime cannot run, so litesig cannot prove it computes what the source does. "
                "Pass --no-verify to write it unverified (the app needs the select-TF-ops runtime)"
                + (", or fix the batch dimension so recurrent layers convert to builtin ops." if any("TensorList" in f for f in flex) else ".")
            )
        with _timed(timings, "verify"):
            say("Verifying the result against the source")
            report = _verify(content, traced, tolerance or Tolerance.for_mode(options.optimize), spec.source, out_path)
        if not report.passed:
            raise VerificationFailed(
                f"{out_path} was not written: the converted model does not compute what the source computes:\n  - "
                + "\n  - ".join(report.failures()[:10]),
                report,
            )
    write_atomic(out_path, content)
    notes = _notes(content, options)
    return ConvertResult(
        path=out_path,
        size_bytes=len(content),
        optimize=options.optimize,
        signatures={p.name: {"inputs": [i.name for i in p.inputs], "outputs": [r.output for r in p.routes]} for p in plans},
        timings=timings,
        verification=report,
        notes=notes,
    )


def _notes(content: bytes, options: ConvertOptions) -> list[str]:
    """What to tell the user about the result that they may not expect."""
    from .flatbuffer import read_model
    from .model_info import precision

    got = precision(read_model(content))
    if options.optimize != "none" and got == "none":
        return [f"--optimize {options.optimize} left every weight in float32: the converter quantizes only weight tensors "
                "of at least 1024 elements, and this model has none that large"]
    return []


@dataclass(frozen=True)
class Traced:
    """A spec's signatures as TensorFlow functions: the thing converted, and the reference verify compares with."""

    plans: list[_Plan]
    functions: dict[str, Any]  # signature -> concrete function taking the inputs positionally
    sources: dict[str, SourceModel]
    module: Any  # the tf.Module that tracks every variable

    def __call__(self, signature: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one signature in TensorFlow on numpy inputs keyed by input name."""
        plan = next(p for p in self.plans if p.name == signature)
        return {k: v.numpy() for k, v in self.functions[signature](*[feed[i.name] for i in plan.inputs]).items()}

    def int_high(self) -> dict[str, int | None]:
        """Per signature, an exclusive bound for random integer inputs (the smallest Embedding fed)."""
        return {p.name: min((h for r in p.routes if (h := self.sources[r.model].int_high)), default=None) for p in self.plans}


def trace(spec: Spec, *, loader: Loader | None = None, timings: dict[str, float] | None = None,
          progress: Progress | None = None) -> Traced:
    """Load a spec's models, route its signatures, and trace one tf.function per signature."""
    say = progress or (lambda _step: None)
    timings = {} if timings is None else timings
    loader = loader or Loader(unsafe=spec.options.unsafe)
    from ._tf import import_tf

    tf = import_tf()
    with _timed(timings, "load_models"):
        say("Loading models")
        sources = {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()}
        plans = _plan(spec, sources)
    with _timed(timings, "trace"):
        say("Tracing signatures")
        module, functions = _wrap(tf, plans, sources)
    return Traced(plans, functions, sources, module)


def _flex_ops(content: bytes) -> list[str]:
    from .model_info import inspect

    return inspect(content).flex_ops


def _is_spec_file(source: object) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".toml"


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - start, 3)


# ---------------------------------------------------------------------------------------------
# Specs for the flag forms


def _spec_from_flags(
    path: Path,
    loader: Loader,
    signature: str | None,
    signature_keys: Sequence[str] | None,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
    input_shapes: Mapping[str, Sequence[int]],
    options: ConvertOptions,
) -> Spec:
    """The spec the single-model flag forms stand for."""
    if not path.exists():
        raise InvalidInput(str(path), [Problem("", "no such file or directory")])
    problems: list[Problem] = []
    if path.is_dir():
        available = loader.saved_model_signatures(path)
        keys = list(signature_keys) if signature_keys else available
        for key in keys:
            if key not in available:
                problems.append(Problem("--signature-keys", f"no signature {key!r}; the SavedModel has: {', '.join(available)}"))
        if problems:
            raise InvalidInput(str(path), problems)
        models = {key: ModelSource(key, path, key) for key in keys}
    else:
        keys = ["model"]
        models = {"model": ModelSource("model", path)}
    if len(keys) != 1 and (signature or input_names or output_names):
        raise InvalidInput(str(path), [Problem("--signature", f"the SavedModel has {len(keys)} signatures ({', '.join(keys)}); "
                                                "pick one with --signature-keys to rename it, or write a spec")])
    signatures: dict[str, dict[str, Any]] = {}
    for key in keys:
        src = loader.load(key, models[key].path, models[key].signature)
        ins = [i.name for i in src.inputs]
        outs = list(src.output_names)
        new_ins = list(input_names) if input_names else ins
        new_outs = list(output_names) if output_names else outs
        if len(new_ins) != len(ins):
            problems.append(Problem("--input-names", f"{len(new_ins)} names for {len(ins)} inputs ({', '.join(ins)})"))
        if len(new_outs) != len(outs):
            problems.append(Problem("--output-names", f"{len(new_outs)} names for {len(outs)} outputs ({', '.join(outs)})"))
        for shaped in input_shapes:
            if shaped not in new_ins:
                problems.append(Problem("--input-shape", f"no input {shaped!r}; the inputs are: {', '.join(new_ins)}"))
        if problems:
            raise InvalidInput(str(path), problems)
        signatures[signature or (key if path.is_dir() else "serving_default")] = {
            "inputs": {new: ({"shape": list(input_shapes[new])} if new in input_shapes else {}) for new in new_ins},
            "outputs": {new: {"model": key, "output": i, "inputs": new_ins} for i, new in enumerate(new_outs)},
        }
    data = {
        "models": {key: {"path": str(m.path), **({"signature": m.signature} if m.signature else {})} for key, m in models.items()},
        "signatures": signatures,
    }
    spec = spec_from_dict(data, source=str(path))
    return replace(spec, options=options)


# ---------------------------------------------------------------------------------------------
# Planning: route inputs to models, resolve dtypes and shapes, find outputs. Every problem at once.


def _plan(spec: Spec, sources: Mapping[str, SourceModel]) -> list[_Plan]:
    problems: list[Problem] = []
    plans = []
    for sig in spec.signatures:
        where = f"signatures.{sig.name}"
        routes = []
        fed: dict[str, tuple[SourceModel, int]] = {}
        for ref in sig.outputs:
            route = _route(sig, ref, sources[ref.model], f"{where}.outputs.{ref.name}", problems)
            if route is None:
                continue
            routes.append(route)
            for pos, name in enumerate(route.args):
                fed.setdefault(name, (sources[ref.model], pos))
        inputs = []
        for inp in sig.inputs:
            if inp.name not in fed:
                problems.append(Problem(f"{where}.inputs.{inp.name}", "not used by any output of this signature"))
                continue
            model, pos = fed[inp.name]
            model_in = model.inputs[pos]
            dtype = inp.dtype or model_in.dtype
            shape = inp.shape if inp.shape is not None else model_in.shape
            if shape is None:
                problems.append(Problem(f"{where}.inputs.{inp.name}.shape", f"model {model.key!r} does not say its input shape; give one"))
                continue
            if model_in.shape is not None and not shape_fits(shape, model_in.shape):
                problems.append(Problem(f"{where}.inputs.{inp.name}.shape",
                                        f"{list(shape)} does not fit input {model_in.name!r} of model {model.key!r}, which takes {list(model_in.shape)}"))
            inputs.append(InputSpec(inp.name, dtype, tuple(shape)))
        plans.append(_Plan(sig.name, tuple(inputs), tuple(routes)))
    if problems:
        raise InvalidInput(spec.source, problems)
    return plans


def _route(sig: SignatureSpec, ref: OutputRef, model: SourceModel, where: str, problems: list[Problem]) -> _Route | None:
    names = [i.name for i in sig.inputs]
    wanted = model.input_names()
    n = len(wanted)
    if ref.inputs is not None:
        args = ref.inputs
        if len(args) != n:
            problems.append(Problem(f"{where}.inputs", f"model {model.key!r} takes {n} inputs ({', '.join(wanted)}), {len(args)} given"))
            return None
    elif n == 1:
        if len(names) == 1:
            args = (names[0],)
        elif wanted[0] in names:
            args = (wanted[0],)
        else:
            problems.append(Problem(where, f"model {model.key!r} takes one input ({wanted[0]!r}) and the signature has {len(names)}; "
                                    f"say which: {{ model = \"{model.key}\", inputs = [\"{names[0]}\"] }}"))
            return None
    elif all(w in names for w in wanted):
        args = tuple(wanted)
    elif len(names) == n:
        args = tuple(names)
    else:
        problems.append(Problem(where, f"model {model.key!r} takes {n} inputs ({', '.join(wanted)}); the signature's inputs "
                                f"({', '.join(names)}) match neither by name nor by count; list them with the long form `inputs = [...]`"))
        return None

    outs = model.output_names
    if ref.output is None:
        if len(outs) != 1:
            problems.append(Problem(where, f"model {model.key!r} has {len(outs)} outputs ({', '.join(outs)}); "
                                    f"say which, e.g. \"{model.key}.{outs[0]}\" or \"{model.key}[0]\""))
            return None
        index = 0
    elif isinstance(ref.output, int):
        if not 0 <= ref.output < len(outs):
            problems.append(Problem(where, f"model {model.key!r} has {len(outs)} outputs ({', '.join(outs)}); index {ref.output} is out of range"))
            return None
        index = ref.output
    elif ref.output in outs:
        index = outs.index(ref.output)
    else:
        problems.append(Problem(where, f"model {model.key!r} has no output {ref.output!r}; its outputs are: {', '.join(outs)}"))
        return None
    return _Route(ref.name, ref.model, tuple(args), index)


# ---------------------------------------------------------------------------------------------
# Wrapping


def _wrap(tf: Any, plans: Sequence[_Plan], sources: Mapping[str, SourceModel]) -> tuple[Any, dict[str, Any]]:
    """A tf.Module that tracks every model's variables, and one concrete function per signature."""
    module = tf.Module()
    # Tracking the variables themselves is what makes the converter freeze the weights (STACK.md).
    module._litesig_tracked = [s.tracked for s in sources.values()]
    functions = {}
    for plan in plans:
        specs = [tf.TensorSpec([None if d == -1 else d for d in (i.shape or ())], tf.as_dtype(i.dtype), name=i.name) for i in plan.inputs]
        try:
            functions[plan.name] = tf.function(_signature_fn(tf, plan, sources), input_signature=specs).get_concrete_function()
        except Exception as e:  # the model's own code failed on these inputs: say where, not a traceback
            raise ConversionFailed(f"signature {plan.name!r}: tracing the models with inputs "
                                   f"{', '.join(f'{i.name} {i.dtype} {list(i.shape or ())}' for i in plan.inputs)} failed: "
                                   f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
    module._litesig_functions = dict(functions)
    return module, functions


def _signature_fn(tf: Any, plan: _Plan, sources: Mapping[str, SourceModel]) -> Callable[..., dict[str, Any]]:
    positions = {i.name: k for k, i in enumerate(plan.inputs)}

    def fn(*args: Any) -> dict[str, Any]:
        calls: dict[tuple[str, tuple[str, ...]], list[tuple[str, Any]]] = {}
        result = {}
        for route in plan.routes:
            key = (route.model, route.args)
            if key not in calls:
                model = sources[route.model]
                feeds = []
                for name, want in zip(route.args, model.inputs):
                    x = args[positions[name]]
                    feeds.append(tf.cast(x, want.dtype) if x.dtype != tf.as_dtype(want.dtype) else x)
                calls[key] = model.call(feeds)
            result[route.output] = tf.identity(calls[key][route.index][1], name=route.output)
        return result

    return fn


# ---------------------------------------------------------------------------------------------
# Verifying what was converted, before it is written


def _verify(content: bytes, traced: Traced, tolerance: Tolerance, against: str, out_path: Path) -> VerifyReport:
    from .runtime import Runner

    try:
        return run_parity(Runner(content), traced, signatures=[p.name for p in traced.plans], tolerance=tolerance,
                          model_name=str(out_path), against=against, int_high=traced.int_high())
    except LitesigError as e:
        raise VerificationFailed(f"{out_path} was not written: the converted model cannot be run: {e}") from None
