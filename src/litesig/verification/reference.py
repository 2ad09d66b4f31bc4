"""The reference verify compares with: the source models called the way a user calls them.

A Keras model is called on the input structure it declares (a dict by name where it takes a dict),
a SavedModel signature by keyword; signature inputs reach model inputs only through the spec's
names (routing.py). Nothing here goes through the tf.function wrapper that was converted
(conversion.py), and the models are loaded anew by this module's own Loader: a bug in the
wrapper, or state the conversion left behind, makes verify fail instead of hiding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..sources.routing import Plan, plan_signatures
from ..sources.models import Loader, SourceModel
from ..sources.spec import Spec

Range = tuple[float, float]


def call_source(model: SourceModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call a loaded source model eagerly on numpy inputs keyed by its own input names; outputs by name."""
    import tensorflow as tf

    args = {name: _as_dtype(feeds[name], sig.dtype) for name, sig in zip(model.input_names(), model.inputs)}
    if model.kind == "saved_model":
        result = model.obj(**{k: tf.constant(v) for k, v in args.items()})
        return {k: np.asarray(v) for k, v in result.items()}
    if model.structure == "dict":
        out = model.obj(args, training=False)
    elif model.structure == "list":
        out = model.obj([args[i.name] for i in model.inputs], training=False)
    else:
        out = model.obj(args[model.inputs[0].name], training=False)
    if isinstance(out, Mapping):
        return {str(k): _numpy(v) for k, v in out.items()}
    values = list(out) if isinstance(out, (list, tuple)) else [out]
    return {o.name: _numpy(v) for o, v in zip(model.outputs, values)}


def _as_dtype(value: Any, dtype: str) -> np.ndarray:
    """The array in the model's dtype; strings stay bytes (numpy has no "string" dtype, TensorFlow takes bytes)."""
    array = np.asarray(value)
    if dtype == "string":
        return np.char.encode(array, "utf-8") if array.dtype.kind == "U" else array
    return array.astype(dtype, copy=False)


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


class SpecReference:
    """The spec's signatures computed from its source models, loaded anew and called as a user calls them."""

    def __init__(self, spec: Spec, *, loader: Loader | None = None):
        from .._tf import import_tf

        import_tf()
        self.spec = spec
        loader = loader or Loader(unsafe=spec.options.unsafe, code=spec.options.code)
        self.sources = {key: loader.load(key, m.path, m.signature) for key, m in spec.models.items()}
        self.plans: dict[str, Plan] = {p.name: p for p in plan_signatures(spec, self.sources)}

    def __call__(self, signature: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        plan = self.plans[signature]
        calls: dict[Any, dict[str, np.ndarray]] = {}
        result = {}
        for route in plan.routes:
            if route.call_key not in calls:
                calls[route.call_key] = call_source(self.sources[route.model], {m: feed[s] for m, s in route.feeds})
            result[route.output] = calls[route.call_key][route.model_output]
        return result

    def input_ranges(self) -> dict[str, dict[str, Range]]:
        """Per signature and input: the spec's `range`, else the narrowest range the models it feeds declare (an Embedding's size)."""
        ranges: dict[str, dict[str, Range]] = {}
        for name, plan in self.plans.items():
            declared: dict[str, list[Range]] = {}
            for route in plan.routes:
                model = self.sources[route.model]
                for model_input, sig_input in route.feeds:
                    r = next(i for i in model.inputs if i.name == model_input).int_range
                    if r is not None:
                        declared.setdefault(sig_input, []).append(r)
            sig = ranges[name] = {}
            for inp in plan.inputs:
                if inp.range is not None:
                    sig[inp.name] = inp.range
                elif inp.name in declared:
                    sig[inp.name] = min(declared[inp.name], key=lambda r: r[1] - r[0])
        return ranges

    def stateful(self, signature: str) -> bool:
        """Whether calling the signature changes variables (a training step)."""
        return any(self.sources[r.model].stateful for r in self.plans[signature].routes)

    def effects(self, signature: str) -> list[str]:
        """Why calling the signature could touch files, the network or Python (empty: it may run)."""
        return sorted({e for r in self.plans[signature].routes for e in self.sources[r.model].effects})


class SavedModelReference:
    """A SavedModel's signatures of the same names, called by keyword with the .tflite's input names."""

    def __init__(self, path: Path, signatures: Sequence[str], *, unsafe: bool = False, code: Sequence[Path] = ()):
        from ..errors import SignatureNotFound

        loader = Loader(unsafe=unsafe, code=code)
        available = loader.saved_model_signatures(path)
        for sig in signatures:
            if sig not in available:
                raise SignatureNotFound(sig, available)
        self.path = path
        self.models = {sig: loader.load(sig, path, sig) for sig in signatures}

    def __call__(self, signature: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ..errors import LitesigError

        src = self.models[signature]
        missing = [n for n in src.input_names() if n not in feed]
        if missing:
            raise LitesigError(f"{self.path}: signature {signature!r} takes inputs {', '.join(src.input_names())}; "
                               f"the .tflite has {', '.join(feed)}")
        return call_source(src, feed)

    def input_ranges(self) -> dict[str, dict[str, Range]]:
        return {sig: {i.name: i.int_range for i in m.inputs if i.int_range} for sig, m in self.models.items()}

    def stateful(self, signature: str) -> bool:
        return self.models[signature].stateful

    def effects(self, signature: str) -> list[str]:
        return list(self.models[signature].effects)
