"""Real-world .tflite files nobody here wrote: the 14 models inside the mediapipe 0.10.14 wheel.

Downloaded once with `pip download mediapipe==0.10.14 --no-deps` (PyPI, 36 MB) into the runtime
cache ($LITESIG_RUNTIME_CACHE, else ~/.cache/litesig/runtimes) and extracted there; later runs
reuse them. A download that fails fails the tests that need it, with pip's reason: never a skip.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from litesig.runtimes.legacy import cache_dir

VERSION = "0.10.14"


def mediapipe_models() -> dict[str, Path]:
    """Model name (file stem) -> path of each .tflite in the mediapipe wheel."""
    root = cache_dir() / f"mediapipe-{VERSION}-models"
    done = root / ".complete"
    if not done.exists():
        wheels = root / "wheel"
        wheels.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", f"mediapipe=={VERSION}", "--no-deps", "--only-binary", ":all:",
                               "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", str(wheels), "-q"],
                              capture_output=True, text=True, timeout=600)
        found = sorted(wheels.glob("mediapipe-*.whl"))
        if proc.returncode != 0 or not found:
            pytest.fail(f"cannot download mediapipe {VERSION} for its real-world models: {proc.stderr[-1500:]}")
        with zipfile.ZipFile(found[0]) as wheel:
            for name in wheel.namelist():
                if name.endswith(".tflite"):
                    (root / "models").mkdir(exist_ok=True)
                    (root / "models" / Path(name).name).write_bytes(wheel.read(name))
        done.touch()
    return {p.stem: p for p in sorted((root / "models").glob("*.tflite"))}


TASKS_VERSION = "1.2.2"
# MediaPipe Tasks and what it pulls in, pinned (pip freeze of the venv the tests were written against).
TASKS_PINS = ("mediapipe==1.2.2", "absl-py==2.5.1", "certifi==2026.10.19.post1", "cffi==2.1.1", "contourpy==1.3.3",
              "cycler==0.12.1", "flatbuffers==25.12.19", "fonttools==4.68.0", "kiwisolver==1.5.1", "matplotlib==3.11.2",
              "numpy==2.4.6", "opencv-contrib-python==5.1.0.95", "packaging==26.4", "pillow==13.0.0", "pycparser==3.12",
              "pyparsing==3.3.3", "python-dateutil==4.0.0", "sounddevice==0.5.6", "tzdata==2026.6")


def mediapipe_python() -> Path:
    """The python of a cached venv with MediaPipe Tasks (`mediapipe` 1.2.2), made on first use, like tflite-runtime's.

    MediaPipe's wheels pin their own numpy and protobuf, so it never enters litesig's environment.
    """
    from litesig.runtimes.legacy import _locked

    root = cache_dir()
    env = root / f"mediapipe-tasks-{TASKS_VERSION}"
    python = env / "bin" / "python"
    stamp = env / ".litesig-ready"
    want = " ".join(TASKS_PINS)
    with _locked(root / f"{env.name}.lock"):
        if stamp.is_file() and stamp.read_text() == want and python.exists():
            return python
        steps = [[sys.executable, "-m", "venv", "--clear", str(env)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *TASKS_PINS],
                 [str(python), "-c", "from mediapipe.tasks.python import vision"]]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.fail(f"cannot set up MediaPipe Tasks {TASKS_VERSION} in {env}: {(proc.stderr or proc.stdout)[-1500:]}")
        stamp.write_text(want)
    return python
