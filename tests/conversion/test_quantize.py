"""litesig quantize: a float .tflite from litesig or from Keras' own export to smaller/integer files, with no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.cli.main import main

NO_TF = ("import sys\n"
         "for name in ('tensorflow', 'keras', 'tf_keras'):\n"
         "    sys.modules[name] = None  # importing any of them now fails\n"
         "from litesig.cli.main import main\n"
         "code = main(sys.argv[1:])\n"
         "assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules if sys.modules[m] is not None)\n"
         "sys.exit(code)\n")


@pytest.fixture(scope="module")
def float_files(converted, keras, tmp_path_factory):
    """The seed from litesig, and an MLP exported by Keras itself (model.export(format="litert"))."""
    d = tmp_path_factory.mktemp("quantize")
    keras.utils.set_random_seed(5)
    x = keras.Input((16,), name="features")
    model = keras.Model(x, keras.layers.Dense(8)(keras.layers.Dense(64, activation="relu")(x)))
    model.export(str(d / "keras_export.tflite"), format="litert", verbose=False)
    rng = np.random.default_rng(0)
    np.savez(d / "seed_calib.npz", x_input=rng.uniform(-1, 1, (16, 1, 128, 3)).astype(np.float32))
    keras_input = next(iter(Interpreter(model_path=str(d / "keras_export.tflite")).get_signature_list()["serving_default"]["inputs"]))
    np.savez(d / "keras_calib.npz", **{keras_input: rng.normal(size=(16, 1, 16)).astype(np.float32)})
    return {"seed": (converted["seed"], d / "seed_calib.npz"), "keras": (d / "keras_export.tflite", d / "keras_calib.npz")}


@pytest.mark.parametrize("mode", ["dynamic-int8", "weight-only-int4", "static-int8"])
@pytest.mark.parametrize("source", ["seed", "keras"])
def test_quantize_keeps_signatures_and_proves_against_the_float_file(float_files, source, mode, tmp_path):
    path, calib = float_files[source]
    out = tmp_path / f"{source}_{mode}.tflite"
    argv = [str(path), "-o", str(out), "--optimize", mode, "--json"] + (["--calibration", str(calib)] if mode == "static-int8" else [])
    proc = subprocess.run([sys.executable, "-c", NO_TF, "quantize", *argv], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]  # and TensorFlow was never imported (asserted in the child)
    before = Interpreter(model_path=str(path)).get_signature_list()
    after = Interpreter(model_path=str(out)).get_signature_list()
    assert after == before
    report = litesig.verify(out, path)  # independently, in this process: the written file against the float one
    assert report.passed
    info = litesig.inspect(out)
    assert info.precision.startswith({"dynamic-int8": "dynamic-int8", "weight-only-int4": "weight-only-int4",
                                      "static-int8": "int8"}[mode]), info.precision


def test_quantize_refuses_what_it_cannot_start_from(converted, float_files, tmp_path, capsys):
    out = tmp_path / "never.tflite"
    assert main(["quantize", str(converted["seed_int8"]), "-o", str(out), "--optimize", "dynamic-int8"]) == 2
    assert "already quantized" in capsys.readouterr().err
    np.savez(tmp_path / "wrong.npz", image=np.zeros((4, 1, 8), np.float32))
    assert main(["quantize", str(converted["seed"]), "-o", str(out), "--optimize", "static-int8", "--calibration",
                 str(tmp_path / "wrong.npz")]) == 2
    err = capsys.readouterr().err
    assert "no array for this input" in err and "image" in err
    assert main(["quantize", str(converted["seed"]), "-o", str(out), "--optimize", "static-int8"]) == 2
    assert "--calibration" in capsys.readouterr().err
    assert main(["quantize", str(converted["seed"]), "-o", str(out), "--optimize", "weight-only-int4", "--input-dtype", "int8"]) == 2
    assert "integer activations" in capsys.readouterr().err
    assert not out.exists()


def test_quantize_keeps_metadata_and_associated_files(converted, tmp_path):
    from litesig.tflite import flatbuffer as fb

    from .._packed import LABELS, pack, read_files

    packed = pack(converted["seed"], tmp_path / "packed.tflite")
    result = litesig.quantize(packed, tmp_path / "q.tflite", optimize="weight-only-int8")
    assert result.verification is not None and result.verification.passed
    assert read_files(result.path) == LABELS
    names = [m.name for m in fb.read_model(result.path).metadata]
    assert "TFLITE_METADATA" in names and names == [m.name for m in fb.read_model(packed).metadata]
