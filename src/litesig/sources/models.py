"""Loading source models (.keras, .h5, SavedModel directories) and learning their structure without running them.

Names, dtypes, shapes and the order of a model's inputs and outputs come from what the model
declares: a Keras model's input and output structure, a SavedModel signature's
`structured_input_signature` and `structured_outputs`. No user function is called here: user
functions may train, write files or read files (see docs/verification.md).

Declared orders (what positional renames and the spec's `inputs = [...]` follow):
- Keras: the order the model declares (a dict's keys as written, a list's items).
- SavedModel inputs: the argument order of the function behind the signature, where the object
  graph keeps it (a tf.Module's `@tf.function`, a tf_keras model's `__call__`, a Keras 3 export of
  a list-input model): read from the saved functions' input signatures, never by calling them.
  A signature's own dict order changes from process to process (PYTHONHASHSEED) and a dict argument
  has no order, so where no function declares one the order is unknown (`input_order` None) and
  positional names over several inputs are refused, never guessed.
- SavedModel outputs: `output_0`, `output_1`, ... (a function that returned a tuple) in that order;
  any other names of several outputs have no declared order (`output_order` None).

TensorFlow is imported here lazily: importing this module costs nothing until a model loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import source_problem
from .._messages import framework_message
from ..errors import LitesigError, SignatureNotFound
from .effects import outside_effects

# Ops whose presence in a signature's graph means calling it changes state or touches files.
_ASSIGN_OPS = frozenset({"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "ResourceScatterUpdate",
                         "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul", "ResourceScatterDiv",
                         "ResourceApplyGradientDescent", "ResourceApplyAdam", "ResourceApplyMomentum",
                         "ResourceApplyKerasMomentum", "ResourceApplyRMSProp", "ResourceApplyAdagradV2", "AssignVariableXlaConcatND"})

@dataclass(frozen=True)
class TensorSig:
    """Name, dtype and shape (-1 = dynamic, None = unknown rank) of one model input or output."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None
    int_range: tuple[int, int] | None = None  # [low, high) for integer inputs, learned from the model's tables


@dataclass
class SourceModel:
    """A loaded model and what it declares. Calling it is left to the wrapper and to the reference.

    `kind` is "keras" or "saved_model". For Keras, `structure` says how the model takes its inputs:
    "single" (one tensor), "list" (in `inputs` order) or "dict" (keyed by input name). A Keras model
    that declares no inputs (a subclassed model) has `declared = False` and one input named "inputs".
    """

    key: str
    path: Path
    kind: str
    inputs: tuple[TensorSig, ...]
    outputs: tuple[TensorSig, ...]
    obj: Any  # the keras.Model, or the SavedModel's signature function
    tracked: Any  # what a wrapper module must track so the weights are saved
    structure: str = "single"
    output_structure: str = "single"  # "single", "list" or "dict": what calling the model returns
    declared: bool = True
    signature: str | None = None
    input_order: str | None = "as the model declares them"  # where the order of `inputs` comes from; None: unknown
    output_order: str | None = "as the model declares them"  # likewise for `outputs`
    stateful: bool = False  # the signature assigns variables (a training step)
    effects: tuple[str, ...] = ()  # why calling it could touch files, the network or Python (sources/effects.py); () = may run
    notes: list[str] = field(default_factory=list)

    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def with_input_shapes(self, shapes: Mapping[str, Sequence[int]]) -> SourceModel:
        """For a model that declares no inputs: its outputs, by a symbolic call (no data, no side effects) on `shapes`."""
        if self.declared:
            return self
        from .._tf import import_keras

        keras = import_keras()
        spec = self.inputs[0]
        shape = shapes.get(spec.name)
        if shape is None:
            raise LitesigError(f"{self.path}: the model declares no inputs (a subclassed model); give the input's dtype and shape in the spec")
        tensor = keras.KerasTensor(tuple(None if d == -1 else d for d in shape), dtype=spec.dtype)
        try:
            result = self.obj.compute_output_spec(tensor)
        except Exception as e:
            raise LitesigError(f"{self.path}: the model's call cannot be traced symbolically on a {spec.dtype} input of shape "
                               f"{list(shape)}: {framework_message(e)}") from None
        outputs, structure = _keras_outputs(result, None)
        self.outputs, self.output_structure = outputs, structure
        self.inputs = (TensorSig(spec.name, spec.dtype, tuple(shape)),)
        self.declared = True
        return self


