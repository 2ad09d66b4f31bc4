"""A Keras image classifier for an app that feeds camera bytes: int8 weights and activations, uint8 in and out.

Run: python examples/image_classifier_uint8.py [OUT_DIR]   (default: ./build/examples)
Makes a small classifier, calibration data (real-looking pixels, the same the app will feed: 0..255),
converts it with named signature, input and output, checks it against the Keras model, and writes
the Kotlin that calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

import litesig

out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples")
out.mkdir(parents=True, exist_ok=True)

# 1. A model whose input is pixels scaled to [0, 1] inside the graph, so the app can feed raw bytes.
keras.utils.set_random_seed(0)
pixels = keras.Input((32, 32, 3), name="pixels")
x = keras.layers.Rescaling(1 / 255)(pixels)
x = keras.layers.Conv2D(8, 3, activation="relu")(x)
x = keras.layers.GlobalAveragePooling2D()(x)
probs = keras.layers.Dense(4, activation="softmax", name="probs")(x)
keras.Model(pixels, probs).save(out / "classifier.keras")

# 2. Calibration: arrays keyed by input name, first axis = samples, values as the app will feed them.
np.savez(out / "calibration.npz", image=np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype(np.float32))

# 3. Convert: one call names the signature, the input and the output, quantizes, and proves the result
#    against the Keras model (on the calibration samples) before writing anything.
result = litesig.convert(out / "classifier.keras", out / "classifier_uint8.tflite", signature="classify",
                         input_names="image", output_names="scores", input_shapes={"image": [1, 32, 32, 3]},
                         optimize="int8", calibration=out / "calibration.npz", input_dtype="uint8", output_dtype="uint8",
                         force=True)
print(f"wrote {result.path} ({result.size_bytes} bytes); verified: {result.verification.passed}")

# 4. What the app will see, and the code that calls it.
info = litesig.inspect(result.path)
print({name: {n: (t.dtype, t.shape) for n, t in {**sig.inputs, **sig.outputs}.items()} for name, sig in info.signatures.items()})
(out / "ClassifyRunner.kt").write_text(litesig.generate_code(result.path, "kotlin", package="com.example.ml"))
scores = litesig.run(result.path, {"image": np.full((1, 32, 32, 3), 128, np.uint8)})["scores"]
assert scores.dtype == np.uint8 and scores.shape == (1, 4)
print("scores for a grey image (uint8):", scores.tolist())
