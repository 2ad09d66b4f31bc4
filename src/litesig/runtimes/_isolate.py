"""Crash isolation: a forked child loads and runs each model first, so a LiteRT crash is an error, not a death.

LiteRT is C++: a model that slips past validation can still make it segfault, abort or allocate
without bound, which would kill the caller with no word about the file. So before the in-process
interpreter sees a model, a forked child (a `Probe`) loads it and allocates every subgraph, under
an address-space limit (LITESIG_MAX_MEMORY_MB) and a time limit (LITESIG_PROBE_TIMEOUT); and before
a signature first runs on new input shapes in-process, the child runs that same call. A dead child
becomes a clear error naming the file. The child keeps its interpreter between calls, so a check
costs one invoke plus a pipe, not a reload; bench's timed loop is never isolated (see docs/hostile-input.md).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
import weakref
from collections.abc import Mapping
from typing import Any

from .._limits import isolate, max_memory_bytes, mib, probe_timeout
from ..errors import LitesigError

class RuntimeCrash(LitesigError):
    """LiteRT crashed, ran out of its memory allowance or hung on a model (seen in an isolated child)."""


def available() -> bool:
    return isolate() and hasattr(os, "fork")


class Probe:
    """A forked child holding its own LiteRT interpreter of the model: the canary for the parent's.

    Created once per model (the load and allocation happen there first); `run` sends one call's
    inputs over a pipe and waits for the child's word. A child that dies (a signal, the memory
    limit) or exceeds the time limit becomes a RuntimeCrash naming the file. A call that merely
    raised in the child is not an error here: the in-process call raises it again, with its message.
    """

    def __init__(self, content: bytes, source: str, *, num_threads: int | None, subgraphs: int):
        self.source = source
        self.pid = 0
        self.alive = True  # False once the child has stopped: after a load error (the process then raises it too)
        self.crash: RuntimeCrash | None = None  # once seen, every later call raises it again
        start = time.perf_counter()
        self._log = tempfile.TemporaryFile()
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(to_child_w)
            os.close(to_parent_r)
            _serve(content, num_threads, subgraphs, self._log.fileno(), to_child_r, to_parent_w)
        os.close(to_child_r)
        os.close(to_parent_w)
        self.pid, self._send, self._recv = pid, os.fdopen(to_child_w, "wb"), os.fdopen(to_parent_r, "rb")
        self._finalizer = weakref.finalize(self, _stop, pid, self._send, self._recv, self._log)
        self._await("loading the model")
        self.load_ms = (time.perf_counter() - start) * 1000

    def run(self, signature: str, arrays: Mapping[str, Any]) -> float:
        """Run `signature` once on `arrays` in the child; the milliseconds it took."""
        import pickle

        if self.crash is not None:
            raise self.crash
        if not self.alive:
            return 0.0
        start = time.perf_counter()
        what = f"running signature {signature[:100]!r}"
        try:
            pickle.dump((signature, dict(arrays)), self._send, protocol=pickle.HIGHEST_PROTOCOL)
            self._send.flush()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: _await says how
        self._await(what)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self._finalizer()

    def _await(self, what: str) -> None:
        try:
            self._await_word(what)
        except RuntimeCrash as e:
            self.crash, self.alive = e, False
            raise

    def _await_word(self, what: str) -> None:
        import select

        ready, _, _ = select.select([self._recv], [], [], probe_timeout())
        word = self._recv.read(1) if ready else None
        if word == b"k":
            return
        if word == b"e" and what == "loading the model":  # the child stopped; the in-process load raises the same
            self.alive = False
            self.close()
            return
        if word == b"e":  # the call raised: the in-process call raises it again, with its message
            return
        if word == b"m":
            self.close()
            raise RuntimeCrash(f"{self.source}: LiteRT needs more than {mib(max_memory_bytes())} while {what} "
                               f"(raise the limit with LITESIG_MAX_MEMORY_MB)")
        if word is None:
            self.close()
            raise RuntimeCrash(f"{self.source}: LiteRT did not finish {what} within {probe_timeout():.0f} s "
                               f"(LITESIG_PROBE_TIMEOUT); the model is refused")
        _, status = os.waitpid(self.pid, 0)
        self._finalizer.detach()
        self._log.seek(0)
        said = _last_line(self._log.read(65536))
        self._log.close()
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            raise RuntimeCrash(f"{self.source}: LiteRT crashed ({name}) while {what}; the model is malformed or "
                               f"unsupported{': ' + said if said else ''}")
        raise RuntimeCrash(f"{self.source}: LiteRT's isolated check ended (exit {os.WEXITSTATUS(status)}) while {what}"
                           f"{': ' + said if said else ''}")


def _stop(pid: int, send: Any, recv: Any, log: Any) -> None:
    for f in (send, recv, log):
        with contextlib.suppress(OSError):
            f.close()
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def _last_line(raw: bytes) -> str:
    lines = [ln.strip() for ln in raw.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if "XNNPACK" not in ln]
    return lines[-1][:300] if lines else ""


def _serve(content: bytes, num_threads: int | None, subgraphs: int, log_fd: int, requests: int, replies: int) -> None:
    """The child: load, allocate every subgraph, then run calls until the pipe closes. Never returns."""
    import pickle

    code = 0
    try:
        os.dup2(log_fd, 2)
        os.dup2(log_fd, 1)
        import faulthandler

        faulthandler.disable()  # a crash here is expected news for the parent, not a Python dump on its terminal
        _limit_memory()
        out = os.fdopen(replies, "wb", buffering=0)
        inp = os.fdopen(requests, "rb")
        try:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=content, num_threads=num_threads)
            cache_signature_list(interpreter)
        except MemoryError:
            out.write(b"m")
            os._exit(0)
        except BaseException:  # the in-process load fails the same way, with its message
            out.write(b"e")
            os._exit(0)
        try:
            for index in range(subgraphs):  # every subgraph once, not once per signature (files may hold thousands)
                with contextlib.suppress(ValueError, RuntimeError):  # e.g. a subgraph that needs state set first
                    interpreter._interpreter.AllocateTensors(index)
            out.write(b"k")
        except MemoryError:
            out.write(b"m")
            os._exit(0)
        except BaseException:
            out.write(b"e")
            os._exit(0)
        runners: dict[str, Any] = {}
        while True:
            try:
                signature, arrays = pickle.load(inp)
            except (EOFError, OSError):
                break
            try:
                if signature not in runners:
                    runners[signature] = interpreter.get_signature_runner(signature)
                invoke(runners[signature], arrays)
                out.write(b"k")
            except MemoryError:
                out.write(b"m")
            except BaseException as e:  # the parent repeats the call in-process and reports it
                out.write(b"m" if "alloc" in str(e).lower() and "memory" in str(e).lower() else b"e")
    except BaseException:
        code = 1
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


def cache_signature_list(interpreter: Any) -> None:
    """Make get_signature_runner O(1): LiteRT rebuilds the whole signature list (quadratic in the
    number of signatures) on every call, though it never changes for an interpreter's life."""
    try:
        full = interpreter._get_full_signature_list()
        interpreter._get_full_signature_list = lambda: full
    except (AttributeError, RuntimeError, ValueError):
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