def _dims(shape: Any) -> tuple[int, ...] | None:
    if shape is None:
        return None
    try:
        return tuple(-1 if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # unknown rank: TypeError before TF 2.21, ValueError since
        return None


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", None) or str(dtype)


_GENERATED = re.compile(r"(keras_tensor|input_layer|input)(_\d+)?")


def _stable_input_names(names: list[str]) -> list[str]:
    """Names Keras generated from a process-wide counter (`keras_tensor_14` on one load, `keras_tensor_28` on the next)
    become the same on every load: the base name, numbered by position. The inputs are passed by position anyway."""
    bases = [m.group(1) if (m := _GENERATED.fullmatch(n)) else None for n in names]
    out = []
    for i, (name, base) in enumerate(zip(names, bases)):
        stable = name if base is None else (base if len(names) == 1 else f"{base}_{i}")
        out.append(stable)
    return out if len(set(out)) == len(out) else names


def _keras_outputs(struct: Any, layer_names: Sequence[str] | None) -> tuple[tuple[TensorSig, ...], str]:
    """Output names from a Keras output structure: dict keys as declared, else layer names, else output_<i>."""
    if isinstance(struct, Mapping):
        return tuple(TensorSig(str(k), _dtype_name(v.dtype), _dims(v.shape)) for k, v in struct.items()), "dict"
    values = list(struct) if isinstance(struct, (list, tuple)) else [struct]
    names = list(layer_names or ())
    if len(names) != len(values) or len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(values))]
    kind = "list" if isinstance(struct, (list, tuple)) else "single"
    return tuple(TensorSig(n, _dtype_name(v.dtype), _dims(v.shape)) for n, v in zip(names, values)), kind


