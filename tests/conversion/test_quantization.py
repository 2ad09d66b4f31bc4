"""Integer I/O, ai-edge-quantizer modes, precision read from the file, quantization-aware verify.

Real tiny Keras models, the real converter and quantizer, the real LiteRT runtime.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.cli.main import main
from litesig.errors import InvalidInput
from litesig.tflite.io_types import set_io_dtypes
from litesig.verification.parity import Tolerance, compare
from litesig.tflite.precision import MODES
from litesig.runtimes.quant import QuantParams, dequantize, quantize

from ..conftest import seed_spec_text


@pytest.fixture(scope="module")
def small(models_dir, keras, tmp_path_factory):
    """A small CNN (image in [0, 1], softmax scores) and an MLP whose dims suit blockwise int4 (multiples of 32)."""
    d = tmp_path_factory.mktemp("small")
    keras.utils.set_random_seed(1)
    x = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    keras.Model(x, keras.layers.Dense(5, activation="softmax")(h)).save(d / "cnn.keras")
    keras.Sequential([keras.Input((64,), name="features"), keras.layers.Dense(64, activation="relu"),
                      keras.layers.Dense(32)]).save(d / "mlp.keras")
    rng = np.random.default_rng(0)
    np.savez(d / "cnn_calib.npz", image=rng.uniform(0, 1, (16, 12, 12, 3)).astype(np.float32))
    np.savez(d / "mlp_calib.npz", features=rng.uniform(-1, 1, (16, 64)).astype(np.float32))
    np.savez(d / "seed_calib.npz", x_input=rng.uniform(-1, 1, (8, 128, 3)).astype(np.float32))
    return d


def _hand_check(path, signature, feed, reference):
    """Quantize with the file's own parameters, run by signature on LiteRT, dequantize, compare: the report's figures."""
    runner = Interpreter(model_path=str(path)).get_signature_runner(signature)
    ins, outs = runner.get_input_details(), runner.get_output_details()
    fed = {}
    for name, x in feed.items():
        scale, zp = ins[name]["quantization"]
        fed[name] = quantize(x, QuantParams(scale, zp, np.dtype(ins[name]["dtype"])))
    got = runner(**fed)  # tensorflow#47927: integer inputs by signature
    results = {}
    for name, value in got.items():
        scale, zp = outs[name]["quantization"]
        assert value.dtype == outs[name]["dtype"] and value.dtype in (np.int8, np.uint8, np.int16)
        results[name] = compare(name, reference[name], dequantize(value, QuantParams(scale, zp, value.dtype)), Tolerance.for_mode("int8"))
    return results


def _agrees(report, hand):
    case = report.cases[0]
    for out in case.outputs:
        mine = hand[out.name]
        assert out.passed and mine.passed
        assert out.max_abs == pytest.approx(mine.max_abs, rel=1e-6, abs=1e-7)
        assert out.cosine == pytest.approx(mine.cosine, rel=1e-6)


def test_seed_example_uint8_input_int8_outputs(seed_spec, small, keras, tmp_path):
    extra = f'calibration = "{small / "seed_calib.npz"}"'
    text = (seed_spec_text("int8", extra)
            .replace('x_input = { dtype = "float32", shape = [-1, 128, 3] }', 'x_input = { dtype = "float32", shape = [-1, 128, 3], io_dtype = "uint8" }')
            .replace('my_output_a = "a"', 'my_output_a = { model = "a", io_dtype = "int8" }')
            .replace('my_output_b = "b"', 'my_output_b = { model = "b", io_dtype = "int8" }'))
    spec = seed_spec("int8")
    spec.write_text(text)
    result = litesig.convert(spec, tmp_path / "seed_u8.tflite")
    assert result.verification.passed and result.verification.tolerance.name == "int8"

    it = Interpreter(model_path=str(result.path))
    assert it.get_signature_list() == {"sample_method_name": {"inputs": ["x_input"], "outputs": ["my_output_a", "my_output_b"]}}
    sig = litesig.inspect(result.path).signatures["sample_method_name"]
    assert sig.inputs["x_input"].dtype == "uint8" and sig.inputs["x_input"].quantization.scale > 0
    assert {t.dtype for t in sig.outputs.values()} == {"int8"}
    assert sig.inputs["x_input"].tensor == "sample_method_name_x_input:0"  # the input keeps its tensor name too

    x = np.random.default_rng(5).uniform(-1, 1, (2, 128, 3)).astype(np.float32)
    report = litesig.verify(result.path, spec, inputs={"x_input": x})
    assert report.passed and report.tolerance.name == "int8"
    assert any("quantized to uint8" in n for n in report.quantization) and any("int8 output dequantized" in n for n in report.quantization)
    assert report.precision.startswith(f"{result.path}: int8: weights int8")
    a = keras.models.load_model(tmp_path / "model_a.keras")
    b = keras.models.load_model(tmp_path / "model_b.keras")
    _agrees(report, _hand_check(result.path, "sample_method_name", {"x_input": x},
                                {"my_output_a": a(x).numpy(), "my_output_b": b(x).numpy()}))


def test_cnn_uint8_in_int8_out_by_flags_verifies_against_keras(small, keras, tmp_path, capsys):
    result = litesig.convert(small / "cnn.keras", tmp_path / "cnn.tflite", signature="classify", optimize="int8",
                             calibration=small / "cnn_calib.npz", input_dtype="uint8", output_dtype="int8")
    info = litesig.inspect(result.path)
    assert list(info.signatures) == ["classify"]
    assert [(t.name, t.dtype) for t in info.signatures["classify"].inputs.values()] == [("image", "uint8")]
    assert [t.dtype for t in info.signatures["classify"].outputs.values()] == ["int8"]
    assert info.precision == "int8" and info.precision_detail.inputs == {"classify/image": "uint8"}

    x = np.random.default_rng(6).uniform(0, 1, (3, 12, 12, 3)).astype(np.float32)
    report = litesig.verify(result.path, small / "cnn.keras", inputs={"image": x})
    assert report.passed and report.tolerance.name == "int8"
    model = keras.models.load_model(small / "cnn.keras")
    out_name = next(iter(info.signatures["classify"].outputs))
    _agrees(report, _hand_check(result.path, "classify", {"image": x}, {out_name: model(x).numpy()}))
    # random inputs land inside what uint8 with this scale/zero point represents
    assert litesig.verify(result.path, small / "cnn.keras", samples=2).passed

    # run --quantize: float .npy in, float scores out
    np.save(tmp_path / "x.npy", x[:1])
    assert main(["run", str(result.path), "--input", f"image={tmp_path / 'x.npy'}", "--quantize", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["outputs"][out_name]
    assert out["dtype"] == "float32" and abs(sum(out["values"][0]) - 1.0) < 0.05  # dequantized softmax
    assert main(["inspect", str(result.path)]) == 0
    text = capsys.readouterr().out
    assert "precision int8" in text and "uint8" in text and "scale 0.00392" in text


def test_io_dtype_per_signature_and_errors(models_dir, small, tmp_path):
    data = {"models": {"enc": {"path": str(models_dir / "coder"), "signature": "encode"},
                       "dec": {"path": str(models_dir / "coder"), "signature": "decode"}},
            "signatures": {"encode": {"io_dtype": "int8", "inputs": {"x": {}}, "outputs": {"code": "enc"}},
                           "decode": {"inputs": {"code": {}}, "outputs": {"reconstruction": "dec"}}}}
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", **{"encode/x": rng.uniform(-1, 1, (8, 1, 4)).astype(np.float32),
                                        "decode/code": rng.uniform(-2, 2, (8, 1, 3)).astype(np.float32)})
    spec = litesig.spec_from_dict({**data, "convert": {"optimize": "int8", "calibration": str(tmp_path / "calib.npz")}})
    result = litesig.convert(spec, tmp_path / "coder.tflite")
    info = litesig.inspect(result.path)
    assert info.precision_detail.inputs == {"encode/x": "int8", "decode/code": "float32"}
    assert info.precision_detail.outputs == {"encode/code": "int8", "decode/reconstruction": "float32"}
    runner = litesig.Runner(result.path)
    assert sorted(runner.signatures) == ["decode", "encode"]  # (declared order: issue 12)
    assert runner.run({"x": np.zeros((2, 4), np.int8)}, signature="encode")["code"].dtype == np.int8
    assert result.verification.passed and litesig.verify(result.path, models_dir / "coder").passed

    with pytest.raises(InvalidInput) as e:  # int16 I/O on an int8 graph: refused, with the way out
        set_io_dtypes(result.path.read_bytes(), {"decode": {"inputs": {"code": "int16"}}})
    assert "signatures.decode.inputs.code.io_dtype" in str(e.value) and "static-int16" in str(e.value)
    with pytest.raises(InvalidInput) as e:  # integer I/O with float activations: refused before converting
        litesig.convert(models_dir / "big.keras", tmp_path / "x.tflite", input_dtype="int8")
    assert "--optimize int8, static-int8 or static-int16" in str(e.value) and not (tmp_path / "x.tflite").exists()
    with pytest.raises(InvalidInput) as e:
        litesig.spec_from_dict({**data, "signatures": {"encode": {**data["signatures"]["encode"], "io_dtype": "int4"}}})
    assert "signatures.encode.io_dtype" in str(e.value)


# mode -> (precision inspect must read, a weight kind the file must hold)
QUANTIZER_MODES = {
    "weight-only-int8": ("weight-only-int8", "int8 per-channel"),
    "weight-only-int4": ("weight-only-int4", "int4 per-channel"),
    "dynamic-int4": ("dynamic-int4", "int4 per-channel"),
    "blockwise-int4": ("dynamic-int4", "int4 blockwise-32"),
    "static-int8": ("int8", "int8 per-channel"),
    "static-int16": ("int16", "int8 per-channel"),
}


@pytest.fixture(scope="module")
def mlp_float(small, tmp_path_factory):
    return litesig.convert(small / "mlp.keras", tmp_path_factory.mktemp("mlp") / "f32.tflite", signature="embed").path


@pytest.mark.parametrize("mode", list(QUANTIZER_MODES))
def test_ai_edge_quantizer_modes(mode, small, mlp_float, tmp_path):
    want, weights = QUANTIZER_MODES[mode]
    result = litesig.convert(small / "mlp.keras", tmp_path / f"{mode}.tflite", signature="embed", optimize=mode,
                             calibration=small / "mlp_calib.npz" if mode.startswith("static") else None)
    assert result.verification.passed
    info = litesig.inspect(result.path)
    assert info.precision == want and weights in info.precision_detail.weights
    assert list(info.signatures) == ["embed"] and list(info.signatures["embed"].inputs) == ["features"]
    io = {"static-int8": "int8", "static-int16": "int16"}.get(mode, "float32")
    assert info.precision_detail.inputs == {"embed/features": io}
    assert result.size_bytes < 0.4 * mlp_float.stat().st_size if "int4" in mode else result.size_bytes < 0.5 * mlp_float.stat().st_size
    # verify against the Keras source and against the float .tflite, both directions
    assert litesig.verify(result.path, small / "mlp.keras").passed
    report = litesig.verify(result.path, mlp_float)
    assert report.passed and report.tolerance == Tolerance.for_mode(want)
    assert litesig.verify(mlp_float, result.path).passed
    if io != "float32":
        assert any(f"quantized to {io}" in n for n in report.quantization)


def test_static_int8_uint8_input_from_quantizer(small, tmp_path):
    """uint8 on a file whose I/O ai-edge-quantizer made int8: a QUANTIZE op in front keeps the signature."""
    result = litesig.convert(small / "cnn.keras", tmp_path / "s8.tflite", signature="classify", optimize="static-int8",
                             calibration=small / "cnn_calib.npz", input_dtype="uint8")
    info = litesig.inspect(result.path)
    assert info.precision_detail.inputs == {"classify/image": "uint8"} and info.precision == "int8"
    assert litesig.verify(result.path, small / "cnn.keras").passed


def test_precision_never_contradicts_the_file(converted):
    labels = {k: litesig.inspect(converted[k]).precision_detail for k in ("seed", "seed_f16", "seed_int8")}
    assert [labels[k].mode for k in ("seed", "seed_f16", "seed_int8")] == ["none", "float16", "int8"]
    assert labels["seed_f16"].weights.keys() >= {"float16"} and labels["seed_f16"].activations == ["float32"]
    assert labels["seed_int8"].activations == ["int8"] and labels["seed_int8"].inputs == {"sample_method_name/x_input": "float32"}
    assert all(Tolerance.for_mode(m) for m in MODES)


def test_quantize_rounds_and_clamps_like_tflite():
    p = QuantParams(0.5, -3, np.dtype(np.int8))
    assert quantize(np.array([0.25, -0.25, 0.75, 1000.0, -1000.0]), p).tolist() == [-2, -4, -1, 127, -128]
    assert dequantize(np.array([-3, 127], np.int8), p).tolist() == [0.0, 65.0]
