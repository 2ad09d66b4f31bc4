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


from ._io import check_writable, temp_dir_prefix, write_atomic
from ._messages import framework_message
from .errors import ConversionFailed, InvalidInput, LitesigError, Problem, VerificationFailed
from .io_types import io_problems, set_io_dtypes, wanted_io_dtypes, with_flag_io_dtypes
from .parity import Tolerance, VerifyReport
from .quantizer import needs_calibration, uses_quantizer
from .quantizer import quantize as quantize_tflite
from .routing import Plan, plan_signatures
from .runtime_compat import check_target
from .sources import Loader, SourceModel
from .spec import ConvertOptions, ModelSource, Spec, load_spec, spec_from_dict
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
    wiring: dict[str, list[str]] = field(default_factory=dict)  # signature -> "model.input <- input", "output <- model.output"

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `litesig convert --json`."""
        return {"path": str(self.path), "size_bytes": self.size_bytes, "optimize": self.optimize, "signatures": self.signatures,
                "wiring": self.wiring, "timings": self.timings,
                "verification": self.verification.to_dict() if self.verification else None, "notes": self.notes}


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
    input_map: Mapping[str, str] | None = None,
    output_map: Mapping[str, str] | None = None,
    code: Sequence[str | os.PathLike[str]] | None = None,
    verify_inputs: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    target_runtime: str | None = None,
    input_dtype: str | None = None,
    output_dtype: str | None = None,
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
        input_names / output_names: without a spec, new names for the inputs / outputs, in the model's
            documented order (Keras: as declared; SavedModel: sorted by name; `--dry-run` shows it).
        input_shapes: without a spec, shapes for inputs by (new) name, e.g. {"x": [1, 12, 4]} to fix a batch.
        input_map / output_map: without a spec, renames by name: {model's name: new name}.
        code: Python files defining custom layers/models, imported before loading (needs `unsafe`).
        verify_inputs: an .npz of your own inputs for the built-in verification (keys as for `calibration`).
        dry_run: load and plan only: return the wiring and names, convert and write nothing.
        target_runtime: the LiteRT/TF Lite release the app ships (e.g. "2.14", overrides the spec's): use converter
            options that keep older op versions, and refuse a result that runtime cannot load.
        input_dtype / output_dtype: "int8", "uint8" or "int16" for every input / output of every signature
            (a spec's io_dtype chooses per tensor); needs integer activations (optimize int8 or static-*).
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
    out_path = check_writable(output, force=force or dry_run)

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
        code=options.code if code is None else tuple(Path(c) for c in code),
        verify_inputs=options.verify_inputs if verify_inputs is None else Path(verify_inputs),
        target_runtime=options.target_runtime if target_runtime is None else target_runtime,
    )
    problems = options.problems("options")
    if spec is not None and any(x is not None for x in (signature, signature_keys, input_names, output_names, input_shapes, input_map, output_map)):
        problems.append(Problem("flags", "--signature, --signature-keys, --input-names, --output-names, --input-map, --output-map and "
                                         "--input-shape are for a model path; a spec says these itself"))
    if problems:
        raise InvalidInput(spec.source if spec else str(source), problems)

    with _timed(timings, "import_tensorflow"):
        say("Loading TensorFlow")
        from ._tf import import_tf

        tf = import_tf()
    loader = Loader(unsafe=options.unsafe, code=options.code)
    if spec is None:
        with _timed(timings, "load_models"):
            say("Loading models")
            spec = _spec_from_flags(Path(source), loader, signature, signature_keys, input_names, output_names,  # type: ignore[arg-type]
                                    input_shapes or {}, dict(input_map or {}), dict(output_map or {}), options)
    else:
        spec = replace(spec, options=options)
    if dry_run:
        with _timed(timings, "load_models"):
            say("Loading models")
            plans = plan_signatures(spec, {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()})
        return ConvertResult(path=out_path, size_bytes=0, optimize=options.optimize, signatures=_names(plans), timings=timings,
                             notes=["dry run: nothing was converted or written"], wiring={p.name: p.wiring() for p in plans})
    spec = with_flag_io_dtypes(spec, input_dtype, output_dtype)
    io_errors = io_problems(spec, options.optimize)
    if io_errors:
        raise InvalidInput(spec.source, io_errors)
    traced = trace(spec, loader=loader, timings=timings, progress=say)
    plans, functions = traced.plans, traced.functions
    quantizing = uses_quantizer(options.optimize, options.recipe)
    calibrate = options.optimize == "int8" or (quantizing and needs_calibration(options.optimize, options.recipe))
    calibration_data = load_calibration(options, [(p.name, p.inputs) for p in plans]) if calibrate else None

    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix()) as tmp:  # a killed run's folder is removed by the next
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
            if calibration_data and not quantizing:
                content = run_converter_isolated(saved, [p.name for p in plans], options, calibration_data)
            else:  # ai-edge-quantizer's modes start from the float conversion
                content = run_converter(tf, saved, [p.name for p in plans], replace(options, optimize="none") if quantizing else options, None)
        if quantizing:
            with _timed(timings, "quantize"):
                say(f"Quantizing with ai-edge-quantizer ({options.recipe or options.optimize})")
                content = quantize_tflite(content, options.optimize, recipe=options.recipe, calibration=calibration_data)
        content = set_io_dtypes(content, wanted_io_dtypes(spec), source=spec.source)

    target_notes = check_target(content, options.optimize, options.target_runtime, out_path)  # TargetRuntimeMissed: nothing written
    from .restructure import reorder  # the converter sorts names; the SignatureDefs list them as declared

    order_notes = []
    try:
        content = reorder(content, {p.name: ([i.name for i in p.inputs], [r.output for r in p.routes]) for p in plans},
                          signatures=[p.name for p in plans])
    except LitesigError as e:  # the file is still right; only the order is the converter's
        order_notes.append(f"the signatures keep the converter's order, not the declared one: {e}")
    report = None
    if verify:
        with _timed(timings, "verify"):
            say("Verifying the result against the source, called as you would call it")
            report = _verify(content, spec, tolerance or Tolerance.for_mode(_precision_mode(content) if options.recipe else options.optimize), out_path, calibration_data)
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
    write_atomic(out_path, content, replace=force)  # without force, a file created meanwhile is not overwritten
    notes = _notes(content, options) + traced.notes + order_notes + target_notes
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


def _names(plans: Sequence[Plan]) -> dict[str, dict[str, list[str]]]:
    return {p.name: {"inputs": [i.name for i in p.inputs], "outputs": [r.output for r in p.routes]} for p in plans}


def _precision_mode(content: bytes) -> str:
    from .flatbuffer import read_model
    from .model_info import precision

    return precision(read_model(content))


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
    """A spec's signatures as TensorFlow functions: the thing that is converted (never the reference verify uses)."""

    plans: list[Plan]
    functions: dict[str, Any]  # signature -> concrete function taking the inputs positionally
    sources: dict[str, SourceModel]
    module: Any  # the tf.Module that tracks every variable
    notes: list[str] = field(default_factory=list)


