"""A text model fed token ids: the verification draws ids in the vocabulary's range, never random floats.

Run: python examples/text_ids.py [OUT_DIR]   (default: ./build/examples)
A spec names the signature and says the ids' range (litesig also reads it from the Embedding layer).
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

import litesig

out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples")
out.mkdir(parents=True, exist_ok=True)

keras.utils.set_random_seed(0)
ids = keras.Input((16,), dtype="int32", name="token_ids")
x = keras.layers.Embedding(1000, 8)(ids)
x = keras.layers.GlobalAveragePooling1D()(x)
keras.Model(ids, keras.layers.Dense(2, activation="softmax", name="sentiment")(x)).save(out / "sentiment.keras")

(out / "sentiment.toml").write_text("""
[models.m]
path = "sentiment.keras"

[signatures.classify_text.inputs]
token_ids = { shape = [-1, 16], range = [0, 1000] }   # ids from a 1000-word vocabulary

[signatures.classify_text.outputs]
probabilities = "m"
""")
result = litesig.convert(out / "sentiment.toml", out / "sentiment.tflite", force=True)
print(f"wrote {result.path}; verified: {result.verification.passed}")
probabilities = litesig.run(result.path, {"token_ids": np.array([[1, 42, 7] + [0] * 13], np.int32)})["probabilities"]
assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5
print("probabilities:", probabilities.tolist())
