"""Runs the TFLite converter in a child process, so a converter crash cannot take the caller down.

Used for int8 conversion: calibration runs the model inside TensorFlow's own interpreter, which
has been seen to segfault (Keras 3 GRU, TF 2.21). Protocol: argv[1] is a job folder holding
job.json and calibration.npz; the child writes model.tflite, or error.txt and exits 3.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from .._tf import import_tf
from .converter import run_converter
from ..errors import ConversionFailed
from ..sources.spec import ConvertOptions


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (PR_SET_PDEATHSIG), so a killed convert
    leaves no orphan computing for minutes; exit at once if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(job_dir: str) -> int:
    die_with_parent(int(os.environ.get("LITESIG_PARENT_PID", "0") or 0))
    job = Path(job_dir)
    spec = json.loads((job / "job.json").read_text())
    options = ConvertOptions(optimize=spec["optimize"], select_tf_ops=spec["select_tf_ops"], target_runtime=spec.get("target_runtime"))
    calibration: dict[str, list[dict[str, np.ndarray]]] = {}
    with np.load(job / "calibration.npz", allow_pickle=False) as npz:
        for key in sorted(npz.files):
            sig, index, name = key.split("/")
            samples = calibration.setdefault(sig, [])
            while len(samples) <= int(index):
                samples.append({})
            samples[int(index)][name] = npz[key]
    tf = import_tf()
    try:
        content = run_converter(tf, Path(spec["saved_model"]), spec["keys"], options, calibration)
    except ConversionFailed as e:
        (job / "error.txt").write_text(str(e))
        return 3
    (job / "model.tflite").write_bytes(content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
