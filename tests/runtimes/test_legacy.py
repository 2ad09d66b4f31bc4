"""Proof on a real older runtime: tflite-runtime 2.14.0, in its own cached virtualenv (numpy < 2).

For every file here (litesig's outputs in each optimize mode, and files made by other tools),
inspect's prediction "loads on 2.14 or not" must be what 2.14 does, and where the file loads its
outputs, run by signature on 2.14, must match ai-edge-litert's on the same inputs.

The environment is made once by litesig.runtimes.legacy (pip must reach PyPI the first time) and
cached under $LITESIG_RUNTIME_CACHE or ~/.cache/litesig/runtimes. If it cannot be made, these tests
FAIL with pip's reason: skipping would hide that the proof never ran.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.runtimes.legacy import RuntimeUnavailable, ensure_runtime, run_legacy
from litesig.tflite.model_info import inspect
from litesig.runtimes.inputs import sample_inputs
from litesig.runtimes.quant import QuantParams, dequantize, quantize
from litesig.runtimes.interpreter import Runner

from ..conftest import seed_spec_text

TARGET = "2.14"
# Loads on 2.14 but computes garbage on every runtime (uninitialised READ_VARIABLE): prediction only.
GARBAGE = {"textbook_read_variable"}


@pytest.fixture(scope="module")
def legacy_python():
    try:
        return ensure_runtime("tflite-runtime==2.14.0")
    except RuntimeUnavailable as e:
        pytest.fail(f"the tflite-runtime 2.14 environment could not be made, so nothing was proven on it:\n{e}")


def _from_keras(tf, model, mode, *, calib=None, dense_per_tensor=False):
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "none":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        c.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        c.representative_dataset = lambda: ([x] for x in calib)
    if dense_per_tensor:
        c._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(c.convert())


@pytest.fixture(scope="module")
def zoo(models_dir, converted, textbook_nan_model, keras, tf, tmp_path_factory):
    """At least 20 .tflite files: name -> path. Built once per module."""
    d = tmp_path_factory.mktemp("legacy_zoo")
    files = {f"litesig_{k}": v for k, v in converted.items()}  # seed none/float16/int8, coder, multi, flex (session-shared)
    spec = models_dir / "litesig.toml"
    files["litesig_seed_dynamic"] = litesig.convert(spec, d / "seed_dyn.tflite", optimize="dynamic-int8").path
    for target in ("2.10", "2.14", "2.16"):
        files[f"litesig_seed_dynamic_target_{target}"] = litesig.convert(
            spec, d / f"seed_dyn_{target}.tflite", optimize="dynamic-int8", target_runtime=target).path
    files["litesig_embed_dynamic"] = litesig.convert(models_dir / "embed.keras", d / "embed_dyn.tflite", optimize="dynamic-int8",
                                                     signature="score").path
    files["litesig_multi_float16"] = litesig.convert(models_dir / "multi.keras", d / "multi_f16.tflite", optimize="float16",
                                                     signature="detect").path

    # Other tools, called as their users call them.
    mlp = keras.Sequential([keras.Input((20,), name="features"), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3)])
    x = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(8, 3, activation="relu")(x)
    h = keras.layers.DepthwiseConv2D(3)(h)
    cnn = keras.Model(x, keras.layers.Dense(4)(keras.layers.Flatten()(h)))
    lstm = keras.Sequential([keras.Input((6, 4), batch_size=1), keras.layers.LSTM(32), keras.layers.Dense(2)])
    calib = [np.random.default_rng(i).uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32) for i in range(8)]
    made = {
        "tfliteconverter_mlp_none": _from_keras(tf, mlp, "none"),
        "tfliteconverter_mlp_float16": _from_keras(tf, mlp, "float16"),
        "tfliteconverter_mlp_dynamic": _from_keras(tf, mlp, "dynamic-int8"),
        "tfliteconverter_mlp_dynamic_dense_per_tensor": _from_keras(tf, mlp, "dynamic-int8", dense_per_tensor=True),
        "tfliteconverter_cnn_none": _from_keras(tf, cnn, "none"),
        "tfliteconverter_cnn_dynamic": _from_keras(tf, cnn, "dynamic-int8"),
        "tfliteconverter_cnn_int8": _from_keras(tf, cnn, "int8", calib=calib),
        "tfliteconverter_lstm_dynamic": _from_keras(tf, lstm, "dynamic-int8"),
    }
    fn = tf.function(lambda t: {"y": tf.nn.relu(t) * 2.0 + 1.0}).get_concrete_function(tf.TensorSpec([None, 5], tf.float32, name="t"))
    made["tfliteconverter_concrete_function"] = bytes(tf.lite.TFLiteConverter.from_concrete_functions([fn]).convert())
    for name, content in made.items():
        (d / f"{name}.tflite").write_bytes(content)
        files[name] = d / f"{name}.tflite"
    mlp.export(str(d / "keras_export_litert.tflite"), format="litert")
    files["keras_export_litert"] = d / "keras_export_litert.tflite"
    files["textbook_read_variable"] = textbook_nan_model / "textbook.tflite"
    files.update(_integer_io_files(models_dir, keras, d, calib))
    files.update(_quantizer_files(keras, d))
    return files


def _integer_io_files(models_dir, keras, d, calib):
    """Issue 10's integer-I/O files: the seed example and a small CNN, uint8 input and int8 output(s)."""
    for name in ("model_a.keras", "model_b.keras"):
        (d / name).symlink_to(models_dir / name)
    np.savez(d / "seed_calib.npz", x_input=np.random.default_rng(0).uniform(-1, 1, (8, 128, 3)).astype(np.float32))
    (d / "litesig.toml").write_text(
        seed_spec_text("int8", f'calibration = "{d / "seed_calib.npz"}"')
        .replace('x_input = { dtype = "float32", shape = [-1, 128, 3] }', 'x_input = { dtype = "float32", shape = [-1, 128, 3], io_dtype = "uint8" }')
        .replace('my_output_a = "a"', 'my_output_a = { model = "a", io_dtype = "int8" }')
        .replace('my_output_b = "b"', 'my_output_b = { model = "b", io_dtype = "int8" }'))
    x = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    keras.Model(x, keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))).save(d / "cnn_io.keras")
    np.savez(d / "cnn_calib.npz", image=np.concatenate(calib))
    return {
        "litesig_seed_uint8_in_int8_out": litesig.convert(d / "litesig.toml", d / "seed_u8.tflite", verify=False).path,
        "litesig_cnn_uint8_in_int8_out": litesig.convert(d / "cnn_io.keras", d / "cnn_u8.tflite", signature="classify", optimize="int8",
                                                         calibration=d / "cnn_calib.npz", input_dtype="uint8", output_dtype="int8",
                                                         verify=False).path,
    }


