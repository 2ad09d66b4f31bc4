"""Proof on a real older runtime: tflite-runtime 2.14.0, in its own cached virtualenv (numpy < 2).

For every file here (litesig's outputs in each optimize mode, and files made by other tools),
inspect's prediction "loads on 2.14 or not" must be what 2.14 does, and where the file loads its
outputs, run by signature on 2.14, must match ai-edge-litert's on the same inputs.

The environment is made once by litesig.legacy_runtime (pip must reach PyPI the first time) and
cached under $LITESIG_RUNTIME_CACHE or ~/.cache/litesig/runtimes. If it cannot be made, these tests
FAIL with pip's reason: skipping would hide that the proof never ran.
"""

from __future__ import annotations

import numpy as np
import pytest

import litesig
from litesig.legacy_runtime import RuntimeUnavailable, ensure_runtime, run_legacy
from litesig.model_info import inspect
from litesig.parity import sample_inputs
from litesig.runtime import Runner

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
    return files


@pytest.fixture(scope="module")
def runs(zoo, legacy_python):
    """name -> (inputs, ai-edge-litert outputs or None, 2.14 LegacyRun); each file loaded once per runtime."""
    out = {}
    for name, path in sorted(zoo.items()):
        inputs, current = {}, None
        try:
            runner = Runner(path)
            rng = np.random.default_rng(0)
            inputs = {sig: sample_inputs(runner.input_details(sig), batch=2, dynamic=2, rng=rng) for sig in runner.signatures}
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


def test_inspect_prediction_matches_what_tflite_runtime_2_14_does(zoo, runs):
    mismatches = []
    for name, path in sorted(zoo.items()):
        req = inspect(path, target_runtime=TARGET).runtime
        predicted = req.loads_on(TARGET)
        actual = runs[name][2]
        if predicted != actual.loaded:
            mismatches.append(f"{name}: inspect says {'loads' if predicted else 'refused'} "
                              f"(min {req.min_runtime}, blockers {[str(b) for b in req.target_blockers]}, registration {req.needs_registration}); "
                              f"{actual.runtime} {'loaded it' if actual.loaded else 'refused: ' + str(actual.error)}")
    assert not mismatches, "\n".join(mismatches)


def test_both_outcomes_occur(runs):
    loaded = {n for n, (_, _, r) in runs.items() if r.loaded}
    assert "litesig_seed_dynamic" not in loaded and "FULLY_CONNECTED" in runs["litesig_seed_dynamic"][2].error
    assert {"litesig_seed", "litesig_seed_f16", "litesig_seed_int8", "litesig_seed_dynamic_target_2.14"} <= loaded
    assert len(loaded) >= 15


# Float and weight-only files: the same kernels give the same numbers to float rounding. Full-int8
# files: the kernels of 2.14 and today's LiteRT may round an int8 result one step apart (measured:
# up to 0.0031 on outputs of magnitude ~1, a few output quantization steps).
ATOL = {"none": 1e-4, "float16": 1e-4, "dynamic-int8": 1e-4, "int8": 1e-2}


def test_outputs_on_2_14_match_ai_edge_litert_by_signature(zoo, runs):
    compared, failures = 0, []
    for name, (inputs, current, legacy) in sorted(runs.items()):
        if not legacy.loaded or current is None or name in GARBAGE:
            continue
        atol = ATOL[inspect(zoo[name]).precision]
        assert sorted(legacy.outputs) == sorted(inputs), f"{name}: 2.14 ran {sorted(legacy.outputs)}, expected {sorted(inputs)} ({legacy.error})"
        for sig, outs in current.items():
            for out_name, want in outs.items():
                got = legacy.outputs[sig][out_name]
                scale = max(1.0, float(np.abs(want).max()))
                diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
                compared += 1
                if got.shape != want.shape or diff > atol * scale:
                    failures.append(f"{name} {sig}/{out_name}: shape {got.shape} vs {want.shape}, max abs diff {diff:.3g}")
    assert compared >= 15
    assert not failures, "\n".join(failures)


def test_target_runtime_convert_loads_on_2_14_and_says_why(zoo, runs):
    for target in ("2.10", "2.14", "2.16"):
        req = inspect(zoo[f"litesig_seed_dynamic_target_{target}"]).runtime
        assert ("FULLY_CONNECTED", 9) in {(o.op, o.version) for o in req.ops}
        assert runs[f"litesig_seed_dynamic_target_{target}"][2].loaded
