"""Fixtures: tiny real Keras models and SavedModels, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



def seed_spec_text(optimize: str, extra: str = "") -> str:
    """The demo's seed spec (the same text `litesig demo` writes), with another optimize mode."""
    from litesig.cli.demo import SPEC

    assert 'optimize = "float16"' in SPEC
    return SPEC.replace('optimize = "float16"', f'optimize = "{optimize}"') + extra + "\n"


@pytest.fixture(scope="session")
def keras():
    from litesig._tf import import_keras

    k = import_keras()
    k.utils.set_random_seed(0)
    return k


@pytest.fixture(scope="session")
def tf(keras):
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, keras, tf) -> Path:
    """Every source model the tests convert, written once."""
    d = tmp_path_factory.mktemp("models")
    from litesig.cli.demo import build_models

    build_models(d)  # model_a.keras, model_b.keras, litesig.toml (the seed example)

    # Two inputs, dict outputs.
    img = keras.Input((6,), name="image")
    mask = keras.Input((2,), name="mask")
    h = keras.layers.Concatenate()([img, mask])
    multi = keras.Model([img, mask], {"probs": keras.layers.Dense(3, activation="softmax")(h), "box": keras.layers.Dense(4)(h)})
    multi.save(d / "multi.keras")

    # One input, list outputs; also saved as legacy .h5.
    x = keras.Input((5,), name="features")
    listed = keras.Model(x, [keras.layers.Dense(2, name="first")(x), keras.layers.Dense(3, name="second")(x)])
    listed.save(d / "listed.keras")
    listed.save(d / "listed.h5")

    # Weights dominate: for the size figures.
    big = keras.Sequential([keras.Input((512,), name="x")] + [keras.layers.Dense(512, activation="relu") for _ in range(3)] + [keras.layers.Dense(10)])
    big.save(d / "big.keras")

    # An int32 Embedding input beside a float input.
    tok = keras.Input((8,), dtype="int32", name="tokens")
    num = keras.Input((3,), name="numeric")
    e = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 4)(tok))
    keras.Model([tok, num], keras.layers.Dense(2)(keras.layers.Concatenate()([e, num]))).save(d / "embed.keras")

    # A Lambda layer: needs --unsafe.
    keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2.0)]).save(d / "lambda.keras")

    # A plain tf.Module SavedModel with two signatures.
    class Coder(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def encode(self, x):
            return {"code": tf.matmul(x, self.w)}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="code")])
        def decode(self, code):
            return {"reconstruction": tf.matmul(code, self.w, transpose_b=True)}

    coder = Coder()
    tf.saved_model.save(coder, str(d / "coder"), signatures={"encode": coder.encode, "decode": coder.decode})

    # A SavedModel whose only op has no LiteRT builtin (needs Flex).
    class Stringer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def fmt(self, x):
            return {"text": tf.strings.as_string(x)}

    s = Stringer()
    tf.saved_model.save(s, str(d / "stringer"), signatures={"fmt": s.fmt})
    return d


@pytest.fixture
def seed_spec(models_dir, tmp_path):
    """Write the seed spec (with an optimize mode) into tmp_path, pointing at the shared models."""

    def make(optimize: str = "none", extra: str = "") -> Path:
        for name in ("model_a.keras", "model_b.keras"):
            link = tmp_path / name
            if not link.exists():
                link.symlink_to(models_dir / name)
        spec = tmp_path / "litesig.toml"
        spec.write_text(seed_spec_text(optimize, extra))
        return spec

    return make


def keras_outputs(keras_model, x):
    out = keras_model(x, training=False)
    return out.numpy() if hasattr(out, "numpy") else out


@pytest.fixture(scope="session")
def converted(models_dir, tmp_path_factory):
    """Converted .tflite files shared by the read-only tests: name -> path."""
    import litesig

    d = tmp_path_factory.mktemp("converted")
    out = {}
    out["seed"] = litesig.convert(models_dir / "litesig.toml", d / "seed.tflite", optimize="none").path
    out["seed_f16"] = litesig.convert(models_dir / "litesig.toml", d / "seed_f16.tflite", optimize="float16").path
    calib = d / "calib.npz"
    np.savez(calib, x_input=np.random.default_rng(0).uniform(-1, 1, (8, 128, 3)).astype(np.float32))
    out["seed_int8"] = litesig.convert(models_dir / "litesig.toml", d / "seed_int8.tflite", optimize="int8", calibration=calib).path
    out["coder"] = litesig.convert(models_dir / "coder", d / "coder.tflite").path
    out["multi"] = litesig.convert(models_dir / "multi.keras", d / "multi.tflite", signature="detect").path
    out["flex"] = litesig.convert(models_dir / "stringer", d / "flex.tflite", select_tf_ops=True, verify=False).path
    return out


@pytest.fixture(scope="session")
def textbook_nan_model(keras, tf, tmp_path_factory):
    """The textbook tf.Module recipe on Keras 3: converts, lists perfect signatures, computes NaN/garbage."""
    d = tmp_path_factory.mktemp("textbook")
    a = keras.Sequential([keras.Input((128, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    b = keras.Sequential([keras.Input((128, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    a.save(d / "model_a.keras")
    b.save(d / "model_b.keras")

    class Wrapper(tf.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = a, b

        @tf.function
        def __call__(self, x):
            return {"my_output_a": self.a(x), "my_output_b": self.b(x)}

    module = Wrapper()
    fn = module.__call__.get_concrete_function(tf.TensorSpec((None, 128, 3), tf.float32, name="x_input"))
    tf.saved_model.save(module, str(d / "saved"), signatures={"sample_method_name": fn})
    content = tf.lite.TFLiteConverter.from_saved_model(str(d / "saved")).convert()
    (d / "textbook.tflite").write_bytes(content)
    (d / "litesig.toml").write_text(seed_spec_text("none"))
    return d