def trace(spec: Spec, *, loader: Loader | None = None, timings: dict[str, float] | None = None,
          progress: Progress | None = None) -> Traced:
    """Load a spec's models, route its signatures, and trace one tf.function per signature."""
    say = progress or (lambda _step: None)
    timings = {} if timings is None else timings
    loader = loader or Loader(unsafe=spec.options.unsafe, code=spec.options.code)
    from ._tf import import_tf

    tf = import_tf()
    with _timed(timings, "load_models"):
        if not all(loader.loaded(key, m.path, m.signature) for key, m in spec.models.items()):
            say("Loading models")
        sources = {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()}
        plans = plan_signatures(spec, sources)
    with _timed(timings, "trace"):
        say("Tracing signatures")
        module, functions = _wrap(tf, plans, sources)
    notes = [f"signature {p.name!r} changes variables: the file keeps them as resource variables, initialised to the "
             "source's values and shared by every signature of one interpreter" for p in plans if any(sources[r.model].stateful for r in p.routes)]
    return Traced(plans, functions, sources, module, notes)


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
    input_map: dict[str, str],
    output_map: dict[str, str],
    options: ConvertOptions,
) -> Spec:
    """The spec the single-model flag forms stand for; every rename becomes a by-name mapping."""
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
    if len(keys) != 1 and (signature or input_names or output_names or input_map or output_map):
        raise InvalidInput(str(path), [Problem("--signature", f"the SavedModel has {len(keys)} signatures ({', '.join(keys)}); "
                                                "pick one with --signature-keys to rename it, or write a spec")])
    signatures: dict[str, dict[str, Any]] = {}
    for key in keys:
        src = loader.load(key, models[key].path, models[key].signature)
        ins = list(src.input_names())
        outs = list(src.output_names)
        order = "as the model declares them" if src.kind == "keras" else "sorted by name"
        if not src.declared:
            ins, outs = ["inputs"], []
        new_ins = _renamed(ins, input_names, input_map, "--input-names", "--input-map", "inputs", order, problems)
        if src.declared:
            new_outs = _renamed(outs, output_names, output_map, "--output-names", "--output-map", "outputs", order, problems)
        else:  # a subclassed model: its outputs are known once its input shape is
            shape = input_shapes.get(input_names[0] if input_names else input_map.get("inputs", "inputs"))
            if shape is None:
                problems.append(Problem("--input-shape", f"{path} declares no inputs (a subclassed model): give its shape, "
                                                         "e.g. --input-shape inputs=-1,4"))
            else:
                outs = list(src.with_input_shapes({"inputs": shape}).output_names)
                new_outs = _renamed(outs, output_names, output_map, "--output-names", "--output-map", "outputs", order, problems)
        for shaped in input_shapes:
            if shaped not in new_ins:
                problems.append(Problem("--input-shape", f"no input {shaped!r}; the inputs are: {', '.join(new_ins)}"))
        if problems:
            raise InvalidInput(str(path), problems)
        feeds = dict(zip(ins, new_ins))
        signatures[signature or (key if path.is_dir() else "serving_default")] = {
            "inputs": {new: ({"shape": list(input_shapes[new])} if new in input_shapes else {}) for new in new_ins},
            "outputs": {new: {"model": key, "output": old, "inputs": feeds} for old, new in zip(outs, new_outs)},
        }
    data = {
        "models": {key: {"path": str(m.path), **({"signature": m.signature} if m.signature else {})} for key, m in models.items()},
        "signatures": signatures,
    }
    spec = spec_from_dict(data, source=str(path))
    return replace(spec, options=options)


