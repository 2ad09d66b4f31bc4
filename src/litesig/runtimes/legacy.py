"""An older LiteRT runtime (tflite-runtime 2.14) in its own cached virtualenv, and running .tflite files on it.

Apps ship a fixed runtime; ai-edge-litert is the newest. tflite-runtime 2.14.0 is the last
tflite-runtime wheel and needs numpy < 2, so it cannot share litesig's environment: it gets a
virtualenv of its own under the cache folder ($LITESIG_RUNTIME_CACHE, else ~/.cache/litesig/runtimes),
made once with exact pins, and `_legacy_runner.py` is run there as a script.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LitesigError

# runtime spec -> the exact packages of its environment. numpy 1.26.4: the last numpy 1.x,
# the newest that tflite-runtime 2.14.0 (built against numpy 1.x) imports.
RUNTIMES: dict[str, tuple[str, ...]] = {
    "tflite-runtime==2.14.0": ("tflite-runtime==2.14.0", "numpy==1.26.4"),
}
DEFAULT_RUNTIME = "tflite-runtime==2.14.0"
_RUNNER = Path(__file__).with_name("_legacy_runner.py")


class RuntimeUnavailable(LitesigError):
    """The older runtime's environment could not be made (no wheel for this Python/platform, no network, ...)."""


def cache_dir() -> Path:
    """Where runtime environments are kept."""
    env = os.environ.get("LITESIG_RUNTIME_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "litesig" / "runtimes"


def _canonical(spec: str) -> str:
    spec = spec.strip().replace("_", "-").lower()
    if spec in RUNTIMES:
        return spec
    if spec + ".0" in RUNTIMES:  # tflite-runtime==2.14 -> 2.14.0
        return spec + ".0"
    raise RuntimeUnavailable(f"runtime {spec!r} is not one litesig can set up; available: {', '.join(RUNTIMES)}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two test runs (or CI beside a developer) must not build one env twice
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_runtime(spec: str = DEFAULT_RUNTIME, *, progress: Callable[[str], None] | None = None) -> Path:
    """The python of a cached environment holding `spec` (made on first use); returns its interpreter path.

    Raises:
        RuntimeUnavailable: the environment could not be made; the message carries pip's reason.
    """
    spec = _canonical(spec)
    pins = RUNTIMES[spec]
    root = cache_dir()
    env = root / spec.replace("==", "-")
    python = env / "bin" / "python"
    stamp = env / ".litesig-ready"
    want = json.dumps({"pins": list(pins), "python": sys.version.split()[0]})
    with _locked(root / f"{env.name}.lock"):
        if stamp.is_file() and stamp.read_text() == want and python.exists():
            return python
        if progress:
            progress(f"Creating a {spec} environment in {env} (once)")
        shutil.rmtree(env, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(env)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", *pins],
            [str(python), "-c", "import tflite_runtime.interpreter, numpy"],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(env, ignore_errors=True)
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
                raise RuntimeUnavailable(f"could not set up {spec} in {env}: `{' '.join(cmd[-3:])}` failed "
                                         f"(exit {proc.returncode}):\n{tail}\n(tflite-runtime 2.14 has wheels for "
                                         "CPython 3.9-3.11 on Linux x86_64/aarch64 only; pip must reach PyPI once)")
        stamp.write_text(want)
    return python


@dataclass(frozen=True)
class LegacyRun:
    """What an older runtime did with a file: loaded or not (and why), its signatures, outputs per signature."""

    runtime: str
    loaded: bool
    error: str | None
    signatures: dict[str, dict[str, list[str]]]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # signature -> output name -> array


def run_legacy(python: Path, model: str | os.PathLike[str],
               inputs: Mapping[str, Mapping[str, Any]] | None = None) -> LegacyRun:
    """Load `model` on the runtime at `python`, and run each signature given in `inputs` (signature -> name -> array)."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="litesig-legacy-") as tmp:
        cmd = [str(python), str(_RUNNER), os.fspath(model)]
        if inputs:
            np.savez(Path(tmp) / "in.npz", **{f"{sig}/{k}": np.asarray(v) for sig, feed in inputs.items() for k, v in feed.items()})  # type: ignore[arg-type]  # numpy types **kwds too narrowly
            cmd += ["--inputs", str(Path(tmp) / "in.npz"), "--outputs", str(Path(tmp) / "out.npz")]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            signal = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
            return LegacyRun(runtime=str(python), loaded=False, error=f"the runtime process died ({signal}): {proc.stderr.strip()[-500:]}",
                             signatures={})
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        outputs: dict[str, dict[str, Any]] = {}
        if inputs and (Path(tmp) / "out.npz").exists():
            with np.load(Path(tmp) / "out.npz", allow_pickle=False) as npz:
                for key in npz.files:
                    sig, name = key.split("/", 1)
                    outputs.setdefault(sig, {})[name] = npz[key]
    return LegacyRun(runtime=f"{result['runtime']} {result['version']}", loaded=result["loaded"], error=result["error"],
                     signatures=result["signatures"], outputs=outputs)