# ai-edge-quantizer writes every op as v1 whatever its tensors: inspect must read them (runtime_compat/kernel_needs).
QUANTIZER = ("weight-only-int8", "weight-only-int4", "dynamic-int4", "blockwise-int4", "static-int8", "static-int16")


def _quantizer_files(keras, d):
    mlp = keras.Sequential([keras.Input((64,), name="features"), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(32)])
    mlp.save(d / "mlp64.keras")
    x = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    keras.Model(x, keras.layers.Dense(32)(keras.layers.GlobalAveragePooling2D()(h))).save(d / "cnn32.keras")
    rng = np.random.default_rng(3)
    np.savez(d / "mlp64_calib.npz", features=rng.uniform(-1, 1, (16, 64)).astype(np.float32))
    files = {}
    for mode in QUANTIZER:
        calibration = d / "mlp64_calib.npz" if mode.startswith("static") else None
        files[f"quantizer_mlp_{mode}"] = litesig.convert(d / "mlp64.keras", d / f"q_mlp_{mode}.tflite", signature="embed", optimize=mode,
                                                         calibration=calibration, verify=False).path
    for mode in ("weight-only-int4", "dynamic-int4"):  # int4 in CONV_2D too (2.14: NaN for dynamic-int4)
        files[f"quantizer_cnn_{mode}"] = litesig.convert(d / "cnn32.keras", d / f"q_cnn_{mode}.tflite", signature="embed",
                                                         optimize=mode, verify=False).path
    return files


def _feed(runner, sig, rng):
    """Inputs for one signature: an integer input with a scale gets floats across what it represents, quantized with its parameters."""
    details = runner.input_details(sig)
    feed = sample_inputs(details, batch=2, dynamic=2, rng=rng)
    for name, det in details.items():
        scale, zero_point = det.quantization
        if scale > 0 and np.issubdtype(det.dtype, np.integer):
            p = QuantParams(scale, zero_point, np.dtype(det.dtype))
            info = np.iinfo(det.dtype)
            feed[name] = quantize(rng.uniform((info.min - zero_point) * scale, (info.max - zero_point) * scale, feed[name].shape), p)
    return feed