def _renamed(names: list[str], positional: Sequence[str] | None, by_name: Mapping[str, str], flag: str, map_flag: str,
             what: str, order: str, problems: list[Problem]) -> list[str]:
    """New names for `names`: positional (in the documented order) or by name; unnamed ones keep theirs."""
    if positional and by_name:
        problems.append(Problem(flag, f"give {flag} or {map_flag}, not both"))
        return names
    if positional:
        if len(positional) != len(names):
            problems.append(Problem(flag, f"{len(positional)} names for {len(names)} {what} ({', '.join(names)}, {order})"))
            return names
        return list(positional)
    for old in by_name:
        if old not in names:
            problems.append(Problem(map_flag, f"no {what[:-1]} {old!r}; the model's {what} are: {', '.join(names)}"))
    return [by_name.get(n, n) for n in names]


# ---------------------------------------------------------------------------------------------
# Wrapping


def _wrap(tf: Any, plans: Sequence[Plan], sources: Mapping[str, SourceModel]) -> tuple[Any, dict[str, Any]]:
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
                                   f"{framework_message(e)}") from None
    module._litesig_functions = dict(functions)
    return module, functions


def _signature_fn(tf: Any, plan: Plan, sources: Mapping[str, SourceModel]) -> Callable[..., dict[str, Any]]:
    positions = {i.name: k for k, i in enumerate(plan.inputs)}

    def fn(*args: Any) -> dict[str, Any]:
        calls: dict[Any, dict[str, Any]] = {}
        result = {}
        for route in plan.routes:
            if route.call_key not in calls:
                model = sources[route.model]
                feeds = {}
                for model_input, sig_input in route.feeds:
                    want = tf.as_dtype(next(i.dtype for i in model.inputs if i.name == model_input))
                    x = args[positions[sig_input]]
                    feeds[model_input] = tf.cast(x, want) if x.dtype != want else x
                calls[route.call_key] = _call_in_graph(model, feeds)
            result[route.output] = tf.identity(calls[route.call_key][route.model_output], name=route.output)
        return result

    return fn


def _call_in_graph(model: SourceModel, feeds: Mapping[str, Any]) -> dict[str, Any]:
    """Call a source model inside the traced function, in the structure it declares; outputs by name."""
    if model.kind == "saved_model":
        return dict(model.obj(**feeds))
    names = model.input_names()
    if model.structure == "dict":
        result = model.obj({n: feeds[n] for n in names}, training=False)
    elif model.structure == "list":
        result = model.obj([feeds[n] for n in names], training=False)
    else:
        result = model.obj(feeds[names[0]], training=False)
    if model.output_structure == "dict":
        return dict(result)
    values = list(result) if model.output_structure == "list" else [result]
    return dict(zip(model.output_names, values))


# ---------------------------------------------------------------------------------------------
# Verifying what was converted, before it is written


def _verify(content: bytes, spec: Spec, tolerance: Tolerance, out_path: Path, calibration: Any) -> VerifyReport:
    """Run the file against the source models called as a user calls them (reference.py), never the wrapper."""
    from .verification import verify_spec

    try:
        return verify_spec(content, spec, tolerance=tolerance, model_name=str(out_path), calibration=calibration)
    except VerificationFailed:
        raise
    except LitesigError as e:
        raise VerificationFailed(f"{out_path} was not written: the converted model cannot be run: {e}") from None
