"""Loading source models (.keras, .h5, SavedModel directories) behind one calling interface.

TensorFlow is imported here lazily: importing this module costs nothing until a model loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LitesigError, SignatureNotFound


@dataclass(frozen=True)
class TensorSig:
    """Name, dtype and shape (-1 = dynamic) of one model input or output."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None


class SourceModel:
    """A loaded model: its inputs, its output names, and a traceable call."""

    def __init__(self, key: str, path: Path, inputs: Sequence[TensorSig], call: Any, tracked: Any):
        self.key, self.path = key, path
        self.inputs = tuple(inputs)
        self._call = call
        self.tracked = tracked  # what the wrapper module must track so weights are saved
        self._output_names: tuple[str, ...] | None = None
        self.int_high: int | None = None  # exclusive bound for integer inputs (e.g. an Embedding's size)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names, from one eager call on zeros (the only way that works for every model kind)."""
        if self._output_names is None:
            from ._tf import import_tf

            tf = import_tf()
            shapes = [[1 if d in (-1, None) else d for d in (i.shape or (1,))] for i in self.inputs]
            try:
                outputs = self.call([tf.zeros(shape, dtype=i.dtype) for shape, i in zip(shapes, self.inputs)])
            except Exception as e:
                first = str(e).strip().splitlines()
                raise LitesigError(
                    f"{self.path}: calling the model on zeros of shape {', '.join(map(str, shapes))} (dynamic dims as 1), "
                    f"to learn its output names, failed: {type(e).__name__}: {first[0] if first else ''}"
                ) from None
            self._output_names = tuple(name for name, _ in outputs)
        return self._output_names

    def call(self, args: Sequence[Any]) -> list[tuple[str, Any]]:
        """Call with inputs in `self.inputs` order; return [(output name, tensor)] in model order."""
        return self._call(list(args))

    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)


def _dims(shape: Any) -> tuple[int, ...] | None:
    if shape is None:
        return None
    try:
        return tuple(-1 if d is None else int(d) for d in shape)
    except TypeError:  # unknown rank
        return None


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def _name_outputs(result: Any, fallback_names: Sequence[str] | None) -> list[tuple[str, Any]]:
    if isinstance(result, dict):
        return list(result.items())
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    names = list(fallback_names or ())
    if len(names) != len(values):
        names = [f"output_{i}" for i in range(len(values))]
    return list(zip(names, values))


class Loader:
    """Loads each source path once (SavedModels are shared between signatures that use them)."""

    def __init__(self, *, unsafe: bool = False):
        self.unsafe = unsafe
        self._saved_models: dict[Path, Any] = {}

    def load(self, key: str, path: Path, signature: str | None = None) -> SourceModel:
        path = Path(path)
        if path.is_dir():
            return self._load_saved_model(key, path, signature)
        if signature is not None:
            raise LitesigError(f"models.{key}.signature: only a SavedModel directory has signatures; {path} is a file")
        if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
            return self._load_keras(key, path)
        raise LitesigError(f"{path}: expected a .keras or .h5 file or a SavedModel directory")

    def _load_keras(self, key: str, path: Path) -> SourceModel:
        from ._tf import import_keras

        keras = import_keras()
        kwargs: dict[str, Any] = {"compile": False}
        if path.suffix.lower() == ".keras":
            kwargs["safe_mode"] = not self.unsafe
        try:
            model = keras.models.load_model(path, **kwargs)
        except ValueError as e:
            if "safe_mode" in str(e):
                raise LitesigError(
                    f"{path}: the model holds Python code (e.g. a Lambda layer) and loading it would run "
                    "that code, which Keras' safe mode refuses. If you trust the file, pass --unsafe "
                    "(or `unsafe = true` under [convert])."
                ) from None
            raise LitesigError(f"{path}: Keras cannot load it: {e}") from None
        except Exception as e:  # Keras raises many types for corrupt or foreign files
            raise LitesigError(f"{path}: Keras cannot load it: {type(e).__name__}: {e}") from None

        keras_inputs = getattr(model, "inputs", None)
        if not keras_inputs:
            raise LitesigError(f"{path}: the model has no defined inputs (build it with keras.Input before saving)")
        inputs = [TensorSig(t.name, _dtype_name(t.dtype), _dims(t.shape)) for t in keras_inputs]
        fallback = getattr(model, "output_names", None)

        def call(args: list[Any]) -> list[tuple[str, Any]]:
            return _name_outputs(model(args[0] if len(args) == 1 else args, training=False), fallback)

        # Keras 3 variables wrap tf.Variables; the wrapper must track the tf.Variables themselves
        # or the converter keeps them as uninitialised resources (the NaN failure in STACK.md).
        tracked = [getattr(v, "value", v) for v in model.variables]
        source = SourceModel(key, path, inputs, call, tracked)
        source.int_high = _embedding_size(model)
        return source

    def _saved_model(self, path: Path) -> Any:
        """Load (once) and return the SavedModel at `path`."""
        from ._tf import import_tf

        if path not in self._saved_models:
            tf = import_tf()
            if not (path / "saved_model.pb").exists():
                raise LitesigError(f"{path}: not a SavedModel directory (no saved_model.pb)")
            try:
                self._saved_models[path] = tf.saved_model.load(str(path))
            except Exception as e:
                raise LitesigError(f"{path}: TensorFlow cannot load the SavedModel: {type(e).__name__}: {e}") from None
        return self._saved_models[path]

    def saved_model_signatures(self, path: Path) -> list[str]:
        """The signature keys of the SavedModel at `path`."""
        return list(self._saved_model(Path(path)).signatures.keys())

    def _load_saved_model(self, key: str, path: Path, signature: str | None) -> SourceModel:
        loaded = self._saved_model(path)
        available = list(loaded.signatures.keys())
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
        inputs = [TensorSig(name, _dtype_name(s.dtype), _dims(s.shape)) for name, s in specs.items()]
        names = [i.name for i in inputs]

        def call(args: list[Any]) -> list[tuple[str, Any]]:
            return list(fn(**dict(zip(names, args))).items())

        return SourceModel(key, path, inputs, call, loaded)


def _embedding_size(model: Any) -> int | None:
    """Smallest Embedding vocabulary in the model: a safe upper bound for random integer inputs."""
    sizes = [layer.input_dim for layer in _walk_layers(model) if hasattr(layer, "input_dim")]
    return min(sizes) if sizes else None


def _walk_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_walk_layers(layer))
    return out