class Loader:
    """Loads each source path once (SavedModels are shared between signatures that use them)."""

    def __init__(self, *, unsafe: bool = False, code: Sequence[Path] = ()):
        self.unsafe = unsafe
        self.code = tuple(Path(c) for c in code)
        self._saved_models: dict[Path, Any] = {}
        self._models: dict[tuple[str, Path, str | None], SourceModel] = {}
        self._code_loaded = False

    def loaded(self, key: str, path: Path, signature: str | None = None) -> bool:
        """Whether `load` with these arguments would return a model already loaded."""
        return (key, Path(path), signature) in self._models

    def load(self, key: str, path: Path, signature: str | None = None) -> SourceModel:
        """Load (once per key, path and signature) and probe a source model."""
        path = Path(path)
        cache_key = (key, path, signature)
        if cache_key not in self._models:
            unusable = source_problem(path)
            if unusable:
                raise LitesigError(f"{path}: {unusable}")
            if path.is_dir():
                self._models[cache_key] = self._load_saved_model(key, path, signature)
            elif signature is not None:
                raise LitesigError(f"models.{key}.signature: only a SavedModel directory has signatures; {path} is a file")
            elif path.suffix.lower() in (".keras", ".h5", ".hdf5"):
                self._models[cache_key] = self._load_keras(key, path)
            else:
                raise LitesigError(f"{path}: expected a .keras or .h5 file or a SavedModel directory")
        return self._models[cache_key]

    def _import_code(self) -> None:
        """Import the user's --code files (custom layers and models register themselves with Keras)."""
        if self._code_loaded:
            return
        self._code_loaded = True
        from .user_code import import_user_code

        import_user_code(self.code)

    def _load_keras(self, key: str, path: Path) -> SourceModel:
        from .._tf import import_keras

        keras = import_keras()
        self._import_code()
        kwargs: dict[str, Any] = {"compile": False}
        if path.suffix.lower() == ".keras":
            kwargs["safe_mode"] = not self.unsafe
        try:
            model = keras.models.load_model(path, **kwargs)
        except Exception as e:  # Keras raises many types for corrupt or foreign files
            raise _keras_load_error(path, e, bool(self.code)) from None

        struct = getattr(model, "_inputs_struct", None)
        keras_inputs = getattr(model, "inputs", None)
        declared = True
        if isinstance(struct, Mapping):
            structure = "dict"
            inputs = tuple(TensorSig(str(k), _dtype_name(t.dtype), _dims(t.shape)) for k, t in struct.items())
            tensors = list(struct.values())
        elif keras_inputs:
            structure = "single" if len(keras_inputs) == 1 and not isinstance(struct, (list, tuple)) else "list"
            names = _stable_input_names([t.name for t in keras_inputs])
            inputs = tuple(TensorSig(n, _dtype_name(t.dtype), _dims(t.shape)) for n, t in zip(names, keras_inputs))
            tensors = list(keras_inputs)
        else:  # a subclassed model: no declared inputs; the spec gives dtype and shape
            structure, declared, tensors = "single", False, []
            inputs = (TensorSig("inputs", "float32", None),)
        if declared:
            out_struct = getattr(model, "_outputs_struct", None)
            if out_struct is None or isinstance(out_struct, str):
                out_struct = model.outputs if len(model.outputs) != 1 else model.outputs[0]
            outputs, output_structure = _keras_outputs(out_struct, getattr(model, "output_names", None))
            inputs = tuple(_with_range(sig, _keras_int_range(model, t)) for sig, t in zip(inputs, tensors))
        else:
            outputs, output_structure = (), "single"

        # Keras 3 variables wrap tf.Variables; the wrapper must track the tf.Variables themselves
        # or the converter keeps them as uninitialised resources (the NaN failure in STACK.md).
        # Lookup tables (StringLookup, TextVectorization, ...) are resources outside model.variables.
        tracked = [[getattr(v, "value", v) for v in model.variables], _keras_resources(model)]
        return SourceModel(key, path, "keras", inputs, outputs, model, tracked, structure=structure,
                           output_structure=output_structure, declared=declared)

    def _saved_model(self, path: Path) -> Any:
        """Load (once) and return the SavedModel at `path`."""
        from .._tf import import_tf

        if path not in self._saved_models:
            tf = import_tf()
            if not (path / "saved_model.pb").exists():
                raise LitesigError(f"{path}: not a SavedModel directory (no saved_model.pb)")
            self._import_code()
            try:
                self._saved_models[path] = tf.saved_model.load(str(path))
            except Exception as e:
                raise LitesigError(f"{path}: TensorFlow cannot load the SavedModel: {framework_message(e)}") from None
        return self._saved_models[path]

    def saved_model_signatures(self, path: Path) -> list[str]:
        """The signature keys of the SavedModel at `path`, sorted."""
        return sorted(self._saved_model(Path(path)).signatures.keys())

    def _load_saved_model(self, key: str, path: Path, signature: str | None) -> SourceModel:
        loaded = self._saved_model(path)
        available = sorted(loaded.signatures.keys())
        if signature is None:
            if len(available) != 1:
                raise LitesigError(
                    f"models.{key}: {path} has {len(available)} signatures ({', '.join(available) or 'none'}); "
                    "say which one with `signature = \"...\"`"
                )
            signature = available[0]
        if signature not in available:
            raise SignatureNotFound(signature, available)
        fn = loaded.signatures[signature]
        specs = fn.structured_input_signature[1]
        ops = _graph_ops(fn)
        high = _saved_model_table_size(loaded)
        tables = _saved_model_gather_sizes(fn, [n for n in specs if _is_int(specs[n].dtype)])
        input_order, order_where = _declared_input_order(loaded, specs)
        inputs = tuple(
            _with_range(TensorSig(name, _dtype_name(specs[name].dtype), _dims(specs[name].shape)),
                        (0, min(tables[name])) if tables.get(name) else (0, high) if high and _is_int(specs[name].dtype) else None)
            for name in (input_order or sorted(specs))
        )
        outs = fn.structured_outputs
        if not isinstance(outs, Mapping):
            raise LitesigError(f"{path}: signature {signature!r} does not return named outputs")
        output_order, output_where = _declared_output_order(list(outs))
        outputs = tuple(TensorSig(name, _dtype_name(outs[name].dtype), _dims(outs[name].shape)) for name in (output_order or sorted(outs)))
        return SourceModel(key, path, "saved_model", inputs, outputs, fn, loaded, structure="dict", output_structure="dict",
                           input_order=order_where, output_order=output_where,
                           signature=signature, stateful=bool(ops & _ASSIGN_OPS), effects=tuple(outside_effects(fn)))


