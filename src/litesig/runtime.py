"""Running signatures on the LiteRT runtime (ai-edge-litert), never the deprecated tf.lite.Interpreter."""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import flatbuffer as fb
from . import _isolate
from ._arrays import shape_fits
from ._io import captured_stderr, describe, read_model_bytes
from .errors import InvalidInput, LitesigError, NotATFLiteModel, Problem, SignatureNotFound, listing
from .validate import validate


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
        content = read_model_bytes(model)
        try:  # validated before LiteRT sees a byte: LiteRT has no verifier and crashes on hostile files
            self.model: fb.Model | None = fb.parse(content)
        except NotATFLiteModel as e:
            raise NotATFLiteModel(f"{self.source}: {e}") from None
        validate(self.model, self.source)
        self._probe = (_isolate.Probe(content, self.source, num_threads=num_threads, subgraphs=len(self.model.subgraphs))
                       if isolate and _isolate.available() else None)  # LiteRT loads it in a child first: a crash there is an error here
        self.isolation_ms = self._probe.load_ms if self._probe else 0.0
        self._probed: set[tuple[str, tuple[tuple[int, ...], ...]]] = set()
        try:
            self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise LitesigError(f"{self.source}: LiteRT cannot load the model: {e}") from None
        _isolate.cache_signature_list(self._interpreter)
        self._signatures = _signature_keys_in_file_order(self.model, self._interpreter)
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
        if signature not in self._signatures:
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
                problems.append(Problem(f"{key}.{name}", f"not an input of this signature{hint}; inputs: {_describe_inputs(expected)}"))
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


def _describe_inputs(details: Mapping[str, TensorDetail]) -> str:
    return ", ".join(f"{n} {d.dtype} {list(d.shape_signature)}" for n, d in details.items())


def _signature_keys_in_file_order(model: fb.Model | None, interpreter: Any) -> list[str]:
    """LiteRT lists signatures alphabetically; the file's own order is what the author declared."""
    listed = list(interpreter.get_signature_list())  # one call: the list is cached (_isolate.cache_signature_list)
    in_file = [s.key for s in model.signatures] if model is not None else []
    return in_file if sorted(in_file) == sorted(listed) else listed


@dataclass(frozen=True)
class BenchResult:
    """Latency of one signature on LiteRT, in milliseconds; memory in MiB."""

    model: str
    signature: str
    threads: int | None
    input_shapes: dict[str, list[int]]
    init_ms: float
    first_invoke_ms: float
    runs: int
    warmup: int
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    peak_rss_mib: float
    isolation_ms: float = 0.0  # the isolated first load and run (crash check), not counted in init or first invoke


def bench(
    model: str | os.PathLike[str] | bytes,
    *,
    signature: str | None = None,
    runs: int = 100,
    warmup: int = 10,
    threads: int | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    inputs: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> BenchResult:
    """Time one signature: interpreter init, first invoke, then `runs` invokes after `warmup`.

    Dynamic dims take `shapes` (e.g. {"x_input": [1, 128, 3]}), else 1. Inputs are random unless given.
    """
    import statistics
    import time

    if runs < 1 or warmup < 0:
        raise InvalidInput("bench", [Problem("--runs/--warmup", "runs must be >= 1 and warmup >= 0")])
    start = time.perf_counter()
    runner = Runner(model, num_threads=threads)
    key = runner.resolve(signature)
    raw = runner.runner(key)
    init_ms = (time.perf_counter() - start) * 1000 - runner.isolation_ms
    details = runner.input_details(key)
    raw_feed = dict(inputs) if inputs is not None else _bench_inputs(details, shapes or {}, key, np.random.default_rng(seed))
    feed = runner.checked(key, raw_feed)  # once: names, dtypes, shapes; the timed loop then calls LiteRT directly
    isolation_ms = runner.isolation_ms + runner.probe(key, feed)  # the crash check, outside every timing
    start = time.perf_counter()
    runner.run(feed, signature=key, check=False)
    first_ms = (time.perf_counter() - start) * 1000
    call = raw if "self" not in feed else (lambda **kw: _isolate.invoke(raw, kw))
    try:
        for _ in range(warmup):
            call(**feed)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            call(**feed)
            times.append((time.perf_counter() - t0) * 1000)
    except (ValueError, RuntimeError) as e:
        raise LitesigError(f"{runner.source}: signature {key!r} failed to run: {e}") from None
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, max(0, int(round(p / 100 * (len(times) - 1)))))]

    return BenchResult(
        model=runner.source, signature=key, threads=threads, input_shapes={n: list(a.shape) for n, a in feed.items()},
        init_ms=round(init_ms, 3), first_invoke_ms=round(first_ms, 3), runs=runs, warmup=warmup,
        min_ms=round(times[0], 4), median_ms=round(statistics.median(times), 4), mean_ms=round(statistics.fmean(times), 4),
        p90_ms=round(pct(90), 4), p99_ms=round(pct(99), 4), max_ms=round(times[-1], 4),
        peak_rss_mib=round(peak_memory_mib(), 1), isolation_ms=round(isolation_ms, 3),
    )


def peak_memory_mib() -> float:
    """This process's own peak resident memory (VmHWM), in MiB.

    ru_maxrss is not: Linux carries it across fork and exec, so a child of a 2 GB parent reports 2 GB.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource  # no /proc (macOS): the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bench_inputs(details: Mapping[str, TensorDetail], shapes: Mapping[str, Sequence[int]], key: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    from .parity import sample_inputs

    problems = []
    for name in shapes:
        if name not in details:
            problems.append(Problem(f"--shape {name}", f"not an input of {key!r}; inputs: {_describe_inputs(details)}"))
    fixed = {}
    for name, d in details.items():
        shape = list(shapes.get(name, [1 if s == -1 else s for s in d.shape_signature]))
        sig = d.shape_signature
        if not shape_fits(shape, sig):
            problems.append(Problem(f"--shape {name}", f"{shape} contradicts the input's shape {list(sig)} (-1 = any size)"))
        fixed[name] = TensorDetail(name, d.dtype, tuple(shape), d.quantization)
    if problems:
        raise InvalidInput("bench", problems)
    return sample_inputs(fixed, batch=1, dynamic=1, rng=rng)
