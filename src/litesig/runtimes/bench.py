"""Timing one signature on LiteRT's Interpreter: init, first invoke, steady state, peak memory."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import shape_fits
from ..errors import InvalidInput, LitesigError, Problem
from . import _isolate
from .inputs import sample_inputs
from .interpreter import Runner, TensorDetail, describe_inputs


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
    problems = []
    for name in shapes:
        if name not in details:
            problems.append(Problem(f"--shape {name}", f"not an input of {key!r}; inputs: {describe_inputs(details)}"))
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
