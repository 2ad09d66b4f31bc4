"""Whole-process timing and peak memory of a command, for the bench scripts."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time

GNU_TIME = shutil.which("time") if os.path.exists("/usr/bin/time") else None
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "litesig")


def compile_bytecode() -> None:
    """Write litesig's .pyc files, as pip does when it installs a wheel.

    An editable install compiles on first import and caches the bytecode, unless PYTHONDONTWRITEBYTECODE
    is set (as on this machine): then every run recompiles ~30 modules (~75 ms), which no installed
    litesig pays. compileall writes them regardless; Python reads them either way.
    """
    import sys

    subprocess.run([sys.executable, "-m", "compileall", "-q", SRC], check=True)


def litesig_command() -> list[str]:
    """The `litesig` console script beside this Python, as users run it (not `python -m litesig`, which adds runpy)."""
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "litesig")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "litesig"]


def alternate(commands: dict[str, list[str]], runs: int, between: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run every command once per round, `runs` rounds, so drift in the machine's load hits all alike.

    `between` (e.g. removing an output) runs after each command, untimed. Returns measure()'s figures per label.
    """
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for label, cmd in commands.items():
            elapsed, peak = _once(cmd)
            times[label].append(elapsed)
            if peak is not None:
                peaks[label].append(peak)
            if between:
                subprocess.run(between, check=True)
    return {k: _figures(times[k], peaks[k]) for k in commands}


def _once(cmd: list[str]) -> tuple[float, float | None]:
    with tempfile.NamedTemporaryFile("r") as rss:
        full = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed with exit code {proc.returncode}")
        return elapsed, (int(rss.read().strip().splitlines()[-1]) / 1024 if GNU_TIME else None)


def _figures(times: list[float], peaks: list[float]) -> dict[str, float]:
    out = {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4), "runs": len(times)}
    out["peak_mib"] = round(max(peaks), 1) if peaks else None
    return out


def measure(cmd: list[str], runs: int = 10) -> dict[str, float]:
    """Run `cmd` `runs` times; median/min wall seconds and max peak RSS (MiB).

    Peak memory comes from GNU time (apt-get install time) when present: a child forked from
    this Python process would otherwise report this process's own memory as its peak.
    """
    times, peaks = [], []
    for _ in range(runs):
        elapsed, peak = _once(cmd)
        times.append(elapsed)
        if peak is not None:
            peaks.append(peak)
    return _figures(times, peaks)
