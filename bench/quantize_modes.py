"""Size and error of every --optimize mode on two models; prints a table and saves bench/results/quantize_modes.json.

Usage: python bench/quantize_modes.py   (about 2 minutes on 2 cores)

Error: litesig.verify against the Keras model (its own random inputs, batch 1 and 3, 4 samples
each): the worst max abs error and the lowest cosine over all cases.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import litesig
from litesig._tf import import_keras
from litesig.sources.spec import OPTIMIZE_MODES


def models(keras, d: Path) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    keras.utils.set_random_seed(0)
    big = keras.Sequential([keras.Input((512,), name="x")] + [keras.layers.Dense(512, activation="relu") for _ in range(3)]
                           + [keras.layers.Dense(10)])
    big.save(d / "big.keras")
    x = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    keras.Model(x, keras.layers.Dense(32)(keras.layers.Dense(64, activation="relu")(h))).save(d / "cnn.keras")
    rng = np.random.default_rng(0)
    return {"big": (d / "big.keras", {"x": rng.uniform(-1, 1, (64, 512)).astype(np.float32)}),
            "cnn": (d / "cnn.keras", {"image": rng.uniform(-1, 1, (64, 32, 32, 3)).astype(np.float32)})}


def main() -> int:
    keras = import_keras()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, (path, calib) in models(keras, d).items():
            np.savez(d / f"{name}_calib.npz", **calib)
            for mode in OPTIMIZE_MODES:
                needs = mode in ("int8", "static-int8", "static-int16")
                try:
                    r = litesig.convert(path, d / f"{name}_{mode}.tflite", optimize=mode, force=True,
                                        calibration=d / f"{name}_calib.npz" if needs else None)
                except litesig.LitesigError as e:
                    rows.append({"model": name, "mode": mode, "error": str(e).splitlines()[0]})
                    print(name, mode, "FAILED", str(e).splitlines()[0], file=sys.stderr)
                    continue
                report = litesig.verify(r.path, path, samples=4)
                outs = [o for c in report.cases for o in c.outputs]
                info = litesig.inspect(r.path)
                row = {"model": name, "mode": mode, "bytes": r.size_bytes, "precision": info.precision,
                       "weights": info.precision_detail.weights if info.precision_detail else {},
                       "max_abs": max(o.max_abs for o in outs), "min_cosine": min(o.cosine for o in outs),
                       "tolerance": report.tolerance.name, "tolerance_min_cosine": report.tolerance.min_cosine, "passed": report.passed}
                rows.append(row)
                print(f"{name:4} {mode:17} {r.size_bytes:>9,} {info.precision:17} max abs {row['max_abs']:.3g} cosine {row['min_cosine']:.6f} "
                      f"(tolerance {report.tolerance.name}: >= {report.tolerance.min_cosine}) {'pass' if report.passed else 'FAIL'}")
    out = Path(__file__).parent / "results" / "quantize_modes.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
