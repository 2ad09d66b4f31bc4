"""From a spec and the models' declared structure to routes by name: which signature input feeds which
model input, and which model output each signature output is. Every problem is collected at once.

Routes are by name on both ends, so nothing depends on the order a framework happens to list
things in. The positional forms (the long form's `inputs = [...]`, a signature whose inputs match a
model's by count, `"model[1]"` outputs) follow the model's declared order (sources/models.py) and
are refused where the source declares none: over several inputs a guess can cross them silently.
This module imports no TensorFlow; the wrapper (conversion/wrapping.py) and the reference
(verification/reference.py) both read the routes, and each calls the models in its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .._arrays import shape_fits
from ..errors import InvalidInput, LitesigError, Problem
from .models import SourceModel
from .spec import InputSpec, OutputRef, SignatureSpec, Spec


@dataclass(frozen=True)
class Route:
    """One output of one signature: which model, fed which signature inputs (by model input name), which output."""

    output: str
    model: str
    feeds: tuple[tuple[str, str], ...]  # (model input, signature input), in the model's documented input order
    model_output: str  # the model's own name for the output
    positional: str | None = None  # feeds matched by position: where the model's order comes from

    @property
    def call_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Outputs with the same key come from one call of the model."""
        return (self.model, self.feeds)


@dataclass(frozen=True)
class Plan:
    """One signature, resolved: its inputs (dtype and shape known) and its routes."""

    name: str
    inputs: tuple[InputSpec, ...]
    routes: tuple[Route, ...]

    def wiring(self) -> list[str]:
        """Human-readable lines: `model.input <- signature_input` and `output <- model.output`."""
        lines = []
        positional = {r.call_key: r.positional for r in self.routes}
        for (model, feeds) in dict.fromkeys(r.call_key for r in self.routes):
            how = positional[(model, feeds)]
            for model_input, sig_input in feeds:
                lines.append(f"{model}.{model_input} <- {sig_input}" + (f"   (by position: {how})" if how and len(feeds) > 1 else ""))
        for r in self.routes:
            lines.append(f"{r.output} <- {r.model}.{r.model_output}")
        return lines


def plan_signatures(spec: Spec, sources: Mapping[str, SourceModel]) -> list[Plan]:
    """Resolve every signature of `spec` against the loaded models' declared structure."""
    problems: list[Problem] = []
    plans = []
    for sig in spec.signatures:
        where = f"signatures.{sig.name}"
        for ref in sig.outputs:  # models that declare no inputs learn their outputs from the spec's shapes
            _resolve_undeclared(sig, ref, sources[ref.model], f"{where}.outputs.{ref.name}", problems)
        routes = []
        fed: dict[str, tuple[SourceModel, str]] = {}
        for ref in sig.outputs:
            route = _route(sig, ref, sources[ref.model], f"{where}.outputs.{ref.name}", problems)
            if route is None:
                continue
            routes.append(route)
            for model_input, sig_input in route.feeds:
                fed.setdefault(sig_input, (sources[ref.model], model_input))
        inputs = []
        for inp in sig.inputs:
            if inp.name not in fed:
                problems.append(Problem(f"{where}.inputs.{inp.name}", "not used by any output of this signature"))
                continue
            model, model_input = fed[inp.name]
            model_in = next(i for i in model.inputs if i.name == model_input)
            dtype = inp.dtype or model_in.dtype
            shape = inp.shape if inp.shape is not None else model_in.shape
            if shape is None:
                problems.append(Problem(f"{where}.inputs.{inp.name}.shape", f"model {model.key!r} does not say its input shape; give one"))
                continue
            if model_in.shape is not None and not shape_fits(shape, model_in.shape):
                problems.append(Problem(f"{where}.inputs.{inp.name}.shape",
                                        f"{list(shape)} does not fit input {model_in.name!r} of model {model.key!r}, which takes {list(model_in.shape)}"))
            inputs.append(InputSpec(inp.name, dtype, tuple(shape), inp.range))
        plans.append(Plan(sig.name, tuple(inputs), tuple(routes)))
    if problems:
        raise InvalidInput(spec.source, problems)
    return plans


def _resolve_undeclared(sig: SignatureSpec, ref: OutputRef, model: SourceModel, where: str, problems: list[Problem]) -> None:
    if model.declared:
        return
    names = [i.name for i in sig.inputs]
    chosen = (ref.inputs or [v for _, v in ref.input_map or ()] or names)[:1]
    spec_in = next((i for i in sig.inputs if i.name in chosen), None)
    if spec_in is None or spec_in.shape is None:
        problems.append(Problem(where, f"model {model.key!r} declares no inputs (a subclassed model): give the signature input "
                                       "a dtype and a shape in the spec"))
        return
    try:
        model.with_input_shapes({model.inputs[0].name: spec_in.shape})
    except LitesigError as e:
        problems.append(Problem(where, str(e)))


