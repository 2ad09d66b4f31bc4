"""Running signatures on the LiteRT runtime (ai-edge-litert), never the deprecated tf.lite.Interpreter."""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tflite import flatbuffer as fb
from . import _isolate
from .._arrays import shape_fits
from .._io import captured_stderr, describe
from ..errors import InvalidInput, LitesigError, Problem, SignatureNotFound, listing
from ..tflite.validate import validate


@dataclass(frozen=True)
class TensorDetail:
    """A signature input or output as the runtime sees it."""

    name: str
    dtype: np.dtype
    shape_signature: tuple[int, ...]  # -1 = dynamic
    quantization: tuple[float, int]  # (scale, zero_point); (0.0, 0) when not quantized


class Runner:
    """Keeps one LiteRT interpreter for repeated calls of any of its signatures.

    Example:
        >>> runner = Runner("model.tflite")
        >>> out = runner.run({"x_input": x}, signature="sample_method_name")

    Calls are serialised with a lock: a LiteRT interpreter's runners must not run concurrently.
    """

    def __init__(self, model: str | os.PathLike[str] | bytes, *, num_threads: int | None = None, name: str | None = None,
                 isolate: bool = True):
        from ai_edge_litert.interpreter import Interpreter

        self.source = name or describe(model)  # `name`: what messages call the model when it is given as bytes
        # validated before LiteRT sees a byte: LiteRT has no verifier and crashes on hostile files
        content, parsed = fb.load(model, self.source)  # reads a file only up to its model and a bounded tail
        self.model: fb.Model | None = parsed
        validate(parsed, self.source)
        self._probe = (_isolate.Probe(content, self.source, num_threads=num_threads, subgraphs=len(parsed.subgraphs))
                       if isolate and _isolate.available() else None)  # LiteRT loads it in a child first: a crash there is an error here
        self.isolation_ms = self._probe.load_ms if self._probe else 0.0
        self._probed: set[tuple[str, tuple[tuple[int, ...], ...]]] = set()
        try:
            self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise LitesigError(f"{self.source}: LiteRT cannot load the model: {e}") from None
        _isolate.cache_signature_list(self._interpreter)
        self._signatures = _signature_keys_in_file_order(self.model, self._interpreter)
        self._known = frozenset(self._signatures)
        self._runners: dict[str, Any] = {}
        self._inputs: dict[str, dict[str, TensorDetail]] = {}
        self._lock = threading.Lock()
        self._warmed: set[str] = set()

    @property
    def signatures(self) -> list[str]:
        """Signature keys, in the order the file stores them."""
        return list(self._signatures)

    def resolve(self, signature: str | None) -> str:
        """The signature to use: the one named, or the file's only one."""
        if signature is None:
            if len(self._signatures) == 1:
                return self._signatures[0]
            if not self._signatures:
                raise LitesigError(f"{self.source}: the model has no signatures (add one with `litesig rename --add-signature`)")
            raise LitesigError(f"{self.source}: the model has {len(self._signatures)} signatures ({listing(self._signatures)}); choose one with --signature")
        if signature not in self._known:  # a set: verify resolves once per case, on files of thousands of signatures
            raise SignatureNotFound(signature, self._signatures)
        return signature

    def runner(self, signature: str | None = None) -> Any:
        """The raw ai-edge-litert SignatureRunner (for callers who want no checks)."""
        key = self.resolve(signature)
        if key not in self._runners:
            self._runners[key] = self._interpreter.get_signature_runner(key)
        return self._runners[key]

    def input_details(self, signature: str | None = None) -> dict[str, TensorDetail]:
        key = self.resolve(signature)
        if key not in self._inputs:  # fixed for the file's life; cached because every checked run needs it
            self._inputs[key] = _details(self.runner(key).get_input_details())
        return self._inputs[key]

    def output_details(self, signature: str | None = None) -> dict[str, TensorDetail]:
        return _details(self.runner(signature).get_output_details())

    def run(self, inputs: Mapping[str, Any], *, signature: str | None = None, check: bool = True) -> dict[str, np.ndarray]:
        """Run one signature; dynamic dims are resized to the arrays given.

        Raises:
            InvalidInput: a missing or extra input, a wrong dtype, or a shape that contradicts a fixed dim.
        """
        key = self.resolve(signature)
        runner = self.runner(key)
        arrays = self.checked(key, inputs) if check else dict(inputs)
        self.probe(key, arrays)
        with self._lock:
            try:
                if key in self._warmed:
                    out = _isolate.invoke(runner, arrays)
                else:  # the first invoke applies the XNNPACK delegate, which logs an INFO line to fd 2
                    with captured_stderr():
                        out = _isolate.invoke(runner, arrays)
                    self._warmed.add(key)
            except (ValueError, RuntimeError, TypeError, IndexError, MemoryError) as e:
                raise LitesigError(f"{self.source}: signature {key!r} failed to run: {e}") from None
        return {name: np.asarray(value) for name, value in out.items()}

    def probe(self, signature: str, arrays: Mapping[str, Any]) -> float:
        """Run `signature` once on these inputs in an isolated child, the first time these shapes are seen.

        Returns the milliseconds spent (0 when already probed). Raises RuntimeCrash if LiteRT crashes there.
        """
        shapes = tuple(tuple(np.shape(arrays[n])) for n in sorted(arrays))
        if self._probe is None or (signature, shapes) in self._probed:
            return 0.0
        ms = self._probe.run(signature, {n: np.asarray(a) for n, a in arrays.items()})
        self._probed.add((signature, shapes))
        return ms

    def checked(self, signature: str | None, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The inputs as the signature takes them (same-kind dtypes cast), or InvalidInput listing every problem."""
        key = self.resolve(signature)
        expected = self.input_details(key)
        problems = []
        for name in inputs:
            if name not in expected:
                close = difflib.get_close_matches(name, expected, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(Problem(f"{key}.{name}", f"not an input of this signature{hint}; inputs: {describe_inputs(expected)}"))
        arrays = {}
        for name, detail in expected.items():
            if name not in inputs:
                problems.append(Problem(f"{key}.{name}", f"missing input; expected {detail.dtype} {list(detail.shape_signature)}"))
                continue
            array = np.asarray(inputs[name])
            if detail.dtype.kind == "S" and array.dtype.kind in "SU":  # string inputs: bytes of any length; text as UTF-8
                array = np.char.encode(array, "utf-8") if array.dtype.kind == "U" else array
            elif array.dtype != detail.dtype:
                if np.can_cast(array.dtype, detail.dtype, casting="same_kind") and array.dtype.kind == detail.dtype.kind:
                    array = array.astype(detail.dtype)
                else:
                    problems.append(Problem(f"{key}.{name}", f"dtype {array.dtype}, expected {detail.dtype}"))
                    continue
            want = detail.shape_signature
            if not shape_fits(array.shape, want):
                problems.append(Problem(f"{key}.{name}", f"shape {list(array.shape)}, expected {list(want)} (-1 = any size)"))
                continue
            arrays[name] = array
        if problems:
            raise InvalidInput(self.source, problems)
        return arrays


def run(model: str | os.PathLike[str] | bytes, inputs: Mapping[str, Any], *, signature: str | None = None) -> dict[str, np.ndarray]:
    """Run one signature of a .tflite model once. For repeated calls, keep a `Runner`."""
    return Runner(model).run(inputs, signature=signature)


def _details(raw: Mapping[str, Any]) -> dict[str, TensorDetail]:
    return {
        name: TensorDetail(
            name=name,
            dtype=np.dtype(d["dtype"]),
            shape_signature=tuple(int(x) for x in d.get("shape_signature", d["shape"])),
            quantization=(float(d["quantization"][0]), int(d["quantization"][1])),
        )
        for name, d in raw.items()
    }


def describe_inputs(details: Mapping[str, TensorDetail]) -> str:
    return ", ".join(f"{n} {d.dtype} {list(d.shape_signature)}" for n, d in details.items())


class OnAnotherRuntime:
    """For runners of another runtime (CompiledModel, LiteRT.js) that keep a `Runner` of the same file as `reference`:
    the file's signatures, in file order, and the details of their inputs and outputs come from it, so verification
    sees the same interface on every runtime."""

    reference: Runner

    @property
    def signatures(self) -> list[str]:
        return self.reference.signatures

    def resolve(self, signature: str | None) -> str:
        return self.reference.resolve(signature)

    def input_details(self, signature: str | None = None) -> dict[str, TensorDetail]:
        return self.reference.input_details(signature)

    def output_details(self, signature: str | None = None) -> dict[str, TensorDetail]:
        return self.reference.output_details(signature)


def _signature_keys_in_file_order(model: fb.Model | None, interpreter: Any) -> list[str]:
    """LiteRT lists signatures alphabetically; the file's own order is what the author declared."""
    listed = list(interpreter.get_signature_list())  # one call: the list is cached (_isolate.cache_signature_list)
    in_file = [s.key for s in model.signatures] if model is not None else []
    return in_file if sorted(in_file) == sorted(listed) else listed