@pytest.fixture(scope="module")
def runs(zoo, legacy_python):
    """name -> (inputs, ai-edge-litert outputs or None, 2.14 LegacyRun); each file loaded once per runtime."""
    out = {}
    for name, path in sorted(zoo.items()):
        inputs, current = {}, None
        try:
            runner = Runner(path)
            rng = np.random.default_rng(0)
            inputs = {sig: _feed(runner, sig, rng) for sig in runner.signatures}
            current = {sig: runner.run(feed, signature=sig) for sig, feed in inputs.items()}
        except litesig.LitesigError:
            current = None  # e.g. Flex ops: ai-edge-litert cannot run them either
        out[name] = (inputs, current, run_legacy(legacy_python, path, inputs))
    return out


def test_zoo_has_at_least_20_files_from_litesig_and_other_tools(zoo):
    assert len(zoo) >= 20
    assert sum(n.startswith("litesig_") for n in zoo) >= 8 and sum(not n.startswith("litesig_") for n in zoo) >= 10


def test_every_optimize_mode_of_litesig_is_in_the_zoo(zoo):
    modes = {inspect(zoo[n]).precision for n in zoo if n.startswith("litesig_seed")}
    assert modes == {"none", "float16", "dynamic-int8", "int8"}


# Float and weight-only files: the same kernels give the same numbers to float rounding. Full-int8
# files: the kernels of 2.14 and today's LiteRT may round an int8 result one step apart (measured:
# up to 0.0031 on outputs of magnitude ~1, a few output quantization steps). Integer outputs are
# dequantized with the file's parameters and may differ by 2 quantization steps.
ATOL = {"none": 1e-4, "float16": 1e-4, "dynamic-int8": 1e-4, "weight-only-int8": 1e-4, "weight-only-int4": 1e-4,
        "dynamic-int4": 1e-4, "int8": 1e-2, "int16": 1e-2}
INT_STEPS = 2


def _differences(zoo, name, inputs, current, legacy):
    """Where 2.14's outputs differ from ai-edge-litert's beyond tolerance (empty: they match)."""
    if sorted(legacy.outputs) != sorted(inputs):
        return [f"{name}: 2.14 ran {sorted(legacy.outputs)}, expected {sorted(inputs)} ({legacy.error})"]
    atol = ATOL[inspect(zoo[name]).precision]
    runner, out = Runner(zoo[name]), []
    for sig, outs in current.items():
        details = runner.output_details(sig)
        for out_name, want in outs.items():
            got = legacy.outputs[sig][out_name]
            scale, zero_point = details[out_name].quantization
            if got.dtype != want.dtype or got.shape != want.shape:
                out.append(f"{name} {sig}/{out_name}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}")
                continue
            if scale > 0 and np.issubdtype(want.dtype, np.integer):
                p = QuantParams(scale, zero_point, want.dtype)
                got, want, limit = dequantize(got, p), dequantize(want, p), INT_STEPS * scale + 1e-7
            else:
                limit = atol * max(1.0, float(np.abs(want).max()))
            diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
            if not diff <= limit:  # NaN counts as a difference
                out.append(f"{name} {sig}/{out_name}: max abs diff {diff:.3g} > {limit:.3g}")
    return out


def _works(zoo, name, runs):
    """What 2.14 did: (loads and computes ai-edge-litert's numbers, why not)."""
    inputs, current, legacy = runs[name]
    if not legacy.loaded:
        return False, f"refused: {legacy.error}"
    if current is None or name in GARBAGE:
        return True, "loaded"
    diffs = _differences(zoo, name, inputs, current, legacy)
    return not diffs, "; ".join(diffs) or "loaded, outputs match"


def test_inspect_prediction_matches_what_tflite_runtime_2_14_does(zoo, runs):
    """Prediction: inspect --target-runtime 2.14 finds no blocker. Reality: 2.14 loads the file AND computes ai-edge-litert's numbers."""
    mismatches = []
    for name, path in sorted(zoo.items()):
        req = inspect(path, target_runtime=TARGET).runtime
        predicted = req.loads_on(TARGET)
        works, why = _works(zoo, name, runs)
        if predicted != works:
            mismatches.append(f"{name}: inspect says {'works' if predicted else 'does not'} "
                              f"(min {req.min_runtime}, blockers {[str(b) for b in req.target_blockers]}, registration {req.needs_registration}); "
                              f"{runs[name][2].runtime}: {why}")
    assert not mismatches, "\n".join(mismatches)