def _declared_input_order(loaded: Any, specs: Mapping[str, Any]) -> tuple[list[str] | None, str | None]:
    """The order of a signature's inputs as the function behind it declares its arguments, and where it was read.

    Reads the input signatures of the functions the SavedModel's object graph keeps (attributes of
    the root object); calls none of them. Only positional structures count: a dict argument has no
    order. (None, None) unless every function that takes exactly these inputs agrees on one order.
    """
    names = sorted(specs)
    if len(names) == 1:
        return names, "its only input"
    orders: dict[tuple[str, ...], str] = {}
    try:
        attributes = list(vars(loaded).items())
    except TypeError:
        return None, None
    for attribute, value in attributes:
        try:
            functions = list(getattr(value, "concrete_functions", None) or ())
        except Exception:  # not a restored function
            continue
        for concrete in functions:
            try:
                flat = _positional_specs(concrete.structured_input_signature)
            except Exception:
                continue
            if flat is not None and sorted(flat) == names:
                orders.setdefault(tuple(flat), attribute)
    if len(orders) != 1:
        return None, None
    (order, attribute), = orders.items()
    return list(order), f"the argument order of the SavedModel's function {attribute!r}"


def _positional_specs(structure: Any) -> list[str] | None:
    """Tensor names of a nested structure in order; None if any level is a dict (no declared order)."""
    out: list[str] = []
    todo = [structure]
    while todo:
        item = todo.pop(0)
        if isinstance(item, Mapping):
            if item:
                return None
            continue
        if isinstance(item, (list, tuple)):
            todo[:0] = list(item)
            continue
        name = getattr(item, "name", None)
        if name is not None and hasattr(item, "dtype") and hasattr(item, "shape"):
            out.append(str(name))
    return out


def _declared_output_order(names: list[str]) -> tuple[list[str] | None, str | None]:
    """output_0, output_1, ... in numeric order (a function that returned a tuple); any other several names: unknown."""
    if len(names) == 1:
        return names, "its only output"
    numbered = [re.fullmatch(r"output_(\d+)", n) for n in names]
    if all(numbered):
        return sorted(names, key=lambda n: int(n.rsplit("_", 1)[1])), "output_0, output_1, ...: the order the function returned them"
    return None, None


def _keras_load_error(path: Path, e: Exception, have_code: bool) -> LitesigError:
    text = str(e)
    if "safe_mode" in text or "Lambda" in text and "unsafe" in text:
        return LitesigError(
            f"{path}: the model holds Python code (e.g. a Lambda layer) and loading it would run "
            "that code, which Keras' safe mode refuses. If you trust the file, pass --unsafe "
            "(or `unsafe = true` under [convert])."
        )
    if "Could not locate class" in text or "Could not locate function" in text or "Unknown layer" in text:
        import re

        m = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        what = f"class {m.group(1)!r}" if m else "a custom class"
        hint = ("the --code files did not define it (register it with @keras.saving.register_keras_serializable())"
                if have_code else "give the Python file that defines it with --code FILE.py (spec: code = [\"layers.py\"]) "
                "together with --unsafe: importing it runs that code")
        return LitesigError(f"{path}: the model uses {what}, which Keras cannot find: {hint}")
    return LitesigError(f"{path}: Keras cannot load it: {framework_message(e, limit=800)}")


def _with_range(sig: TensorSig, int_range: tuple[int, int] | None) -> TensorSig:
    return sig if int_range is None else TensorSig(sig.name, sig.dtype, sig.shape, int_range)


def _is_int(dtype: Any) -> bool:
    return _dtype_name(dtype) in ("int8", "uint8", "int16", "uint16", "int32", "int64", "uint32", "uint64")


def _keras_int_range(model: Any, tensor: Any) -> tuple[int, int] | None:
    """For an integer input: [0, size) of the smallest table (Embedding) it indexes; [0, 2) if it feeds no table."""
    if not _is_int(tensor.dtype):
        return None
    sizes = []
    for layer in _consumers(model, tensor):
        sizes.extend(_table_sizes(layer))
    if sizes:
        return (0, min(sizes))
    return (0, 2)  # masks and flags: no table is indexed by it


def _consumers(model: Any, tensor: Any) -> list[Any]:
    """The layers of a functional model whose call takes `tensor` (from the declared graph; nothing is run)."""
    out = []
    for layer in getattr(model, "layers", []) or []:
        for node in getattr(layer, "_inbound_nodes", []) or []:
            if any(t is tensor for t in getattr(node, "input_tensors", ()) or ()):
                out.append(layer)
                break
    return out


def _table_sizes(layer: Any) -> list[int]:
    """Vocabulary sizes of Embedding-like layers in `layer` (itself, or nested in it)."""
    sizes = []
    todo = [layer]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        size = getattr(current, "input_dim", None)
        if isinstance(size, int) and size > 0:
            sizes.append(size)
            continue
        todo.extend(getattr(current, "_layers", None) or [])
    return sizes


