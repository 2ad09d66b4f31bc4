"""A tf.Module with two methods becomes one .tflite with two signatures, each called by name from the app.

Run: python examples/multi_signature_module.py [OUT_DIR]   (default: ./build/examples)
The SavedModel keeps both signatures; litesig keeps their names and their inputs' declared order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import litesig

out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples")
out.mkdir(parents=True, exist_ok=True)


class Scaler(tf.Module):
    def __init__(self):
        super().__init__()
        self.scale = tf.Variable([2.0, 3.0, 4.0, 5.0])

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def encode(self, x):
        return {"scaled": x * self.scale}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="scaled")])
    def decode(self, scaled):
        return {"x": scaled / self.scale}


module = Scaler()
tf.saved_model.save(module, str(out / "scaler"), signatures={"encode": module.encode, "decode": module.decode})
result = litesig.convert(out / "scaler", out / "scaler.tflite", force=True)
print(f"wrote {result.path}; signatures: {sorted(result.signatures)}; verified: {result.verification.passed}")
x = np.array([[1.0, 1.0, 1.0, 1.0]], np.float32)
scaled = litesig.run(result.path, {"x": x}, signature="encode")["scaled"]
back = litesig.run(result.path, {"scaled": scaled}, signature="decode")["x"]
assert np.allclose(back, x)
print("encode:", scaled.tolist(), "decode:", back.tolist())
