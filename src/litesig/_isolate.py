"""Crash isolation: the first load and the first run of a model happen in a forked child.

LiteRT is C++: a model that slips past validation can still make it segfault, abort or allocate
without bound, which would kill the caller with no word about the file. So before the in-process
interpreter sees a model (and before each new signature/input shapes combination first runs), a
forked child does the same work, under an address-space limit (LITESIG_MAX_MEMORY_MB) and a time
limit (LITESIG_PROBE_TIMEOUT). A child killed by a signal becomes a clear error naming the file;
a child that merely raised is ignored, since the in-process call raises the same error with its
message. Forking costs a few milliseconds (see README); the timed loop of bench is never isolated.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from ._limits import isolate, max_memory_bytes, mib, probe_timeout
from .errors import LitesigError

_EXCEPTION, _NO_MEMORY = 3, 4


class RuntimeCrash(LitesigError):
    """LiteRT crashed, ran out of its memory allowance or hung on a model (seen in an isolated child)."""


def available() -> bool:
    return isolate() and hasattr(os, "fork")


def probe(content: bytes, source: str, *, num_threads: int | None = None, subgraphs: int = 1,
          feeds: Mapping[str, Mapping[str, Any]] | None = None) -> float:
    """Load the model and allocate its `subgraphs` (or run each signature of `feeds` once) in a forked child.

    Returns the milliseconds it took; 0 if isolation is off (LITESIG_ISOLATE=0) or unavailable.

    Raises:
        RuntimeCrash: the child died of a signal, exceeded the memory limit or the time limit.
    """
    if not available():
        return 0.0
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(content, num_threads, subgraphs, feeds, log.fileno())
        status = _wait(pid, probe_timeout())
        if status is None:
            raise RuntimeCrash(f"{source}: LiteRT did not finish {_what(feeds)} within {probe_timeout():.0f} s "
                               f"(LITESIG_PROBE_TIMEOUT); the model is refused")
        log.seek(0)
        said = _last_line(log.read(65536))
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        raise RuntimeCrash(f"{source}: LiteRT crashed ({name}) while {_what(feeds)}; the model is malformed or "
                           f"unsupported{': ' + said if said else ''}")
    if os.WEXITSTATUS(status) == _NO_MEMORY:
        raise RuntimeCrash(f"{source}: LiteRT needs more than {mib(max_memory_bytes())} while {_what(feeds)} "
                           f"(raise the limit with LITESIG_MAX_MEMORY_MB)")
    return (time.perf_counter() - start) * 1000


def _what(feeds: Mapping[str, Any] | None) -> str:
    return "loading the model" if not feeds else f"running signature {', '.join(feeds)}"[:200]


def _last_line(raw: bytes) -> str:
    lines = [ln.strip() for ln in raw.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if "XNNPACK" not in ln]
    return lines[-1][:300] if lines else ""


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _child(content: bytes, num_threads: int | None, subgraphs: int, feeds: Mapping[str, Mapping[str, Any]] | None, log_fd: int) -> None:
    code = 0
    try:
        os.dup2(log_fd, 2)
        os.dup2(log_fd, 1)
        _limit_memory()
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=content, num_threads=num_threads)
        if feeds is None:  # allocate every subgraph once (not once per signature: files may hold thousands)
            for index in range(subgraphs):
                interpreter._interpreter.AllocateTensors(index)
        else:
            for key, feed in feeds.items():
                invoke(interpreter.get_signature_runner(key), feed)
    except MemoryError:
        code = _NO_MEMORY
    except BaseException as e:  # the parent repeats the call in-process and reports it
        code = _NO_MEMORY if "memory" in str(e).lower() and "alloc" in str(e).lower() else _EXCEPTION
    os._exit(code)


def _limit_memory() -> None:
    import resource

    try:
        with open("/proc/self/status") as f:
            vm = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
        limit = vm + max_memory_bytes()
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass


def invoke(runner: Any, arrays: Mapping[str, Any]) -> dict[str, Any]:
    """Call a LiteRT SignatureRunner with inputs by name, whatever the names are.

    `runner(**arrays)` breaks on an input called `self` (SignatureRunner.__call__'s own
    parameter); this does the same steps through the runner's wrapper for such names.
    """
    if "self" not in arrays:
        return dict(runner(**arrays))
    import numpy as np

    wrapper, sg, known = runner._interpreter_wrapper, runner._subgraph_index, runner._inputs
    if len(arrays) != len(known) or any(n not in known for n in arrays):
        raise ValueError(f"expected inputs {sorted(known)}, got {sorted(arrays)}")
    for name, value in arrays.items():
        wrapper.ResizeInputTensor(known[name], np.array(value.shape, dtype=np.int32), False, sg)
    wrapper.AllocateTensors(sg)
    for name, value in arrays.items():
        wrapper.SetTensor(known[name], value, sg)
    wrapper.Invoke(sg)
    return {name: wrapper.GetTensor(index, sg) for name, index in runner._outputs}
