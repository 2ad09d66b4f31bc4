"""Affine quantization of signature inputs and outputs: real = scale * (q - zero_point).

One place for the arithmetic that verify (both sides), `litesig run --quantize` and generated
code share, so they agree to the last rounding step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .interpreter import Runner, TensorDetail

INTEGER_IO = ("int8", "uint8", "int16")


@dataclass(frozen=True)
class QuantParams:
    """One scale and zero point for a whole tensor, and its integer type."""

    scale: float
    zero_point: int
    dtype: np.dtype

    @property
    def real_range(self) -> tuple[float, float]:
        """The smallest and largest real value the integer type can represent."""
        info = np.iinfo(self.dtype)
        return (self.scale * (int(info.min) - self.zero_point), self.scale * (int(info.max) - self.zero_point))


def params(dtype: np.dtype | str, quantization: tuple[float, int]) -> QuantParams | None:
    """The quantization of an integer tensor, or None when it is not quantized (scale 0) or not an integer."""
    dt = np.dtype(dtype)
    scale, zero_point = quantization
    if dt.kind not in "iu" or dt.itemsize > 2 or not scale:
        return None
    return QuantParams(float(scale), int(zero_point), dt)


def quantize(x: np.ndarray, p: QuantParams) -> np.ndarray:
    """Divide by the scale, round half away from zero, add the zero point, clamp (TFLite's AffineQuantize)."""
    info = np.iinfo(p.dtype)
    v = np.asarray(x, dtype=np.float64) / p.scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + p.zero_point
    return np.clip(q, info.min, info.max).astype(p.dtype)


def dequantize(q: np.ndarray, p: QuantParams) -> np.ndarray:
    """scale * (q - zero_point), as float32."""
    return (p.scale * (np.asarray(q).astype(np.float64) - p.zero_point)).astype(np.float32)


def quantize_inputs(arrays: Mapping[str, np.ndarray], qparams: Mapping[str, QuantParams | None]) -> dict[str, np.ndarray]:
    """Float arrays for quantized inputs become integers; every other array passes unchanged."""
    out = {}
    for name, a in arrays.items():
        p = qparams.get(name)
        out[name] = quantize(a, p) if p is not None and np.asarray(a).dtype.kind == "f" else np.asarray(a)
    return out


def dequantize_outputs(arrays: Mapping[str, np.ndarray], qparams: Mapping[str, QuantParams | None]) -> dict[str, np.ndarray]:
    """Integer arrays of quantized outputs become float32; every other array passes unchanged."""
    out = {}
    for name, a in arrays.items():
        p = qparams.get(name)
        out[name] = dequantize(a, p) if p is not None else np.asarray(a)
    return out


def io_params(details: Mapping[str, TensorDetail]) -> dict[str, QuantParams]:
    """The quantized integer tensors among a signature's inputs or outputs."""
    return {name: p for name, d in details.items() if (p := params(d.dtype, d.quantization)) is not None}


def run_float(runner: Runner, feed: Mapping[str, np.ndarray], signature: str) -> dict[str, np.ndarray]:
    """Run a signature as if its I/O were float: quantize float inputs and dequantize outputs with the file's own parameters."""
    ins = io_params(runner.input_details(signature))
    outs = io_params(runner.output_details(signature))
    got = runner.run(quantize_inputs(feed, ins) if ins else feed, signature=signature)
    return dequantize_outputs(got, outs) if outs else got
