"""LiteRT.js (`@litertjs/core`, the runtime of `model.run("classify", {...})` in a web page), run in Node.

The same wasm build a browser loads runs here in a Node child process (litertjs_node/runner.mjs),
fed the file's bytes and, per call, named inputs; outputs come back by name. It refuses things the
Interpreter accepts, and this is where a file is told so before an app finds out:

- no resize: a dynamic dim loads but cannot run ("Float32[1, 8] does not match expected
  Float32[-1, 8]"); fix the shapes when converting (`--target web` does);
- only float32, int32 and uint8 cross the boundary: a file with int8, int16, int64 or bool inputs
  or outputs does not load ("Element type INT8 is not supported").

Node.js 18+ and npm must be installed (Debian: `apt-get install nodejs npm`); `@litertjs/core` is
installed once with `npm ci` from the lockfile beside runner.mjs into the runtime cache
($LITESIG_RUNTIME_CACHE, else ~/.cache/litesig/runtimes), which needs the npm registry once.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..tflite.app_runtimes import WEB_DTYPES
from ..errors import LitesigError
from .compiled import RuntimeUnavailable
from .interpreter import OnAnotherRuntime, Runner
from .legacy import _locked, cache_dir

PACKAGE = Path(__file__).with_name("litertjs_node")
VERSION = "2.5.3"  # @litertjs/core, as pinned in litertjs_node/package-lock.json
BOUNDARY_DTYPES = WEB_DTYPES  # what LiteRT.js lets in and out of a model (float32, int32, uint8): one list with inspect
_NODE_HINT = "LiteRT.js runs on Node.js 18+ with npm: install them (Debian: apt-get install nodejs npm)"


def node() -> str:
    """The node executable, checked to be 18 or newer.

    Raises:
        RuntimeUnavailable: no node, or too old.
    """
    exe = shutil.which("node")
    if exe is None:
        raise RuntimeUnavailable(f"cannot run on web: node is not installed; {_NODE_HINT}")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < 18:
        raise RuntimeUnavailable(f"cannot run on web: node {version or '(unknown version)'} is too old; {_NODE_HINT}")
    return exe


def ensure_modules(progress: Callable[[str], None] | None = None) -> Path:
    """The node_modules folder holding @litertjs/core (installed with `npm ci` on first use).

    Raises:
        RuntimeUnavailable: npm is missing or could not install it; the message carries npm's reason.
    """
    lock = (PACKAGE / "package-lock.json").read_text()
    root = cache_dir()
    folder = root / f"litertjs-{VERSION}"
    stamp = folder / ".litesig-ready"
    with _locked(root / f"{folder.name}.lock"):
        if stamp.is_file() and stamp.read_text() == lock and (folder / "node_modules" / "@litertjs" / "core").is_dir():
            return folder / "node_modules"
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeUnavailable(f"cannot run on web: npm is not installed; {_NODE_HINT}")
        if progress:
            progress(f"Installing @litertjs/core {VERSION} into {folder} (once)")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE / name, folder / name)
        proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeUnavailable(f"cannot run on web: `npm ci` of @litertjs/core {VERSION} failed (exit {proc.returncode}):\n"
                                     f"{tail}\n(npm must reach its registry once)")
        stamp.write_text(lock)
    return folder / "node_modules"


def boundary_problems(runner: Runner) -> list[str]:
    """Why LiteRT.js cannot run this file, known before starting it: dynamic dims and boundary dtypes."""
    problems = []
    for sig in runner.signatures:
        for kind, details in (("input", runner.input_details(sig)), ("output", runner.output_details(sig))):
            for name, d in details.items():
                if d.dtype.name in ("int8", "int16"):
                    flag = "--input-dtype" if kind == "input" else "--output-dtype"
                    problems.append(f"{sig}/{name} is {d.dtype.name}, and only {', '.join(BOUNDARY_DTYPES)} cross LiteRT.js's "
                                    f"boundary: make it uint8 ({flag} uint8 when converting or quantizing)")
                elif d.dtype.name not in BOUNDARY_DTYPES:
                    fix = "int32" if d.dtype.name == "int64" else "uint8" if d.dtype.name == "bool" else "float32 or int32"
                    problems.append(f"{sig}/{name} is {d.dtype.name}, and only {', '.join(BOUNDARY_DTYPES)} cross LiteRT.js's "
                                    f"boundary: make it {fix} (convert with --target web: it casts inside the graph)")
                elif kind == "input" and -1 in d.shape_signature:
                    fixed = ",".join("1" if s == -1 else str(s) for s in d.shape_signature)
                    problems.append(f"{sig}/{name} has the dynamic shape {list(d.shape_signature)} and LiteRT.js cannot resize: "
                                    f"fix it when converting (--target web, or --input-shape {name}={fixed})")
    return problems


class _Node:
    """runner.mjs in a Node child: requests on stdin, answers on stdout, LiteRT's log in a file."""

    def __init__(self, folder: Path, modules: Path, model: Path, accelerator: str):
        self._log: IO[str] = open(folder / "stderr.txt", "w+")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen([node(), str(PACKAGE / "runner.mjs"), str(modules), str(model), accelerator],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)

    def send(self, request: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next answer; None if there is none within `timeout` (the child is then killed)."""
        import select

        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            self._proc.kill()
            return None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            raise RuntimeUnavailable(f"LiteRT.js stopped (exit {self._proc.returncode}): {self._last_log()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _last_log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        lines = [ln for ln in self._log.read().splitlines() if ln.strip() and not ln.startswith(("INFO:", "WARNING:"))]
        return lines[-1][:300] if lines else "no message"

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._log.close()


WHERE = ("node", "chromium")
ACCELERATORS = ("wasm", "webgpu")


def label(where: str = "node", accelerator: str = "wasm") -> str:
    """How reports name the runtime: 'LiteRT.js 2.5.3 (wasm, Node)', 'LiteRT.js 2.5.3 (WebGPU, headless Chromium)'."""
    return f"LiteRT.js {VERSION} ({'WebGPU' if accelerator == 'webgpu' else 'wasm'}, {'Node' if where == 'node' else 'headless Chromium'})"


class WebRunner(OnAnotherRuntime):
    """A .tflite on LiteRT.js, in a Node child or a headless Chromium page; the `Runner` interface.

    Args:
        where: "node" (the wasm build under Node) or "chromium" (a page served on 127.0.0.1).
        accelerator: "wasm" (the CPU) or "webgpu" (Chromium only; without a GPU, SwiftShader).
    """

    def __init__(self, model: str | os.PathLike[str] | bytes, *, runner: Runner | None = None, where: str = "node",
                 accelerator: str = "wasm", progress: Callable[[str], None] | None = None):
        if where not in WHERE or accelerator not in ACCELERATORS or (where, accelerator) == ("node", "webgpu"):
            raise LitesigError(f"LiteRT.js runs as wasm in node or chromium, or webgpu in chromium; not {accelerator} in {where}")
        self.reference = runner or Runner(model)  # validation, crash isolation, file order, details
        self.source = self.reference.source
        self.model = self.reference.model
        self.label = label(where, accelerator)
        self.fully_accelerated = False
        name = "web-gpu" if accelerator == "webgpu" else "web"
        problems = boundary_problems(self.reference)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise RuntimeUnavailable(f"{self.source}: cannot run on {name}: " + "; ".join(problems[:5]) + more)
        modules = ensure_modules(progress)
        self._dir = tempfile.TemporaryDirectory(prefix="litesig-web-")
        path = Path(self._dir.name) / "model.tflite"
        from ..tflite import flatbuffer as fb

        path.write_bytes(fb.load(model, self.source)[0])
        self._transport: Any = None
        try:
            if where == "node":
                self._transport = _Node(Path(self._dir.name), modules, path, accelerator)
            else:
                from ._browser import PAGE_FILES, Page

                served = {f"/{name}": PACKAGE / name for name in PAGE_FILES} | {"/model.tflite": path}
                self._transport = Page(Path(self._dir.name), modules, served, {"accelerator": accelerator})
            hello = self._answer()
        except BaseException:
            self.close()
            raise
        if "error" in hello:
            self.close()
            raise RuntimeUnavailable(f"{self.source}: cannot load on {self.label}: {hello['error']}")
        self.fully_accelerated = bool(hello.get("fully_accelerated")) and accelerator == "webgpu"
        self.layout: dict[str, dict[str, list[dict[str, Any]]]] = hello["signatures"]
        missing = [s for s in self.reference.signatures if s not in self.layout]
        if missing:
            self.close()
            raise RuntimeUnavailable(f"{self.source}: LiteRT.js does not list the signature(s) {', '.join(missing)}")

    def _answer(self) -> dict[str, Any]:
        """The runner's next answer; a runner silent for LITESIG_PROBE_TIMEOUT seconds is stopped (a hostile file may loop)."""
        from .._limits import probe_timeout

        try:
            answer = self._transport.receive(probe_timeout())
        except RuntimeUnavailable as e:
            raise RuntimeUnavailable(f"{self.source}: {e}") from None
        if answer is None:
            raise RuntimeUnavailable(f"{self.source}: {self.label} gave no answer in {probe_timeout():.0f} s "
                                     "(LITESIG_PROBE_TIMEOUT); stopped it")
        return answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._dir.cleanup()

    def __enter__(self) -> WebRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, inputs: Mapping[str, Any], *, signature: str | None = None, check: bool = True) -> dict[str, np.ndarray]:
        """Run one signature on LiteRT.js; inputs and outputs by name."""
        key = self.resolve(signature)
        arrays = self.reference.checked(key, inputs) if check else {n: np.asarray(a) for n, a in inputs.items()}
        wire = {name: {"dtype": a.dtype.name, "shape": list(a.shape),
                       "data": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()} for name, a in arrays.items()}
        if self._transport is None:
            raise RuntimeUnavailable(f"{self.source}: LiteRT.js was closed")
        self._transport.send({"signature": key, "inputs": wire})
        answer = self._answer()
        if "error" in answer:
            raise RuntimeUnavailable(f"{self.source}: signature {key!r} failed on {self.label}: {answer['error']}")
        return {name: np.frombuffer(base64.b64decode(t["data"]), dtype=np.dtype(t["dtype"])).reshape(t["shape"]).copy()
                for name, t in answer["outputs"].items()}
