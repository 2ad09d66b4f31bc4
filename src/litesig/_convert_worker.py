"""Runs the TFLite converter in a child process, so a converter crash cannot take the caller down.

Used for int8 conversion: calibration runs the model inside TensorFlow's own interpreter, which
has been seen to segfault (Keras 3 GRU, TF 2.21). Protocol: argv[1] is a job folder holding
job.json and calibration.npz; the child writes model.tflite, or error.txt and exits 3.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ._tf import import_tf
from .tflite_converter import run_converter
from .errors import ConversionFailed
from .spec import ConvertOptions


def main(job_dir: str) -> int:
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
