"""Wrapping source models into named signatures: the traced module the converter sees.

The wrapping that is correct on TensorFlow 2.21 + Keras 3 (docs/how-it-works.md): one
`tf.Module` that tracks the models' underlying `tf.Variable`s explicitly, one `tf.function`
per signature whose `TensorSpec` names become the signature's input names and whose returned
dict keys become its output names. Verification never calls this wrapper: it calls the
sources as a user does (verification.reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._messages import framework_message
from ..errors import ConversionFailed
from ..sources.models import Loader, SourceModel
from ..sources.routing import Plan, plan_signatures
from ..sources.spec import Spec
from ._timing import Progress, timed


@dataclass(frozen=True)
class Traced:
    """A spec's signatures as TensorFlow functions: the thing that is converted (never the reference verify uses)."""

    plans: list[Plan]
    functions: dict[str, Any]  # signature -> concrete function taking the inputs positionally
    sources: dict[str, SourceModel]
    module: Any  # the tf.Module that tracks every variable
    notes: list[str] = field(default_factory=list)


def trace(spec: Spec, *, loader: Loader | None = None, timings: dict[str, float] | None = None,
          progress: Progress | None = None, fixed_shapes: str | None = None, web_boundary: bool = False) -> Traced:
    """Load a spec's models, route its signatures, and trace one tf.function per signature."""
    say = progress or (lambda _step: None)
    timings = {} if timings is None else timings
    loader = loader or Loader(unsafe=spec.options.unsafe, code=spec.options.code)
    from .._tf import import_tf

    tf = import_tf()
    with timed(timings, "load_models"):
        if not all(loader.loaded(key, m.path, m.signature) for key, m in spec.models.items()):
            say("Loading models")
        sources = {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()}
        plans = plan_signatures(spec, sources)
    fixed_notes = []
    if fixed_shapes:  # --target gpu/web: the GPU accelerator and LiteRT.js take no dynamic shape; every -1 becomes 1 (a batch of one)
        for k, plan in enumerate(plans):
            inputs = tuple(replace(i, shape=tuple(1 if d == -1 else d for d in (i.shape or ()))) for i in plan.inputs)
            fixed_notes += [f"--target {fixed_shapes}: {plan.name}.{a.name} fixed from {list(a.shape or ())} to {list(b.shape or ())}"
                            for a, b in zip(plan.inputs, inputs) if a.shape != b.shape]
            plans[k] = replace(plan, inputs=inputs)
    if web_boundary:  # --target web: only float32, int32 and uint8 cross LiteRT.js's boundary; the cast is in the graph
        for k, plan in enumerate(plans):
            inputs = tuple(replace(i, dtype=WEB_BOUNDARY[i.dtype]) if i.dtype in WEB_BOUNDARY else i for i in plan.inputs)
            fixed_notes += [f"--target web: {plan.name}.{a.name} takes {b.dtype} (cast to {a.dtype} inside the graph: LiteRT.js "
                            f"moves no {a.dtype})" for a, b in zip(plan.inputs, inputs) if a.dtype != b.dtype]
            plans[k] = replace(plan, inputs=inputs)
    with timed(timings, "trace"):
        say("Tracing signatures")
        module, functions = _wrap(tf, plans, sources, web_boundary)
        if web_boundary:
            fixed_notes += [f"--target web: {name}.{out} gives {WEB_BOUNDARY[dtype]} (cast from {dtype} inside the graph)"
                            for name, fn in functions.items() for out, dtype in _output_dtypes(fn).items() if dtype in WEB_BOUNDARY]
    notes = [f"signature {p.name!r} changes variables: the file keeps them as resource variables, initialised to the "
             "source's values and shared by every signature of one interpreter" for p in plans if any(sources[r.model].stateful for r in p.routes)]
    return Traced(plans, functions, sources, module, fixed_notes + notes)


WEB_BOUNDARY = {"int64": "int32", "bool": "uint8", "float64": "float32", "int8": "int32", "int16": "int32"}  # what LiteRT.js takes instead


def _output_dtypes(fn: Any) -> dict[str, str]:
    """The dtypes a traced function returned before the boundary casts (kept on it by _signature_fn)."""
    return dict(getattr(fn, "_litesig_cast_from", {}))


def _wrap(tf: Any, plans: Sequence[Plan], sources: Mapping[str, SourceModel], web_boundary: bool = False) -> tuple[Any, dict[str, Any]]:
    """A tf.Module that tracks every model's variables, and one concrete function per signature."""
    module = tf.Module()
    # Tracking the variables themselves is what makes the converter freeze the weights (STACK.md).
    module._litesig_tracked = [s.tracked for s in sources.values()]
    functions = {}
    for plan in plans:
        specs = [tf.TensorSpec([None if d == -1 else d for d in (i.shape or ())], tf.as_dtype(i.dtype), name=i.name) for i in plan.inputs]
        try:
            cast_from: dict[str, str] = {}
            fn = tf.function(_signature_fn(tf, plan, sources, cast_from if web_boundary else None), input_signature=specs)
            functions[plan.name] = fn.get_concrete_function()
            functions[plan.name]._litesig_cast_from = cast_from
        except Exception as e:  # the model's own code failed on these inputs: say where, not a traceback
            raise ConversionFailed(f"signature {plan.name!r}: tracing the models with inputs "
                                   f"{', '.join(f'{i.name} {i.dtype} {list(i.shape or ())}' for i in plan.inputs)} failed: "
                                   f"{framework_message(e)}") from None
    module._litesig_functions = dict(functions)
    return module, functions


def _signature_fn(tf: Any, plan: Plan, sources: Mapping[str, SourceModel],
                  cast_from: dict[str, str] | None = None) -> Callable[..., dict[str, Any]]:
    """The traced body; with `cast_from` (--target web), outputs of dtypes LiteRT.js cannot move are cast and recorded."""
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
            op_name = route.output.replace("/", "_").replace(":", "_")  # an output name may be 'dense_1/bias:0'; an op's may not
            value = calls[route.call_key][route.model_output]
            if cast_from is not None and value.dtype.name in WEB_BOUNDARY:
                cast_from[route.output] = value.dtype.name
                value = tf.cast(value, tf.as_dtype(WEB_BOUNDARY[value.dtype.name]))
            result[route.output] = tf.identity(value, name=op_name)
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
