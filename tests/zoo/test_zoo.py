"""A zoo of small real architectures (random weights, built here), converted and verified in every mode.

Each conversion runs litesig's own verification; the test then checks one batch against the
Keras model independently, with the same per-mode tolerances as test_convert.
"""

from __future__ import annotations

import numpy as np
import pytest

import litesig
from litesig.errors import ConversionFailed, VerificationFailed

from ..conversion.test_convert import TOLERANCES, assert_close

MODES = ["none", "float16", "dynamic-int8", "int8"]


def _mlp(keras):
    return keras.Sequential([keras.Input((20,), name="features"), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")])


def _cnn_bn(keras):
    x = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(5)(h))


def _mobilenet(keras):
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)


def _gru(keras):
    return keras.Sequential([keras.Input((12, 4), name="sequence"), keras.layers.GRU(8), keras.layers.Dense(2)])


def _lstm(keras):
    return keras.Sequential([keras.Input((12, 4), name="sequence"), keras.layers.LSTM(8), keras.layers.Dense(2)])


def _transformer(keras):
    x = keras.Input((10, 16), name="tokens")
    attn = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    h = keras.layers.LayerNormalization()(x + attn)
    ff = keras.layers.Dense(16)(keras.layers.Dense(32, activation="relu")(h))
    h = keras.layers.LayerNormalization()(h + ff)
    return keras.Model(x, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(h)))


RECURRENT = {"gru", "lstm"}
BUILDERS = {"mlp": _mlp, "cnn_bn": _cnn_bn, "mobilenet_v2": _mobilenet, "gru": _gru, "lstm": _lstm, "transformer": _transformer}


@pytest.fixture(scope="session")
def zoo(keras, tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo")
    keras.utils.set_random_seed(0)
    paths = {}
    for name, build in BUILDERS.items():
        model = build(keras)
        # Give BatchNorm non-trivial statistics, as a trained model would have.
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.moving_mean.assign(np.random.default_rng(1).normal(0, 0.1, layer.moving_mean.shape))
                layer.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 1.5, layer.moving_variance.shape))
        model.save(d / f"{name}.keras")
        paths[name] = d / f"{name}.keras"
    return paths


def _inputs(keras_model, batch, rng):
    return [rng.uniform(-1, 1, (batch, *t.shape[1:])).astype(np.float32) for t in keras_model.inputs]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_zoo(name, mode, zoo, keras, tmp_path):
    model = keras.models.load_model(zoo[name])
    # The signature's input names: the model's, as every load names them (Keras numbers unnamed inputs per process).
    names = litesig.convert(zoo[name], tmp_path / "plan.tflite", signature="predict", dry_run=True).signatures["predict"]["inputs"]
    rng = np.random.default_rng(3)
    calibration = None
    if mode == "int8":
        calibration = tmp_path / "calib.npz"
        np.savez(calibration, **dict(zip(names, _inputs(model, 32, rng))))
    # Keras 3 recurrent layers convert to builtin ops only with a fixed batch (see test_recurrent_dynamic_batch_hint).
    fixed = {n: [1, *t.shape[1:]] for n, t in zip(names, model.inputs)} if name in RECURRENT else None
    if name in RECURRENT and mode == "int8":
        # TF 2.21's int8 calibrator segfaults on the WHILE loop; litesig runs it in a child process,
        # so this is a clear error, the caller survives, and nothing is written.
        with pytest.raises(ConversionFailed, match=r"crashed \(SIG\w+\) while quantizing to int8.*dynamic-int8"):
            litesig.convert(zoo[name], tmp_path / "r.tflite", optimize=mode, calibration=calibration, input_shapes=fixed)
        assert not (tmp_path / "r.tflite").exists()
        return
    result = litesig.convert(zoo[name], tmp_path / f"{name}.tflite", optimize=mode, calibration=calibration, signature="predict",
                             input_shapes=fixed)
    assert result.verification.passed
    x = _inputs(model, 1 if fixed else 2, rng)
    got = litesig.run(result.path, dict(zip(names, x)))
    want = model(x[0] if len(x) == 1 else x).numpy()
    assert_close(next(iter(got.values())), want, mode)


def test_zoo_covers_the_asked_architectures():
    assert set(BUILDERS) >= {"mlp", "cnn_bn", "mobilenet_v2", "gru", "lstm", "transformer"} and set(TOLERANCES) == set(MODES)


def test_verification_failure_is_not_swallowed(zoo, tmp_path):
    from litesig.verification.parity import Tolerance

    with pytest.raises(VerificationFailed):
        litesig.convert(zoo["mlp"], tmp_path / "m.tflite", optimize="dynamic-int8", tolerance=Tolerance(0, 0, 1.0))


def test_recurrent_dynamic_batch_hint(zoo, tmp_path):
    with pytest.raises(ConversionFailed, match="convert to builtin ops when the batch dimension is fixed.*--input-shape NAME=1,12,4"):
        litesig.convert(zoo["gru"], tmp_path / "g.tflite")


def test_flex_output_cannot_be_verified_here_and_says_so(zoo, tmp_path):
    with pytest.raises(VerificationFailed, match="(?s)no signature could be run here.*select-TF ops \\(FlexTensorListReserve.*Pass --no-verify"):
        litesig.convert(zoo["gru"], tmp_path / "g.tflite", select_tf_ops=True)
    assert not (tmp_path / "g.tflite").exists()
    result = litesig.convert(zoo["gru"], tmp_path / "g.tflite", select_tf_ops=True, verify=False)
    assert result.verification is None and "FlexTensorListReserve" in litesig.inspect(result.path).flex_ops


# The rest of the zoo comes from conftest's models_dir: an int32 Embedding input beside a float
# input, a two-input dict-output model, and a plain tf.Module SavedModel with two signatures.
def _calibration_for(path, runner_inputs, tmp_path, rng):
    arrays = {}
    for sig, details in runner_inputs.items():
        for name, d in details.items():
            shape = [32, *[s if s != -1 else 1 for s in d.shape_signature[1:]]]
            if np.issubdtype(d.dtype, np.integer):
                arrays[f"{sig}/{name}"] = rng.integers(0, 50, shape).astype(d.dtype)
            else:
                arrays[f"{sig}/{name}"] = rng.uniform(-1, 1, shape).astype(d.dtype)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", ["embed.keras", "multi.keras", "coder"])
def test_zoo_sources(source, mode, models_dir, converted, tmp_path):
    calibration = None
    if mode == "int8":
        float_build = litesig.convert(models_dir / source, tmp_path / "f32.tflite")
        runner = litesig.Runner(float_build.path)
        calibration = _calibration_for(tmp_path / "calib.npz", {s: runner.input_details(s) for s in runner.signatures},
                                       tmp_path, np.random.default_rng(0))
    result = litesig.convert(models_dir / source, tmp_path / "m.tflite", optimize=mode, calibration=calibration)
    assert result.verification.passed
    got = litesig.inspect(result.path).precision
    if mode == "dynamic-int8" and got == "none":  # these models' weights are all under the converter's 1024-element floor
        assert "left every weight in float32" in result.notes[0]
    else:
        assert got == mode and result.notes == []
    # and the independent check: litesig.verify against the source itself, at more batch sizes
    assert litesig.verify(result.path, models_dir / source, batch_sizes=[2, 5]).passed