def test_both_outcomes_occur(runs):
    loaded = {n for n, (_, _, r) in runs.items() if r.loaded}
    assert "litesig_seed_dynamic" not in loaded and "FULLY_CONNECTED" in runs["litesig_seed_dynamic"][2].error
    assert {"litesig_seed", "litesig_seed_f16", "litesig_seed_int8", "litesig_seed_dynamic_target_2.14"} <= loaded
    assert len(loaded) >= 15


def test_outputs_on_2_14_match_ai_edge_litert_by_signature(zoo, runs):
    compared, failures = 0, []
    for name, (inputs, current, legacy) in sorted(runs.items()):
        if not legacy.loaded or current is None or name in GARBAGE or not inspect(zoo[name]).runtime.loads_on(TARGET):
            continue
        failures += _differences(zoo, name, inputs, current, legacy)
        compared += sum(len(o) for o in current.values())
    assert compared >= 20
    assert not failures, "\n".join(failures)


def test_integer_io_files_run_by_signature_on_2_14_with_integer_inputs(zoo, runs):
    """Issue 10: the seed example and a CNN with uint8 input and int8 outputs, names exact, by signature, on 2.14."""
    want = {"litesig_seed_uint8_in_int8_out": {"sample_method_name": {"inputs": ["x_input"], "outputs": ["my_output_a", "my_output_b"]}},
            "litesig_cnn_uint8_in_int8_out": None}
    for name, signatures in want.items():
        inputs, current, legacy = runs[name]
        if signatures is None:  # the Keras output name: exactly what ai-edge-litert lists
            signatures = Interpreter(model_path=str(zoo[name])).get_signature_list()
            assert list(signatures) == ["classify"] and signatures["classify"]["inputs"] == ["image"]
        assert legacy.loaded and legacy.signatures == signatures, (name, legacy.error, legacy.signatures)
        ((sig, names),) = signatures.items()
        (x,) = inputs[sig].values()
        assert x.dtype == np.uint8 and x.min() < 40 and x.max() > 215  # integer inputs across the range
        assert {v.dtype for v in legacy.outputs[sig].values()} == {np.dtype(np.int8)}
        assert sorted(legacy.outputs[sig]) == sorted(names["outputs"])
        assert not _differences(zoo, name, inputs, current, legacy)


# Measured on tflite-runtime 2.14.0 (README "Runtime compatibility"): what it does with each ai-edge-quantizer mode.
ON_2_14 = {"weight-only-int8": "matches", "weight-only-int4": "refused", "dynamic-int4": "differs", "blockwise-int4": "differs",
           "static-int8": "matches", "static-int16": "matches"}


def test_ai_edge_quantizer_modes_on_2_14_and_what_inspect_says(zoo, runs):
    for mode, outcome in ON_2_14.items():
        name = f"quantizer_mlp_{mode}"
        legacy = runs[name][2]
        works, why = _works(zoo, name, runs)
        assert (outcome == "refused") == (not legacy.loaded), (name, why)
        assert works == (outcome == "matches"), (name, why)
        req = inspect(zoo[name]).runtime
        assert {o.version for o in req.ops} == {1}  # what ai-edge-quantizer declares
        assert req.loads_on(TARGET) == works
    assert "DEQUANTIZE" in runs["quantizer_mlp_weight-only-int4"][2].error  # refused at prepare, not at op resolution
    assert inspect(zoo["quantizer_mlp_weight-only-int4"]).runtime.min_runtime == "2.18.0"  # DEQUANTIZE v6 (int4)
    assert inspect(zoo["quantizer_mlp_dynamic-int4"]).runtime.min_runtime is None  # no op version marks int4 in a float kernel
    works, why = _works(zoo, "quantizer_cnn_dynamic-int4", runs)
    assert runs["quantizer_cnn_dynamic-int4"][2].loaded and not works, why


def test_target_runtime_convert_loads_on_2_14_and_says_why(zoo, runs):
    for target in ("2.10", "2.14", "2.16"):
        req = inspect(zoo[f"litesig_seed_dynamic_target_{target}"]).runtime
        assert ("FULLY_CONNECTED", 9) in {(o.op, o.version) for o in req.ops}
        assert runs[f"litesig_seed_dynamic_target_{target}"][2].loaded
