"""Runs many litesig CLI invocations fast and isolated, for the hostile suite.

Started as a subprocess; imports litesig and LiteRT once, then forks one child per job (argv),
with stdout/stderr to files. A job that outlives its limit is killed and reported as a hang.
stdin: JSON {"jobs": [{"argv": [...], "out": "dir"}], "limit": seconds}; stdout: JSON results
with exit code (negative = signal), seconds, peak memory (MiB), stdout and stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback


def _child(argv: list[str], out_dir: str) -> None:
    code = 1
    try:
        fd_out = os.open(os.path.join(out_dir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd_err = os.open(os.path.join(out_dir, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.chdir(out_dir)
        from litesig.cli.main import main

        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # what `python -m litesig` would show: a traceback
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code if isinstance(code, int) else 1)


def _read(folder: str, name: str) -> str:
    with open(os.path.join(folder, name), "rb") as f:
        return f.read(50_000_000).decode("utf-8", errors="replace")


def run(jobs: list[dict], limit: float) -> list[dict]:
    import litesig.cli.main  # noqa: F401  imported once, before forking
    import ai_edge_litert.interpreter  # noqa: F401
    import numpy  # noqa: F401
    import rich.console  # noqa: F401

    results = []
    for job in jobs:
        os.makedirs(job["out"], exist_ok=True)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(job["argv"], job["out"])
        hang = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > limit:
                os.kill(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
                hang = True
                break
            time.sleep(0.005)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

        results.append({"argv": job["argv"], "code": code, "hang": hang, "seconds": round(time.monotonic() - start, 3),
                        "peak_mib": round(usage.ru_maxrss / 1024, 1), "stdout": _read(job["out"], "stdout"),
                        "stderr": _read(job["out"], "stderr")})
    return results


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(run(request["jobs"], request["limit"]), sys.stdout)
