"""The --optimize modes that ai-edge-quantizer provides (the optional `quantize` extra).

litesig converts with float weights, then hands the .tflite to ai-edge-quantizer with one of its
recipes (or a recipe file), calibrating static recipes per signature from the same .npz as the
converter's int8. Signature keys and names survive (checked by the tests).

| --optimize        | ai-edge-quantizer recipe | weights                  | activations | I/O   |
|-------------------|--------------------------|--------------------------|-------------|-------|
| weight-only-int8  | weight_only_wi8_afp32    | int8 per-channel         | float32     | float |
| weight-only-int4  | weight_only_wi4_afp32    | int4 per-channel         | float32     | float |
| dynamic-int4      | dynamic_wi4_afp32        | int4 per-channel         | float32 (*) | float |
| blockwise-int4    | dynamic_wi4b32_afp32     | int4, blocks of 32       | float32 (*) | float |
| static-int8       | static_wi8_ai8           | int8 per-channel         | int8        | int8  |
| static-int16      | static_wi8_ai16          | int8 per-channel         | int16       | int16 |

(*) quantized on the fly by the kernel (dynamic range).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._io import captured_stderr
from ..errors import ConversionFailed, LitesigError
from .converter import Calibration

RECIPES = {
    "weight-only-int8": "weight_only_wi8_afp32",
    "weight-only-int4": "weight_only_wi4_afp32",
    "dynamic-int4": "dynamic_wi4_afp32",
    "blockwise-int4": "dynamic_wi4b32_afp32",
    "static-int8": "static_wi8_ai8",
    "static-int16": "static_wi8_ai16",
}
STATIC = ("static-int8", "static-int16")
# Modes convert leaves to the TFLite converter, for quantizing an existing .tflite (litesig quantize).
FILE_RECIPES = {**RECIPES, "dynamic-int8": "dynamic_wi8_afp32"}


def uses_quantizer(optimize: str, recipe: Path | None = None) -> bool:
    return recipe is not None or optimize in RECIPES


def _import() -> tuple[Any, Any]:
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError:
        raise LitesigError("this --optimize mode uses ai-edge-quantizer, which is not installed: "
                           "pip install 'litesig[quantize]' (from a clone of litesig: pip install '.[quantize]')") from None
    return quantizer, recipe


def needs_calibration(optimize: str, recipe: Path | None = None) -> bool:
    """Whether the mode (or the recipe file) quantizes activations statically, from sample inputs.

    For a recipe file this reads the JSON as ai-edge-quantizer's RecipeManager.need_calibration does;
    an unreadable recipe is reported when it is loaded.
    """
    if recipe is None:
        return optimize in STATIC
    import json

    try:
        entries = json.loads(Path(recipe).read_text())
    except (OSError, ValueError):
        return False
    return any(isinstance(e, dict) and isinstance(e.get("op_config"), dict) and "activation_tensor_config" in e["op_config"]
               and e["op_config"].get("compute_precision") == "INTEGER" for e in entries if isinstance(entries, list))


def quantize(content: bytes, optimize: str, *, recipe: Path | None = None, calibration: Calibration | None = None) -> bytes:
    """Quantize a float .tflite with an ai-edge-quantizer recipe (a litesig mode name, or a recipe .json file).

    Raises:
        ConversionFailed: ai-edge-quantizer refused the model or the recipe.
    """
    quantizer, recipes = _import()
    what = str(recipe) if recipe is not None else FILE_RECIPES[optimize]
    import warnings

    try:
        with captured_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its calibrator's interpreter warns that it keeps every tensor (by design)
            q = quantizer.Quantizer(bytearray(content))
            q.load_quantization_recipe(str(recipe) if recipe is not None else getattr(recipes, FILE_RECIPES[optimize])())
            result = None
            if q.need_calibration:
                if not calibration:
                    raise ConversionFailed(f"the ai-edge-quantizer recipe {what} quantizes activations: give calibration data "
                                           "(--calibration or [convert] calibration, an .npz of sample inputs)")
                result = _calibrate(q, calibration)
            out = q.quantize(result, enable_progress_report=False).quantized_model
    except LitesigError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = (" (blockwise modes need every quantized weight dimension divisible by the block size, 32)"
                if "block size" in str(e) else "")
        raise ConversionFailed(f"ai-edge-quantizer ({what}) refused the model: {type(e).__name__}: {first}{hint}") from None
    return bytes(out)


def _calibrate(q: Any, calibration: Calibration) -> Any:
    """Calibrate on all samples at once where the batch is dynamic (one batch of every sample), else one by one.

    ai-edge-quantizer keeps a moving average of each tensor's min/max across calibration calls, which
    narrows the ranges (more clamping) than the TFLite converter's absolute min/max; one call with
    every sample in the batch gives the absolute min/max.
    """
    import numpy as np

    try:
        batched = {sig: [{n: np.concatenate([s[n] for s in samples]) for n in samples[0]}] for sig, samples in calibration.items() if samples}
        return q.calibrate(batched, num_threads=1)
    except Exception:  # a fixed batch (or a signature that refuses the resize): one sample per call
        return q.calibrate({sig: list(samples) for sig, samples in calibration.items()}, num_threads=1)