def _route(sig: SignatureSpec, ref: OutputRef, model: SourceModel, where: str, problems: list[Problem]) -> Route | None:
    names = [i.name for i in sig.inputs]
    wanted = list(model.input_names())
    n = len(wanted)
    order = model.input_order or "the model declares no order"
    args: list[str]
    positional = None
    if not model.declared:
        return None if not model.outputs else _output(ref, model, where, problems, ((wanted[0], _only(ref, names)),))
    if ref.input_map is not None:
        given = dict(ref.input_map)
        unknown = [k for k in given if k not in wanted]
        missing = [w for w in wanted if w not in given]
        if unknown or missing:
            problems.append(Problem(f"{where}.inputs", f"model {model.key!r} takes {', '.join(wanted)}"
                                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                                    + (f"; not given: {', '.join(missing)}" if missing else "")))
            return None
        args = [given[w] for w in wanted]
    elif ref.inputs is not None:
        args = list(ref.inputs)
        if n > 1 and model.input_order is None:
            problems.append(Problem(f"{where}.inputs", _no_order(model, wanted, args)))
            return None
        if len(args) != n:
            problems.append(Problem(f"{where}.inputs", f"model {model.key!r} takes {n} inputs ({', '.join(wanted)}, {order}), {len(args)} given"))
            return None
        positional = order
    elif n == 1:
        if len(names) == 1:
            args = [names[0]]
        elif wanted[0] in names:
            args = [wanted[0]]
        else:
            problems.append(Problem(where, f"model {model.key!r} takes one input ({wanted[0]!r}) and the signature has {len(names)}; "
                                    f"say which: {{ model = \"{model.key}\", inputs = [\"{names[0]}\"] }}"))
            return None
    elif all(w in names for w in wanted):
        args = list(wanted)
    elif len(names) == n and model.input_order is None:
        problems.append(Problem(where, _no_order(model, wanted, names)))
        return None
    elif len(names) == n:
        args = list(names)  # positional: the signature's declared order onto the model's declared order
        positional = order
    else:
        problems.append(Problem(where, f"model {model.key!r} takes {n} inputs ({', '.join(wanted)}); the signature's inputs "
                                f"({', '.join(names)}) match neither by name nor by count; map them by name: "
                                f"inputs = {{ {wanted[0]} = \"{names[0]}\", ... }}"))
        return None
    return _output(ref, model, where, problems, tuple(zip(wanted, args)), positional)


def _no_order(model: SourceModel, wanted: list[str], given: list[str]) -> str:
    table = ", ".join(f'{w} = "{g}"' for w, g in zip(wanted, given + wanted[len(given):]))
    return (f"model {model.key!r} does not declare the order of its inputs ({', '.join(wanted)}): a SavedModel signature's "
            f"inputs are a dict, so a positional list could feed the wrong ones; map them by name: "
            f"{{ model = \"{model.key}\", inputs = {{ {table} }} }}")


def _only(ref: OutputRef, names: list[str]) -> str:
    if ref.inputs:
        return ref.inputs[0]
    if ref.input_map:
        return ref.input_map[0][1]
    return names[0]


def _output(ref: OutputRef, model: SourceModel, where: str, problems: list[Problem],
            feeds: tuple[tuple[str, str], ...], positional: str | None = None) -> Route | None:
    outs = list(model.output_names)
    if ref.output is None:
        if len(outs) != 1:
            problems.append(Problem(where, f"model {model.key!r} has {len(outs)} outputs ({', '.join(outs)}); "
                                    f"say which, e.g. \"{model.key}.{outs[0]}\" or \"{model.key}[0]\""))
            return None
        index = 0
    elif isinstance(ref.output, int):
        if len(outs) > 1 and model.output_order is None:
            problems.append(Problem(where, f"model {model.key!r} does not declare the order of its outputs ({', '.join(outs)}); "
                                    f"name the one you mean: \"{model.key}.{outs[0]}\""))
            return None
        if not 0 <= ref.output < len(outs):
            problems.append(Problem(where, f"model {model.key!r} has {len(outs)} outputs ({', '.join(outs)}); index {ref.output} is out of range"))
            return None
        index = ref.output
    elif ref.output in outs:
        index = outs.index(ref.output)
    else:
        problems.append(Problem(where, f"model {model.key!r} has no output {ref.output!r}; its outputs are: {', '.join(outs)}"))
        return None
    return Route(ref.name, ref.model, feeds, outs[index], positional)