def _keras_resources(model: Any) -> list[Any]:
    """Lookup tables and other TensorFlow resources held by a Keras model's layers (not in model.variables)."""
    from .._tf import import_tf

    tf = import_tf()
    # The public name of the class every lookup table (StaticHashTable, MutableHashTable, ...) derives from.
    base = getattr(getattr(getattr(tf, "saved_model", None), "experimental", None), "TrackableResource", None)
    found: list[Any] = []
    flatten = getattr(model, "_flatten_layers", None)
    todo = list(flatten(include_self=False, recursive=True)) if flatten else list(getattr(model, "layers", []))
    for layer in todo:
        for value in list(vars(layer).values()):
            candidates = value if isinstance(value, (list, tuple)) else [value]
            for c in candidates:
                if base is not None and isinstance(c, base) and all(c is not f for f in found):
                    found.append(c)
                inner = getattr(c, "lookup_table", None) or getattr(c, "_table", None)
                if base is not None and isinstance(inner, base) and all(inner is not f for f in found):
                    found.append(inner)
    return found


def _graph_ops(fn: Any) -> set[str]:
    """Op types in a signature's graph and every function it calls (read from the graph, not run)."""
    try:
        graph_def = fn.graph.as_graph_def()
    except Exception:
        return set()
    ops = {n.op for n in graph_def.node}
    for f in graph_def.library.function:
        ops.update(n.op for n in f.node_def)
    return ops


def _saved_model_table_size(loaded: Any) -> int | None:
    """The smallest embedding table among a SavedModel's variables (2-D, named *embedding*), or None."""
    sizes = []
    for v in getattr(loaded, "variables", []) or []:
        name = getattr(v, "name", "").lower()
        shape = getattr(v, "shape", None)
        if "embed" in name and shape is not None and shape.rank == 2 and shape[0]:
            sizes.append(int(shape[0]))
    return min(sizes) if sizes else None


# Ops whose output does not depend on the values of their inputs: ids do not flow through them.
_SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "ZerosLike", "OnesLike"})
_GATHER_OPS = frozenset({"GatherV2", "Gather", "ResourceGather", "GatherNd", "ResourceGatherNd"})
_CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})


def _saved_model_gather_sizes(fn: Any, names: Sequence[str]) -> dict[str, list[int]]:
    """Per integer input: the row counts of the tables it indexes, read from the signature's traced graph (nothing runs).

    Follows each input's values forward, into called functions, to the `indices` of a gather
    (tf.gather, tf.nn.embedding_lookup, a Keras Embedding); the table's first dimension is its size.
    Shape-only uses (tf.shape of the ids, e.g. for position ids) are not followed. Empty on any surprise.
    """
    found: dict[str, list[int]] = {}
    try:
        graph = fn.graph
        placeholders = {op.name: op.outputs[0] for op in graph.get_operations() if op.type == "Placeholder"}
        for name in names:
            if name in placeholders:
                found[name] = sorted(set(_gather_sizes_from(graph, placeholders[name], depth=0)))
    except Exception:  # a graph this walk does not understand: fall back to the name heuristic
        return {}
    return found


def _gather_sizes_from(graph: Any, start: Any, depth: int) -> list[int]:
    sizes: list[int] = []
    todo, seen = [start], set()
    while todo:
        tensor = todo.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        for op in tensor.consumers():
            if op.type in _SHAPE_OPS:
                continue
            if op.type in _GATHER_OPS:
                if len(op.inputs) > 1 and op.inputs[1] is tensor:
                    size = _rows(op.inputs[0])
                    if size:
                        sizes.append(size)
                continue  # the gathered rows are values of the table, not ids
            if op.type in _CALL_OPS and depth < 8:
                inner = graph._get_function(op.get_attr("f").name).graph
                for i, t in enumerate(op.inputs):
                    if t is tensor and i < len(inner.inputs):
                        sizes.extend(_gather_sizes_from(inner, inner.inputs[i], depth + 1))
                continue
            todo.extend(op.outputs)
    return sizes


def _rows(params: Any) -> int | None:
    """The first dimension of a gather's table: from its static shape, or a resource handle's recorded shape."""
    if params.dtype.name != "resource":
        dims = params.shape.as_list() if params.shape.rank else None
        return dims[0] if dims and dims[0] else None
    data = getattr(params, "_handle_data", None)
    if data is None or not data.shape_and_type:
        return None
    dims = data.shape_and_type[0].shape.dim
    return int(dims[0].size) if dims and dims[0].size > 0 else None
